import { describe, expect, test } from 'vitest';
import { fnv1a32, keyHashString } from '../../../src/farm/hash.js';
import { MaglevRing, RING_EMPTY, RingError, ringOffset, ringSkip } from '../../../src/farm/ring.js';

// 100 000 keys shaped like Call-IDs; fixed so the figures are reproducible.
const KEYS = 100_000;
const hashes = new Uint32Array(KEYS);
for (let i = 0; i < KEYS; i++) hashes[i] = keyHashString(`${(i * 2654435761) >>> 0}-${i}@198.51.100.${i % 250}`);

function moved(a: (h: number) => number, b: (h: number) => number): number {
  let n = 0;
  for (let i = 0; i < KEYS; i++) if (a(hashes[i]) !== b(hashes[i])) n++;
  return n / KEYS;
}

const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => i + from);

describe('MaglevRing', () => {
  test('is a pure function of the member set: order and duplicates do not matter', () => {
    const a = MaglevRing.build([3, 1, 7, 2]);
    const b = MaglevRing.build([7, 2, 2, 1, 3]);
    expect(Buffer.from(a.table).equals(Buffer.from(b.table))).toBe(true);
    expect(a.members).toEqual([1, 2, 3, 7]);
  });

  test('pinned table and permutation parameters (vectors for the C twin)', () => {
    expect([ringOffset(0, 65537), ringSkip(0, 65537)]).toEqual([42403, 44133]);
    expect([ringOffset(1, 65537), ringSkip(1, 65537)]).toEqual([16163, 45186]);
    expect([ringOffset(254, 65537), ringSkip(254, 65537)]).toEqual([27337, 65092]);
    const r = MaglevRing.build([0, 1, 2]);
    expect(Array.from(r.table.subarray(0, 16))).toEqual([0, 0, 1, 2, 0, 2, 2, 2, 1, 2, 2, 2, 1, 0, 2, 1]);
    expect(fnv1a32(r.table, 0, r.table.length)).toBe(0xb5ea5b8d);
  });

  test('every slot is filled and slot counts differ by at most one', () => {
    for (const n of [1, 3, 4, 5, 8, 13]) {
      const ids = range(n, 10);
      const r = MaglevRing.build(ids);
      const count = new Map<number, number>();
      for (const id of r.table) count.set(id, (count.get(id) ?? 0) + 1);
      expect(count.has(RING_EMPTY)).toBe(false);
      const counts = ids.map((id) => count.get(id) ?? 0);
      expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
    }
  });

  test('key shares are within a few % of 1/N', () => {
    for (const n of [3, 4, 5, 8]) {
      const r = MaglevRing.build(range(n));
      const share = new Array(n).fill(0);
      for (let i = 0; i < KEYS; i++) share[r.lookup(hashes[i])]++;
      const figures = share.map((c) => (c / KEYS).toFixed(4));
      console.log(`N=${n} key shares ${figures.join(' ')} (ideal ${(1 / n).toFixed(4)})`);
      for (const c of share) expect(Math.abs(c / KEYS - 1 / n)).toBeLessThan(0.03 / n + 0.005);
    }
  });

  test('removing or adding one member moves about 1/N of keys; hash % N moves most', () => {
    for (const n of [3, 4, 5, 8]) {
      const ids = range(n);
      const full = MaglevRing.build(ids);
      const less = MaglevRing.build(ids.slice(0, -1).concat()); // remove the last
      const lessMid = MaglevRing.build(ids.filter((id) => id !== 1)); // remove one in the middle
      const more = MaglevRing.build([...ids, 200]);

      const removed = moved((h) => full.lookup(h), (h) => less.lookup(h));
      const removedMid = moved((h) => full.lookup(h), (h) => lessMid.lookup(h));
      const added = moved((h) => full.lookup(h), (h) => more.lookup(h));
      const naiveRemoved = moved((h) => h % n, (h) => h % (n - 1));
      const naiveAdded = moved((h) => h % n, (h) => h % (n + 1));
      console.log(
        `N=${n}: remove one moves ${removed.toFixed(4)} / ${removedMid.toFixed(4)} (ideal ${(1 / n).toFixed(4)}), ` +
          `add one moves ${added.toFixed(4)} (ideal ${(1 / (n + 1)).toFixed(4)}); ` +
          `naive hash%N: remove ${naiveRemoved.toFixed(4)}, add ${naiveAdded.toFixed(4)}`,
      );
      for (const f of [removed, removedMid]) {
        expect(f).toBeGreaterThan((1 / n) * 0.7);
        expect(f).toBeLessThan((1 / n) * 1.3);
      }
      expect(added).toBeGreaterThan((1 / (n + 1)) * 0.7);
      expect(added).toBeLessThan((1 / (n + 1)) * 1.3);
      expect(naiveRemoved).toBeGreaterThan(0.5);
      expect(naiveAdded).toBeGreaterThan(0.5);
      // Keys of surviving members mostly stay: every key of the removed member moves.
      for (let i = 0; i < KEYS; i += 97) {
        if (full.lookup(hashes[i]) === n - 1) expect(less.lookup(hashes[i])).not.toBe(n - 1);
      }
    }
  });

  test('lookup: -1 for an empty ring; the only member otherwise; any u32 hash', () => {
    const empty = MaglevRing.build([]);
    expect(empty.lookup(12345)).toBe(-1);
    expect(empty.members).toEqual([]);
    const one = MaglevRing.build([254]);
    for (const h of [0, 1, 65536, 65537, 0xffffffff, -1]) expect(one.lookup(h)).toBe(254);
  });

  test('a smaller prime table works; a composite size or bad id is refused', () => {
    const r = MaglevRing.build([0, 1], 251);
    expect(r.size).toBe(251);
    expect(() => MaglevRing.build([0], 65536)).toThrow(RingError);
    expect(() => MaglevRing.build([255])).toThrow(expect.objectContaining({ code: 'RING_BAD_MEMBER_ID' }));
    expect(() => MaglevRing.build([-1])).toThrow(RingError);
    expect(() => MaglevRing.build([1.5])).toThrow(RingError);
  });

  test('changedSlots lists exactly the differing slots', () => {
    const a = MaglevRing.build([0, 1, 2]);
    const b = MaglevRing.build([0, 1, 2, 3]);
    const slots = a.changedSlots(b);
    let diff = 0;
    for (let i = 0; i < a.size; i++) if (a.table[i] !== b.table[i]) diff++;
    expect(slots.length).toBe(diff);
    for (const s of slots.slice(0, 100)) expect(b.table[s]).not.toBe(a.table[s]);
    expect(a.changedSlots(MaglevRing.build([2, 1, 0]))).toEqual([]);
  });
});
