import { isIP } from 'node:net';
import { describe, expect, test } from 'vitest';
import * as nodeCrypto from 'node:crypto';
import { createHmac, createSecretKey } from 'node:crypto';
import {
  DecodedEnvelope, ENVELOPE_HEADER_SIZE, ENVELOPE_MAC_SIZE, ENVELOPE_MAX_PAYLOAD, ENVELOPE_REJECT_NAMES, EnvelopeDecoder,
  EnvelopeError, EnvelopeFlag, EnvelopeKind, EnvelopeMac, EnvelopeOffset, EnvelopeReject, EnvelopeSequencer, EnvelopeTransport,
  HOP_NORMAL, HOP_SECOND_CHANCE, canRelayAgain, deriveEnvelopeKey, encodeEnvelope, envelopeRejectName, formatIp,
  newEnvelopeHeader, parseIpInto, sequenceStart, type EnvelopeHeader,
} from '../../../src/farm/envelope.js';

const key = deriveEnvelopeKey('correct horse battery staple');
const otherKey = deriveEnvelopeKey('correct horse battery stapl3');
const members = new Set([0, 1, 2, 7]);
const payload = Buffer.from('INVITE sip:bob@example.com SIP/2.0\r\nCall-ID: abc@198.51.100.9\r\n\r\n', 'latin1');

let nextSeq = 0;
function header(over: Partial<EnvelopeHeader> = {}): EnvelopeHeader {
  const h = newEnvelopeHeader();
  h.kind = EnvelopeKind.RELAY;
  h.origin = 2;
  h.epoch = 42;
  h.boot = 1_700_000_000;
  h.seq = nextSeq++;
  h.family = 4;
  parseIpInto('198.51.100.9', h.srcAddr);
  h.srcPort = 5062;
  parseIpInto('203.0.113.100', h.localAddr);
  h.localPort = 5060;
  return Object.assign(h, over);
}

function decoder(opts: Partial<{ replayWindow: number }> = {}) {
  return new EnvelopeDecoder(key, { memberIds: members, ...opts });
}

