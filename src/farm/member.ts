/**
 * One farm member at run time: the sockets, the fast path in front, the slow path
 * behind, and the control plane (membership, location RPC) on the farm channel.
 *
 *   LB ──► VIP socket ──► classify ──┬─ LOCAL ──► slow path (transactions, proxy, registrar)
 *                                    ├─ RELAY ──► envelope ──► farm socket ──► owner
 *                                    └─ DROP (counted)
 *   peer ──► farm socket ──► verify envelope ──┬─ RELAY ──► (second chance?) ──► slow path
 *                                              ├─ HEARTBEAT ──► membership
 *                                              └─ CONTROL ──► location RPC
 *
 * Replies leave from the VIP socket straight to the client (DSR): a relay adds one hop
 * inbound, never outbound.
 */
import * as dgram from 'node:dgram';
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import { isIP } from 'node:net';
import type { FarmConfig, MemberConfig } from '../cli/config.js';
import { Action, Arrival, OwnershipTables, Verdict, classify, ringHash } from '../fastpath/classifier.js';
import { DROP_NAMES, Drop, OUTCOME_NAMES, Outcome } from '../fastpath/outcomes.js';
import { ScanResult, scan, Scan } from '../sip/scanner.js';
import { systemClock, type Clock, type TimerHandle } from '../sip/clock.js';
import { TransactionLayer } from '../sip/transaction/layer.js';
import type { Destination } from '../sip/transaction/transport.js';
import { Proxy, PROXY_EVENTS } from '../proxy/proxy.js';
import { Registrar } from '../proxy/registrar.js';
import { LocationStore } from '../proxy/location.js';
import { FarmLocationService } from '../proxy/location-service.js';
import { SlowPath, SLOW_PATH_EVENTS } from '../proxy/slow-path.js';
import { Registry, type CounterSet } from '../util/metrics.js';
import type { Logger } from '../util/log.js';
import {
  DecodedEnvelope, ENVELOPE_REJECT_NAMES, EnvelopeDecoder, EnvelopeFlag, EnvelopeKind, EnvelopeSequencer,
  HOP_NORMAL, HOP_SECOND_CHANCE, deriveEnvelopeKey, encodeEnvelope, newEnvelopeHeader, parseIpInto, type EnvelopeHeader,
} from './envelope.js';
import { Membership } from './membership.js';
import { FarmRpc, type RpcMessage } from './rpc.js';
import { nativeOrNull } from '../fastpath/native.js';
import { NativeMemberIo } from '../io/native-member-io.js';
import { L2_COUNTER_NAMES, openL2Relay, readL2Counters, type L2Relay } from '../io/l2-relay.js';

export interface MemberOptions {
  config: FarmConfig;
  memberId: number;
  log: Logger;
  clock?: Clock;
  /**
   * Send SIP through this instead of a socket bound to the VIP; the owner of the object
   * then feeds datagrams with receiveVip(). Lets tests run several members in one process
   * behind an in-process "LB" (one shared VIP socket) with a real farm channel.
   */
  vipTransport?: { send(buf: Buffer, dest: Destination): void };
  /**
   * Use the native fast path (C classifier and relay, batched kernel I/O) when the addon
   * is built. Default true; SIPFARM_NATIVE=0 also turns it off. Ignored with vipTransport.
   */
  native?: boolean;
  /**
   * Bind the VIP with SO_REUSEPORT (native path): several members on one host share it
   * and the kernel spreads datagrams over them (spreadVipRandomly) — one-host mode.
   */
  reusePort?: boolean;
}

