/**
 * The full SIP message model (slow path): parse a datagram into a `SipMessage`, edit its
 * header list, serialize it back (RFC 3261 §7).
 *
 * Headers are kept as an ordered list of lines ({name, value}); names are canonical
 * (lowercase long form, compact forms expanded — §7.3.3), values are the text after
 * the colon, trimmed, with folding (§7.3.1) collapsed to one space. Structured values
 * (Via, From, CSeq...) are parsed on demand by the helpers below.
 *
 * `parseMessage` validates what a proxy must check before acting on a message
 * (RFC 3261 §8.2, §16.3, §18.3; RFC 4475 §3.1.2) and throws `SipParseError` carrying the
 * status to answer with.
 */
import { isAscii } from 'node:buffer';
import { SipErrorCode, SipParseError, badRequest } from './errors.js';
import { type NameAddr, type Via, parseCSeq, parseNameAddr, parseVia, splitList } from './headers.js';
import { type SipUri, isToken, parseUri } from './uri.js';

export interface Header { name: string; value: string }

/** Largest message parseMessage accepts by default: the largest UDP payload. */
export const DEFAULT_MAX_MESSAGE = 65535;

// RFC 3261 §7.3.3 and the IANA "Header Fields" registry compact forms.
const COMPACT: Record<string, string> = {
  a: 'accept-contact', b: 'referred-by', c: 'content-type', d: 'request-disposition',
  e: 'content-encoding', f: 'from', i: 'call-id', j: 'reject-contact', k: 'supported',
  l: 'content-length', m: 'contact', n: 'identity-info', o: 'event', r: 'refer-to',
  s: 'subject', t: 'to', u: 'allow-events', v: 'via', x: 'session-expires', y: 'identity',
};

/** Canonical header name: lowercase long form. */
export function canonicalName(name: string): string {
  const n = name.toLowerCase();
  if (n.length === 1) return COMPACT[n] ?? n;
  return n;
}

// How names are written on the wire when the usual capitalisation rule gets them wrong.
const DISPLAY: Record<string, string> = {
  'call-id': 'Call-ID', cseq: 'CSeq', 'www-authenticate': 'WWW-Authenticate',
  'mime-version': 'MIME-Version', rack: 'RAck', rseq: 'RSeq', 'sip-etag': 'SIP-ETag',
  'sip-if-match': 'SIP-If-Match', 'content-id': 'Content-ID',
};

/** Display forms computed for names outside DISPLAY, bounded (names come from the wire). */
const displayCache = new Map<string, string>();

export function displayName(canonical: string): string {
  const d = DISPLAY[canonical] ?? displayCache.get(canonical);
  if (d !== undefined) return d;
  const made = canonical.replace(/(^|-)([a-z])/g, (_m, sep: string, ch: string) => sep + ch.toUpperCase());
  if (displayCache.size < 1024) displayCache.set(canonical, made);
  return made;
}

/**
 * Headers whose value is a comma-separated list (RFC 3261 §7.3.1: only those whose
 * grammar is `#(values)` may be split or combined). Everything else — Call-ID, Date,
 * authentication challenges, unknown extensions — is returned whole by getAll().
 */
const LIST_HEADERS = new Set([
  'via', 'route', 'record-route', 'contact', 'path', 'service-route', 'allow', 'supported',
  'require', 'proxy-require', 'unsupported', 'accept', 'accept-encoding', 'accept-language',
  'content-encoding', 'content-language', 'alert-info', 'call-info', 'error-info', 'in-reply-to',
  'warning', 'allow-events', 'p-asserted-identity', 'p-preferred-identity', 'reason',
  'security-client', 'security-server', 'security-verify', 'accept-contact', 'reject-contact',
  'request-disposition', 'history-info', 'privacy', 'p-associated-uri', 'recv-info',
]);

export function isListHeader(canonical: string): boolean {
  return LIST_HEADERS.has(canonical);
}

/** Single-valued headers: two lines with different values is a 400 (RFC 4475 §3.3.8, §3.3.9). */
const SINGLE_HEADERS = ['call-id', 'cseq', 'from', 'to', 'max-forwards', 'content-length', 'content-type', 'expires'];

function toHeaders(h: Header[] | [string, string][]): Header[] {
  return h.map((x) => (Array.isArray(x) ? { name: canonicalName(x[0]), value: x[1] } : { name: canonicalName(x.name), value: x.value }));
}

export class SipMessage {
  kind: 'request' | 'response' = 'request';
  /** request method; '' for responses (their method is in cseq()) */
  method = '';
  /** Request-URI text; '' for responses */
  uri = '';
  version = 'SIP/2.0';
  /** response status; 0 for requests */
  status = 0;
  reason = '';
  headers: Header[] = [];
  body: Buffer = EMPTY;

  // Wire bytes this message was parsed from (never written to): header lines that still
  // hold the object and the text they were parsed as are copied from here by toBuffer(),
  // byte for byte what the string path would write (Kamailio's zero-copy habit: forward
  // by editing, not by re-printing). `raw` holds RAW_STRIDE slots per clean line: the
  // Header object, its name and value at parse, its byte span (CRLF included); in header
  // list order, which edits never change. One flat array: messages live as long as their
  // transactions (up to 64·T1), so every object kept per message is garbage-collector work.
  private src: Buffer | null = null;
  private raw: RawSlot[] = NO_RAW;