describe('envelope round trip', () => {
  test('header fields, addresses and payload survive', () => {
    const h = header({ flags: EnvelopeFlag.SECOND_CHANCE, hop: HOP_SECOND_CHANCE, transport: EnvelopeTransport.TCP });
    const dg = encodeEnvelope(h, payload, key);
    expect(dg.length).toBe(ENVELOPE_HEADER_SIZE + payload.length + ENVELOPE_MAC_SIZE);
    expect(dg.readUInt16BE(0)).toBe(0x5346);
    const out = new DecodedEnvelope();
    expect(decoder().decode(dg, dg.length, out)).toBe(EnvelopeReject.OK);
    expect(out).toMatchObject({
      kind: 1, flags: 1, hop: 2, origin: 2, transport: 1, epoch: 42, boot: 1_700_000_000, seq: h.seq, family: 4,
      srcPort: 5062, localPort: 5060, payloadStart: 64, payloadEnd: 64 + payload.length,
    });
    expect(out.srcAddress).toBe('198.51.100.9');
    expect(out.localAddress).toBe('203.0.113.100');
    expect(out.srcV4).toBe(((198 << 24) | (51 << 16) | (100 << 8) | 9) >>> 0);
    expect(out.localV4).toBe(((203 << 24) | (0 << 16) | (113 << 8) | 100) >>> 0);
    expect(dg.subarray(out.payloadStart, out.payloadEnd).equals(payload)).toBe(true);
    expect(canRelayAgain(out)).toBe(true);
  });

  test('IPv6 addresses, an empty payload, and reuse of the DecodedEnvelope', () => {
    const d = decoder();
    const out = new DecodedEnvelope();
    const h6 = header({ family: 6 });
    parseIpInto('2001:db8::9', h6.srcAddr);
    parseIpInto('2001:db8:1::100', h6.localAddr);
    const a = encodeEnvelope(h6, new Uint8Array(0), key);
    expect(d.decode(a, a.length, out)).toBe(0);
    expect(out.srcAddress).toBe('2001:db8::9');
    expect(out.localAddress).toBe('2001:db8:1::100');
    expect(out.payloadEnd - out.payloadStart).toBe(0);
    expect(out.srcV4).toBe(0);
    // The cached address text is refreshed by the next decode.
    const b = encodeEnvelope(header(), payload, key);
    expect(d.decode(b, b.length, out)).toBe(0);
    expect(out.srcAddress).toBe('198.51.100.9');
  });

  test('heartbeat / control kinds may carry no addresses (family 0)', () => {
    const h = header({ kind: EnvelopeKind.HEARTBEAT, family: 0 });
    const dg = encodeEnvelope(h, new Uint8Array([1, 2, 3]), key);
    const out = new DecodedEnvelope();
    expect(decoder().decode(dg, dg.length, out)).toBe(0);
    expect(out.kind).toBe(EnvelopeKind.HEARTBEAT);
    expect(out.srcAddress).toBe('');
    expect(() => encodeEnvelope(header({ kind: EnvelopeKind.RELAY, family: 0 }), payload, key)).toThrow(EnvelopeError);
  });

  test('encodes into a caller buffer; a decoded envelope re-encodes (second chance return)', () => {
    const big = Buffer.alloc(2000);
    const dg = encodeEnvelope(header({ hop: HOP_SECOND_CHANCE, flags: EnvelopeFlag.SECOND_CHANCE }), payload, key, big);
    expect(dg.buffer).toBe(big.buffer);
    const out = new DecodedEnvelope();
    const d = decoder();
    expect(d.decode(dg, dg.length, out)).toBe(0);
    out.hop -= 1;
    out.flags |= EnvelopeFlag.RETURNED;
    out.seq = nextSeq++;
    const back = encodeEnvelope(out, dg.subarray(out.payloadStart, out.payloadEnd), key);
    const out2 = new DecodedEnvelope();
    expect(d.decode(back, back.length, out2)).toBe(0);
    expect(out2.flags).toBe(EnvelopeFlag.SECOND_CHANCE | EnvelopeFlag.RETURNED);
    expect(out2.hop).toBe(HOP_NORMAL);
    expect(canRelayAgain(out2)).toBe(false);
    expect(out2.srcAddress).toBe('198.51.100.9');
    expect(() => encodeEnvelope(header(), payload, key, Buffer.alloc(100))).toThrow(
      expect.objectContaining({ code: 'ENVELOPE_OUT_TOO_SMALL' }),
    );
  });

  test('encode refuses caller bugs', () => {
    const bad: Array<Partial<EnvelopeHeader>> = [
      { kind: 0 }, { kind: 4 }, { flags: 4 }, { flags: EnvelopeFlag.RETURNED }, { hop: 0 }, { hop: 3 },
      { origin: 255 }, { transport: 2 }, { family: 5 }, { srcPort: 70000 }, { seq: -1 }, { epoch: 2 ** 32 },
      { srcAddr: new Uint8Array(2) },
    ];
    for (const b of bad) expect(() => encodeEnvelope(header(b), payload, key), JSON.stringify(b)).toThrow(EnvelopeError);
    expect(() => encodeEnvelope(header(), new Uint8Array(ENVELOPE_MAX_PAYLOAD + 1), key)).toThrow(
      expect.objectContaining({ code: 'ENVELOPE_PAYLOAD_TOO_LARGE' }),
    );
    const max = encodeEnvelope(header(), new Uint8Array(ENVELOPE_MAX_PAYLOAD), key);
    expect(max.length).toBe(65507);
  });

  test('deriveEnvelopeKey: ≥ 16 bytes, deterministic', () => {
    expect(() => deriveEnvelopeKey('short')).toThrow(expect.objectContaining({ code: 'ENVELOPE_KEY_TOO_SHORT' }));
    const a = deriveEnvelopeKey('0123456789abcdef');
    const b = deriveEnvelopeKey('0123456789abcdef');
    expect(a.export().equals(b.export())).toBe(true);
    expect(a.export().length).toBe(32);
  });
});

