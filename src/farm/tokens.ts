// Ownership carried in the packet: the member that holds a transaction or a dialog
// writes its id into the values the far end must echo back, so any member can route
// the echo to it without a table lookup (DESIGN "Classification", rules 3 and 4).
//
// - Via branch (echoed in responses, RFC 3261 §8.2.6.2 / §18.2.2 copy Via unchanged):
//     z9hG4bK-sf<member>-<random>
//   "z9hG4bK" is the RFC 3261 §8.1.1.7 magic cookie; <member> is 0..254 in decimal
//   without leading zeros; <random> is ≥ 12 chars of [a-z0-9] from the CSPRNG so the
//   branch stays globally unique (§8.1.1.7, §17.2.3 matching relies on it).
// - Route token: the farm's Record-Route URI carries the URI parameter `sf=<member>`
//   (e.g. <sip:203.0.113.100:5060;lr;sf=2>); the UA copies it into Route of every
//   in-dialog request (RFC 3261 §12.1.2, §16.12), or it is the Request-URI when the
//   farm put it in a Contact.
//
// branchOwner and uriTokenOwner run per packet: they read bytes between offsets, do
// not allocate, do not throw, and return -1 for anything that is not exactly ours.

import { randomToken } from '../util/random.js';
import { MAX_MEMBER_ID } from './ring.js';

/** Bytes every branch minted by the farm starts with. */
export const BRANCH_PREFIX = 'z9hG4bK-sf';
/** Characters of randomness in a minted branch (36^16 ≈ 2^82). */
export const BRANCH_RANDOM_CHARS = 16;
/** The URI parameter name of the route token (matched case-insensitively). */
export const ROUTE_TOKEN_PARAM = 'sf';

/** Errors of the token minting helpers (control plane / slow path only). */
export class TokenError extends Error {
  readonly code = 'TOKEN_BAD_MEMBER_ID';
  constructor(message: string) {
    super(message);
    this.name = 'TokenError';
  }
}

const BRANCH_PREFIX_BYTES = new TextEncoder().encode(BRANCH_PREFIX);

function checkMemberId(memberId: number): void {
  if (!Number.isInteger(memberId) || memberId < 0 || memberId > MAX_MEMBER_ID) {
    throw new TokenError(`member id ${memberId} is outside 0..${MAX_MEMBER_ID}`);
  }
}

/** A new Via branch owned by `memberId`. Slow path (allocates; throws TokenError on a bad id). */
export function mintBranch(memberId: number): string {
  checkMemberId(memberId);
  return `${BRANCH_PREFIX}${memberId}-${randomToken(BRANCH_RANDOM_CHARS)}`;
}

/**
 * Owner of a branch value held in buf[start, end), or -1 when it is not one minted by
 * this farm. The match is exact and case-sensitive: the farm minted these bytes and
 * RFC 3261 §18.2.2 / §16.7 return the Via unchanged, so any other spelling is not ours.
 * Grammar: "z9hG4bK-sf" 1*3DIGIT "-" 1*OCTET, the number ≤ 254, no leading zero.
 */
export function branchOwner(buf: Uint8Array, start: number, end: number): number {
  const plen = BRANCH_PREFIX_BYTES.length;
  // Prefix + ≥1 digit + '-' + ≥1 char.
  if (end - start < plen + 3) return -1;
  for (let i = 0; i < plen; i++) {
    if (buf[start + i] !== BRANCH_PREFIX_BYTES[i]) return -1;
  }
  let p = start + plen;
  let id = 0;
  let digits = 0;
  while (p < end) {
    const c = buf[p];
    if (c < 0x30 || c > 0x39) break;
    if (digits === 3) return -1;
    if (digits === 1 && id === 0) return -1; // leading zero: one spelling per id
    id = id * 10 + (c - 0x30);
    digits++;
    p++;
  }
  if (digits === 0 || id > MAX_MEMBER_ID) return -1;
  // '-' then at least one more byte.
  if (p >= end || buf[p] !== 0x2d || p + 1 >= end) return -1;
  return id;
}

/** The URI parameter text for a member's route token, e.g. `sf=2`. */
export function routeTokenParam(memberId: number): string {
  checkMemberId(memberId);
  return `${ROUTE_TOKEN_PARAM}=${memberId}`;
}

