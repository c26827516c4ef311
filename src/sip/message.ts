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
import { CHAR_CLASS, CharClass, type SipUri, isToken, parseUri } from './uri.js';

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

/**
 * Display forms: DISPLAY's, then those computed for other names, bounded (names come
 * from the wire). One Map lookup per line printed.
 */
const displayCache = new Map<string, string>(Object.entries(DISPLAY));
const DISPLAY_COUNT = displayCache.size;

export function displayName(canonical: string): string {
  const d = displayCache.get(canonical);
  if (d !== undefined) return d;
  const made = canonical.replace(/(^|-)([a-z])/g, (_m, sep: string, ch: string) => sep + ch.toUpperCase());
  if (displayCache.size < 1024 + DISPLAY_COUNT) displayCache.set(canonical, made);
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
    return this.first(canonicalName(name));
  }

  /** get() for a name already canonical (the accessors below): no lower-casing per call. */
  private first(canonical: string): string | undefined {
    const hs = this.headers;
    for (let i = 0; i < hs.length; i++) if (hs[i].name === canonical) return hs[i].value;
    return undefined;
  }

  /** Every value in order; list headers (Via, Route, Contact...) split on commas. */
  getAll(name: string): string[] {
    const n = canonicalName(name);
    const list = LIST_HEADERS.has(n);
    const out: string[] = [];
    const hs = this.headers;
    for (let i = 0; i < hs.length; i++) {
      const h = hs[i];
      if (h.name !== n) continue;
      if (!list) out.push(h.value);
      else if (h.value.indexOf(',') < 0) pushTrimmed(out, h.value); // one value: nothing to split
      else for (const v of splitList(h.value)) if (v.length > 0) out.push(v);
    }
    return out;
  }

  /** getAll(name).length > 0, without building the list. */
  hasValue(name: string): boolean {
    const n = canonicalName(name);
    const list = LIST_HEADERS.has(n);
    const hs = this.headers;
    for (let i = 0; i < hs.length; i++) {
      const h = hs[i];
      if (h.name !== n) continue;
      if (!list) return true;
      if (h.value.indexOf(',') < 0) {
        if (h.value.trim().length > 0) return true;
      } else if (splitList(h.value).some((v) => v.length > 0)) {
        return true;
      }
    }
    return false;
  }

  /**
   * The caller has just prepended the Via line `text` and knows what parseVia(text)
   * returns: topVia() answers with `parsed` instead of parsing it again. Ignored unless
   * `text` is the first Via line and has no comma.
   */
  primeTopVia(text: string, parsed: Via): void {
    if (this.first('via') !== text || text.indexOf(',') >= 0) return;
    this.viaText = text;
    this.viaParsed = parsed;
  }

  has(name: string): boolean {
    const n = canonicalName(name);
    return this.headers.some((h) => h.name === n);
  }

  /** Replace every line of that name by one line, at the first one's position (or appended). */
  set(name: string, value: string): void {
    const n = canonicalName(name);
    const hs = this.headers;
    const first = hs.findIndex((h) => h.name === n);
    if (first < 0) {
      hs.push({ name: n, value });
      return;
    }
    let more = false;
    for (let i = first + 1; i < hs.length && !more; i++) more = hs[i].name === n;
    // One line of that name (the usual case): replaced where it is, no new list.
    if (more) this.headers = hs.filter((h, i) => i === first || h.name !== n);
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
    if (line.value.indexOf(',') < 0) {
      // one value (the usual case): splitList would give [] or [value.trim()]
      this.headers.splice(idx, 1);
      const t = line.value.trim();
      return t.length > 0 ? t : line.value;
    }
    const values = splitList(line.value);
    if (values.length <= 1) {
      this.headers.splice(idx, 1);
      return values.length === 1 ? values[0] : line.value;
    }
    this.headers[idx] = { name: n, value: values.slice(1).join(', ') };
    return values[0];
  }

  /**
   * A copy for editing through the header methods (set, append, prepend, remove,
   * removeTop: they replace lines, never change a Header object): it shares this
   * message's Header objects, body and datagram spans instead of copying them — what
   * a proxy needs to forward a request it also keeps (RFC 3261 §16.6 step 1), at the
   * cost of one array. Writing into a shared Header or the body shows in both; use
   * clone() for that.
   */
  forwardCopy(): SipMessage {
    const m = this.startLineCopy();
    m.headers = this.headers.slice();
    m.body = this.body;
    // The raw slots are never written after parse: both messages may read them.
    m.src = this.src;
    m.raw = this.raw;
    this.shareParsed(m);
    return m;
  }

  /** A message with this one's start line and no headers. */
  private startLineCopy(): SipMessage {
    const m = new SipMessage();
    m.kind = this.kind;
    m.method = this.method;
    m.uri = this.uri;
    m.version = this.version;
    m.status = this.status;
    m.reason = this.reason;
    return m;
  }

  /** Parsed values are immutable and keyed by their text: a copy may share them. */
  private shareParsed(m: SipMessage): void {
    this.shareParsedHeaders(m);
    m.uriText = this.uriText;
    m.uriParsed = this.uriParsed;
  }

  /** shareParsed() for the header lines only (a response built from a request has no Request-URI). */
  private shareParsedHeaders(m: SipMessage): void {
    m.viaText = this.viaText;
    m.viaParsed = this.viaParsed;
    m.fromText = this.fromText;
    m.fromParsed = this.fromParsed;
    m.toText = this.toText;
    m.toParsed = this.toParsed;
    m.cseqText = this.cseqText;
    m.cseqParsed = this.cseqParsed;
  }

  clone(): SipMessage {
    const m = this.startLineCopy();
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
    this.shareParsed(m);
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
      const a = w.pos[2 * j];
      const b = w.pos[2 * j + 1];
      if (str === undefined) {
        // what src.copy() does, without its argument checks: the span is inside src
        out.set(new Uint8Array(src.buffer, src.byteOffset + a, b - a), at);
        at += b - a;
      } else {
        // b is the string's UTF-8 length; equal to its length: ASCII, written byte per char
        at += b === str.length ? (out as WritableBuffer).latin1Write(str, at, b) : (out as WritableBuffer).utf8Write(str, at, b);
        w.str[j] = undefined;
      }
    }
    if (bodyLen > 0) out.set(this.body, at);
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
    return this.first('call-id') ?? '';
  }

  cseq(): { seq: number; method: string } {
    const v = this.first('cseq');
    if (v === undefined) throw missing('CSeq');
    if (v === this.cseqText && this.cseqParsed !== undefined) return this.cseqParsed;
    const parsed = parseCSeq(v);
    this.cseqText = v;
    this.cseqParsed = parsed;
    return parsed;
  }

  topVia(): Via | undefined {
    const line = this.first('via');
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
    const v = this.first('max-forwards');
    if (v === undefined) return undefined;
    return parseMaxForwards(v);
  }

  from(): NameAddr {
    const v = this.first('from');
    if (v === undefined) throw missing('From');
    if (v === this.fromText && this.fromParsed !== undefined) return this.fromParsed;
    const parsed = parseNameAddr(v);
    this.fromText = v;
    this.fromParsed = parsed;
    return parsed;
  }

  to(): NameAddr {
    const v = this.first('to');
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

  /**
   * @internal createResponse: the lines `res` copied from `req` unchanged (same name and
   * value, in the same relative order) keep the byte spans they had in req's datagram,
   * so the response is serialized by copying them too; and the parse results keyed by
   * text carry over.
   */
  static inheritLines(req: SipMessage, res: SipMessage): void {
    req.shareParsedHeaders(res);
    const src = req.src;
    if (src === null) return;
    const raw = req.raw;
    const craw: RawSlot[] = [];
    const hs = res.headers;
    let r = 0;
    for (let i = 0; i < hs.length; i++) {
      const h = hs[i];
      // the next raw line of the request with the same name and value, if any
      let k = r;
      while (k < raw.length && (raw[k + 1] !== h.name || raw[k + 2] !== h.value)) k += RAW_STRIDE;
      if (k >= raw.length) continue;
      craw.push(h, h.name, h.value, raw[k + 3], raw[k + 4]);
      r = k + RAW_STRIDE;
    }
    if (craw.length === 0) return;
    res.src = src;
    res.raw = craw;
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
 * toBufferRaw scratch: the segments of one serialization, each a string (str[j], its
 * UTF-8 length in pos[2j+1]) or a byte range of the source (str[j] undefined,
 * pos[2j..2j+1]); strings are cleared as they are written. Serialization is synchronous, so one writer serves every message.
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
  const n = Buffer.byteLength(w.pending, 'utf8');
  w.str[w.n] = w.pending;
  w.pos[2 * w.n] = 0;
  w.pos[2 * w.n + 1] = n;
  w.total += n;
  w.n++;
  w.pending = '';
}

/** Buffer's per-encoding writers (Node ≥ 0.x, untyped): write() without its argument parsing. */
interface WritableBuffer extends Buffer {
  latin1Write(s: string, offset: number, length: number): number;
  utf8Write(s: string, offset: number, length: number): number;
}

/** splitList(v) for a value without a comma, filtered as getAll() does. */
function pushTrimmed(out: string[], v: string): void {
  const t = v.trim();
  if (t.length > 0) out.push(t);
}

function missing(display: string): SipParseError {
  return badRequest(SipErrorCode.MISSING_HEADER, `missing ${display} header`, `Missing ${display}`);
}

/** Max-Forwards = 1*DIGIT, 0..255 (RFC 3261 §20.22; RFC 4475 §3.1.2.4). */
function parseMaxForwards(v: string): number {
  if (!isDigits(v) || Number(v) > 255) {
    throw badRequest(SipErrorCode.BAD_MAX_FORWARDS, `bad Max-Forwards: ${v.slice(0, 40)}`, 'Bad Max-Forwards');
  }
  return Number(v);
}

/** delta-seconds that must fit 32 bits (RFC 3261 §20.19, §20.33; RFC 4475 §3.1.2.4). */
function checkDeltaSeconds(name: string, v: string): void {
  if (!isDigits(v) || Number(v) > 0xffffffff) {
    throw badRequest(SipErrorCode.BAD_SCALAR, `bad ${name}: ${v.slice(0, 40)}`, `Bad ${name}`);
  }
}

// rfc1123-date, GMT only (RFC 3261 §20.17; RFC 4475 §3.1.2.12)
const DATE_RE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$/;

/** /^[0-9]{1,10}$/ without a regex: the scalars every message carries go through here. */
export function isDigits(v: string): boolean {
  if (v.length === 0 || v.length > 10) return false;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/**
 * callid = word [ "@" word ] (RFC 3261 §25.1) as the fast path reads it: printable
 * ASCII without '@', then optionally '@' and more of it — the regex
 * /^[\x21-\x3f\x41-\x7e]+(@[\x21-\x3f\x41-\x7e]+)?$/ as a char loop.
 */
export function isCallId(v: string): boolean {
  let at = -1;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
    if (c === 0x40) {
      if (at >= 0) return false;
      at = i;
    }
  }
  return at !== 0 && at !== v.length - 1 && v.length > 0;
}

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
  // Rows, and a CR or LF that is not part of a CRLF (RFC 3261 §7: lines end with CRLF):
  // every LF must follow a CR, and a row's first CR must be the one of its CRLF.
  const rowEnds = ROW_ENDS;
  let nRows = 0;
  for (let p = 0; ;) {
    const lf = text.indexOf('\n', p);
    const rowEnd = lf < 0 ? len : lf - 1;
    if (lf >= 0 && text.charCodeAt(lf - 1) !== 0x0d) throw badLineEnd();
    const cr = text.indexOf('\r', p);
    if (cr >= 0 && cr < rowEnd) throw badLineEnd();
    rowEnds[nRows++] = rowEnd;
    if (lf < 0) break;
    p = lf + 1;
  }
  const eol = rowEnds[0];
  const msg = parseStartLine(text.slice(0, eol));

  // First pass (§7.3.1 unfolding): each header's first row and its continuation rows.
  // A line starting with SP/HTAB continues the previous one.
  const starts = LINE_STARTS;
  const ends = LINE_ENDS;
  const folded = LINE_FOLDED;
  const colons = LINE_COLONS;
  let nLines = 0;
  for (let r = 1; r < nRows; r++) {
    const pos0 = rowEnds[r - 1] + 2;
    const e = rowEnds[r];
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
      colons[nLines] = colon;
      nLines++;
    }
  }
  const headers = msg.headers;
  // Sized once (a clean line per header at most) instead of grown by push.
  const raw: RawSlot[] = new Array<RawSlot>(nLines * RAW_STRIDE);
  let nRaw = 0;
  for (let j = 0; j < nLines; j++) {
    const s = starts[j];
    const e = ends[j];
    const colon = colons[j];
    let ne = colon;
    while (ne > s) {
      const c = text.charCodeAt(ne - 1);
      if (c !== 0x20 && c !== 0x09) break;
      ne--;
    }
    // "Via  :" is legal (HCOLON): the name is text[s, ne).
    const info = knownNameAt(text, s, ne, e);
    const canonical = info.canonical;
    let value: string;
    if (folded[j] === 0) {
      value = trimmedSlice(text, colon + 1, e);
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
      raw[nRaw] = h;
      raw[nRaw + 1] = canonical;
      raw[nRaw + 2] = value;
      raw[nRaw + 3] = s;
      raw[nRaw + 4] = e + 2;
      nRaw += RAW_STRIDE;
    }
  }

  raw.length = nRaw;
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
    const lower = canonicalName(name);
    // The source-literal copy when there is one: V8 compares two internalized strings by
    // pointer, and a property or Set lookup keyed by one needs no hashing.
    const canonical = KNOWN_NAMES.get(lower) ?? lower;
    i = { canonical, display: name === displayName(canonical) };
    if (nameInfos.size < 1024) nameInfos.set(name, i);
  }
  return i;
}

