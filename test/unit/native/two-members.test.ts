/**
 * Two members in one process on loopback, all native: member 1's VIP socket classifies
 * in C and relays what member 2 owns (ring of 2) in an envelope built in C to member 2's
 * farm socket, which verifies it and hands it to JS with the client's original source.
 * Nothing of the relay path runs in JS.
 */
import * as dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { Arrival, OwnershipTables, Verdict, classify } from '../../../src/fastpath/classifier.js';
import { Drop, Outcome } from '../../../src/fastpath/outcomes.js';
import { EnvelopeFlag, EnvelopeKind, EnvelopeReject, deriveEnvelopeKey } from '../../../src/farm/envelope.js';
import { MaglevRing } from '../../../src/farm/ring.js';
import { ScanResult } from '../../../src/sip/scanner.js';
import { NativeFarmContext } from '../../../src/fastpath/native.js';
import { NativeUdpSocket } from '../../../src/io/native-udp.js';
import { HAVE_NATIVE, SKIP_REASON, until } from './helpers.js';

const open: { close(): void }[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

const invite = (i: number): string =>
  `INVITE sip:bob@203.0.113.100 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.10:5060;branch=z9hG4bKn${i}\r\nMax-Forwards: 70\r\n` +
  `From: <sip:alice@203.0.113.100>;tag=f${i}\r\nTo: <sip:bob@203.0.113.100>\r\nCall-ID: native-${i}@198.51.100.10\r\n` +
  `CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n`;

interface Member { ctx: NativeFarmContext; vip: NativeUdpSocket; farm: NativeUdpSocket; got: { text: string; src: string; port: number; outcome: number; kind: number; flags: number }[] }

function member(id: number, ring: MaglevRing, key: ReturnType<typeof deriveEnvelopeKey>): Member {
  const ctx = new NativeFarmContext();
  const alive = new Uint8Array(256);
  alive[1] = alive[2] = 1;
  ctx.setTables({ selfId: id, alive, ring: ring.table, prevRing: null, probeSources: [], maxMessageSize: 65535 });
  ctx.setKey(key);
  ctx.setSequence(1, 1_700_000_000 + id);
  const vip = new NativeUdpSocket({ role: 'vip', host: '127.0.0.1', port: 0, context: ctx, batch: 32 });
  const farm = new NativeUdpSocket({ role: 'farm', host: '127.0.0.1', port: 0, context: ctx, batch: 32 });
  open.push(vip, farm);
  const m: Member = { ctx, vip, farm, got: [] };
  const collect = (b: import('../../../src/io/native-udp.js').NativeBatch): void => {
    for (let i = 0; i < b.count; i++) {
      m.got.push({ text: b.payload(i).toString('latin1'), src: b.srcAddress(i), port: b.srcPort(i), outcome: b.outcome(i), kind: b.kind(i), flags: b.flags(i) });
    }
  };
  vip.start(collect, farm);
  farm.start(collect);
  return m;
}

describe.skipIf(!HAVE_NATIVE)(`two native members relay in C${SKIP_REASON}`, () => {
  it('datagrams owned by the other member are relayed in C and delivered there with the original source', async () => {
    const key = deriveEnvelopeKey('two members share this farm secret');
    const ring = MaglevRing.build([1, 2]);
    const a = member(1, ring, key);
    const b = member(2, ring, key);
    a.ctx.setPeer(2, '127.0.0.1', b.farm.localPort);
    b.ctx.setPeer(1, '127.0.0.1', a.farm.localPort);

    // Expected owners from the TS twin.
    const t = new OwnershipTables();
    t.selfId = 1; t.alive[1] = t.alive[2] = 1; t.ring = ring;
    const s = new ScanResult(), v = new Verdict();
    const N = 200;
    const owner = Array.from({ length: N }, (_, i) => {
      const buf = Buffer.from(invite(i), 'latin1');
      classify(buf, buf.length, '127.0.0.1', Arrival.DIRECT, t, s, v);
      return v.owner;
    });
    const toB = owner.filter((o) => o === 2).length;
    expect(toB).toBeGreaterThan(N / 4);
    expect(toB).toBeLessThan((N * 3) / 4);

    const c = dgram.createSocket('udp4');
    open.push(c);
    await new Promise<void>((r) => c.bind(0, '127.0.0.1', () => r()));
    const cport = c.address().port;
    for (let i = 0; i < N; i++) c.send(invite(i), a.vip.localPort, '127.0.0.1');
    await until(() => a.got.length + b.got.length === N);

    // Member 1 kept its own, counted as local; member 2 got the rest through the farm channel.
    expect(a.got).toHaveLength(N - toB);
    expect(a.got.every((g) => g.outcome === Outcome.LOCAL && g.kind === 0)).toBe(true);
    expect(a.vip.counters.outcomes[Outcome.RELAYED_RING]).toBe(toB);
    expect(a.vip.counters.drops.reduce((x, y) => x + y, 0)).toBe(0);
    expect(b.got).toHaveLength(toB);
    expect(b.farm.counters.outcomes[Outcome.RELAYED_IN]).toBe(toB);
    expect(b.farm.counters.envelopeRejects.reduce((x, y) => x + y, 0)).toBe(0);
    for (const g of b.got) {
      expect(g.kind).toBe(EnvelopeKind.RELAY);
      expect(g.flags).toBe(0);
      expect(g.outcome).toBe(Outcome.RELAYED_IN);
      expect(g.src).toBe('127.0.0.1');
      expect(g.port).toBe(cport); // the client's port, not member 1's farm port
      const i = Number(/native-(\d+)@/.exec(g.text)![1]);
      expect(owner[i]).toBe(2);
      expect(g.text).toBe(invite(i)); // byte for byte
    }

    // A replayed envelope (captured by a spy socket, re-sent) is refused and counted.
    const spy = dgram.createSocket('udp4');
    open.push(spy);
    await new Promise<void>((r) => spy.bind(0, '127.0.0.1', () => r()));
    a.ctx.setPeer(2, '127.0.0.1', spy.address().port);
    const captured = new Promise<Buffer>((r) => spy.once('message', (m) => r(m)));
    c.send(invite(owner.indexOf(2)), a.vip.localPort, '127.0.0.1');
    const env = await captured;
    spy.send(env, b.farm.localPort, '127.0.0.1');
    spy.send(env, b.farm.localPort, '127.0.0.1');
    await until(() => b.farm.counters.envelopeRejects[EnvelopeReject.REPLAY] === 1);
    expect(b.got).toHaveLength(toB + 1);
    expect(b.farm.counters.drops[Drop.ENVELOPE]).toBe(1);
  });

  it('second chance during grace: relayed with the flag and hop 2 to the previous owner', async () => {
    const key = deriveEnvelopeKey('two members share this farm secret');
    const prev = MaglevRing.build([1, 2]);
    const cur = MaglevRing.build([1]); // member 2 is leaving: every key is member 1's now
    const a = member(1, cur, key);
    const b = member(2, cur, key);
    const alive = new Uint8Array(256);
    alive[1] = alive[2] = 1;
    a.ctx.setTables({ selfId: 1, alive, ring: cur.table, prevRing: prev.table, probeSources: [], maxMessageSize: 65535 });
    a.ctx.setPeer(2, '127.0.0.1', b.farm.localPort);
    b.ctx.setPeer(1, '127.0.0.1', a.farm.localPort);
    const c = dgram.createSocket('udp4');
    open.push(c);
    await new Promise<void>((r) => c.bind(0, '127.0.0.1', () => r()));
    const N = 60;
    for (let i = 0; i < N; i++) c.send(invite(i), a.vip.localPort, '127.0.0.1');
    await until(() => a.got.length + b.got.length === N);
    const sc = a.vip.counters.outcomes[Outcome.SECOND_CHANCE];
    expect(sc).toBeGreaterThan(0);
    expect(b.got).toHaveLength(sc);
    expect(b.got.every((g) => g.flags === EnvelopeFlag.SECOND_CHANCE)).toBe(true);
  });

  it('a burst of locals, tables rewritten while relaying, close with datagrams in flight', async () => {
    const key = deriveEnvelopeKey('two members share this farm secret');
    const ring = MaglevRing.build([1, 2]);
    const solo = MaglevRing.build([1]);
    const a = member(1, solo, key); // every datagram is member 1's: all go to JS
    const b = member(2, ring, key);
    a.ctx.setPeer(2, '127.0.0.1', b.farm.localPort);
    b.ctx.setPeer(1, '127.0.0.1', a.farm.localPort);
    const c = dgram.createSocket('udp4');
    open.push(c);
    await new Promise<void>((r) => c.bind(0, '127.0.0.1', () => r()));
    // 1,000 locals in 32-datagram batches: many JS callbacks, none may lose a datagram.
    const N = 1000;
    for (let i = 0; i < N; i++) c.send(invite(i), a.vip.localPort, '127.0.0.1');
    await until(() => a.got.length === N, 10_000);
    expect(new Set(a.got.map((g) => g.text)).size).toBe(N);
    expect(a.got.every((g) => g.outcome === Outcome.LOCAL && g.port === c.address().port)).toBe(true);
    // Now relay half of a second burst while the tables flip between the two rings.
    const alive = new Uint8Array(256);
    alive[1] = alive[2] = 1;
    let flips = 0;
    const flipper = setInterval(() => {
      flips++;
      a.ctx.setTables({ selfId: 1, alive, ring: (flips % 2 ? ring : solo).table, prevRing: null, probeSources: [], maxMessageSize: 65535 });
    }, 1);
    for (let i = 0; i < N; i++) c.send(invite(N + i), a.vip.localPort, '127.0.0.1');
    await until(() => a.got.length + b.got.length === 2 * N, 10_000);
    clearInterval(flipper);
    expect(flips).toBeGreaterThan(0);
    expect(a.vip.counters.drops.reduce((x, y) => x + y, 0)).toBe(0);
    // Closing with datagrams still arriving must neither hang nor crash.
    for (let i = 0; i < 200; i++) c.send(invite(i), a.vip.localPort, '127.0.0.1');
    a.vip.close();
    a.farm.close();
    expect(a.vip.isClosed).toBe(true);
  });
});
