/**
 * Tiny UDP programs for checking the lab's DSR path without the farm: a responder bound
 * to VIP:5060 in each member namespace that answers with its member id, and a client
 * that sends datagrams to the VIP from one or more source ports and records who
 * answered, from which address.
 */
import type { ChildProcess } from 'node:child_process';
import type { Lab } from '../../../src/lab/lab.js';

const RESPONDER = `
const [host, port, id, lifeMs] = process.argv.slice(1);
const s = require('node:dgram').createSocket('udp4');
s.on('message', (m, r) => s.send('m' + id, r.port, r.address));
s.bind(Number(port), host, () => process.stdout.write('ready\\n'));
setTimeout(() => process.exit(0), Number(lifeMs)).unref();
process.on('SIGTERM', () => process.exit(0));
`;

const PROBE = `
const [host, port, bindIp, sockets, perSocket, waitMs] = process.argv.slice(1).map((v, i) => (i === 0 || i === 2 ? v : Number(v)));
const dgram = require('node:dgram');
const out = [];
let bound = 0;
const socks = [];
for (let k = 0; k < sockets; k++) {
  const s = dgram.createSocket('udp4');
  const seen = [];
  out.push(seen);
  s.on('message', (m, r) => seen.push(m.toString() + '@' + r.address + ':' + r.port));
  s.bind(0, bindIp, () => {
    if (++bound === sockets) go();
  });
  socks.push(s);
}
function go() {
  let i = 0;
  const t = setInterval(() => {
    for (const s of socks) s.send('probe', port, host);
    if (++i >= perSocket) {
      clearInterval(t);
      setTimeout(() => { process.stdout.write(JSON.stringify(out)); process.exit(0); }, waitMs);
    }
  }, 3);
}
setTimeout(() => process.exit(3), 10000).unref();
`;

/** Starts a responder on VIP:5060 in every member namespace; resolves once all are bound. */
export async function startResponders(lab: Lab, lifeMs = 30_000): Promise<ChildProcess[]> {
  const procs = lab.memberIds.map((id) => lab.spawn(lab.memberNs(id), process.execPath, ['-e', RESPONDER, lab.vip, String(lab.sipPort), String(id), String(lifeMs)]));
  await Promise.all(procs.map((p) => new Promise<void>((res, rej) => {
    const t = setTimeout(() => rej(new Error('responder did not start')), 5_000);
    p.stdout?.setEncoding('utf8').on('data', (d: string) => {
      if (d.includes('ready')) {
        clearTimeout(t);
        res();
      }
    });
    p.once('exit', (code) => rej(new Error(`responder exited (${code})`)));
  })));
  return procs;
}

/**
 * Sends `perSocket` datagrams from each of `sockets` client sockets to the VIP and
 * returns, per socket, the answers as 'm<id>@<source ip>:<source port>'.
 */
export async function probeVip(lab: Lab, sockets: number, perSocket: number): Promise<string[][]> {
  const r = await lab.exec(lab.ns.client, process.execPath, ['-e', PROBE, lab.vip, String(lab.sipPort), lab.addresses.client, String(sockets), String(perSocket), '500'], { timeoutMs: 15_000 });
  if (r.code !== 0) throw new Error(`probe failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as string[][];
}