  // Parse results, keyed by the exact text they were parsed from: validation parses them
  // once and every later accessor reuses them until the header's text changes.
  private viaText: string | undefined;
  private viaParsed: Via | undefined;
  private fromText: string | undefined;
  private fromParsed: NameAddr | undefined;
  private toText: string | undefined;
  private toParsed: NameAddr | undefined;
  private cseqText: string | undefined;
  private cseqParsed: { seq: number; method: string } | undefined;
  private uriText: string | undefined;
  private uriParsed: SipUri | undefined;

  static request(method: string, uri: string, headers: Header[] | [string, string][], body?: Buffer): SipMessage {
    const m = new SipMessage();
    m.kind = 'request';
    m.method = method;
    m.uri = uri;
    m.headers = toHeaders(headers);
    if (body !== undefined) m.body = body;
    return m;
  }

  static response(status: number, reason: string, headers: Header[] | [string, string][], body?: Buffer): SipMessage {
    const m = new SipMessage();
    m.kind = 'response';
    m.status = status;
    m.reason = reason;
    m.headers = toHeaders(headers);
    if (body !== undefined) m.body = body;
    return m;
  }

  /** First line's value of that header (any case, compact form accepted). */
  get(name: string): string | undefined {
    const n = canonicalName(name);
    for (const h of this.headers) if (h.name === n) return h.value;
    return undefined;
  }

  /** Every value in order; list headers (Via, Route, Contact...) split on commas. */
  getAll(name: string): string[] {
    const n = canonicalName(name);
    const list = LIST_HEADERS.has(n);
    const out: string[] = [];
    for (const h of this.headers) {
      if (h.name !== n) continue;
      if (!list) out.push(h.value);
      else for (const v of splitList(h.value)) if (v.length > 0) out.push(v);
    }
    return out;
  }

  has(name: string): boolean {
    const n = canonicalName(name);
    return this.headers.some((h) => h.name === n);
  }

  /** Replace every line of that name by one line, at the first one's position (or appended). */
  set(name: string, value: string): void {
    const n = canonicalName(name);
    const first = this.headers.findIndex((h) => h.name === n);
    if (first < 0) {
      this.headers.push({ name: n, value });
      return;
    }
    this.headers = this.headers.filter((h, i) => i === first || h.name !== n);
    this.headers[first] = { name: n, value };
  }

  append(name: string, value: string): void {
    this.headers.push({ name: canonicalName(name), value });
  }

  /** New topmost value: a new line before the first line of that name, or the first header. */
  prepend(name: string, value: string): void {
    const n = canonicalName(name);
    const first = this.headers.findIndex((h) => h.name === n);
    this.headers.splice(first < 0 ? 0 : first, 0, { name: n, value });
  }

  remove(name: string): void {
    const n = canonicalName(name);
    this.headers = this.headers.filter((h) => h.name !== n);
  }

  /** Remove and return the topmost value of a list header ('a, b' → 'b'). */
  removeTop(name: string): string | undefined {
    const n = canonicalName(name);
    const idx = this.headers.findIndex((h) => h.name === n);
    if (idx < 0) return undefined;
    const line = this.headers[idx];
    const values = splitList(line.value);
    if (values.length <= 1) {
      this.headers.splice(idx, 1);
      return values.length === 1 ? values[0] : line.value;
    }
    this.headers[idx] = { name: n, value: values.slice(1).join(', ') };
    return values[0];
  }

  clone(): SipMessage {
    const m = new SipMessage();
    m.kind = this.kind;
    m.method = this.method;
    m.uri = this.uri;
    m.version = this.version;
    m.status = this.status;
    m.reason = this.reason;
    const hs = this.headers;
    const out: Header[] = new Array<Header>(hs.length);
    const src = this.src;
    if (src === null) {
      for (let i = 0; i < hs.length; i++) out[i] = { name: hs[i].name, value: hs[i].value };
    } else {
      // The clone keeps the raw spans of the lines it copies unchanged.
      const raw = this.raw;
      const craw: RawSlot[] = [];
      let k = 0;
      for (let i = 0; i < hs.length; i++) {
        const h = hs[i];
        const c = { name: h.name, value: h.value };
        out[i] = c;
        const r = this.rawIndex(h, k);
        if (r < 0) continue;
        k = r + RAW_STRIDE;
        craw.push(c, h.name, h.value, raw[r + 3], raw[r + 4]);
      }
      m.src = src;
      m.raw = craw;
    }
    m.headers = out;
    m.body = this.body.length === 0 ? EMPTY : Buffer.from(this.body);
    // Parsed values are immutable and keyed by their text: the copy may share them.
    m.viaText = this.viaText;
    m.viaParsed = this.viaParsed;
    m.fromText = this.fromText;
    m.fromParsed = this.fromParsed;
    m.toText = this.toText;
    m.toParsed = this.toParsed;
    m.cseqText = this.cseqText;
    m.cseqParsed = this.cseqParsed;
    m.uriText = this.uriText;
    m.uriParsed = this.uriParsed;
    return m;
  }

  /**
   * Index in the raw arrays, at or after k, of header h if it is still the line it was
   * parsed as (same object, name and value); -1 otherwise.
   */
  private rawIndex(h: Header, k: number): number {
    const raw = this.raw;
    for (let r = k; r < raw.length; r += RAW_STRIDE) {
      if (raw[r] !== h) continue;
      return raw[r + 1] === h.name && raw[r + 2] === h.value ? r : -1;
    }
    return -1;
  }