export class FarmMember {
  readonly id: number;
  readonly registry: Registry;
  readonly membership: Membership;
  readonly tables = new OwnershipTables();
  readonly proxy: Proxy;
  readonly layer: TransactionLayer;
  readonly slow: SlowPath;
  readonly location: FarmLocationService;
  private readonly store: LocationStore;
  private readonly rpc: FarmRpc;
  private readonly cfg: FarmConfig;
  private readonly self: MemberConfig;
  private readonly peers = new Map<number, MemberConfig>();
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly key;
  private readonly decoder: EnvelopeDecoder;
  private readonly seq = new EnvelopeSequencer();
  private readonly outHeader: EnvelopeHeader = newEnvelopeHeader();
  private readonly vipAddr = new Uint8Array(16);
  private vipFamily: 4 | 6 = 4;
  private vipSocket: dgram.Socket | null = null;
  private farmSocket: dgram.Socket | null = null;
  private sipSocket: dgram.Socket | null = null;
  /** TS path: a socket connected to each peer's farm address, for relays. */
  private readonly peerSockets = new Map<number, dgram.Socket>();
  /**
   * TS path, per peer id: relays left that carry a send callback. dgram reports a
   * refused send only to a callback, and a callback costs a SendWrap completion and a
   * nextTick per datagram, so relays go without one while the peer is healthy. A peer
   * socket's 'error' event (an ICMP unreachable read by recvmsg) counts a failure and
   * arms the callback for the next RELAY_WATCH_SENDS relays to that peer, so a peer
   * whose port went away has its refused sends counted, each one, from then on.
   */
  private readonly relayWatch = new Uint16Array(256);
  private static readonly RELAY_WATCH_SENDS = 4096;
  /**
   * TS path: relays encoded in this turn of the event loop, sent together at its end
   * (setImmediate runs after the poll phase, i.e. after every datagram libuv read in
   * this wake-up), or at once when RELAY_BATCH are waiting. Sends spaced by scan and MAC
   * work each pay the kernel for waking the receiver (on loopback and in VMs an IPI per
   * datagram); back to back, most find it awake. Bounded, so the added latency is at most
   * RELAY_BATCH datagrams' worth of classification.
   */
  private static readonly RELAY_BATCH = 16;
  private readonly relayQueue: Array<Buffer | null> = [];
  private readonly relayQueueTo = new Uint8Array(FarmMember.RELAY_BATCH);
  private relayQueued = 0;
  private relayFlushScheduled = false;
  /** The source address text whose bytes outHeader holds (null = none): parsed once per source. */
  private outHeaderSrc: string | null = null;
  // Fast-path scratch, one set per socket path: never allocated per packet.
  private readonly scanVip = new ScanResult();
  private readonly verdictVip = new Verdict();
  private readonly scanFarm = new ScanResult();
  private readonly env = new DecodedEnvelope();
  readonly outcomes: CounterSet;
  readonly drops: CounterSet;
  readonly envelopeRejects: CounterSet;
  private readonly proxyEvents: CounterSet;
  private readonly slowEvents: CounterSet;
  private draining = false;
  /**
   * True for graceMs after start, until the first membership change after the discovery
   * window (the first deadAfterMs, while peers are being heard): see refreshTables.
   */
  private joinGrace = false;
  private discoveryUntil = 0;
  private discovered = false;
  private joinGraceTimer: TimerHandle | null = null;
  private readonly vipTransport?: { send(buf: Buffer, dest: Destination): void };
  private readonly wantNative: boolean;
  private readonly reusePort: boolean;
  /** The native sockets when the C fast path runs; null on the TS (dgram) path. */
  private nativeIo: NativeMemberIo | null = null;
  /** relay.mode l2: frames to the owner's MAC (native path only). */
  private l2: L2Relay | null = null;

