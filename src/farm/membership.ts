// Membership: who is alive, the epoch, the ring, and the second-chance grace.
//
// Liveness is by heartbeat on the farm channel (DESIGN "Membership"): every
// heartbeatIntervalMs each member sends a tiny payload to every other configured member
// and checks who has been silent for deadAfterMs. The ring is a pure function of the
// set of members that are alive and not draining, so members converge on the same
// table without any coordination (ring.ts). The epoch is a *local* counter of changes
// to the alive/draining view — two members with the same view may have different
// epochs; compare `viewHash` (carried in heartbeats) to tell whether views agree.
//
// A member we have never heard from is 'dead': we never relay to a member we have not
// heard (at start-up rings differ between members for up to one interval — accepted).
// Self is alive from construction until stop().
//
// Second chance: when the ring changes, the previous ring is kept for graceMs
// (default 64·T1 = 32 s, RFC 3261 §17.1.1.2 Timer B: the longest a transaction started
// under the old ring can still see retransmissions), then dropped. Only the ring
// immediately before the current one is kept: a second change within the grace replaces
// it and restarts the grace. A change of the alive/draining set that leaves the ring's
// member set unchanged (e.g. a draining member dies) bumps the epoch but keeps both the
// ring and the previous ring with its running grace.

import type { Clock } from '../sip/clock.js';
import { fmix32, fnv1a32 } from './hash.js';
import { DEFAULT_RING_SIZE, MAX_MEMBER_ID, MaglevRing } from './ring.js';

export type MemberState = 'alive' | 'draining' | 'dead';

type TimerHandle = ReturnType<Clock['setTimer']>;

// ---------------------------------------------------------------------------------
// Heartbeat payload (carried in an envelope of kind HEARTBEAT). 12 bytes, big-endian:
//
//   off len field
//     0   1 version   1
//     1   1 state     0 LEAVING (stopping: mark me dead now), 1 ALIVE, 2 DRAINING
//     2   1 sender    sender's member id (must match the envelope's origin)
//     3   1 reserved  0
//     4   4 epoch     sender's epoch (local counter; diagnostics)
//     8   4 view      sender's viewHash: fmix32(fnv1a32(sorted ring member id bytes))

export const HEARTBEAT_VERSION = 1;
export const HEARTBEAT_SIZE = 12;
export const HeartbeatState = { LEAVING: 0, ALIVE: 1, DRAINING: 2 } as const;

export interface Heartbeat {
  state: number;
  sender: number;
  epoch: number;
  view: number;
}

export function encodeHeartbeat(hb: Heartbeat): Uint8Array {
  const b = new Uint8Array(HEARTBEAT_SIZE);
  b[0] = HEARTBEAT_VERSION;
  b[1] = hb.state;
  b[2] = hb.sender;
  b[3] = 0;
  const dv = new DataView(b.buffer);
  dv.setUint32(4, hb.epoch >>> 0);
  dv.setUint32(8, hb.view >>> 0);
  return b;
}

/** Parse a heartbeat payload; null if malformed (wrong size, version, state or reserved byte). */
export function decodeHeartbeat(p: Uint8Array): Heartbeat | null {
  if (p.length !== HEARTBEAT_SIZE || p[0] !== HEARTBEAT_VERSION || p[3] !== 0) return null;
  if (p[1] > HeartbeatState.DRAINING || p[2] > MAX_MEMBER_ID) return null;
  const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
  return { state: p[1], sender: p[2], epoch: dv.getUint32(4), view: dv.getUint32(8) };
}

/** Hash of a ring's member set: equal on two members iff (barring collisions) their rings are equal. */
export function viewHashOf(memberIds: readonly number[]): number {
  const b = Uint8Array.from([...memberIds].sort((a, c) => a - c));
  return fmix32(fnv1a32(b, 0, b.length));
}

// ---------------------------------------------------------------------------------

export class MembershipError extends Error {
  constructor(
    readonly code: 'MEMBERSHIP_BAD_MEMBER' | 'MEMBERSHIP_BAD_OPTION',
    message: string,
  ) {
    super(message);
    this.name = 'MembershipError';
  }
}

