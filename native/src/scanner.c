/* The fast-path SIP scanner: the C twin of src/sip/scanner.ts. It finds offsets, it does
 * not parse. Same status precedence, same offsets, byte for byte: TOO_LARGE; then the
 * start line (NOT_SIP, BAD_VERSION); then, in header order, the first BAD_CSEQ /
 * BAD_MAX_FORWARDS; then NO_END_OF_HEADERS; then NO_VIA, NO_CALL_ID, NO_CSEQ.
 * Never reads at or beyond len. No allocation, no global state (re-entrant).
 *
 * Cost: this runs once per datagram on every member, so it touches each header byte as
 * few times as it can. Line ends are searched for 16 or 32 bytes at a time (SSE2 on
 * x86-64, memchr past 64 bytes or elsewhere) and folding is checked only there; a header
 * the fast path does not need costs a look at its first bytes and that one search; a
 * needed one is recognised by a masked word compare of its name, no per-byte loop. The
 * byte-at-a-time loops left are over the few bytes a result is made of. Each shortcut
 * gives the offsets the byte-by-byte definition gives (the differential test and the
 * fuzzers hold it to that). bench/tools/scan-cost.c measures it: instructions per
 * sf_classify call under callgrind, about 3x fewer than the byte loops it replaced. */
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include "sf.h"

#define SP 0x20
#define HT 0x09
#define CR 0x0d
#define LF 0x0a

/* The scan is instantiated twice, strict and lenient line ends, so that the per-byte
 * helpers below see `lenient` as a constant. */
#define SF_INLINE static inline __attribute__((always_inline))

enum { H_OTHER, H_VIA, H_CALL_ID, H_CSEQ, H_TO, H_FROM, H_ROUTE, H_MAX_FORWARDS, H_CONTENT_LENGTH };

static inline int is_token(uint8_t c) { return SF_TOKEN_CHAR[c]; }
static inline int is_digit(uint8_t c) { return c >= 0x30 && c <= 0x39; }

/* End of the run of token characters from i. Unrolled by four with an exit per byte:
 * the runs here (methods, parameter names and values) are a few bytes to a few tens. */
SF_INLINE int32_t token_run(const uint8_t *b, int32_t i, int32_t e) {
  while (e - i >= 4) {
    if (!is_token(b[i])) return i;
    if (!is_token(b[i + 1])) return i + 1;
    if (!is_token(b[i + 2])) return i + 2;
    if (!is_token(b[i + 3])) return i + 3;
    i += 4;
  }
  while (i < e && is_token(b[i])) i++;
  return i;
}

/* First offset in [i, e) of a byte <= 0x20 (SP, HTAB, CR, LF, other controls), or e.
 * Eight bytes a step: a byte x < 0x21 borrows in x - 0x21 and has its top bit clear, and
 * no borrow reaches a byte below the first such byte, so the lowest flag is exact. */
SF_INLINE int32_t first_ctl_or_sp(const uint8_t *b, int32_t i, int32_t e) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (e - i >= 8) {
    for (;;) {
      uint64_t x;
      memcpy(&x, b + i, 8);
      uint64_t t = (x - 0x2121212121212121ull) & ~x & 0x8080808080808080ull;
      if (t != 0) return i + (int32_t)(__builtin_ctzll(t) >> 3);
      i += 8;
      if (e - i >= 8) continue;
      if (i >= e) return e;
      /* the last word overlaps bytes already seen above SP: its first flag is >= i */
      i = e - 8;
    }
  }
#endif
  while (i < e && b[i] > SP) i++;
  return i;
}

/* Offset of the first byte c in [i, e), or e. Most searches here end within a few tens
 * of bytes (a header line, a URI), where a call to memchr costs more than the search:
 * the first 64 bytes are compared inline, 16 at a time with SSE2 (every x86-64 has it),
 * the last block of a range overlapping bytes already known not to be c so no load
 * passes e; memchr takes anything longer. */
SF_INLINE int32_t find_byte(const uint8_t *b, int32_t i, int32_t e, uint8_t c) {
#if defined(__SSE2__)
  if (e - i >= 16) {
    const __m128i needle = _mm_set1_epi8((char)c);
    for (int k = 0; k < 2 && e - i >= 32; k++) {
      const __m128i *q = (const __m128i *)(const void *)(b + i);
      unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(q), needle)) |
                   (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(q + 1), needle)) << 16;
      if (m != 0) return i + __builtin_ctz(m);
      i += 32;
    }
    if (e - i >= 64) goto libc;
    for (;;) {
      if (e - i < 16) {
        if (i >= e) return e;
        i = e - 16;
      }
      unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(b + i)), needle));
      if (m != 0) return i + __builtin_ctz(m);
      i += 16;
    }
  }
  while (i < e && b[i] != c) i++;
  return i;
libc:
#endif
  if (i >= e) return e;
  const uint8_t *q = memchr(b + i, c, (size_t)(e - i));
  return q == NULL ? e : (int32_t)(q - b);
}

