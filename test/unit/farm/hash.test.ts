import { describe, expect, test } from 'vitest';
import { fmix32, fnv1a32, fnv1a32Ascii, fnv1a32Lower, fnv1a32String, keyHash, keyHashLower, keyHashString } from '../../../src/farm/hash.js';

const enc = new TextEncoder();
const b = (s: string) => enc.encode(s);

describe('fnv1a32', () => {
  test('matches the published FNV-1a 32 test vectors', () => {
    // From the FNV reference test suite (isthe.com/chongo/src/fnv/test_fnv.c).
    expect(fnv1a32(b(''), 0, 0)).toBe(0x811c9dc5);
    expect(fnv1a32(b('a'), 0, 1)).toBe(0xe40c292c);
    expect(fnv1a32(b('foobar'), 0, 6)).toBe(0xbf9cf968);
  });

  test('hashes only the given range of a larger buffer', () => {
    const buf = b('xxfoobaryy');
    expect(fnv1a32(buf, 2, 8)).toBe(0xbf9cf968);
  });

  test('a different seed gives a different hash family', () => {
    expect(fnv1a32(b('a'), 0, 1, 0x5bd1e995)).not.toBe(fnv1a32(b('a'), 0, 1));
  });

  test('result is always an unsigned 32-bit integer', () => {
    for (let i = 0; i < 200; i++) {
      const h = fnv1a32(b(`call-${i}@host`), 0, `call-${i}@host`.length);
      expect(Number.isInteger(h)).toBe(true);
      expect(h).toBeGreaterThanOrEqual(0);
      expect(h).toBeLessThanOrEqual(0xffffffff);
    }
  });

  test('fnv1a32Lower folds ASCII letters only', () => {
    expect(fnv1a32Lower(b('FooBAR'), 0, 6)).toBe(0xbf9cf968);
    expect(fnv1a32Lower(b('[@]'), 0, 3)).toBe(fnv1a32(b('[@]'), 0, 3)); // 0x40, 0x5b are not letters
    const hi = new Uint8Array([0xc4, 0xd6]);
    expect(fnv1a32Lower(hi, 0, 2)).toBe(fnv1a32(hi, 0, 2));
  });

  test('fnv1a32Ascii = fnv1a32 over the same bytes, continues a hash, folds with lower, -1 on non-ASCII', () => {
    expect(fnv1a32Ascii('xxfoobaryy', 2, 8)).toBe(0xbf9cf968);
    expect(fnv1a32Ascii('FooBAR', 0, 6, undefined, true)).toBe(0xbf9cf968);
    expect(fnv1a32Ascii('FooBAR', 0, 6)).toBe(fnv1a32(b('FooBAR'), 0, 6));
    expect(fnv1a32Ascii('bar', 0, 3, fnv1a32Ascii('foo', 0, 3))).toBe(0xbf9cf968);
    expect(fnv1a32Ascii('[@]', 0, 3, undefined, true)).toBe(fnv1a32(b('[@]'), 0, 3));
    expect(fnv1a32Ascii('', 0, 0)).toBe(0x811c9dc5);
    expect(fnv1a32Ascii('é', 0, 1)).toBe(-1);
    expect(fnv1a32Ascii('abc\u00ff', 0, 4)).toBe(-1);
    expect(fnv1a32Ascii('abc\u00ff', 0, 3)).toBe(fnv1a32(b('abc'), 0, 3));
  });

  test('fnv1a32String hashes the UTF-8 bytes', () => {
    expect(fnv1a32String('foobar')).toBe(0xbf9cf968);
    expect(fnv1a32String('é')).toBe(fnv1a32(new Uint8Array([0xc3, 0xa9]), 0, 2));
  });
});

describe('fmix32 / keyHash', () => {
  test('fmix32 matches MurmurHash3 fmix32', () => {
    expect(fmix32(0)).toBe(0);
    expect(fmix32(1)).toBe(0x514e28b7);
  });

  test('keyHash = fmix32(fnv1a32) and the string twin agrees', () => {
    const s = 'a84b4c76e66710@pc33.atlanta.com';
    expect(keyHash(b(s), 0, s.length)).toBe(fmix32(fnv1a32(b(s), 0, s.length)));
    expect(keyHashString(s)).toBe(keyHash(b(s), 0, s.length));
    expect(keyHashLower(b('Alice@Example.COM'), 0, 17)).toBe(keyHash(b('alice@example.com'), 0, 17));
  });

  test('avalanche: flipping one input bit flips about half the output bits', () => {
    let total = 0;
    let n = 0;
    for (let i = 0; i < 500; i++) {
      const buf = b(`callid-${i}-x`);
      const h0 = keyHash(buf, 0, buf.length);
      buf[buf.length - 1] ^= 1 << (i % 7);
      const h1 = keyHash(buf, 0, buf.length);
      let x = (h0 ^ h1) >>> 0;
      let bits = 0;
      while (x) {
        bits += x & 1;
        x >>>= 1;
      }
      total += bits;
      n++;
    }
    const mean = total / n;
    expect(mean).toBeGreaterThan(14);
    expect(mean).toBeLessThan(18);
  });

  test('sequential keys spread evenly modulo a prime', () => {
    const M = 65537;
    const buckets = new Array(8).fill(0);
    for (let i = 0; i < 80000; i++) {
      const s = `${i}@host`;
      buckets[Math.floor(((keyHash(b(s), 0, s.length) % M) / M) * 8)]++;
    }
    for (const c of buckets) expect(Math.abs(c - 10000)).toBeLessThan(500);
  });
});