  constructor(o: MemberOptions) {
    this.vipTransport = o.vipTransport;
    this.wantNative = o.native !== false && o.vipTransport === undefined;
    this.reusePort = o.reusePort === true;
    this.cfg = o.config;
    this.id = o.memberId;
    this.log = o.log;
    this.clock = o.clock ?? systemClock;
    const self = o.config.members.find((m) => m.id === o.memberId);
    if (self === undefined) throw new Error(`member ${o.memberId} is not in the config`);
    this.self = self;
    for (const m of o.config.members) if (m.id !== this.id) this.peers.set(m.id, m);
    this.key = deriveEnvelopeKey(o.config.key.toString('utf8'));
    this.decoder = new EnvelopeDecoder(this.key, { memberIds: (id) => this.peers.has(id) });
    this.vipFamily = parseIpInto(o.config.vip.host, this.vipAddr) === 6 ? 6 : 4;

    this.tables.selfId = this.id;
    this.tables.probeSources = new Set(o.config.lbProbeSources);
    this.tables.maxMessageSize = o.config.maxMessageSize;

    this.registry = new Registry({ constLabels: { member: String(this.id) } });
    this.outcomes = this.registry.counterSet('sipfarm_packets_total', 'Datagrams by fast-path routing outcome', 'outcome', OUTCOME_NAMES);
    this.drops = this.registry.counterSet('sipfarm_dropped_total', 'Datagrams dropped by the fast path, by reason', 'reason', DROP_NAMES);
    this.envelopeRejects = this.registry.counterSet(
      'sipfarm_envelope_rejected_total', 'Farm-channel datagrams refused, by reason', 'reason',
      ENVELOPE_REJECT_NAMES.map((n) => n.toLowerCase()),
    );

    this.membership = new Membership({
      selfId: this.id,
      members: o.config.members.map((m) => ({ id: m.id })),
      clock: this.clock,
      heartbeatIntervalMs: o.config.heartbeat.intervalMs,
      deadAfterMs: o.config.heartbeat.deadAfterMs,
      graceMs: o.config.graceMs,
      sendHeartbeat: (to, payload) => this.sendControl(to, EnvelopeKind.HEARTBEAT, payload),
      onChange: () => {
        // A change after discovery (every configured peer heard, or the first
        // deadAfterMs over) is a real one: membership's own previous ring is then the
        // right one for second chances.
        if (this.joinGrace && (this.discovered || this.clock.now() > this.discoveryUntil)) this.endJoinGrace();
        if (this.liveIds().length === this.cfg.members.length) this.discovered = true;
        this.refreshTables();
      },
    });
    // The previous ring leaves the fast path's tables when its grace period ends.
    this.membership.on('graceEnd', () => this.refreshTables());
    this.refreshTables();

    this.rpc = new FarmRpc((to, msg) => this.sendRpc(to, msg));
    this.store = new LocationStore(this.clock);
    const membership = this.membership;
    this.location = new FarmLocationService(this.store, this.rpc, {
      selfId: this.id,
      ownerOf: (h) => membership.ownerOf(h),
      ownerExcluding: (h, ex) => membership.ringExcluding(ex).lookup(h),
    });
    const domains = o.config.domains;
    const isOurDomain = (host: string): boolean => this.proxy.isOurDomain(host);
    const registrar = new Registrar(o.config.registrar, isOurDomain, this.location, this.clock);
    const send = (buf: Buffer, dest: Destination): void => this.sendSip(buf, dest);
    const outbound = o.config.outboundProxy;
    this.proxy = new Proxy({
      selfId: this.id,
      vip: { host: o.config.vip.host, port: o.config.vip.port },
      localHosts: self.sip ? [self.sip.host] : [],
      domains,
      outboundProxy: outbound ? { address: outbound.host, port: outbound.port } : undefined,
      location: this.location,
      registrar,
      isDraining: () => this.draining,
      send,
    });
    this.layer = new TransactionLayer({ clock: this.clock, send, timers: o.config.timers, tu: this.proxy });
    this.proxy.attach(this.layer);
    this.slow = new SlowPath(this.layer, send, this.log, o.config.maxMessageSize);

    this.proxyEvents = this.registry.counterSet('sipfarm_proxy_total', 'Proxy core events', 'event', PROXY_EVENTS);
    this.slowEvents = this.registry.counterSet('sipfarm_slow_path_total', 'Slow-path entry events', 'event', SLOW_PATH_EVENTS);
    this.registry.labeledGauge('sipfarm_transactions_total', 'Transaction layer outcomes since start', 'outcome', () => ({ ...this.layer.stats }) as Record<string, number>);
    this.registry.gauge('sipfarm_transactions_live', 'Live transactions', () => this.layer.size());
    this.registry.gauge('sipfarm_epoch', 'Membership epoch', () => this.membership.epoch);
    this.registry.gauge('sipfarm_members_live', 'Members alive (including draining)', () => this.liveIds().length);
    this.registry.gauge('sipfarm_draining', '1 while this member drains', () => (this.draining ? 1 : 0));
    this.registry.gauge('sipfarm_registrations', 'AoRs with bindings held by this member', () => this.store.size);
    this.registry.labeledGauge('sipfarm_location_total', 'Location service events', 'event', () => ({ ...this.location.counters }));
    this.registry.labeledGauge('sipfarm_rpc_total', 'Farm RPC events', 'event', () => ({ ...this.rpc.counters }));
    this.registry.labeledGauge('sipfarm_l2_relay_total', 'l2 relay: frames sent, envelope fallbacks by reason, marked frames received', 'event', () =>
      this.nativeIo !== null ? readL2Counters(this.nativeIo.context) : Object.fromEntries(L2_COUNTER_NAMES.map((n) => [n, 0])),
    );
  }

