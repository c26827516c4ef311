/**
 * SIP, SIPS and tel URIs (RFC 3261 §19.1, §25.1; RFC 3966) and the generic parameter
 * list shared by URIs and header fields.
 *
 * Slow path only: these functions build strings and throw `SipParseError`.
 * Values are kept as they appear on the wire (escapes included) so that a parsed URI
 * formats back to an equivalent string; only parameter NAMES are normalised
 * (escapes of unreserved characters decoded, lowercased) so `params.get('lr')` works
 * whatever the sender's spelling (RFC 3261 §19.1.4: comparison is case-insensitive
 * for parameter names and unescapes before comparing).
 */
import { SipErrorCode, type SipParseError, badRequest } from './errors.js';

export interface SipUri {
  /** lowercased: 'sip', 'sips', 'tel', or any other absoluteURI scheme */
  scheme: string;
  /** sip/sips: user part as on the wire (escapes kept); tel: the number */
  user?: string;
  password?: string;
  /** '' for tel: and for opaque URIs of other schemes; IPv6 kept in brackets */
  host: string;
  port?: number;
  /** keys lowercased; value null for a flag parameter (`;lr`) */
  params: Map<string, string | null>;
  /** the part after '?' (sip/sips only), as on the wire, without the '?' */
  headers?: string;
  /** for schemes other than sip/sips/tel: everything after 'scheme:' (RFC 3261 absoluteURI) */
  opaque?: string;
}

// --- character classes (RFC 3261 §25.1) -------------------------------------------------
// One table, one bit per class, so hot loops test a byte with a single lookup.
const ALNUM = 1, TOKEN = 2, UNRESERVED = 4, USER = 8, PASSWORD = 16, PARAM = 32, HNV = 64, HOST = 128;

/** Bit-flag table over bytes 0..255; exported for the scanner and the header parsers. */
export const CHAR_CLASS = new Uint8Array(256);
(() => {
  const add = (chars: string, bit: number): void => {
    for (let i = 0; i < chars.length; i++) CHAR_CLASS[chars.charCodeAt(i)] |= bit;
  };
  const alnum = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const mark = "-_.!~*'()";
  add(alnum, ALNUM | TOKEN | UNRESERVED | USER | PASSWORD | PARAM | HNV | HOST);
  add("-.!%*_+`'~", TOKEN); // token
  add(mark, UNRESERVED | USER | PASSWORD | PARAM | HNV);
  add('&=+$,;?/', USER); // user-unreserved
  add('&=+$,', PASSWORD);
  add('[]/:&+$', PARAM); // param-unreserved
  add('[]/?:+$', HNV); // hnv-unreserved
  add('-.', HOST);
})();
export const CharClass = { ALNUM, TOKEN, UNRESERVED, USER, PASSWORD, PARAM, HNV, HOST } as const;

export function isTokenChar(c: number): boolean {
  return c < 256 && (CHAR_CLASS[c] & TOKEN) !== 0;
}
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!isTokenChar(s.charCodeAt(i))) return false;
  return true;
}
function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}
export function isWs(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** Every char of s is in `cls` or is a valid %HH escape. */
function checkChars(s: string, cls: number): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      if (i + 2 >= s.length) return false;
      if (!isHex(s.charCodeAt(i + 1)) || !isHex(s.charCodeAt(i + 2))) return false;
      i += 2;
      continue;
    }
    if (c > 255 || (CHAR_CLASS[c] & cls) === 0) return false;
  }
  return true;
}

/**
 * Decode %HH escapes whose character is alnum or a mark (they never need escaping), and
 * upper-case the hex of the others — the canonical spelling for comparisons
 * (RFC 3261 §19.1.4: "%61lice" equals "alice").
 */
export function normalizeEscapes(s: string): string {
  if (s.indexOf('%') < 0) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch === '%' && i + 2 < s.length && isHex(s.charCodeAt(i + 1)) && isHex(s.charCodeAt(i + 2))) {
      const code = parseInt(s.slice(i + 1, i + 3), 16);
      if ((CHAR_CLASS[code] & UNRESERVED) !== 0) out += String.fromCharCode(code);
      else out += '%' + s.slice(i + 1, i + 3).toUpperCase();
      i += 2;
    } else {
      out += ch;
    }
  }
  return out;
}

function badUri(s: string, why: string): SipParseError {
  return badRequest(SipErrorCode.BAD_URI, `bad URI (${why}): ${s.slice(0, 100)}`, 'Bad URI');
}

// --- generic parameters ----------------------------------------------------------------

