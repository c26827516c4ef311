/**
 * A UDP socket whose receive path runs in C (native/src/udp.c): recvmmsg batches on a
 * uv_poll in the Node loop; per datagram the C fast path classifies, relays (envelope
 * built in place, sendmmsg to the owner's farm address) or drops-and-counts, and the
 * datagrams this member must handle reach ONE JS callback per batch.
 *
 * Roles (NativeRole):
 *  - 'vip'   the VIP (or a member's SIP port): classify; LOCAL → onBatch; RELAY → in C
 *            through `relayVia` (the farm socket); DROP → drops counter
 *  - 'farm'  the farm channel: verify envelopes (MAC, known origin, replay) → onBatch
 *            with the original source; heartbeat / control envelopes too (by kind)
 *  - 'plain' everything → onBatch (no classification)
 *
 * Counters are Float64Arrays indexed by Outcome / Drop / EnvelopeReject — pass a
 * CounterSet's `.v` (src/util/metrics.ts) and the C code counts straight into it.
 *
 * The batch handed to onBatch is a view of the socket's arena: valid only during the
 * callback. Copy (Buffer.from(batch.payload(i))) what must outlive it.
 */
import { isIP } from 'node:net';
import { formatIp } from '../farm/envelope.js';
import { DROP_NAMES, OUTCOME_NAMES } from '../fastpath/outcomes.js';
import { ENVELOPE_REJECT_NAMES } from '../farm/envelope.js';
import {
  NativeLimits, NativeMeta, NativeRole, loadNative, type NativeAddon, type NativeFarmContext, type NativeSocketHandle,
} from '../fastpath/native.js';

export type NativeUdpRole = 'vip' | 'farm' | 'plain';

export class NativeUdpError extends Error {
  constructor(
    readonly code: 'NATIVE_UDP_BAD_OPTION' | 'NATIVE_UDP_CLOSED' | 'NATIVE_UDP_STARTED',
    message: string,
  ) {
    super(message);
    this.name = 'NativeUdpError';
  }
}

export interface NativeUdpCounters {
  /** OUTCOME_NAMES.length slots */
  outcomes: Float64Array;
  /** DROP_NAMES.length slots */
  drops: Float64Array;
  /** ENVELOPE_REJECT_NAMES.length slots (farm sockets) */
  envelopeRejects: Float64Array;
}

export interface NativeUdpOptions {
  role: NativeUdpRole;
  /** IP literal to bind ('0.0.0.0' with pktinfo to answer from whichever local address was hit) */
  host: string;
  /** 0 = any */
  port: number;
  /** The member's tables, peers, key (required for 'vip' and 'farm'). */
  context?: NativeFarmContext;
  /** SO_REUSEPORT (several sockets, or processes, on one VIP:port) */
  reusePort?: boolean;
  /** IP_FREEBIND: bind an address not (yet) on this host */
  freebind?: boolean;
  /** IP_PKTINFO: report the local address each datagram arrived on (default true) */
  pktinfo?: boolean;
  /** SO_RCVBUF / SO_SNDBUF (capped by net.core.*mem_max); default 4 MiB / 0 = kernel default */
  rcvbuf?: number;
  sndbuf?: number;
  /** datagrams per recvmmsg (default 64, max NativeLimits.MAX_BATCH) */
  batch?: number;
  /** largest datagram accepted (default 65536; larger ones are dropped as too_large) */
  slot?: number;
  /** counter storage (default: fresh arrays, see .counters) */
  counters?: Partial<NativeUdpCounters>;
}

/** The datagrams of one receive batch. Accessors read the shared meta words; valid during the callback only. */
export class NativeBatch {
  count = 0;
  /** The socket's receive arena; datagram i is arena[offset(i), offset(i) + length(i)). */
  readonly arena: Buffer;
  /** META.STRIDE int32 words per datagram (NativeMeta). */
  readonly meta: Int32Array;
  private readonly metaBytes: Uint8Array;

  constructor(arena: Buffer, meta: Int32Array) {
    this.arena = arena;
    this.meta = meta;
    this.metaBytes = new Uint8Array(meta.buffer, meta.byteOffset, meta.byteLength);
  }

  word(i: number, field: number): number {
    return this.meta[i * NativeMeta.STRIDE + field];
  }
  offset(i: number): number { return this.word(i, NativeMeta.OFFSET); }
  length(i: number): number { return this.word(i, NativeMeta.LENGTH); }
  family(i: number): number { return this.word(i, NativeMeta.FAMILY); }
  srcPort(i: number): number { return this.word(i, NativeMeta.SRC_PORT); }
  localPort(i: number): number { return this.word(i, NativeMeta.LOCAL_PORT); }
  /** Outcome code counted for it; -1 for none (control envelopes, plain sockets) */
  outcome(i: number): number { return this.word(i, NativeMeta.OUTCOME); }
  /** Envelope kind (farm sockets), 0 for a direct datagram */
  kind(i: number): number { return this.word(i, NativeMeta.KIND); }
  flags(i: number): number { return this.word(i, NativeMeta.FLAGS); }
  origin(i: number): number { return this.word(i, NativeMeta.ORIGIN); }
  hop(i: number): number { return this.word(i, NativeMeta.HOP); }
  ringOwner(i: number): number { return this.word(i, NativeMeta.RING_OWNER); }
  ifindex(i: number): number { return this.word(i, NativeMeta.IFINDEX); }

