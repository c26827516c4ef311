// Non-INVITE client transaction: RFC 3261 §17.1.2, Figure 6.

import type { SipMessage } from '../message.js';
import { ClientTransaction, type ClientTransactionHandlers } from './client.js';
import { nextCapped } from './timers.js';
import type { TimerName, TransactionContext } from './transaction.js';
import type { Destination } from './transport.js';

export class NonInviteClientTransaction extends ClientTransaction {
  readonly isInvite = false;
  /** Current Timer E interval (§17.1.2.2). */
  private intervalE = 0;

  constructor(
    ctx: TransactionContext,
    request: SipMessage,
    key: string,
    branch: string,
    destination: Destination,
    handlers: ClientTransactionHandlers,
  ) {
    super(ctx, request, key, branch, destination, handlers, 'Trying');
  }

  start(): void {
    if (!this.sendInitial()) return;
    // §17.1.2.2: Timer E (unreliable only) at T1; Timer F at 64·T1.
    if (this.ctx.timers.retransmit) {
      this.intervalE = this.ctx.timers.E;
      this.startTimer('E', this.intervalE);
    }
    this.startTimer('F', this.ctx.timers.F);
  }

  protected onTimer(name: TimerName): void {
    switch (name) {
      case 'E': {
        if (this.current !== 'Trying' && this.current !== 'Proceeding') return;
        if (!this.retransmit()) return;
        // §17.1.2.2: in Trying E doubles up to T2; in Proceeding it is reset to T2.
        const cfg = this.ctx.timers.cfg;
        this.intervalE = this.current === 'Proceeding' ? cfg.t2 : nextCapped(this.intervalE, cfg);
        this.startTimer('E', this.intervalE);
        return;
      }
      case 'F':
        if (this.current === 'Trying' || this.current === 'Proceeding') this.timeout();
        return;
      case 'K':
        this.finish('normal');
        return;
    }
  }

  receiveResponse(res: SipMessage): void {
    if (this.current !== 'Trying' && this.current !== 'Proceeding') {
      // §17.1.2.2: in Completed, retransmitted responses are absorbed (Timer K's job).
      this.ctx.stats.responseRetransmissionsAbsorbed++;
      this.ctx.stats.retransmissionsAbsorbed++;
      return;
    }
    if (res.status < 200) {
      this.current = 'Proceeding';
      this.deliver(res);
      return;
    }
    // §17.1.2.2: final response → Completed, Timer K (T4 on UDP, zero on reliable).
    this.current = 'Completed';
    this.stopTimer('E');
    this.stopTimer('F');
    this.releaseRequest();
    const k = this.ctx.timers.K;
    if (k > 0) this.startTimer('K', k);
    this.deliver(res);
    if (k === 0) this.finish('normal');
  }
}
