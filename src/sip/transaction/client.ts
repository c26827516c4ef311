// Common part of the two client transactions (RFC 3261 §17.1).

import type { SipMessage } from '../message.js';
import { Transaction, type TerminationReason, type TransactionContext } from './transaction.js';
import { detachString } from './key.js';
import type { Destination } from './transport.js';

/** RFC 3261 Fig. 5 with RFC 6026's Accepted. */
export type InviteClientState = 'Calling' | 'Proceeding' | 'Completed' | 'Accepted' | 'Terminated';
/** RFC 3261 Fig. 6. */
export type NonInviteClientState = 'Trying' | 'Proceeding' | 'Completed' | 'Terminated';
export type ClientTransactionState = InviteClientState | NonInviteClientState;

export interface ClientTransactionHandlers {
  /** Every response the transaction passes up (provisional, final, RFC 6026 2xx retransmissions). */
  onResponse(res: SipMessage, tx: ClientTransaction): void;
  /** Timer B (INVITE) or Timer F (non-INVITE) fired with no final response. */
  onTimeout(tx: ClientTransaction): void;
  /**
   * The transport refused the request (§17.1.4). If absent, onTimeout is called instead
   * — but only while no final response has been passed up (a proxy then answers 408/503
   * for the branch either way). Never called synchronously from inside sendRequest.
   */
  onTransportError?(tx: ClientTransaction, err: unknown): void;
  /** The transaction reached Terminated, for any reason but layer shutdown, and left the layer. */
  onTerminated?(tx: ClientTransaction): void;
}

export abstract class ClientTransaction extends Transaction<ClientTransactionState> {
  abstract readonly isInvite: boolean;
  /** Top-Via branch of the request (put there by the caller). */
  readonly branch: string;
  /** Where the request (and its retransmissions, and a generated ACK) goes. */
  readonly destination: Destination;
  protected readonly handlers: ClientTransactionHandlers;
  /** Encoded once: retransmissions are byte-identical (§17.1.1.2). Released with the request. */
  protected requestBuf: Buffer | undefined;
  private lastCode = 0;
  private finalDelivered = false;

  protected constructor(
    ctx: TransactionContext,
    request: SipMessage,
    key: string,
    branch: string,
    destination: Destination,
    handlers: ClientTransactionHandlers,
    initial: ClientTransactionState,
  ) {
    super(ctx, request, key, initial);
    this.branch = detachString(branch);
    this.destination = destination;
    this.handlers = handlers;
    this.requestBuf = request.toBuffer();
  }

  /**
   * Status of the last response passed up to the TU, 0 before any. (The response itself
   * is not kept: the transaction may live 64·T1 past it, RFC 6026 Timer M.)
   */
  get lastStatus(): number {
    return this.lastCode;
  }

  /** Send the request and arm the timers. @internal called by TransactionLayer */
  abstract start(): void;

  /** A response matched to this transaction (§17.1.3). @internal called by TransactionLayer */
  abstract receiveResponse(res: SipMessage): void;

  /**
   * The TU gives up on the transaction: Terminated at once, timers stopped, onTerminated
   * called. E.g. §9.1: no final response within 64·T1 after sending CANCEL.
   */
  terminate(): void {
    this.finish('terminated-by-tu');
  }

  kill(): void {
    this.toTerminated('shutdown', 'Terminated');
  }

  protected override toTerminated(reason: TerminationReason, state: ClientTransactionState): boolean {
    if (!super.toTerminated(reason, state)) return false;
    this.requestBuf = undefined;
    return true;
  }

  /** First transmission. A transport error here is reported on the next clock tick, so
   * the caller of sendRequest always holds the transaction before any handler runs. */
  protected sendInitial(): boolean {
    const err = this.transmit(this.requestBuf!, this.destination);
    if (err === undefined) return true;
    if (this.toTerminated('transport-error', 'Terminated')) {
      this.ctx.clock.setTimer(0, () => this.notifyTransportError(err));
    }
    return false;
  }

  /** Timer A / Timer E retransmission. */
  protected retransmit(): boolean {
    if (this.requestBuf === undefined) return false;
    this.ctx.stats.requestsRetransmitted++;
    const err = this.transmit(this.requestBuf, this.destination);
    if (err === undefined) return true;
    this.transportFailure(err);
    return false;
  }

  /**
   * A final response arrived: nothing will be retransmitted any more, so the request and
   * its bytes go (they would otherwise live until Timer D/K/M, up to 64·T1).
   */
  protected releaseRequest(): void {
    this.req = undefined;
    this.requestBuf = undefined;
  }

  protected deliver(res: SipMessage): void {
    this.lastCode = res.status;
    if (res.status >= 200) this.finalDelivered = true;
    this.handlers.onResponse(res, this);
  }

  /** Timer B / Timer F. */
  protected timeout(): void {
    if (!this.toTerminated('timeout', 'Terminated')) return;
    this.ctx.stats.timeouts++;
    this.handlers.onTimeout(this);
    this.handlers.onTerminated?.(this);
  }

  /** §17.1.4: Terminated, and the TU is told. */
  protected transportFailure(err: unknown): void {
    if (!this.toTerminated('transport-error', 'Terminated')) return;
    this.notifyTransportError(err);
  }

  protected finish(reason: TerminationReason): void {
    if (!this.toTerminated(reason, 'Terminated')) return;
    this.handlers.onTerminated?.(this);
  }

  private notifyTransportError(err: unknown): void {
    if (this.handlers.onTransportError) this.handlers.onTransportError(this, err);
    else if (!this.finalDelivered) this.handlers.onTimeout(this);
    this.handlers.onTerminated?.(this);
  }
}
