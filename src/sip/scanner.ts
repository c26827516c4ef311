/**
 * The fast-path SIP scanner: finds, as offsets into the received datagram, the few
 * things the classifier needs (start line, top-Via branch, Call-ID, CSeq, To/From
 * tags, top Route URI, Max-Forwards, end of headers). It scans, it does not parse —
 * full validation is the slow path's job (message.ts), which answers the errors.
 *
 * Rules for this file (it runs per packet, and has a C twin that must agree byte for
 * byte — keep both in step):
 *  - no allocation: no strings, no slices/subarrays, no regex, no closures; only
 *    `buf[i]` reads, byte searches (indexOfByte) and writes of numbers into the
 *    caller's ScanResult;
 *  - no exceptions, no logging: every outcome is a `Scan` status;
 *  - never reads at or beyond `len` (nor beyond buf.length);
 *  - size cap before looking at any byte (STYLE habit 5).
 *
 * Status precedence (the C twin returns the same): TOO_LARGE; then the start line
 * (NOT_SIP, BAD_VERSION); then, in header order, the first BAD_CSEQ / BAD_MAX_FORWARDS
 * met; then NO_END_OF_HEADERS; then NO_VIA, NO_CALL_ID, NO_CSEQ.
 * Duplicate single-value headers: the first one wins (the slow path rejects conflicts).
 */
import { CHAR_CLASS, CharClass } from './uri.js';

export const MAX_DATAGRAM = 65535;

/** scan() outcomes — small stable ints, shared with the native classifier. */
export const Scan = {
  OK: 0,
  TOO_LARGE: 1,
  /** the start line is not a SIP Request-Line / Status-Line */
  NOT_SIP: 2,
  NO_END_OF_HEADERS: 3,
  NO_VIA: 4,
  NO_CALL_ID: 5,
  NO_CSEQ: 6,
  BAD_CSEQ: 7,
  BAD_MAX_FORWARDS: 8,
  /** a well-formed SIP-Version other than SIP/2.0 (a request is answered 505, RFC 3261 §21.5.6) */
  BAD_VERSION: 9,
} as const;

export const Method = {
  OTHER: 0, INVITE: 1, ACK: 2, BYE: 3, CANCEL: 4, OPTIONS: 5, REGISTER: 6, PRACK: 7,
  UPDATE: 8, INFO: 9, SUBSCRIBE: 10, NOTIFY: 11, MESSAGE: 12, REFER: 13, PUBLISH: 14,
} as const;

/** scan() flags (bit set), same values in C. */
export const ScanFlag = {
  /**
   * Leniency (off by default): accept a bare LF as a line end. Risk: a CR-less sender
   * and a strict element disagree on where headers end (message smuggling).
   */
  LENIENT_LINE_ENDS: 1,
} as const;

/** Allocated once per socket and reset by every scan(). Offsets are [start, end). */
export class ScanResult {
  status = 0;
  isRequest = false;
  method = 0;
  methodStart = -1;
  methodEnd = -1;
  statusCode = 0;
  /** Request-URI */
  ruriStart = -1;
  ruriEnd = -1;
  /** top Via branch param value, -1 if none */
  branchStart = -1;
  branchEnd = -1;
  /** number of Via values seen, all lines, comma lists counted */
  viaCount = 0;
  callIdStart = -1;
  callIdEnd = -1;
  cseqNum = -1;
  cseqMethod = 0;
  cseqMethodStart = -1;
  cseqMethodEnd = -1;
  /** URI inside To (between <> or the addr-spec up to ';') */
  toUriStart = -1;
  toUriEnd = -1;
  fromTagStart = -1;
  fromTagEnd = -1;
  toTagStart = -1;
  toTagEnd = -1;
  /** top Route URI (first value of the first Route header), -1 if none */
  routeUriStart = -1;
  routeUriEnd = -1;
  /** -1 if absent */
  maxForwards = -1;
  /** offset of the body (just after the empty line) */
  headersEnd = -1;
  /** -1 if absent, not a number, or above MAX_DATAGRAM (the slow path rejects those) */
  contentLength = -1;