/**
 * Parameter characters. Header params (RFC 3261 §25.1 generic-param): name = token,
 * value = token / host / quoted-string. URI params (§19.1.1 uri-parameter): paramchar =
 * param-unreserved / unreserved / escaped. The fast-path scanner uses the header set.
 */
function isParamNameChar(c: number, uri: boolean): boolean {
  if (c >= 256) return false;
  return uri ? (CHAR_CLASS[c] & PARAM) !== 0 || c === 0x25 : (CHAR_CLASS[c] & TOKEN) !== 0;
}
function isParamValueChar(c: number, uri: boolean): boolean {
  if (c >= 256) return false;
  if (uri) return (CHAR_CLASS[c] & PARAM) !== 0 || c === 0x25;
  return (CHAR_CLASS[c] & TOKEN) !== 0 || c === 0x3a || c === 0x5b || c === 0x5d; // token / host (IPv6)
}

/**
 * Reads a quoted-string starting at s[i] === '"' (RFC 3261 §25.1, quoted-pair allowed).
 * Returns the index just past the closing quote, or -1 if unterminated.
 */
export function skipQuoted(s: string, i: number): number {
  for (let j = i + 1; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c === 0x5c) { // backslash: quoted-pair, must escape something other than CR/LF
      j++;
      if (j >= s.length) return -1;
      const e = s.charCodeAt(j);
      if (e === 0x0a || e === 0x0d) return -1;
    } else if (c === 0x22) {
      return j + 1;
    } else if (c === 0x0a || c === 0x0d) {
      return -1;
    }
  }
  return -1;
}

function skipWsAt(s: string, i: number): number {
  while (i < s.length && isWs(s.charCodeAt(i))) i++;
  return i;
}

/**
 * Parses `*(SEMI param)` from s[start..]. `needSemi`: the first param must be preceded
 * by ';' (true for the tail after a URI/host); false lets a bare `a=b;c` through.
 * SWS is allowed around ';' and '=' (RFC 3261 §25.1 SEMI, EQUAL); URIs never contain
 * whitespace, so that leniency cannot reach them. Quoted values keep their quotes.
 */
export function parseParamsAt(s: string, start: number, needSemi: boolean, uri = false): Map<string, string | null> {
  const m = new Map<string, string | null>();
  let i = skipWsAt(s, start);
  if (i >= s.length) return m;
  if (s.charCodeAt(i) === 0x3b) i++;
  else if (needSemi) throw badRequest(SipErrorCode.BAD_PARAMS, `expected ';' in: ${s.slice(0, 100)}`, 'Bad Parameters');
  for (;;) {
    i = skipWsAt(s, i);
    const ns = i;
    // plain: no '%' and no upper-case letter, so the name is already normalised
    let plain = true;
    while (i < s.length) {
      const c = s.charCodeAt(i);
      if (!isParamNameChar(c, uri)) break;
      if (c === 0x25 || (c >= 0x41 && c <= 0x5a)) plain = false;
      i++;
    }
    if (i === ns) throw badRequest(SipErrorCode.BAD_PARAMS, `empty parameter in: ${s.slice(0, 100)}`, 'Bad Parameters');
    const name = plain ? paramName(s, ns, i) : normalizeEscapes(s.slice(ns, i)).toLowerCase();
    i = skipWsAt(s, i);
    let value: string | null = null;
    if (i < s.length && s.charCodeAt(i) === 0x3d) {
      i = skipWsAt(s, i + 1);
      const vs = i;
      if (!uri && i < s.length && s.charCodeAt(i) === 0x22) {
        i = skipQuoted(s, i);
        if (i < 0) throw badRequest(SipErrorCode.BAD_PARAMS, `unterminated quoted parameter value in: ${s.slice(0, 100)}`, 'Bad Parameters');
      } else {
        while (i < s.length && isParamValueChar(s.charCodeAt(i), uri)) i++;
      }
      if (i === vs) throw badRequest(SipErrorCode.BAD_PARAMS, `empty parameter value in: ${s.slice(0, 100)}`, 'Bad Parameters');
      value = s.slice(vs, i);
      i = skipWsAt(s, i);
    }
    // RFC 3261 §19.1.1: a parameter name MUST NOT appear more than once (set() did not
    // grow the map: the name was there; the map is dropped with the error).
    const size = m.size;
    m.set(name, value);
    if (m.size === size) throw badRequest(SipErrorCode.BAD_PARAMS, `duplicate parameter '${name}'`, 'Bad Parameters');
    if (i >= s.length) return m;
    if (s.charCodeAt(i) !== 0x3b) throw badRequest(SipErrorCode.BAD_PARAMS, `unexpected '${s[i]}' in parameters: ${s.slice(0, 100)}`, 'Bad Parameters');
    i++;
  }
}

