// INVITE client transaction: RFC 3261 §17.1.1, Figure 5, as updated by RFC 6026 §7.2 /
// §8.4 (2xx moves to Accepted so that 2xx retransmissions — from other forks too — still
// reach the TU until Timer M).

import { parseMessage, type SipMessage } from '../message.js';
import { ClientTransaction, type ClientTransactionHandlers } from './client.js';
import { buildNon2xxAck } from './hop-requests.js';
import { nextTimerA } from './timers.js';
import type { TimerName, TransactionContext } from './transaction.js';
import type { Destination } from './transport.js';

export class InviteClientTransaction extends ClientTransaction {
  readonly isInvite = true;
  /** The non-2xx ACK's bytes, in a buffer of their own: kept until Timer D (≥ 32 s). */
  private ackBuf: Buffer | undefined;
  /** Current Timer A interval (§17.1.1.2: doubles on each firing). */
  private intervalA = 0;

  constructor(
    ctx: TransactionContext,
    request: SipMessage,
    key: string,
    branch: string,
    destination: Destination,
    handlers: ClientTransactionHandlers,
  ) {
    super(ctx, request, key, branch, destination, handlers, 'Calling');
  }

  /**
   * The ACK this transaction generated for a non-2xx final response, once it has —
   * parsed from the bytes sent on each call (only the bytes are kept, for Timer D).
   */
  get ack(): SipMessage | undefined {
    return this.ackBuf === undefined ? undefined : parseMessage(this.ackBuf);
  }

  start(): void {
    if (!this.sendInitial()) return;
    // §17.1.1.2: Timer A (unreliable only) at T1, doubling; Timer B at 64·T1.
    if (this.ctx.timers.retransmit) {
      this.intervalA = this.ctx.timers.A;
      this.startTimer('A', this.intervalA);
    }
    this.startTimer('B', this.ctx.timers.B);
  }

  protected onTimer(name: TimerName): void {
    switch (name) {
      case 'A':
        if (this.current !== 'Calling') return;
        if (this.retransmit()) {
          this.intervalA = nextTimerA(this.intervalA);
          this.startTimer('A', this.intervalA);
        }
        return;
      case 'B':
        if (this.current === 'Calling') this.timeout();
        return;
      case 'D':
      case 'M':
        this.finish('normal');
        return;
    }
  }

  receiveResponse(res: SipMessage): void {
    const status = res.status;
    switch (this.current) {
      case 'Calling':
      case 'Proceeding':
        // Any response stops the retransmissions, and Timer B only runs in Calling (Fig. 5).
        this.stopTimer('A');
        this.stopTimer('B');
        if (status < 200) {
          this.current = 'Proceeding';
          this.deliver(res);
        } else if (status < 300) {
          // RFC 6026 §8.4: 2xx → Accepted, Timer M; the TU (not us) ACKs a 2xx.
          this.current = 'Accepted';
          this.releaseRequest();
          this.startTimer('M', this.ctx.timers.M);
          this.deliver(res);
        } else {
          // §17.1.1.2: 300-699 → Completed: pass up, ACK, Timer D.
          this.current = 'Completed';
          const pooled = buildNon2xxAck(this.req!, res).toBuffer();
          // Own buffer, not a slice of a shared pool slab that it would keep alive.
          this.ackBuf = Buffer.allocUnsafeSlow(pooled.length);
          pooled.copy(this.ackBuf);
          this.releaseRequest();
          const err = this.sendAck();
          const d = this.ctx.timers.D;
          if (err === undefined && d > 0) this.startTimer('D', d);
          this.deliver(res);
          if (err !== undefined) this.transportFailure(err);
          else if (d === 0) this.finish('normal');
        }
        return;
      case 'Accepted':
        // RFC 6026 §7.2: 2xx retransmissions (and 2xx from other forks) go to the TU.
        if (status >= 200 && status < 300) {
          this.ctx.stats.acceptedRetransmissionsToTu++;
          this.deliver(res);
        } else {
          this.absorbed();
        }
        return;
      case 'Completed':
        if (status >= 300) {
          // §17.1.1.2: a retransmitted final response gets the ACK again, not the TU.
          this.absorbed();
          const err = this.sendAck();
          if (err !== undefined) this.transportFailure(err);
        } else if (status >= 200) {
          // A 2xx after a non-2xx on the same branch: a proxy must still forward every
          // 2xx to INVITE (§16.7 step 5); the TU decides.
          this.deliver(res);
        } else {
          this.absorbed();
        }
        return;
      default:
        this.absorbed();
    }
  }

  private sendAck(): unknown {
    if (this.ackBuf === undefined) return undefined;
    this.ctx.stats.acksGenerated++;
    return this.transmit(this.ackBuf, this.destination);
  }

  private absorbed(): void {
    this.ctx.stats.responseRetransmissionsAbsorbed++;
    this.ctx.stats.retransmissionsAbsorbed++;
  }
}
