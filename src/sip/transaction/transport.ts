// What the transaction layer needs from the transport: somewhere to send bytes, and
// the rule for where a response goes.

import type { SipMessage } from '../message.js';

export interface Destination {
  address: string;
  port: number;
  /**
   * The local address the request arrived on, when it was not the VIP (a member's own
   * SIP address, where LB health probes go). Responses leave from that address: an LB
   * matches a probe's answer by its source.
   */
  local?: string;
}

/**
 * Hands one datagram to the transport. May throw: the transaction layer treats a throw
 * as a transport error (RFC 3261 §17.1.4, §17.2.4) — it terminates the transaction and
 * tells the TU.
 */
export type SendFn = (buf: Buffer, dest: Destination) => void;

const DEFAULT_SIP_PORT = 5060;
const DEFAULT_SIPS_PORT = 5061;

/**
 * Where to send responses to a request received from src, RFC 3261 §18.2.2 for unreliable
 * unicast transports, with RFC 3581 symmetric response routing:
 *  - address: the top Via's `received` if present, else the packet's source address. The
 *    source is the truth for a member behind a load balancer (the client may be behind NAT
 *    and a received param, when we did not add it ourselves, came from the sender);
 *  - port: `rport=<n>` if given; bare `rport` (RFC 3581 §4: the client asks for it) →
 *    the packet's source port; else the sent-by port, else 5060 (5061 for TLS).
 * `maddr` is deliberately not honoured: multicast responses are out of scope for the farm
 * and a spoofed maddr would turn every member into a reflector.
 * A request without a top Via yields src itself.
 */
export function responseDestination(req: SipMessage, src: Destination): Destination {
  const via = req.topVia();
  if (via === undefined) return { address: src.address, port: src.port, local: src.local };
  const received = via.params.get('received');
  const address = received ? stripBrackets(received) : src.address;
  let port: number;
  const rport = via.params.get('rport');
  if (via.params.has('rport') && (rport === null || rport === undefined || rport === '')) {
    port = src.port;
  } else if (rport !== null && rport !== undefined && isPort(rport)) {
    port = Number(rport);
  } else if (via.port !== undefined) {
    port = via.port;
  } else {
    port = via.transport.toUpperCase() === 'TLS' ? DEFAULT_SIPS_PORT : DEFAULT_SIP_PORT;
  }
  return { address, port, local: src.local };
}

function isPort(s: string): boolean {
  if (!/^[0-9]{1,5}$/.test(s)) return false;
  const n = Number(s);
  return n > 0 && n < 65536;
}

function stripBrackets(host: string): string {
  return host.length > 1 && host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