export interface MembershipOptions {
  selfId: number;
  /** Configured members; self is added if missing. Ids 0..254, unique. */
  members: readonly { id: number }[];
  clock: Clock;
  heartbeatIntervalMs?: number;
  deadAfterMs?: number;
  graceMs?: number;
  /** Maglev table size (prime); default 65537. */
  ringSize?: number;
  /** Send a heartbeat payload to a member (wrap it in an envelope of kind HEARTBEAT). Each call gets its own array. */
  sendHeartbeat: (toId: number, payload: Uint8Array) => void;
  /** Same as on('change', fn). */
  onChange?: (epoch: number) => void;
}

export type MembershipEvent = 'change' | 'graceEnd';

const ST_DEAD = 0;
const ST_ALIVE = 1;
const ST_DRAINING = 2;
const STATE_NAMES: readonly MemberState[] = ['dead', 'alive', 'draining'];

export class Membership {
  readonly selfId: number;
  /** Configured member ids (self included), sorted. */
  readonly memberIds: readonly number[];
  readonly heartbeatIntervalMs: number;
  readonly deadAfterMs: number;
  readonly graceMs: number;
  readonly ringSize: number;

  private readonly clock: Clock;
  private readonly send: (toId: number, payload: Uint8Array) => void;
  private readonly configured = new Uint8Array(MAX_MEMBER_ID + 1);
  private readonly st = new Uint8Array(MAX_MEMBER_ID + 1);
  private readonly lastSeenAt = new Float64Array(MAX_MEMBER_ID + 1);
  private readonly peerView = new Uint32Array(MAX_MEMBER_ID + 1);
  private readonly peerEpoch = new Uint32Array(MAX_MEMBER_ID + 1);
  private selfDraining = false;
  private running = false;
  private stopped = false;
  private tickTimer: TimerHandle | null = null;
  private graceTimer: TimerHandle | null = null;
  private epochN = 0;
  private ringNow: MaglevRing;
  private ringPrev: MaglevRing | null = null;
  private view: number;
  private readonly excluding = new Map<number, MaglevRing>();
  private readonly listeners: Record<MembershipEvent, Array<(epoch: number) => void>> = { change: [], graceEnd: [] };

  constructor(opts: MembershipOptions) {
    const interval = opts.heartbeatIntervalMs ?? 200;
    const deadAfter = opts.deadAfterMs ?? 1000;
    const grace = opts.graceMs ?? 32000;
    for (const [name, v] of [['heartbeatIntervalMs', interval], ['deadAfterMs', deadAfter], ['graceMs', grace]] as const) {
      if (!Number.isFinite(v) || v <= 0) throw new MembershipError('MEMBERSHIP_BAD_OPTION', `${name} must be > 0, got ${v}`);
    }
    this.heartbeatIntervalMs = interval;
    this.deadAfterMs = deadAfter;
    this.graceMs = grace;
    this.ringSize = opts.ringSize ?? DEFAULT_RING_SIZE;
    this.clock = opts.clock;
    this.send = opts.sendHeartbeat;
    this.selfId = opts.selfId;
    const ids = new Set<number>();
    for (const m of [...opts.members, { id: opts.selfId }]) {
      if (!Number.isInteger(m.id) || m.id < 0 || m.id > MAX_MEMBER_ID) {
        throw new MembershipError('MEMBERSHIP_BAD_MEMBER', `member id ${m.id} is outside 0..${MAX_MEMBER_ID}`);
      }
      ids.add(m.id);
    }
    this.memberIds = Object.freeze([...ids].sort((a, b) => a - b));
    for (const id of ids) this.configured[id] = 1;
    this.st[this.selfId] = ST_ALIVE;
    this.lastSeenAt.fill(-Infinity);
    this.ringNow = MaglevRing.build(this.ringMemberIds(), this.ringSize); // throws RingError on a bad size
    this.view = viewHashOf(this.ringNow.members);
    if (opts.onChange) this.listeners.change.push(opts.onChange);
  }

  // -- lifecycle --------------------------------------------------------------------

