// The authenticated relay envelope: how one member hands a packet to another over the
// farm channel (UDP), preserving where the packet came from and where it arrived
// (DESIGN "Relay between members", udp envelope).
//
// One datagram = fixed 64-byte header + payload + 16-byte MAC. Big-endian throughout.
//
//   off  len  field        value / meaning
//   ---  ---  -----------  ---------------------------------------------------------
//     0    2  magic        0x5346 ('S' 'F')
//     2    1  version      1
//     3    1  kind         1 RELAY, 2 HEARTBEAT, 3 CONTROL
//     4    1  flags        bit0 SECOND_CHANCE, bit1 RETURNED (needs bit0), bits 2-7 = 0
//     5    1  hop          relays left including this one: 1..2, 0 = exhausted
//     6    1  origin       sender's member id, 0..254
//     7    1  transport    0 UDP, 1 TCP (how the original packet arrived)
//     8    4  epoch        sender's membership epoch (a local counter, diagnostics)
//    12    4  boot         sender's boot id (seconds since 1970 at start, see sequenceStart)
//    16    4  seq          sender's datagram counter within `boot`
//    20    1  family       4 or 6 (both addresses); 0 = no addresses (not for RELAY)
//    21    3  reserved     0
//    24   16  src addr     client address; IPv4 in bytes 24-27, bytes 28-39 zero
//    40    2  src port     client port
//    42    2  local port   port the packet arrived on (e.g. the VIP's 5060)
//    44   16  local addr   address the packet arrived on; IPv4 as for src addr
//    60    2  payload len  N
//    62    2  reserved     0
//    64    N  payload      the original datagram, byte for byte
//  64+N   16  MAC          HMAC-SHA256(key, bytes 0 .. 64+N-1), first 16 bytes
//
// A v4-mapped IPv6 address (::ffff:a.b.c.d from a dual-stack socket) travels as
// family 6, unchanged: the owner answers through a socket of the same family.
//
// Hop rule: a sender sets hop = 1 for a normal relay (the receiver must not relay it
// again) and hop = 2 for a second-chance relay (the previous owner may return it once,
// with hop = 1 and RETURNED set). A receiver relays again only if hop > 1, sending
// hop - 1. hop = 0 is refused (HOP_EXHAUSTED); hop > HOP_MAX is refused (BAD_FIELD).
//
// Key: the configured farm secret (≥ 16 bytes of UTF-8) goes through HKDF-SHA256
// (RFC 5869) with salt "sipfarm-envelope" and info "sipfarm envelope v1 hmac-sha256"
// to a 32-byte HMAC key (deriveEnvelopeKey), so the operator's passphrase is never used
// raw and a future version can derive a different key from the same secret.
//
// Checks, in order (the first failure is the reason): SHORT (shorter than header+MAC),
// BAD_MAGIC, BAD_VERSION, BAD_LENGTH (payload length disagrees with the datagram),
// BAD_MAC, then — only for authenticated datagrams, so they count a peer's bug and
// not noise — BAD_FLAGS, BAD_FIELD, UNKNOWN_MEMBER, HOP_EXHAUSTED, REPLAY. The replay
// window is updated only for datagrams that pass every other check.
//
// MAC computation (RFC 2104): HMAC(K, m) = H((K ^ opad) || H((K ^ ipad) || m)). Where Node
// has crypto.hash (≥ 20.12 / 21.7), the two hashes run as one-shot digests over
// precomputed K^ipad / K^opad blocks — a Hmac object per datagram (its key import, its
// OpenSSL context, its digest Buffer) costs about twice as much as both hashes. The bytes
// are the same HMAC-SHA256 either way; older Nodes use createHmac.
//
// Allocation per datagram, fast MAC: encode — the returned Buffer (a view of a shared
// arena, see arenaTake), one typed-array view for the inner hash and two 32-char latin1
// digest strings; decode — at most two views and the two strings. Header fields and
// addresses are copied into the caller's reusable DecodedEnvelope; address strings are
// built only when a getter asks for them.

