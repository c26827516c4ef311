/**
 * The one loader of the native fast path (native/, an N-API addon in C): loaded lazily on
 * first use, checked against the constants this file and its neighbours define, with a
 * loud-once fallback to the pure-TS twin (classifier.ts, envelope.ts, dgram).
 *
 *   SIPFARM_NATIVE=0  never load it (the TS path is used; nativeAvailable() is false)
 *   SIPFARM_NATIVE=1  a missing or mismatched addon is an error (loadNative() throws)
 *   unset             use it when it loads and matches, else fall back with one log line
 *
 * Layout constants below (NativeScanField, NativeVerdictField, NativeMeta, NativeLimits,
 * NATIVE_ABI_VERSION) are written into native/src/constants.h by
 * scripts/gen-native-header.mjs; change them here, regenerate, rebuild.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KeyObject } from 'node:crypto';
import { MAX_DATAGRAM as SCAN_MAX_DATAGRAM, Method, Scan, ScanResult } from '../sip/scanner.js';
import { DROP_NAMES, OUTCOME_NAMES } from './outcomes.js';
import { Action } from './classifier.js';
import {
  ENVELOPE_HEADER_SIZE, ENVELOPE_MAC_SIZE, ENVELOPE_MAGIC, ENVELOPE_REJECT_NAMES, type EnvelopeHeader,
} from '../farm/envelope.js';
import { MAX_MEMBER_ID, RING_EMPTY } from '../farm/ring.js';

/** Bumped whenever a C/JS interface or layout changes; the addon reports its own. */
export const NATIVE_ABI_VERSION = 2;

/** scan() out: Int32Array slots, in ScanResult field order. */
export const NativeScanField = {
  STATUS: 0, IS_REQUEST: 1, METHOD: 2, METHOD_START: 3, METHOD_END: 4, STATUS_CODE: 5, RURI_START: 6, RURI_END: 7,
  BRANCH_START: 8, BRANCH_END: 9, VIA_COUNT: 10, CALL_ID_START: 11, CALL_ID_END: 12, CSEQ_NUM: 13, CSEQ_METHOD: 14,
  CSEQ_METHOD_START: 15, CSEQ_METHOD_END: 16, TO_URI_START: 17, TO_URI_END: 18, FROM_TAG_START: 19, FROM_TAG_END: 20,
  TO_TAG_START: 21, TO_TAG_END: 22, ROUTE_URI_START: 23, ROUTE_URI_END: 24, MAX_FORWARDS: 25, HEADERS_END: 26,
  CONTENT_LENGTH: 27,
} as const;

/** classify() out: Int32Array slots (the Verdict fields). */
export const NativeVerdictField = {
  ACTION: 0, OUTCOME: 1, DROP: 2, OWNER: 3, SECOND_CHANCE: 4, RING_OWNER: 5, HASH: 6, BY_RING: 7,
} as const;

/**
 * Per datagram handed to JS by a native socket: META.STRIDE int32 words in the meta
 * array. Addresses are 16 raw bytes (IPv4 in the first 4) at word SRC_ADDR / LOCAL_ADDR.
 */
export const NativeMeta = {
  STRIDE: 20,
  /** byte offset of the datagram (for FARM sockets: of the envelope's payload) in the arena */
  OFFSET: 0,
  LENGTH: 1,
  /** 4 or 6 */
  FAMILY: 2,
  SRC_PORT: 3,
  LOCAL_PORT: 4,
  /** Outcome code counted for it, -1 when none (heartbeat/control envelopes, PLAIN sockets) */
  OUTCOME: 5,
  /** envelope kind (FARM sockets), 0 for a datagram received directly */
  KIND: 6,
  /** envelope flags (SECOND_CHANCE, RETURNED) */
  FLAGS: 7,
  /** envelope origin member, 255 for a direct datagram */
  ORIGIN: 8,
  HOP: 9,
  SRC_ADDR: 10,
  LOCAL_ADDR: 14,
  /** owner under the current ring (second chance: where to return it), -1 if none */
  RING_OWNER: 18,
  /** interface the datagram arrived on (IP_PKTINFO), 0 if unknown */
  IFINDEX: 19,
} as const;