  reset(): void {
    this.status = 0; this.isRequest = false; this.method = 0; this.methodStart = -1; this.methodEnd = -1;
    this.statusCode = 0; this.ruriStart = -1; this.ruriEnd = -1; this.branchStart = -1; this.branchEnd = -1;
    this.viaCount = 0; this.callIdStart = -1; this.callIdEnd = -1; this.cseqNum = -1; this.cseqMethod = 0;
    this.cseqMethodStart = -1; this.cseqMethodEnd = -1; this.toUriStart = -1; this.toUriEnd = -1;
    this.fromTagStart = -1; this.fromTagEnd = -1; this.toTagStart = -1; this.toTagEnd = -1;
    this.routeUriStart = -1; this.routeUriEnd = -1; this.maxForwards = -1; this.headersEnd = -1;
    this.contentLength = -1;
  }
}

// --- constant tables (built once at load) ----------------------------------------------

const TOKEN = CharClass.TOKEN;
const SP = 0x20, HT = 0x09, CR = 0x0d, LF = 0x0a;

function ascii(s: string): Uint8Array {
  const a = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) a[i] = s.charCodeAt(i);
  return a;
}

// Methods are case-sensitive (RFC 3261 §7.1); index = Method value.
const METHOD_NAMES: readonly Uint8Array[] = [
  ascii(''), ascii('INVITE'), ascii('ACK'), ascii('BYE'), ascii('CANCEL'), ascii('OPTIONS'),
  ascii('REGISTER'), ascii('PRACK'), ascii('UPDATE'), ascii('INFO'), ascii('SUBSCRIBE'),
  ascii('NOTIFY'), ascii('MESSAGE'), ascii('REFER'), ascii('PUBLISH'),
];

const H_OTHER = 0, H_VIA = 1, H_CALL_ID = 2, H_CSEQ = 3, H_TO = 4, H_FROM = 5, H_ROUTE = 6,
  H_MAX_FORWARDS = 7, H_CONTENT_LENGTH = 8;
// Header names, lowercase; compact forms per RFC 3261 §7.3.3.
const HEADER_NAMES: readonly [Uint8Array, number][] = [
  [ascii('via'), H_VIA], [ascii('v'), H_VIA],
  [ascii('call-id'), H_CALL_ID], [ascii('i'), H_CALL_ID],
  [ascii('cseq'), H_CSEQ],
  [ascii('to'), H_TO], [ascii('t'), H_TO],
  [ascii('from'), H_FROM], [ascii('f'), H_FROM],
  [ascii('route'), H_ROUTE],
  [ascii('max-forwards'), H_MAX_FORWARDS],
  [ascii('content-length'), H_CONTENT_LENGTH], [ascii('l'), H_CONTENT_LENGTH],
];
// headerId's table: (first letter << 4 | length) → 1 + index in HEADER_NAMES, 0 = none.
// No two names share a first letter and a length, so one compare decides.
const NAME_MAX = 15;
const NAME_BY_FIRST_LEN = new Uint8Array(256 << 4);
HEADER_NAMES.forEach(([name], i) => {
  const slot = (name[0] << 4) | name.length;
  if (name.length > NAME_MAX || NAME_BY_FIRST_LEN[slot] !== 0) throw new Error('scanner: header name table clash');
  NAME_BY_FIRST_LEN[slot] = i + 1;
});
/** Bytes of an unquoted parameter value: token, and ':' '[' ']' for an IPv6 host. */
const PARAM_VALUE = new Uint8Array(256);
for (let c = 0; c < 256; c++) PARAM_VALUE[c] = (CHAR_CLASS[c] & TOKEN) !== 0 || c === 0x3a || c === 0x5b || c === 0x5d ? 1 : 0;
const BRANCH = ascii('branch');
const TAG = ascii('tag');

// --- byte helpers (all pure, no allocation) ------------------------------------------

/**
 * Buffer's byte search (memchr in C++) on any Uint8Array: one call costs about as much
 * as a JS loop over 15 bytes, so it pays on header lines (30-80 bytes) and on values
 * searched for a byte that is usually absent.
 */
