/* The fast-path SIP scanner: the C twin of src/sip/scanner.ts. It finds offsets, it does
 * not parse. Same status precedence, same offsets, byte for byte: TOO_LARGE; then the
 * start line (NOT_SIP, BAD_VERSION); then, in header order, the first BAD_CSEQ /
 * BAD_MAX_FORWARDS; then NO_END_OF_HEADERS; then NO_VIA, NO_CALL_ID, NO_CSEQ.
 * Never reads at or beyond len. No allocation, no global state (re-entrant). */
#include "sf.h"

#define SP 0x20
#define HT 0x09
#define CR 0x0d
#define LF 0x0a

enum { H_OTHER, H_VIA, H_CALL_ID, H_CSEQ, H_TO, H_FROM, H_ROUTE, H_MAX_FORWARDS, H_CONTENT_LENGTH };

static inline int is_token(uint8_t c) { return SF_TOKEN_CHAR[c]; }
static inline int is_digit(uint8_t c) { return c >= 0x30 && c <= 0x39; }
static inline uint8_t lower(uint8_t c) { return c >= 0x41 && c <= 0x5a ? (uint8_t)(c | 0x20) : c; }

/* 2 for CRLF, 1 for a bare LF when lenient, else 0. */
static int32_t eol_len(const uint8_t *b, int32_t i, int32_t end, int lenient) {
  if (i >= end) return 0;
  uint8_t c = b[i];
  if (c == CR) return i + 1 < end && b[i + 1] == LF ? 2 : 0;
  if (c == LF && lenient) return 1;
  return 0;
}

/* LWS inside a value: SP, HTAB, and folds (RFC 3261 §7.3.1); never passes ve. */
static int32_t skip_lws(const uint8_t *b, int32_t i, int32_t ve, int lenient) {
  for (;;) {
    if (i >= ve) return ve;
    uint8_t c = b[i];
    if (c == SP || c == HT) { i++; continue; }
    int32_t n = eol_len(b, i, ve, lenient);
    if (n > 0 && i + n < ve && (b[i + n] == SP || b[i + n] == HT)) { i += n; continue; }
    return i;
  }
}

/* Offset of the line end not followed by SP/HTAB, or -1 if the buffer ends first. */
static int32_t value_end(const uint8_t *b, int32_t i, int32_t end, int lenient) {
  while (i < end) {
    uint8_t c = b[i];
    if (c == CR || c == LF) {
      int32_t n = eol_len(b, i, end, lenient);
      if (n > 0) {
        int32_t next = i + n;
        if (next < end && (b[next] == SP || b[next] == HT)) { i = next + 1; continue; }
        return i;
      }
    }
    i++;
  }
  return -1;
}

static int32_t skip_quoted(const uint8_t *b, int32_t i, int32_t ve) {
  i++;
  while (i < ve) {
    uint8_t c = b[i];
    if (c == 0x5c) { i += 2; continue; }
    if (c == 0x22) return i + 1;
    i++;
  }
  return ve;
}

static int eq_lower(const uint8_t *b, int32_t s, int32_t e, const char *name, int32_t n) {
  if (e - s != n) return 0;
  for (int32_t k = 0; k < n; k++)
    if (lower(b[s + k]) != (uint8_t)name[k]) return 0;
  return 1;
}

/* Header names, lowercase; compact forms per RFC 3261 §7.3.3. */
static int header_id(const uint8_t *b, int32_t s, int32_t e) {
  switch (e - s) {
    case 1:
      switch (lower(b[s])) {
        case 'v': return H_VIA;
        case 'i': return H_CALL_ID;
        case 't': return H_TO;
        case 'f': return H_FROM;
        case 'l': return H_CONTENT_LENGTH;
        default: return H_OTHER;
      }
    case 2: return eq_lower(b, s, e, "to", 2) ? H_TO : H_OTHER;
    case 3: return eq_lower(b, s, e, "via", 3) ? H_VIA : H_OTHER;
    case 4:
      if (eq_lower(b, s, e, "cseq", 4)) return H_CSEQ;
      return eq_lower(b, s, e, "from", 4) ? H_FROM : H_OTHER;
    case 5: return eq_lower(b, s, e, "route", 5) ? H_ROUTE : H_OTHER;
    case 7: return eq_lower(b, s, e, "call-id", 7) ? H_CALL_ID : H_OTHER;
    case 12: return eq_lower(b, s, e, "max-forwards", 12) ? H_MAX_FORWARDS : H_OTHER;
    case 14: return eq_lower(b, s, e, "content-length", 14) ? H_CONTENT_LENGTH : H_OTHER;
    default: return H_OTHER;
  }
}