/* 2 for CRLF, 1 for a bare LF when lenient, else 0. */
SF_INLINE int32_t eol_len(const uint8_t *b, int32_t i, int32_t end, int lenient) {
  if (i >= end) return 0;
  uint8_t c = b[i];
  if (c == CR) return i + 1 < end && b[i + 1] == LF ? 2 : 0;
  if (c == LF && lenient) return 1;
  return 0;
}

/* The first line end at or after i (CRLF; a bare LF too when lenient; a CR alone is not
 * one), its length in *n; -1 when the buffer ends first. Strict: the first CR followed
 * by LF. Lenient: the first LF, which is part of a CRLF when a CR at or after i is just
 * before it (no earlier line end can exist: each one holds an LF). */
SF_INLINE int32_t line_end(const uint8_t *b, int32_t i, int32_t end, int lenient, int32_t *n) {
  if (lenient) {
    int32_t j = find_byte(b, i, end, LF);
    if (j >= end) return -1;
    if (j > i && b[j - 1] == CR) { *n = 2; return j - 1; }
    *n = 1;
    return j;
  }
  for (;;) {
    int32_t j = find_byte(b, i, end, CR);
    if (j >= end) return -1;
    if (j + 1 < end && b[j + 1] == LF) { *n = 2; return j; }
    i = j + 1;
  }
}

/* Offset of the line end not followed by SP/HTAB (RFC 3261 §7.3.1 folding), its length
 * in *n, or -1 if the buffer ends first. */
SF_INLINE int32_t value_end(const uint8_t *b, int32_t i, int32_t end, int lenient, int32_t *n) {
  for (;;) {
    int32_t x = line_end(b, i, end, lenient, n);
    if (x < 0) return -1;
    int32_t next = x + *n;
    if (next < end && (b[next] == SP || b[next] == HT)) { i = next + 1; continue; }
    return x;
  }
}

static int32_t skip_lws_slow(const uint8_t *b, int32_t i, int32_t ve, int lenient) {
  for (;;) {
    if (i >= ve) return ve;
    uint8_t c = b[i];
    if (c == SP || c == HT) { i++; continue; }
    int32_t n = eol_len(b, i, ve, lenient);
    if (n > 0 && i + n < ve && (b[i + n] == SP || b[i + n] == HT)) { i += n; continue; }
    return i;
  }
}

/* LWS inside a value: SP, HTAB, and folds (RFC 3261 §7.3.1); never passes ve. Most
 * calls land on a byte above SP (none of SP, HTAB, CR, LF), on the one SP after a
 * colon, or at ve, which are answered inline. */
SF_INLINE int32_t skip_lws(const uint8_t *b, int32_t i, int32_t ve, int lenient) {
  if (i >= ve) return ve;
  if (b[i] > SP) return i;
  if (b[i] == SP && i + 1 < ve && b[i + 1] > SP) return i + 1; /* ": value" */
  return skip_lws_slow(b, i, ve, lenient);
}

/* First '"' or '\\' in [i, e), or e: SSE2 16 bytes a step when the range allows (a
 * display name ends well before its line does), else byte by byte. */
SF_INLINE int32_t find_quote_or_bs(const uint8_t *b, int32_t i, int32_t e) {
#if defined(__SSE2__)
  if (e - i >= 16) {
    const __m128i dq = _mm_set1_epi8(0x22), bs = _mm_set1_epi8(0x5c);
    for (;;) {
      if (e - i < 16) {
        if (i >= e) return e;
        i = e - 16; /* overlaps bytes already known to be neither */
      }
      __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(b + i));
      unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(x, dq), _mm_cmpeq_epi8(x, bs)));
      if (m != 0) return i + __builtin_ctz(m);
      i += 16;
    }
  }
#endif
  while (i < e && b[i] != 0x22 && b[i] != 0x5c) i++;
  return i;
}

/* quoted-string from the '"' at i (RFC 3261 §25.1): offset after its closing '"', or ve. */
static int32_t skip_quoted(const uint8_t *b, int32_t i, int32_t ve) {
  i++;
  for (;;) {
    i = find_quote_or_bs(b, i, ve);
    if (i >= ve) return ve;
    if (b[i] == 0x5c) { i += 2; continue; } /* quoted-pair */
    return i + 1;
  }
}

/* Little-endian load of n <= 8 bytes (memcpy: no alignment or aliasing assumption). */
SF_INLINE uint64_t load_le(const uint8_t *p, int n) {
  uint64_t x = 0;
  memcpy(&x, p, (size_t)n);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  x = __builtin_bswap64(x); /* byte k, at bits 56 - 8k, to bits 8k */
#endif
  return x;
}

/* Bytes [s, s + n) (n <= 8) equal the little-endian word w once the bits in m are set:
 * m holds 0x20 at the letters' places, so A-Z fold to a-z and nothing else matches a
 * letter, and the other bytes ('-') must match exactly. */
