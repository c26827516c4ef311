/**
 * A member's sockets on the native fast path, shaped for src/farm/member.ts: the VIP
 * socket (classify + relay in C), the farm socket (verify envelopes in C), optionally the
 * member's own SIP socket, and the one NativeFarmContext they share. The member keeps
 * its control plane (membership, RPC, slow path) and calls syncTables() whenever its
 * OwnershipTables change; everything per packet happens in C, and only what the slow
 * path or the control plane must see reaches the handlers below.
 *
 * All envelopes this member sends must share ONE (boot, seq) sequencer — the C one
 * (peers keep one replay window per origin). Send heartbeats and RPC with sendEnvelope().
 */
import type { KeyObject } from 'node:crypto';
import type { OwnershipTables } from '../fastpath/classifier.js';
import { EnvelopeKind, EnvelopeTransport, HOP_NORMAL, newEnvelopeHeader, parseIpInto, sequenceStart, type EnvelopeHeader } from '../farm/envelope.js';
import { NativeFarmContext, loadNative, type NativeAddon } from '../fastpath/native.js';
import { NativeUdpSocket, type NativeBatch, type NativeUdpCounters } from './native-udp.js';

export interface Endpoint { host: string; port: number }
export interface Source {
  address: string;
  port: number;
  /** local address the datagram arrived on (IP_PKTINFO), for direct arrivals */
  local?: string;
}

export interface NativeMemberHandlers {
  /**
   * A datagram this member handles (Outcome LOCAL, LOCAL_PROBE, LOCAL_MALFORMED, …).
   * outcome SECOND_CHANCE: this member is the previous epoch's owner during grace — keep
   * it if the slow path has state for its Call-ID, else relay it to `ringOwner` with
   * flags SECOND_CHANCE|RETURNED (member.ts secondChance()). `payload` is a copy.
   */
  local(payload: Buffer, src: Source, outcome: number, ringOwner: number): void;
  /** A verified RELAY envelope from peer `origin`: flags as in EnvelopeFlag; payload a copy. */
  relayed(payload: Buffer, src: Source, flags: number, origin: number): void;
  /** HEARTBEAT / CONTROL envelopes (verified). */
  control(kind: number, origin: number, payload: Buffer): void;
}

export interface NativeMemberIoOptions {
  selfId: number;
  vip: Endpoint;
  farm: Endpoint;
  /** the member's own SIP address (classified like the VIP), if configured */
  sip?: Endpoint;
  /** deriveEnvelopeKey(secret) or its 32 bytes */
  key: KeyObject | Uint8Array;
  /** peers' farm addresses (not self) */
  peers: readonly { id: number; host: string; port: number }[];
  /** CounterSet storage to count into: member.outcomes.v, member.drops.v, member.envelopeRejects.v */
  counters: NativeUdpCounters;
  handlers: NativeMemberHandlers;
  /**
   * Where the C sequencer starts: boot id and first seq (the member passes its
   * EnvelopeSequencer's; default sequenceStart(now), as EnvelopeSequencer).
   */
  boot?: number;
  nextSeq?: number;
  batch?: number;
  /** SO_REUSEPORT on the VIP socket (several members on one host, see NativeUdpSocket.spreadReuseportRandomly) */
  reusePort?: boolean;
  /** IP_FREEBIND on the VIP socket */
  freebind?: boolean;
}

export class NativeMemberIo {
  readonly context: NativeFarmContext;
  readonly vip: NativeUdpSocket;
  readonly farm: NativeUdpSocket;
  readonly sip: NativeUdpSocket | null;
  private readonly o: NativeMemberIoOptions;
  private readonly header: EnvelopeHeader = newEnvelopeHeader();
  private readonly peers = new Map<number, Endpoint>();

