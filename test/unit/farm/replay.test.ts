import { describe, expect, test } from 'vitest';
import { ReplayWindow, ReplayWindowError } from '../../../src/farm/replay.js';

describe('ReplayWindow', () => {
  test('accepts each seq once, in order', () => {
    const w = new ReplayWindow();
    for (let s = 0; s < 3000; s++) expect(w.check(1, 100, s)).toBe(true);
    expect(w.check(1, 100, 2999)).toBe(false);
    expect(w.position(1)).toEqual({ boot: 100, top: 2999 });
  });

  test('out of order within the window is accepted once; too old is refused', () => {
    const w = new ReplayWindow(1024);
    expect(w.check(2, 1, 5000)).toBe(true);
    expect(w.check(2, 1, 4990)).toBe(true);
    expect(w.check(2, 1, 4990)).toBe(false);
    expect(w.check(2, 1, 5000 - 1023)).toBe(true); // oldest slot still inside
    expect(w.check(2, 1, 5000 - 1024)).toBe(false); // just outside
    expect(w.check(2, 1, 0)).toBe(false);
    // A jump forward: the gap is fresh, what was seen stays seen, the oldest fall out.
    expect(w.check(2, 1, 5500)).toBe(true);
    expect(w.check(2, 1, 5500 - 1024)).toBe(false); // never seen, but now too old to tell
    expect(w.check(2, 1, 5001)).toBe(true);
    expect(w.check(2, 1, 4990)).toBe(false); // 5500 - 4990 = 510: inside, already seen
    expect(w.check(2, 1, 5499)).toBe(true);
    expect(w.check(2, 1, 5499)).toBe(false);
  });

  test('a slot reused after the window moves is fresh for the new seq', () => {
    const w = new ReplayWindow(32);
    for (let s = 0; s < 32; s++) expect(w.check(0, 1, s)).toBe(true);
    expect(w.check(0, 1, 40)).toBe(true); // clears slots of 32..40
    for (let s = 32; s < 40; s++) expect(w.check(0, 1, s)).toBe(true);
    expect(w.check(0, 1, 8)).toBe(false); // 40 - 8 = 32: out of the window
    expect(w.check(0, 1, 9)).toBe(false); // seen before the move, still inside the window
    expect(w.check(0, 1, 41)).toBe(true); // slot 9 now stands for 41: fresh
  });

  test('a jump of a whole window clears it', () => {
    const w = new ReplayWindow(64);
    for (let s = 0; s < 64; s++) w.check(3, 1, s);
    expect(w.check(3, 1, 1000)).toBe(true);
    for (let s = 1000 - 63; s < 1000; s++) expect(w.check(3, 1, s)).toBe(true);
  });

  test('higher boot resets the window; lower boot is refused', () => {
    const w = new ReplayWindow();
    expect(w.check(4, 1000, 500)).toBe(true);
    expect(w.check(4, 1001, 0)).toBe(true); // restarted
    expect(w.check(4, 1001, 1)).toBe(true);
    expect(w.check(4, 1001, 0)).toBe(false);
    expect(w.check(4, 1000, 501)).toBe(false); // the old instance
    expect(w.position(4)).toEqual({ boot: 1001, top: 1 });
  });

  test('origins are independent; reset forgets one', () => {
    const w = new ReplayWindow();
    expect(w.check(0, 1, 7)).toBe(true);
    expect(w.check(254, 1, 7)).toBe(true);
    expect(w.check(0, 1, 7)).toBe(false);
    w.reset(0);
    expect(w.position(0)).toBeNull();
    expect(w.check(0, 1, 7)).toBe(true);
    expect(w.check(254, 1, 7)).toBe(false);
  });

  test('u32 extremes', () => {
    const w = new ReplayWindow();
    expect(w.check(9, 0xffffffff, 0xffffffff)).toBe(true);
    expect(w.check(9, 0xffffffff, 0xfffffffe)).toBe(true);
    expect(w.check(9, 0xffffffff, 0xffffffff)).toBe(false);
  });

  test('window size must be a power of two in 32..65536', () => {
    expect(() => new ReplayWindow(1000)).toThrow(ReplayWindowError);
    expect(() => new ReplayWindow(16)).toThrow(ReplayWindowError);
    expect(new ReplayWindow(32).windowSize).toBe(32);
  });
});
