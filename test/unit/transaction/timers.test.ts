import { describe, expect, it } from 'vitest';
import { FakeClock, systemClock } from '../../../src/sip/clock.js';
import {
  DEFAULT_TIMERS,
  nextCapped,
  nextTimerA,
  resolveTimers,
  timerD,
  timerI,
  timerJ,
  timerK,
} from '../../../src/sip/transaction/timers.js';

describe('timers derived from T1/T2/T4 (RFC 3261 Table 4, RFC 6026)', () => {
  it('UDP defaults match the RFC table', () => {
    const t = resolveTimers(DEFAULT_TIMERS, false);
    expect(t.retransmit).toBe(true);
    expect([t.A, t.B, t.D, t.E, t.F, t.G, t.H, t.I, t.J, t.K, t.L, t.M]).toEqual([
      500, 32_000, 32_000, 500, 32_000, 500, 32_000, 5000, 32_000, 5000, 32_000, 32_000,
    ]);
  });

  it('reliable transport: no retransmit timers, zero D/I/J/K, same B/F/H/L/M', () => {
    const t = resolveTimers(DEFAULT_TIMERS, true);
    expect(t.retransmit).toBe(false);
    expect([t.D, t.I, t.J, t.K]).toEqual([0, 0, 0, 0]);
    expect([t.B, t.F, t.H, t.L, t.M]).toEqual([32_000, 32_000, 32_000, 32_000, 32_000]);
  });

  it('everything scales with T1/T4 but Timer D keeps its 32 s floor on UDP', () => {
    const cfg = { t1: 100, t2: 400, t4: 1000 };
    const t = resolveTimers(cfg, false);
    expect([t.A, t.B, t.F, t.H, t.J, t.L, t.M, t.I, t.K]).toEqual([100, 6400, 6400, 6400, 6400, 6400, 6400, 1000, 1000]);
    expect(t.D).toBe(32_000);
    expect(timerD({ t1: 1000, t2: 4000, t4: 5000 }, false)).toBe(64_000);
    expect([timerD(cfg, true), timerI(cfg, true), timerJ(cfg, true), timerK(cfg, true)]).toEqual([0, 0, 0, 0]);
  });

  it('A doubles without cap, E/G double up to T2', () => {
    const a: number[] = [500];
    const e: number[] = [500];
    for (let i = 0; i < 5; i++) {
      a.push(nextTimerA(a[a.length - 1]));
      e.push(nextCapped(e[e.length - 1], DEFAULT_TIMERS));
    }
    expect(a).toEqual([500, 1000, 2000, 4000, 8000, 16000]);
    expect(e).toEqual([500, 1000, 2000, 4000, 4000, 4000]);
  });

  it('rejects nonsense configs', () => {
    expect(() => resolveTimers({ t1: 0, t2: 4000, t4: 5000 }, false)).toThrow(RangeError);
    expect(() => resolveTimers({ t1: 500, t2: 100, t4: 5000 }, false)).toThrow(RangeError);
  });
});

describe('FakeClock', () => {
  it('fires due timers in due order, ties in set order, including ones set while advancing', () => {
    const c = new FakeClock(1000);
    const log: string[] = [];
    c.setTimer(30, () => log.push(`b@${c.now()}`));
    c.setTimer(10, () => {
      log.push(`a@${c.now()}`);
      c.setTimer(5, () => log.push(`a2@${c.now()}`));
    });
    c.setTimer(30, () => log.push(`c@${c.now()}`));
    const late = c.setTimer(100, () => log.push('late'));
    c.advance(30);
    expect(log).toEqual(['a@1010', 'a2@1015', 'b@1030', 'c@1030']);
    expect(c.now()).toBe(1030);
    expect(c.pending()).toBe(1);
    c.clearTimer(late);
    c.clearTimer(late);
    c.advance(1000);
    expect(log).toHaveLength(4);
    expect(c.pending()).toBe(0);
    expect(() => c.advance(-1)).toThrow(RangeError);
  });

  it('advanceToNext jumps to the next timer', () => {
    const c = new FakeClock();
    let fired = 0;
    c.setTimer(250, () => fired++);
    expect(c.nextDue()).toBe(250);
    expect(c.advanceToNext()).toBe(true);
    expect([fired, c.now()]).toEqual([1, 250]);
    expect(c.advanceToNext()).toBe(false);
  });

  it('systemClock timers fire, can be cleared, and are monotonic', async () => {
    const t0 = systemClock.now();
    let cleared = false;
    const h = systemClock.setTimer(5, () => (cleared = true));
    systemClock.clearTimer(h);
    await new Promise<void>((resolve) => systemClock.setTimer(10, resolve));
    expect(cleared).toBe(false);
    expect(systemClock.now() - t0).toBeGreaterThanOrEqual(9);
  });
});
