// Transaction matching keys. One string per transaction so each lookup is a Map.get.
// RFC 3261 §17.1.3 (client), §17.2.3 (server, with the RFC 2543 fallback), §9.2 (CANCEL).
// The functions read the parsed message and may throw the message model's errors on a
// request that lacks Call-ID/CSeq/From/To; the layer catches and counts those.

import type { Via } from '../headers.js';
import type { SipMessage } from '../message.js';

/** RFC 3261 §8.1.1.7: a branch starting with this was minted by an RFC 3261 element. */
export const MAGIC_COOKIE = 'z9hG4bK';

// A separator that cannot occur in any SIP token, URI or header value we key on.
const SEP = '\u0000';

export function hasMagicCookie(branch: string | undefined): branch is string {
  return branch !== undefined && branch.startsWith(MAGIC_COOKIE) && branch.length > MAGIC_COOKIE.length;
}

/** host:port of the Via sent-by, host lowercased, port defaulted per transport (§18.1, §19.1.2). */
export function sentBy(via: Via): string {
  const port = via.port ?? (via.transport.toUpperCase() === 'TLS' ? 5061 : 5060);
  return `${via.host.toLowerCase()}:${port}`;
}

/**
 * Key of the server transaction a request belongs to.
 * §17.2.3: with the magic cookie — branch, sent-by and method, where ACK takes the INVITE's
 * method (it matches the INVITE transaction) and CANCEL keeps its own (it is its own
 * transaction). `asMethod` overrides the method (CANCEL → INVITE for §9.2).
 * Without the cookie (RFC 2543 peer) — Request-URI, To tag, From tag, Call-ID, CSeq
 * (number and method) and the whole top Via. ACK is not keyed here in that case:
 * its To tag differs from the INVITE's; see server2543AckKey.
 * Returns undefined when the request has no top Via (nothing to match on or respond to).
 */
export function serverKey(req: SipMessage, asMethod?: string): string | undefined {
  const via = req.topVia();
  if (via === undefined) return undefined;
  let method = asMethod ?? req.method;
  if (method === 'ACK') method = 'INVITE';
  if (hasMagicCookie(via.branch)) {
    return `3261${SEP}${via.branch}${SEP}${sentBy(via)}${SEP}${method}`;
  }
  const cseq = req.cseq();
  return [
    '2543',
    req.uri,
    req.to().tag ?? '',
    req.from().tag ?? '',
    req.callId(),
    String(cseq.seq),
    method,
    viaIdentity(via),
  ].join(SEP);
}

/**
 * RFC 2543 ACK matching (§17.2.3): Request-URI, From tag, Call-ID, CSeq number and top Via
 * match the INVITE's, and the To tag equals the To tag of the response the server
 * transaction sent. This key covers everything but the To tag, which the layer compares
 * against the transaction's last response. Same key for the INVITE and its ACK.
 */
export function server2543AckKey(req: SipMessage): string | undefined {
  const via = req.topVia();
  if (via === undefined || hasMagicCookie(via.branch)) return undefined;
  return ['2543ack', req.uri, req.from().tag ?? '', req.callId(), String(req.cseq().seq), viaIdentity(via)].join(SEP);
}

/**
 * A copy of s that refers to no other string. V8 keeps a header value as a slice of the
 * whole message text and a concatenation as a tree of its parts, so a key or Call-ID
 * stored on a transaction would keep the request's full text alive for the
 * transaction's life (up to 64·T1 after the request itself was dropped). Slicing a
 * concatenation makes V8 flatten it into a fresh string; the slice then refers to that
 * copy only. (Strings shorter than 13 chars are always copied by V8.)
 */
export function detachString(s: string): string {
  return s.length < 13 ? s : (s + ' ').slice(0, -1);
}

/** §17.1.3: a response matches the client transaction with the same top-Via branch and CSeq method. */
export function clientKey(branch: string, method: string): string {
  return `${branch}${SEP}${method}`;
}

/** Client key of a response, or undefined without a top-Via branch. */
export function responseClientKey(res: SipMessage): string | undefined {
  const branch = res.topVia()?.branch;
  if (branch === undefined || branch === '') return undefined;
  return clientKey(branch, res.cseq().method);
}

// A stable rendering of the whole Via for 2543 equality: retransmissions carry the same
// Via, but its spelling (case of host, spacing) need not be byte-identical.
function viaIdentity(via: Via): string {
  let s = `${via.protocol.toUpperCase()}/${via.transport.toUpperCase()} ${sentBy(via)}`;
  for (const [k, v] of via.params) s += v === null ? `;${k.toLowerCase()}` : `;${k.toLowerCase()}=${v}`;
  return s;
}
