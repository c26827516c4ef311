/**
 * Open-loop rate pacing: packet k (0-based) is due at start + k/rate. The sender asks how
 * many are due now and sends them as one burst, so the offered rate stays exact on average
 * even though timers fire only every millisecond or so; a burst cap keeps a stalled
 * process from dumping a backlog all at once (it catches up over the next ticks instead).
 * Times are nanoseconds as plain numbers (2^53 ns ≈ 104 days: enough for any run).
 */
export class Pacer {
  /** Packets handed out so far. */
  sent = 0;
  readonly intervalNs: number;

  constructor(
    readonly rate: number,
    readonly startNs: number,
    readonly maxBurst = Number.POSITIVE_INFINITY,
    readonly limit = Number.POSITIVE_INFINITY,
  ) {
    if (!(rate > 0) || !Number.isFinite(rate)) throw new RangeError(`rate must be a positive number, not ${rate}`);
    if (!(maxBurst >= 1)) throw new RangeError('maxBurst must be at least 1');
    this.intervalNs = 1e9 / rate;
  }

  /** Packets due by `nowNs` and not yet taken (0 before the start). */
  due(nowNs: number): number {
    if (nowNs < this.startNs) return 0;
    // k packets are due when start + (k-1)·interval <= now: packet 0 goes at the start.
    const total = Math.min(this.limit, Math.floor(((nowNs - this.startNs) * this.rate) / 1e9) + 1);
    return Math.max(0, Math.min(total - this.sent, this.maxBurst));
  }

  /** Take up to `due(now)` packets; returns how many the caller must send now. */
  take(nowNs: number): number {
    const n = this.due(nowNs);
    this.sent += n;
    return n;
  }

  /** When the next packet is due (ns), or Infinity once `limit` packets were handed out. */
  nextDueNs(): number {
    if (this.sent >= this.limit) return Number.POSITIVE_INFINITY;
    return this.startNs + this.sent * this.intervalNs;
  }

  get done(): boolean {
    return this.sent >= this.limit;
  }
}

/** Packets a run of `seconds` at `rate` sends (the first at t=0, the last before `seconds`). */
export function packetsFor(rate: number, seconds: number): number {
  return Math.ceil(rate * seconds - 1e-9);
}