  /** Copy the control plane's view into the tables the fast path reads. */
  private refreshTables(): void {
    const m = this.membership;
    const t = this.tables;
    t.alive.fill(0);
    for (const id of this.liveIds()) t.alive[id] = 1;
    t.ring = m.ring;
    t.prevRing = m.prevRing;
    if (this.joinGrace) {
      // Joining: the rings this member computed while discovering its peers never carried
      // traffic. The farm's real previous ring is the one without us — what the others
      // used before we came — so moved keys get their second chance at the old owner.
      const without = m.ringExcluding(this.id);
      if (without.members.length > 0) t.prevRing = without;
    }
    this.nativeIo?.syncTables(t, m.epoch);
  }

  liveIds(): number[] {
    const ids = [this.id];
    for (const id of this.peers.keys()) if (this.membership.isAlive(id)) ids.push(id);
    return ids.sort((a, b) => a - b);
  }

  async start(): Promise<void> {
    const vip = this.cfg.vip;
    const addon = this.wantNative ? nativeOrNull() : null;
    if (addon !== null) {
      // C classifies, relays and verifies; only what the slow path or the control plane
      // must see crosses into JS (and C counts into this member's counter sets).
      this.nativeIo = new NativeMemberIo({
        selfId: this.id,
        vip: { host: vip.host, port: vip.port },
        farm: { host: this.self.address.host, port: this.self.address.port },
        sip: this.self.sip ? { host: this.self.sip.host, port: this.self.sip.port } : undefined,
        key: this.key,
        peers: [...this.peers.values()].map((p) => ({ id: p.id, host: p.address.host, port: p.address.port })),
        counters: { outcomes: this.outcomes.v, drops: this.drops.v, envelopeRejects: this.envelopeRejects.v },
        boot: this.seq.boot,
        nextSeq: this.seq.nextSeq,
        reusePort: this.reusePort,
        handlers: {
          local: (payload, src, outcome, ringOwner) => {
            if (outcome === Outcome.SECOND_CHANCE) this.secondChance(payload, ringOwner, src.address, src.port);
            else this.slow.receive(payload, { address: src.address, port: src.port, local: src.local === vip.host ? undefined : src.local });
          },
          relayed: (payload, src, flags) => this.onRelayed(payload, src.address, src.port, flags),
          control: (kind, origin, payload) => this.onControl(kind, origin, payload),
        },
      }, addon);
      this.refreshTables();
      if (this.cfg.relay.mode === 'l2') this.openL2();
    } else {
      if (this.cfg.relay.mode === 'l2') this.log.warn('relay.mode l2 needs the native fast path: relaying by udp envelope');
      if (this.vipTransport === undefined) this.vipSocket = await bindUdp(vip.host, vip.port, (buf, r) => this.receiveVip(buf, r.address, r.port));
      this.farmSocket = await bindUdp(this.self.address.host, this.self.address.port, (buf) => this.onFarm(buf));
      const sipHost = this.self.sip?.host;
      if (this.self.sip) this.sipSocket = await bindUdp(this.self.sip.host, this.self.sip.port, (buf, r) => this.receiveVip(buf, r.address, r.port, sipHost));
      // One connected socket per peer for relays: a connected send skips dgram's
      // per-datagram address lookup (the biggest cost of an unconnected send in Node).
      for (const peer of this.peers.values()) {
        const id = peer.id;
        const onError = (): void => {
          this.drops.v[Drop.RELAY_SEND_FAILED]++;
          this.relayWatch[id] = FarmMember.RELAY_WATCH_SENDS;
        };
        this.peerSockets.set(id, await connectUdp(this.self.address.host, peer.address.host, peer.address.port, onError));
      }
    }
    this.store.start();
    this.joinGrace = true;
    this.discoveryUntil = this.clock.now() + this.cfg.heartbeat.deadAfterMs + this.cfg.heartbeat.intervalMs;
    this.joinGraceTimer = this.clock.setTimer(this.cfg.graceMs, () => {
      this.endJoinGrace();
      this.refreshTables();
    });
    this.membership.start();
    this.log.info('member started', { vip: `${vip.host}:${vip.port}`, farm: `${this.self.address.host}:${this.self.address.port}`, fastPath: this.fastPath });
  }