export const NativeLimits = {
  MAX_PROBE_SOURCES: 64,
  MAX_BATCH: 1024,
} as const;

/** Socket roles (see native/src/udp.c). */
export const NativeRole = { VIP: 0, FARM: 1, PLAIN: 2 } as const;

export type NativeErrorCode =
  | 'NATIVE_DISABLED'
  | 'NATIVE_MISSING'
  | 'NATIVE_LOAD_FAILED'
  | 'NATIVE_ABI_MISMATCH'
  | 'NATIVE_CONSTANTS_MISMATCH';

export class NativeError extends Error {
  constructor(
    readonly code: NativeErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'NativeError';
  }
}

/** Opaque handles of the addon. */
export type NativeContextHandle = { readonly __brand: 'sipfarm.native.context' };
export type NativeSocketHandle = { readonly __brand: 'sipfarm.native.socket' };

/** The raw addon surface (native/src/addon.c, udp.c). Prefer the wrappers below. */
export interface NativeAddon {
  abiVersion(): number;
  constants(): Record<string, number>;
  createContext(replayWindow?: number): NativeContextHandle;
  setTables(
    ctx: NativeContextHandle, selfId: number, alive: Uint8Array, ring: Uint8Array | null, prevRing: Uint8Array | null,
    probeV4: Uint32Array, maxMessageSize: number,
  ): void;
  setPeer(ctx: NativeContextHandle, id: number, ip: string, port: number): void;
  clearPeer(ctx: NativeContextHandle, id: number): void;
  setKey(ctx: NativeContextHandle, key: Uint8Array): void;
  setSequence(ctx: NativeContextHandle, epoch: number, boot: number, nextSeq?: number | null): void;
  getSequence(ctx: NativeContextHandle): [epoch: number, boot: number, nextSeq: number];
  scan(buf: Uint8Array, len: number, out: Int32Array, maxSize: number, flags: number): number;
  classify(ctx: NativeContextHandle, buf: Uint8Array, len: number, srcV4: number, arrival: number, out: Int32Array): number;
  envelopeEncode(ctx: NativeContextHandle, h: EnvelopeHeader, payload: Uint8Array, stamp: boolean): Buffer;
  envelopeDecode(ctx: NativeContextHandle, buf: Uint8Array, len: number, out: object): number;
  udpCreate(
    ctx: NativeContextHandle | null, role: number, family: 4 | 6, reusePort: number, freebind: number, pktinfo: number,
    rcvbuf: number, sndbuf: number,
  ): NativeSocketHandle;
  udpBind(s: NativeSocketHandle, ip: string, port: number): number;
  udpAttachReuseportRandom(s: NativeSocketHandle, groupSize: number): void;
  udpStart(
    s: NativeSocketHandle, relay: NativeSocketHandle | null, arena: Buffer, meta: Int32Array, slot: number, batch: number,
    outcomes: Float64Array | null, drops: Float64Array | null, rejects: Float64Array | null, onBatch: (count: number) => void,
  ): void;
  udpSend(s: NativeSocketHandle, buf: Uint8Array, offset: number, length: number, ip: string, port: number, srcIp: string | null): number;
  udpClose(s: NativeSocketHandle): void;
  udpRef(s: NativeSocketHandle, on: boolean): void;
  udpStride(slot: number): number;
}

const here = dirname(fileURLToPath(import.meta.url));
/** src/fastpath or dist/fastpath → the package root. */
const ROOT = resolve(here, '..', '..');
export const NATIVE_ADDON_PATH = resolve(ROOT, 'native/build/Release/sipfarm.node');

let state: { addon: NativeAddon | null; error: NativeError | null } | null = null;
let warned = false;