import * as nodeCrypto from 'node:crypto';
import { createHmac, hkdfSync, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { MAX_MEMBER_ID } from './ring.js';
import { ReplayWindow, DEFAULT_REPLAY_WINDOW } from './replay.js';

export const ENVELOPE_MAGIC = 0x5346;
export const ENVELOPE_VERSION = 1;
export const ENVELOPE_HEADER_SIZE = 64;
export const ENVELOPE_MAC_SIZE = 16;
/** Largest UDP payload over IPv4 (65535 − 8 UDP − 20 IP). */
export const MAX_DATAGRAM = 65507;
/** Largest payload that fits one envelope datagram. */
export const ENVELOPE_MAX_PAYLOAD = MAX_DATAGRAM - ENVELOPE_HEADER_SIZE - ENVELOPE_MAC_SIZE;

/** Field offsets (the C twin mirrors these). */
export const EnvelopeOffset = {
  MAGIC: 0,
  VERSION: 2,
  KIND: 3,
  FLAGS: 4,
  HOP: 5,
  ORIGIN: 6,
  TRANSPORT: 7,
  EPOCH: 8,
  BOOT: 12,
  SEQ: 16,
  FAMILY: 20,
  RESERVED1: 21,
  SRC_ADDR: 24,
  SRC_PORT: 40,
  LOCAL_PORT: 42,
  LOCAL_ADDR: 44,
  PAYLOAD_LEN: 60,
  RESERVED2: 62,
  PAYLOAD: 64,
} as const;

export const EnvelopeKind = { RELAY: 1, HEARTBEAT: 2, CONTROL: 3 } as const;
export const EnvelopeFlag = { SECOND_CHANCE: 0x01, RETURNED: 0x02 } as const;
const FLAGS_KNOWN = EnvelopeFlag.SECOND_CHANCE | EnvelopeFlag.RETURNED;
export const EnvelopeTransport = { UDP: 0, TCP: 1 } as const;
/** hop for a normal relay: the receiver handles it and never relays it again. */
export const HOP_NORMAL = 1;
/** hop for a second-chance relay: the previous owner may return it once. */
export const HOP_SECOND_CHANCE = 2;
export const HOP_MAX = 2;

/**
 * decode() results. The keys are the counter names (`dropped_<name lowercased>` or as
 * the caller likes); 0 is success. Stable: the C twin returns the same numbers.
 */
export const EnvelopeReject = {
  OK: 0,
  SHORT: 1,
  BAD_MAGIC: 2,
  BAD_VERSION: 3,
  BAD_LENGTH: 4,
  BAD_MAC: 5,
  BAD_FLAGS: 6,
  /** kind, transport, family, hop > HOP_MAX or a reserved byte out of range. */
  BAD_FIELD: 7,
  UNKNOWN_MEMBER: 8,
  HOP_EXHAUSTED: 9,
  REPLAY: 10,
} as const;
export type EnvelopeRejectCode = (typeof EnvelopeReject)[keyof typeof EnvelopeReject];
export type EnvelopeRejectName = keyof typeof EnvelopeReject;

/** Reason names indexed by code, for counters. */
export const ENVELOPE_REJECT_NAMES: readonly EnvelopeRejectName[] = Object.freeze(
  (Object.keys(EnvelopeReject) as EnvelopeRejectName[]).sort((a, b) => EnvelopeReject[a] - EnvelopeReject[b]),
);

/** Name of a decode() result code ('OK' for 0). */
export function envelopeRejectName(code: number): EnvelopeRejectName | 'UNKNOWN' {
  return ENVELOPE_REJECT_NAMES[code] ?? 'UNKNOWN';
}

export class EnvelopeError extends Error {
  constructor(
    readonly code: 'ENVELOPE_BAD_HEADER' | 'ENVELOPE_PAYLOAD_TOO_LARGE' | 'ENVELOPE_OUT_TOO_SMALL' | 'ENVELOPE_KEY_TOO_SHORT',
    message: string,
  ) {
    super(message);
    this.name = 'EnvelopeError';
  }
}

/** The header fields. Addresses are raw bytes: 4 used for family 4, 16 for family 6. */
export interface EnvelopeHeader {
  kind: number;
  flags: number;
  hop: number;
  origin: number;
  transport: number;
  epoch: number;
  boot: number;
  seq: number;
  /** 4 or 6; 0 only for kinds other than RELAY (no addresses). */
  family: number;
  srcAddr: Uint8Array;
  srcPort: number;
  localAddr: Uint8Array;
  localPort: number;
}

/** A blank header with 16-byte address arrays, for callers to fill and reuse. */
export function newEnvelopeHeader(): EnvelopeHeader {
  return {
    kind: EnvelopeKind.RELAY,
    flags: 0,
    hop: HOP_NORMAL,
    origin: 0,
    transport: EnvelopeTransport.UDP,
    epoch: 0,
    boot: 0,
    seq: 0,
    family: 4,
    srcAddr: new Uint8Array(16),
    srcPort: 0,
    localAddr: new Uint8Array(16),
    localPort: 0,
  };
}

/** True if a received envelope may be relayed once more (with hop - 1). */
export function canRelayAgain(h: { hop: number }): boolean {
  return h.hop > 1;
}

const HKDF_SALT = 'sipfarm-envelope';
const HKDF_INFO = 'sipfarm envelope v1 hmac-sha256';
export const ENVELOPE_MIN_SECRET_BYTES = 16;

/** The HMAC key for a configured farm secret (HKDF-SHA256, see the header comment). */
export function deriveEnvelopeKey(secret: string): KeyObject {
  const ikm = Buffer.from(secret, 'utf8');
  if (ikm.length < ENVELOPE_MIN_SECRET_BYTES) {
    throw new EnvelopeError('ENVELOPE_KEY_TOO_SHORT', `farm secret must be at least ${ENVELOPE_MIN_SECRET_BYTES} bytes`);
  }
  return createSecretKey(Buffer.from(hkdfSync('sha256', ikm, HKDF_SALT, HKDF_INFO, 32)));
}

export type EnvelopeKey = KeyObject | Buffer | Uint8Array;

type OneShotHash = (algorithm: string, data: Uint8Array, outputEncoding: 'latin1') => string;
/** crypto.hash where this Node has it (≥ 20.12, 21.7); null sends every MAC through createHmac. */
const ONE_SHOT_HASH: OneShotHash | null =
  typeof (nodeCrypto as { hash?: unknown }).hash === 'function' ? (nodeCrypto.hash as unknown as OneShotHash) : null;

/** SHA-256 block size: the length of the RFC 2104 pads. */
const SHA256_BLOCK = 64;
const SHA256_SIZE = 32;

/**
 * HMAC-SHA256 of one key, truncated to ENVELOPE_MAC_SIZE bytes: the envelope's MAC.
 *
 * The one-shot form keeps K^ipad in front of a scratch area and K^opad in front of a
 * 32-byte slot: the message is copied behind K^ipad (one memcpy), hashed, the inner
 * digest written behind K^opad and hashed again (RFC 2104 §2). Digests come back as
 * latin1 strings — one byte per char, and several times cheaper for Node to hand out
 * than a Buffer. Not reentrant (one scratch for all of this MAC's calls); nothing in it
 * is asynchronous.
 */
export class EnvelopeMac {
  /** True when the MAC is computed with crypto.hash over precomputed pads. */
  readonly oneShot: boolean;
  /** What createHmac gets (fallback); a copy when the key came as bytes. */
  private readonly hmacKey: KeyObject | Buffer;
  private readonly ipad = new Uint8Array(SHA256_BLOCK);
  /** K^opad then the inner digest. */
  private readonly outer = new Uint8Array(SHA256_BLOCK + SHA256_SIZE);
  /** K^ipad then the message; grown on demand, never shrunk. */
  private scratch = new Uint8Array(SHA256_BLOCK + 2048);

  /** `oneShot: false` forces the createHmac path (tests; it is also what old Nodes get). */
  constructor(key: EnvelopeKey, opts: { oneShot?: boolean } = {}) {
    this.hmacKey = isKeyObject(key) ? key : Buffer.from(key);
    this.oneShot = ONE_SHOT_HASH !== null && opts.oneShot !== false;
    let k: Uint8Array = isKeyObject(key) ? key.export() : this.hmacKey as Buffer;
    // RFC 2104 §2: a key longer than the block is hashed first; a shorter one is zero-padded.
    if (k.length > SHA256_BLOCK) k = nodeCrypto.createHash('sha256').update(k).digest();
    for (let i = 0; i < SHA256_BLOCK; i++) {
      const b = i < k.length ? k[i] : 0;
      this.ipad[i] = b ^ 0x36;
      this.outer[i] = b ^ 0x5c;
    }
    this.scratch.set(this.ipad, 0);
  }

  /** True if this MAC was built for `key` (same KeyObject, or the same bytes). */
  isFor(key: EnvelopeKey): boolean {
    if (key === this.hmacKey) return true; // the usual call: the same KeyObject again
    if (isKeyObject(key)) return false;
    const mine = this.hmacKey;
    if (isKeyObject(mine) || mine.length !== key.length) return false;
    for (let i = 0; i < key.length; i++) if (mine[i] !== key[i]) return false;
    return true;
  }

  /** Write the MAC of msg[0, n) to dst[off, off + ENVELOPE_MAC_SIZE). */
  sign(msg: Uint8Array, n: number, dst: Uint8Array, off: number): void {
    if (!this.oneShot) {
      const digest = createHmac('sha256', this.hmacKey).update(prefix(msg, n)).digest();
      for (let i = 0; i < ENVELOPE_MAC_SIZE; i++) dst[off + i] = digest[i];
      return;
    }
    const tag = this.tag(msg, n);
    for (let i = 0; i < ENVELOPE_MAC_SIZE; i++) dst[off + i] = tag.charCodeAt(i);
  }

  /**
   * True if buf[n, n + ENVELOPE_MAC_SIZE) is the MAC of buf[0, n). Constant time in the
   * MAC bytes: every byte is compared, so a forger learns nothing from how long it took.
   */
  verify(buf: Uint8Array, n: number): boolean {
    if (!this.oneShot) {
      const digest = createHmac('sha256', this.hmacKey).update(prefix(buf, n)).digest();
      return timingSafeEqual(digest.subarray(0, ENVELOPE_MAC_SIZE), buf.subarray(n, n + ENVELOPE_MAC_SIZE));
    }
    const tag = this.tag(buf, n);
    let diff = 0;
    for (let i = 0; i < ENVELOPE_MAC_SIZE; i++) diff |= tag.charCodeAt(i) ^ buf[n + i];
    return diff === 0;
  }

  /**
   * Like sign() for a message that has SHA256_BLOCK bytes of headroom: the message is
   * buf[at + 64, at + 64 + n), buf[at, at + 64) is overwritten with K^ipad and the MAC is
   * written right after the message. Saves sign()'s copy of the message. One-shot only.
   */
  signWithHeadroom(buf: Uint8Array, at: number, n: number): void {
    buf.set(this.ipad, at);
    const tag = this.padded(buf, at, n);
    const o = at + SHA256_BLOCK + n;
    for (let i = 0; i < ENVELOPE_MAC_SIZE; i++) buf[o + i] = tag.charCodeAt(i);
  }

  /** HMAC-SHA256 of msg[0, n) as a 32-char latin1 string (one-shot path only). */
  private tag(msg: Uint8Array, n: number): string {
    let s = this.scratch;
    if (s.length < SHA256_BLOCK + n) {
      s = this.scratch = new Uint8Array(SHA256_BLOCK + Math.max(n, s.length * 2));
      s.set(this.ipad, 0);
    }
    s.set(prefix(msg, n), SHA256_BLOCK);
    return this.padded(s, 0, n);
  }

  /** The HMAC when buf[at, at + 64) holds K^ipad and the message of n bytes follows it. */
  private padded(buf: Uint8Array, at: number, n: number): string {
    const hash = ONE_SHOT_HASH as OneShotHash;
    const inner = hash('sha256', new Uint8Array(buf.buffer, buf.byteOffset + at, SHA256_BLOCK + n), 'latin1');
    const o = this.outer;
    for (let i = 0; i < SHA256_SIZE; i++) o[SHA256_BLOCK + i] = inner.charCodeAt(i);
    return hash('sha256', o, 'latin1');
  }
}

function isKeyObject(k: EnvelopeKey): k is KeyObject {
  return !(k instanceof Uint8Array);
}

/** b[0, n) without a copy; b itself when that is all of it. */
function prefix(b: Uint8Array, n: number): Uint8Array {
  return n === b.length ? b : new Uint8Array(b.buffer, b.byteOffset, n);
}

/**
 * Where encodeEnvelope puts the envelopes it allocates: one large buffer carved in order,
 * each envelope with SHA256_BLOCK bytes of headroom for K^ipad, so its inner hash runs
 * over the envelope where it lies. A fresh region per envelope (never reused: libuv may
 * still hold a sent one), and one ArrayBuffer per ENVELOPE_ARENA bytes instead of one
 * per 8 KiB Buffer pool.
 */
const ENVELOPE_ARENA = 256 * 1024;
let arena = Buffer.alloc(0); // the first envelope allocates it
let arenaUsed = 0;

/** Offset in `arena` (read it after the call) of n fresh bytes, 8-aligned. */
function arenaTake(n: number): number {
  if (arenaUsed + n > arena.length) {
    arena = Buffer.allocUnsafeSlow(n > ENVELOPE_ARENA ? n : ENVELOPE_ARENA);
    arenaUsed = 0;
  }
  const at = arenaUsed;
  arenaUsed += (n + 7) & ~7;
  return at;
}

/** encodeEnvelope's MAC per key, so a caller passing the same key pays the pads once. */
const macCache = new WeakMap<object, EnvelopeMac>();

function macFor(key: EnvelopeKey): EnvelopeMac {
  let m = macCache.get(key);
  if (m === undefined || !m.isFor(key)) {
    m = new EnvelopeMac(key);
    macCache.set(key, m);
  }
  return m;
}

function u8ok(v: number, max: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= max;
}

function checkHeader(h: EnvelopeHeader): string | null {
  if (h.kind !== EnvelopeKind.RELAY && h.kind !== EnvelopeKind.HEARTBEAT && h.kind !== EnvelopeKind.CONTROL) return 'kind';
  if (!u8ok(h.flags, 255) || (h.flags & ~FLAGS_KNOWN) !== 0) return 'flags';
  if ((h.flags & EnvelopeFlag.RETURNED) !== 0 && (h.flags & EnvelopeFlag.SECOND_CHANCE) === 0) return 'flags';
  if (!u8ok(h.hop, HOP_MAX) || h.hop === 0) return 'hop';
  if (!u8ok(h.origin, MAX_MEMBER_ID)) return 'origin';
  if (h.transport !== EnvelopeTransport.UDP && h.transport !== EnvelopeTransport.TCP) return 'transport';
  if (!u8ok(h.epoch, 0xffffffff) || !u8ok(h.boot, 0xffffffff) || !u8ok(h.seq, 0xffffffff)) return 'epoch/boot/seq';
  if (h.family !== 4 && h.family !== 6 && !(h.family === 0 && h.kind !== EnvelopeKind.RELAY)) return 'family';
  if (h.family !== 0) {
    const n = h.family === 4 ? 4 : 16;
    if (h.srcAddr.length < n || h.localAddr.length < n) return 'address length';
  }
  if (!u8ok(h.srcPort, 0xffff) || !u8ok(h.localPort, 0xffff)) return 'port';
  return null;
}

function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v;
}

