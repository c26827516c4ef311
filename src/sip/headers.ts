/**
 * Parsers for the header field values the slow path needs: Via, name-addr (From, To,
 * Contact, Route, Record-Route), CSeq, and comma-separated lists.
 *
 * RFC 3261 §25.1 allows linear whitespace around the separators (SLASH, COLON, SEMI,
 * EQUAL, LAQUOT/RAQUOT) — RFC 4475 §3.1.1.1 (wsinv) exercises all of it — but never
 * inside a URI or between '<' and the URI (RFC 4475 §3.1.2.14, badaspec).
 * All parsers throw `SipParseError`.
 */
import { SipErrorCode, badRequest } from './errors.js';
import {
  type SipUri, formatParams, formatUri, hostLength, isToken, isTokenChar, isWs, parseParams,
  parseParamsAt, parseUri, skipQuoted,
} from './uri.js';

export { parseParams, formatParams };

export interface Via {
  /** 'SIP/2.0' (protocol-name '/' protocol-version, whitespace removed, upper-case) */
  protocol: string;
  /** upper-case: UDP, TCP, TLS, SCTP, WS, ... */
  transport: string;
  host: string;
  port?: number;
  /** every via-param, branch included; keys lowercased, flags (`;rport`) → null */
  params: Map<string, string | null>;
  branch?: string;
}

export interface NameAddr {
  /** display name, unquoted and unescaped ('J Rosenberg \"' → `J Rosenberg "`) */
  display?: string;
  uri: SipUri;
  /** header parameters (after '>' or after an addr-spec), tag included */
  params: Map<string, string | null>;
  tag?: string;
}

function skipWs(s: string, i: number): number {
  while (i < s.length && isWs(s.charCodeAt(i))) i++;
  return i;
}

function readToken(s: string, i: number): number {
  while (i < s.length && isTokenChar(s.charCodeAt(i))) i++;
  return i;
}

/**
 * Splits a header value on commas that are outside quoted strings and outside <...>
 * (RFC 3261 §7.3.1: a list header may be written as one line of comma-separated values).
 * Elements are trimmed; empty elements ARE kept (`a,,b` → ['a','','b']) so validators
 * can reject them (RFC 4475 §3.1.2.1); an all-whitespace value gives [].
 */
