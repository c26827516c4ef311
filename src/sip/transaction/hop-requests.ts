// Requests built from an earlier request of the same hop: the ACK an INVITE client
// transaction sends for a non-2xx final (§17.1.1.3) and the CANCEL a TU sends for a
// pending request (§9.1). Both travel exactly where the original went, so they copy its
// Request-URI, its top Via (same branch) and its Route set.

import { SipMessage } from '../message.js';

/**
 * RFC 3261 §17.1.1.3: the ACK for a 300-699 response to `invite`. Request-URI, Call-ID,
 * From and CSeq number equal the INVITE's; To is the response's (it carries the tag);
 * one Via, the INVITE's top Via; the INVITE's Route headers; CSeq method ACK.
 */
export function buildNon2xxAck(invite: SipMessage, response: SipMessage): SipMessage {
  return hopRequest('ACK', invite, required(response, 'to'));
}

/**
 * RFC 3261 §9.1: a CANCEL for `request`. Request-URI, Call-ID, To, From and CSeq number
 * equal the request's (tags included); one Via, the request's top Via (same branch, so
 * the next hop matches it per §9.2); the request's Route headers; CSeq method CANCEL.
 * No Require/Proxy-Require (§9.1). Send it as its own non-INVITE client transaction —
 * and only after a provisional response arrived (§9.1).
 */
export function buildCancel(request: SipMessage): SipMessage {
  return hopRequest('CANCEL', request, required(request, 'to'));
}

function hopRequest(method: string, orig: SipMessage, to: string): SipMessage {
  const headers: [string, string][] = [];
  const via = orig.getAll('via')[0];
  if (via === undefined) throw new TypeError(`cannot build ${method}: request has no Via`);
  headers.push(['via', via]);
  // The original's Max-Forwards: the new request makes the same single hop.
  headers.push(['max-forwards', orig.get('max-forwards') ?? '70']);
  for (const route of orig.getAll('route')) headers.push(['route', route]);
  headers.push(['from', required(orig, 'from')]);
  headers.push(['to', to]);
  headers.push(['call-id', required(orig, 'call-id')]);
  headers.push(['cseq', `${orig.cseq().seq} ${method}`]);
  return SipMessage.request(method, orig.uri, headers);
}

function required(msg: SipMessage, name: string): string {
  const v = msg.get(name);
  if (v === undefined) throw new TypeError(`cannot build hop request: missing ${name}`);
  return v;
}