SF_INLINE int word_is(const uint8_t *b, int32_t s, int n, uint64_t m, uint64_t w) {
  return (load_le(b + s, n) | m) == w;
}

/* A header name is the run of token characters at s (RFC 3261 §25.1); it is the name X
 * exactly when the bytes at s spell X and the byte after them is not a token character. */
SF_INLINE int name_ends(const uint8_t *b, int32_t at, int32_t end) { return at >= end || !is_token(b[at]); }

/* Which header the fast path needs starts at s (s < end), and where its name ends (*ne);
 * H_OTHER (*ne unset) for every other line, whose name nobody needs. Names are
 * case-insensitive, compact forms per RFC 3261 §7.3.3 (tried after the long form, the
 * one sent in practice; at most one can match). The words are the lowercase names'
 * little-endian bytes. */
SF_INLINE int header_at(const uint8_t *b, int32_t s, int32_t end, int32_t *ne) {
  const int32_t room = end - s;
  switch (b[s] | 0x20) {
    case 'v':
      if (room >= 3 && word_is(b, s, 3, 0x202020u, 0x616976u /* via */) && name_ends(b, s + 3, end)) { *ne = s + 3; return H_VIA; }
      if (name_ends(b, s + 1, end)) { *ne = s + 1; return H_VIA; }
      return H_OTHER;
    case 'i':
      if (name_ends(b, s + 1, end)) { *ne = s + 1; return H_CALL_ID; }
      return H_OTHER;
    case 't':
      if (room >= 2 && word_is(b, s, 2, 0x2020u, 0x6f74u /* to */) && name_ends(b, s + 2, end)) { *ne = s + 2; return H_TO; }
      if (name_ends(b, s + 1, end)) { *ne = s + 1; return H_TO; }
      return H_OTHER;
    case 'f':
      if (room >= 4 && word_is(b, s, 4, 0x20202020u, 0x6d6f7266u /* from */) && name_ends(b, s + 4, end)) { *ne = s + 4; return H_FROM; }
      if (name_ends(b, s + 1, end)) { *ne = s + 1; return H_FROM; }
      return H_OTHER;
    case 'l':
      if (name_ends(b, s + 1, end)) { *ne = s + 1; return H_CONTENT_LENGTH; }
      return H_OTHER;
    case 'c':
      if (room >= 4 && word_is(b, s, 4, 0x20202020u, 0x71657363u /* cseq */) && name_ends(b, s + 4, end)) { *ne = s + 4; return H_CSEQ; }
      if (room >= 7 && word_is(b, s, 7, 0x20200020202020ull, 0x64692d6c6c6163ull /* call-id */) && name_ends(b, s + 7, end)) {
        *ne = s + 7;
        return H_CALL_ID;
      }
      if (room >= 14 && word_is(b, s, 8, 0x0020202020202020ull, 0x2d746e65746e6f63ull /* content- */) &&
          word_is(b, s + 8, 6, 0x202020202020ull, 0x6874676e656cull /* length */) && name_ends(b, s + 14, end)) {
        *ne = s + 14;
        return H_CONTENT_LENGTH;
      }
      return H_OTHER;
    case 'r':
      if (room >= 5 && word_is(b, s, 5, 0x2020202020ull, 0x6574756f72ull /* route */) && name_ends(b, s + 5, end)) { *ne = s + 5; return H_ROUTE; }
      return H_OTHER;
    case 'm':
      if (room >= 12 && word_is(b, s, 8, 0x2020202000202020ull, 0x77726f662d78616dull /* max-forw */) &&
          word_is(b, s + 8, 4, 0x20202020u, 0x73647261u /* ards */) && name_ends(b, s + 12, end)) {
        *ne = s + 12;
        return H_MAX_FORWARDS;
      }
      return H_OTHER;
    default:
      return H_OTHER;
  }
}

/* Little-endian word of up to 8 characters, for comparing with load_le. */
#define W8(c0, c1, c2, c3, c4, c5, c6, c7)                                                                 \
  ((uint64_t)(c0) | (uint64_t)(c1) << 8 | (uint64_t)(c2) << 16 | (uint64_t)(c3) << 24 | (uint64_t)(c4) << 32 | \
   (uint64_t)(c5) << 40 | (uint64_t)(c6) << 48 | (uint64_t)(c7) << 56)

/* Methods are case-sensitive (RFC 3261 §7.1). The names of SF_METHOD_NAMES (constants.h,
 * generated from src/sip/scanner.ts Method) by length, each one word compare instead of
 * a walk over the list; the static assert stops the build when the list grows without
 * this switch, and bench/tools/scan-cost.c checks every name against the list. */