function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

function get16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}

function get32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

function putAddr(b: Uint8Array, o: number, family: number, addr: Uint8Array): void {
  const n = family === 4 ? 4 : family === 6 ? 16 : 0;
  for (let i = 0; i < n; i++) b[o + i] = addr[i];
  for (let i = n; i < 16; i++) b[o + i] = 0;
}

/**
 * Build one envelope datagram. Writes into `out` when given (it must hold
 * 64 + payload.length + 16 bytes) and returns the used part of it; otherwise allocates.
 * Throws EnvelopeError only for caller bugs (fields out of range, payload larger than
 * ENVELOPE_MAX_PAYLOAD — the fast path caps sizes before relaying).
 * Allocation: the returned Buffer (arena view; pooled without crypto.hash) or view of
 * `out`, and the MAC's (see the top).
 */
export function encodeEnvelope(h: EnvelopeHeader, payload: Uint8Array, key: EnvelopeKey, out?: Buffer): Buffer {
  const bad = checkHeader(h);
  if (bad !== null) throw new EnvelopeError('ENVELOPE_BAD_HEADER', `envelope header field out of range: ${bad}`);
  const n = payload.length;
  if (n > ENVELOPE_MAX_PAYLOAD) {
    throw new EnvelopeError('ENVELOPE_PAYLOAD_TOO_LARGE', `payload of ${n} bytes exceeds ${ENVELOPE_MAX_PAYLOAD}`);
  }
  const total = ENVELOPE_HEADER_SIZE + n + ENVELOPE_MAC_SIZE;
  const macAt = ENVELOPE_HEADER_SIZE + n;
  const mac = macFor(key);
  if (out === undefined && mac.oneShot) {
    const at = arenaTake(SHA256_BLOCK + total);
    const a = arena;
    writeEnvelope(a, at + SHA256_BLOCK, h, payload);
    mac.signWithHeadroom(a, at, macAt);
    return a.subarray(at + SHA256_BLOCK, at + SHA256_BLOCK + total);
  }
  let b: Buffer;
  if (out === undefined) {
    b = Buffer.allocUnsafe(total);
  } else {
    if (out.length < total) throw new EnvelopeError('ENVELOPE_OUT_TOO_SMALL', `need ${total} bytes, out has ${out.length}`);
    b = out.length === total ? out : out.subarray(0, total);
  }
  writeEnvelope(b, 0, h, payload);
  mac.sign(b, macAt, b, macAt);
  return b;
}

