#!/usr/bin/env node
/**
 * In-process cost of the slow path per call, without sockets: the same objects a member
 * builds (transaction layer, proxy, registrar, location service, SlowPath entry) fed the
 * datagrams of INVITE/180/200/ACK/BYE/200 calls, as sipp would send them through the
 * proxy, with every datagram the proxy sends captured instead of sent. What it measures
 * is the JavaScript side only (parse, transactions, routing, serialization, GC) — the
 * part the end-to-end slow-path rows of `npm run bench` cannot separate from the
 * kernel's receive/send/wake-up cost. CPU per call from process.cpuUsage (the whole
 * process, GC threads included), after warm-up calls.
 *
 *   node bench/slow-path-cost.mjs [calls=20000] [warm=5000]
 *
 * Needs dist/ (npm run build). Prints a small table; exit code 1 when a call fails.
 * SLOW_PATH_DIST=DIR measures another build (e.g. of an older commit) with this same
 * harness, for a before/after comparison that the harness's own cost cannot skew.
 */
import { performance } from 'node:perf_hooks';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { cpus } from 'node:os';

const DIST = process.env.SLOW_PATH_DIST ? resolve(process.env.SLOW_PATH_DIST) : join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'dist');
const imp = (p) => import(pathToFileURL(join(DIST, p)).href);
const { systemClock } = await imp('sip/clock.js');
const { silentLogger } = await imp('util/log.js');
const { LocationStore } = await imp('proxy/location.js');
const { FarmRpc } = await imp('farm/rpc.js');
const { FarmLocationService } = await imp('proxy/location-service.js');
const { Registrar } = await imp('proxy/registrar.js');
const { Proxy } = await imp('proxy/proxy.js');
const { TransactionLayer } = await imp('sip/transaction/layer.js');
const { SlowPath } = await imp('proxy/slow-path.js');

const CALLS = Number(process.argv[2] ?? 20000);
const WARM = Number(process.argv[3] ?? 5000);

const VIP = { host: '127.0.0.1', port: 5060 };
const UAC = { address: '127.0.0.1', port: 5071 };
const UAS = { address: '127.0.0.1', port: 5072 };

/** Every datagram the proxy sends, in order, as text (what the peers would read). */
const outbox = [];
const send = (buf, dest) => outbox.push({ text: buf.toString('latin1'), dest });

const store = new LocationStore(systemClock);
const rpc = new FarmRpc(() => undefined);
const location = new FarmLocationService(store, rpc, { selfId: 1, ownerOf: () => 1, ownerExcluding: () => -1 });
let proxy;
const registrar = new Registrar({ minExpires: 60, maxExpires: 7200, defaultExpires: 3600 }, (h) => proxy.isOurDomain(h), location, systemClock);
proxy = new Proxy({
  selfId: 1, vip: VIP, localHosts: [], domains: ['demo'], outboundProxy: undefined,
  location, registrar, isDraining: () => false, send,
});
const layer = new TransactionLayer({ clock: systemClock, send, timers: { t1: 500, t2: 4000, t4: 5000 }, tu: proxy });
proxy.attach(layer);
const slow = new SlowPath(layer, send, silentLogger(), 65535);

const crlf = (lines, body = '') => Buffer.from(`${lines.join('\r\n')}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`, 'latin1');
const hdr = (text, name) => {
  const m = new RegExp(`^${name}:\\s*(.*)$`, 'gmi');
  return [...text.matchAll(m)].map((x) => x[1]);
};
const SDP = 'v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';

/** Feeds one datagram and lets what it queued run (a route needing RPC or DNS is a promise). */
async function feed(buf, src) {
  slow.receive(buf, src);
  await null;
}

/** Takes the captured datagrams the proxy sent to `dest`, oldest first. */
function take(dest, pred = () => true) {
  const i = outbox.findIndex((o) => o.dest.port === dest.port && pred(o.text));
  if (i < 0) throw new Error(`expected a datagram to ${dest.port}; outbox: ${outbox.map((o) => o.text.split('\r\n')[0]).join(' | ')}`);
  return outbox.splice(i, 1)[0].text;
}

async function register() {
  await feed(crlf([
    'REGISTER sip:demo SIP/2.0', `Via: SIP/2.0/UDP 127.0.0.1:${UAS.port};branch=z9hG4bK-reg1`, 'Max-Forwards: 70',
    'From: <sip:service@demo>;tag=r1', 'To: <sip:service@demo>', 'Call-ID: reg-1@127.0.0.1', 'CSeq: 1 REGISTER',
    `Contact: <sip:service@127.0.0.1:${UAS.port}>`, 'Expires: 3600',
  ]), UAS);
  const ok = take(UAS);
  if (!ok.startsWith('SIP/2.0 200')) throw new Error(`REGISTER: ${ok.split('\r\n')[0]}`);
}