  /** Binds and starts every socket (synchronous; throws on a bind error after closing what it opened). */
  constructor(o: NativeMemberIoOptions, addon: NativeAddon = loadNative()) {
    this.o = o;
    this.context = new NativeFarmContext(undefined, addon);
    this.context.setKey(o.key);
    const start = o.boot !== undefined ? { boot: o.boot, next: o.nextSeq ?? 0 } : sequenceStart(Date.now());
    this.context.setSequence(0, start.boot, start.next);
    for (const p of o.peers) this.setPeer(p.id, p.host, p.port);
    const opened: NativeUdpSocket[] = [];
    try {
      const counters = o.counters;
      // IP_PKTINFO costs a control message per datagram; a socket bound to one address
      // already knows where its datagrams arrived, so only a wildcard bind asks for it.
      const pktinfo = (host: string): boolean => host === '0.0.0.0' || host === '::';
      const farm = new NativeUdpSocket({ role: 'farm', host: o.farm.host, port: o.farm.port, context: this.context, counters, batch: o.batch, pktinfo: false }, addon);
      opened.push(farm);
      const vip = new NativeUdpSocket({
        role: 'vip', host: o.vip.host, port: o.vip.port, context: this.context, counters, batch: o.batch,
        reusePort: o.reusePort, freebind: o.freebind, pktinfo: pktinfo(o.vip.host),
      }, addon);
      opened.push(vip);
      const sip = o.sip ? new NativeUdpSocket({ role: 'vip', host: o.sip.host, port: o.sip.port, context: this.context, counters, batch: o.batch, pktinfo: pktinfo(o.sip.host) }, addon) : null;
      if (sip) opened.push(sip);
      const onDirect = (b: NativeBatch): void => {
        for (let i = 0; i < b.count; i++) {
          o.handlers.local(Buffer.from(b.payload(i)), { address: b.srcAddress(i), port: b.srcPort(i), local: b.localAddress(i) }, b.outcome(i), b.ringOwner(i));
        }
      };
      farm.start((b) => {
        for (let i = 0; i < b.count; i++) {
          const payload = Buffer.from(b.payload(i));
          if (b.kind(i) === EnvelopeKind.RELAY) o.handlers.relayed(payload, { address: b.srcAddress(i), port: b.srcPort(i) }, b.flags(i), b.origin(i));
          else o.handlers.control(b.kind(i), b.origin(i), payload);
        }
      });
      vip.start(onDirect, farm);
      sip?.start(onDirect, farm);
      this.farm = farm;
      this.vip = vip;
      this.sip = sip;
    } catch (e) {
      for (const s of opened) s.close();
      throw e;
    }
  }

  /** Push the control plane's tables (call from member.refreshTables()) and the epoch. */
  syncTables(t: OwnershipTables, epoch: number): void {
    this.context.setTables({
      selfId: t.selfId, alive: t.alive, ring: t.ring?.table ?? null, prevRing: t.prevRing?.table ?? null,
      probeSources: t.probeSources, maxMessageSize: t.maxMessageSize,
    });
    const s = this.context.sequence();
    this.context.setSequence(epoch >>> 0, s.boot, s.nextSeq);
  }

  setPeer(id: number, host: string, port: number): void {
    this.context.setPeer(id, host, port);
    this.peers.set(id, { host, port });
  }

  /** SIP out of the VIP socket (DSR: the client sees the VIP as source). Returns bytes or -errno. */
  sendSip(buf: Uint8Array, dest: Source): number {
    return this.vip.send(buf, dest.port, dest.address);
  }

  /**
   * An envelope to a peer from the farm socket, stamped by the shared C sequencer:
   * heartbeats and RPC (family 0), or a relay the JS side decides (second chance
   * returned: kind RELAY, flags SECOND_CHANCE|RETURNED, hop 1, src = the client).
   * Returns bytes sent, or -errno; -1 for an unknown peer.
   */
  sendEnvelope(to: number, kind: number, payload: Uint8Array, relay?: { flags: number; hop?: number; src: Source; local: Source }): number {
    const peer = this.peers.get(to);
    if (peer === undefined) return -1;
    const h = this.header;
    h.kind = kind;
    h.flags = relay?.flags ?? 0;
    h.hop = relay?.hop ?? HOP_NORMAL;
    h.origin = this.o.selfId;
    h.transport = EnvelopeTransport.UDP;
    h.family = 0;
    h.srcPort = 0;
    h.localPort = 0;
    h.srcAddr.fill(0);
    h.localAddr.fill(0);
    if (relay !== undefined) {
      h.family = parseIpInto(relay.src.address, h.srcAddr);
      h.srcPort = relay.src.port;
      if (parseIpInto(relay.local.address, h.localAddr) !== h.family) h.localAddr.fill(0);
      h.localPort = relay.local.port;
      if (h.family === 0) return -22; // EINVAL
    }
    const buf = this.context.encode(h, payload, true);
    return this.farm.send(buf, peer.port, peer.host);
  }

  close(): void {
    this.vip.close();
    this.sip?.close();
    this.farm.close();
  }
}
