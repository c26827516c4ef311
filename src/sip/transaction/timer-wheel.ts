// One coarse timer for all the long transaction timers (B, D, F, H, I, J, K, L, M).
//
// Why: on a busy proxy every transaction holds one of these for 5–32 s, and most of them
// expire rather than being cancelled. A setTimeout each (Timeout object, closures, a Map
// of handles) was a measurable share of the slow path's garbage. RFC 3261 timers are
// lower bounds (§17: "fires after"), so firing a little late is allowed; firing early
// never happens here.
//
// How: timers of one duration are set in due order (the clock is monotonic), so each
// duration gets a FIFO lane — a doubly linked list threaded through the transactions
// themselves (no allocation per timer, O(1) cancel). One clock timer drives all lanes;
// it is armed for the earliest head rounded up to the granularity, so with G = 100 ms a
// layer wakes at most ~10 times a second however many timers expire.

import type { Clock, TimerHandle } from '../clock.js';

/** What the wheel threads through: the transaction carries its own links. */
export interface WheelEntry {
  /** Due time (clock ms). @internal */
  wheelDue: number;
  /** @internal */
  wheelPrev: WheelEntry | null;
  /** @internal */
  wheelNext: WheelEntry | null;
  /** The lane the entry is in, null when not scheduled. @internal */
  wheelLane: WheelLane | null;
  /** Called when the entry falls due (already unlinked). */
  onWheelTimer(): void;
}

/** @internal */
export class WheelLane {
  head: WheelEntry | null = null;
  tail: WheelEntry | null = null;
  constructor(readonly ms: number) {}
}

/** Default granularity: RFC timers are lower bounds; 100 ms is far below T1 = 500 ms. */
export const DEFAULT_TIMER_GRANULARITY_MS = 100;

export class TimerWheel {
  private readonly lanes: WheelLane[] = [];
  private count = 0;
  private handle: TimerHandle | undefined;
  /** Clock time the driver is armed for (valid while handle is set). */
  private armedFor = 0;
  /** True while run() fires entries: they may schedule more; run() re-arms once at the end. */
  private running = false;
  private readonly fire = (): void => this.run();

  /** granularityMs ≤ 1 fires each timer at its exact due time (tests assert RFC schedules that way). */
  constructor(
    private readonly clock: Clock,
    readonly granularityMs: number = DEFAULT_TIMER_GRANULARITY_MS,
  ) {}

  /** Scheduled entries. */
  get size(): number {
    return this.count;
  }

  /** Schedule e to fire no earlier than ms from now (ms > 0). Reschedules if already set. */
  schedule(e: WheelEntry, ms: number): void {
    if (e.wheelLane !== null) this.unlink(e);
    const lane = this.lane(ms);
    e.wheelDue = this.clock.now() + ms;
    // Append: same duration + monotonic clock = due order. A clock that stood still
    // gives equal due times, still in order.
    e.wheelPrev = lane.tail;
    e.wheelNext = null;
    if (lane.tail === null) lane.head = e;
    else lane.tail.wheelNext = e;
    lane.tail = e;
    e.wheelLane = lane;
    this.count++;
    const at = this.slot(e.wheelDue);
    if (!this.running && (this.handle === undefined || at < this.armedFor)) this.arm(at);
  }

  /** Unschedule e; a no-op if it is not scheduled. */
  cancel(e: WheelEntry): void {
    if (e.wheelLane === null) return;
    this.unlink(e);
    // An empty wheel holds no clock timer (tests count pending timers; a process keeps none).
    if (this.count === 0 && this.handle !== undefined && !this.running) {
      this.clock.clearTimer(this.handle);
      this.handle = undefined;
    }
  }

  /** Drop everything without firing. */
  clear(): void {
    for (const lane of this.lanes) {
      for (let e = lane.head; e !== null; ) {
        const next: WheelEntry | null = e.wheelNext;
        e.wheelPrev = e.wheelNext = null;
        e.wheelLane = null;
        e = next;
      }
      lane.head = lane.tail = null;
    }
    this.count = 0;
    if (this.handle !== undefined) this.clock.clearTimer(this.handle);
    this.handle = undefined;
  }

  private run(): void {
    this.handle = undefined;
    const now = this.clock.now();
    this.running = true;
    try {
      this.fireDue(now);
    } finally {
      this.running = false;
    }
    let next = Infinity;
    for (const lane of this.lanes) if (lane.head !== null && lane.head.wheelDue < next) next = lane.head.wheelDue;
    if (next !== Infinity) this.arm(this.slot(next));
  }

  private fireDue(now: number): void {
    for (;;) {
      // Earliest head among the lanes (a handful: 64·T1, T4, Timer D).
      let best: WheelLane | null = null;
      for (const lane of this.lanes) {
        const h = lane.head;
        if (h !== null && h.wheelDue <= now && (best === null || h.wheelDue < best.head!.wheelDue)) best = lane;
      }
      if (best === null) break;
      const e = best.head!;
      this.unlink(e);
      e.onWheelTimer();
    }
  }

  private arm(at: number): void {
    if (this.handle !== undefined) this.clock.clearTimer(this.handle);
    this.armedFor = at;
    this.handle = this.clock.setTimer(at - this.clock.now(), this.fire);
  }

  /** The driver tick a due time falls in: rounded up, never early. */
  private slot(due: number): number {
    const g = this.granularityMs;
    return g <= 1 ? due : Math.ceil(due / g) * g;
  }

  private lane(ms: number): WheelLane {
    for (const lane of this.lanes) if (lane.ms === ms) return lane;
    const lane = new WheelLane(ms);
    this.lanes.push(lane);
    return lane;
  }

  private unlink(e: WheelEntry): void {
    const lane = e.wheelLane!;
    if (e.wheelPrev === null) lane.head = e.wheelNext;
    else e.wheelPrev.wheelNext = e.wheelNext;
    if (e.wheelNext === null) lane.tail = e.wheelPrev;
    else e.wheelNext.wheelPrev = e.wheelPrev;
    e.wheelPrev = e.wheelNext = null;
    e.wheelLane = null;
    this.count--;
  }
}
