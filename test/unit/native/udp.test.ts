/**
 * The native UDP socket on loopback: batched receive into JS with source and local
 * address, per-reason drop counters on a VIP socket, IP_PKTINFO source selection on
 * send, and the SO_REUSEPORT group spread at random by the classic-BPF program.
 */
import * as dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { Drop, Outcome } from '../../../src/fastpath/outcomes.js';
import { NativeUdpSocket, type NativeBatch } from '../../../src/io/native-udp.js';
import { HAVE_NATIVE, SKIP_REASON, bothTables, until, vectors } from './helpers.js';

const open: { close(): void }[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

function client(): Promise<dgram.Socket> {
  return new Promise((res) => {
    const s = dgram.createSocket('udp4');
    s.bind(0, '127.0.0.1', () => res(s));
    open.push(s);
  });
}

describe.skipIf(!HAVE_NATIVE)(`NativeUdpSocket${SKIP_REASON}`, () => {
  it('plain: delivers datagrams in batches with source and local (IP_PKTINFO) address', async () => {
    const s = new NativeUdpSocket({ role: 'plain', host: '0.0.0.0', port: 0, batch: 8, slot: 2048 });
    open.push(s);
    const got: { text: string; src: string; port: number; local: string; lport: number }[] = [];
    let batches = 0;
    s.start((b: NativeBatch) => {
      batches++;
      for (let i = 0; i < b.count; i++) {
        got.push({ text: b.payload(i).toString(), src: b.srcAddress(i), port: b.srcPort(i), local: b.localAddress(i), lport: b.localPort(i) });
      }
    });
    const c = await client();
    const cport = c.address().port;
    for (let i = 0; i < 40; i++) c.send(`hello ${i}`, s.localPort, '127.0.0.3');
    await until(() => got.length === 40);
    expect(got.map((g) => g.text).sort()).toEqual(Array.from({ length: 40 }, (_, i) => `hello ${i}`).sort());
    expect(new Set(got.map((g) => `${g.src}:${g.port}`))).toEqual(new Set([`127.0.0.1:${cport}`]));
    expect(new Set(got.map((g) => g.local))).toEqual(new Set(['127.0.0.3'])); // the address it was sent to, not 0.0.0.0
    expect(got[0].lport).toBe(s.localPort);
    expect(batches).toBeLessThanOrEqual(40);
  });

  it('send: picks the source address with IP_PKTINFO from a wildcard-bound socket', async () => {
    const s = new NativeUdpSocket({ role: 'plain', host: '0.0.0.0', port: 0 });
    open.push(s);
    const c = await client();
    const seen = new Promise<dgram.RemoteInfo>((res) => c.once('message', (_m, r) => res(r)));
    const n = s.send(Buffer.from('SIP/2.0 200 OK\r\n\r\n'), c.address().port, '127.0.0.1', '127.0.0.7');
    expect(n).toBe(18);
    const r = await seen;
    expect(r.address).toBe('127.0.0.7');
    expect(r.port).toBe(s.localPort);
    expect(s.send(Buffer.from('x'), 9, 'not-an-ip')).toBeLessThan(0); // -EINVAL, no throw
  });

  it('vip: classifies in C — local to JS, drops counted per reason, nothing relayed without peers', async () => {
    const { ctx } = bothTables(vectors.tableSets.steady);
    const s = new NativeUdpSocket({ role: 'vip', host: '127.0.0.1', port: 0, context: ctx, batch: 16 });
    open.push(s);
    const outcomes: number[] = [];
    s.start((b) => {
      for (let i = 0; i < b.count; i++) outcomes.push(b.outcome(i));
    });
    const c = await client();
    const byName = new Map(vectors.vectors.map((v) => [v.name, v.packet]));
    c.send(byName.get('invite-own-self')!, s.localPort, '127.0.0.1'); // local
    c.send(byName.get('invite-own-peer')!, s.localPort, '127.0.0.1'); // relay → peer 2 unknown here
    c.send('GARBAGE\r\n\r\n', s.localPort, '127.0.0.1'); // not_sip
    c.send('SIP/2.0 200 OK\r\nVia: x\r\n', s.localPort, '127.0.0.1'); // no_end_of_headers
    await until(() => s.counters.drops[Drop.NOT_SIP] + s.counters.drops[Drop.NO_END_OF_HEADERS] + s.counters.drops[Drop.NO_LIVE_MEMBER] === 3 && outcomes.length === 1);
    expect(outcomes).toEqual([Outcome.LOCAL]);
    expect(s.counters.outcomes[Outcome.LOCAL]).toBe(1);
    expect(s.counters.outcomes[Outcome.RELAYED_RING]).toBe(1);
    expect(s.counters.drops[Drop.NO_LIVE_MEMBER]).toBe(1);
    expect(s.counters.drops[Drop.NOT_SIP]).toBe(1);
    expect(s.counters.drops[Drop.NO_END_OF_HEADERS]).toBe(1);
  });

  it('bind errors carry code NATIVE_SOCKET and the errno', () => {
    const a = new NativeUdpSocket({ role: 'plain', host: '127.0.0.1', port: 0 });
    open.push(a);
    expect(() => new NativeUdpSocket({ role: 'plain', host: '127.0.0.1', port: a.localPort })).toThrowError(
      expect.objectContaining({ code: 'NATIVE_SOCKET', errno: 98 }),
    );
    expect(() => new NativeUdpSocket({ role: 'vip', host: '127.0.0.1', port: 0 })).toThrowError(expect.objectContaining({ code: 'NATIVE_UDP_BAD_OPTION' }));
  });
});

describe.skipIf(!HAVE_NATIVE)(`SO_REUSEPORT group spread at random (one host, many members)${SKIP_REASON}`, () => {
  it('N sockets on one VIP:port share one flow\'s datagrams randomly, not per flow', async () => {
    const N = 3;
    const first = new NativeUdpSocket({ role: 'plain', host: '127.0.0.1', port: 0, reusePort: true });
    open.push(first);
    const socks = [first];
    for (let i = 1; i < N; i++) {
      const s = new NativeUdpSocket({ role: 'plain', host: '127.0.0.1', port: first.localPort, reusePort: true });
      open.push(s);
      socks.push(s);
    }
    first.spreadReuseportRandomly(N);
    const counts = new Array<number>(N).fill(0);
    socks.forEach((s, k) => s.start((b) => { counts[k] += b.count; }));
    const c = await client(); // ONE source address and port: one flow
    const total = 600;
    for (let i = 0; i < total; i++) c.send(`p${i}`, first.localPort, '127.0.0.1');
    await until(() => counts.reduce((a, b) => a + b, 0) === total);
    // Uniform over 3: each ~200; the kernel's flow hash would give one socket all 600.
    for (const n of counts) expect(n).toBeGreaterThan(total / N / 2);
  });
});
