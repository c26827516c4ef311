// Common part of the two server transactions (RFC 3261 §17.2).

import type { SipMessage } from '../message.js';
import { Transaction, type TerminationReason, type TransactionContext } from './transaction.js';
import type { Destination } from './transport.js';

/** RFC 3261 Fig. 7 with RFC 6026's Accepted. */
export type InviteServerState = 'Proceeding' | 'Completed' | 'Confirmed' | 'Accepted' | 'Terminated';
/** RFC 3261 Fig. 8. */
export type NonInviteServerState = 'Trying' | 'Proceeding' | 'Completed' | 'Terminated';
export type ServerTransactionState = InviteServerState | NonInviteServerState;

export abstract class ServerTransaction extends Transaction<ServerTransactionState> {
  abstract readonly isInvite: boolean;
  /** Where the request datagram came from. */
  readonly receivedFrom: Destination;
  /**
   * Where responses (and their retransmissions) go. Defaults to responseDestination(req, src)
   * (§18.2.2 / RFC 3581); the TU may replace it before responding.
   */
  source: Destination;
  private last: SipMessage | undefined;
  private lastBuf: Buffer | undefined;

  protected constructor(
    ctx: TransactionContext,
    request: SipMessage,
    key: string,
    initial: ServerTransactionState,
    receivedFrom: Destination,
    source: Destination,
  ) {
    super(ctx, request, key, initial);
    this.receivedFrom = receivedFrom;
    this.source = source;
  }

  /** The last response sent (what a retransmitted request gets back). */
  get lastResponse(): SipMessage | undefined {
    return this.last;
  }

  /**
   * The TU's response: sent and fed to the state machine. Returns false when the
   * response was discarded (a state that takes no more responses, e.g. a second final
   * response in Completed, §17.2.2) or the transport failed (the transaction is then
   * Terminated and tu.onServerFailure is told).
   */
  abstract respond(res: SipMessage): boolean;

  /**
   * A retransmission of the request that created this transaction.
   * @internal called by TransactionLayer
   */
  abstract receiveRetransmission(): void;

  /** Called by the layer once the transaction is in its maps. @internal */
  start(): void {}

  /** The TU abandons the transaction: Terminated at once, no more retransmissions. */
  terminate(): void {
    this.finish('terminated-by-tu');
  }

  kill(): void {
    this.toTerminated('shutdown', 'Terminated');
  }

  /** Encode, remember as last response, send. False if the transport threw (already handled). */
  protected sendResponse(res: SipMessage): boolean {
    const buf = res.toBuffer();
    this.last = res;
    this.lastBuf = buf;
    const err = this.transmit(buf, this.source);
    if (err !== undefined) {
      this.fail('transport-error', err);
      return false;
    }
    return true;
  }

  /** Resend the last response, if any (§17.2.1, §17.2.2 request retransmission; Timer G). */
  protected resendLast(): void {
    if (this.lastBuf === undefined) return;
    this.ctx.stats.responsesRetransmitted++;
    const err = this.transmit(this.lastBuf, this.source);
    if (err !== undefined) this.fail('transport-error', err);
  }

  /** §17.2.1 Timer H / §17.2.4 transport error: Terminated, and the TU is told. */
  protected fail(reason: 'timeout' | 'transport-error', err?: unknown): void {
    if (!this.toTerminated(reason, 'Terminated')) return;
    this.ctx.tu.onServerFailure?.(this, reason, err);
    this.ctx.tu.onServerTerminated?.(this);
  }

  protected finish(reason: TerminationReason): void {
    if (!this.toTerminated(reason, 'Terminated')) return;
    this.ctx.tu.onServerTerminated?.(this);
  }
}