/**
 * The NameInfo of the header name text[s, ne), which parseAsciiStrict would otherwise
 * slice out and look up in nameInfos: one pass checks the token characters and hashes
 * them, and a direct-mapped table of the spellings seen before answers without a new
 * string (a fresh slice is a string allocation plus a hash computation per header line).
 * Throws the same 400 as the isToken() check it replaces.
 */
function knownNameAt(text: string, s: number, ne: number, e: number): NameInfo {
  let h = ne - s;
  let token = ne > s;
  for (let i = s; i < ne; i++) {
    const c = text.charCodeAt(i);
    if ((CHAR_CLASS[c] & CharClass.TOKEN) === 0) token = false; // c < 128: ASCII section
    h = (Math.imul(h, 31) + c) | 0;
  }
  if (!token) throw badRequest(SipErrorCode.BAD_HEADER, `bad header name: ${text.slice(s, Math.min(e, s + 60))}`, 'Bad Header');
  // two adjacent slots per hash (a message's few dozen spellings rarely meet three ways)
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  const slot = (h ^ (h >>> 16)) & (NAME_SLOTS - 2);
  const n = ne - s;
  const a = nameSlots[slot];
  if (a !== undefined && spelledAt(text, s, a.spelling, n)) return a.info;
  const b = nameSlots[slot + 1];
  if (b !== undefined && spelledAt(text, s, b.spelling, n)) return b.info;
  const spelling = text.slice(s, ne);
  const info = nameInfo(spelling);
  // the newer entry first; the older one moves to the second slot
  nameSlots[slot + 1] = a;
  nameSlots[slot] = { spelling, info };
  return info;
}