  private endJoinGrace(): void {
    this.joinGrace = false;
    if (this.joinGraceTimer !== null) this.clock.clearTimer(this.joinGraceTimer);
    this.joinGraceTimer = null;
  }

  async stop(): Promise<void> {
    this.endJoinGrace();
    this.membership.stop();
    this.store.stop();
    this.rpc.close();
    this.l2?.close();
    this.l2 = null;
    this.nativeIo?.close();
    this.nativeIo = null;
    // Queued relays leave now; any relay after this finds no peer socket (counted, not thrown).
    this.flushRelays();
    const peerSockets = [...this.peerSockets.values()];
    this.peerSockets.clear();
    for (const sock of peerSockets) await new Promise<void>((r) => sock.close(() => r()));
    // Forget the sockets before closing them: a datagram or timer in between then finds
    // null (a counted drop) instead of a closed dgram socket (whose send() throws).
    const sockets = [this.vipSocket, this.farmSocket, this.sipSocket];
    this.vipSocket = this.farmSocket = this.sipSocket = null;
    for (const s of sockets) {
      if (s) await new Promise<void>((r) => s.close(() => r()));
    }
  }

  setDraining(on: boolean): void {
    this.draining = on;
    this.membership.setDraining(on);
    this.refreshTables();
    this.log.info(on ? 'draining: leaving the ring for new keys' : 'draining off: taking new keys');
  }

  /**
   * relay.mode l2: open the AF_PACKET relay. Without CAP_NET_RAW or the interface it
   * says so once and the member relays by envelope; the loop guard is on either way, so
   * marked frames from peers are still never relayed again.
   */
  private openL2(): void {
    const io = this.nativeIo;
    if (io === null) return;
    const macs = this.cfg.members.filter((m) => m.id !== this.id && m.mac !== undefined).map((m) => ({ id: m.id, mac: m.mac! }));
    const r = openL2Relay(io.context, { iface: this.cfg.relay.iface!, dscp: this.cfg.relay.dscp, macs });
    this.l2 = r.relay;
    if (r.error !== null) this.log.warn('l2 relay unavailable: relaying by udp envelope', { code: r.error.code, error: r.error.message });
    else this.log.info('l2 relay open', { iface: r.relay.iface, mac: r.relay.mac, dscp: r.relay.dscp });
  }

  /**
   * One-host mode: make the kernel pick a random socket of the VIP's SO_REUSEPORT group
   * (of `groupSize` members) for every datagram — the stateless random-spraying LB.
   * Returns false when this member has no native VIP socket.
   */
  spreadVipRandomly(groupSize: number): boolean {
    if (this.nativeIo === null) return false;
    this.nativeIo.vip.spreadReuseportRandomly(groupSize);
    return true;
  }

  /** How this member relays: frames to MACs (l2) or envelopes (udp). */
  get relayMode(): 'l2' | 'udp' {
    return this.l2 !== null ? 'l2' : 'udp';
  }

  /** Which fast path carries this member's packets. */
  get fastPath(): 'native' | 'ts' {
    return this.nativeIo !== null ? 'native' : 'ts';
  }