_Static_assert(SF_METHOD_COUNT == 15, "sf_method_of lists every SF_METHOD_NAMES entry");
int sf_method_of(const uint8_t *b, int32_t s, int32_t e) {
  const int32_t n = e - s;
  if (n < 3 || n > 9) return SF_METHOD_OTHER;
  uint64_t w;
  switch (n) {
    case 3:
      w = load_le(b + s, 3);
      if (w == W8('A', 'C', 'K', 0, 0, 0, 0, 0)) return SF_METHOD_ACK;
      if (w == W8('B', 'Y', 'E', 0, 0, 0, 0, 0)) return SF_METHOD_BYE;
      break;
    case 4:
      w = load_le(b + s, 4);
      if (w == W8('I', 'N', 'F', 'O', 0, 0, 0, 0)) return SF_METHOD_INFO;
      break;
    case 5:
      w = load_le(b + s, 5);
      if (w == W8('P', 'R', 'A', 'C', 'K', 0, 0, 0)) return SF_METHOD_PRACK;
      if (w == W8('R', 'E', 'F', 'E', 'R', 0, 0, 0)) return SF_METHOD_REFER;
      break;
    case 6:
      w = load_le(b + s, 6);
      if (w == W8('I', 'N', 'V', 'I', 'T', 'E', 0, 0)) return SF_METHOD_INVITE;
      if (w == W8('C', 'A', 'N', 'C', 'E', 'L', 0, 0)) return SF_METHOD_CANCEL;
      if (w == W8('U', 'P', 'D', 'A', 'T', 'E', 0, 0)) return SF_METHOD_UPDATE;
      if (w == W8('N', 'O', 'T', 'I', 'F', 'Y', 0, 0)) return SF_METHOD_NOTIFY;
      break;
    case 7:
      w = load_le(b + s, 7);
      if (w == W8('O', 'P', 'T', 'I', 'O', 'N', 'S', 0)) return SF_METHOD_OPTIONS;
      if (w == W8('M', 'E', 'S', 'S', 'A', 'G', 'E', 0)) return SF_METHOD_MESSAGE;
      if (w == W8('P', 'U', 'B', 'L', 'I', 'S', 'H', 0)) return SF_METHOD_PUBLISH;
      break;
    case 8:
      w = load_le(b + s, 8);
      if (w == W8('R', 'E', 'G', 'I', 'S', 'T', 'E', 'R')) return SF_METHOD_REGISTER;
      break;
    case 9:
      w = load_le(b + s, 8);
      if (w == W8('S', 'U', 'B', 'S', 'C', 'R', 'I', 'B') && b[s + 8] == 'E') return SF_METHOD_SUBSCRIBE;
      break;
    default:
      break;
  }
  return SF_METHOD_OTHER;
}

/* Scratch of one scan (the TS module-level numbers, kept on the stack here). */
typedef struct cursor {
  int32_t p_start, p_end;               /* a parameter value */
  int32_t u_start, u_end, u_params;     /* a name-addr's URI, where its params begin */
} cursor;

/* End of a generic-param value token from i: token characters plus ':' '[' ']' (an IPv6
 * `received`, scanner.ts findParam). */
SF_INLINE int32_t param_value_run(const uint8_t *b, int32_t i, int32_t ve) {
  for (;;) {
    i = token_run(b, i, ve);
    if (i < ve && (b[i] == 0x3a || b[i] == 0x5b || b[i] == 0x5d)) { i++; continue; }
    return i;
  }
}

/* Parameter `name` in *(SEMI param) from i; stops at ',' or ve (scanner.ts findParam).
 * The name (nlen <= 8 letters) is given as its lowercase little-endian word, compared
 * case-insensitively (RFC 3261 §7.3.1) with the letter mask of word_is. */
SF_INLINE void find_param(cursor *c, const uint8_t *b, int32_t i, int32_t ve, int nlen, uint64_t mask, uint64_t name,
                          int lenient) {
  c->p_start = -1; c->p_end = -1;
  for (;;) {
    i = skip_lws(b, i, ve, lenient);
    if (i >= ve || b[i] != 0x3b) return;
    i = skip_lws(b, i + 1, ve, lenient);
    int32_t ns = i, ne;
    int match;
    if (ve - ns > nlen && word_is(b, ns, nlen, mask, name) && !is_token(b[ns + nlen])) {
      ne = ns + nlen; /* the usual case: the wanted name, then '=' */
      match = 1;
    } else {
      ne = token_run(b, ns, ve);
      match = ne - ns == nlen && word_is(b, ns, nlen, mask, name);
    }
    i = skip_lws(b, ne, ve, lenient);
    int32_t vs = -1, vend = -1;
    if (i < ve && b[i] == 0x3d) {
      i = skip_lws(b, i + 1, ve, lenient);
      if (i < ve && b[i] == 0x22) {
        i = skip_quoted(b, i, ve);
      } else {
        vs = i;
        i = param_value_run(b, i, ve);
        vend = i;
      }
    }
    if (match) {
      if (vs >= 0 && vend > vs) { c->p_start = vs; c->p_end = vend; }
      return;
    }
    if (i == ns) return;
  }
}

