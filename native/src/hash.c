/* Integer hashes of the fast path: the C twin of src/farm/hash.ts and src/farm/keys.ts.
 * FNV-1a 32 and MurmurHash3's fmix32 in plain uint32_t arithmetic, which is what the TS
 * side computes with Math.imul and >>> 0. */
#include "sf.h"

/* Unrolled by eight over a pointer: FNV-1a is one serial xor-multiply per byte, so what
 * can go is the loop's own bookkeeping (it hashes the Call-ID of every request). */
#define FNV_STEP(h, c) ((h) = ((h) ^ (c)) * SF_FNV1A32_PRIME)
uint32_t sf_fnv1a32(const uint8_t *b, int32_t s, int32_t e, uint32_t seed) {
  uint32_t h = seed;
  if (e <= s) return h;
  const uint8_t *p = b + s;
  const uint8_t *const pe = b + e;
  for (; pe - p >= 8; p += 8) {
    FNV_STEP(h, p[0]); FNV_STEP(h, p[1]); FNV_STEP(h, p[2]); FNV_STEP(h, p[3]);
    FNV_STEP(h, p[4]); FNV_STEP(h, p[5]); FNV_STEP(h, p[6]); FNV_STEP(h, p[7]);
  }
  switch (pe - p) { /* the last 0-7 bytes */
    case 7: FNV_STEP(h, *p++); /* fall through */
    case 6: FNV_STEP(h, *p++); /* fall through */
    case 5: FNV_STEP(h, *p++); /* fall through */
    case 4: FNV_STEP(h, *p++); /* fall through */
    case 3: FNV_STEP(h, *p++); /* fall through */
    case 2: FNV_STEP(h, *p++); /* fall through */
    case 1: FNV_STEP(h, *p); /* fall through */
    default: break;
  }
  return h;
}

/* ASCII letters folded to lower case as they are hashed (RFC 3261 §19.1.4: hosts compare
 * case-insensitively). */
uint32_t sf_fnv1a32_lower(const uint8_t *b, int32_t s, int32_t e, uint32_t seed) {
  uint32_t h = seed;
  for (int32_t i = s; i < e; i++) {
    uint8_t c = b[i];
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    h ^= c;
    h *= SF_FNV1A32_PRIME;
  }
  return h;
}

uint32_t sf_fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

/* Call-ID is compared byte for byte (RFC 3261 §20.8): no case folding. */
uint32_t sf_key_hash(const uint8_t *b, int32_t s, int32_t e) {
  return sf_fmix32(sf_fnv1a32(b, s, e, SF_FNV1A32_OFFSET));
}

uint32_t sf_aor_hash(const uint8_t *b, int32_t us, int32_t ue, int32_t hs, int32_t he) {
  static const uint8_t at = 0x40;
  uint32_t h = sf_fnv1a32(b, us, ue, SF_FNV1A32_OFFSET);
  h = sf_fnv1a32(&at, 0, 1, h);
  h = sf_fnv1a32_lower(b, hs, he, h);
  return sf_fmix32(h);
}

/* keys.ts uriUserHost: user and host of a sip:/sips: URI, without allocating. */
int sf_uri_user_host(const uint8_t *b, int32_t start, int32_t end, int32_t out[4]) {
  int32_t i = start;
  while (i < end && b[i] != 0x3a) i++;
  if (i >= end) return 0;
  int32_t len = i - start;
  if (len != 3 && len != 4) return 0;
  if ((b[start] | 0x20) != 0x73 || (b[start + 1] | 0x20) != 0x69 || (b[start + 2] | 0x20) != 0x70) return 0;
  if (len == 4 && (b[start + 3] | 0x20) != 0x73) return 0;
  int32_t after = i + 1, at = -1;
  for (int32_t j = after; j < end; j++) {
    uint8_t c = b[j];
    if (c == 0x40) { at = j; break; }
    if (c == 0x3e) break;
  }
  int32_t host_start;
  if (at >= 0) {
    int32_t ue = after;
    while (ue < at && b[ue] != 0x3a) ue++; /* ":password" is not the user */
    out[0] = after; out[1] = ue;
    host_start = at + 1;
  } else {
    out[0] = after; out[1] = after;
    host_start = after;
  }
  int32_t he = host_start;
  if (he < end && b[he] == 0x5b) {
    while (he < end && b[he] != 0x5d) he++;
    if (he < end) he++;
  } else {
    while (he < end) {
      uint8_t c = b[he];
      if (c == 0x3a || c == 0x3b || c == 0x3e || c == 0x3f || c == 0x20 || c == 0x2c) break;
      he++;
    }
  }
  if (he == host_start) return 0;
  out[2] = host_start; out[3] = he;
  return 1;
}