/** Header and payload of an envelope at b[base, base + 64 + payload.length). */
function writeEnvelope(b: Uint8Array, base: number, h: EnvelopeHeader, payload: Uint8Array): void {
  const O = EnvelopeOffset;
  put16(b, base + O.MAGIC, ENVELOPE_MAGIC);
  b[base + O.VERSION] = ENVELOPE_VERSION;
  b[base + O.KIND] = h.kind;
  b[base + O.FLAGS] = h.flags;
  b[base + O.HOP] = h.hop;
  b[base + O.ORIGIN] = h.origin;
  b[base + O.TRANSPORT] = h.transport;
  put32(b, base + O.EPOCH, h.epoch);
  put32(b, base + O.BOOT, h.boot);
  put32(b, base + O.SEQ, h.seq);
  b[base + O.FAMILY] = h.family;
  b[base + O.RESERVED1] = 0;
  b[base + O.RESERVED1 + 1] = 0;
  b[base + O.RESERVED1 + 2] = 0;
  putAddr(b, base + O.SRC_ADDR, h.family, h.srcAddr);
  put16(b, base + O.SRC_PORT, h.srcPort);
  put16(b, base + O.LOCAL_PORT, h.localPort);
  putAddr(b, base + O.LOCAL_ADDR, h.family, h.localAddr);
  put16(b, base + O.PAYLOAD_LEN, payload.length);
  put16(b, base + O.RESERVED2, 0);
  b.set(payload, base + O.PAYLOAD);
}