/* URI of a name-addr / addr-spec from i (scanner.ts nameAddrUri). */
SF_INLINE void name_addr_uri(cursor *c, const uint8_t *b, int32_t i, int32_t ve, int lenient) {
  c->u_start = -1; c->u_end = -1; c->u_params = ve;
  if (i >= ve) return;
  int32_t lt = -1;
  if (b[i] == 0x3c) {
    lt = i; /* the common `<uri>`: no display name */
  } else if (b[i] == 0x22) {
    int32_t j = skip_lws(b, skip_quoted(b, i, ve), ve, lenient);
    if (j < ve && b[j] == 0x3c) lt = j;
    else return;
  } else {
    int32_t j = i;
    for (;;) {
      j = skip_lws(b, j, ve, lenient);
      if (j >= ve || !is_token(b[j])) break;
      j = token_run(b, j, ve);
    }
    if (j < ve && b[j] == 0x3c) lt = j;
  }
  if (lt >= 0) {
    int32_t k = find_byte(b, lt + 1, ve, 0x3e);
    if (k >= ve) return;
    c->u_start = lt + 1; c->u_end = k; c->u_params = k + 1;
    return;
  }
  /* addr-spec: its params are the header's (RFC 3261 §20) */
  int32_t k = i;
  while (k < ve) {
    uint8_t ch = b[k];
    if (ch == 0x3b || ch == 0x2c || ch == SP || ch == HT || ch == CR || ch == LF) break;
    k++;
  }
  if (k == i) return;
  c->u_start = i; c->u_end = k; c->u_params = k;
}

/* Values in a Via header: 1 + the commas outside quoted strings and <...>. */
static int32_t count_values(const uint8_t *b, int32_t i, int32_t ve) {
  int32_t n = 1;
  int angle = 0;
  while (i < ve) {
    uint8_t ch = b[i];
    if (angle) {
      if (ch == 0x3e) angle = 0;
    } else if (ch == 0x22) {
      i = skip_quoted(b, i, ve);
      continue;
    } else if (ch == 0x3c) {
      angle = 1;
    } else if (ch == 0x2c) {
      n++;
    }
    i++;
  }
  return n;
}

/* `SIP/<digits>.<digits>` at i: -1, or end | (1 << 16 when not 2.0). */
static int32_t version_at(const uint8_t *b, int32_t i, int32_t end) {
  if (i + 4 > end || (b[i] | 0x20) != 0x73 || (b[i + 1] | 0x20) != 0x69 || (b[i + 2] | 0x20) != 0x70 || b[i + 3] != 0x2f)
    return -1;
  int32_t k = i + 4, ma = k;
  while (k < end && is_digit(b[k])) k++;
  if (k == ma || k - ma > 4 || k >= end || b[k] != 0x2e) return -1;
  int major_ok = k - ma == 1 && b[ma] == 0x32;
  k++;
  int32_t mi = k;
  while (k < end && is_digit(b[k])) k++;
  if (k == mi || k - mi > 4) return -1;
  int minor_ok = k - mi == 1 && b[mi] == 0x30;
  return k | (major_ok && minor_ok ? 0 : 1 << 16);
}

/* "SIP/2.0 " and " SIP/2.0", little-endian */
#define SIP20_SP 0x20302e322f504953ull
#define SP_SIP20 0x302e322f50495320ull

/* First CR or LF in [i, end), or end (whatever the line-end mode: the start line rules). */
SF_INLINE int32_t first_cr_or_lf(const uint8_t *b, int32_t i, int32_t end) {
#if defined(__SSE2__)
  if (end - i >= 16) {
    const __m128i cr = _mm_set1_epi8(CR), lf = _mm_set1_epi8(LF);
    for (;;) {
      if (end - i < 16) {
        if (i >= end) return end;
        i = end - 16; /* overlaps bytes already known to be neither */
      }
      __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(b + i));
      unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(x, cr), _mm_cmpeq_epi8(x, lf)));
      if (m != 0) return i + __builtin_ctz(m);
      i += 16;
    }
  }
#endif
  while (i < end && b[i] != CR && b[i] != LF) i++;
  return i;
}

/* Whether [i, e) holds a control character other than HTAB (below SP). */
SF_INLINE int has_ctl(const uint8_t *b, int32_t i, int32_t e) {
#if defined(__SSE2__)
  if (e - i >= 16) {
    const __m128i us = _mm_set1_epi8(0x1f), ht = _mm_set1_epi8(HT);
    for (;;) {
      if (e - i < 16) {
        if (i >= e) return 0;
        i = e - 16;
      }
      __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(b + i));
      /* x <= 0x1f unsigned: min(x, 0x1f) == x */
      __m128i ctl = _mm_andnot_si128(_mm_cmpeq_epi8(x, ht), _mm_cmpeq_epi8(_mm_min_epu8(x, us), x));
      if (_mm_movemask_epi8(ctl) != 0) return 1;
      i += 16;
    }
  }
