/**
 * The l2 relay (DESIGN "Relay between members", l2; native/src/l2.c): with it open on a
 * member's NativeFarmContext, every relay the C fast path decides leaves as the Ethernet
 * frame the LB would have sent the owner — destination MAC of the owner, IPv4 source =
 * the client, destination = the VIP, DSCP = the farm's mark — through an AF_PACKET socket
 * on the LB segment, instead of a udp envelope on the farm channel. The owner's kernel
 * hands it to its VIP socket with the client's address intact.
 *
 * Loop guard: every VIP socket reads the DSCP of each datagram (IP_RECVTOS); one carrying
 * the mark is classified RELAYED — handled where it lands, never relayed again — and
 * counted as relayed_in (outcome) and marked_in (here). Every member of an l2 farm sets
 * the guard (setL2LoopGuard), including one whose relay cannot open (no CAP_NET_RAW).
 *
 * What still goes as an envelope (counted per reason): datagrams whose frame would exceed
 * the interface MTU, owners without a known MAC, IPv6, and second-chance relays (a frame
 * cannot carry the envelope's flag and hop count).
 *
 * A client that forges the mark only gets its own datagram handled by whichever member
 * the LB picked (as if relayed): its transactions may then split across members and fail
 * — its own calls only; it can neither steer nor drop anyone else's packets. The LB (or a
 * member's ingress filter on the Ethernet source) can clear the mark at the edge; see
 * native/README.md.
 */
import { loadNative, type NativeAddon, type NativeContextHandle, type NativeFarmContext } from '../fastpath/native.js';

/** The l2 counters, in native/src/sf.h order (SF_L2_*). Append-only. */
export const L2_COUNTER_NAMES = [
  /** frames sent to an owner */
  'sent',
  /** frame would exceed the interface MTU: sent as an envelope */
  'fallback_mtu',
  /** no MAC known for the owner: sent as an envelope */
  'fallback_no_mac',
  /** not IPv4 (or no IPv4 destination known): sent as an envelope */
  'fallback_not_ipv4',
  /** second-chance relay (needs the envelope's flag and hop): sent as an envelope */
  'fallback_second_chance',
  /** sendmmsg on the AF_PACKET socket failed (also counted as drop relay_send_failed) */
  'send_failed',
  /** datagram that arrived with the farm's mark: handled locally, never relayed again */
  'marked_in',
] as const;
export type L2CounterName = (typeof L2_COUNTER_NAMES)[number];

export const L2Counter = {
  SENT: 0, FALLBACK_MTU: 1, FALLBACK_NO_MAC: 2, FALLBACK_NOT_IPV4: 3, FALLBACK_SECOND_CHANCE: 4, SEND_FAILED: 5, MARKED_IN: 6,
} as const;

/** Ethernet II 14 + IPv4 20 + UDP 8 bytes before the payload. */
export const L2_HEADER_SIZE = 42;

/**
 * Default loop-guard mark: DSCP CS1 (8, TOS byte 0x20), "lower effort" (RFC 8622 §4
 * recommends LE = 1 for it, and CS1 is its legacy codepoint): SIP user agents mark
 * signalling CS3/AF31/CS0, almost never CS1, so real traffic seldom looks relayed.
 */
export const DEFAULT_L2_DSCP = 8;

export type L2RelayErrorCode =
  /** the addon has no l2 entry points (rebuild it: npm run native:build) */
  | 'L2_UNSUPPORTED'
  /** AF_PACKET socket refused (EPERM/EACCES): the process lacks CAP_NET_RAW */
  | 'L2_NO_PRIVILEGE'
  /** no such interface */
  | 'L2_NO_INTERFACE'
  /** the interface is not Ethernet */
  | 'L2_NOT_ETHERNET'
  /** another socket/ioctl/bind error (errno set) */
  | 'L2_SOCKET'
  /** bad MAC, DSCP or interface name */
  | 'L2_BAD_OPTION';

export class L2RelayError extends Error {
  constructor(
    readonly code: L2RelayErrorCode,
    message: string,
    readonly errno = 0,
  ) {
    super(message);
    this.name = 'L2RelayError';
  }
}

/** The addon's l2 entry points (native/src/l2.c). */
interface L2Addon {
  l2Open(ctx: NativeContextHandle, iface: string): { ifindex: number; mtu: number; mac: Buffer };
  l2Close(ctx: NativeContextHandle): void;
  l2SetMark(ctx: NativeContextHandle, dscp: number): void;
  l2SetOwnerMac(ctx: NativeContextHandle, id: number, mac: Uint8Array | null): void;
  l2Counters(ctx: NativeContextHandle, out: Float64Array): void;
  l2BuildFrame(
    dstMac: Uint8Array, srcMac: Uint8Array, srcIp: Uint8Array, srcPort: number, dstIp: Uint8Array, dstPort: number, dscp: number,
    payload: Uint8Array,
  ): Buffer;
  l2Constants(): { headerSize: number; counterCount: number };
}