  /** Wire form, CRLF line ends; Content-Length always written, computed from the body. */
  toBuffer(): Buffer {
    if (this.src !== null) {
      // The spans serve this (usually only) serialization: a forwarded copy is printed
      // once and then kept for retransmissions. Later calls print — the same bytes.
      const out = this.toBufferRaw(this.src);
      this.src = null;
      this.raw = NO_RAW;
      return out;
    }
    let head = this.kind === 'request'
      ? `${this.method} ${this.uri} ${this.version}\r\n`
      : `${this.version} ${this.status} ${this.reason}\r\n`;
    let wroteLength = false;
    for (const h of this.headers) {
      if (h.name === 'content-length') {
        if (!wroteLength) head += `Content-Length: ${this.body.length}\r\n`;
        wroteLength = true;
        continue;
      }
      head += `${displayName(h.name)}: ${h.value}\r\n`;
    }
    if (!wroteLength) head += `Content-Length: ${this.body.length}\r\n`;
    head += '\r\n';
    const hb = Buffer.from(head, 'utf8');
    return this.body.length === 0 ? hb : Buffer.concat([hb, this.body]);
  }

  /**
   * toBuffer() for a parsed message: the same bytes, with unchanged header lines copied
   * from the received datagram in runs instead of being printed again.
   */
  private toBufferRaw(src: Buffer): Buffer {
    const hs = this.headers;
    const bodyLen = this.body.length;
    const w = WRITER;
    w.n = 0;
    w.total = 0;
    w.runStart = -1;
    w.runEnd = -1;
    w.pending = this.kind === 'request'
      ? `${this.method} ${this.uri} ${this.version}\r\n`
      : `${this.version} ${this.status} ${this.reason}\r\n`;
    let wroteLength = false;
    let k = 0;
    for (let i = 0; i < hs.length; i++) {
      const h = hs[i];
      if (h.name === 'content-length') {
        if (!wroteLength) {
          flushRun(w);
          w.pending += `Content-Length: ${bodyLen}\r\n`;
        }
        wroteLength = true;
        continue;
      }
      const r = this.rawIndex(h, k);
      if (r < 0) {
        flushRun(w);
        w.pending += `${displayName(h.name)}: ${h.value}\r\n`;
        continue;
      }
      k = r + RAW_STRIDE;
      const a = this.raw[r + 3] as number;
      const b = this.raw[r + 4] as number;
      if (w.runStart >= 0 && a === w.runEnd) {
        w.runEnd = b;
      } else {
        flushStr(w);
        flushRun(w);
        w.runStart = a;
        w.runEnd = b;
      }
    }
    flushRun(w);
    if (!wroteLength) w.pending += `Content-Length: ${bodyLen}\r\n`;
    w.pending += '\r\n';
    flushStr(w);
    const out = Buffer.allocUnsafe(w.total + bodyLen);
    let at = 0;
    for (let j = 0; j < w.n; j++) {
      const str = w.str[j];
      if (str === undefined) {
        at += src.copy(out, at, w.pos[2 * j], w.pos[2 * j + 1]);
      } else {
        at += out.write(str, at, 'utf8');
        w.str[j] = undefined;
      }
    }
    if (bodyLen > 0) this.body.copy(out, at);
    return out;
  }

  toString(): string {
    return this.toBuffer().toString('utf8');
  }

  /** The Request-URI, parsed (RFC 3261 §19.1); throws SipParseError. Cached until `uri` changes. */
  requestUri(): SipUri {
    const u = this.uri;
    if (u === this.uriText && this.uriParsed !== undefined) return this.uriParsed;
    const parsed = parseUri(u);
    this.uriText = u;
    this.uriParsed = parsed;
    return parsed;
  }

  callId(): string {
    return this.get('call-id') ?? '';
  }

  cseq(): { seq: number; method: string } {
    const v = this.get('cseq');
    if (v === undefined) throw missing('CSeq');
    if (v === this.cseqText && this.cseqParsed !== undefined) return this.cseqParsed;
    const parsed = parseCSeq(v);
    this.cseqText = v;
    this.cseqParsed = parsed;
    return parsed;
  }

  topVia(): Via | undefined {
    const line = this.get('via');
    if (line === undefined) return undefined;
    if (line === this.viaText && this.viaParsed !== undefined) return this.viaParsed;
    const first = line.indexOf(',') < 0 ? line : splitList(line)[0];
    if (first === undefined || first.length === 0) return undefined;
    const parsed = parseVia(first);
    this.viaText = line;
    this.viaParsed = parsed;
    return parsed;
  }

  maxForwards(): number | undefined {
    const v = this.get('max-forwards');
    if (v === undefined) return undefined;
    return parseMaxForwards(v);
  }

  from(): NameAddr {
    const v = this.get('from');
    if (v === undefined) throw missing('From');
    if (v === this.fromText && this.fromParsed !== undefined) return this.fromParsed;
    const parsed = parseNameAddr(v);
    this.fromText = v;
    this.fromParsed = parsed;
    return parsed;
  }

  to(): NameAddr {
    const v = this.get('to');
    if (v === undefined) throw missing('To');
    if (v === this.toText && this.toParsed !== undefined) return this.toParsed;
    const parsed = parseNameAddr(v);
    this.toText = v;
    this.toParsed = parsed;
    return parsed;
  }