#endif
  for (; i < e; i++)
    if (b[i] < SP && b[i] != HT) return 1;
  return 0;
}

/* Request-Line / Status-Line (RFC 3261 §7.1, §7.2): offset of the first header, or -status. */
SF_INLINE int32_t start_line(const uint8_t *b, int32_t end, sf_scan *out, int lenient) {
  if (end >= 4 && (b[0] | 0x20) == 0x73 && (b[1] | 0x20) == 0x69 && (b[2] | 0x20) == 0x70 && b[3] == 0x2f) {
    /* "SIP/2.0 " as sent is what version_at would read as 2.0 ending at 7 */
    int32_t v = end >= 8 && load_le(b, 8) == SIP20_SP ? 7 : version_at(b, 0, end);
    if (v < 0) return -SF_SCAN_NOT_SIP;
    int32_t i = v & 0xffff;
    if (i + 5 > end || b[i] != SP || !is_digit(b[i + 1]) || !is_digit(b[i + 2]) || !is_digit(b[i + 3]) || b[i + 4] != SP)
      return -SF_SCAN_NOT_SIP;
    int32_t code = (b[i + 1] - 0x30) * 100 + (b[i + 2] - 0x30) * 10 + (b[i + 3] - 0x30);
    if (code < 100 || code > 699) return -SF_SCAN_NOT_SIP;
    out->is_request = 0;
    out->status_code = code;
    int32_t k = first_cr_or_lf(b, i + 5, end);
    int32_t n = eol_len(b, k, end, lenient);
    if (n == 0) return k >= end ? -SF_SCAN_NO_END_OF_HEADERS : -SF_SCAN_NOT_SIP;
    if ((v >> 16) != 0) return -SF_SCAN_BAD_VERSION;
    return k + n;
  }
  /* Lenient on SP around the Request-URI on purpose (RFC 4475 §3.1.2.8-10): the slow
   * path answers 400 rather than the fast path dropping it as not-SIP. */
  int32_t i = token_run(b, 0, end);
  if (i == 0 || i >= end || b[i] != SP) return -SF_SCAN_NOT_SIP;
  out->method_start = 0;
  out->method_end = i;
  int32_t le = first_cr_or_lf(b, i, end);
  int32_t n = eol_len(b, le, end, lenient);
  if (n == 0) return le >= end ? -SF_SCAN_NO_END_OF_HEADERS : -SF_SCAN_NOT_SIP;
  int32_t te = le;
  while (te > i && (b[te - 1] == SP || b[te - 1] == HT)) te--;
  int32_t vs, v;
  if (te - i >= 8 && load_le(b + te - 8, 8) == SP_SIP20) {
    /* " SIP/2.0" as sent: the version is the 7 bytes after that SP, 2.0, ending at te */
    vs = te - 7;
    v = te;
  } else {
    vs = te;
    while (vs > i && b[vs - 1] != SP && b[vs - 1] != HT) vs--;
    v = version_at(b, vs, te);
  }
  if (v < 0 || (v & 0xffff) != te) return -SF_SCAN_NOT_SIP;
  int32_t us = i;
  while (us < vs && b[us] == SP) us++;
  int32_t ue = vs;
  while (ue > us && (b[ue - 1] == SP || b[ue - 1] == HT)) ue--;
  if (ue == us) return -SF_SCAN_NOT_SIP;
  /* no control character but HTAB in the Request-URI */
  if (has_ctl(b, us, ue)) return -SF_SCAN_NOT_SIP;
  out->ruri_start = us;
  out->ruri_end = ue;
  out->is_request = 1;
  out->method = sf_method_of(b, out->method_start, out->method_end);
  if ((v >> 16) != 0) return -SF_SCAN_BAD_VERSION;
  return le + n;
}

static void scan_reset(sf_scan *o) {
  o->status = 0; o->is_request = 0; o->method = 0; o->method_start = -1; o->method_end = -1;
  o->status_code = 0; o->ruri_start = -1; o->ruri_end = -1; o->branch_start = -1; o->branch_end = -1;
  o->via_count = 0; o->call_id_start = -1; o->call_id_end = -1; o->cseq_num = -1; o->cseq_method = 0;
  o->cseq_method_start = -1; o->cseq_method_end = -1; o->to_uri_start = -1; o->to_uri_end = -1;
  o->from_tag_start = -1; o->from_tag_end = -1; o->to_tag_start = -1; o->to_tag_end = -1;
  o->route_uri_start = -1; o->route_uri_end = -1; o->max_forwards = -1; o->headers_end = -1;
  o->content_length = -1;
}