  /** Start heartbeating (one immediately, then every interval) and timeout checks. */
  start(): void {
    if (this.running) return;
    this.running = true;
    if (this.stopped) {
      this.stopped = false;
      this.st[this.selfId] = this.selfDraining ? ST_DRAINING : ST_ALIVE;
      this.commit();
    }
    this.sendAll(this.selfDraining ? HeartbeatState.DRAINING : HeartbeatState.ALIVE);
    this.tickTimer = this.clock.setTimer(this.heartbeatIntervalMs, this.tick);
  }

  /**
   * Stop: tell the others we are leaving (so they need not wait deadAfterMs), cancel
   * every timer, mark self dead (a change: self leaves the ring) and drop prevRing.
   */
  stop(): void {
    if (this.stopped) return;
    if (this.running) this.sendAll(HeartbeatState.LEAVING);
    this.running = false;
    this.stopped = true;
    if (this.tickTimer !== null) this.clock.clearTimer(this.tickTimer);
    this.tickTimer = null;
    this.st[this.selfId] = ST_DEAD;
    this.commit();
    this.endGrace(false);
  }

  /** Self leaves (or rejoins) the ring for new keys; it stays alive for relays. */
  setDraining(on: boolean): void {
    if (this.selfDraining === on) return;
    this.selfDraining = on;
    if (this.stopped) return;
    this.st[this.selfId] = on ? ST_DRAINING : ST_ALIVE;
    this.commit();
    // Tell the others now rather than at the next tick: they stop sending us new keys sooner.
    if (this.running) this.sendAll(on ? HeartbeatState.DRAINING : HeartbeatState.ALIVE);
  }

  // -- input ------------------------------------------------------------------------

  /**
   * A heartbeat payload from member `fromId` (the envelope's authenticated origin).
   * Returns false (and changes nothing) for self, an unconfigured id, a malformed
   * payload or one whose sender byte disagrees with fromId, or after stop().
   */
  onHeartbeat(fromId: number, payload: Uint8Array): boolean {
    if (this.stopped || fromId === this.selfId || !(fromId >= 0 && fromId <= MAX_MEMBER_ID) || this.configured[fromId] === 0) {
      return false;
    }
    const hb = decodeHeartbeat(payload);
    if (hb === null || hb.sender !== fromId) return false;
    this.lastSeenAt[fromId] = this.clock.now();
    this.peerView[fromId] = hb.view;
    this.peerEpoch[fromId] = hb.epoch;
    const next = hb.state === HeartbeatState.DRAINING ? ST_DRAINING : hb.state === HeartbeatState.ALIVE ? ST_ALIVE : ST_DEAD;
    if (this.st[fromId] !== next) {
      this.st[fromId] = next;
      this.commit();
    }
    return true;
  }

  // -- queries ----------------------------------------------------------------------

  get epoch(): number {
    return this.epochN;
  }

  /** Ring over members alive and not draining (self included unless draining/stopped). */
  get ring(): MaglevRing {
    return this.ringNow;
  }

  /** The ring before the last ring change, during its grace; else null. */
  get prevRing(): MaglevRing | null {
    return this.ringPrev;
  }

  /** viewHashOf(ring.members): what our heartbeats report as `view`. */
  get viewHash(): number {
    return this.view;
  }

  state(id: number): MemberState {
    if (!(id >= 0 && id <= MAX_MEMBER_ID) || this.configured[id] === 0) return 'dead';
    return STATE_NAMES[this.st[id]];
  }

  /** Alive or draining: may be relayed to. */
  isAlive(id: number): boolean {
    return id >= 0 && id <= MAX_MEMBER_ID && this.st[id] !== ST_DEAD && this.configured[id] === 1;
  }

  /** Ids that are alive or draining, sorted. */
  liveMembers(): number[] {
    return this.memberIds.filter((id) => this.st[id] !== ST_DEAD);
  }

  /** Clock time of the last accepted heartbeat from `id` (-Infinity if none). */
  lastSeen(id: number): number {
    return this.lastSeenAt[id] ?? -Infinity;
  }