  /** @internal parseMessage: remember the datagram and the clean lines' byte spans. */
  static attachRaw(m: SipMessage, src: Buffer, raw: RawSlot[]): void {
    if (raw.length === 0) return;
    m.src = src;
    m.raw = raw;
  }

  /** @internal parseMessage: the parsed Request-URI of the start line. */
  static attachUri(m: SipMessage, uri: SipUri): void {
    m.uriText = m.uri;
    m.uriParsed = uri;
  }
}

const EMPTY = Buffer.alloc(0);
/** Slots per clean header line in SipMessage.raw: Header, name, value, span start, span end. */
const RAW_STRIDE = 5;
type RawSlot = Header | string | number;
const NO_RAW: RawSlot[] = [];
/**
 * toBufferRaw scratch: the segments of one serialization, each a string (str[j]) or a
 * byte range of the source (str[j] undefined, pos[2j..2j+1]); strings are cleared as
 * they are written. Serialization is synchronous, so one writer serves every message.
 */
interface SegmentWriter {
  n: number;
  total: number;
  pending: string;
  runStart: number;
  runEnd: number;
  str: (string | undefined)[];
  pos: number[];
}
const WRITER: SegmentWriter = { n: 0, total: 0, pending: '', runStart: -1, runEnd: -1, str: [], pos: [] };

function flushRun(w: SegmentWriter): void {
  if (w.runStart < 0) return;
  w.str[w.n] = undefined;
  w.pos[2 * w.n] = w.runStart;
  w.pos[2 * w.n + 1] = w.runEnd;
  w.total += w.runEnd - w.runStart;
  w.n++;
  w.runStart = -1;
}

function flushStr(w: SegmentWriter): void {
  if (w.pending.length === 0) return;
  w.str[w.n] = w.pending;
  w.total += Buffer.byteLength(w.pending, 'utf8');
  w.n++;
  w.pending = '';
}

function missing(display: string): SipParseError {
  return badRequest(SipErrorCode.MISSING_HEADER, `missing ${display} header`, `Missing ${display}`);
}

/** Max-Forwards = 1*DIGIT, 0..255 (RFC 3261 §20.22; RFC 4475 §3.1.2.4). */
function parseMaxForwards(v: string): number {
  if (!/^[0-9]{1,10}$/.test(v) || Number(v) > 255) {
    throw badRequest(SipErrorCode.BAD_MAX_FORWARDS, `bad Max-Forwards: ${v.slice(0, 40)}`, 'Bad Max-Forwards');
  }
  return Number(v);
}

/** delta-seconds that must fit 32 bits (RFC 3261 §20.19, §20.33; RFC 4475 §3.1.2.4). */
function checkDeltaSeconds(name: string, v: string): void {
  if (!/^[0-9]{1,10}$/.test(v) || Number(v) > 0xffffffff) {
    throw badRequest(SipErrorCode.BAD_SCALAR, `bad ${name}: ${v.slice(0, 40)}`, `Bad ${name}`);
  }
}

// rfc1123-date, GMT only (RFC 3261 §20.17; RFC 4475 §3.1.2.12)
const DATE_RE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$/;

const CALL_ID_RE = /^[\x21-\x3f\x41-\x7e]+(@[\x21-\x3f\x41-\x7e]+)?$/;

const VERSION_RE = /^SIP\/[0-9]+\.[0-9]+$/i;

export interface ParseOptions {
  /** bytes; larger → ERR_SIP_TOO_LARGE (513). Default 65535. */
  maxSize?: number;
  /**
   * Leniency (default false): accept bare LF line ends in the header section.
   * Risk: a CR-less sender and a strict element may disagree on where headers end.
   */
  lenientLineEnds?: boolean;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parse one datagram (UDP semantics for Content-Length, RFC 3261 §18.3).
 *
 * The message keeps a reference to `buf` (its unchanged header lines are copied from it
 * when it is serialized again): the caller must not reuse the memory afterwards.
 */
export function parseMessage(buf: Buffer, opts?: ParseOptions): SipMessage {
  const maxSize = opts?.maxSize ?? DEFAULT_MAX_MESSAGE;
  // size cap before looking at any byte
  if (buf.length > maxSize) {
    throw new SipParseError(SipErrorCode.TOO_LARGE, `message of ${buf.length} bytes exceeds ${maxSize}`, 513);
  }
  if (opts?.lenientLineEnds !== true) {
    // Headers end at the first empty line; nothing after it is ever read as a header.
    const headEnd = buf.indexOf(CRLFCRLF);
    if (headEnd < 0) throw badRequest(SipErrorCode.NO_END_OF_HEADERS, 'no empty line ending the headers', 'Missing End of Headers');
    // The common case — a strict, all-ASCII header section — by index scan, with the byte
    // spans that let toBuffer() copy unchanged lines; anything else the general way.
    if (isAscii(buf.subarray(0, headEnd))) return parseAsciiStrict(buf, headEnd);
  }
  return parseGeneral(buf, opts?.lenientLineEnds === true);
}

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');

function badLineEnd(): SipParseError {
  return badRequest(SipErrorCode.BAD_HEADER, 'bare CR or LF in header section', 'Bad Line End');
}

function badHeaderLine(l: string): SipParseError {
  return badRequest(SipErrorCode.BAD_HEADER, `header line without name or colon: ${l.slice(0, 60)}`, 'Bad Header');
}

/**
 * parseMessage for a header section of ASCII with CRLF line ends. Same checks, same
 * order and the same errors as parseGeneral; line positions are byte offsets.
 */
function parseAsciiStrict(buf: Buffer, headEnd: number): SipMessage {
  const text = buf.toString('latin1', 0, headEnd);
  const len = text.length;
  // A CR or LF that is not part of a CRLF (RFC 3261 §7: lines end with CRLF).
  for (let i = text.indexOf('\r'); i >= 0; i = text.indexOf('\r', i + 2)) {
    if (text.charCodeAt(i + 1) !== 0x0a) throw badLineEnd();
  }
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) {
    if (text.charCodeAt(i - 1) !== 0x0d) throw badLineEnd();
  }
  let eol = text.indexOf('\r\n');
  if (eol < 0) eol = len;
  const msg = parseStartLine(text.slice(0, eol));

