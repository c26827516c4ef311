/**
 * The l2 relay in the namespace lab (DESIGN "Relay between members", l2): two members on
 * the LB's segment, each running the native VIP socket with its l2 relay open on eth0.
 *
 *   A. LB → member 1 only. INVITEs whose Call-ID the ring [1, 2] gives to member 2: member
 *      1 re-sends each as a frame to member 2's MAC. Member 2 receives them on its VIP
 *      socket with the client's address and port, byte-identical, marked — and although
 *      its own ring ([1]) says "relay to member 1", handles them (relayed_in): no loop.
 *   B. LB → member 2 only: member 2 relays everything by frame to member 1, whose ring
 *      would send half of it back; the mark keeps it there.
 *   C. A client forging the mark (python3 sets IP_TOS): handled by the member the LB
 *      picked, never relayed — the documented cost of the guard.
 *
 * Nothing goes over the farm channel (the envelope fallback): both farm sockets count it.
 * Needs root (namespaces, CAP_NET_RAW) and the compiled dist/ (`npm test` builds it);
 * skipped without root.
 */
import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Action, Arrival, OwnershipTables, Verdict, classify } from '../../src/fastpath/classifier.js';
import { Outcome } from '../../src/fastpath/outcomes.js';
import { MaglevRing } from '../../src/farm/ring.js';
import { Lab } from '../../src/lab/lab.js';
import { ScanResult } from '../../src/sip/scanner.js';

const REPO = resolve(import.meta.dirname, '../..');
const DIST = resolve(REPO, 'dist');
const unavailable = await Lab.preflight();
const KEY = 'l2-lab-key-0123456789abcdef0123456';
const FARM_PORT = 5080;
const DSCP = 8; // CS1, the default mark
const N = 20;

/** One member: a native context, its l2 relay on eth0, a VIP and a farm socket. JSON lines out. */
const MEMBER = `
const cfg = JSON.parse(process.argv[1]);
const { NativeFarmContext } = await import(cfg.dist + '/fastpath/native.js');
const { NativeUdpSocket } = await import(cfg.dist + '/io/native-udp.js');
const { L2Relay } = await import(cfg.dist + '/io/l2-relay.js');
const { MaglevRing } = await import(cfg.dist + '/farm/ring.js');
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const ctx = new NativeFarmContext();
const alive = new Uint8Array(256);
for (const id of cfg.alive) alive[id] = 1;
ctx.setTables({ selfId: cfg.self, alive, ring: MaglevRing.build(cfg.ring).table, prevRing: null, probeSources: [], maxMessageSize: 65535 });
ctx.setKey(Buffer.from(cfg.key));
ctx.setSequence(1, 1);
for (const p of cfg.peers) ctx.setPeer(p.id, p.host, p.port);
const relay = new L2Relay(ctx, { iface: 'eth0', dscp: cfg.dscp, macs: cfg.macs });
const farm = new NativeUdpSocket({ role: 'farm', host: cfg.farm, port: cfg.farmPort, context: ctx });
const vip = new NativeUdpSocket({ role: 'vip', host: cfg.vip, port: cfg.vipPort, context: ctx, counters: farm.counters });
let envelopes = 0;
farm.start((b) => { envelopes += b.count; });
vip.start((b) => {
  for (let i = 0; i < b.count; i++) {
    out({ t: 'local', src: b.srcAddress(i), port: b.srcPort(i), local: b.localAddress(i), lport: b.localPort(i), outcome: b.outcome(i), hex: b.payload(i).toString('hex') });
  }
}, farm);
out({ t: 'ready', mac: relay.mac, mtu: relay.mtu });
process.stdin.setEncoding('utf8').on('data', (d) => {
  for (const line of d.split('\\n')) {
    if (line === 'dump') out({ t: 'counters', outcomes: [...farm.counters.outcomes], drops: [...farm.counters.drops], l2: relay.counters(), envelopes });
    if (line === 'exit') process.exit(0);
  }
});
setTimeout(() => process.exit(2), 55000).unref();
process.on('SIGTERM', () => process.exit(0));
`;

/** The client: sends the datagrams (hex) from one source port to the VIP, a little apart. */
const CLIENT = `
const [host, port, bindIp, bindPort, list] = process.argv.slice(1);
const s = require('node:dgram').createSocket('udp4');
const items = JSON.parse(list);
s.bind(Number(bindPort), bindIp, () => {
  let i = 0;
  const t = setInterval(() => {
    s.send(Buffer.from(items[i], 'hex'), Number(port), host);
    if (++i >= items.length) { clearInterval(t); setTimeout(() => process.exit(0), 50); }
  }, 2);
});
setTimeout(() => process.exit(3), 10000).unref();
`;

/** Same, with the IP_TOS of a forging client (node cannot set it). */
const FORGER = `
import socket, sys, json
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[3], int(sys.argv[4])))
s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, int(sys.argv[5]))
for h in json.loads(sys.argv[6]):
    s.sendto(bytes.fromhex(h), (sys.argv[1], int(sys.argv[2])))
`;

