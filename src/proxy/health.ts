/**
 * OPTIONS responder (RFC 3261 §11.2) for LB health probes and keep-alive pings.
 *
 * The classifier keeps probes on the member that received them (DESIGN rule 5), so the
 * LB sees the answer come from the member it probed: 200 while the member takes new
 * calls, 503 with Retry-After while it drains, so the LB stops sending it new flows.
 */
import { createResponse, type SipMessage } from '../sip/message.js';

export const ALLOW = 'INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, PRACK, UPDATE, INFO, SUBSCRIBE, NOTIFY, REFER, MESSAGE';

export function optionsResponse(req: SipMessage, draining: boolean, toTag: string): SipMessage {
  if (draining) {
    const res = createResponse(req, 503, 'Service Unavailable - Draining', toTag);
    res.set('retry-after', '30');
    return res;
  }
  const res = createResponse(req, 200, 'OK', toTag);
  res.set('allow', ALLOW);
  res.set('accept', 'application/sdp');
  res.set('supported', 'path');
  return res;
}