/**
 * A decoded envelope, reused across decode() calls. Valid only after decode() returned
 * 0; the payload is buf[payloadStart, payloadEnd) of the decoded buffer (not copied).
 * Implements EnvelopeHeader so a received envelope can be re-encoded (second chance).
 */
export class DecodedEnvelope implements EnvelopeHeader {
  kind = 0;
  flags = 0;
  hop = 0;
  origin = 0;
  transport = 0;
  epoch = 0;
  boot = 0;
  seq = 0;
  family = 0;
  readonly srcAddr = new Uint8Array(16);
  srcPort = 0;
  readonly localAddr = new Uint8Array(16);
  localPort = 0;
  payloadStart = 0;
  payloadEnd = 0;
  private srcText: string | null = null;
  private localText: string | null = null;

  /** Source address as text ('a.b.c.d' or RFC 5952 IPv6). Allocates once per decode. */
  get srcAddress(): string {
    if (this.srcText === null) this.srcText = formatIp(this.family, this.srcAddr, 0);
    return this.srcText;
  }

  /** Local (arrival) address as text. Allocates once per decode. */
  get localAddress(): string {
    if (this.localText === null) this.localText = formatIp(this.family, this.localAddr, 0);
    return this.localText;
  }

  /** IPv4 source as an unsigned 32-bit number (family 4 only; 0 otherwise). */
  get srcV4(): number {
    return this.family === 4 ? get32(this.srcAddr, 0) : 0;
  }