/** What the TS side expects the addon to report (a few sizes and values). */
function expectedConstants(): Record<string, number> {
  return {
    abi: NATIVE_ABI_VERSION,
    scanCount: Object.keys(Scan).length,
    methodCount: Object.keys(Method).length,
    outcomeCount: OUTCOME_NAMES.length,
    dropCount: DROP_NAMES.length,
    envelopeRejectCount: ENVELOPE_REJECT_NAMES.length,
    envelopeHeaderSize: ENVELOPE_HEADER_SIZE,
    envelopeMacSize: ENVELOPE_MAC_SIZE,
    envelopeMagic: ENVELOPE_MAGIC,
    ringEmpty: RING_EMPTY,
    maxMemberId: MAX_MEMBER_ID,
    scanMaxDatagram: SCAN_MAX_DATAGRAM,
    metaStride: NativeMeta.STRIDE,
    scanFields: Object.keys(NativeScanField).length,
    verdictFields: Object.keys(NativeVerdictField).length,
  };
}

function tryLoad(): { addon: NativeAddon | null; error: NativeError | null } {
  const mode = process.env.SIPFARM_NATIVE;
  if (mode === '0') return { addon: null, error: new NativeError('NATIVE_DISABLED', 'SIPFARM_NATIVE=0') };
  const path = process.env.SIPFARM_NATIVE_PATH ?? NATIVE_ADDON_PATH;
  if (!existsSync(path)) {
    return { addon: null, error: new NativeError('NATIVE_MISSING', `native addon not built (${path}); run npm run native:build`) };
  }
  let addon: NativeAddon;
  try {
    addon = createRequire(import.meta.url)(path) as NativeAddon;
  } catch (e) {
    return { addon: null, error: new NativeError('NATIVE_LOAD_FAILED', `native addon failed to load: ${(e as Error).message}`) };
  }
  const abi = typeof addon.abiVersion === 'function' ? addon.abiVersion() : -1;
  if (abi !== NATIVE_ABI_VERSION) {
    return {
      addon: null,
      error: new NativeError('NATIVE_ABI_MISMATCH', `native addon ABI ${abi}, this code needs ${NATIVE_ABI_VERSION}: rebuild it (npm run native:build)`),
    };
  }
  const got = addon.constants();
  for (const [k, v] of Object.entries(expectedConstants())) {
    if (got[k] !== v) {
      return {
        addon: null,
        error: new NativeError('NATIVE_CONSTANTS_MISMATCH', `native addon built with ${k}=${got[k]}, TS has ${v}: regenerate native/src/constants.h and rebuild`),
      };
    }
  }
  return { addon, error: null };
}

function ensure(): { addon: NativeAddon | null; error: NativeError | null } {
  if (state === null) {
    state = tryLoad();
    if (state.error !== null && state.error.code !== 'NATIVE_DISABLED' && process.env.SIPFARM_NATIVE !== '1' && !warned) {
      warned = true;
      // Loud once (STYLE: automatic, loud-once fallback): one line, then the TS path.
      process.emitWarning(`${state.error.message} — using the pure-TS fast path`, { code: state.error.code });
    }
  }
  return state;
}

/** True when the addon is loaded and matches (never throws). */
export function nativeAvailable(): boolean {
  return ensure().addon !== null;
}

/** Why the native path is not used, or null when it is. */
export function nativeUnavailableReason(): NativeError | null {
  return ensure().error;
}

/**
 * The addon, or a NativeError. With SIPFARM_NATIVE unset or 1 callers that want the
 * native path call this after nativeAvailable(); with SIPFARM_NATIVE=1 a missing addon
 * is meant to surface here as an error.
 */
export function loadNative(): NativeAddon {
  const s = ensure();
  if (s.addon === null) throw s.error ?? new NativeError('NATIVE_MISSING', 'native addon not loaded');
  return s.addon;
}

/**
 * The mode's decision in one call: the addon when available; null for the TS fallback;
 * throws when SIPFARM_NATIVE=1 and the addon cannot be used.
 */
export function nativeOrNull(): NativeAddon | null {
  const s = ensure();
  if (s.addon === null && process.env.SIPFARM_NATIVE === '1') throw s.error!;
  return s.addon;
}