const bufferIndexOf = Buffer.prototype.indexOf as unknown as (this: Uint8Array, value: number, byteOffset: number) => number;

/** Offset of the first byte `c` in buf[i, end), or -1. */
function indexOfByte(buf: Uint8Array, c: number, i: number, end: number): number {
  if (i >= end) return -1;
  const q = bufferIndexOf.call(buf, c, i);
  return q < end ? q : -1;
}

/** Offset of the first CR or LF in buf[i, end), or end (eolLen then says what it is). */
function firstCrOrLf(buf: Uint8Array, i: number, end: number): number {
  const cr = indexOfByte(buf, CR, i, end);
  const lf = indexOfByte(buf, LF, i, cr < 0 ? end : cr);
  return lf >= 0 ? lf : cr >= 0 ? cr : end;
}

function isToken(c: number): boolean {
  return (CHAR_CLASS[c] & TOKEN) !== 0;
}
function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}
/** ASCII lowercase of a byte (letters only). */
function lower(c: number): number {
  return c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
}

/** Length of the line end at i: 2 for CRLF, 1 for a bare LF when lenient, else 0. */
function eolLen(buf: Uint8Array, i: number, end: number, lenient: boolean): number {
  if (i >= end) return 0;
  const c = buf[i];
  if (c === CR) return i + 1 < end && buf[i + 1] === LF ? 2 : 0;
  if (c === LF && lenient) return 1;
  return 0;
}

/**
 * Skip linear whitespace inside a header value: SP, HTAB, and folds (a line end followed
 * by SP/HTAB, RFC 3261 §7.3.1). Never passes `ve` (the value's end).
 */
function skipLws(buf: Uint8Array, i: number, ve: number, lenient: boolean): number {
  for (;;) {
    if (i >= ve) return ve;
    const c = buf[i];
    if (c === SP || c === HT) { i++; continue; }
    const n = eolLen(buf, i, ve, lenient);
    if (n > 0 && i + n < ve && (buf[i + n] === SP || buf[i + n] === HT)) { i += n; continue; }
    return i;
  }
}

/**
 * With LENIENT_LINE_ENDS, the end of the header value starting at i: the offset of the
 * line end (CRLF or bare LF) that is not followed by SP/HTAB. -1 if the buffer ends
 * first. (The strict scan does this inline with a CR search.)
 */
function valueEndLenient(buf: Uint8Array, i: number, end: number): number {
  while (i < end) {
    const c = buf[i];
    if (c === CR || c === LF) {
      const n = eolLen(buf, i, end, true);
      if (n > 0) {
        const next = i + n;
        if (next < end && (buf[next] === SP || buf[next] === HT)) { i = next + 1; continue; }
        return i;
      }
    }
    i++;
  }
  return -1;
}

/** Index just past a quoted-string starting at buf[i] === '"', or ve if unterminated. */
function skipQuoted(buf: Uint8Array, i: number, ve: number): number {
  i++;
  while (i < ve) {
    const c = buf[i];
    if (c === 0x5c) { i += 2; continue; }
    if (c === 0x22) return i + 1;
    i++;
  }
  return ve;
}

/** Case-insensitive compare of buf[s, e) with a lowercase constant. */
function eqLower(buf: Uint8Array, s: number, e: number, name: Uint8Array): boolean {
  if (e - s !== name.length) return false;
  for (let k = 0; k < name.length; k++) if (lower(buf[s + k]) !== name[k]) return false;
  return true;
}

/** Which header buf[s, e) names: one table look-up by (first letter, length), one compare. */
function headerId(buf: Uint8Array, s: number, e: number): number {
  const n = e - s;
  if (n === 0 || n > NAME_MAX) return H_OTHER;
  const k = NAME_BY_FIRST_LEN[(lower(buf[s]) << 4) | n];
  if (k === 0) return H_OTHER;
  return n === 1 || eqLower(buf, s, e, HEADER_NAMES[k - 1][0]) ? HEADER_NAMES[k - 1][1] : H_OTHER;
}