  /** IPv4 local address as an unsigned 32-bit number (family 4 only; 0 otherwise). */
  get localV4(): number {
    return this.family === 4 ? get32(this.localAddr, 0) : 0;
  }

  get payloadLength(): number {
    return this.payloadEnd - this.payloadStart;
  }

  /** @internal called by decode() */
  resetText(): void {
    this.srcText = null;
    this.localText = null;
  }
}

export interface EnvelopeDecoderOptions {
  /** Members allowed as origin (a live view: the Set or predicate is consulted per datagram). */
  memberIds: Set<number> | ((id: number) => boolean);
  /** Replay window size (power of two, 32..65536); default 1024. */
  replayWindow?: number;
  /** The MAC to verify with (tests force the createHmac fallback); default new EnvelopeMac(key). */
  mac?: EnvelopeMac;
}

export class EnvelopeDecoder {
  readonly replay: ReplayWindow;
  private readonly mac: EnvelopeMac;
  private readonly isMember: (id: number) => boolean;

  constructor(key: EnvelopeKey, opts: EnvelopeDecoderOptions) {
    this.mac = opts.mac ?? new EnvelopeMac(key);
    const ids = opts.memberIds;
    this.isMember = typeof ids === 'function' ? ids : (id: number) => ids.has(id);
    this.replay = new ReplayWindow(opts.replayWindow ?? DEFAULT_REPLAY_WINDOW);
  }

  /**
   * Verify and decode buf[0, len). Returns 0 (EnvelopeReject.OK) and fills `out`, or a
   * reject code (`out` then holds garbage). Never throws for any input bytes.
   */
  decode(buf: Uint8Array, len: number, out: DecodedEnvelope): number {
    const O = EnvelopeOffset;
    if (!(len <= buf.length)) return EnvelopeReject.BAD_LENGTH;
    if (len < ENVELOPE_HEADER_SIZE + ENVELOPE_MAC_SIZE) return EnvelopeReject.SHORT;
    if (get16(buf, O.MAGIC) !== ENVELOPE_MAGIC) return EnvelopeReject.BAD_MAGIC;
    if (buf[O.VERSION] !== ENVELOPE_VERSION) return EnvelopeReject.BAD_VERSION;
    const n = get16(buf, O.PAYLOAD_LEN);
    const macAt = ENVELOPE_HEADER_SIZE + n;
    if (macAt + ENVELOPE_MAC_SIZE !== len) return EnvelopeReject.BAD_LENGTH;

    // Authenticate before believing any other field. Constant-time compare: a
    // byte-wise early exit would leak how much of a forged MAC was right.
    if (!this.mac.verify(buf, macAt)) return EnvelopeReject.BAD_MAC;

    const kind = buf[O.KIND];
    const flags = buf[O.FLAGS];
    const hop = buf[O.HOP];
    const origin = buf[O.ORIGIN];
    const transport = buf[O.TRANSPORT];
    const family = buf[O.FAMILY];
    if ((flags & ~FLAGS_KNOWN) !== 0) return EnvelopeReject.BAD_FLAGS;
    if ((flags & EnvelopeFlag.RETURNED) !== 0 && (flags & EnvelopeFlag.SECOND_CHANCE) === 0) return EnvelopeReject.BAD_FLAGS;
    if (kind < EnvelopeKind.RELAY || kind > EnvelopeKind.CONTROL) return EnvelopeReject.BAD_FIELD;
    if (transport > EnvelopeTransport.TCP) return EnvelopeReject.BAD_FIELD;
    if (family !== 4 && family !== 6 && !(family === 0 && kind !== EnvelopeKind.RELAY)) return EnvelopeReject.BAD_FIELD;
    if (hop > HOP_MAX) return EnvelopeReject.BAD_FIELD;
    if ((buf[O.RESERVED1] | buf[O.RESERVED1 + 1] | buf[O.RESERVED1 + 2] | buf[O.RESERVED2] | buf[O.RESERVED2 + 1]) !== 0) {
      return EnvelopeReject.BAD_FIELD;
    }
    if (origin > MAX_MEMBER_ID || !this.isMember(origin)) return EnvelopeReject.UNKNOWN_MEMBER;
    if (hop === 0) return EnvelopeReject.HOP_EXHAUSTED;
    const boot = get32(buf, O.BOOT);
    const seq = get32(buf, O.SEQ);
    if (!this.replay.check(origin, boot, seq)) return EnvelopeReject.REPLAY;

    out.kind = kind;
    out.flags = flags;
    out.hop = hop;
    out.origin = origin;
    out.transport = transport;
    out.epoch = get32(buf, O.EPOCH);
    out.boot = boot;
    out.seq = seq;
    out.family = family;
    for (let i = 0; i < 16; i++) {
      out.srcAddr[i] = buf[O.SRC_ADDR + i];
      out.localAddr[i] = buf[O.LOCAL_ADDR + i];
    }
    out.srcPort = get16(buf, O.SRC_PORT);
    out.localPort = get16(buf, O.LOCAL_PORT);
    out.payloadStart = O.PAYLOAD;
    out.payloadEnd = macAt;
    out.resetText();
    return EnvelopeReject.OK;
  }
}