  isDraining(): boolean {
    return this.draining;
  }

  status(): Record<string, unknown> {
    return {
      member: this.id,
      fastPath: this.fastPath,
      relay: this.relayMode,
      epoch: this.membership.epoch,
      draining: this.draining,
      live: this.liveIds(),
      ring: this.membership.ring.members,
      transactions: this.layer.size(),
      registrations: this.store.size,
    };
  }

  metrics(): string {
    // Slow-path event objects are plain fields; mirror them into their counter sets on scrape.
    PROXY_EVENTS.forEach((e, i) => (this.proxyEvents.v[i] = this.proxy.events[e]));
    SLOW_PATH_EVENTS.forEach((e, i) => (this.slowEvents.v[i] = this.slow.events[e]));
    return this.registry.render();
  }

  // ---- fast path ------------------------------------------------------------------------

  /** A datagram that reached the VIP (from the LB, or a client directly). */
  receiveVip(buf: Buffer, address: string, port: number, local?: string): void {
    const v = this.verdictVip;
    const action = classify(buf, buf.length, address, Arrival.DIRECT, this.tables, this.scanVip, v);
    if (action === Action.LOCAL) {
      this.outcomes.v[v.outcome]++;
      this.slow.receive(buf, { address, port, local });
    } else if (action === Action.RELAY) {
      this.outcomes.v[v.outcome]++;
      if (!v.secondChance) this.relay(buf, v.owner, 0, HOP_NORMAL, address, port);
      else if (v.owner === this.id) this.secondChance(buf, v.ringOwner, address, port);
      else this.relay(buf, v.owner, EnvelopeFlag.SECOND_CHANCE, HOP_SECOND_CHANCE, address, port);
    } else {
      this.drops.v[v.drop]++;
    }
  }

  private relay(payload: Uint8Array, owner: number, flags: number, hop: number, srcAddress: string, srcPort: number): void {
    if (this.nativeIo !== null) {
      // One sequencer per member (peers keep one replay window per origin): the C one.
      const sent = this.nativeIo.sendEnvelope(owner, EnvelopeKind.RELAY, payload, {
        flags, hop, src: { address: srcAddress, port: srcPort }, local: { address: this.cfg.vip.host, port: this.cfg.vip.port },
      });
      if (sent < 0) this.drops.v[Drop.RELAY_SEND_FAILED]++;
      return;
    }
    const peer = this.peers.get(owner);
    const sock = this.farmSocket;
    if (peer === undefined || sock === null) {
      this.drops.v[Drop.NO_LIVE_MEMBER]++;
      return;
    }
    const h = this.outHeader;
    h.kind = EnvelopeKind.RELAY;
    h.flags = flags;
    h.hop = hop;
    h.origin = this.id;
    h.epoch = this.membership.epoch >>> 0;
    if (srcAddress !== this.outHeaderSrc) {
      // dgram gives the source as text; datagrams mostly come from a few sources (the LB's
      // own, or a client's retransmissions), so the bytes are kept for the next one.
      const fam = parseIpInto(srcAddress, h.srcAddr);
      if (fam === 0) {
        this.outHeaderSrc = null;
        this.drops.v[Drop.RELAY_SEND_FAILED]++;
        return;
      }
      this.outHeaderSrc = srcAddress;
      h.family = fam;
      h.localAddr.set(this.vipAddr);
      if (fam !== this.vipFamily) h.localAddr.fill(0);
    }
    h.srcPort = srcPort;
    h.localPort = this.cfg.vip.port;
    this.seq.stamp(h);
    // A fresh Buffer per datagram: libuv may hold it past send() if the socket would block.
    const out = encodeEnvelope(h, payload, this.key);
    if (!this.peerSockets.has(owner)) {
      sock.send(out, peer.address.port, peer.address.host, this.onRelaySent);
      return;
    }
    const i = this.relayQueued++;
    this.relayQueue[i] = out;
    this.relayQueueTo[i] = owner;
    if (this.relayQueued === FarmMember.RELAY_BATCH) {
      this.flushRelays();
    } else if (!this.relayFlushScheduled) {
      this.relayFlushScheduled = true;
      setImmediate(this.onRelayFlush);
    }
  }