export function splitList(value: string): string[] {
  const out: string[] = [];
  if (value.trim().length === 0) return out;
  let start = 0;
  let angle = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (angle) {
      if (c === 0x3e) angle = false;
    } else if (c === 0x22) {
      const end = skipQuoted(value, i);
      if (end < 0) break; // unterminated: the rest is one element; its parser will reject it
      i = end - 1;
    } else if (c === 0x3c) {
      angle = true;
    } else if (c === 0x2c) {
      out.push(value.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(value.slice(start).trim());
  return out;
}

function badVia(v: string, why: string) {
  return badRequest(SipErrorCode.BAD_VIA, `bad Via (${why}): ${v.slice(0, 100)}`, 'Bad Via');
}

/**
 * One via-parm (RFC 3261 §20.42, §25.1):
 * sent-protocol LWS sent-by *( SEMI via-params ), sent-protocol = name SLASH version SLASH transport.
 */
export function parseVia(value: string): Via {
  // Not cached by text like parseNameAddr: a Via is one transaction's, and a cache of
  // them (tried) kept each one's whole message text alive past the young generation —
  // twice the garbage collector's work for fewer parses.
  const s = value;
  let i = skipWs(s, 0);
  let e = readToken(s, i);
  if (e === i) throw badVia(s, 'protocol name');
  const ns = i;
  const ne = e;
  i = skipWs(s, e);
  if (s.charCodeAt(i) !== 0x2f) throw badVia(s, 'expected /');
  i = skipWs(s, i + 1);
  e = readToken(s, i);
  if (e === i) throw badVia(s, 'protocol version');
  // 'SIP' '/' '2.0' as nearly everyone writes it: the constant, not a concatenation.
  const protocol = ne - ns === 3 && e - i === 3 && s.startsWith('SIP', ns) && s.startsWith('2.0', i)
    ? 'SIP/2.0'
    : `${s.slice(ns, ne)}/${s.slice(i, e)}`.toUpperCase();
  i = skipWs(s, e);
  if (s.charCodeAt(i) !== 0x2f) throw badVia(s, 'expected /');
  i = skipWs(s, i + 1);
  e = readToken(s, i);
  if (e === i) throw badVia(s, 'transport');
  const transport = e - i === 3 && s.startsWith('UDP', i) ? 'UDP' : s.slice(i, e).toUpperCase();
  i = skipWs(s, e);
  if (i === e) throw badVia(s, 'expected LWS before sent-by');
  const hl = hostLength(s, i);
  if (hl === 0) throw badVia(s, 'host');
  const host = s.slice(i, i + hl);
  i = skipWs(s, i + hl);
  let port: number | undefined;
  if (i < s.length && s.charCodeAt(i) === 0x3a) {
    i = skipWs(s, i + 1);
    const ps = i;
    while (i < s.length && s.charCodeAt(i) >= 0x30 && s.charCodeAt(i) <= 0x39) i++;
    if (i === ps || i - ps > 5) throw badVia(s, 'port');
    port = Number(s.slice(ps, i));
    if (port > 65535) throw badVia(s, 'port');
  }
  let params: Map<string, string | null>;
  try {
    params = parseParamsAt(s, i, true);
  } catch {
    throw badVia(s, 'parameters');
  }
  const via: Via = { protocol, transport, host, params };
  if (port !== undefined) via.port = port;
  if (params.has('branch')) {
    const b = params.get('branch');
    if (b === null || b === undefined) throw badVia(s, 'branch without value');
    via.branch = b;
  }
  return via;
}

export function formatVia(v: Via): string {
  let out = `${v.protocol}/${v.transport} ${v.host}`;
  if (v.port !== undefined) out += `:${v.port}`;
  const params = new Map(v.params);
  if (v.branch !== undefined) {
    if (params.has('branch')) params.set('branch', v.branch);
    else out += `;branch=${v.branch}`;
  }
  return out + formatParams(params);
}

function badNameAddr(v: string, why: string) {
  return badRequest(SipErrorCode.BAD_NAME_ADDR, `bad name-addr (${why}): ${v.slice(0, 100)}`, 'Bad Address');
}

function unquote(q: string): string {
  // q includes the surrounding quotes; quoted-pair → the escaped char (RFC 3261 §25.1)
  let out = '';
  for (let i = 1; i < q.length - 1; i++) {
    if (q.charCodeAt(i) === 0x5c) i++;
    out += q[i];
  }
  return out;
}

function parseUriOr(s: string, whole: string): SipUri {
  try {
    return parseUri(s);
  } catch {
    throw badNameAddr(whole, 'URI');
  }
}

/**
 * ( name-addr / addr-spec ) *( SEMI generic-param ) — From, To, Contact, Route,
 * Record-Route (RFC 3261 §20.10, §20.20, §20.39). For an addr-spec without <>, the
 * parameters after it belong to the header, not the URI (§20), which is why a URI
 * holding ',', '?' or ';' MUST be in <> — an addr-spec with '?' is rejected
 * (RFC 4475 §3.1.2.13, regbadct).
 */
export function parseNameAddr(value: string): NameAddr {
  // The same From/To/Contact/Route text comes back in every message of a dialog (and a
  // farm's own Record-Route in every call): parse each text once. Results are shared, so
  // callers treat them as read-only.
  // A text with a tag is one dialog's From/To: kept out of the cache, where it would only
  // outlive its use (and cost the garbage collector) while pushing out the shared texts.
  const hit = nameAddrCache.get(value);
  if (hit !== undefined) return hit;
  const na = parseNameAddrText(value);
  if (na.tag !== undefined) return na;
  if (nameAddrCache.size >= PARSE_CACHE_MAX) nameAddrCache.clear();
  nameAddrCache.set(value, na);
  return na;
}

/** Bound of the parse cache (texts come from the wire); full → cleared. */
const PARSE_CACHE_MAX = 256;
const nameAddrCache = new Map<string, NameAddr>();

function parseNameAddrText(value: string): NameAddr {
  const s = value;
  let i = skipWs(s, 0);
  let display: string | undefined;
  let uriText: string;
  let hasAngle = false;
  if (i < s.length && s.charCodeAt(i) === 0x22) {
    const end = skipQuoted(s, i);
    if (end < 0) throw badNameAddr(s, 'unterminated quoted display name');
    display = unquote(s.slice(i, end));
    i = skipWs(s, end);
    if (i >= s.length || s.charCodeAt(i) !== 0x3c) throw badNameAddr(s, "expected '<' after display name");
    hasAngle = true;
  } else {
    // A run of tokens and whitespace ending at '<' is a display name; anything else
    // (':' of a scheme, '"' in a param value...) means an addr-spec.
    let lt = i;
    while (lt < s.length && (isTokenChar(s.charCodeAt(lt)) || isWs(s.charCodeAt(lt)))) lt++;
    if (lt < s.length && s.charCodeAt(lt) === 0x3c) {
      // display-name = *(token LWS): only tokens separated by whitespace (RFC 4475 §3.1.2.15)
      const words = s.slice(i, lt).trim();
      if (words.length > 0) {
        // One word (the usual case) needs no split.
        if (words.indexOf(' ') < 0 && words.indexOf('\t') < 0) {
          if (!isToken(words)) throw badNameAddr(s, 'display name is not a token list');
        } else {
          for (const w of words.split(/[ \t]+/)) if (!isToken(w)) throw badNameAddr(s, 'display name is not a token list');
        }
        display = words;
      }
      i = lt;
      hasAngle = true;
    }
  }
  if (hasAngle) {
    const gt = s.indexOf('>', i + 1);
    if (gt < 0) throw badNameAddr(s, "missing '>'");
    uriText = s.slice(i + 1, gt);
    if (uriText.length > 0 && (isWs(uriText.charCodeAt(0)) || isWs(uriText.charCodeAt(uriText.length - 1)))) {
      throw badNameAddr(s, 'whitespace inside <>');
    }
    i = gt + 1;
  } else {
    let e = i;
    while (e < s.length && s.charCodeAt(e) !== 0x3b && !isWs(s.charCodeAt(e))) e++;
    uriText = s.slice(i, e);
    if (uriText.indexOf('?') >= 0 || uriText.indexOf(',') >= 0) throw badNameAddr(s, "addr-spec with '?' or ',' must be in <>");
    i = e;
  }
  const uri = parseUriOr(uriText, s);
  let params: Map<string, string | null>;
  try {
    params = parseParamsAt(s, i, true);
  } catch {
    throw badNameAddr(s, 'parameters');
  }
  const na: NameAddr = { uri, params };
  if (display !== undefined) na.display = display;
  const tag = params.get('tag');
  if (tag !== undefined && tag !== null) na.tag = tag;
  return na;
}

export function formatNameAddr(n: NameAddr): string {
  let out = '';
  if (n.display !== undefined && n.display.length > 0) out += `"${n.display.replace(/(["\\])/g, '\\$1')}" `;
  out += `<${formatUri(n.uri)}>`;
  const params = new Map(n.params);
  if (n.tag !== undefined) params.set('tag', n.tag);
  return out + formatParams(params);
}

/** RFC 3261 §8.1.1.5: the sequence number is a 32-bit unsigned integer < 2**31. */
export const MAX_CSEQ = 0x7fffffff;

/** CSeq = 1*DIGIT LWS Method (RFC 3261 §20.16). Throws ERR_SIP_BAD_CSEQ. */
export function parseCSeq(value: string): { seq: number; method: string } {
  const s = value;
  let i = skipWs(s, 0);
  const ds = i;
  while (i < s.length && s.charCodeAt(i) >= 0x30 && s.charCodeAt(i) <= 0x39) i++;
  if (i === ds) throw badCSeq(s, 'number');
  const we = skipWs(s, i);
  if (we === i) throw badCSeq(s, 'expected LWS');
  // strip leading zeros before the length check: '0009' is 9 (RFC 4475 §3.1.1.1)
  let z = ds;
  while (z < i - 1 && s.charCodeAt(z) === 0x30) z++;
  const seq = Number(s.slice(z, i));
  if (i - z > 10 || seq > MAX_CSEQ) throw badCSeq(s, 'number out of range');
  const me = readToken(s, we);
  if (me === we) throw badCSeq(s, 'method');
  if (skipWs(s, me) !== s.length) throw badCSeq(s, 'trailing characters');
  return { seq, method: s.slice(we, me) };
}

function badCSeq(s: string, why: string) {
  return badRequest(SipErrorCode.BAD_CSEQ, `bad CSeq (${why}): ${s.slice(0, 100)}`, 'Bad CSeq');
}
