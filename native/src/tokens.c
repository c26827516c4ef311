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

/* Byte classes of the URI walk below, one table look-up per byte instead of a chain of
 * compares (this runs on every request). U_USER: ends the search for the userinfo's '@'
 * ('@' itself, '>' and whitespace: '?', ',', ';' are user-unreserved, RFC 3261 §25.1).
 * U_PARAM: ends a host or a uri-parameter (';' or is_uri_end). U_NAME: also ends a
 * parameter name ('='). */
enum { U_USER = 1, U_PARAM = 2, U_NAME = 4 };
static const uint8_t URI_CLASS[256] = {
  [0x40] = U_USER,                                /* @ */
  [0x3e] = U_USER | U_PARAM | U_NAME,             /* > */
  [0x20] = U_USER | U_PARAM | U_NAME,             /* SP */
  [0x09] = U_USER | U_PARAM | U_NAME,             /* HTAB */
  [0x0d] = U_USER | U_PARAM | U_NAME,             /* CR */
  [0x0a] = U_USER | U_PARAM | U_NAME,             /* LF */
  [0x3f] = U_PARAM | U_NAME,                      /* ? */
  [0x2c] = U_PARAM | U_NAME,                      /* , */
  [0x3b] = U_PARAM | U_NAME,                      /* ; */
  [0x3d] = U_NAME,                                /* = */
};

/* First offset in [p, e) whose class has a bit of `stop`, or e (unrolled by four). */
static inline int32_t uri_until(const uint8_t *b, int32_t p, int32_t e, uint8_t stop) {
  while (e - p >= 4) {
    if (URI_CLASS[b[p]] & stop) return p;
    if (URI_CLASS[b[p + 1]] & stop) return p + 1;
    if (URI_CLASS[b[p + 2]] & stop) return p + 2;
    if (URI_CLASS[b[p + 3]] & stop) return p + 3;
    p += 4;
  }
  while (p < e && !(URI_CLASS[b[p]] & stop)) p++;
  return p;
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
  /* One walk finds both the userinfo's '@' and, for a URI without one, where its host
   * ends: the first U_PARAM byte from p comes before (or is) the byte that ends the
   * search for '@'. */
  int32_t host_start = p, host_end = -1;
  for (int32_t i = p;;) {
    i = uri_until(b, i, e, U_USER | U_PARAM);
    if (i >= e) {
      if (host_end < 0) host_end = e;
      break;
    }
    uint8_t c = b[i];
    if (c == 0x40) { host_start = i + 1; host_end = -1; break; }
    if (host_end < 0) host_end = i;
    if (URI_CLASS[c] & U_USER) break;
    i++;
  }
  p = host_start;
  if (p < e && b[p] == 0x5b) {
    while (p < e && b[p] != 0x5d) p++;
    if (p >= e) return -1;
    p++;
    host_end = -1;
  }
  p = host_end >= 0 ? host_end : uri_until(b, p, e, U_PARAM);
  if (p < e && b[p] != 0x3b) return -1; /* the host[:port] ends the URI, no parameter */
  while (p < e && b[p] == 0x3b) {
    p++;
    int32_t ns = p;
    p = uri_until(b, p, e, U_NAME);
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
    p = uri_until(b, p, e, U_PARAM);
  }
  return -1;
}
