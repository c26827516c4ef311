// INVITE server transaction: RFC 3261 §17.2.1, Figure 7, as updated by RFC 6026 §7.1 / §8.6–8.7
// (2xx moves to Accepted instead of Terminated so that 2xx retransmissions from the TU and
// the ACK can still pass, until Timer L).

import { createResponse, type SipMessage } from '../message.js';
import { ServerTransaction } from './server.js';
import { detachString } from './key.js';
import { nextCapped } from './timers.js';
import type { TimerName, TransactionContext } from './transaction.js';
import type { Destination } from './transport.js';

/** What the layer does with an ACK after the transaction has seen it. */
export type AckDisposition = 'absorbed' | 'to-tu';

export class InviteServerTransaction extends ServerTransaction {
  readonly isInvite = true;
  /** RFC 2543 ACK key (no magic cookie), registered by the layer beside `key`. @internal */
  readonly ackKey: string | undefined;

  constructor(
    ctx: TransactionContext,
    request: SipMessage,
    key: string,
    ackKey: string | undefined,
    receivedFrom: Destination,
    source: Destination,
  ) {
    super(ctx, request, key, 'Proceeding', receivedFrom, source);
    this.ackKey = ackKey === undefined ? undefined : detachString(ackKey);
    this.keepToTag = ackKey !== undefined;
  }

  /** Current Timer G interval (§17.2.1). */
  private intervalG = 0;

  override start(): void {
    // §17.2.1: the server transaction MUST send 100 Trying unless it knows the TU will
    // send a provisional or final response within 200 ms. Cancelled by any TU response.
    // The layer calls start() after tu.onRequest, so a TU that answered at once (a
    // proxy's immediate 100, §16.2) costs no timer at all.
    if (this.ctx.autoTryingMs > 0 && this.current === 'Proceeding' && this.lastStatus === 0 && !this.terminated) {
      this.startTimer('Trying', this.ctx.autoTryingMs);
    }
  }

  protected onTimer(name: TimerName): void {
    switch (name) {
      case 'Trying':
        if (this.current !== 'Proceeding' || this.lastStatus !== 0 || this.req === undefined) return;
        this.ctx.stats.autoTrying++;
        this.sendResponse(createResponse(this.req, 100, 'Trying'));
        return;
      case 'G':
        if (this.current !== 'Completed') return;
        this.resendLast();
        if (this.current === 'Completed') {
          this.intervalG = nextCapped(this.intervalG, this.ctx.timers.cfg);
          this.startTimer('G', this.intervalG);
        }
        return;
      case 'H':
        this.ctx.stats.timeoutsH++;
        this.fail('timeout');
        return;
      case 'I':
      case 'L':
        this.finish('normal');
        return;
    }
  }

  respond(res: SipMessage): boolean {
    const status = res.status;
    if (res.kind !== 'response' || status < 100 || status > 699) return this.discard();
    switch (this.current) {
      case 'Proceeding':
        this.stopTimer('Trying');
        if (status < 200) return this.sendResponse(res);
        if (status < 300) {
          // RFC 6026 §8.5: 2xx from the TU → Accepted, Timer L.
          this.current = 'Accepted';
          if (!this.sendResponse(res)) return false;
          // RFC 6026 §8.7: in Accepted request retransmissions get no response, and 2xx
          // retransmissions bring their own bytes: the last response's bytes can go.
          this.lastBuf = undefined;
          this.startTimer('L', this.ctx.timers.L);
          return true;
        }
        // §17.2.1: 300-699 → Completed; Timer G (unreliable only) and Timer H.
        this.current = 'Completed';
        if (!this.sendResponse(res)) return false;
        this.compactLast();
        if (this.ctx.timers.retransmit) {
          this.intervalG = this.ctx.timers.G;
          this.startTimer('G', this.intervalG);
        }
        this.startTimer('H', this.ctx.timers.H);
        return true;
      case 'Accepted':
        // RFC 6026 §8.7: 2xx retransmissions from the TU go to the transport; nothing else does.
        if (status >= 200 && status < 300) {
          const ok = this.sendResponse(res);
          this.lastBuf = undefined;
          return ok;
        }
        return this.discard();
      default:
        return this.discard();
    }
  }

  receiveRetransmission(): void {
    this.ctx.stats.requestRetransmissionsAbsorbed++;
    this.ctx.stats.retransmissionsAbsorbed++;
    // §17.2.1: in Proceeding resend the last provisional (if any), in Completed the final.
    // RFC 6026 §8.7: in Accepted the INVITE is absorbed without a response (the TU's
    // 2xx retransmissions cover it); in Confirmed it is absorbed too.
    if (this.current === 'Proceeding' || this.current === 'Completed') this.resendLast();
  }

  /**
   * An ACK matching this transaction. @internal called by TransactionLayer
   * §17.2.1: in Completed → Confirmed, Timer G/H stop, Timer I starts; in Confirmed the
   * ACK retransmission is absorbed. RFC 6026 Fig. 7: in Accepted the ACK goes to the TU.
   */
  receiveAck(): AckDisposition {
    if (this.current === 'Accepted') {
      this.ctx.stats.acksToTu++;
      return 'to-tu';
    }
    this.ctx.stats.acksAbsorbed++;
    this.ctx.stats.retransmissionsAbsorbed++;
    if (this.current === 'Completed') {
      this.current = 'Confirmed';
      this.stopTimer('G');
      this.stopTimer('H');
      // §17.2.1: Confirmed only absorbs ACKs; the final response is never resent again.
      this.lastBuf = undefined;
      const i = this.ctx.timers.I;
      if (i === 0) this.finish('normal');
      else this.startTimer('I', i);
    }
    return 'absorbed';
  }

  private discard(): boolean {
    this.ctx.stats.responsesDiscarded++;
    return false;
  }
}