/* Methods are case-sensitive (RFC 3261 §7.1). */
int sf_method_of(const uint8_t *b, int32_t s, int32_t e) {
  int32_t n = e - s;
  if (n < 3 || n > 9) return SF_METHOD_OTHER;
  for (int m = 1; m < SF_METHOD_COUNT; m++) {
    const char *name = SF_METHOD_NAMES[m];
    int32_t k = 0;
    while (k < n && name[k] != 0 && (uint8_t)name[k] == b[s + k]) k++;
    if (k == n && name[k] == 0) return m;
  }
  return SF_METHOD_OTHER;
}

/* Scratch of one scan (the TS module-level numbers, kept on the stack here). */
typedef struct cursor {
  const uint8_t *b;
  int lenient;
  int32_t p_start, p_end;               /* a parameter value */
  int32_t u_start, u_end, u_params;     /* a name-addr's URI, where its params begin */
} cursor;

/* Parameter `name` in *(SEMI param) from i; stops at ',' or ve (scanner.ts findParam). */
static void find_param(cursor *c, int32_t i, int32_t ve, const char *name, int32_t nlen) {
  const uint8_t *b = c->b;
  c->p_start = -1; c->p_end = -1;
  for (;;) {
    i = skip_lws(b, i, ve, c->lenient);
    if (i >= ve || b[i] != 0x3b) return;
    i = skip_lws(b, i + 1, ve, c->lenient);
    int32_t ns = i;
    while (i < ve && is_token(b[i])) i++;
    int32_t ne = i;
    i = skip_lws(b, i, ve, c->lenient);
    int32_t vs = -1, vend = -1;
    if (i < ve && b[i] == 0x3d) {
      i = skip_lws(b, i + 1, ve, c->lenient);
      if (i < ve && b[i] == 0x22) {
        i = skip_quoted(b, i, ve);
      } else {
        vs = i;
        while (i < ve && (is_token(b[i]) || b[i] == 0x3a || b[i] == 0x5b || b[i] == 0x5d)) i++;
        vend = i;
      }
    }
    if (ne > ns && eq_lower(b, ns, ne, name, nlen)) {
      if (vs >= 0 && vend > vs) { c->p_start = vs; c->p_end = vend; }
      return;
    }
    if (i == ns) return;
  }
}