interface LocalLine { t: 'local'; src: string; port: number; local: string; lport: number; outcome: number; hex: string }
interface CounterLine { t: 'counters'; outcomes: number[]; drops: number[]; l2: Record<string, number>; envelopes: number }

class MemberProc {
  readonly locals: LocalLine[] = [];
  private waiters: Array<(o: Record<string, unknown>) => boolean> = [];
  private buf = '';
  private err = '';

  constructor(readonly id: number, readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.buf += d;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const o = JSON.parse(this.buf.slice(0, nl)) as Record<string, unknown>;
        this.buf = this.buf.slice(nl + 1);
        if (o.t === 'local') this.locals.push(o as unknown as LocalLine);
        this.waiters = this.waiters.filter((w) => !w(o));
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.err = (this.err + d).slice(-4000)));
  }

  next(t: string, ms = 10_000): Promise<Record<string, unknown>> {
    return new Promise((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`member ${this.id}: no '${t}' line (stderr: ${this.err})`)), ms);
      this.child.once('exit', (code) => rej(new Error(`member ${this.id} exited (${code}): ${this.err}`)));
      this.waiters.push((o) => {
        if (o.t !== t) return false;
        clearTimeout(timer);
        res(o);
        return true;
      });
    });
  }

  async counters(): Promise<CounterLine> {
    const p = this.next('counters');
    this.child.stdin!.write('dump\n');
    return (await p) as unknown as CounterLine;
  }
}

function invite(callId: string, cport: number): Buffer {
  return Buffer.from(
    `INVITE sip:bob@203.0.113.100 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.10:${cport};branch=z9hG4bK-${callId}\r\nMax-Forwards: 70\r\n` +
      `From: <sip:alice@203.0.113.100>;tag=a1\r\nTo: <sip:bob@203.0.113.100>\r\nCall-ID: ${callId}\r\nCSeq: 1 INVITE\r\n` +
      'Contact: <sip:alice@198.51.100.10>\r\nContent-Length: 0\r\n\r\n',
    'latin1',
  );
}

/** n INVITEs whose Call-ID the ring over `ringIds` gives to `owner` (the TS classifier decides). */
function invitesOwnedBy(owner: number, ringIds: number[], n: number, cport: number, tag: string): Buffer[] {
  const t = new OwnershipTables();
  t.selfId = ringIds.find((id) => id !== owner) ?? 0;
  for (const id of ringIds) t.alive[id] = 1;
  t.ring = MaglevRing.build(ringIds);
  const s = new ScanResult();
  const v = new Verdict();
  const out: Buffer[] = [];
  for (let i = 0; out.length < n && i < 10_000; i++) {
    const b = invite(`${tag}-${i}@198.51.100.10`, cport);
    const a = classify(b, b.length, '198.51.100.10', Arrival.DIRECT, t, s, v);
    if ((a === Action.RELAY ? v.owner : t.selfId) === owner) out.push(b);
  }
  return out;
}

const HAVE_PY = spawnSync('python3', ['-c', 'import socket'], { stdio: 'ignore' }).status === 0;