/* The headers, in order; returns the status. `lenient` is a constant in each instance. */
SF_INLINE int scan_headers(const uint8_t *b, const int32_t end, int32_t p, sf_scan *out, const int lenient) {
  cursor c;
  int top_via_seen = 0, cseq_seen = 0;
  for (;;) {
    if (p >= end) return SF_SCAN_NO_END_OF_HEADERS;
    int32_t blank = eol_len(b, p, end, lenient);
    if (blank > 0) { out->headers_end = p + blank; break; }

    /* header name, optional whitespace, ':' (HCOLON, RFC 3261 §25.1). A line that is
     * not one of ours is skipped to its end: its name and its value hold no CR or LF
     * before the line end, so that end is the same found from the name or after it. */
    int32_t ne, eol;
    const int h = header_at(b, p, end, &ne);
    if (h == H_OTHER || (h == H_ROUTE && out->route_uri_start >= 0)) {
      /* (a Route after the one that counts is skipped as a line of no interest) */
      int32_t ve = value_end(b, p, end, lenient, &eol);
      if (ve < 0) return SF_SCAN_NO_END_OF_HEADERS;
      p = ve + eol;
      continue;
    }
    p = ne;
    if (p < end && b[p] != 0x3a)
      while (p < end && (b[p] == SP || b[p] == HT)) p++;
    int32_t ve = value_end(b, p, end, lenient, &eol);
    if (ve < 0) return SF_SCAN_NO_END_OF_HEADERS;
    int32_t next = ve + eol;
    if (p >= ve || b[p] != 0x3a) { p = next; continue; }
    int32_t vs = skip_lws(b, p + 1, ve, lenient);

    switch (h) {
      case H_VIA: {
        if (vs >= ve) break;
        /* no ',' at all is one value, whatever the quotes and brackets */
        int32_t comma = find_byte(b, vs, ve, 0x2c);
        out->via_count += comma >= ve ? 1 : count_values(b, vs, ve);
        if (top_via_seen) break;
        top_via_seen = 1;
        /* the top via-parm's params start at its first ';' (before any ',') */
        int32_t k = find_byte(b, vs, comma, 0x3b);
        find_param(&c, b, k, ve, 6, 0x202020202020ull, 0x68636e617262ull /* branch */, lenient);
        out->branch_start = c.p_start; out->branch_end = c.p_end;
        break;
      }
      case H_CALL_ID: {
        if (out->call_id_start >= 0) break;
        int32_t k = vs;
        for (;;) {
          k = first_ctl_or_sp(b, k, ve);
          if (k >= ve || b[k] == SP || b[k] == HT || b[k] == CR || b[k] == LF) break;
          k++;
        }
        if (k > vs) { out->call_id_start = vs; out->call_id_end = k; }
        break;
      }
      case H_CSEQ: {
        if (cseq_seen) break;
        cseq_seen = 1;
        /* CSeq = 1*DIGIT LWS Method; the number < 2**31 (RFC 3261 §8.1.1.5) */
        int32_t k = vs;
        int64_t num = 0;
        /* nine digits cannot pass 2**31 - 1: the check starts at the tenth */
        const int32_t nine = ve - vs > 9 ? vs + 9 : ve;
        while (k < nine && is_digit(b[k])) {
          num = num * 10 + (b[k] - 0x30);
          k++;
        }
        while (k < ve && is_digit(b[k])) {
          num = num * 10 + (b[k] - 0x30);
          if (num > 0x7fffffff) return SF_SCAN_BAD_CSEQ;
          k++;
        }
        if (k == vs) return SF_SCAN_BAD_CSEQ;
        int32_t ms = skip_lws(b, k, ve, lenient);
        if (ms == k) return SF_SCAN_BAD_CSEQ;
        int32_t me = token_run(b, ms, ve);
        if (me == ms || skip_lws(b, me, ve, lenient) != ve) return SF_SCAN_BAD_CSEQ;
        out->cseq_num = (int32_t)num;
        out->cseq_method_start = ms;
        out->cseq_method_end = me;
        out->cseq_method = sf_method_of(b, ms, me);
        break;
      }
      case H_TO: {
        if (out->to_uri_start >= 0 || out->to_tag_start >= 0) break;
        name_addr_uri(&c, b, vs, ve, lenient);
        if (c.u_start < 0) break;
        out->to_uri_start = c.u_start; out->to_uri_end = c.u_end;
        find_param(&c, b, c.u_params, ve, 3, 0x202020u, 0x676174u /* tag */, lenient);
        out->to_tag_start = c.p_start; out->to_tag_end = c.p_end;
        break;
      }
      case H_FROM: {
        if (out->from_tag_start >= 0) break;
        name_addr_uri(&c, b, vs, ve, lenient);
        if (c.u_start < 0) break;
        find_param(&c, b, c.u_params, ve, 3, 0x202020u, 0x676174u /* tag */, lenient);
        out->from_tag_start = c.p_start; out->from_tag_end = c.p_end;
        break;
      }
      case H_ROUTE: {
        if (out->route_uri_start >= 0) break;
        name_addr_uri(&c, b, vs, ve, lenient);
        if (c.u_start >= 0) { out->route_uri_start = c.u_start; out->route_uri_end = c.u_end; }
        break;
      }
      case H_MAX_FORWARDS: {
        /* request-only header (RFC 3261 §20.22): a response's is ignored */
        if (out->max_forwards >= 0 || !out->is_request) break;
        int32_t k = vs, n = 0;
        while (k < ve && is_digit(b[k])) {
          n = n * 10 + (b[k] - 0x30);
          if (n > 255) return SF_SCAN_BAD_MAX_FORWARDS;
          k++;
        }
        if (k == vs || skip_lws(b, k, ve, lenient) != ve) return SF_SCAN_BAD_MAX_FORWARDS;
        out->max_forwards = n;
        break;
      }
      case H_CONTENT_LENGTH: {
        if (out->content_length >= 0) break;
        int32_t k = vs, n = 0;
        while (k < ve && is_digit(b[k]) && n <= SF_SCAN_MAX_DATAGRAM) {
          n = n * 10 + (b[k] - 0x30);
          k++;
        }
        if (k > vs && n <= SF_SCAN_MAX_DATAGRAM && skip_lws(b, k, ve, lenient) == ve) out->content_length = n;
        break;
      }
      default:
        break;
    }
    p = next;
  }

  if (out->via_count == 0) return SF_SCAN_NO_VIA;
  if (out->call_id_start < 0) return SF_SCAN_NO_CALL_ID;
  if (out->cseq_num < 0) return SF_SCAN_NO_CSEQ;
  return SF_SCAN_OK;
}

