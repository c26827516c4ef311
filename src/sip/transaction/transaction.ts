// What the four RFC 3261 §17 state machines share: named timers, guarded sends and the
// one-way trip to Terminated. The state machines themselves live in
// invite-client.ts, non-invite-client.ts, invite-server.ts, non-invite-server.ts.

import type { Clock, TimerHandle } from '../clock.js';
import type { SipMessage } from '../message.js';
import type { TransactionStats } from './stats.js';
import type { TimerWheel, WheelEntry, WheelLane } from './timer-wheel.js';
import { detachString } from './key.js';
import type { ResolvedTimers } from './timers.js';
import type { Destination, SendFn } from './transport.js';
import type { TransactionUser } from './user.js';

/** Timer names as in RFC 3261 §17 / RFC 6026; 'Trying' is the 200 ms 100-Trying timer of §17.2.1. */
export type TimerName = 'A' | 'B' | 'D' | 'E' | 'F' | 'G' | 'H' | 'I' | 'J' | 'K' | 'L' | 'M' | 'Trying';

/**
 * The timers that run for seconds (64·T1, T4, Timer D) go on the layer's coarse TimerWheel;
 * A/E/G (retransmissions, exact doubling schedule) and Trying (200 ms) stay on the clock.
 * Each state runs at most one of each kind at a time (e.g. A+B in Calling, G+H in
 * Completed), so a transaction needs one slot of each kind, never a map.
 */
function isLong(name: TimerName): boolean {
  return name !== 'A' && name !== 'E' && name !== 'G' && name !== 'Trying';
}

/** Why a transaction reached Terminated. */
export type TerminationReason =
  | 'normal' // the RFC path: Timer D/I/J/K/L/M fired, or a zero timer on a reliable transport
  | 'timeout' // Timer B/F (client) or Timer H (server, ACK never came)
  | 'transport-error' // SendFn threw (§17.1.4, §17.2.4)
  | 'terminated-by-tu' // tx.terminate() (e.g. §9.1: no final response 64·T1 after CANCEL)
  | 'shutdown'; // TransactionLayer.shutdown()

/** Shared by every transaction of one layer. */
export interface TransactionContext {
  readonly clock: Clock;
  readonly send: SendFn;
  readonly timers: ResolvedTimers;
  readonly stats: TransactionStats;
  /** Where the long timers go. */
  readonly wheel: TimerWheel;
  /** Delay before an INVITE server transaction sends 100 Trying itself; 0 = never (§17.2.1). */
  readonly autoTryingMs: number;
  /** The TU, read at call time (the layer lets it be replaced). */
  readonly tu: TransactionUser;
  /** Called exactly once when a transaction reaches Terminated: the layer forgets it. */
  removed(tx: Transaction<string>): void;
}

function fireShortTimer(tx: Transaction<string>): void {
  tx.fireShort();
}

export abstract class Transaction<S extends string> implements WheelEntry {
  /** The request method (for a server transaction created by ACK this never happens: ACK creates none). */
  readonly method: string;
  readonly callId: string;
  /** Clock time of creation (ms, ctx.clock). */
  readonly createdAt: number;
  /**
   * Map key the layer files this transaction under: detached (detachString) by the
   * layer before its first lookup, so the Map hashes one string once.
   */
  readonly key: string;
  protected readonly ctx: TransactionContext;
  protected current: S;
  /** Dropped (undefined) once the state machine no longer needs it: see `request`. */
  protected req: SipMessage | undefined;
  private reason: TerminationReason | undefined;
  // One short timer (clock) and one long timer (wheel) at a time; see isLong().
  private shortName: TimerName | undefined = undefined;
  private shortHandle: TimerHandle | undefined = undefined;
  private longName: TimerName | undefined = undefined;
  /** @internal TimerWheel links */
  wheelDue = 0;
  /** @internal */
  wheelPrev: WheelEntry | null = null;
  /** @internal */
  wheelNext: WheelEntry | null = null;
  /** @internal */
  wheelLane: WheelLane | null = null;

