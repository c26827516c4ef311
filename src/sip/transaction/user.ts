// The transaction user (TU, RFC 3261 §5): the proxy core sits here.

import type { SipMessage } from '../message.js';
import type { ServerTransaction } from './server.js';
import type { Destination } from './transport.js';

export interface TransactionUser {
  /**
   * A new request, with the server transaction created for it. tx is null only for an
   * ACK that matched no transaction — the ACK for a 2xx, which a proxy forwards
   * statelessly (§16.7, RFC 6026 §7.1). An ACK that matches an INVITE server transaction
   * in Accepted is passed with that transaction (RFC 6026 Fig. 7: "ACK / to TU").
   * src is where the datagram came from.
   */
  onRequest(req: SipMessage, tx: ServerTransaction | null, src: Destination): void;
  /** A response matching no client transaction: a proxy forwards it statelessly (§16.7 step 9, §18.1.2). */
  onStrayResponse(res: SipMessage, src: Destination): void;
  /**
   * A server transaction failed: Timer H fired (§17.2.1: ACK never received) or the
   * transport refused a response (§17.2.4). Optional.
   */
  onServerFailure?(tx: ServerTransaction, reason: 'timeout' | 'transport-error', err?: unknown): void;
  /** A server transaction reached Terminated (for any reason) and left the layer. Optional. */
  onServerTerminated?(tx: ServerTransaction): void;
}