const checked = new WeakSet<object>();

/** The addon's l2 surface, checked once against this file's constants. */
function l2Addon(addon: NativeAddon): L2Addon {
  const a = addon as unknown as Partial<L2Addon>;
  if (checked.has(addon)) return a as L2Addon;
  if (typeof a.l2Open !== 'function' || typeof a.l2Constants !== 'function') {
    throw new L2RelayError('L2_UNSUPPORTED', 'the native addon has no l2 relay: rebuild it (npm run native:build)');
  }
  const k = a.l2Constants();
  if (k.headerSize !== L2_HEADER_SIZE || k.counterCount !== L2_COUNTER_NAMES.length) {
    throw new L2RelayError('L2_UNSUPPORTED', `native l2 layout (${k.headerSize}/${k.counterCount}) differs from the TS one: rebuild the addon`);
  }
  checked.add(addon);
  return a as L2Addon;
}

/** "02:53:46:01:00:02" (or with '-') → 6 bytes; throws L2RelayError L2_BAD_OPTION. */
export function parseMac(text: string): Uint8Array {
  const m = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i.exec(text);
  if (m === null) throw new L2RelayError('L2_BAD_OPTION', `not a MAC address: ${text}`);
  const out = new Uint8Array(6);
  for (let i = 0; i < 6; i++) out[i] = parseInt(m[i + 1], 16);
  if ((out[0] & 1) !== 0) throw new L2RelayError('L2_BAD_OPTION', `${text} is a group address, not a member's MAC`);
  return out;
}

export function formatMac(b: Uint8Array): string {
  return Array.from(b.subarray(0, 6), (x) => x.toString(16).padStart(2, '0')).join(':');
}

function checkDscp(dscp: number, allowZero: boolean): void {
  if (!Number.isInteger(dscp) || dscp < (allowZero ? 0 : 1) || dscp > 63) {
    throw new L2RelayError('L2_BAD_OPTION', `DSCP mark must be an integer in ${allowZero ? 0 : 1}..63 (0 is every unmarked packet)`);
  }
}

function ip4Bytes(text: string): Uint8Array {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  const b = m ? Uint8Array.from(m.slice(1).map(Number)) : null;
  if (b === null || b.some((x, i) => x > 255 || String(x) !== m![i + 1])) throw new L2RelayError('L2_BAD_OPTION', `not an IPv4 address: ${text}`);
  return b;
}

/**
 * The loop guard on a context: datagrams arriving on its VIP sockets with this DSCP are
 * treated as relayed by a peer. Set it on every member of an l2 farm (no privilege
 * needed); 0 turns it off (and stops the context's l2 relay from sending frames).
 */
export function setL2LoopGuard(context: NativeFarmContext, dscp: number = DEFAULT_L2_DSCP, addon: NativeAddon = loadNative()): void {
  checkDscp(dscp, true);
  l2Addon(addon).l2SetMark(context.handle, dscp);
}

export interface L2RelayOptions {
  /** the interface on the LB's L2 segment (e.g. 'eth0') */
  iface: string;
  /** loop-guard DSCP, 1..63; default DEFAULT_L2_DSCP (CS1). Must be the same on every member. */
  dscp?: number;
  /** the owners' MACs (their LB-segment interfaces); members without one get envelopes */
  macs?: Iterable<{ id: number; mac: string | Uint8Array }>;
}

/**
 * The l2 relay of one member's context: opens the AF_PACKET socket (CAP_NET_RAW), sets
 * the loop guard, fills the owner MAC table. From then on the context's VIP sockets relay
 * by frame, in C, in the same batch loop as envelopes. Control plane only.
 */
export class L2Relay {
  readonly iface: string;
  readonly ifindex: number;
  /** the interface MTU read at open: IPv4 datagrams up to mtu − 28 payload bytes go as frames */
  readonly mtu: number;
  /** this member's MAC on the segment (the frames' source) */
  readonly mac: string;
  readonly dscp: number;
  private readonly context: NativeFarmContext;
  private readonly a: L2Addon;
  private readonly scratch = new Float64Array(L2_COUNTER_NAMES.length);
  private closed = false;