  /** The view hash and epoch `id` last reported, or null if never heard. */
  peerReport(id: number): { view: number; epoch: number } | null {
    if (this.lastSeen(id) === -Infinity) return null;
    return { view: this.peerView[id], epoch: this.peerEpoch[id] };
  }

  /** True if every other alive/draining member last reported our viewHash. */
  isConverged(): boolean {
    for (const id of this.memberIds) {
      if (id === this.selfId || this.st[id] === ST_DEAD) continue;
      if (this.peerView[id] !== this.view) return false;
    }
    return true;
  }

  ownerOf(hash: number): number {
    return this.ringNow.lookup(hash);
  }

  /** Owner under the previous ring while it is in grace; -1 otherwise. */
  prevOwnerOf(hash: number): number {
    return this.ringPrev === null ? -1 : this.ringPrev.lookup(hash);
  }

  /**
   * The ring over the current ring's members minus `id` (the ring itself if `id` is not
   * a member), cached until the ring changes. Registrar replica of a key whose home is
   * h = ring.lookup(k): ringExcluding(h).lookup(k) — which is exactly who owns k once
   * the home dies, because the ring is a pure function of the member set.
   */
  ringExcluding(id: number): MaglevRing {
    if (!this.ringNow.has(id)) return this.ringNow;
    let r = this.excluding.get(id);
    if (r === undefined) {
      r = MaglevRing.build(
        this.ringNow.members.filter((m) => m !== id),
        this.ringSize,
      );
      this.excluding.set(id, r);
    }
    return r;
  }

  on(event: MembershipEvent, fn: (epoch: number) => void): void {
    this.listeners[event].push(fn);
  }

  off(event: MembershipEvent, fn: (epoch: number) => void): void {
    const l = this.listeners[event];
    const i = l.indexOf(fn);
    if (i >= 0) l.splice(i, 1);
  }

  // -- internals --------------------------------------------------------------------

  private readonly tick = (): void => {
    this.tickTimer = null;
    if (!this.running) return;
    this.sendAll(this.selfDraining ? HeartbeatState.DRAINING : HeartbeatState.ALIVE);
    // All deaths found in one tick make one epoch change.
    const now = this.clock.now();
    let changed = false;
    for (const id of this.memberIds) {
      if (id === this.selfId || this.st[id] === ST_DEAD) continue;
      if (now - this.lastSeenAt[id] >= this.deadAfterMs) {
        this.st[id] = ST_DEAD;
        changed = true;
      }
    }
    if (changed) this.commit();
    if (this.running) this.tickTimer = this.clock.setTimer(this.heartbeatIntervalMs, this.tick);
  };

  private sendAll(state: number): void {
    for (const id of this.memberIds) {
      if (id === this.selfId) continue;
      this.send(id, encodeHeartbeat({ state, sender: this.selfId, epoch: this.epochN, view: this.view }));
    }
  }

  private ringMemberIds(): number[] {
    return this.memberIds.filter((id) => this.st[id] === ST_ALIVE);
  }

  /** The alive/draining view changed: new epoch; new ring if its member set changed. */
  private commit(): void {
    this.epochN = (this.epochN + 1) >>> 0;
    const ids = this.ringMemberIds();
    const cur = this.ringNow.members;
    const same = ids.length === cur.length && ids.every((v, i) => v === cur[i]);
    if (!same) {
      this.ringPrev = this.ringNow;
      this.ringNow = MaglevRing.build(ids, this.ringSize);
      this.view = viewHashOf(ids);
      this.excluding.clear();
      if (this.graceTimer !== null) this.clock.clearTimer(this.graceTimer);
      this.graceTimer = this.clock.setTimer(this.graceMs, () => {
        this.graceTimer = null;
        this.endGrace(true);
      });
    }
    const epoch = this.epochN;
    for (const fn of [...this.listeners.change]) fn(epoch);
  }

  private endGrace(notify: boolean): void {
    if (this.graceTimer !== null) this.clock.clearTimer(this.graceTimer);
    this.graceTimer = null;
    const had = this.ringPrev !== null;
    this.ringPrev = null;
    if (notify && had) for (const fn of [...this.listeners.graceEnd]) fn(this.epochN);
  }
}
