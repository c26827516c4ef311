/**
 * The envelope in C (native/src/envelope.c) against src/farm/envelope.ts: identical bytes
 * both ways, every reject reason, and the replay window.
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  DecodedEnvelope, EnvelopeDecoder, EnvelopeFlag, EnvelopeKind, EnvelopeReject, HOP_SECOND_CHANCE, deriveEnvelopeKey,
  encodeEnvelope, newEnvelopeHeader, parseIpInto, type EnvelopeHeader,
} from '../../../src/farm/envelope.js';
import { NativeFarmContext, type NativeDecodedEnvelope } from '../../../src/fastpath/native.js';
import { HAVE_NATIVE, SKIP_REASON } from './helpers.js';

const key = deriveEnvelopeKey('a farm secret of enough bytes');
const otherKey = deriveEnvelopeKey('another farm secret, not ours');

function header(over: Partial<EnvelopeHeader> = {}): EnvelopeHeader {
  const h = newEnvelopeHeader();
  h.origin = 2; h.epoch = 7; h.boot = 1700000000; h.seq = 1;
  parseIpInto('198.51.100.10', h.srcAddr); h.srcPort = 5062;
  parseIpInto('203.0.113.100', h.localAddr); h.localPort = 5060;
  return Object.assign(h, over);
}

function ctxFor(k = key): NativeFarmContext {
  const c = new NativeFarmContext();
  c.setKey(k);
  c.setPeer(2, '127.0.0.1', 1);
  return c;
}

const payload = Buffer.from('INVITE sip:bob@203.0.113.100 SIP/2.0\r\n\r\n');

describe.skipIf(!HAVE_NATIVE)(`native envelope${SKIP_REASON}`, () => {
  it('C encodes the same bytes as TS (v4, v6, control without addresses)', () => {
    const c = ctxFor();
    const v6 = header({ family: 6, seq: 9, flags: EnvelopeFlag.SECOND_CHANCE, hop: HOP_SECOND_CHANCE });
    parseIpInto('2001:db8::10', v6.srcAddr); parseIpInto('2001:db8::100', v6.localAddr);
    const ctl = header({ kind: EnvelopeKind.HEARTBEAT, family: 0, seq: 10 });
    for (const h of [header(), v6, ctl, header({ seq: 0xffffffff, epoch: 0xffffffff })]) {
      expect(c.encode(h, payload).equals(encodeEnvelope(h, payload, key))).toBe(true);
    }
    expect(c.encode(header(), Buffer.alloc(0)).equals(encodeEnvelope(header(), Buffer.alloc(0), key))).toBe(true);
  });

  it('TS encodes → C decodes, with the same fields', () => {
    const c = ctxFor();
    const h = header({ flags: EnvelopeFlag.SECOND_CHANCE | EnvelopeFlag.RETURNED, seq: 5 });
    const buf = encodeEnvelope(h, payload, key);
    const out: NativeDecodedEnvelope = {};
    expect(c.decode(buf, out)).toBe(EnvelopeReject.OK);
    expect(out).toMatchObject({ kind: 1, flags: 3, hop: 1, origin: 2, epoch: 7, boot: 1700000000, seq: 5, family: 4, srcPort: 5062, localPort: 5060 });
    expect([...out.srcAddr!.subarray(0, 4)]).toEqual([198, 51, 100, 10]);
    expect(buf.subarray(out.payloadStart, out.payloadEnd).equals(payload)).toBe(true);
  });

  it('C encodes (stamped by its sequencer) → TS decodes', () => {
    const c = ctxFor();
    c.setSequence(42, 1800000000);
    const dec = new EnvelopeDecoder(key, { memberIds: new Set([2]) });
    const d = new DecodedEnvelope();
    for (let i = 0; i < 3; i++) {
      const buf = c.encode(header({ seq: 999, boot: 1 }), payload, true);
      expect(dec.decode(buf, buf.length, d)).toBe(EnvelopeReject.OK);
      expect(d.seq).toBe(i);
      expect(d.boot).toBe(1800000000);
      expect(d.epoch).toBe(42);
      expect(d.srcAddress).toBe('198.51.100.10');
    }
    expect(c.sequence()).toEqual({ epoch: 42, boot: 1800000000, nextSeq: 3 });
    // the sequencer moves the boot id up rather than wrapping seq
    c.setSequence(42, 1800000000, 0x100000000);
    const w = c.encode(header(), payload, true);
    expect(dec.decode(w, w.length, d)).toBe(EnvelopeReject.OK);
    expect([d.boot, d.seq]).toEqual([1800000001, 0]);
  });

  it('rejects exactly as TS: tamper, wrong key, short, magic, version, length, flags, field, member, hop, replay', () => {
    const cases: [string, (b: Buffer) => Buffer, number][] = [
      ['payload bit flip', (b) => { b[70] ^= 1; return b; }, EnvelopeReject.BAD_MAC],
      ['MAC bit flip', (b) => { b[b.length - 1] ^= 0x80; return b; }, EnvelopeReject.BAD_MAC],
      ['header bit flip (epoch)', (b) => { b[9] ^= 4; return b; }, EnvelopeReject.BAD_MAC],
      ['short', (b) => b.subarray(0, 79), EnvelopeReject.SHORT],
      ['magic', (b) => { b[0] = 0; return b; }, EnvelopeReject.BAD_MAGIC],
      ['version', (b) => { b[2] = 2; return b; }, EnvelopeReject.BAD_VERSION],
      ['length', (b) => Buffer.concat([b, Buffer.alloc(1)]), EnvelopeReject.BAD_LENGTH],
    ];
    for (const [name, tamper, want] of cases) {
      const c = ctxFor();
      const dec = new EnvelopeDecoder(key, { memberIds: new Set([2]) });
      const b1 = tamper(encodeEnvelope(header(), payload, key));
      expect([name, c.decode(b1, {})]).toEqual([name, want]);
      expect([name, dec.decode(b1, b1.length, new DecodedEnvelope())]).toEqual([name, want]);
    }
    // Authenticated but invalid fields: MAC them with the right key by hand.
    const sign = (h: EnvelopeHeader, mutate: (b: Buffer) => void): Buffer => {
      const b = encodeEnvelope(h, payload, otherKey); // any key; re-MAC below
      mutate(b);
      createHmac('sha256', key).update(b.subarray(0, b.length - 16)).digest().copy(b, b.length - 16, 0, 16);
      return b;
    };
    const fieldCases: [string, Buffer, number][] = [
      ['unknown flags', sign(header(), (b) => { b[4] = 0x80; }), EnvelopeReject.BAD_FLAGS],
      ['RETURNED without SECOND_CHANCE', sign(header(), (b) => { b[4] = 2; }), EnvelopeReject.BAD_FLAGS],
      ['kind 9', sign(header(), (b) => { b[3] = 9; }), EnvelopeReject.BAD_FIELD],
      ['hop 3', sign(header(), (b) => { b[5] = 3; }), EnvelopeReject.BAD_FIELD],
      ['reserved byte', sign(header(), (b) => { b[62] = 1; }), EnvelopeReject.BAD_FIELD],
      ['unknown member', sign(header({ origin: 9 }), () => undefined), EnvelopeReject.UNKNOWN_MEMBER],
      ['hop 0', sign(header(), (b) => { b[5] = 0; }), EnvelopeReject.HOP_EXHAUSTED],
    ];
    for (const [name, b, want] of fieldCases) {
      const dec = new EnvelopeDecoder(key, { memberIds: new Set([2]) });
      expect([name, ctxFor().decode(b, {})]).toEqual([name, want]);
      expect([name, dec.decode(b, b.length, new DecodedEnvelope())]).toEqual([name, want]);
    }
    expect(ctxFor(otherKey).decode(encodeEnvelope(header(), payload, key), {})).toBe(EnvelopeReject.BAD_MAC);
  });

  it('replay window: the same verdicts as ReplayWindow on a shuffled sequence with duplicates and restarts', () => {
    const c = ctxFor();
    const dec = new EnvelopeDecoder(key, { memberIds: new Set([2]) });
    let s = 99;
    const rnd = (n: number): number => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return s % n; };
    let boot = 1000;
    let top = 0;
    for (let i = 0; i < 3000; i++) {
      const r = rnd(100);
      if (r === 0) boot += 1;
      else if (r === 1) boot -= 1; // an old instance
      const seq = r < 50 ? top++ : r < 80 ? Math.max(0, top - rnd(1500)) : top + rnd(3000);
      const buf = encodeEnvelope(header({ boot, seq }), payload, key);
      const want = dec.decode(buf, buf.length, new DecodedEnvelope());
      expect(c.decode(buf, {})).toBe(want);
    }
  });
});