  /** Throws L2RelayError (L2_NO_PRIVILEGE without CAP_NET_RAW: fall back to envelopes, loudly). */
  constructor(context: NativeFarmContext, o: L2RelayOptions, addon: NativeAddon = loadNative()) {
    const dscp = o.dscp ?? DEFAULT_L2_DSCP;
    checkDscp(dscp, false);
    if (!/^[^\s/:]{1,15}$/.test(o.iface)) throw new L2RelayError('L2_BAD_OPTION', `bad interface name: ${o.iface}`);
    const macs: Array<[number, Uint8Array]> = [];
    for (const m of o.macs ?? []) macs.push([checkId(m.id), typeof m.mac === 'string' ? parseMac(m.mac) : macBytes(m.mac)]);
    this.a = l2Addon(addon);
    this.context = context;
    let info: { ifindex: number; mtu: number; mac: Buffer };
    try {
      info = this.a.l2Open(context.handle, o.iface);
    } catch (e) {
      const err = e as Error & { code?: string; errno?: number };
      const code = err.code?.startsWith('L2_') ? (err.code as L2RelayErrorCode) : 'L2_SOCKET';
      throw new L2RelayError(code, `l2 relay on ${o.iface}: ${err.message}`, err.errno ?? 0);
    }
    this.iface = o.iface;
    this.ifindex = info.ifindex;
    this.mtu = info.mtu;
    this.mac = formatMac(info.mac);
    this.dscp = dscp;
    this.a.l2SetMark(context.handle, dscp);
    for (const [id, mac] of macs) this.a.l2SetOwnerMac(context.handle, id, mac);
  }

  /** An owner's MAC on the segment; null: relays to it go as envelopes. */
  setOwnerMac(id: number, mac: string | Uint8Array | null): void {
    checkId(id);
    this.a.l2SetOwnerMac(this.context.handle, id, mac === null ? null : typeof mac === 'string' ? parseMac(mac) : macBytes(mac));
  }

  /** Copies the context's l2 counters (L2_COUNTER_NAMES order) into `into`. */
  readCounters(into: Float64Array): Float64Array {
    if (into.length < L2_COUNTER_NAMES.length) throw new RangeError(`need ${L2_COUNTER_NAMES.length} counter slots`);
    this.a.l2Counters(this.context.handle, into);
    return into;
  }

  /** The counters by name (allocates; for status pages and tests). */
  counters(): Record<L2CounterName, number> {
    return l2CounterRecord(this.readCounters(this.scratch));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Closes the AF_PACKET socket: relays go back to envelopes. The loop guard stays on. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.a.l2Close(this.context.handle);
  }
}

/** The l2 counters of any context (also one whose relay never opened: marked_in counts there). */
export function readL2Counters(context: NativeFarmContext, addon: NativeAddon = loadNative()): Record<L2CounterName, number> {
  const v = new Float64Array(L2_COUNTER_NAMES.length);
  l2Addon(addon).l2Counters(context.handle, v);
  return l2CounterRecord(v);
}

function l2CounterRecord(v: Float64Array): Record<L2CounterName, number> {
  const r = {} as Record<L2CounterName, number>;
  L2_COUNTER_NAMES.forEach((n, i) => (r[n] = v[i]));
  return r;
}

/**
 * The member's decision in one call: the loop guard always (peers may relay to us by
 * frame), then the relay if it opens. Returns the relay, or the error to log ONCE before
 * carrying on with udp envelopes (never throws for a missing privilege or interface).
 */
export function openL2Relay(
  context: NativeFarmContext, o: L2RelayOptions, addon: NativeAddon = loadNative(),
): { relay: L2Relay; error: null } | { relay: null; error: L2RelayError } {
  try {
    setL2LoopGuard(context, o.dscp ?? DEFAULT_L2_DSCP, addon);
    return { relay: new L2Relay(context, o, addon), error: null };
  } catch (e) {
    if (e instanceof L2RelayError && e.code !== 'L2_BAD_OPTION') return { relay: null, error: e };
    throw e;
  }
}

export interface L2FrameFields {
  dstMac: string | Uint8Array;
  srcMac: string | Uint8Array;
  srcIp: string;
  srcPort: number;
  dstIp: string;
  dstPort: number;
  /** 0..63 */
  dscp: number;
  payload: Uint8Array;
}

/** The exact frame the C relay loop sends for these fields (tests, tools; allocates). */
export function buildL2Frame(f: L2FrameFields, addon: NativeAddon = loadNative()): Buffer {
  checkDscp(f.dscp, true);
  for (const p of [f.srcPort, f.dstPort]) {
    if (!Number.isInteger(p) || p < 0 || p > 65535) throw new L2RelayError('L2_BAD_OPTION', `bad port ${p}`);
  }
  if (f.payload.length > 65535 - 28) throw new L2RelayError('L2_BAD_OPTION', 'payload too large for one IPv4 datagram');
  const mac = (m: string | Uint8Array): Uint8Array => (typeof m === 'string' ? parseMac(m) : macBytes(m));
  return l2Addon(addon).l2BuildFrame(mac(f.dstMac), mac(f.srcMac), ip4Bytes(f.srcIp), f.srcPort, ip4Bytes(f.dstIp), f.dstPort, f.dscp, f.payload);
}

function checkId(id: number): number {
  if (!Number.isInteger(id) || id < 0 || id > 254) throw new L2RelayError('L2_BAD_OPTION', `member id ${id} outside 0..254`);
  return id;
}

function macBytes(b: Uint8Array): Uint8Array {
  if (b.length !== 6) throw new L2RelayError('L2_BAD_OPTION', 'a MAC address is 6 bytes');
  return b;
}
