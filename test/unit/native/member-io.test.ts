/**
 * NativeMemberIo (src/io/native-member-io.ts), the piece member.ts wires in: two members
 * on loopback, tables pushed from OwnershipTables, counters landing in CounterSet storage,
 * relays handled in C, control envelopes through the shared C sequencer.
 */
import * as dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { OwnershipTables } from '../../../src/fastpath/classifier.js';
import { DROP_NAMES, OUTCOME_NAMES, Outcome } from '../../../src/fastpath/outcomes.js';
import { ENVELOPE_REJECT_NAMES, EnvelopeKind, deriveEnvelopeKey, sequenceStart } from '../../../src/farm/envelope.js';
import { MaglevRing } from '../../../src/farm/ring.js';
import { CounterSet } from '../../../src/util/metrics.js';
import { NativeMemberIo } from '../../../src/io/native-member-io.js';
import { HAVE_NATIVE, SKIP_REASON, until } from './helpers.js';

const open: { close(): void }[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

describe.skipIf(!HAVE_NATIVE)(`NativeMemberIo${SKIP_REASON}`, () => {
  it('two members: local, relayed and control traffic reach the right handlers and counters', async () => {
    const key = deriveEnvelopeKey('member io test farm secret');
    const ring = MaglevRing.build([1, 2]);
    const seen = { 1: [] as string[], 2: [] as string[] };
    const ctl: [number, number, string][] = [];
    const io: NativeMemberIo[] = [];
    const outcomes = [1, 2].map(() => new CounterSet('sipfarm_packets_total', 'x', 'outcome', OUTCOME_NAMES));
    for (const id of [1, 2] as const) {
      const m = new NativeMemberIo({
        selfId: id, vip: { host: '127.0.0.1', port: 0 }, farm: { host: '127.0.0.1', port: 0 }, key, peers: [],
        counters: {
          outcomes: outcomes[id - 1].v,
          drops: new CounterSet('sipfarm_dropped_total', 'x', 'reason', DROP_NAMES).v,
          envelopeRejects: new CounterSet('sipfarm_envelope_rejected_total', 'x', 'reason', ENVELOPE_REJECT_NAMES.map((n) => n.toLowerCase())).v,
        },
        handlers: {
          local: (p, src) => seen[id].push(`local ${src.address} ${p.toString('latin1').split('\r\n')[5]}`),
          relayed: (p, src, _flags, origin) => seen[id].push(`relayed-from-${origin} ${src.address} ${p.toString('latin1').split('\r\n')[5]}`),
          control: (kind, origin, p) => ctl.push([kind, origin, p.toString()]),
        },
      });
      open.push(m);
      io.push(m);
      const t = new OwnershipTables();
      t.selfId = id; t.alive[1] = t.alive[2] = 1; t.ring = ring;
      m.syncTables(t, 3);
    }
    io[0].setPeer(2, '127.0.0.1', io[1].farm.localPort);
    io[1].setPeer(1, '127.0.0.1', io[0].farm.localPort);

    const c = dgram.createSocket('udp4');
    open.push(c);
    await new Promise<void>((r) => c.bind(0, '127.0.0.1', () => r()));
    const N = 50;
    for (let i = 0; i < N; i++) {
      c.send(`OPTIONS sip:bob@203.0.113.100 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKo${i}\r\nMax-Forwards: 70\r\nTo: <sip:bob@203.0.113.100>\r\nFrom: <sip:a@h>;tag=${i}\r\nCall-ID: io-${i}\r\nCSeq: 1 OPTIONS\r\n\r\n`, io[0].vip.localPort, '127.0.0.1');
    }
    await until(() => seen[1].length + seen[2].length === N);
    expect(seen[1].every((s) => s.startsWith('local 127.0.0.1 Call-ID: io-'))).toBe(true);
    expect(seen[2].every((s) => s.startsWith('relayed-from-1 127.0.0.1 Call-ID: io-'))).toBe(true);
    expect(seen[2].length).toBeGreaterThan(0);
    expect(outcomes[0].getByValue('relayed_ring')).toBe(seen[2].length);
    expect(outcomes[1].getByValue('relayed_in')).toBe(seen[2].length);
    expect(outcomes[0].v[Outcome.LOCAL]).toBe(seen[1].length);

    // Heartbeat through the shared sequencer: accepted after the relays (same replay window).
    expect(io[0].sendEnvelope(2, EnvelopeKind.HEARTBEAT, Buffer.from('hb'))).toBeGreaterThan(0);
    expect(io[0].sendEnvelope(9, EnvelopeKind.HEARTBEAT, Buffer.from('hb'))).toBe(-1);
    await until(() => ctl.length === 1);
    expect(ctl[0]).toEqual([EnvelopeKind.HEARTBEAT, 1, 'hb']);
    expect(io[0].context.sequence().epoch).toBe(3);
  });

  it('the C sequencer starts where the member sequencer does (sequenceStart by default)', () => {
    const key = deriveEnvelopeKey('member io test farm secret');
    const mk = (o: { boot?: number; nextSeq?: number }): NativeMemberIo => {
      const m = new NativeMemberIo({
        selfId: 1, vip: { host: '127.0.0.1', port: 0 }, farm: { host: '127.0.0.1', port: 0 }, key, peers: [], ...o,
        counters: {
          outcomes: new CounterSet('sipfarm_packets_total', 'x', 'outcome', OUTCOME_NAMES).v,
          drops: new CounterSet('sipfarm_dropped_total', 'x', 'reason', DROP_NAMES).v,
          envelopeRejects: new CounterSet('sipfarm_envelope_rejected_total', 'x', 'reason', ENVELOPE_REJECT_NAMES.map((n) => n.toLowerCase())).v,
        },
        handlers: { local: () => undefined, relayed: () => undefined, control: () => undefined },
      });
      open.push(m);
      return m;
    };
    expect(mk({ boot: 1_800_000_000, nextSeq: 0x80000000 }).context.sequence()).toEqual({ epoch: 0, boot: 1_800_000_000, nextSeq: 0x80000000 });
    const before = sequenceStart(Date.now());
    const s = mk({}).context.sequence();
    const after = sequenceStart(Date.now());
    expect(s.boot * 2 ** 32 + s.nextSeq).toBeGreaterThanOrEqual(before.boot * 2 ** 32 + before.next);
    expect(s.boot * 2 ** 32 + s.nextSeq).toBeLessThanOrEqual(after.boot * 2 ** 32 + after.next);
  });
});