  /** A view of the datagram (allocates the view object, not the bytes). */
  payload(i: number): Buffer {
    const o = this.offset(i);
    return this.arena.subarray(o, o + this.length(i));
  }
  /** IPv4 source as u32 (family 4), else 0. */
  srcV4(i: number): number {
    const b = this.metaBytes, o = (i * NativeMeta.STRIDE + NativeMeta.SRC_ADDR) * 4;
    return this.family(i) === 4 ? ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0 : 0;
  }
  /** Source address text (allocates the string). */
  srcAddress(i: number): string {
    return formatIp(this.family(i), this.metaBytes, (i * NativeMeta.STRIDE + NativeMeta.SRC_ADDR) * 4);
  }
  /** Address the datagram arrived on (IP_PKTINFO, or the envelope's local address). */
  localAddress(i: number): string {
    return formatIp(this.family(i), this.metaBytes, (i * NativeMeta.STRIDE + NativeMeta.LOCAL_ADDR) * 4);
  }
}

const ROLE: Record<NativeUdpRole, number> = { vip: NativeRole.VIP, farm: NativeRole.FARM, plain: NativeRole.PLAIN };

export class NativeUdpSocket {
  readonly role: NativeUdpRole;
  readonly family: 4 | 6;
  readonly counters: NativeUdpCounters;
  private readonly addon: NativeAddon;
  private readonly handle: NativeSocketHandle;
  private readonly opts: NativeUdpOptions;
  private port = 0;
  private closed = false;
  private started = false;

  /** Creates and binds (synchronously; throws NativeUdpError, or an Error with code NATIVE_SOCKET and errno). */
  constructor(o: NativeUdpOptions, addon: NativeAddon = loadNative()) {
    const fam = isIP(o.host);
    if (fam === 0) throw new NativeUdpError('NATIVE_UDP_BAD_OPTION', `host must be an IP literal: ${o.host}`);
    if (o.role !== 'plain' && o.context === undefined) throw new NativeUdpError('NATIVE_UDP_BAD_OPTION', `a ${o.role} socket needs a context`);
    this.addon = addon;
    this.opts = o;
    this.role = o.role;
    this.family = fam as 4 | 6;
    this.counters = {
      outcomes: o.counters?.outcomes ?? new Float64Array(OUTCOME_NAMES.length),
      drops: o.counters?.drops ?? new Float64Array(DROP_NAMES.length),
      envelopeRejects: o.counters?.envelopeRejects ?? new Float64Array(ENVELOPE_REJECT_NAMES.length),
    };
    this.handle = addon.udpCreate(
      o.context?.handle ?? null, ROLE[o.role], this.family, o.reusePort ? 1 : 0, o.freebind ? 1 : 0, o.pktinfo === false ? 0 : 1,
      o.rcvbuf ?? 4 * 1024 * 1024, o.sndbuf ?? 0,
    );
    try {
      this.port = addon.udpBind(this.handle, o.host, o.port);
    } catch (e) {
      addon.udpClose(this.handle);
      throw e;
    }
  }

  /** The bound port (useful after binding port 0). */
  get localPort(): number {
    return this.port;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Spread the SO_REUSEPORT group this socket belongs to randomly per datagram (classic
   * BPF `ld rand; mod #n; ret a`), instead of the kernel's per-flow hash: n sockets on one
   * host act as n members behind a spraying LB. Call once, on any socket of the group,
   * after all n are bound; the index is the socket's position in bind order.
   */
  spreadReuseportRandomly(groupSize: number): void {
    this.addon.udpAttachReuseportRandom(this.handle, groupSize);
  }

  /**
   * Start receiving. `relayVia` (vip sockets): the socket relays leave from (the farm
   * socket); without it relays count as relay_send_failed.
   */
  start(onBatch: (batch: NativeBatch) => void, relayVia?: NativeUdpSocket): void {
    if (this.closed) throw new NativeUdpError('NATIVE_UDP_CLOSED', 'socket is closed');
    if (this.started) throw new NativeUdpError('NATIVE_UDP_STARTED', 'socket already started');
    const batch = this.opts.batch ?? 64;
    const slot = this.opts.slot ?? 65536;
    if (!Number.isInteger(batch) || batch < 1 || batch > NativeLimits.MAX_BATCH) throw new NativeUdpError('NATIVE_UDP_BAD_OPTION', `batch must be 1..${NativeLimits.MAX_BATCH}`);
    if (!Number.isInteger(slot) || slot < 512 || slot > 65536) throw new NativeUdpError('NATIVE_UDP_BAD_OPTION', 'slot must be 512..65536');
    const arena = Buffer.allocUnsafeSlow(batch * this.addon.udpStride(slot));
    const meta = new Int32Array(batch * NativeMeta.STRIDE);
    const b = new NativeBatch(arena, meta);
    const plain = this.role === 'plain';
    this.addon.udpStart(
      this.handle, relayVia?.handle ?? null, arena, meta, slot, batch,
      plain ? null : this.counters.outcomes, plain ? null : this.counters.drops, plain ? null : this.counters.envelopeRejects,
      (count: number) => {
        b.count = count;
        onBatch(b);
      },
    );
    this.started = true;
  }

  /**
   * Send one datagram; `srcIp` picks the source address (IP_PKTINFO) — e.g. the VIP from
   * a socket bound to 0.0.0.0. Returns bytes sent or -errno; never throws per packet.
   */
  send(buf: Uint8Array, port: number, ip: string, srcIp?: string, offset = 0, length = buf.length - offset): number {
    if (this.closed) return -9; // EBADF
    return this.addon.udpSend(this.handle, buf, offset, length, ip, port, srcIp ?? null);
  }

  /** Whether an open socket keeps the process alive (default: yes, like dgram). */
  ref(): this { this.addon.udpRef(this.handle, true); return this; }
  unref(): this { this.addon.udpRef(this.handle, false); return this; }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.addon.udpClose(this.handle);
  }
}
