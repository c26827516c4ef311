// Non-INVITE server transaction: RFC 3261 §17.2.2, Figure 8.

import type { SipMessage } from '../message.js';
import { ServerTransaction } from './server.js';
import type { TimerName, TransactionContext } from './transaction.js';
import type { Destination } from './transport.js';

export class NonInviteServerTransaction extends ServerTransaction {
  readonly isInvite = false;

  constructor(ctx: TransactionContext, request: SipMessage, key: string, receivedFrom: Destination, source: Destination) {
    super(ctx, request, key, 'Trying', receivedFrom, source);
  }

  respond(res: SipMessage): boolean {
    const status = res.status;
    if (res.kind !== 'response' || status < 100 || status > 699) return this.discard();
    if (this.current !== 'Trying' && this.current !== 'Proceeding') {
      // §17.2.2: final responses passed by the TU in Completed MUST be discarded.
      return this.discard();
    }
    if (status < 200) {
      this.current = 'Proceeding';
      return this.sendResponse(res);
    }
    // §17.2.2: 200-699 → Completed, Timer J (64·T1 on UDP, zero on reliable transports).
    this.current = 'Completed';
    if (!this.sendResponse(res)) return false;
    const j = this.ctx.timers.J;
    if (j === 0) this.finish('normal');
    else {
      this.compactLast();
      this.startTimer('J', j);
    }
    return true;
  }

  protected onTimer(name: TimerName): void {
    if (name === 'J') this.finish('normal');
  }

  receiveRetransmission(): void {
    this.ctx.stats.requestRetransmissionsAbsorbed++;
    this.ctx.stats.retransmissionsAbsorbed++;
    // §17.2.2: discarded in Trying; Proceeding and Completed resend the last response.
    if (this.current !== 'Trying') this.resendLast();
  }

  private discard(): boolean {
    this.ctx.stats.responsesDiscarded++;
    return false;
  }
}
