/**
 * Random tokens for the slow path (Via branches, To tags): cryptographically random
 * (RFC 3261 §19.3 wants tags unguessable), drawn from a pooled buffer so that a message
 * costs no crypto call of its own — one randomFillSync per 4 KiB instead of one per token.
 */
import { randomFillSync } from 'node:crypto';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const pool = Buffer.alloc(4096);
let next = pool.length;

function byte(): number {
  if (next === pool.length) {
    randomFillSync(pool);
    next = 0;
  }
  return pool[next++];
}

/** `n` characters of [a-z0-9], uniform (rejection sampling: no modulo bias). */
export function randomToken(n: number): string {
  let s = '';
  while (s.length < n) {
    const b = byte();
    // 252 = 7 × 36: bytes ≥ 252 would favour the first 4 characters.
    if (b < 252) s += ALPHABET[b % 36];
  }
  return s;
}

/** A To/From tag: 12 characters, ~62 bits of entropy. */
export function newTag(): string {
  return randomToken(12);
}