  const raw: RawSlot[] = [];
  let pos0 = eol + 2;
  // First pass (§7.3.1 unfolding): each header's first row and its continuation rows.
  // A line starting with SP/HTAB continues the previous one.
  const starts = LINE_STARTS;
  const ends = LINE_ENDS;
  const folded = LINE_FOLDED;
  let nLines = 0;
  while (pos0 < len) {
    let e = text.indexOf('\r\n', pos0);
    if (e < 0) e = len;
    const c = text.charCodeAt(pos0);
    if (c === 0x20 || c === 0x09) {
      if (nLines === 0) throw badRequest(SipErrorCode.BAD_HEADER, 'continuation line after start line', 'Bad Header');
      ends[nLines - 1] = e;
      folded[nLines - 1] = 1;
    } else {
      // HCOLON = *( SP / HTAB ) ":" — the name and its colon are on the line's first row
      const colon = text.indexOf(':', pos0);
      if (colon <= pos0 || colon >= e) throw badHeaderLine(text.slice(pos0, e));
      starts[nLines] = pos0;
      ends[nLines] = e;
      folded[nLines] = 0;
      nLines++;
    }
    pos0 = e + 2;
  }
  const headers = msg.headers;
  for (let j = 0; j < nLines; j++) {
    const s = starts[j];
    const e = ends[j];
    const colon = text.indexOf(':', s);
    let ne = colon;
    while (ne > s) {
      const c = text.charCodeAt(ne - 1);
      if (c !== 0x20 && c !== 0x09) break;
      ne--;
    }
    const name = text.slice(s, ne); // "Via  :" is legal (HCOLON)
    if (!isToken(name)) throw badRequest(SipErrorCode.BAD_HEADER, `bad header name: ${text.slice(s, Math.min(e, s + 60))}`, 'Bad Header');
    const info = nameInfo(name);
    const canonical = info.canonical;
    let value: string;
    if (folded[j] === 0) {
      value = text.slice(colon + 1, e).trim();
    } else {
      // Unfold exactly as parseGeneral: each continuation row joins with one SP.
      let line = text.slice(s, text.indexOf('\r\n', s));
      let p = s + line.length + 2;
      while (p < e) {
        let re = text.indexOf('\r\n', p);
        if (re < 0 || re > e) re = e;
        line += ' ' + text.slice(p, re).trimStart();
        p = re + 2;
      }
      value = line.slice(line.indexOf(':') + 1).trim();
    }
    const h: Header = { name: canonical, value };
    headers.push(h);
    // A clean line is byte for byte what toBuffer() would print for it.
    if (folded[j] === 0 && ne === colon && canonical !== 'content-length' && text.charCodeAt(colon + 1) === 0x20 &&
        value.length === e - colon - 2 && info.display) {
      raw.push(h, canonical, value, s, e + 2);
    }
  }

  validateHeaders(msg);
  setBody(msg, buf, headEnd + 4);
  SipMessage.attachRaw(msg, buf, raw);
  return msg;
}

/** What the parser needs of a header name as written: its canonical form, and whether it is written the way toBuffer() writes it. */
interface NameInfo { readonly canonical: string; readonly display: boolean }

/**
 * One Map lookup per header instead of lower-casing and two table lookups: a message
 * repeats a few dozen spellings. Bounded like displayCache (names come from the wire);
 * only names that passed isToken() get here.
 */
const nameInfos = new Map<string, NameInfo>();
function nameInfo(name: string): NameInfo {
  let i = nameInfos.get(name);
  if (i === undefined) {
    const canonical = canonicalName(name);
    i = { canonical, display: name === displayName(canonical) };
    if (nameInfos.size < 1024) nameInfos.set(name, i);
  }
  return i;
}

// parseAsciiStrict scratch: header line boundaries of the message being parsed.
const LINE_STARTS: number[] = [];
const LINE_ENDS: number[] = [];
const LINE_FOLDED: number[] = [];

/** The body: RFC 3261 §18.3 — over UDP, a Content-Length larger than what arrived is an
 * error (RFC 4475 §3.1.2.2), a smaller one truncates, none means "the rest". */