/** @internal tests: forget the cached load result (e.g. after changing env). */
export function resetNativeForTests(): void {
  state = null;
  warned = false;
}

// ---- typed wrappers ---------------------------------------------------------------------

/** IPv4 dotted quad → unsigned 32-bit, 0 when not IPv4 (control plane; allocation-free). */
export function ipv4ToU32(s: string): number {
  let v = 0, part = 0, digits = 0, n = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || n > 255 || part > 3) return 0;
      v = v * 256 + n;
      part++; n = 0; digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      n = n * 10 + (c - 0x30);
      if (++digits > 3) return 0;
    } else return 0;
  }
  return part === 4 ? v >>> 0 : 0;
}

export interface NativeTablesOptions {
  selfId: number;
  /** 1 = member may receive relays; length 256, indexed by member id */
  alive: Uint8Array;
  /** MaglevRing.table of the current ring, or null */
  ring: Uint8Array | null;
  /** previous epoch's table during grace, else null */
  prevRing: Uint8Array | null;
  /** LB probe sources: IPv4 literals or their u32 (IPv6 ones are not matched natively) */
  probeSources: Iterable<string | number>;
  maxMessageSize: number;
}

/**
 * One member's native fast-path context: ownership tables, peers' farm addresses, the
 * envelope key, (boot, seq) sequencer and replay window. Shared by classify() and every
 * NativeUdpSocket of the member. Control plane only: each call copies into C.
 */
export class NativeFarmContext {
  readonly handle: NativeContextHandle;
  private readonly addon: NativeAddon;

  constructor(replayWindow?: number, addon: NativeAddon = loadNative()) {
    this.addon = addon;
    this.handle = addon.createContext(replayWindow);
  }

  setTables(o: NativeTablesOptions): void {
    if (o.alive.length !== 256) throw new RangeError('alive must have 256 entries');
    const probes: number[] = [];
    for (const p of o.probeSources) {
      const v = typeof p === 'number' ? p >>> 0 : ipv4ToU32(p);
      if (v !== 0) probes.push(v);
    }
    if (probes.length > NativeLimits.MAX_PROBE_SOURCES) throw new RangeError(`at most ${NativeLimits.MAX_PROBE_SOURCES} IPv4 probe sources`);
    this.addon.setTables(this.handle, o.selfId, o.alive, o.ring, o.prevRing, Uint32Array.from(probes), o.maxMessageSize);
  }

  /** A peer's farm address; also makes it a known envelope origin. */
  setPeer(id: number, host: string, port: number): void {
    this.addon.setPeer(this.handle, id, host, port);
  }

  clearPeer(id: number): void {
    this.addon.clearPeer(this.handle, id);
  }

  /** The HMAC key: deriveEnvelopeKey(secret) (a KeyObject) or its 32 exported bytes. */
  setKey(key: KeyObject | Uint8Array): void {
    const bytes = key instanceof Uint8Array ? key : key.export();
    this.addon.setKey(this.handle, bytes);
  }

  /**
   * Epoch written into relayed envelopes and the sequencer's boot id. Every envelope this
   * member sends must come from ONE sequencer (receivers keep one replay window per
   * origin): send heartbeats and RPC through encode(…, stamp=true) too.
   */
  setSequence(epoch: number, boot: number, nextSeq?: number): void {
    this.addon.setSequence(this.handle, epoch >>> 0, boot >>> 0, nextSeq ?? null);
  }

  sequence(): { epoch: number; boot: number; nextSeq: number } {
    const [epoch, boot, nextSeq] = this.addon.getSequence(this.handle);
    return { epoch, boot, nextSeq };
  }

  /** encodeEnvelope in C (same bytes). stamp: take boot/seq/epoch from this context. Allocates the Buffer. */
  encode(h: EnvelopeHeader, payload: Uint8Array, stamp = false): Buffer {
    return this.addon.envelopeEncode(this.handle, h, payload, stamp);
  }

