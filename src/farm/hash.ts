// Integer hashes shared by the fast path, the ring and the native (C) twin.
//
// Every function here is plain 32-bit integer arithmetic over bytes so the C twin
// produces identical values: FNV-1a 32 (offset basis 0x811c9dc5, prime 0x01000193,
// http://www.isthe.com/chongo/tech/comp/fnv/) and the MurmurHash3 32-bit finalizer
// (fmix32). `Math.imul` is exactly C's `uint32_t * uint32_t` truncated to 32 bits, and
// `>>> 0` is the cast back to unsigned.
//
// Per-packet functions (fnv1a32, fnv1a32Lower, fmix32, keyHash, keyHashLower) do not
// allocate, log or throw: the caller gives offsets into the received buffer.

/** FNV-1a 32-bit offset basis: the default seed. */
export const FNV1A32_OFFSET = 0x811c9dc5;
/** FNV-1a 32-bit prime. */
export const FNV1A32_PRIME = 0x01000193;

/**
 * FNV-1a over buf[start, end). Returns an unsigned 32-bit integer.
 * `seed` replaces the offset basis, which gives independent hash families (the ring
 * uses two of them for Maglev's offset and skip).
 */
export function fnv1a32(buf: Uint8Array, start: number, end: number, seed: number = FNV1A32_OFFSET): number {
  let h = seed | 0;
  for (let i = start; i < end; i++) {
    h ^= buf[i];
    h = Math.imul(h, FNV1A32_PRIME);
  }
  return h >>> 0;
}

/**
 * FNV-1a over buf[start, end) with ASCII letters folded to lower case as they are
 * hashed, for keys whose comparison is case-insensitive (host names, URI parameters,
 * the scheme and host of an AoR — RFC 3261 §19.1.4). Bytes ≥ 0x80 are hashed as is.
 */
export function fnv1a32Lower(buf: Uint8Array, start: number, end: number, seed: number = FNV1A32_OFFSET): number {
  let h = seed | 0;
  for (let i = start; i < end; i++) {
    let b = buf[i];
    if (b >= 0x41 && b <= 0x5a) b |= 0x20;
    h ^= b;
    h = Math.imul(h, FNV1A32_PRIME);
  }
  return h >>> 0;
}

/**
 * fnv1a32 over a string's UTF-8 bytes, for s[start, end) when it is all ASCII: its
 * char codes are those bytes, so it is hashed where it is (no encoding); -1 at the first
 * non-ASCII character, for the caller to take the UTF-8 way. `lower` folds A-Z as
 * fnv1a32Lower does. Slow-path keys (loop hash, stateless branch, AoR placement).
 */
export function fnv1a32Ascii(s: string, start: number, end: number, seed: number = FNV1A32_OFFSET, lower = false): number {
  let h = seed | 0;
  for (let i = start; i < end; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0x80) return -1;
    if (lower && c >= 0x41 && c <= 0x5a) c |= 0x20;
    h = Math.imul(h ^ c, FNV1A32_PRIME);
  }
  return h >>> 0;
}

const utf8 = new TextEncoder();

/**
 * FNV-1a over the UTF-8 bytes of a string. Control-plane only: encoding the string
 * allocates. Equal to fnv1a32 over the same bytes.
 */
export function fnv1a32String(s: string, seed: number = FNV1A32_OFFSET): number {
  const b = utf8.encode(s);
  return fnv1a32(b, 0, b.length, seed);
}

/**
 * MurmurHash3 32-bit finalizer (Appleby, MurmurHash3.cpp `fmix32`). FNV-1a leaves the
 * low bits of similar keys correlated (Call-IDs often differ in one trailing counter);
 * the ring reduces the hash modulo a prime table size, so the avalanche matters.
 */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The ring key hash of buf[start, end): fmix32(fnv1a32(bytes)). Case-sensitive — the
 * Call-ID is compared byte for byte (RFC 3261 §20.8).
 */
export function keyHash(buf: Uint8Array, start: number, end: number): number {
  return fmix32(fnv1a32(buf, start, end));
}

/** keyHash with ASCII case folding, for case-insensitive keys (e.g. a normalised AoR). */
export function keyHashLower(buf: Uint8Array, start: number, end: number): number {
  return fmix32(fnv1a32Lower(buf, start, end));
}

/** keyHash of a string's UTF-8 bytes. Control-plane / slow-path only (allocates). */
export function keyHashString(s: string): number {
  return fmix32(fnv1a32String(s));
}