SF_INLINE int scan(const uint8_t *b, const int32_t end, sf_scan *out, const int lenient) {
  int32_t p = start_line(b, end, out, lenient);
  if (p < 0) return -p;
  return scan_headers(b, end, p, out, lenient);
}

static int scan_strict(const uint8_t *b, int32_t end, sf_scan *out) { return scan(b, end, out, 0); }
static int scan_lenient(const uint8_t *b, int32_t end, sf_scan *out) { return scan(b, end, out, 1); }

int sf_scan_datagram(const uint8_t *b, size_t len, sf_scan *out, int32_t cap, int flags) {
  scan_reset(out);
  /* Size cap before looking at any byte (STYLE habit 5). */
  if (len > (size_t)(cap < 0 ? 0 : cap) || len > SF_SCAN_MAX_DATAGRAM) return out->status = SF_SCAN_TOO_LARGE;
  const int32_t end = (int32_t)len;
  return out->status = (flags & SF_SCANFLAG_LENIENT_LINE_ENDS) ? scan_lenient(b, end, out) : scan_strict(b, end, out);
}

void sf_scan_export(const sf_scan *s, int32_t *o) {
  o[SF_SCANOUT_STATUS] = s->status;
  o[SF_SCANOUT_IS_REQUEST] = s->is_request;
  o[SF_SCANOUT_METHOD] = s->method;
  o[SF_SCANOUT_METHOD_START] = s->method_start;
  o[SF_SCANOUT_METHOD_END] = s->method_end;
  o[SF_SCANOUT_STATUS_CODE] = s->status_code;
  o[SF_SCANOUT_RURI_START] = s->ruri_start;
  o[SF_SCANOUT_RURI_END] = s->ruri_end;
  o[SF_SCANOUT_BRANCH_START] = s->branch_start;
  o[SF_SCANOUT_BRANCH_END] = s->branch_end;
  o[SF_SCANOUT_VIA_COUNT] = s->via_count;
  o[SF_SCANOUT_CALL_ID_START] = s->call_id_start;
  o[SF_SCANOUT_CALL_ID_END] = s->call_id_end;
  o[SF_SCANOUT_CSEQ_NUM] = s->cseq_num;
  o[SF_SCANOUT_CSEQ_METHOD] = s->cseq_method;
  o[SF_SCANOUT_CSEQ_METHOD_START] = s->cseq_method_start;
  o[SF_SCANOUT_CSEQ_METHOD_END] = s->cseq_method_end;
  o[SF_SCANOUT_TO_URI_START] = s->to_uri_start;
  o[SF_SCANOUT_TO_URI_END] = s->to_uri_end;
  o[SF_SCANOUT_FROM_TAG_START] = s->from_tag_start;
  o[SF_SCANOUT_FROM_TAG_END] = s->from_tag_end;
  o[SF_SCANOUT_TO_TAG_START] = s->to_tag_start;
  o[SF_SCANOUT_TO_TAG_END] = s->to_tag_end;
  o[SF_SCANOUT_ROUTE_URI_START] = s->route_uri_start;
  o[SF_SCANOUT_ROUTE_URI_END] = s->route_uri_end;
  o[SF_SCANOUT_MAX_FORWARDS] = s->max_forwards;
  o[SF_SCANOUT_HEADERS_END] = s->headers_end;
  o[SF_SCANOUT_CONTENT_LENGTH] = s->content_length;
}