describe('envelope rejects', () => {
  test('reason names index by code, usable as counter names', () => {
    expect(ENVELOPE_REJECT_NAMES[EnvelopeReject.BAD_MAC]).toBe('BAD_MAC');
    expect(ENVELOPE_REJECT_NAMES[0]).toBe('OK');
    expect(envelopeRejectName(EnvelopeReject.REPLAY)).toBe('REPLAY');
    expect(envelopeRejectName(99)).toBe('UNKNOWN');
    for (const n of ['SHORT', 'BAD_MAGIC', 'BAD_VERSION', 'BAD_MAC', 'UNKNOWN_MEMBER', 'HOP_EXHAUSTED', 'REPLAY', 'BAD_LENGTH', 'BAD_FLAGS']) {
      expect(EnvelopeReject).toHaveProperty(n);
    }
  });

  test('tampering with any byte is refused; past the structural fields it is BAD_MAC', () => {
    const dg = encodeEnvelope(header(), payload, key);
    const structural: Record<number, number> = {
      [EnvelopeOffset.MAGIC]: EnvelopeReject.BAD_MAGIC,
      [EnvelopeOffset.MAGIC + 1]: EnvelopeReject.BAD_MAGIC,
      [EnvelopeOffset.VERSION]: EnvelopeReject.BAD_VERSION,
      [EnvelopeOffset.PAYLOAD_LEN]: EnvelopeReject.BAD_LENGTH,
      [EnvelopeOffset.PAYLOAD_LEN + 1]: EnvelopeReject.BAD_LENGTH,
    };
    const d = decoder();
    const out = new DecodedEnvelope();
    for (let i = 0; i < dg.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const t = Buffer.from(dg);
        t[i] ^= bit;
        expect(d.decode(t, t.length, out), `byte ${i} bit ${bit}`).toBe(structural[i] ?? EnvelopeReject.BAD_MAC);
      }
    }
    // The untampered original is still fresh: rejects did not touch the replay window.
    expect(d.decode(dg, dg.length, out)).toBe(0);
  });

  test('wrong key → BAD_MAC; wrong version → BAD_VERSION; bad magic → BAD_MAGIC', () => {
    const out = new DecodedEnvelope();
    const dg = encodeEnvelope(header(), payload, otherKey);
    expect(decoder().decode(dg, dg.length, out)).toBe(EnvelopeReject.BAD_MAC);
    const v2 = encodeEnvelope(header(), payload, key);
    v2[EnvelopeOffset.VERSION] = 2;
    expect(decoder().decode(v2, v2.length, out)).toBe(EnvelopeReject.BAD_VERSION);
    const junk = Buffer.from('SIP/2.0 200 OK\r\n'.repeat(10));
    expect(decoder().decode(junk, junk.length, out)).toBe(EnvelopeReject.BAD_MAGIC);
  });

  test('authenticated but invalid fields: BAD_FLAGS, BAD_FIELD, UNKNOWN_MEMBER, HOP_EXHAUSTED', async () => {
    const { createHmac } = await import('node:crypto');
    // Forge with the right key: the checks after the MAC are about peers' bugs.
    const forge = (edit: (b: Buffer) => void) => {
      const b = Buffer.from(encodeEnvelope(header(), payload, key));
      edit(b);
      const at = b.length - ENVELOPE_MAC_SIZE;
      createHmac('sha256', key).update(b.subarray(0, at)).digest().copy(b, at, 0, ENVELOPE_MAC_SIZE);
      return b;
    };
    const cases: Array<[string, (b: Buffer) => void, number]> = [
      ['reserved flag', (b) => (b[EnvelopeOffset.FLAGS] = 0x04), EnvelopeReject.BAD_FLAGS],
      ['RETURNED alone', (b) => (b[EnvelopeOffset.FLAGS] = EnvelopeFlag.RETURNED), EnvelopeReject.BAD_FLAGS],
      ['kind 0', (b) => (b[EnvelopeOffset.KIND] = 0), EnvelopeReject.BAD_FIELD],
      ['kind 9', (b) => (b[EnvelopeOffset.KIND] = 9), EnvelopeReject.BAD_FIELD],
      ['transport 2', (b) => (b[EnvelopeOffset.TRANSPORT] = 2), EnvelopeReject.BAD_FIELD],
      ['family 5', (b) => (b[EnvelopeOffset.FAMILY] = 5), EnvelopeReject.BAD_FIELD],
      ['relay without family', (b) => (b[EnvelopeOffset.FAMILY] = 0), EnvelopeReject.BAD_FIELD],
      ['hop 3', (b) => (b[EnvelopeOffset.HOP] = 3), EnvelopeReject.BAD_FIELD],
      ['reserved byte 22', (b) => (b[22] = 1), EnvelopeReject.BAD_FIELD],
      ['reserved byte 63', (b) => (b[63] = 1), EnvelopeReject.BAD_FIELD],
      ['unknown member', (b) => (b[EnvelopeOffset.ORIGIN] = 3), EnvelopeReject.UNKNOWN_MEMBER],
      ['origin 255', (b) => (b[EnvelopeOffset.ORIGIN] = 255), EnvelopeReject.UNKNOWN_MEMBER],
      ['hop 0', (b) => (b[EnvelopeOffset.HOP] = 0), EnvelopeReject.HOP_EXHAUSTED],
    ];
    const out = new DecodedEnvelope();
    for (const [name, edit, want] of cases) {
      const b = forge(edit);
      expect(decoder().decode(b, b.length, out), name).toBe(want);
    }
  });

  test('membership predicate form is consulted per datagram', () => {
    let allowed = false;
    const d = new EnvelopeDecoder(key, { memberIds: (id) => allowed && id === 2 });
    const dg = encodeEnvelope(header(), payload, key);
    const out = new DecodedEnvelope();
    expect(d.decode(dg, dg.length, out)).toBe(EnvelopeReject.UNKNOWN_MEMBER);
    allowed = true;
    expect(d.decode(dg, dg.length, out)).toBe(0); // the refused try did not burn the seq
  });

  test('replay: duplicate refused, out of order accepted once, too old refused', () => {
    const d = decoder({ replayWindow: 64 });
    const out = new DecodedEnvelope();
    const mk = (seq: number, boot = 5000) => encodeEnvelope(header({ seq, boot }), payload, key);
    const ten = mk(10);
    expect(d.decode(ten, ten.length, out)).toBe(0);
    expect(d.decode(ten, ten.length, out)).toBe(EnvelopeReject.REPLAY);
    const hundred = mk(100);
    expect(d.decode(hundred, hundred.length, out)).toBe(0);
    const fifty = mk(50);
    expect(d.decode(fifty, fifty.length, out)).toBe(0);
    expect(d.decode(fifty, fifty.length, out)).toBe(EnvelopeReject.REPLAY);
    const old = mk(36); // 100 - 36 = 64: outside a 64 window
    expect(d.decode(old, old.length, out)).toBe(EnvelopeReject.REPLAY);
    // Restart: higher boot accepted from seq 0; the old boot is refused from then on.
    const restarted = mk(0, 5001);
    expect(d.decode(restarted, restarted.length, out)).toBe(0);
    const stale = mk(101, 5000);
    expect(d.decode(stale, stale.length, out)).toBe(EnvelopeReject.REPLAY);
    // Windows are per origin.
    const fromOne = encodeEnvelope(header({ origin: 1, seq: 0, boot: 5001 }), payload, key);
    expect(d.decode(fromOne, fromOne.length, out)).toBe(0);
  });

  test('truncated inputs of every length → SHORT or BAD_LENGTH, never throws', () => {
    const dg = encodeEnvelope(header(), payload, key);
    const d = decoder();
    const out = new DecodedEnvelope();
    for (let n = 0; n < dg.length; n++) {
      const r = d.decode(dg.subarray(0, n), n, out);
      expect(r, `length ${n}`).toBe(n < ENVELOPE_HEADER_SIZE + ENVELOPE_MAC_SIZE ? EnvelopeReject.SHORT : EnvelopeReject.BAD_LENGTH);
      // Same bytes but `len` says shorter than the buffer.
      expect(d.decode(dg, n, out)).toBe(r);
    }
    // Extra trailing bytes are refused too.
    const longer = Buffer.concat([dg, Buffer.from([0])]);
    expect(d.decode(longer, longer.length, out)).toBe(EnvelopeReject.BAD_LENGTH);
    // len larger than the buffer is a caller bug, reported, not thrown.
    expect(d.decode(dg, dg.length + 1, out)).toBe(EnvelopeReject.BAD_LENGTH);
  });

  test('random garbage with a valid prefix never throws', () => {
    const d = decoder();
    const out = new DecodedEnvelope();
    let seed = 7;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16) & 0xff;
    for (let i = 0; i < 3000; i++) {
      const n = rnd() + (i % 3) * 40;
      const b = Buffer.alloc(n);
      for (let k = 0; k < n; k++) b[k] = rnd();
      if (n >= 4 && i % 2 === 0) {
        b.writeUInt16BE(0x5346, 0);
        b[2] = 1;
        if (n >= 80) b.writeUInt16BE(n - 80, EnvelopeOffset.PAYLOAD_LEN);
      }
      const r = d.decode(b, n, out);
      expect(r).toBeGreaterThan(0);
    }
  });
});