/** Method code of buf[start, end) (case-sensitive; OTHER for extension methods). */
export function methodOf(buf: Uint8Array, start: number, end: number): number {
  const n = end - start;
  if (n < 3 || n > 9) return Method.OTHER;
  outer: for (let m = 1; m < METHOD_NAMES.length; m++) {
    const name = METHOD_NAMES[m];
    if (name.length !== n) continue;
    for (let k = 0; k < n; k++) if (buf[start + k] !== name[k]) continue outer;
    return m;
  }
  return Method.OTHER;
}

// Scratch results of the helpers below (module-level numbers: no allocation).
let pStart = -1, pEnd = -1; // a parameter value
let uStart = -1, uEnd = -1, uParams = -1; // a name-addr's URI and where its params begin

/**
 * Look for parameter `name` in `*(SEMI param)` starting at i (SWS allowed around ';' and
 * '='). Stops at ',' (next list value) or ve. Sets pStart/pEnd (-1 when absent or flag).
 */
function findParam(buf: Uint8Array, i: number, ve: number, lenient: boolean, name: Uint8Array): void {
  pStart = -1; pEnd = -1;
  for (;;) {
    i = skipLws(buf, i, ve, lenient);
    if (i >= ve || buf[i] !== 0x3b) return; // not ';' → end of params
    i = skipLws(buf, i + 1, ve, lenient);
    const ns = i;
    while (i < ve && isToken(buf[i])) i++;
    const ne = i;
    i = skipLws(buf, i, ve, lenient);
    let vs = -1, vend = -1;
    if (i < ve && buf[i] === 0x3d) {
      i = skipLws(buf, i + 1, ve, lenient);
      if (i < ve && buf[i] === 0x22) {
        i = skipQuoted(buf, i, ve);
      } else {
        vs = i;
        // token / host (IPv6 '[', ']', ':') characters
        while (i < ve && PARAM_VALUE[buf[i]] !== 0) i++;
        vend = i;
      }
    }
    if (ne > ns && eqLower(buf, ns, ne, name)) {
      if (vs >= 0 && vend > vs) { pStart = vs; pEnd = vend; }
      return;
    }
    if (i === ns) return; // no progress: malformed, give up
  }
}

/**
 * Locate the URI of a name-addr / addr-spec value starting at i (after leading LWS):
 * `"display" <uri>`, `tok tok <uri>`, `<uri>` or `uri;params`. Sets uStart/uEnd and
 * uParams (offset where header params may start); uStart = -1 if not found.
 */
function nameAddrUri(buf: Uint8Array, i: number, ve: number, lenient: boolean): void {
  uStart = -1; uEnd = -1; uParams = ve;
  if (i >= ve) return;
  let lt = -1;
  if (buf[i] === 0x22) {
    const j = skipLws(buf, skipQuoted(buf, i, ve), ve, lenient);
    if (j < ve && buf[j] === 0x3c) lt = j;
    else return;
  } else {
    let j = i;
    for (;;) {
      j = skipLws(buf, j, ve, lenient);
      if (j >= ve || !isToken(buf[j])) break;
      while (j < ve && isToken(buf[j])) j++;
    }
    if (j < ve && buf[j] === 0x3c) lt = j;
  }
  if (lt >= 0) {
    const k = indexOfByte(buf, 0x3e, lt + 1, ve);
    if (k < 0) return;
    uStart = lt + 1; uEnd = k; uParams = k + 1;
    return;
  }
  // addr-spec: up to ';', ',', whitespace or the end (RFC 3261 §20: its params are the header's)
  let k = i;
  while (k < ve) {
    const c = buf[k];
    if (c === 0x3b || c === 0x2c || c === SP || c === HT || c === CR || c === LF) break;
    k++;
  }
  if (k === i) return;
  uStart = i; uEnd = k; uParams = k;
}

/** Number of comma-separated values in [i, ve) (commas in quotes or <> don't count). */
function countValues(buf: Uint8Array, i: number, ve: number): number {
  if (indexOfByte(buf, 0x2c, i, ve) < 0) return 1; // the usual Via: one value, no comma at all
  let n = 1;
  let angle = false;
  while (i < ve) {
    const c = buf[i];
    if (angle) {
      if (c === 0x3e) angle = false;
    } else if (c === 0x22) {
      i = skipQuoted(buf, i, ve);
      continue;
    } else if (c === 0x3c) {
      angle = true;
    } else if (c === 0x2c) {
      n++;
    }
    i++;
  }
  return n;
}

