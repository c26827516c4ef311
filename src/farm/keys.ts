/**
 * Ring keys: which bytes of a request decide its owner.
 *
 * Every request of a Call-ID hashes alike (so CANCEL and non-2xx ACK, which carry the
 * client's branch and not ours, reach the INVITE's owner with no broadcast); REGISTER
 * hashes its To address-of-record instead, so the registration lands on the AoR's home
 * member and the location data needs no extra hop.
 *
 * The AoR key is `user@host` with the host lowercased (RFC 3261 §10.3 step 5 compares
 * scheme, user and host; the host is case-insensitive, the user is not). Escapes in the
 * user part are not normalised: a UA that registers `%61lice` and one that calls `alice`
 * reach different homes, as they would reach different bindings in most registrars.
 */
import { fmix32, fnv1a32, fnv1a32Lower, keyHash } from './hash.js';

const AT = new Uint8Array([0x40]);

/** Hash of a Call-ID value (its bytes as received). */
export function callIdHash(buf: Uint8Array, start: number, end: number): number {
  return keyHash(buf, start, end);
}

/** Hash of an AoR given as the byte ranges of its user and host parts. */
export function aorHashBytes(buf: Uint8Array, userStart: number, userEnd: number, hostStart: number, hostEnd: number): number {
  let h = fnv1a32(buf, userStart, userEnd);
  h = fnv1a32(AT, 0, 1, h);
  h = fnv1a32Lower(buf, hostStart, hostEnd, h);
  return fmix32(h);
}

/** String twin of aorHashBytes, for the slow path (registrar, location queries). */
export function aorHash(user: string, host: string): number {
  const b = Buffer.from(`${user}@${host}`, 'utf8');
  const at = Buffer.byteLength(user, 'utf8');
  return aorHashBytes(b, 0, at, at + 1, b.length);
}

/** String twin of callIdHash. */
export function callIdHashString(callId: string): number {
  const b = Buffer.from(callId, 'utf8');
  return keyHash(b, 0, b.length);
}

/**
 * Finds user and host of a SIP URI held in buf[start, end) without allocating;
 * returns false when it is not a sip:/sips: URI with a host. Writes into out[0..3].
 */
export function uriUserHost(buf: Uint8Array, start: number, end: number, out: Int32Array): boolean {
  let i = start;
  while (i < end && buf[i] !== 0x3a /* : */) i++;
  if (i >= end) return false;
  const schemeEnd = i;
  // sip: (3) or sips: (4), case-insensitive
  const len = schemeEnd - start;
  if (len !== 3 && len !== 4) return false;
  if ((buf[start] | 0x20) !== 0x73 || (buf[start + 1] | 0x20) !== 0x69 || (buf[start + 2] | 0x20) !== 0x70) return false;
  if (len === 4 && (buf[start + 3] | 0x20) !== 0x73) return false;
  const after = schemeEnd + 1;
  let at = -1;
  for (let j = after; j < end; j++) {
    const c = buf[j];
    if (c === 0x40) { at = j; break; }
    if (c === 0x3e /* > */) break;
  }
  let hostStart: number;
  if (at >= 0) {
    // userinfo may carry ":password" — the user part stops at the first ':'.
    let ue = after;
    while (ue < at && buf[ue] !== 0x3a) ue++;
    out[0] = after; out[1] = ue;
    hostStart = at + 1;
  } else {
    out[0] = after; out[1] = after;
    hostStart = after;
  }
  let he = hostStart;
  if (he < end && buf[he] === 0x5b /* [ */) {
    while (he < end && buf[he] !== 0x5d) he++;
    if (he < end) he++;
  } else {
    while (he < end) {
      const c = buf[he];
      if (c === 0x3a || c === 0x3b || c === 0x3e || c === 0x3f || c === 0x20 || c === 0x2c) break;
      he++;
    }
  }
  if (he === hostStart) return false;
  out[2] = hostStart; out[3] = he;
  return true;
}
