/**
 * Latency and outcome statistics for the replayer (and the benchmark's TS side).
 *
 * Percentiles use the nearest-rank method (the smallest sample with at least p% of the
 * samples at or below it): every reported value is a latency that was really observed,
 * p100 is the maximum and p0 is the minimum.
 */

/** Nearest-rank percentile of samples sorted ascending; NaN when there are none. */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile ${p} is outside 0..100`);
  if (p === 0) return sorted[0];
  // The epsilon keeps 99.9% of 1000 at rank 999 despite binary floating point (0.999 * 1000 > 999).
  const rank = Math.ceil((p / 100) * n - 1e-9);
  return sorted[Math.min(n, Math.max(1, rank)) - 1];
}

/** Percentiles of unsorted samples (sorts a copy). */
export function percentiles(samples: ArrayLike<number>, ps: readonly number[]): number[] {
  const s = Float64Array.from(samples as ArrayLike<number>).sort();
  return ps.map((p) => percentileSorted(s, p));
}

/** Growable store of latency samples (milliseconds), cheap to append at load rates. */
export class LatencyRecorder {
  private buf = new Float64Array(1024);
  private n = 0;

  add(ms: number): void {
    if (this.n === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.n++] = ms;
  }

  get count(): number {
    return this.n;
  }

  summary(): LatencySummary {
    const s = this.buf.slice(0, this.n).sort();
    let sum = 0;
    for (let i = 0; i < s.length; i++) sum += s[i];
    return {
      count: this.n,
      minMs: this.n ? s[0] : NaN,
      meanMs: this.n ? sum / this.n : NaN,
      p50Ms: percentileSorted(s, 50),
      p90Ms: percentileSorted(s, 90),
      p99Ms: percentileSorted(s, 99),
      p999Ms: percentileSorted(s, 99.9),
      maxMs: this.n ? s[this.n - 1] : NaN,
    };
  }
}

export interface LatencySummary {
  count: number;
  minMs: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

/** What one replay run reports (the JSON of `sipfarm replay --json`). */
export interface ReplayReport {
  target: string;
  source: string;
  rateTarget: number;
  /** Requests actually sent per second over the sending period. */
  rateAchieved: number;
  durationS: number;
  /** Datagrams sent (requests, ACKs included). */
  sent: number;
  /** Requests that expect a response (everything but ACK). */
  offered: number;
  /** Offered requests with at least one matching response. */
  answered: number;
  /** Offered requests with no response by the end of the drain time. */
  lost: number;
  /** Responses that matched no outstanding request (late after drain, duplicates, retransmissions). */
  unmatched: number;
  /** First final response per request, by class ("2xx", "4xx", ...). */
  finals: Record<string, number>;
  sendErrors: number;
  /** Request → first matching response (provisional or final). */
  latency: LatencySummary;
  sourcePorts: number;
  skipped?: Record<string, number>;
}

function num(v: number, digits: number): string {
  return Number.isFinite(v) ? v.toFixed(digits) : '-';
}

/** The human table for a report. */
export function formatReport(r: ReplayReport): string {
  const pct = (a: number): string => (r.offered ? ((100 * a) / r.offered).toFixed(2) + '%' : '-');
  const l = r.latency;
  const rows: Array<[string, string]> = [
    ['target', r.target],
    ['source', r.source],
    ['rate (target / achieved)', `${r.rateTarget}/s / ${num(r.rateAchieved, 1)}/s`],
    ['duration', `${num(r.durationS, 2)} s from ${r.sourcePorts} source port(s)`],
    ['sent datagrams', String(r.sent)],
    ['offered requests', String(r.offered)],
    ['answered', `${r.answered} (${pct(r.answered)})`],
    ['lost', `${r.lost} (${pct(r.lost)})`],
    ['final responses', Object.entries(r.finals).map(([k, v]) => `${k} ${v}`).join(', ') || '-'],
    ['unmatched responses', String(r.unmatched)],
    ['send errors', String(r.sendErrors)],
    ['latency ms p50 / p90 / p99 / p99.9 / max', `${num(l.p50Ms, 3)} / ${num(l.p90Ms, 3)} / ${num(l.p99Ms, 3)} / ${num(l.p999Ms, 3)} / ${num(l.maxMs, 3)}`],
  ];
  if (r.skipped) {
    const s = Object.entries(r.skipped).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`).join(', ');
    rows.push(['capture frames skipped', s || 'none']);
  }
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}
