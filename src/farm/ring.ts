// Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software
// Network Load Balancer", NSDI '16, §3.4, Pseudocode 1).
//
// The ring is a pure function of the set of live member ids, so every member that sees
// the same live set builds byte-identical tables without coordination. The table is a
// flat byte array (slot -> member id, 255 = empty) that the fast path and its C twin
// read directly: lookup is one modulo and one byte load.
//
// Exact definition (the C twin must match it bit for bit):
//   ids      = the member ids, deduplicated and sorted ascending (0..254)
//   M        = table size, a prime (default 65537)
//   for id:  b       = the single byte `id`
//            offset  = fmix32(fnv1a32(b, seed = 0x811c9dc5)) mod M
//            skip    = fmix32(fnv1a32(b, seed = 0x5bd1e995)) mod (M - 1) + 1
//            permutation[j] = (offset + j * skip) mod M
//   populate: round-robin over ids in ascending order; each member takes the next slot
//            of its permutation that is still empty, until all M slots are filled.
//   lookup(h) = table[h mod M] (h an unsigned 32-bit key hash, see hash.ts keyHash)
// M prime and 1 <= skip < M make every permutation a full cycle over the slots.

import { fmix32, fnv1a32 } from './hash.js';

/** Table byte meaning "no member" (only when the ring has no members). */
export const RING_EMPTY = 255;
/** Largest member id: ids are one byte and 255 is reserved for RING_EMPTY. */
export const MAX_MEMBER_ID = 254;
/** Default table size: prime, ≥ 100 × the largest farm we expect (Maglev §3.4). */
export const DEFAULT_RING_SIZE = 65537;
/** Seeds of the two FNV-1a hashes of a member id (offset, skip). */
export const RING_OFFSET_SEED = 0x811c9dc5;
export const RING_SKIP_SEED = 0x5bd1e995;

/** Configuration errors of the ring (never raised per packet). */
export class RingError extends Error {
  constructor(
    readonly code: 'RING_BAD_MEMBER_ID' | 'RING_BAD_SIZE',
    message: string,
  ) {
    super(message);
    this.name = 'RingError';
  }
}

const idByte = new Uint8Array(1);

/** Maglev permutation offset of a member id (see the header comment). */
export function ringOffset(id: number, tableSize: number): number {
  idByte[0] = id;
  return fmix32(fnv1a32(idByte, 0, 1, RING_OFFSET_SEED)) % tableSize;
}

/** Maglev permutation skip of a member id, in 1..tableSize-1. */
export function ringSkip(id: number, tableSize: number): number {
  idByte[0] = id;
  return (fmix32(fnv1a32(idByte, 0, 1, RING_SKIP_SEED)) % (tableSize - 1)) + 1;
}

function isPrime(n: number): boolean {
  if (n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

export class MaglevRing {
  /** slot -> member id; RING_EMPTY only when there are no members. */
  readonly table: Uint8Array;
  /** The member ids, sorted ascending, without duplicates. */
  readonly members: readonly number[];

  private constructor(table: Uint8Array, members: readonly number[]) {
    this.table = table;
    this.members = members;
  }

  /**
   * Build the table for a set of member ids (order and duplicates do not matter).
   * Cost O(M log M) on average; ~1–3 ms for M = 65537 — control plane only.
   * Throws RingError for an id outside 0..254 or a table size that is not a prime
   * in 2..2^24 (the bound keeps `offset + skip` exact in 32-bit C arithmetic).
   */
  static build(memberIds: readonly number[], tableSize: number = DEFAULT_RING_SIZE): MaglevRing {
    if (!Number.isInteger(tableSize) || tableSize < 2 || tableSize > 1 << 24 || !isPrime(tableSize)) {
      throw new RingError('RING_BAD_SIZE', `ring size ${tableSize} must be a prime in 2..16777216`);
    }
    for (const id of memberIds) {
      if (!Number.isInteger(id) || id < 0 || id > MAX_MEMBER_ID) {
        throw new RingError('RING_BAD_MEMBER_ID', `member id ${id} is outside 0..${MAX_MEMBER_ID}`);
      }
    }
    const ids = [...new Set(memberIds)].sort((a, b) => a - b);
    const table = new Uint8Array(tableSize).fill(RING_EMPTY);
    const n = ids.length;
    if (n > 0) {
      // next[i] = the position of the next permutation entry of member i, kept as the
      // slot itself (offset + j·skip mod M) advanced incrementally: no j·skip product.
      const next = new Uint32Array(n);
      const skip = new Uint32Array(n);
      for (let i = 0; i < n; i++) {
        next[i] = ringOffset(ids[i], tableSize);
        skip[i] = ringSkip(ids[i], tableSize);
      }
      let filled = 0;
      // Maglev Pseudocode 1: each member in turn claims its next preferred empty slot.
      for (;;) {
        for (let i = 0; i < n; i++) {
          let c = next[i];
          while (table[c] !== RING_EMPTY) {
            c += skip[i];
            if (c >= tableSize) c -= tableSize;
          }
          table[c] = ids[i];
          c += skip[i];
          if (c >= tableSize) c -= tableSize;
          next[i] = c;
          if (++filled === tableSize) return new MaglevRing(table, Object.freeze(ids));
        }
      }
    }
    return new MaglevRing(table, Object.freeze(ids));
  }

  /** Table size M. */
  get size(): number {
    return this.table.length;
  }

  /** Owner of an unsigned 32-bit key hash, or -1 when the ring has no members. */
  lookup(hash: number): number {
    const id = this.table[(hash >>> 0) % this.table.length];
    return id === RING_EMPTY ? -1 : id;
  }

  /** True if `id` is one of the ring's members. */
  has(id: number): boolean {
    return this.members.includes(id);
  }

  /**
   * Slots whose owner differs from `other` (same size required, else every slot).
   * Lets the control plane push only the changed slots to a native table.
   */
  changedSlots(other: MaglevRing): number[] {
    const out: number[] = [];
    const a = this.table;
    const b = other.table;
    if (a.length !== b.length) {
      for (let i = 0; i < a.length; i++) out.push(i);
      return out;
    }
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) out.push(i);
    return out;
  }
}
