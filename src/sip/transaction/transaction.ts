// What the four RFC 3261 §17 state machines share: named timers, guarded sends and the
// one-way trip to Terminated. The state machines themselves live in
// invite-client.ts, non-invite-client.ts, invite-server.ts, non-invite-server.ts.

import type { Clock, TimerHandle } from '../clock.js';
import type { SipMessage } from '../message.js';
import type { TransactionStats } from './stats.js';
import type { ResolvedTimers } from './timers.js';
import type { Destination, SendFn } from './transport.js';
import type { TransactionUser } from './user.js';

/** Timer names as in RFC 3261 §17 / RFC 6026; 'Trying' is the 200 ms 100-Trying timer of §17.2.1. */
export type TimerName = 'A' | 'B' | 'D' | 'E' | 'F' | 'G' | 'H' | 'I' | 'J' | 'K' | 'L' | 'M' | 'Trying';

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
  /** Delay before an INVITE server transaction sends 100 Trying itself; 0 = never (§17.2.1). */
  readonly autoTryingMs: number;
  /** The TU, read at call time (the layer lets it be replaced). */
  readonly tu: TransactionUser;
  /** Called exactly once when a transaction reaches Terminated: the layer forgets it. */
  removed(tx: Transaction<string>): void;
}

export abstract class Transaction<S extends string> {
  /** The request that created the transaction. */
  readonly request: SipMessage;
  /** The request method (for a server transaction created by ACK this never happens: ACK creates none). */
  readonly method: string;
  readonly callId: string;
  /** Clock time of creation (ms, ctx.clock). */
  readonly createdAt: number;
  /** Map key the layer files this transaction under. */
  readonly key: string;
  protected readonly ctx: TransactionContext;
  protected current: S;
  private reason: TerminationReason | undefined;
  private readonly timerHandles = new Map<TimerName, TimerHandle>();

  protected constructor(ctx: TransactionContext, request: SipMessage, key: string, initial: S) {
    this.ctx = ctx;
    this.request = request;
    this.method = request.method;
    this.callId = request.callId();
    this.createdAt = ctx.clock.now();
    this.key = key;
    this.current = initial;
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
    return [...this.timerHandles.keys()];
  }

  protected startTimer(name: TimerName, ms: number, fn: () => void): void {
    this.stopTimer(name);
    const h = this.ctx.clock.setTimer(ms, () => {
      this.timerHandles.delete(name);
      if (!this.terminated) fn();
    });
    this.timerHandles.set(name, h);
  }

  protected stopTimer(name: TimerName): void {
    const h = this.timerHandles.get(name);
    if (h !== undefined) {
      this.ctx.clock.clearTimer(h);
      this.timerHandles.delete(name);
    }
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
    for (const h of this.timerHandles.values()) this.ctx.clock.clearTimer(h);
    this.timerHandles.clear();
    this.ctx.removed(this);
    return true;
  }

  /**
   * Leave without notifying anyone: used by TransactionLayer.shutdown().
   * @internal
   */
  abstract kill(): void;
}
