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
  private lastCode = 0;
  /** Bytes of the last response, for retransmissions; dropped in states that never resend. */
  protected lastBuf: Buffer | undefined;
  /** To tag of the last response, kept only for RFC 2543 ACK matching (§17.2.3). */
  private sentToTag: string | undefined;
  /** Set by the INVITE server transaction of an RFC 2543 peer. */
  protected keepToTag = false;

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

  /**
   * Status of the last response sent, 0 before any. (The response is not kept, only its
   * bytes while a retransmission may still need them.)
   */
  get lastStatus(): number {
    return this.lastCode;
  }

  /** To tag of the last response sent — kept only for an RFC 2543 INVITE (ACK matching, §17.2.3). @internal */
  get lastToTag(): string | undefined {
    return this.sentToTag;
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

  /**
   * Called by the layer once the transaction is in its maps and tu.onRequest has run
   * (so a TU that answered at once never arms the 100-Trying timer). @internal
   */
  start(): void {}

  /** The TU abandons the transaction: Terminated at once, no more retransmissions. */
  terminate(): void {
    this.finish('terminated-by-tu');
  }

  kill(): void {
    this.toTerminated('shutdown', 'Terminated');
  }

  protected override toTerminated(reason: TerminationReason, state: ServerTransactionState): boolean {
    if (!super.toTerminated(reason, state)) return false;
    this.lastBuf = undefined;
    return true;
  }

  /** Encode, remember as last response, send. False if the transport threw (already handled). */
  protected sendResponse(res: SipMessage): boolean {
    const buf = res.toBuffer();
    this.lastCode = res.status;
    this.lastBuf = buf;
    if (this.keepToTag) {
      try {
        this.sentToTag = res.to().tag;
      } catch {
        this.sentToTag = undefined;
      }
    }
    // A final response: the request is not needed to build anything any more (§17.2).
    if (res.status >= 200) this.req = undefined;
    const err = this.transmit(buf, this.source);
    if (err !== undefined) {
      this.fail('transport-error', err);
      return false;
    }
    return true;
  }

  /**
   * The last response's bytes will be kept for a while (Completed: until Timer J or the
   * ACK, up to 64·T1): keep them in a buffer of their own. Encoded messages are small
   * slices of Node's shared 8 KB pool slabs, and one retained slice keeps its whole slab
   * alive — with one Completed transaction per slab, ~16× the memory.
   */
  protected compactLast(): void {
    const b = this.lastBuf;
    if (b === undefined || b.byteLength === b.buffer.byteLength) return;
    const own = Buffer.allocUnsafeSlow(b.length);
    b.copy(own);
    this.lastBuf = own;
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