describe('EnvelopeMac (HMAC-SHA256 truncated to 16 bytes, RFC 2104)', () => {
  let seed = 0x1234567;
  const rnd = (n: number): number => {
    seed ^= seed << 13; seed >>>= 0;
    seed ^= seed >>> 17;
    seed ^= seed << 5; seed >>>= 0;
    return seed % n;
  };
  const bytes = (n: number): Buffer => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = rnd(256);
    return b;
  };
  const reference = (k: Uint8Array | nodeCrypto.KeyObject, m: Uint8Array): Buffer =>
    createHmac('sha256', k).update(m).digest().subarray(0, ENVELOPE_MAC_SIZE);
  const macOf = (mac: EnvelopeMac, m: Uint8Array): Buffer => {
    const out = Buffer.alloc(ENVELOPE_MAC_SIZE + 2, 0xee);
    mac.sign(m, m.length, out, 1);
    expect(out[0]).toBe(0xee); // nothing written outside the 16 bytes
    expect(out[ENVELOPE_MAC_SIZE + 1]).toBe(0xee);
    return out.subarray(1, 1 + ENVELOPE_MAC_SIZE);
  };

  test('uses crypto.hash where this Node has it', () => {
    expect(new EnvelopeMac(key).oneShot).toBe(typeof (nodeCrypto as { hash?: unknown }).hash === 'function');
    expect(new EnvelopeMac(key, { oneShot: false }).oneShot).toBe(false);
  });

  test('both paths equal createHmac for key lengths around the block size and many message lengths', () => {
    // Keys shorter than, equal to and longer than the 64-byte block (hashed first, §2).
    for (const klen of [1, 16, 31, 32, 33, 63, 64, 65, 100, 200]) {
      const k = bytes(klen);
      const fast = new EnvelopeMac(k);
      const slow = new EnvelopeMac(k, { oneShot: false });
      const asKeyObject = new EnvelopeMac(createSecretKey(Buffer.from(k)));
      for (const n of [0, 1, 2, 55, 56, 63, 64, 65, 119, 120, 127, 128, 129, 200, 566, 1500, 2047, 2048, 2049, 5000]) {
        const m = bytes(n);
        const want = reference(k, m);
        expect(macOf(fast, m).equals(want), `key ${klen}, length ${n}`).toBe(true);
        expect(macOf(slow, m).equals(want), `fallback, key ${klen}, length ${n}`).toBe(true);
        expect(macOf(asKeyObject, m).equals(want), `KeyObject, key ${klen}, length ${n}`).toBe(true);
      }
    }
  });

  test('the MAC of a prefix: only msg[0, n) counts', () => {
    const m = bytes(300);
    for (const mac of [new EnvelopeMac(key), new EnvelopeMac(key, { oneShot: false })]) {
      const out = Buffer.alloc(ENVELOPE_MAC_SIZE);
      mac.sign(m, 100, out, 0);
      expect(out.equals(reference(key, m.subarray(0, 100)))).toBe(true);
    }
  });

  test('verify: the right MAC passes; any flipped bit of MAC or message fails', () => {
    for (const mac of [new EnvelopeMac(key), new EnvelopeMac(key, { oneShot: false })]) {
      const n = 90;
      const dg = Buffer.concat([bytes(n), Buffer.alloc(ENVELOPE_MAC_SIZE)]);
      mac.sign(dg, n, dg, n);
      expect(mac.verify(dg, n)).toBe(true);
      for (let i = 0; i < dg.length; i++) {
        for (const bit of [0x01, 0x80]) {
          dg[i] ^= bit;
          expect(mac.verify(dg, n), `byte ${i} bit ${bit}`).toBe(false);
          dg[i] ^= bit;
        }
      }
      expect(mac.verify(dg, n)).toBe(true);
    }
  });

  test('signWithHeadroom: the message where it lies, K^ipad written in front, MAC after', () => {
    const mac = new EnvelopeMac(key);
    if (!mac.oneShot) return; // needs crypto.hash
    const m = bytes(500);
    const buf = Buffer.alloc(10 + 64 + 500 + ENVELOPE_MAC_SIZE + 3, 0xee);
    m.copy(buf, 10 + 64);
    mac.signWithHeadroom(buf, 10, 500);
    expect(buf.subarray(10 + 64, 10 + 64 + 500).equals(m)).toBe(true);
    expect(buf.subarray(10 + 64 + 500, 10 + 64 + 500 + ENVELOPE_MAC_SIZE).equals(reference(key, m))).toBe(true);
    expect(buf.subarray(0, 10).every((x) => x === 0xee)).toBe(true);
    expect(buf.subarray(buf.length - 3).every((x) => x === 0xee)).toBe(true);
  });

  test('isFor: same KeyObject, or the same bytes (a key changed in place is noticed)', () => {
    const raw = bytes(32);
    const mac = new EnvelopeMac(raw);
    expect(mac.isFor(raw)).toBe(true);
    expect(mac.isFor(Buffer.from(raw))).toBe(true);
    expect(mac.isFor(key)).toBe(false);
    expect(new EnvelopeMac(key).isFor(key)).toBe(true);
    expect(new EnvelopeMac(key).isFor(otherKey)).toBe(false);
    // encodeEnvelope with a byte key edited between calls uses the new bytes.
    const h = header({ seq: 1 });
    const a = Buffer.from(encodeEnvelope(h, payload, raw));
    raw[0] ^= 1;
    const b = Buffer.from(encodeEnvelope(h, payload, raw));
    const at = a.length - ENVELOPE_MAC_SIZE;
    expect(b.subarray(at).equals(reference(raw, b.subarray(0, at)))).toBe(true);
    expect(a.subarray(at).equals(b.subarray(at))).toBe(false);
  });

  test('encode: the allocating form (arena, MAC in place) and the out form give the same bytes', () => {
    for (const n of [0, 1, 500, 1400, 9000, ENVELOPE_MAX_PAYLOAD]) {
      const h = header({ seq: 7 });
      const p = bytes(n);
      const a = encodeEnvelope(h, p, key);
      const b = encodeEnvelope(h, p, key, Buffer.alloc(n + 200));
      expect(a.length).toBe(ENVELOPE_HEADER_SIZE + n + ENVELOPE_MAC_SIZE);
      expect(a.equals(b), `payload ${n}`).toBe(true);
      const at = a.length - ENVELOPE_MAC_SIZE;
      expect(a.subarray(at).equals(reference(key, a.subarray(0, at)))).toBe(true);
    }
  });

  test('allocated envelopes never share bytes: all of them still verify after many more', () => {
    const d = new EnvelopeDecoder(key, { memberIds: members, replayWindow: 65536 });
    const out = new DecodedEnvelope();
    const kept: Buffer[] = [];
    // ~1.2 MB of envelopes: several arenas, envelopes straddling none of their ends.
    for (let i = 0; i < 800; i++) kept.push(encodeEnvelope(header({ seq: 10_000 + i, boot: 77 }), bytes(1 + rnd(1500)), key));
    for (const dg of kept) expect(d.decode(dg, dg.length, out)).toBe(EnvelopeReject.OK);
  });

  test('a decoder on the createHmac fallback accepts what the fast path signed, and the reverse', () => {
    const slow = new EnvelopeDecoder(key, { memberIds: members, mac: new EnvelopeMac(key, { oneShot: false }) });
    const fast = decoder();
    const out = new DecodedEnvelope();
    const a = encodeEnvelope(header(), payload, key);
    expect(slow.decode(a, a.length, out)).toBe(EnvelopeReject.OK);
    const b = Buffer.alloc(ENVELOPE_HEADER_SIZE + payload.length + ENVELOPE_MAC_SIZE);
    encodeEnvelope(header(), payload, key, b);
    expect(fast.decode(b, b.length, out)).toBe(EnvelopeReject.OK);
    const forged = Buffer.from(a);
    forged[forged.length - 1] ^= 0x40;
    expect(slow.decode(forged, forged.length, out)).toBe(EnvelopeReject.BAD_MAC);
  });
});