/** text[s, s + n) === spelling, by a char loop (names are short; no builtin call). */
function spelledAt(text: string, s: number, spelling: string, n: number): boolean {
  if (spelling.length !== n) return false;
  for (let i = 0; i < n; i++) if (text.charCodeAt(s + i) !== spelling.charCodeAt(i)) return false;
  return true;
}

const NAME_SLOTS = 512;
const nameSlots: ({ spelling: string; info: NameInfo } | undefined)[] = new Array(NAME_SLOTS).fill(undefined);

/**
 * text.slice(start, end).trim() with one string instead of two: in an ASCII header
 * section, trim() removes exactly HTAB, LF, VT, FF, CR and SP.
 */
export function trimmedSlice(text: string, start: number, end: number): string {
  while (start < end && isTrimmed(text.charCodeAt(start))) start++;
  while (end > start && isTrimmed(text.charCodeAt(end - 1))) end--;
  return text.slice(start, end);
}

function isTrimmed(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

/** Canonical names written in this file, each mapped to its own (internalized) literal. */
const KNOWN_NAMES = new Map<string, string>(
  [...Object.values(COMPACT), ...Object.keys(DISPLAY), ...LIST_HEADERS, ...SINGLE_HEADERS, 'via', 'min-expires', 'retry-after', 'date',
    'user-agent', 'server', 'subject', 'organization', 'authorization', 'proxy-authorization', 'proxy-authenticate',
    'mime-version', 'timestamp', 'priority', 'rack', 'rseq', 'session-expires', 'min-se', 'event', 'subscription-state',
  ].map((n) => [n, n]),
);

// parseAsciiStrict scratch: header line boundaries of the message being parsed.
const LINE_STARTS: number[] = [];
const LINE_ENDS: number[] = [];
const LINE_FOLDED: number[] = [];
const LINE_COLONS: number[] = [];
/** parseAsciiStrict scratch: where each row (start line included) ends, before its CRLF. */
const ROW_ENDS: number[] = [];

/** The body: RFC 3261 §18.3 — over UDP, a Content-Length larger than what arrived is an
 * error (RFC 4475 §3.1.2.2), a smaller one truncates, none means "the rest". */
function setBody(msg: SipMessage, buf: Buffer, bodyStart: number): void {
  const available = buf.length - bodyStart;
  const cl = msg.get('content-length');
  let bodyLen = available;
  if (cl !== undefined) {
    if (!isDigits(cl)) throw badRequest(SipErrorCode.CONTENT_LENGTH, `bad Content-Length: ${cl.slice(0, 40)}`, 'Bad Content-Length');
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

function badStartLine(line: string, why: string): SipParseError {
  return badRequest(SipErrorCode.BAD_START_LINE, `bad start line (${why}): ${line.slice(0, 100)}`, 'Bad Start Line');
}

function parseStartLine(line: string): SipMessage {
  const m = new SipMessage();
  const sp1 = line.indexOf(' ');
  if (sp1 <= 0) throw badStartLine(line, 'no SP');
  // 'SIP/2.0' as written by nearly everyone: no slice, no case folding, no regex.
  const usual = sp1 === 7 && line.startsWith('SIP/2.0');
  if (usual || line.lastIndexOf('/', sp1) >= 0) {
    // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (RFC 3261 §7.2)
    if (!usual) checkVersion(line.slice(0, sp1), line);
    const sp2 = line.indexOf(' ', sp1 + 1);
    if (sp2 < 0) throw badStartLine(line, 'no SP after status code');
    // Status-Code = [1-6] DIGIT DIGIT (RFC 4475 §3.1.2.19)
    if (sp2 !== sp1 + 4) throw badStartLine(line, 'status code');
    const c0 = line.charCodeAt(sp1 + 1) - 0x30;
    const c1 = line.charCodeAt(sp1 + 2) - 0x30;
    const c2 = line.charCodeAt(sp1 + 3) - 0x30;
    if (c0 < 1 || c0 > 6 || c1 < 0 || c1 > 9 || c2 < 0 || c2 > 9) throw badStartLine(line, 'status code');
    m.kind = 'response';
    m.version = 'SIP/2.0';
    m.status = c0 * 100 + c1 * 10 + c2;
    m.reason = line.slice(sp2 + 1);
    return m;
  }
  // Request-Line = Method SP Request-URI SP SIP-Version: exactly one SP between the
  // three, none around (RFC 3261 §7.1; RFC 4475 §3.1.2.8-10).
  const sp2 = line.indexOf(' ', sp1 + 1);
  if (sp2 < 0 || line.indexOf(' ', sp2 + 1) >= 0) throw badStartLine(line, 'expected Method SP Request-URI SP SIP-Version');
  const method = line.slice(0, sp1);
  const uri = line.slice(sp1 + 1, sp2);
  if (!isToken(method)) throw badStartLine(line, 'method');
  if (line.length - sp2 - 1 !== 7 || !line.endsWith('SIP/2.0')) {
    const version = line.slice(sp2 + 1);
    if (!VERSION_RE.test(version)) throw badStartLine(line, 'version');
    checkVersion(version, line);
  }
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

/** SINGLE_BIT[name] ?? 0 by comparisons (canonical names of parsed lines are the literals). */
function singleBit(name: string): number {
  switch (name) {
    case 'call-id': return 1;
    case 'cseq': return 2;
    case 'from': return 4;
    case 'to': return 8;
    case 'max-forwards': return 16;
    case 'content-length': return 32;
    case 'content-type': return 64;
    case 'expires': return 128;
    default: return 0;
  }
}
for (const n of SINGLE_HEADERS) if (singleBit(n) !== SINGLE_BIT[n]) throw new Error(`singleBit(${n}) out of step with SINGLE_HEADERS`);

function validateHeaders(msg: SipMessage): void {
  // One pass over the lines: presence, first values, conflicting single-valued headers.
  const hs = msg.headers;
  let present = 0;
  let conflicts = 0;
  const firsts = FIRST_VALUES;
  for (let i = 0; i < hs.length; i++) {
    const h = hs[i];
    const bit = singleBit(h.name);
    if (bit !== 0) {
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
  if (!isCallId(callId)) throw badRequest(SipErrorCode.BAD_HEADER, `bad Call-ID: ${callId.slice(0, 60)}`, 'Bad Call-ID');
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
  const res = SipMessage.response(status, reason ?? reasonPhrase(status), []);
  const headers = res.headers;
  // One pass: every Via in order, the first From, To, Call-ID and CSeq (the lines are
  // then put in that order).
  let from: Header | undefined;
  let to: Header | undefined;
  let callId: Header | undefined;
  let cseq: Header | undefined;
  const hs = req.headers;
  for (let i = 0; i < hs.length; i++) {
    const h = hs[i];
    const n = h.name;
    if (n === 'via') headers.push({ name: 'via', value: h.value });
    else if (n === 'from') from ??= h;
    else if (n === 'to') to ??= h;
    else if (n === 'call-id') callId ??= h;
    else if (n === 'cseq') cseq ??= h;
  }
  if (from !== undefined) headers.push({ name: 'from', value: from.value });
  if (to !== undefined) {
    let v = to.value;
    if (status > 100 && toTag !== undefined) {
      let hasTag = false;
      try {
        hasTag = parseNameAddr(v).tag !== undefined;
      } catch {
        hasTag = /;\s*tag\s*=/i.test(v);
      }
      if (!hasTag) v = `${v};tag=${toTag}`;
    }
    headers.push({ name: 'to', value: v });
  }
  if (callId !== undefined) headers.push({ name: 'call-id', value: callId.value });
  if (cseq !== undefined) headers.push({ name: 'cseq', value: cseq.value });
  SipMessage.inheritLines(req, res);
  return res;
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