  protected constructor(ctx: TransactionContext, request: SipMessage, key: string, initial: S) {
    this.ctx = ctx;
    this.req = request;
    this.method = request.method;
    this.callId = detachString(request.callId());
    this.createdAt = ctx.clock.now();
    this.key = key;
    this.current = initial;
  }

  /**
   * The request that created the transaction — until the state machine no longer needs
   * it: a transaction lives up to 64·T1 after its final response, and holding every
   * parsed message that long was most of the slow path's GC work. Server: released
   * once a final response was sent. Client: released once a final response arrived
   * (the INVITE's non-2xx ACK is built first). Undefined afterwards.
   */
  get request(): SipMessage | undefined {
    return this.req;
  }

  /** Current state, named as in the RFC 3261 §17 figures (plus RFC 6026 'Accepted'). */
  get state(): S {
    return this.current;
  }

  get terminated(): boolean {
    return this.reason !== undefined;
  }

  /** Set once Terminated. */
  get terminationReason(): TerminationReason | undefined {
    return this.reason;
  }

  /** Pending timers by name — for tests and debugging. */
  activeTimers(): TimerName[] {
    const out: TimerName[] = [];
    if (this.shortName !== undefined) out.push(this.shortName);
    if (this.longName !== undefined) out.push(this.longName);
    return out;
  }

  /** A timer set with startTimer fell due (never called once Terminated). */
  protected abstract onTimer(name: TimerName): void;

  /** (Re)start a named timer; it replaces a running one of the same kind (short/long). */
  protected startTimer(name: TimerName, ms: number): void {
    if (isLong(name)) {
      this.longName = name;
      this.ctx.wheel.schedule(this, ms);
      return;
    }
    if (this.shortHandle !== undefined) this.ctx.clock.clearTimer(this.shortHandle);
    this.shortName = name;
    // One shared function and the transaction as its argument: no closure per timer.
    this.shortHandle = this.ctx.clock.setTimer(ms, fireShortTimer, this);
  }

  protected stopTimer(name: TimerName): void {
    if (this.longName === name) {
      this.longName = undefined;
      this.ctx.wheel.cancel(this);
    } else if (this.shortName === name) {
      this.shortName = undefined;
      if (this.shortHandle !== undefined) this.ctx.clock.clearTimer(this.shortHandle);
      this.shortHandle = undefined;
    }
  }

  /** @internal called by TimerWheel */
  onWheelTimer(): void {
    const name = this.longName;
    this.longName = undefined;
    if (name !== undefined && !this.terminated) this.onTimer(name);
  }

  /** @internal via fireShortTimer */
  fireShort(): void {
    const name = this.shortName;
    this.shortName = undefined;
    this.shortHandle = undefined;
    if (name !== undefined && !this.terminated) this.onTimer(name);
  }

  /** Send one datagram; a throw from the transport is returned, never rethrown. */
  protected transmit(buf: Buffer, dest: Destination): unknown {
    try {
      this.ctx.send(buf, dest);
      return undefined;
    } catch (err) {
      this.ctx.stats.transportErrors++;
      return err ?? new Error('transport error');
    }
  }

  /**
   * The one way into Terminated: stop every timer, leave the layer's maps, then let the
   * subclass notify its owner. Idempotent.
   */
  protected toTerminated(reason: TerminationReason, state: S): boolean {
    if (this.reason !== undefined) return false;
    this.reason = reason;
    this.current = state;
    if (this.shortName !== undefined) this.stopTimer(this.shortName);
    if (this.longName !== undefined) this.stopTimer(this.longName);
    this.req = undefined;
    this.ctx.removed(this);
    return true;
  }

  /**
   * Leave without notifying anyone: used by TransactionLayer.shutdown().
   * @internal
   */
  abstract kill(): void;
}