describe('EnvelopeSequencer', () => {
  test('increments seq and moves to a higher boot when seq would wrap', () => {
    const s = new EnvelopeSequencer(100);
    const h = { boot: 0, seq: 0 };
    s.stamp(h);
    expect(h).toEqual({ boot: 100, seq: 0 });
    s.stamp(h);
    expect(h).toEqual({ boot: 100, seq: 1 });
    (s as unknown as { next: number }).next = 0xffffffff;
    s.stamp(h);
    expect(h).toEqual({ boot: 100, seq: 0xffffffff });
    s.stamp(h);
    expect(h).toEqual({ boot: 101, seq: 0 });
    expect(s.boot).toBe(101);
  });

  test('default start: boot is the second, seq the millisecond within it scaled to 2^32', () => {
    const before = Date.now();
    const s = new EnvelopeSequencer();
    const after = Date.now();
    expect(s.boot).toBeGreaterThanOrEqual(Math.floor(before / 1000));
    expect(s.boot).toBeLessThanOrEqual(Math.floor(after / 1000));
    expect(sequenceStart(1_800_000_000_000)).toEqual({ boot: 1_800_000_000, next: 0 });
    expect(sequenceStart(1_800_000_000_500)).toEqual({ boot: 1_800_000_000, next: 0x80000000 });
    expect(sequenceStart(1_800_000_000_999).next).toBe(Math.floor((999 * 0x100000000) / 1000));
    expect(sequenceStart(1_800_000_000_999).next).toBeLessThan(0x100000000);
  });

  test('a member restarted within the same second is accepted by peers at once', () => {
    // The previous instance ran from .100 to .900 of the same second and sent a million
    // datagrams (far more than a member can in 0.8 s); the new one starts at .901.
    const dec = decoder();
    const out = new DecodedEnvelope();
    const send = (seq: EnvelopeSequencer): Buffer => {
      const h = header({ origin: 7 });
      seq.stamp(h);
      return encodeEnvelope(h, payload, key);
    };
    const t0 = 1_800_000_000_000;
    const first = new EnvelopeSequencer(sequenceStart(t0 + 100).boot, sequenceStart(t0 + 100).next);
    let last = send(first);
    expect(dec.decode(last, last.length, out)).toBe(EnvelopeReject.OK);
    for (let i = 0; i < 1_000_000; i++) first.stamp({ boot: 0, seq: 0 });
    last = send(first);
    expect(dec.decode(last, last.length, out)).toBe(EnvelopeReject.OK);
    const second = new EnvelopeSequencer(sequenceStart(t0 + 901).boot, sequenceStart(t0 + 901).next);
    expect(second.boot).toBe(first.boot);
    for (let i = 0; i < 3; i++) {
      const b = send(second);
      expect(dec.decode(b, b.length, out)).toBe(EnvelopeReject.OK);
    }
    // ... and the old instance's datagrams are old now.
    expect(dec.decode(last, last.length, out)).toBe(EnvelopeReject.REPLAY);
  });
});