/* URI of a name-addr / addr-spec from i (scanner.ts nameAddrUri). */
static void name_addr_uri(cursor *c, int32_t i, int32_t ve) {
  const uint8_t *b = c->b;
  c->u_start = -1; c->u_end = -1; c->u_params = ve;
  if (i >= ve) return;
  int32_t lt = -1;
  if (b[i] == 0x22) {
    int32_t j = skip_lws(b, skip_quoted(b, i, ve), ve, c->lenient);
    if (j < ve && b[j] == 0x3c) lt = j;
    else return;
  } else {
    int32_t j = i;
    for (;;) {
      j = skip_lws(b, j, ve, c->lenient);
      if (j >= ve || !is_token(b[j])) break;
      while (j < ve && is_token(b[j])) j++;
    }
    if (j < ve && b[j] == 0x3c) lt = j;
  }
  if (lt >= 0) {
    int32_t k = lt + 1;
    while (k < ve && b[k] != 0x3e) k++;
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

/* Request-Line / Status-Line (RFC 3261 §7.1, §7.2): offset of the first header, or -status. */
static int32_t start_line(const uint8_t *b, int32_t end, sf_scan *out, int lenient) {
  if (end >= 4 && (b[0] | 0x20) == 0x73 && (b[1] | 0x20) == 0x69 && (b[2] | 0x20) == 0x70 && b[3] == 0x2f) {
    int32_t v = version_at(b, 0, end);
    if (v < 0) return -SF_SCAN_NOT_SIP;
    int32_t i = v & 0xffff;
    if (i + 5 > end || b[i] != SP || !is_digit(b[i + 1]) || !is_digit(b[i + 2]) || !is_digit(b[i + 3]) || b[i + 4] != SP)
      return -SF_SCAN_NOT_SIP;
    int32_t code = (b[i + 1] - 0x30) * 100 + (b[i + 2] - 0x30) * 10 + (b[i + 3] - 0x30);
    if (code < 100 || code > 699) return -SF_SCAN_NOT_SIP;
    out->is_request = 0;
    out->status_code = code;
    int32_t k = i + 5;
    while (k < end && b[k] != CR && b[k] != LF) k++;
    int32_t n = eol_len(b, k, end, lenient);
    if (n == 0) return k >= end ? -SF_SCAN_NO_END_OF_HEADERS : -SF_SCAN_NOT_SIP;
    if ((v >> 16) != 0) return -SF_SCAN_BAD_VERSION;
    return k + n;
  }
  /* Lenient on SP around the Request-URI on purpose (RFC 4475 §3.1.2.8-10): the slow
   * path answers 400 rather than the fast path dropping it as not-SIP. */
  int32_t i = 0;
  while (i < end && is_token(b[i])) i++;
  if (i == 0 || i >= end || b[i] != SP) return -SF_SCAN_NOT_SIP;
  out->method_start = 0;
  out->method_end = i;
  int32_t le = i;
  while (le < end && b[le] != CR && b[le] != LF) le++;
  int32_t n = eol_len(b, le, end, lenient);
  if (n == 0) return le >= end ? -SF_SCAN_NO_END_OF_HEADERS : -SF_SCAN_NOT_SIP;
  int32_t te = le;
  while (te > i && (b[te - 1] == SP || b[te - 1] == HT)) te--;
  int32_t vs = te;
  while (vs > i && b[vs - 1] != SP && b[vs - 1] != HT) vs--;
  int32_t v = version_at(b, vs, te);
  if (v < 0 || (v & 0xffff) != te) return -SF_SCAN_NOT_SIP;
  int32_t us = i;
  while (us < vs && b[us] == SP) us++;
  int32_t ue = vs;
  while (ue > us && (b[ue - 1] == SP || b[ue - 1] == HT)) ue--;
  if (ue == us) return -SF_SCAN_NOT_SIP;
  for (int32_t k = us; k < ue; k++)
    if (b[k] < SP && b[k] != HT) return -SF_SCAN_NOT_SIP;
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

int sf_scan_datagram(const uint8_t *b, size_t len, sf_scan *out, int32_t cap, int flags) {
  scan_reset(out);
  /* Size cap before looking at any byte (STYLE habit 5). */
  if (len > (size_t)(cap < 0 ? 0 : cap) || len > SF_SCAN_MAX_DATAGRAM) return out->status = SF_SCAN_TOO_LARGE;
  const int32_t end = (int32_t)len;
  cursor c = { b, (flags & SF_SCANFLAG_LENIENT_LINE_ENDS) != 0, -1, -1, -1, -1, -1 };
  const int lenient = c.lenient;

  int32_t p = start_line(b, end, out, lenient);
  if (p < 0) return out->status = -p;

  int top_via_seen = 0, cseq_seen = 0;
  for (;;) {
    if (p >= end) return out->status = SF_SCAN_NO_END_OF_HEADERS;
    int32_t blank = eol_len(b, p, end, lenient);
    if (blank > 0) { out->headers_end = p + blank; break; }

    /* header name, optional whitespace, ':' (HCOLON, RFC 3261 §25.1) */
    int32_t ns = p;
    while (p < end && is_token(b[p])) p++;
    int32_t ne = p;
    while (p < end && (b[p] == SP || b[p] == HT)) p++;
    int32_t ve = value_end(b, p, end, lenient);
    if (ve < 0) return out->status = SF_SCAN_NO_END_OF_HEADERS;
    int32_t next = ve + eol_len(b, ve, end, lenient);
    if (ne == ns || p >= ve || b[p] != 0x3a) { p = next; continue; }
    int32_t vs = skip_lws(b, p + 1, ve, lenient);

    switch (header_id(b, ns, ne)) {
      case H_VIA: {
        if (vs >= ve) break;
        out->via_count += count_values(b, vs, ve);
        if (top_via_seen) break;
        top_via_seen = 1;
        int32_t k = vs;
        while (k < ve && b[k] != 0x3b && b[k] != 0x2c) k++;
        find_param(&c, k, ve, "branch", 6);
        out->branch_start = c.p_start; out->branch_end = c.p_end;
        break;
      }
      case H_CALL_ID: {
        if (out->call_id_start >= 0) break;
        int32_t k = vs;
        while (k < ve && b[k] != SP && b[k] != HT && b[k] != CR && b[k] != LF) k++;
        if (k > vs) { out->call_id_start = vs; out->call_id_end = k; }
        break;
      }
      case H_CSEQ: {
        if (cseq_seen) break;
        cseq_seen = 1;
        /* CSeq = 1*DIGIT LWS Method; the number < 2**31 (RFC 3261 §8.1.1.5) */
        int32_t k = vs;
        int64_t num = 0;
        while (k < ve && is_digit(b[k])) {
          num = num * 10 + (b[k] - 0x30);
          if (num > 0x7fffffff) return out->status = SF_SCAN_BAD_CSEQ;
          k++;
        }
        if (k == vs) return out->status = SF_SCAN_BAD_CSEQ;
        int32_t ms = skip_lws(b, k, ve, lenient);
        if (ms == k) return out->status = SF_SCAN_BAD_CSEQ;
        int32_t me = ms;
        while (me < ve && is_token(b[me])) me++;
        if (me == ms || skip_lws(b, me, ve, lenient) != ve) return out->status = SF_SCAN_BAD_CSEQ;
        out->cseq_num = (int32_t)num;
        out->cseq_method_start = ms;
        out->cseq_method_end = me;
        out->cseq_method = sf_method_of(b, ms, me);
        break;
      }
      case H_TO: {
        if (out->to_uri_start >= 0 || out->to_tag_start >= 0) break;
        name_addr_uri(&c, vs, ve);
        if (c.u_start < 0) break;
        out->to_uri_start = c.u_start; out->to_uri_end = c.u_end;
        find_param(&c, c.u_params, ve, "tag", 3);
        out->to_tag_start = c.p_start; out->to_tag_end = c.p_end;
        break;
      }
      case H_FROM: {
        if (out->from_tag_start >= 0) break;
        name_addr_uri(&c, vs, ve);
        if (c.u_start < 0) break;
        find_param(&c, c.u_params, ve, "tag", 3);
        out->from_tag_start = c.p_start; out->from_tag_end = c.p_end;
        break;
      }
      case H_ROUTE: {
        if (out->route_uri_start >= 0) break;
        name_addr_uri(&c, vs, ve);
        if (c.u_start >= 0) { out->route_uri_start = c.u_start; out->route_uri_end = c.u_end; }
        break;
      }
      case H_MAX_FORWARDS: {
        /* request-only header (RFC 3261 §20.22): a response's is ignored */
        if (out->max_forwards >= 0 || !out->is_request) break;
        int32_t k = vs, n = 0;
        while (k < ve && is_digit(b[k])) {
          n = n * 10 + (b[k] - 0x30);
          if (n > 255) return out->status = SF_SCAN_BAD_MAX_FORWARDS;
          k++;
        }
        if (k == vs || skip_lws(b, k, ve, lenient) != ve) return out->status = SF_SCAN_BAD_MAX_FORWARDS;
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

  if (out->via_count == 0) return out->status = SF_SCAN_NO_VIA;
  if (out->call_id_start < 0) return out->status = SF_SCAN_NO_CALL_ID;
  if (out->cseq_num < 0) return out->status = SF_SCAN_NO_CSEQ;
  return out->status = SF_SCAN_OK;
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
