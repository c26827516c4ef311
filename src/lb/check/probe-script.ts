/**
 * The socket half of `sipfarm check`, as a self-contained CommonJS script run with
 * `node -e` — in this host's network namespace, or under `ip netns exec NS` for --netns
 * (a Node process cannot change its own namespace). It only binds, sends to itself
 * and listens; it prints one JSON line and exits. Every step has a timeout.
 *
 * argv[1]: JSON { vip: {host, port}, echoHost, farm: {host, port}, listenMs }
 * stdout:  JSON { vipBind, source: {outcome, seen}, farmBind, datagrams: base64[] | null }
 */
export const PROBE_SCRIPT = String.raw`
'use strict';
const dgram = require('node:dgram');
const p = JSON.parse(process.argv[1]);
const fam = (h) => (h.includes(':') ? 'udp6' : 'udp4');
function bind(host, port) {
  return new Promise((resolve) => {
    const s = dgram.createSocket({ type: fam(host), reuseAddr: false });
    s.once('error', (e) => { try { s.close(); } catch {} resolve({ err: { ok: false, code: e.code || 'ERROR', message: e.message } }); });
    s.bind({ address: host, port, exclusive: true }, () => { s.removeAllListeners('error'); s.on('error', () => {}); resolve({ s }); });
  });
}
const okOf = (r) => (r.err ? r.err : { ok: true });
async function main() {
  const out = {};
  const v = await bind(p.vip.host, p.vip.port);
  out.vipBind = okOf(v);
  if (v.s) v.s.close();
  out.source = await new Promise(async (resolve) => {
    const echo = await bind(p.echoHost, 0);
    if (echo.err) return resolve({ outcome: echo.err });
    const src = await bind(p.vip.host, 0);
    if (src.err) { echo.s.close(); return resolve({ outcome: src.err }); }
    let seen;
    const done = (outcome) => { clearTimeout(t); echo.s.close(); src.s.close(); resolve({ outcome, seen }); };
    const t = setTimeout(() => done({ ok: false, code: 'ETIMEDOUT', message: 'no echo within 1000 ms' }), 1000);
    echo.s.on('message', (m, r) => { seen = r.address; echo.s.send(m, r.port, r.address); });
    src.s.on('message', () => done({ ok: true }));
    src.s.send(Buffer.from('sipfarm-check'), echo.s.address().port, p.echoHost, (e) => { if (e) done({ ok: false, code: e.code || 'ERROR', message: e.message }); });
  });
  const f = await bind(p.farm.host, p.farm.port);
  out.farmBind = okOf(f);
  out.datagrams = null;
  if (f.s && p.listenMs > 0) {
    const got = [];
    f.s.on('message', (m) => { if (got.length < 64) got.push(m.toString('base64')); });
    await new Promise((r) => setTimeout(r, p.listenMs));
    out.datagrams = got;
  }
  if (f.s) f.s.close();
  process.stdout.write(JSON.stringify(out) + '\n');
}
main().catch((e) => { process.stderr.write(String(e && e.stack || e) + '\n'); process.exit(1); });
`;