function setBody(msg: SipMessage, buf: Buffer, bodyStart: number): void {
  const available = buf.length - bodyStart;
  const cl = msg.get('content-length');
  let bodyLen = available;
  if (cl !== undefined) {
    if (!/^[0-9]{1,10}$/.test(cl)) throw badRequest(SipErrorCode.CONTENT_LENGTH, `bad Content-Length: ${cl.slice(0, 40)}`, 'Bad Content-Length');
    const n = Number(cl);
    if (n > available) throw badRequest(SipErrorCode.CONTENT_LENGTH, `Content-Length ${n} > ${available} bytes received`, 'Content-Length Too Large');
    bodyLen = n;
  }
  // The datagram is not reused by the caller: the body may be a view of it.
  msg.body = bodyLen === 0 ? msg.body : buf.subarray(bodyStart, bodyStart + bodyLen);
}

/**
 * parseMessage for lenient line ends or a header section with non-ASCII (UTF-8) text.
 * @internal exported for the differential test against the ASCII fast path.
 */
export function parseGeneral(buf: Buffer, lenient: boolean): SipMessage {
  // Headers end at the first empty line; nothing after it is ever read as a header.
  let headEnd = buf.indexOf('\r\n\r\n');
  let bodyStart = headEnd + 4;
  if (lenient) {
    const lf = buf.indexOf('\n\n');
    if (lf >= 0 && (headEnd < 0 || lf < headEnd)) {
      headEnd = lf;
      bodyStart = lf + 2;
    } else {
      const mixed = buf.indexOf('\n\r\n');
      if (mixed >= 0 && (headEnd < 0 || mixed < headEnd)) {
        headEnd = mixed;
        bodyStart = mixed + 3;
      }
    }
  }
  if (headEnd < 0) throw badRequest(SipErrorCode.NO_END_OF_HEADERS, 'no empty line ending the headers', 'Missing End of Headers');
  let text: string;
  try {
    text = utf8.decode(buf.subarray(0, headEnd));
  } catch {
    throw badRequest(SipErrorCode.BAD_ENCODING, 'header section is not valid UTF-8', 'Invalid UTF-8');
  }
  const rawLines = lenient ? text.split(/\r?\n/) : text.split('\r\n');
  for (const l of rawLines) {
    if (l.indexOf('\r') >= 0 || l.indexOf('\n') >= 0) throw badLineEnd();
  }
  const msg = parseStartLine(rawLines[0]);

  // Unfold (§7.3.1): a line starting with SP/HTAB continues the previous one.
  const lines: string[] = [];
  for (let i = 1; i < rawLines.length; i++) {
    const l = rawLines[i];
    const c = l.charCodeAt(0);
    if (c === 0x20 || c === 0x09) {
      if (lines.length === 0) throw badRequest(SipErrorCode.BAD_HEADER, 'continuation line after start line', 'Bad Header');
      lines[lines.length - 1] += ' ' + l.trimStart();
    } else {
      // HCOLON = *( SP / HTAB ) ":" — the name and its colon are on the line's first row
      if (l.indexOf(':') <= 0) throw badHeaderLine(l);
      lines.push(l);
    }
  }
  for (const l of lines) {
    const colon = l.indexOf(':');
    if (colon <= 0) throw badHeaderLine(l);
    const name = l.slice(0, colon).replace(/[ \t]+$/, ''); // "Via  :" is legal (HCOLON)
    if (!isToken(name)) throw badRequest(SipErrorCode.BAD_HEADER, `bad header name: ${l.slice(0, 60)}`, 'Bad Header');
    msg.headers.push({ name: canonicalName(name), value: l.slice(colon + 1).trim() });
  }

  validateHeaders(msg);
  setBody(msg, buf, bodyStart);
  return msg;
}

function parseStartLine(line: string): SipMessage {
  const bad = (why: string) => badRequest(SipErrorCode.BAD_START_LINE, `bad start line (${why}): ${line.slice(0, 100)}`, 'Bad Start Line');
  const m = new SipMessage();
  const sp1 = line.indexOf(' ');
  if (sp1 <= 0) throw bad('no SP');
  const first = line.slice(0, sp1);
  if (first.indexOf('/') >= 0) {
    // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (RFC 3261 §7.2)
    checkVersion(first, line);
    const sp2 = line.indexOf(' ', sp1 + 1);
    if (sp2 < 0) throw bad('no SP after status code');
    const code = line.slice(sp1 + 1, sp2);
    if (!/^[1-6][0-9]{2}$/.test(code)) throw bad('status code'); // RFC 4475 §3.1.2.19
    m.kind = 'response';
    m.version = 'SIP/2.0';
    m.status = Number(code);
    m.reason = line.slice(sp2 + 1);
    return m;
  }
  // Request-Line = Method SP Request-URI SP SIP-Version: exactly one SP between the
  // three, none around (RFC 3261 §7.1; RFC 4475 §3.1.2.8-10).
  const parts = line.split(' ');
  if (parts.length !== 3) throw bad('expected Method SP Request-URI SP SIP-Version');
  const [method, uri, version] = parts;
  if (!isToken(method)) throw bad('method');
  if (!VERSION_RE.test(version)) throw bad('version');
  checkVersion(version, line);
  let ruri;
  try {
    ruri = parseUri(uri);
  } catch {
    throw badRequest(SipErrorCode.BAD_URI, `bad Request-URI: ${uri.slice(0, 100)}`, 'Bad Request-URI');
  }
  // RFC 3261 §19.1.1 table: the headers component is not allowed in a Request-URI
  // (RFC 4475 §3.1.2.11).
  if (ruri.headers !== undefined) throw badRequest(SipErrorCode.BAD_URI, `Request-URI with headers: ${uri.slice(0, 100)}`, 'Bad Request-URI');
  m.kind = 'request';
  m.method = method;
  m.uri = uri;
  m.version = 'SIP/2.0';
  SipMessage.attachUri(m, ruri);
  return m;
}