/**
 * Where a sequencer started at wall-clock `ms` begins: boot = the second, and seq = the
 * millisecond within it scaled to the u32 range (ms × 2^32 / 1000). Read as one 64-bit
 * number, (boot, seq) then starts at the wall clock in units of 1/2^32 s and a sender
 * moves it up by one per datagram — more than 4 million per millisecond would be needed
 * to run ahead of the clock. So a member restarted within the same second (a crash and
 * an immediate restart by its supervisor) still starts above everything its previous
 * instance sent, and peers' replay windows (ReplayWindow: same boot, higher seq is new)
 * take its datagrams at once instead of refusing them as old until seq passes the
 * previous instance's. A wall clock stepped backwards between two runs can still make a
 * restart look old: peers accept it again once the clock has passed the old value.
 */
export function sequenceStart(ms: number): { boot: number; next: number } {
  const boot = Math.floor(ms / 1000);
  return { boot: boot >>> 0, next: Math.floor(((ms - boot * 1000) * 0x100000000) / 1000) };
}

/**
 * Sender-side (boot, seq) stamping. seq increments per datagram; when it would wrap
 * the boot id moves up by one, so (boot, seq) never repeats and receivers' replay
 * windows (keyed by boot) stay correct. At 100k datagrams/s the u32 wraps every ~12 h.
 */
export class EnvelopeSequencer {
  private bootId: number;
  private next: number;

  /**
   * Without arguments: sequenceStart(now). With `boot` (tests, tools): that boot id
   * from seq `next` (default 0); it must be above the previous run's.
   */
  constructor(boot?: number, next = 0) {
    const start = boot === undefined ? sequenceStart(Date.now()) : { boot, next };
    this.bootId = start.boot >>> 0;
    this.next = start.next;
  }

  get boot(): number {
    return this.bootId;
  }

  /** The seq the next stamp() writes (before a wrap moves boot up). */
  get nextSeq(): number {
    return this.next;
  }

  /** Write the next (boot, seq) into a header about to be encoded. */
  stamp(h: { boot: number; seq: number }): void {
    if (this.next > 0xffffffff) {
      this.bootId = (this.bootId + 1) >>> 0;
      this.next = 0;
    }
    h.boot = this.bootId;
    h.seq = this.next++;
  }
}

// ---------------------------------------------------------------------------------
// Address codec: IP text <-> the 4/16 address bytes of the header. parseIpInto runs
// per relayed packet (dgram gives the source as text) and does not allocate.

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

/** Parse a dotted quad s[from, to) into out[off..off+3]; false if malformed. */
function parseV4(s: string, from: number, to: number, out: Uint8Array, off: number): boolean {
  let part = 0;
  let val = 0;
  let digits = 0;
  for (let i = from; i <= to; i++) {
    const c = i < to ? s.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || part > 3) return false;
      out[off + part++] = val;
      val = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      if (digits > 0 && val === 0) return false; // leading zero (ambiguous octal)
      val = val * 10 + (c - 0x30);
      if (++digits > 3 || val > 255) return false;
    } else {
      return false;
    }
  }
  return part === 4;
}