/** One call as sipp's uac.xml/uas.xml play it; throws if the proxy does not do its part. */
async function call(n) {
  const cid = `${n}-bench@127.0.0.1`;
  const from = `sipp <sip:sipp@127.0.0.1:${UAC.port}>;tag=${n}a`;
  const via = (b) => `Via: SIP/2.0/UDP 127.0.0.1:${UAC.port};branch=z9hG4bK-${n}-${b}`;
  await feed(crlf([
    'INVITE sip:service@demo SIP/2.0', via('i'), 'Max-Forwards: 70', `From: ${from}`, 'To: <sip:service@demo>',
    `Call-ID: ${cid}`, 'CSeq: 1 INVITE', `Contact: <sip:sipp@127.0.0.1:${UAC.port}>`, 'Subject: bench', 'Content-Type: application/sdp',
  ], SDP), UAC);
  take(UAC, (t) => t.startsWith('SIP/2.0 100'));
  const inv = take(UAS);
  const vias = hdr(inv, 'Via');
  const rr = hdr(inv, 'Record-Route');
  const to = `<sip:service@demo>;tag=${n}b`;
  const resp = (status, reason, extra = [], body = '') => crlf([
    `SIP/2.0 ${status} ${reason}`, ...vias.map((v) => `Via: ${v}`), ...rr.map((r) => `Record-Route: ${r}`),
    `From: ${from}`, `To: ${to}`, `Call-ID: ${cid}`, 'CSeq: 1 INVITE', ...extra,
  ], body);
  await feed(resp(180, 'Ringing'), UAS);
  take(UAC, (t) => t.startsWith('SIP/2.0 180'));
  await feed(resp(200, 'OK', [`Contact: <sip:service@127.0.0.1:${UAS.port}>`, 'Content-Type: application/sdp'], SDP), UAS);
  const ok = take(UAC, (t) => t.startsWith('SIP/2.0 200'));
  const route = hdr(ok, 'Record-Route').reverse(); // RFC 3261 §12.1.2: the UAC's route set
  const inDialog = (method, seq, b) => crlf([
    `${method} sip:service@127.0.0.1:${UAS.port} SIP/2.0`, via(b), 'Max-Forwards: 70', ...route.map((r) => `Route: ${r}`),
    `From: ${from}`, `To: ${to}`, `Call-ID: ${cid}`, `CSeq: ${seq} ${method}`,
  ]);
  await feed(inDialog('ACK', 1, 'a'), UAC);
  take(UAS, (t) => t.startsWith('ACK '));
  await feed(inDialog('BYE', 2, 'b'), UAC);
  const bye = take(UAS, (t) => t.startsWith('BYE '));
  await feed(crlf([
    'SIP/2.0 200 OK', ...hdr(bye, 'Via').map((v) => `Via: ${v}`), `From: ${from}`, `To: ${to}`, `Call-ID: ${cid}`, 'CSeq: 2 BYE',
  ]), UAS);
  take(UAC, (t) => t.startsWith('SIP/2.0 200') && t.includes('CSeq: 2 BYE'));
}

await register();
for (let i = 0; i < WARM; i++) await call(`w${i}`);
if (outbox.length) throw new Error(`unexpected datagrams after warm-up: ${outbox.map((o) => o.text.split('\r\n')[0]).join(' | ')}`);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
for (let i = 0; i < CALLS; i++) await call(i);
const wall = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
const cpuS = (cpu.user + cpu.system) / 1e6;
// Harness work (building datagrams, regex reads of the proxy's output) is counted too:
// the figure is an upper bound on the slow path's own cost.
const rows = [
  ['calls', String(CALLS)],
  ['CPU µs per call (incl. harness)', (1e6 * cpuS / CALLS).toFixed(1)],
  ['CPU µs per SIP message in (6 per call)', (1e6 * cpuS / CALLS / 6).toFixed(1)],
  ['wall s', wall.toFixed(2)],
  ['live transactions at end', String(layer.size())],
];
console.log(`slow-path-cost: ${cpus()[0]?.model ?? '?'}, Node ${process.version}, ${WARM} warm-up calls`);
for (const [k, v] of rows) console.log(`${k.padEnd(40)} ${v.padStart(10)}`);
process.exit(0);