function checkVersion(v: string, line: string): void {
  // §7.1: the version string is case-insensitive; anything but 2.0 → 505 (RFC 4475 §3.1.2.16)
  if (v.toUpperCase() === 'SIP/2.0') return;
  if (VERSION_RE.test(v)) throw new SipParseError(SipErrorCode.BAD_VERSION, `unsupported version ${v}`, 505);
  throw badRequest(SipErrorCode.BAD_START_LINE, `bad start line (version): ${line.slice(0, 100)}`, 'Bad Start Line');
}

// Bits of SINGLE_HEADERS, in its order (the first conflicting one in that order is reported).
const SINGLE_BIT: Record<string, number> = Object.fromEntries(SINGLE_HEADERS.map((n, i) => [n, 1 << i]));

function validateHeaders(msg: SipMessage): void {
  // One pass over the lines: presence, first values, conflicting single-valued headers.
  const hs = msg.headers;
  let present = 0;
  let conflicts = 0;
  const firsts = FIRST_VALUES;
  for (let i = 0; i < hs.length; i++) {
    const h = hs[i];
    const bit = SINGLE_BIT[h.name];
    if (bit !== undefined) {
      if ((present & bit) === 0) {
        present |= bit;
        firsts[Math.clz32(bit) ^ 31] = h.value;
      } else if (h.value !== firsts[Math.clz32(bit) ^ 31]) {
        conflicts |= bit;
      }
    } else if (h.name === 'via') {
      present |= VIA_BIT;
    }
  }
  // Mandatory headers (RFC 3261 §8.1.1). Max-Forwards is also mandatory in requests, but
  // RFC 2543 elements omit it (RFC 4475 §3.4) and a proxy treats absence as 70.
  if ((present & VIA_BIT) === 0) throw missing('Via');
  if ((present & SINGLE_BIT.from) === 0) throw missing('From');
  if ((present & SINGLE_BIT.to) === 0) throw missing('To');
  if ((present & SINGLE_BIT['call-id']) === 0) throw missing('Call-ID');
  if ((present & SINGLE_BIT.cseq) === 0) throw missing('CSeq');
  // Two lines with different values is a 400 (RFC 4475 §3.3.8, §3.3.9).
  if (conflicts !== 0) {
    const n = SINGLE_HEADERS[31 - Math.clz32(conflicts & -conflicts)];
    throw badRequest(SipErrorCode.DUPLICATE_HEADER, `conflicting ${displayName(n)} headers`, `Multiple ${displayName(n)}`);
  }
  const callId = msg.callId();
  if (callId.length === 0) throw missing('Call-ID');
  // callid = word [ "@" word ] (RFC 3261 §25.1): printable ASCII, no whitespace — the
  // fast path hashes exactly these bytes, so both paths must agree on where it ends.
  if (!CALL_ID_RE.test(callId)) throw badRequest(SipErrorCode.BAD_HEADER, `bad Call-ID: ${callId.slice(0, 60)}`, 'Bad Call-ID');
  const cseq = msg.cseq();
  if (msg.kind === 'request' && cseq.method !== msg.method) {
    // RFC 3261 §8.1.1.5 (RFC 4475 §3.1.2.17-18)
    throw badRequest(SipErrorCode.BAD_CSEQ, `CSeq method ${cseq.method} != ${msg.method}`, 'CSeq Method Mismatch');
  }
  if (msg.kind === 'request') msg.maxForwards();
  if ((present & SINGLE_BIT.expires) !== 0) checkDeltaSeconds('Expires', firsts[SINGLE_HEADERS.indexOf('expires')] as string);
  let seenVia = false;
  let seenFrom = false;
  let seenTo = false;
  let minExpires: string | undefined;
  let retryAfter: string | undefined;
  let date: string | undefined;
  for (let i = 0; i < hs.length; i++) {
    const h = hs[i];
    if (h.name === 'min-expires') minExpires ??= h.value;
    else if (h.name === 'retry-after') retryAfter ??= h.value;
    else if (h.name === 'date') date ??= h.value;
  }
  if (minExpires !== undefined) checkDeltaSeconds('Min-Expires', minExpires);
  if (retryAfter !== undefined) checkDeltaSeconds('Retry-After', /^[0-9]*/.exec(retryAfter)?.[0] ?? '');
  if (date !== undefined && !DATE_RE.test(date)) throw badRequest(SipErrorCode.BAD_DATE, `bad Date: ${date.slice(0, 60)}`, 'Bad Date');

  // Structure of the headers a proxy acts on (RFC 4475 §3.1.2.1, .6, .13-15). The first
  // Via, From and To are parsed through the message's accessors, which keep the result.
  for (let i = 0; i < hs.length; i++) {
    const h = hs[i];
    const name = h.name;
    if (name === 'via') {
      const values = h.value.indexOf(',') < 0 && h.value.length > 0 ? null : splitList(h.value);
      if (values === null) {
        if (!seenVia) msg.topVia();
        else parseVia(h.value);
      } else {
        if (values.length === 0) throw badRequest(SipErrorCode.BAD_VIA, 'empty Via', 'Bad Via');
        for (let j = 0; j < values.length; j++) {
          if (j === 0 && !seenVia && values[0].length > 0) msg.topVia();
          else parseVia(values[j]);
        }
      }
      seenVia = true;
    } else if (name === 'from') {
      if (!seenFrom) msg.from();
      else parseNameAddr(h.value);
      seenFrom = true;
    } else if (name === 'to') {
      if (!seenTo) msg.to();
      else parseNameAddr(h.value);
      seenTo = true;
    } else if (name === 'contact' || name === 'route' || name === 'record-route') {
      const v = h.value;
      if (v.indexOf(',') < 0 && v.length > 0) {
        // one value (the usual case): no list to split
        if (name === 'contact' && v === '*') continue; // §10.2.2
        parseNameAddr(v);
        continue;
      }
      const values = splitList(v);
      if (name === 'contact' && values.length === 1 && values[0] === '*') continue; // §10.2.2
      if (values.length === 0) throw badRequest(SipErrorCode.BAD_NAME_ADDR, `empty ${displayName(name)}`, 'Bad Address');
      for (const x of values) parseNameAddr(x);
    }
  }
}