/** Parameter names the slow path meets in nearly every message, as literals. */
const COMMON_PARAMS = ['branch', 'tag', 'lr', 'rport', 'received', 'sf', 'transport', 'maddr', 'ttl', 'user', 'method', 'expires', 'q'];

/**
 * s[ns, ne), a normalised parameter name: the literal when it is a common one (no new
 * string, and its hash is already known to the Map it goes into), else a slice.
 */
function paramName(s: string, ns: number, ne: number): string {
  const n = ne - ns;
  for (let k = 0; k < COMMON_PARAMS.length; k++) {
    const p = COMMON_PARAMS[k];
    if (p.length === n && s.startsWith(p, ns)) return p;
  }
  return s.slice(ns, ne);
}

/**
 * Header parameters: `;a=b;c` or `a=b;c` → Map (names lowercased, flags → null).
 * Throws on `;;` or bad syntax.
 */
export function parseParams(s: string): Map<string, string | null> {
  return parseParamsAt(s, 0, false);
}

export function formatParams(params: Map<string, string | null>): string {
  let out = '';
  for (const [k, v] of params) out += v === null ? `;${k}` : `;${k}=${v}`;
  return out;
}

// --- hosts -------------------------------------------------------------------------------

/** Length of a host (hostname / IPv4 / [IPv6]) starting at s[i], 0 if none. */
export function hostLength(s: string, i: number): number {
  if (i < s.length && s.charCodeAt(i) === 0x5b) { // '[' IPv6reference
    let j = i + 1;
    while (j < s.length) {
      const c = s.charCodeAt(j);
      if (c === 0x5d) break;
      if (!(isHex(c) || c === 0x3a || c === 0x2e)) return 0;
      j++;
    }
    if (j >= s.length || j === i + 1) return 0;
    return j + 1 - i;
  }
  let j = i;
  while (j < s.length) {
    const c = s.charCodeAt(j);
    if (c > 255 || (CHAR_CLASS[c] & HOST) === 0) break;
    j++;
  }
  return j - i;
}

// --- URIs --------------------------------------------------------------------------------

function parseScheme(s: string): number {
  // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
  const c0 = s.charCodeAt(0);
  if (!((c0 >= 0x41 && c0 <= 0x5a) || (c0 >= 0x61 && c0 <= 0x7a))) return -1;
  for (let i = 1; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x3a) return i;
    if ((c < 256 && (CHAR_CLASS[c] & ALNUM) !== 0) || c === 0x2b || c === 0x2d || c === 0x2e) continue;
    return -1;
  }
  return -1;
}

function parsePort(s: string, uri: string): number {
  if (s.length === 0 || s.length > 5 || !/^[0-9]+$/.test(s)) throw badUri(uri, 'port');
  const p = Number(s);
  if (p > 65535) throw badUri(uri, 'port');
  return p;
}

/**
 * Parses a URI: sip:/sips: fully (RFC 3261 §19.1.1), tel: (RFC 3966: number and params),
 * any other scheme as an opaque absoluteURI (RFC 3261 §25.1 — the proxy, not the
 * parser, decides whether it supports it: RFC 4475 §3.3.2-3.3.4).
 * Throws SipParseError ERR_SIP_BAD_URI.
 */
export function parseUri(s: string): SipUri {
  // Request-URIs, Contacts and Routes repeat across the messages of a dialog: parse each
  // text once. Results are shared, so callers treat them as read-only.
  const hit = uriCache.get(s);
  if (hit !== undefined) return hit;
  const u = parseUriText(s);
  if (uriCache.size >= URI_CACHE_MAX) uriCache.clear();
  uriCache.set(s, u);
  return u;
}

/** Bound of the URI cache (texts come from the wire); full → cleared. */
const URI_CACHE_MAX = 256;
const uriCache = new Map<string, SipUri>();