/** Parse the request/status line; returns the offset of the first header line, or -status. */
function startLine(buf: Uint8Array, end: number, out: ScanResult, lenient: boolean): number {
  // Status-Line: "SIP/2.0" SP 3DIGIT SP Reason-Phrase (RFC 3261 §7.2). No leading
  // whitespace or CRLF is skipped: a datagram must start with the start line.
  if (end >= 4 && (buf[0] | 0x20) === 0x73 && (buf[1] | 0x20) === 0x69 && (buf[2] | 0x20) === 0x70 && buf[3] === 0x2f) {
    const v = versionAt(buf, 0, end);
    if (v < 0) return -Scan.NOT_SIP;
    const i = v & 0xffff;
    if (i + 5 > end || buf[i] !== SP || !isDigit(buf[i + 1]) || !isDigit(buf[i + 2]) || !isDigit(buf[i + 3]) || buf[i + 4] !== SP) return -Scan.NOT_SIP;
    const code = (buf[i + 1] - 0x30) * 100 + (buf[i + 2] - 0x30) * 10 + (buf[i + 3] - 0x30);
    if (code < 100 || code > 699) return -Scan.NOT_SIP;
    out.isRequest = false;
    out.statusCode = code;
    const k = firstCrOrLf(buf, i + 5, end);
    const n = eolLen(buf, k, end, lenient);
    if (n === 0) return k >= end ? -Scan.NO_END_OF_HEADERS : -Scan.NOT_SIP;
    if ((v >>> 16) !== 0) return -Scan.BAD_VERSION;
    return k + n;
  }
  // Request-Line: Method SP Request-URI SP SIP-Version CRLF (RFC 3261 §7.1).
  // Found leniently on purpose: extra SP around or inside the Request-URI and trailing SP
  // (RFC 4475 §3.1.2.8-10) still yield offsets, so the packet reaches a slow path that
  // answers 400 instead of being dropped as not-SIP. parseMessage is the strict judge.
  let i = 0;
  while (i < end && isToken(buf[i])) i++;
  if (i === 0 || i >= end || buf[i] !== SP) return -Scan.NOT_SIP;
  out.methodStart = 0;
  out.methodEnd = i;
  const le = firstCrOrLf(buf, i, end);
  const n = eolLen(buf, le, end, lenient);
  if (n === 0) return le >= end ? -Scan.NO_END_OF_HEADERS : -Scan.NOT_SIP;
  let te = le;
  while (te > i && (buf[te - 1] === SP || buf[te - 1] === HT)) te--;
  let vs = te;
  while (vs > i && buf[vs - 1] !== SP && buf[vs - 1] !== HT) vs--;
  const v = versionAt(buf, vs, te);
  if (v < 0 || (v & 0xffff) !== te) return -Scan.NOT_SIP;
  let us = i;
  while (us < vs && buf[us] === SP) us++;
  let ue = vs;
  while (ue > us && (buf[ue - 1] === SP || buf[ue - 1] === HT)) ue--;
  if (ue === us) return -Scan.NOT_SIP;
  for (let k = us; k < ue; k++) if (buf[k] < SP && buf[k] !== HT) return -Scan.NOT_SIP;
  out.ruriStart = us;
  out.ruriEnd = ue;
  out.isRequest = true;
  out.method = methodOf(buf, out.methodStart, out.methodEnd);
  if ((v >>> 16) !== 0) return -Scan.BAD_VERSION;
  return le + n;
}

/**
 * Match `SIP/<digits>.<digits>` at i (name case-insensitive, §7.1). Returns -1 if not a
 * SIP-Version, else (end offset) | (1 << 16 if the version is not 2.0). end < 65536 by the
 * size cap.
 */