describe.skipIf(unavailable !== undefined)('l2 relay (DSR-style, AF_PACKET) in the namespace lab', () => {
  let lab: Lab | undefined;
  const m: MemberProc[] = [];
  const CPORT = 5062;

  beforeAll(async () => {
    for (const f of ['fastpath/native.js', 'io/native-udp.js', 'io/l2-relay.js', 'farm/ring.js']) {
      if (!existsSync(resolve(DIST, f))) throw new Error(`dist/${f} is missing: run \`npm run build\` first (\`npm test\` does)`);
    }
    lab = await Lab.up({ members: 2, lbMode: 'random' });
    const l = lab;
    // Member 1: the real ring [1, 2]. Member 2: a ring of member 1 alone, so that it would
    // relay every direct datagram back to member 1 — what the loop guard must prevent.
    const cfgs = [
      { self: 1, ring: [1, 2], peer: 2 },
      { self: 2, ring: [1], peer: 1 },
    ];
    for (const c of cfgs) {
      const cfg = {
        dist: DIST, self: c.self, ring: c.ring, alive: [1, 2], key: KEY, dscp: DSCP,
        peers: [{ id: c.peer, host: l.memberAddress(c.peer), port: FARM_PORT }],
        macs: [{ id: c.peer, mac: l.memberMac(c.peer) }],
        farm: l.memberAddress(c.self), farmPort: FARM_PORT, vip: l.vip, vipPort: l.sipPort,
      };
      const child = l.spawn(l.memberNs(c.self), process.execPath, ['--input-type=module', '-e', MEMBER, JSON.stringify(cfg)], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      m.push(new MemberProc(c.self, child));
    }
    const ready = await Promise.all(m.map((p) => p.next('ready')));
    expect(ready.map((r) => r.mac)).toEqual([l.memberMac(1), l.memberMac(2)]); // the relay found its own eth0 MAC
  });

  afterAll(async () => {
    for (const p of m) p.child.stdin?.end('exit\n');
    await lab?.down();
  });

  async function send(items: Buffer[]): Promise<void> {
    const r = await lab!.exec(lab!.ns.client, process.execPath, ['-e', CLIENT, lab!.vip, String(lab!.sipPort), lab!.addresses.client, String(CPORT), JSON.stringify(items.map((b) => b.toString('hex')))], { timeoutMs: 15_000 });
    expect(r.code, r.stderr).toBe(0);
  }

  async function until(cond: () => boolean, ms = 5_000): Promise<void> {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('A: member 1 relays by frame; member 2 gets the client\'s datagram intact, marked, and keeps it', async () => {
    await lab!.setLbMembers([1]);
    const sent = invitesOwnedBy(2, [1, 2], N, CPORT, 'a');
    expect(sent.length).toBe(N);
    await send(sent);
    await until(() => m[1].locals.length >= N);
    await new Promise((r) => setTimeout(r, 200)); // anything bounced back would show by now
    const got = m[1].locals;
    expect(got.length).toBe(N);
    for (const g of got) {
      expect(`${g.src}:${g.port}`).toBe(`${lab!.addresses.client}:${CPORT}`); // the client's source, not member 1's
      expect(`${g.local}:${g.lport}`).toBe(`${lab!.vip}:${lab!.sipPort}`);
      expect(g.outcome).toBe(Outcome.RELAYED_IN); // the mark was read back (IP_RECVTOS)
    }
    expect(new Set(got.map((g) => g.hex))).toEqual(new Set(sent.map((b) => b.toString('hex')))); // byte-identical
    const [c1, c2] = await Promise.all([m[0].counters(), m[1].counters()]);
    expect(c1.outcomes[Outcome.RELAYED_RING]).toBe(N);
    expect(c1.l2.sent).toBe(N);
    expect(c1.l2.marked_in).toBe(0); // nothing came back
    expect(m[0].locals.length).toBe(0);
    expect(c2.l2.marked_in).toBe(N);
    expect(c2.outcomes[Outcome.RELAYED_IN]).toBe(N);
    expect(c2.outcomes[Outcome.RELAYED_RING]).toBe(0); // its ring says member 1, the guard says "keep"
    expect(c2.l2.sent).toBe(0);
    expect(c1.envelopes + c2.envelopes).toBe(0); // no envelope fallback
    for (const c of [c1, c2]) expect(c.drops.reduce((a, b) => a + b, 0)).toBe(0);
  });

  it('B: the other way round — member 2 relays everything to member 1, whose ring would send half back', async () => {
    await lab!.setLbMembers([2]);
    const before1 = m[0].locals.length;
    const mixed = [...invitesOwnedBy(2, [1, 2], N / 2, CPORT, 'b2'), ...invitesOwnedBy(1, [1, 2], N / 2, CPORT, 'b1')];
    await send(mixed);
    await until(() => m[0].locals.length >= before1 + N);
    await new Promise((r) => setTimeout(r, 200));
    const got = m[0].locals.slice(before1);
    expect(got.length).toBe(N);
    expect(got.every((g) => g.src === lab!.addresses.client && g.port === CPORT && g.outcome === Outcome.RELAYED_IN)).toBe(true);
    expect(new Set(got.map((g) => g.hex))).toEqual(new Set(mixed.map((b) => b.toString('hex'))));
    const [c1, c2] = await Promise.all([m[0].counters(), m[1].counters()]);
    expect(c2.l2.sent).toBe(N);
    expect(c2.outcomes[Outcome.RELAYED_RING]).toBe(N);
    expect(c1.l2.marked_in).toBe(N);
    expect(c1.l2.sent).toBe(N); // still only phase A's frames
    expect(c2.l2.marked_in).toBe(N); // still only phase A's: nothing bounced
    expect(c1.envelopes + c2.envelopes).toBe(0);
  });

  it.skipIf(!HAVE_PY)('C: a client forging the mark is handled where the LB sent it, never relayed', async () => {
    await lab!.setLbMembers([1]);
    const before = m[0].locals.length;
    const forged = invitesOwnedBy(2, [1, 2], 3, CPORT + 1, 'c');
    const r = await lab!.exec(lab!.ns.client, 'python3', ['-c', FORGER, lab!.vip, String(lab!.sipPort), lab!.addresses.client, String(CPORT + 1), String(DSCP << 2), JSON.stringify(forged.map((b) => b.toString('hex')))], { timeoutMs: 10_000 });
    expect(r.code, r.stderr).toBe(0);
    await until(() => m[0].locals.length >= before + 3);
    const c1 = await m[0].counters();
    expect(m[0].locals.slice(before).every((g) => g.outcome === Outcome.RELAYED_IN && g.port === CPORT + 1)).toBe(true);
    expect(c1.l2.sent).toBe(N); // unchanged: member 2 owns these Call-IDs, yet nothing was relayed
  });
});