  private readonly onRelayFlush = (): void => {
    this.relayFlushScheduled = false;
    this.flushRelays();
  };

  /** Send the queued relays, in order, each on its peer's connected socket. */
  private flushRelays(): void {
    const n = this.relayQueued;
    this.relayQueued = 0;
    for (let i = 0; i < n; i++) {
      const out = this.relayQueue[i] as Buffer;
      this.relayQueue[i] = null;
      const owner = this.relayQueueTo[i];
      const connected = this.peerSockets.get(owner);
      if (connected === undefined) {
        this.drops.v[Drop.RELAY_SEND_FAILED]++; // stopping: the peer socket is closed
      } else if (this.relayWatch[owner] === 0) {
        // Healthy peer: no callback, so no completion and no nextTick per datagram.
        connected.send(out);
      } else {
        this.relayWatch[owner]--;
        connected.send(out, this.onRelaySent);
      }
    }
  }

  /**
   * Callback of the relay sends that carry one (see relayWatch): a refused send is
   * reported here rather than as an 'error' event. One function, no closure per datagram.
   */
  private readonly onRelaySent = (err: Error | null): void => {
    if (err) this.drops.v[Drop.RELAY_SEND_FAILED]++;
  };

  private onFarm(buf: Buffer): void {
    const env = this.env;
    const st = this.decoder.decode(buf, buf.length, env);
    if (st !== 0) {
      this.envelopeRejects.v[st]++;
      this.drops.v[Drop.ENVELOPE]++;
      return;
    }
    const payload = buf.subarray(env.payloadStart, env.payloadEnd);
    if (env.kind !== EnvelopeKind.RELAY) {
      this.onControl(env.kind, env.origin, payload);
      return;
    }
    this.outcomes.v[Outcome.RELAYED_IN]++;
    this.onRelayed(payload, env.srcAddress, env.srcPort, env.flags);
  }

  private onControl(kind: number, origin: number, payload: Buffer): void {
    if (kind === EnvelopeKind.HEARTBEAT) this.membership.onHeartbeat(origin, payload);
    else if (kind === EnvelopeKind.CONTROL) this.rpc.receive(origin, payload);
  }

  /** A verified RELAY envelope's payload, as the client sent it from src:srcPort. */
  private onRelayed(payload: Buffer, src: string, srcPort: number, flags: number): void {
    if ((flags & EnvelopeFlag.RETURNED) !== 0) {
      // The previous owner had nothing for it: ours, for good.
      this.slow.receive(payload, { address: src, port: srcPort });
      return;
    }
    if ((flags & EnvelopeFlag.SECOND_CHANCE) !== 0) {
      // We owned this key in the previous epoch; the new owner is ours to compute.
      const s = this.scanFarm;
      const newOwner = scan(payload, payload.length, s, this.cfg.maxMessageSize) === Scan.OK && this.tables.ring !== null
        ? this.tables.ring.lookup(ringHash(payload, s))
        : this.id;
      this.secondChance(payload, newOwner, src, srcPort);
      return;
    }
    // A relayed packet is handled here, never relayed again (DESIGN rule 1).
    this.slow.receive(payload, { address: src, port: srcPort });
  }

  /**
   * We were the owner in the previous epoch: keep the request if we still hold a
   * transaction for its Call-ID, else hand it to the new owner, flagged final.
   */
  private secondChance(payload: Buffer, newOwner: number, src: string, srcPort: number): void {
    const s = this.scanFarm;
    if (scan(payload, payload.length, s, this.cfg.maxMessageSize) === Scan.OK) {
      const callId = payload.toString('latin1', s.callIdStart, s.callIdEnd);
      if (this.slow.hasState(callId) || newOwner === this.id || newOwner < 0) {
        this.slow.receive(payload, { address: src, port: srcPort });
        return;
      }
    }
    this.outcomes.v[Outcome.SECOND_CHANCE_RETURNED]++;
    this.relay(payload, newOwner, EnvelopeFlag.SECOND_CHANCE | EnvelopeFlag.RETURNED, HOP_NORMAL, src, srcPort);
  }

