// One counter per outcome of the transaction layer. Plain numbers: read them, reset by
// replacing the object; names are stable (exported as metrics).

export interface TransactionStats {
  serverCreated: number;
  clientCreated: number;
  serverTerminated: number;
  clientTerminated: number;
  /** Request retransmissions absorbed by a server transaction (its last response resent, if any). */
  requestRetransmissionsAbsorbed: number;
  /** Response retransmissions absorbed by a client transaction (not passed to the TU). */
  responseRetransmissionsAbsorbed: number;
  /** requestRetransmissionsAbsorbed + responseRetransmissionsAbsorbed + acksAbsorbed. */
  retransmissionsAbsorbed: number;
  /** ACKs for a non-2xx final absorbed by the INVITE server transaction (Completed → Confirmed, or a repeat). */
  acksAbsorbed: number;
  /** ACKs matching an INVITE server transaction in Accepted, passed to the TU with that transaction (RFC 6026). */
  acksToTu: number;
  /** ACKs matching no transaction, passed to the TU with tx = null (ACK for 2xx). */
  acksStray: number;
  /** Responses matching no client transaction, passed to tu.onStrayResponse. */
  strayResponses: number;
  /** 2xx retransmissions passed up by an INVITE client transaction in Accepted (RFC 6026 §7.2). */
  acceptedRetransmissionsToTu: number;
  /** Timer A / Timer E request retransmissions sent. */
  requestsRetransmitted: number;
  /** Timer G retransmissions plus responses resent on a request retransmission. */
  responsesRetransmitted: number;
  /** ACKs generated for non-2xx finals by INVITE client transactions (incl. resends). */
  acksGenerated: number;
  /** 100 Trying sent by an INVITE server transaction because the TU was silent for 200 ms (§17.2.1). */
  autoTrying: number;
  /** Client transaction timeouts: Timer B or Timer F fired. */
  timeouts: number;
  /** Server INVITE transactions whose ACK never came: Timer H fired. */
  timeoutsH: number;
  /** SendFn threw (§17.1.4, §17.2.4); the transaction was terminated. */
  transportErrors: number;
  /** Responses the TU passed to a server transaction in a state that must discard them. */
  responsesDiscarded: number;
  /** Requests/responses without what matching needs (Via, CSeq, Call-ID, From, To). */
  malformedDropped: number;
}

export function newTransactionStats(): TransactionStats {
  return {
    serverCreated: 0,
    clientCreated: 0,
    serverTerminated: 0,
    clientTerminated: 0,
    requestRetransmissionsAbsorbed: 0,
    responseRetransmissionsAbsorbed: 0,
    retransmissionsAbsorbed: 0,
    acksAbsorbed: 0,
    acksToTu: 0,
    acksStray: 0,
    strayResponses: 0,
    acceptedRetransmissionsToTu: 0,
    requestsRetransmitted: 0,
    responsesRetransmitted: 0,
    acksGenerated: 0,
    autoTrying: 0,
    timeouts: 0,
    timeoutsH: 0,
    transportErrors: 0,
    responsesDiscarded: 0,
    malformedDropped: 0,
  };
}
