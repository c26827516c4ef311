/* Ownership carried in the packet: the C twin of src/farm/tokens.ts branchOwner and
 * uriTokenOwner (DESIGN "Classification", rules 3 and 4). Both return -1 for anything
 * that is not exactly a token this farm minted. */
#include "sf.h"

/* "z9hG4bK-sf" 1*3DIGIT "-" 1*OCTET, id <= 254, no leading zero; case-sensitive because
 * RFC 3261 §18.2.2 / §16.7 return the Via unchanged. */
int sf_branch_owner(const uint8_t *b, int32_t s, int32_t e) {
  static const char prefix[] = SF_BRANCH_PREFIX;
  const int32_t plen = SF_BRANCH_PREFIX_LEN;
  if (e - s < plen + 3) return -1;
  for (int32_t i = 0; i < plen; i++)
    if (b[s + i] != (uint8_t)prefix[i]) return -1;
  int32_t p = s + plen, id = 0, digits = 0;
  while (p < e) {
    uint8_t c = b[p];
    if (c < 0x30 || c > 0x39) break;
    if (digits == 3) return -1;
    if (digits == 1 && id == 0) return -1;
    id = id * 10 + (c - 0x30);
    digits++;
    p++;
  }
  if (digits == 0 || id > SF_MAX_MEMBER_ID) return -1;
  if (p >= e || b[p] != 0x2d || p + 1 >= e) return -1;
  return id;
}

/* '>' closes a name-addr; '?' starts URI headers (RFC 3261 §19.1.1); whitespace, ',' and
 * CR/LF cannot occur inside a SIP URI. */
static inline int is_uri_end(uint8_t c) {
  return c == 0x3e || c == 0x3f || c == 0x20 || c == 0x09 || c == 0x0d || c == 0x0a || c == 0x2c;
}

/* The first `;sf=<member>` uri-parameter (RFC 3261 §19.1.1) of a sip(s) URI. */
int sf_uri_token_owner(const uint8_t *b, int32_t s, int32_t e) {
  int32_t p = s;
  if (p < e && b[p] == 0x3c) p++;
  if (e - p < 4) return -1;
  if ((b[p] | 0x20) != 0x73 || (b[p + 1] | 0x20) != 0x69 || (b[p + 2] | 0x20) != 0x70) return -1;
  p += 3;
  if ((b[p] | 0x20) == 0x73) p++;
  if (p >= e || b[p] != 0x3a) return -1;
  p++;
  int32_t host_start = p;
  for (int32_t i = p; i < e; i++) {
    uint8_t c = b[i];
    if (c == 0x40) { host_start = i + 1; break; }
    if (c == 0x3e || c == 0x20 || c == 0x09 || c == 0x0d || c == 0x0a) break;
  }
  p = host_start;
  if (p < e && b[p] == 0x5b) {
    while (p < e && b[p] != 0x5d) p++;
    if (p >= e) return -1;
    p++;
  }
  while (p < e && b[p] != 0x3b) {
    if (is_uri_end(b[p])) return -1;
    p++;
  }
  while (p < e && b[p] == 0x3b) {
    p++;
    int32_t ns = p;
    while (p < e) {
      uint8_t c = b[p];
      if (c == 0x3b || c == 0x3d || is_uri_end(c)) break;
      p++;
    }
    if (p - ns == 2 && (b[ns] | 0x20) == 0x73 && (b[ns + 1] | 0x20) == 0x66) {
      if (p >= e || b[p] != 0x3d) return -1;
      p++;
      int32_t id = 0, digits = 0;
      while (p < e) {
        uint8_t c = b[p];
        if (c == 0x3b || is_uri_end(c)) break;
        if (c < 0x30 || c > 0x39 || digits == 3 || (digits == 1 && id == 0)) return -1;
        id = id * 10 + (c - 0x30);
        digits++;
        p++;
      }
      return digits == 0 || id > SF_MAX_MEMBER_ID ? -1 : id;
    }
    while (p < e && b[p] != 0x3b && !is_uri_end(b[p])) p++;
  }
  return -1;
}