const VIA_BIT = 1 << SINGLE_HEADERS.length;
// validateHeaders scratch: first value of each SINGLE_HEADERS entry.
const FIRST_VALUES: (string | undefined)[] = SINGLE_HEADERS.map(() => undefined);

/**
 * A response to `req` (RFC 3261 §8.2.6.2): Via lines (in order), From, To, Call-ID, CSeq
 * copied; To gets `toTag` when the status is above 100 and it has no tag yet.
 */
export function createResponse(req: SipMessage, status: number, reason?: string, toTag?: string): SipMessage {
  const headers: Header[] = [];
  for (const h of req.headers) if (h.name === 'via') headers.push({ name: 'via', value: h.value });
  const from = req.get('from');
  if (from !== undefined) headers.push({ name: 'from', value: from });
  let to = req.get('to');
  if (to !== undefined && status > 100 && toTag !== undefined) {
    let hasTag = false;
    try {
      hasTag = parseNameAddr(to).tag !== undefined;
    } catch {
      hasTag = /;\s*tag\s*=/i.test(to);
    }
    if (!hasTag) to = `${to};tag=${toTag}`;
  }
  if (to !== undefined) headers.push({ name: 'to', value: to });
  const callId = req.get('call-id');
  if (callId !== undefined) headers.push({ name: 'call-id', value: callId });
  const cseq = req.get('cseq');
  if (cseq !== undefined) headers.push({ name: 'cseq', value: cseq });
  return SipMessage.response(status, reason ?? reasonPhrase(status), headers);
}

const REASONS: Record<number, string> = {
  100: 'Trying', 180: 'Ringing', 181: 'Call Is Being Forwarded', 182: 'Queued', 183: 'Session Progress',
  199: 'Early Dialog Terminated',
  200: 'OK', 202: 'Accepted', 204: 'No Notification',
  300: 'Multiple Choices', 301: 'Moved Permanently', 302: 'Moved Temporarily', 305: 'Use Proxy', 380: 'Alternative Service',
  400: 'Bad Request', 401: 'Unauthorized', 402: 'Payment Required', 403: 'Forbidden', 404: 'Not Found',
  405: 'Method Not Allowed', 406: 'Not Acceptable', 407: 'Proxy Authentication Required', 408: 'Request Timeout',
  410: 'Gone', 412: 'Conditional Request Failed', 413: 'Request Entity Too Large', 414: 'Request-URI Too Long',
  415: 'Unsupported Media Type', 416: 'Unsupported URI Scheme', 417: 'Unknown Resource-Priority',
  420: 'Bad Extension', 421: 'Extension Required', 422: 'Session Interval Too Small', 423: 'Interval Too Brief',
  428: 'Use Identity Header', 429: 'Provide Referrer Identity', 433: 'Anonymity Disallowed',
  436: 'Bad Identity-Info', 437: 'Unsupported Certificate', 438: 'Invalid Identity Header',
  439: 'First Hop Lacks Outbound Support', 440: 'Max-Breadth Exceeded', 469: 'Bad Info Package',
  470: 'Consent Needed', 480: 'Temporarily Unavailable', 481: 'Call/Transaction Does Not Exist',
  482: 'Loop Detected', 483: 'Too Many Hops', 484: 'Address Incomplete', 485: 'Ambiguous', 486: 'Busy Here',
  487: 'Request Terminated', 488: 'Not Acceptable Here', 489: 'Bad Event', 491: 'Request Pending',
  493: 'Undecipherable', 494: 'Security Agreement Required',
  500: 'Server Internal Error', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable',
  504: 'Server Time-out', 505: 'Version Not Supported', 513: 'Message Too Large', 580: 'Precondition Failure',
  600: 'Busy Everywhere', 603: 'Decline', 604: 'Does Not Exist Anywhere', 606: 'Not Acceptable', 607: 'Unwanted',
};

/** Default reason phrase (RFC 3261 §21 and later RFCs); class name for unknown codes. */
export function reasonPhrase(status: number): string {
  const r = REASONS[status];
  if (r !== undefined) return r;
  if (status >= 100 && status < 200) return 'Provisional';
  if (status >= 200 && status < 300) return 'Success';
  if (status >= 300 && status < 400) return 'Redirection';
  if (status >= 400 && status < 500) return 'Client Error';
  if (status >= 500 && status < 600) return 'Server Error';
  return 'Global Failure';
}