function parseUriText(s: string): SipUri {
  if (s.length === 0) throw badUri(s, 'empty');
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // No LWS, controls, or delimiters that can only mean a malformed URI (RFC 4475 §3.1.2.7/8/14).
    if (c <= 0x20 || c === 0x7f || c === 0x3c || c === 0x3e || c === 0x22 || c > 0x7e) throw badUri(s, 'illegal character');
  }
  const colon = parseScheme(s);
  if (colon < 0) throw badUri(s, 'scheme');
  const scheme = s.slice(0, colon).toLowerCase();
  const rest = s.slice(colon + 1);
  if (scheme === 'sip' || scheme === 'sips') return parseSipUri(s, scheme, rest);
  if (scheme === 'tel') {
    const semi = rest.indexOf(';');
    const number = semi < 0 ? rest : rest.slice(0, semi);
    // RFC 3966: digits, visual separators, '+', '*'... — unreserved plus the few reserved ones
    if (number.length === 0 || !checkChars(number, UNRESERVED | PASSWORD)) throw badUri(s, 'tel number');
    const params = semi < 0 ? new Map<string, string | null>() : uriParams(rest.slice(semi), s);
    return { scheme, user: number, host: '', params };
  }
  // absoluteURI = scheme ":" ( hier-part / opaque-part ); uric = reserved / unreserved / escaped
  if (rest.length === 0 || !checkChars(rest.replace(/@/g, ''), UNRESERVED | USER | PARAM | HNV)) throw badUri(s, 'opaque part');
  return { scheme, host: '', params: new Map(), opaque: rest };
}

function uriParams(part: string, whole: string): Map<string, string | null> {
  try {
    return parseParamsAt(part, 0, true, true);
  } catch {
    throw badUri(whole, 'parameters');
  }
}

function parseSipUri(s: string, scheme: string, rest: string): SipUri {
  // '@' cannot appear raw anywhere but as the userinfo delimiter (not in user, password,
  // params or headers), so the first '@' ends the userinfo even though the user part
  // may contain ';' and '?' (RFC 3261 §25.1 user-unreserved; RFC 4475 §3.1.1.9).
  const uri: SipUri = { scheme, host: '', params: new Map() };
  let hp = rest;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    hp = rest.slice(at + 1);
    const pc = userinfo.indexOf(':');
    const user = pc < 0 ? userinfo : userinfo.slice(0, pc);
    if (user.length === 0 || !checkChars(user, USER)) throw badUri(s, 'user');
    uri.user = user;
    if (pc >= 0) {
      const password = userinfo.slice(pc + 1);
      if (!checkChars(password, PASSWORD)) throw badUri(s, 'password');
      uri.password = password;
    }
  }
  const hl = hostLength(hp, 0);
  if (hl === 0) throw badUri(s, 'host');
  uri.host = hp.slice(0, hl);
  let i = hl;
  if (i < hp.length && hp.charCodeAt(i) === 0x3a) {
    let j = i + 1;
    while (j < hp.length && hp.charCodeAt(j) >= 0x30 && hp.charCodeAt(j) <= 0x39) j++;
    uri.port = parsePort(hp.slice(i + 1, j), s);
    i = j;
  }
  const q = hp.indexOf('?', i);
  const paramPart = q < 0 ? hp.slice(i) : hp.slice(i, q);
  if (paramPart.length > 0) {
    if (paramPart.charCodeAt(0) !== 0x3b) throw badUri(s, 'after host');
    if (!checkChars(paramPart.replace(/[;=]/g, ''), PARAM)) throw badUri(s, 'parameter');
    uri.params = uriParams(paramPart, s);
  }
  if (q >= 0) {
    const headers = hp.slice(q + 1);
    // headers = hname "=" hvalue *( "&" hname "=" hvalue )
    for (const h of headers.split('&')) {
      const eq = h.indexOf('=');
      if (eq <= 0 || !checkChars(h.slice(0, eq), HNV) || !checkChars(h.slice(eq + 1), HNV)) throw badUri(s, 'headers');
    }
    uri.headers = headers;
  }
  return uri;
}

export function formatUri(u: SipUri): string {
  if (u.opaque !== undefined) return `${u.scheme}:${u.opaque}`;
  let out = `${u.scheme}:`;
  if (u.host === '') return out + (u.user ?? '') + formatParams(u.params);
  if (u.user !== undefined) out += u.password !== undefined ? `${u.user}:${u.password}@` : `${u.user}@`;
  out += u.host;
  if (u.port !== undefined) out += `:${u.port}`;
  out += formatParams(u.params);
  if (u.headers !== undefined) out += `?${u.headers}`;
  return out;
}

/**
 * The address-of-record key: scheme, user and host, host lowercased, escapes normalised,
 * no port/params/headers (RFC 3261 §10.3 step 5, §19.1.4).
 */
export function aorOf(u: SipUri): string {
  if (u.opaque !== undefined) return `${u.scheme}:${u.opaque}`;
  const user = u.user === undefined ? '' : normalizeEscapes(u.user);
  if (u.host === '') return `${u.scheme}:${user}`;
  return u.user === undefined ? `${u.scheme}:${u.host.toLowerCase()}` : `${u.scheme}:${user}@${u.host.toLowerCase()}`;
}