describe('address codec', () => {
  const good: Array<[string, 4 | 6, string]> = [
    ['0.0.0.0', 4, '0.0.0.0'],
    ['198.51.100.255', 4, '198.51.100.255'],
    ['::', 6, '::'],
    ['::1', 6, '::1'],
    ['1::', 6, '1::'],
    ['2001:db8::9', 6, '2001:db8::9'],
    ['2001:DB8:0:0:0:0:0:9', 6, '2001:db8::9'],
    ['2001:db8:0:1:0:0:0:1', 6, '2001:db8:0:1::1'],
    ['2001:0:0:1:0:0:0:1', 6, '2001:0:0:1::1'], // longest run wins
    ['2001:db8:0:0:1:0:0:1', 6, '2001:db8::1:0:0:1'], // first of equal runs
    ['2001:db8:1:1:1:1:0:1', 6, '2001:db8:1:1:1:1:0:1'], // a single zero group is not compressed
    ['1:2:3:4:5:6:7::', 6, '1:2:3:4:5:6:7:0'],
    ['::ffff:198.51.100.9', 6, '::ffff:198.51.100.9'],
    ['::ffff:c633:6409', 6, '::ffff:198.51.100.9'],
    ['64:ff9b::198.51.100.9', 6, '64:ff9b::c633:6409'],
    ['fe80::1%eth0', 6, 'fe80::1'],
  ];
  test.each(good)('%s parses as family %i and formats as %s', (text, fam, canon) => {
    const b = new Uint8Array(20).fill(0xee);
    expect(parseIpInto(text, b, 2)).toBe(fam);
    expect(formatIp(fam, b, 2)).toBe(canon);
    expect(b[0]).toBe(0xee); // nothing written before the offset
  });

  const bad = [
    '', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1..2.3', '1.2.3.4 ', 'a.b.c.d', ':', ':::', '1:::2', '1::2::3',
    '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '12345::', 'g::1', '1:2:3:4:5:6:7:8::', '::1.2.3', '1:2:3:4:5:6:7:1.2.3.4',
    '1:', ':1', 'localhost',
  ];
  test.each(bad)('%j is not an IP literal', (text) => {
    expect(parseIpInto(text, new Uint8Array(16))).toBe(0);
  });

  test('agrees with node:net isIP on the vectors', () => {
    for (const [text, fam] of good) expect(isIP(text.split('%')[0])).toBe(fam);
    for (const text of bad) expect(isIP(text)).toBe(0);
  });
});
