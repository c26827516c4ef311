// Time source for everything that waits: transaction timers, heartbeats, grace periods.
// Code takes a Clock instead of calling setTimeout directly so that tests can drive
// RFC 3261 timers (up to 64·T1 = 32 s) deterministically with FakeClock in microseconds.

import { performance } from 'node:perf_hooks';

/** Opaque handle returned by Clock.setTimer. */
export type TimerHandle = object;

export interface Clock {
  /** Monotonic milliseconds (not wall-clock time). */
  now(): number;
  /** Call fn once, ms milliseconds from now (ms < 0 is treated as 0). */
  setTimer(ms: number, fn: () => void): TimerHandle;
  /**
   * Call fn(arg) once, ms milliseconds from now. Lets a long-lived object pass a shared
   * function and itself instead of allocating a closure per timer (the transaction
   * layer sets one per transaction).
   */
  setTimer<T>(ms: number, fn: (arg: T) => void, arg: T): TimerHandle;
  /** Cancel a timer; cancelling a fired or already cancelled timer is a no-op. */
  clearTimer(h: TimerHandle): void;
}

/**
 * Real clock. Timers are unref'd: a pending SIP timer (Timer D, J, L, …) must never
 * keep the process alive on its own — the sockets do that.
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer(ms: number, fn: (arg?: unknown) => void, arg?: unknown): TimerHandle {
    const t = setTimeout(fn, Math.max(0, ms), arg);
    t.unref();
    return t;
  },
  clearTimer(h: TimerHandle): void {
    clearTimeout(h as ReturnType<typeof setTimeout>);
  },
};

interface FakeTimer {
  due: number;
  seq: number;
  fn: ((arg?: unknown) => void) | null; // null once fired or cancelled
  arg: unknown;
}

/**
 * Deterministic clock for tests. Time moves only through advance(); due timers fire in
 * order of due time, ties in the order they were set. A timer set by a callback while
 * advancing fires in the same advance() if it falls due within it.
 */
export class FakeClock implements Clock {
  private t: number;
  private seq = 0;
  private timers: FakeTimer[] = [];

  constructor(start = 0) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimer(ms: number, fn: (arg?: unknown) => void, arg?: unknown): TimerHandle {
    const timer: FakeTimer = { due: this.t + Math.max(0, ms), seq: this.seq++, fn, arg };
    this.timers.push(timer);
    return timer;
  }

  clearTimer(h: TimerHandle): void {
    const timer = h as FakeTimer;
    if (timer.fn === null) return;
    timer.fn = null;
    const i = this.timers.indexOf(timer);
    if (i >= 0) this.timers.splice(i, 1);
  }

  /** Move time forward by ms, firing every timer that falls due on the way. */
  advance(ms: number): void {
    if (ms < 0) throw new RangeError('FakeClock cannot go back in time');
    const target = this.t + ms;
    for (;;) {
      const next = this.earliest();
      if (next === undefined || next.due > target) break;
      this.timers.splice(this.timers.indexOf(next), 1);
      this.t = next.due;
      const fn = next.fn;
      next.fn = null;
      if (fn) fn(next.arg);
    }
    this.t = target;
  }

  /** Advance to the next due timer and fire it (and any due at the same instant). Returns false if none is pending. */
  advanceToNext(): boolean {
    const next = this.earliest();
    if (next === undefined) return false;
    this.advance(next.due - this.t);
    return true;
  }

  /** Number of timers set and not yet fired or cancelled. */
  pending(): number {
    return this.timers.length;
  }

  /** Due time of the earliest pending timer, or undefined. */
  nextDue(): number | undefined {
    return this.earliest()?.due;
  }

  private earliest(): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const tm of this.timers) {
      if (best === undefined || tm.due < best.due || (tm.due === best.due && tm.seq < best.seq)) best = tm;
    }
    return best;
  }
}