  // ---- sending --------------------------------------------------------------------------

  /** SIP out of the VIP socket: the client sees the VIP as source (DSR). */
  private sendSip(buf: Buffer, dest: Destination): void {
    if (this.vipTransport !== undefined) {
      this.vipTransport.send(buf, dest);
      return;
    }
    // Answers to requests that came to the member's own address leave from it (LB probes).
    const fromOwn = dest.local !== undefined && this.self.sip !== undefined && dest.local === this.self.sip.host;
    if (this.nativeIo !== null) {
      const sock = fromOwn && this.nativeIo.sip !== null ? this.nativeIo.sip : this.nativeIo.vip;
      if (sock.send(buf, dest.port, dest.address) < 0) throw new Error(`send to ${dest.address}:${dest.port} failed`);
      return;
    }
    const s = fromOwn && this.sipSocket !== null ? this.sipSocket : this.vipSocket;
    if (s === null) throw new Error('VIP socket closed');
    s.send(buf, dest.port, dest.address);
  }

  private sendControl(to: number, kind: number, payload: Uint8Array): void {
    if (this.nativeIo !== null) {
      this.nativeIo.sendEnvelope(to, kind, payload);
      return;
    }
    const peer = this.peers.get(to);
    const sock = this.farmSocket;
    if (peer === undefined || sock === null) return;
    const h = newEnvelopeHeader();
    h.kind = kind;
    h.flags = 0;
    h.hop = HOP_NORMAL;
    h.origin = this.id;
    h.epoch = this.membership?.epoch >>> 0 || 0;
    h.family = 0;
    this.seq.stamp(h);
    sock.send(encodeEnvelope(h, payload, this.key), peer.address.port, peer.address.host);
  }

  private sendRpc(to: number, msg: RpcMessage): void {
    this.sendControl(to, EnvelopeKind.CONTROL, Buffer.from(JSON.stringify(msg), 'utf8'));
  }
}

/**
 * dgram's lookup for an unconnected send: an address literal (every SIP destination the
 * slow path computes) is used as it is, in the same tick. The default, dns.lookup, defers
 * each send to process.nextTick even for a literal — a cost per SIP message sent.
 */
function literalLookup(
  hostname: string,
  options: LookupOneOptions | number,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  const family = isIP(hostname);
  if (family !== 0) {
    callback(null, hostname, family);
    return;
  }
  dnsLookup(hostname, typeof options === 'number' ? { family: options } : options, callback);
}

function bindUdp(host: string, port: number, onMessage: (buf: Buffer, r: dgram.RemoteInfo) => void): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const type = host.includes(':') ? 'udp6' : 'udp4';
    const s = dgram.createSocket({ type, reuseAddr: false, lookup: literalLookup as NonNullable<dgram.SocketOptions['lookup']> });
    s.once('error', reject);
    s.on('message', onMessage);
    s.bind(port, host, () => {
      s.off('error', reject);
      // A send error on UDP (ICMP unreachable) must never take the member down.
      s.on('error', () => undefined);
      try {
        s.setRecvBufferSize(4 * 1024 * 1024);
        s.setSendBufferSize(4 * 1024 * 1024);
      } catch {
        /* capped by net.core.rmem_max: the kernel keeps its default */
      }
      resolve(s);
    });
  });
}

/**
 * An ephemeral UDP socket on `localHost` connected to host:port. `onError` hears its
 * asynchronous errors — on a connected socket, mostly ICMP unreachable while the peer's
 * port is closed (Linux reports it to the next recvmsg or send) — never fatal.
 */
function connectUdp(localHost: string, host: string, port: number, onError: (err: Error) => void): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    s.once('error', reject);
    s.bind(0, localHost, () => {
      s.connect(port, host, () => {
        s.off('error', reject);
        s.on('error', onError);
        try {
          s.setSendBufferSize(4 * 1024 * 1024);
        } catch {
          /* capped by net.core.wmem_max */
        }
        resolve(s);
      });
    });
  });
}