function versionAt(buf: Uint8Array, i: number, end: number): number {
  if (i + 4 > end || (buf[i] | 0x20) !== 0x73 || (buf[i + 1] | 0x20) !== 0x69 || (buf[i + 2] | 0x20) !== 0x70 || buf[i + 3] !== 0x2f) return -1;
  let k = i + 4;
  const ma = k;
  while (k < end && isDigit(buf[k])) k++;
  if (k === ma || k - ma > 4 || k >= end || buf[k] !== 0x2e) return -1;
  const majorOk = k - ma === 1 && buf[ma] === 0x32;
  k++;
  const mi = k;
  while (k < end && isDigit(buf[k])) k++;
  if (k === mi || k - mi > 4) return -1;
  const minorOk = k - mi === 1 && buf[mi] === 0x30;
  return k | (majorOk && minorOk ? 0 : 1 << 16);
}

/**
 * Scan one datagram. `out` is reset and filled; returns out.status.
 * `maxSize` defaults to MAX_DATAGRAM (and never exceeds it); `flags` is a ScanFlag set.
 */
export function scan(buf: Uint8Array, len: number, out: ScanResult, maxSize: number = MAX_DATAGRAM, flags = 0): number {
  out.reset();
  if (len > maxSize || len > MAX_DATAGRAM) return (out.status = Scan.TOO_LARGE);
  const end = len < buf.length ? len : buf.length;
  const lenient = (flags & ScanFlag.LENIENT_LINE_ENDS) !== 0;

  let p = startLine(buf, end, out, lenient);
  if (p < 0) return (out.status = -p);

  let topViaSeen = false;
  let cseqSeen = false;
  for (;;) {
    if (p >= end) return (out.status = Scan.NO_END_OF_HEADERS);
    const first = buf[p];
    if (first === CR || first === LF) {
      const blank = eolLen(buf, p, end, lenient);
      if (blank > 0) { out.headersEnd = p + blank; break; }
    }

    // header name, optional whitespace, ':' (HCOLON, RFC 3261 §25.1)
    const ns = p;
    let c = 0;
    while (p < end && (CHAR_CLASS[buf[p]] & TOKEN) !== 0) p++;
    const ne = p;
    while (p < end && ((c = buf[p]) === SP || c === HT)) p++;
    // The value ends at the line end not followed by SP/HTAB (that is a fold, §7.3.1);
    // `next` is where the next line starts.
    let ve = -1;
    let next = -1;
    if (!lenient) {
      // Only CRLF ends a line (a bare CR or LF is value bytes): jump from CR to CR. Inline,
      // this loop runs for every header line.
      let i = p;
      for (;;) {
        const q = i < end ? bufferIndexOf.call(buf, CR, i) : -1;
        if (q < 0 || q >= end) return (out.status = Scan.NO_END_OF_HEADERS);
        if (q + 1 < end && buf[q + 1] === LF) {
          next = q + 2;
          if (next < end && ((c = buf[next]) === SP || c === HT)) { i = next + 1; continue; }
          ve = q;
          break;
        }
        i = q + 1;
      }
    } else {
      ve = valueEndLenient(buf, p, end);
      if (ve < 0) return (out.status = Scan.NO_END_OF_HEADERS);
      next = ve + eolLen(buf, ve, end, true);
    }
    if (ne === ns || p >= ve || buf[p] !== 0x3a) { p = next; continue; } // malformed line: the slow path judges it
    // Value start: past the usual single SP inline, past any other LWS by skipLws.
    let vs = p + 1;
    if (vs < ve && buf[vs] === SP) vs++;
    if (vs < ve && ((c = buf[vs]) === SP || c === HT || c === CR || c === LF)) vs = skipLws(buf, vs, ve, lenient);

    switch (headerId(buf, ns, ne)) {
      case H_VIA: {
        if (vs >= ve) break;
        out.viaCount += countValues(buf, vs, ve);
        if (topViaSeen) break;
        topViaSeen = true;
        // sent-protocol and sent-by hold no ';' or ',' (outside IPv6 brackets, which
        // hold neither): the first ';' starts the top value's params.
        let k = vs;
        while (k < ve && buf[k] !== 0x3b && buf[k] !== 0x2c) k++;
        findParam(buf, k, ve, lenient, BRANCH);
        out.branchStart = pStart; out.branchEnd = pEnd;
        break;
      }
      case H_CALL_ID: {
        if (out.callIdStart >= 0) break;
        let k = vs;
        for (; k < ve; k++) {
          const b = buf[k];
          if (b <= SP && (b === SP || b === HT || b === CR || b === LF)) break;
        }
        if (k > vs) { out.callIdStart = vs; out.callIdEnd = k; }
        break;
      }
      case H_CSEQ: {
        if (cseqSeen) break;
        cseqSeen = true;
        // CSeq = 1*DIGIT LWS Method; the number < 2**31 (RFC 3261 §8.1.1.5)
        let k = vs;
        let num = 0;
        while (k < ve && isDigit(buf[k])) {
          num = num * 10 + (buf[k] - 0x30);
          if (num > 0x7fffffff) return (out.status = Scan.BAD_CSEQ);
          k++;
        }
        if (k === vs) return (out.status = Scan.BAD_CSEQ);
        const ms = skipLws(buf, k, ve, lenient);
        if (ms === k) return (out.status = Scan.BAD_CSEQ);
        let me = ms;
        while (me < ve && isToken(buf[me])) me++;
        if (me === ms || skipLws(buf, me, ve, lenient) !== ve) return (out.status = Scan.BAD_CSEQ);
        out.cseqNum = num;
        out.cseqMethodStart = ms;
        out.cseqMethodEnd = me;
        out.cseqMethod = methodOf(buf, ms, me);
        break;
      }
      case H_TO: {
        if (out.toUriStart >= 0 || out.toTagStart >= 0) break;
        nameAddrUri(buf, vs, ve, lenient);
        if (uStart < 0) break;
        out.toUriStart = uStart; out.toUriEnd = uEnd;
        findParam(buf, uParams, ve, lenient, TAG);
        out.toTagStart = pStart; out.toTagEnd = pEnd;
        break;
      }
      case H_FROM: {
        if (out.fromTagStart >= 0) break;
        nameAddrUri(buf, vs, ve, lenient);
        if (uStart < 0) break;
        findParam(buf, uParams, ve, lenient, TAG);
        out.fromTagStart = pStart; out.fromTagEnd = pEnd;
        break;
      }
      case H_ROUTE: {
        if (out.routeUriStart >= 0) break;
        nameAddrUri(buf, vs, ve, lenient);
        if (uStart >= 0) { out.routeUriStart = uStart; out.routeUriEnd = uEnd; }
        break;
      }
      case H_MAX_FORWARDS: {
        // request-only header (RFC 3261 §20.22): a response's is ignored, never fatal
        if (out.maxForwards >= 0 || !out.isRequest) break;
        // 1*DIGIT, at most 255 (RFC 3261 §20.22); leading zeros are fine ("0068")
        let k = vs;
        let n = 0;
        while (k < ve && isDigit(buf[k])) {
          n = n * 10 + (buf[k] - 0x30);
          if (n > 255) return (out.status = Scan.BAD_MAX_FORWARDS);
          k++;
        }
        if (k === vs || skipLws(buf, k, ve, lenient) !== ve) return (out.status = Scan.BAD_MAX_FORWARDS);
        out.maxForwards = n;
        break;
      }
      case H_CONTENT_LENGTH: {
        if (out.contentLength >= 0) break;
        let k = vs;
        let n = 0;
        while (k < ve && isDigit(buf[k]) && n <= MAX_DATAGRAM) {
          n = n * 10 + (buf[k] - 0x30);
          k++;
        }
        if (k > vs && n <= MAX_DATAGRAM && skipLws(buf, k, ve, lenient) === ve) out.contentLength = n;
        break;
      }
      default:
        break;
    }
    p = next;
  }

  if (out.viaCount === 0) return (out.status = Scan.NO_VIA);
  if (out.callIdStart < 0) return (out.status = Scan.NO_CALL_ID);
  if (out.cseqNum < 0) return (out.status = Scan.NO_CSEQ);
  return (out.status = Scan.OK);
}