/**
 * Parse an IP literal into out[off..]: 4 bytes for IPv4 (returns 4), 16 for IPv6
 * (returns 6), or returns 0 if `s` is not an IP literal. An IPv6 zone ('%eth0') is
 * ignored. v4-mapped IPv6 stays IPv6. Does not allocate.
 */
export function parseIpInto(s: string, out: Uint8Array, off = 0): 0 | 4 | 6 {
  let end = s.length;
  let hasColon = false;
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x3a) hasColon = true;
    else if (c === 0x25 /* % */) {
      end = i;
      break;
    }
  }
  if (!hasColon) return parseV4(s, 0, end, out, off) ? 4 : 0;
  // IPv6 (RFC 4291 §2.2): up to 8 groups, one '::', optional dotted-quad tail.
  let groups = 0; // groups written so far (16-bit each)
  let gap = -1; // group index where '::' stands
  let i = 0;
  if (end >= 2 && s.charCodeAt(0) === 0x3a) {
    if (s.charCodeAt(1) !== 0x3a) return 0;
    gap = 0;
    i = 2;
    if (i === end) {
      for (let k = 0; k < 16; k++) out[off + k] = 0;
      return 6;
    }
  }
  while (i < end) {
    // One group, or a dotted-quad tail.
    let j = i;
    let val = 0;
    let isV4 = false;
    while (j < end) {
      const c = s.charCodeAt(j);
      if (c === 0x3a) break;
      if (c === 0x2e) {
        isV4 = true;
        break;
      }
      const h = hexVal(c);
      if (h < 0 || j - i >= 4) return 0;
      val = (val << 4) | h;
      j++;
    }
    if (isV4) {
      if (groups > 6) return 0;
      if (!parseV4(s, i, end, out, off + groups * 2)) return 0;
      groups += 2;
      i = end;
      break;
    }
    if (j === i) return 0; // empty group
    if (groups >= 8) return 0;
    out[off + groups * 2] = val >>> 8;
    out[off + groups * 2 + 1] = val & 0xff;
    groups++;
    if (j === end) {
      i = end;
      break;
    }
    // s[j] is ':'
    if (j + 1 < end && s.charCodeAt(j + 1) === 0x3a) {
      if (gap >= 0) return 0; // a second '::'
      gap = groups;
      i = j + 2;
    } else {
      if (j + 1 === end) return 0; // trailing single ':'
      i = j + 1;
    }
  }
  if (gap < 0) return groups === 8 ? 6 : 0;
  if (groups >= 8) return 0; // '::' must stand for at least one group
  // Move the groups after the gap to the end and zero the gap.
  const tail = groups - gap;
  for (let k = tail - 1; k >= 0; k--) {
    out[off + (8 - tail + k) * 2] = out[off + (gap + k) * 2];
    out[off + (8 - tail + k) * 2 + 1] = out[off + (gap + k) * 2 + 1];
  }
  for (let k = gap; k < 8 - tail; k++) {
    out[off + k * 2] = 0;
    out[off + k * 2 + 1] = 0;
  }
  return 6;
}

/**
 * Text of an address held in bytes: dotted quad for family 4; RFC 5952 §4 for family 6
 * (lower-case hex, the longest run of ≥ 2 zero groups as '::', the first on a tie,
 * v4-mapped as ::ffff:a.b.c.d per §5 — the form Node's dgram reports). '' for family 0.
 * Allocates the string.
 */
export function formatIp(family: number, b: Uint8Array, off = 0): string {
  if (family === 4) return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
  if (family !== 6) return '';
  let mapped = b[off + 10] === 0xff && b[off + 11] === 0xff;
  for (let k = 0; k < 10 && mapped; k++) if (b[off + k] !== 0) mapped = false;
  if (mapped) return `::ffff:${b[off + 12]}.${b[off + 13]}.${b[off + 14]}.${b[off + 15]}`;
  let bestAt = -1;
  let bestLen = 0;
  for (let k = 0; k < 8; ) {
    if (b[off + k * 2] === 0 && b[off + k * 2 + 1] === 0) {
      let e = k;
      while (e < 8 && b[off + e * 2] === 0 && b[off + e * 2 + 1] === 0) e++;
      if (e - k > bestLen) {
        bestAt = k;
        bestLen = e - k;
      }
      k = e;
    } else {
      k++;
    }
  }
  if (bestLen < 2) bestAt = -1;
  let s = '';
  for (let k = 0; k < 8; k++) {
    if (k === bestAt) {
      s += '::';
      k += bestLen - 1;
      continue;
    }
    if (s.length > 0 && !s.endsWith(':')) s += ':';
    s += ((b[off + k * 2] << 8) | b[off + k * 2 + 1]).toString(16);
  }
  return s;
}