  /** EnvelopeDecoder.decode in C against this context's peers and replay window; fills `out` on 0. */
  decode(buf: Uint8Array, out: NativeDecodedEnvelope, len = buf.length): number {
    return this.addon.envelopeDecode(this.handle, buf, len, out);
  }
}

/** What NativeFarmContext.decode() fills (the DecodedEnvelope fields). */
export interface NativeDecodedEnvelope {
  kind?: number; flags?: number; hop?: number; origin?: number; transport?: number; epoch?: number; boot?: number;
  seq?: number; family?: number; srcAddr?: Buffer; srcPort?: number; localAddr?: Buffer; localPort?: number;
  payloadStart?: number; payloadEnd?: number;
}

const scanOut = new Int32Array(Object.keys(NativeScanField).length);

/** The C scanner into a ScanResult (for tests and tools; one call crosses into C). */
export function nativeScan(buf: Uint8Array, out: ScanResult = new ScanResult(), len = buf.length, maxSize = SCAN_MAX_DATAGRAM, flags = 0): ScanResult {
  const a = loadNative();
  const F = NativeScanField;
  a.scan(buf, len, scanOut, maxSize, flags);
  const o = scanOut;
  out.status = o[F.STATUS]; out.isRequest = o[F.IS_REQUEST] !== 0; out.method = o[F.METHOD];
  out.methodStart = o[F.METHOD_START]; out.methodEnd = o[F.METHOD_END]; out.statusCode = o[F.STATUS_CODE];
  out.ruriStart = o[F.RURI_START]; out.ruriEnd = o[F.RURI_END]; out.branchStart = o[F.BRANCH_START];
  out.branchEnd = o[F.BRANCH_END]; out.viaCount = o[F.VIA_COUNT]; out.callIdStart = o[F.CALL_ID_START];
  out.callIdEnd = o[F.CALL_ID_END]; out.cseqNum = o[F.CSEQ_NUM]; out.cseqMethod = o[F.CSEQ_METHOD];
  out.cseqMethodStart = o[F.CSEQ_METHOD_START]; out.cseqMethodEnd = o[F.CSEQ_METHOD_END];
  out.toUriStart = o[F.TO_URI_START]; out.toUriEnd = o[F.TO_URI_END]; out.fromTagStart = o[F.FROM_TAG_START];
  out.fromTagEnd = o[F.FROM_TAG_END]; out.toTagStart = o[F.TO_TAG_START]; out.toTagEnd = o[F.TO_TAG_END];
  out.routeUriStart = o[F.ROUTE_URI_START]; out.routeUriEnd = o[F.ROUTE_URI_END]; out.maxForwards = o[F.MAX_FORWARDS];
  out.headersEnd = o[F.HEADERS_END]; out.contentLength = o[F.CONTENT_LENGTH];
  return out;
}

export interface NativeVerdict {
  action: number;
  outcome: number;
  drop: number;
  owner: number;
  secondChance: boolean;
  ringOwner: number;
  /** ring hash (unsigned), meaningful when byRing */
  hash: number;
  byRing: boolean;
}

const verdictOut = new Int32Array(Object.keys(NativeVerdictField).length);

/** The C classifier over a context's tables. `src`: IPv4 text or its u32 (anything else = not a probe source). */
export function nativeClassify(ctx: NativeFarmContext, buf: Uint8Array, src: string | number, arrival: number, len = buf.length): NativeVerdict {
  const a = loadNative();
  const F = NativeVerdictField;
  const srcV4 = typeof src === 'number' ? src >>> 0 : ipv4ToU32(src);
  a.classify(ctx.handle, buf, len, srcV4, arrival, verdictOut);
  const o = verdictOut;
  return {
    action: o[F.ACTION],
    outcome: o[F.OUTCOME],
    drop: o[F.DROP],
    owner: o[F.ACTION] === Action.DROP ? -1 : o[F.OWNER],
    secondChance: o[F.SECOND_CHANCE] !== 0,
    ringOwner: o[F.RING_OWNER],
    hash: o[F.HASH] >>> 0,
    byRing: o[F.BY_RING] !== 0,
  };
}