function isUriEnd(c: number): boolean {
  // '>' closes a name-addr; '?' starts URI headers (RFC 3261 §19.1.1); whitespace, ','
  // and CR/LF cannot occur inside a SIP URI, so they end it too.
  return c === 0x3e || c === 0x3f || c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a || c === 0x2c;
}

/**
 * Owner named by a `;sf=<member>` URI parameter of the SIP(S) URI in buf[start, end),
 * or -1. The input is the URI itself, optionally starting with '<' (the scan then stops
 * at '>'); a display name before '<' is the caller's to skip.
 *
 * Only uri-parameters count (RFC 3261 §19.1.1 / §25.1 `SIP-URI`): the user part may
 * contain ';' (`sip:alice;x=1@host`), so the scan skips to the host — after the '@',
 * which cannot appear unescaped anywhere else in a SIP URI — and past a bracketed IPv6
 * reference, then reads `;name[=value]` pairs up to '?' (headers) or the end. The
 * parameter name compares case-insensitively (§19.1.4); it must be exactly `sf`, and
 * its value exactly 1–3 digits, ≤ 254, no leading zero. The first `sf` parameter
 * decides; a malformed one yields -1.
 */
export function uriTokenOwner(buf: Uint8Array, start: number, end: number): number {
  let p = start;
  if (p < end && buf[p] === 0x3c /* < */) p++;
  // Scheme: "sip:" or "sips:", case-insensitive (RFC 3261 §19.1.4).
  if (end - p < 4) return -1;
  if ((buf[p] | 0x20) !== 0x73 || (buf[p + 1] | 0x20) !== 0x69 || (buf[p + 2] | 0x20) !== 0x70) return -1;
  p += 3;
  if ((buf[p] | 0x20) === 0x73) p++;
  if (p >= end || buf[p] !== 0x3a /* : */) return -1;
  p++;
  // Userinfo ends at the first '@' within the URI, if there is one.
  let hostStart = p;
  for (let i = p; i < end; i++) {
    const c = buf[i];
    if (c === 0x40 /* @ */) {
      hostStart = i + 1;
      break;
    }
    // '?', ',', ';' are user-unreserved (RFC 3261 §25.1): only '>' or whitespace end the URI here.
    if (c === 0x3e || c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a) break;
  }
  p = hostStart;
  // Host[:port]. An IPv6 reference is bracketed and may not contain ';' anyway, but
  // skipping to ']' keeps the scan honest about what it read.
  if (p < end && buf[p] === 0x5b /* [ */) {
    while (p < end && buf[p] !== 0x5d /* ] */) p++;
    if (p >= end) return -1;
    p++;
  }
  while (p < end && buf[p] !== 0x3b /* ; */) {
    if (isUriEnd(buf[p])) return -1;
    p++;
  }
  // uri-parameters: *( ";" pname [ "=" pvalue ] )
  while (p < end && buf[p] === 0x3b) {
    p++;
    const nameStart = p;
    while (p < end) {
      const c = buf[p];
      if (c === 0x3b || c === 0x3d /* = */ || isUriEnd(c)) break;
      p++;
    }
    const isToken = p - nameStart === 2 && (buf[nameStart] | 0x20) === 0x73 && (buf[nameStart + 1] | 0x20) === 0x66;
    if (isToken) {
      if (p >= end || buf[p] !== 0x3d) return -1;
      p++;
      let id = 0;
      let digits = 0;
      while (p < end) {
        const c = buf[p];
        if (c === 0x3b || isUriEnd(c)) break;
        if (c < 0x30 || c > 0x39 || digits === 3 || (digits === 1 && id === 0)) return -1;
        id = id * 10 + (c - 0x30);
        digits++;
        p++;
      }
      return digits === 0 || id > MAX_MEMBER_ID ? -1 : id;
    }
    // Skip this parameter's value.
    while (p < end && buf[p] !== 0x3b && !isUriEnd(buf[p])) p++;
  }
  return -1;
}

const encoder = new TextEncoder();

/** uriTokenOwner for a URI held as a string. Slow path: encodes the string (allocates). */
export function uriTokenOwnerString(uri: string): number {
  const b = encoder.encode(uri);
  return uriTokenOwner(b, 0, b.length);
}

/** branchOwner for a branch held as a string. Slow path: encodes the string (allocates). */
export function branchOwnerString(branch: string): number {
  const b = encoder.encode(branch);
  return branchOwner(b, 0, b.length);
}
