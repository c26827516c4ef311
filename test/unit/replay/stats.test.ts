import { describe, expect, it } from 'vitest';
import { LatencyRecorder, formatReport, percentileSorted, percentiles } from '../../../src/replay/stats.js';
import { Pacer, packetsFor } from '../../../src/replay/pacing.js';

describe('percentiles (nearest rank)', () => {
  it('matches the textbook example', () => {
    // Nearest-rank on 15, 20, 35, 40, 50: p30 = 20, p40 = 20, p50 = 35, p100 = 50.
    const s = [15, 20, 35, 40, 50];
    expect(percentileSorted(s, 5)).toBe(15);
    expect(percentileSorted(s, 30)).toBe(20);
    expect(percentileSorted(s, 40)).toBe(20);
    expect(percentileSorted(s, 50)).toBe(35);
    expect(percentileSorted(s, 100)).toBe(50);
    expect(percentileSorted(s, 0)).toBe(15);
  });

  it('p99 of 1..1000 is 990, p99.9 is 999; unsorted input is sorted first', () => {
    const xs = Array.from({ length: 1000 }, (_, i) => 1000 - i);
    expect(percentiles(xs, [50, 99, 99.9, 100])).toEqual([500, 990, 999, 1000]);
  });

  it('is NaN with no samples and refuses p outside 0..100', () => {
    expect(percentileSorted([], 50)).toBeNaN();
    expect(() => percentileSorted([1], 101)).toThrow(RangeError);
  });

  it('LatencyRecorder grows past its first buffer and summarises', () => {
    const r = new LatencyRecorder();
    for (let i = 1; i <= 5000; i++) r.add(i / 10);
    const s = r.summary();
    expect(s.count).toBe(5000);
    expect(s.minMs).toBe(0.1);
    expect(s.maxMs).toBe(500);
    expect(s.p50Ms).toBe(250);
    expect(s.p99Ms).toBe(495);
    expect(s.meanMs).toBeCloseTo(250.05, 6);
  });

  it('formats a report with loss percentages', () => {
    const r = new LatencyRecorder();
    r.add(1);
    const text = formatReport({
      target: '127.0.0.1:5060', source: 'x', rateTarget: 100, rateAchieved: 99.5, durationS: 1, sent: 100, offered: 100,
      answered: 97, lost: 3, unmatched: 0, finals: { '2xx': 97 }, sendErrors: 0, latency: r.summary(), sourcePorts: 4,
    });
    expect(text).toMatch(/lost\s+3 \(3\.00%\)/);
    expect(text).toMatch(/answered\s+97 \(97\.00%\)/);
  });
});

describe('Pacer', () => {
  const S = 1_000_000_000; // start at t = 1 s, in ns

  it('releases packet k at start + k/rate', () => {
    const p = new Pacer(1000, S); // one per ms
    expect(p.due(S - 1)).toBe(0);
    expect(p.take(S)).toBe(1); // packet 0 at the start
    expect(p.take(S + 999_999)).toBe(0);
    expect(p.take(S + 1_000_000)).toBe(1);
    expect(p.nextDueNs()).toBe(S + 2_000_000);
    // A 10 ms stall: the backlog comes as one burst.
    expect(p.take(S + 11_500_000)).toBe(10);
    expect(p.sent).toBe(12);
  });

  it('keeps the long-run rate exact with coarse, jittery ticks', () => {
    const rate = 33_333;
    const p = new Pacer(rate, 0);
    let t = 0;
    let sent = 0;
    while (t < 2e9) {
      t += 1_000_000 + ((t / 7) % 900_000); // ticks of 1–1.9 ms
      sent += p.take(Math.min(t, 2e9 - 1));
    }
    expect(sent).toBe(packetsFor(rate, 2));
    expect(Math.abs(sent - rate * 2)).toBeLessThanOrEqual(1);
  });

  it('caps bursts and stops at the limit', () => {
    const p = new Pacer(1_000_000, 0, 100, 250);
    expect(p.take(1e9)).toBe(100);
    expect(p.take(1e9)).toBe(100);
    expect(p.take(1e9)).toBe(50);
    expect(p.take(2e9)).toBe(0);
    expect(p.done).toBe(true);
    expect(p.nextDueNs()).toBe(Infinity);
  });

  it('refuses nonsense rates', () => {
    expect(() => new Pacer(0, 0)).toThrow(RangeError);
    expect(() => new Pacer(Number.NaN, 0)).toThrow(RangeError);
  });
});
