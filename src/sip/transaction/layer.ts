// The transaction layer (RFC 3261 §17): owns the live transactions, matches every
// incoming message to one (§17.1.3, §17.2.3), and is what the TU — the proxy core —
// talks to. Transactions leave its maps by themselves when they reach Terminated.

import type { Clock } from '../clock.js';
import type { SipMessage } from '../message.js';
import type { ClientTransaction, ClientTransactionHandlers } from './client.js';
import { TransactionError } from './errors.js';
import { InviteClientTransaction } from './invite-client.js';
import { InviteServerTransaction } from './invite-server.js';
import { clientKey, detachString, hasMagicCookie, responseClientKey, server2543AckKey, serverKey } from './key.js';
import { NonInviteClientTransaction } from './non-invite-client.js';
import { NonInviteServerTransaction } from './non-invite-server.js';
import { ServerTransaction } from './server.js';
import { newTransactionStats, type TransactionStats } from './stats.js';
import { DEFAULT_TIMER_GRANULARITY_MS, TimerWheel } from './timer-wheel.js';
import { DEFAULT_TIMERS, resolveTimers, type ResolvedTimers, type TimerConfig } from './timers.js';
import type { Transaction, TransactionContext } from './transaction.js';
import { responseDestination, type Destination, type SendFn } from './transport.js';
import type { TransactionUser } from './user.js';

export interface TransactionLayerOptions {
  clock: Clock;
  send: SendFn;
  tu: TransactionUser;
  /** T1/T2/T4; every timer derives from these. Default DEFAULT_TIMERS. */
  timers?: TimerConfig;
  /** Reliable transport (TCP/TLS): no Timer A/E/G, zero Timers D/I/J/K. Default false (UDP). */
  reliable?: boolean;
  /**
   * §17.2.1: an INVITE server transaction sends 100 Trying itself if the TU has not
   * responded within this many ms. Default 200; 0 disables (a TU that always answers at
   * once may turn it off).
   */
  autoTryingMs?: number;
  /**
   * Granularity (ms) of the long timers B, D, F, H, I, J, K, L, M: they share one coarse
   * clock timer and fire up to this much after their RFC value (the RFC values are lower
   * bounds). Default 100. ≤ 1 = exact (tests of the RFC schedules use that). A, E, G and
   * the 100-Trying timer are always exact.
   */
  timerGranularityMs?: number;
}

export class TransactionLayer {
  /** The TU; may be replaced after construction (the proxy is often built after the layer). */
  tu: TransactionUser;
  readonly stats: TransactionStats = newTransactionStats();
  readonly timers: ResolvedTimers;
  private readonly clock: Clock;
  private readonly send: SendFn;
  private readonly ctx: TransactionContext;
  private readonly wheel: TimerWheel;
  private readonly servers = new Map<string, ServerTransaction>();
  /** RFC 2543 INVITE transactions by their ACK key (§17.2.3: ACK's To tag differs from the INVITE's). */
  private readonly servers2543Ack = new Map<string, InviteServerTransaction>();
  private readonly clients = new Map<string, ClientTransaction>();
  private readonly callIds = new Map<string, number>();

  constructor(opts: TransactionLayerOptions) {
    this.clock = opts.clock;
    this.send = opts.send;
    this.tu = opts.tu;
    this.timers = resolveTimers(opts.timers ?? DEFAULT_TIMERS, opts.reliable ?? false);
    this.wheel = new TimerWheel(this.clock, opts.timerGranularityMs ?? DEFAULT_TIMER_GRANULARITY_MS);
    const layer = this;
    this.ctx = {
      clock: this.clock,
      send: this.send,
      timers: this.timers,
      stats: this.stats,
      wheel: this.wheel,
      autoTryingMs: opts.autoTryingMs ?? 200,
      get tu() {
        return layer.tu;
      },
      removed: (tx) => this.forget(tx),
    };
  }

  /**
   * A request from the transport. A retransmission is absorbed by its server transaction
   * (which resends its last response, §17.2.1/§17.2.2); the ACK for a non-2xx final is
   * absorbed by the INVITE transaction (Completed → Confirmed); anything else creates a
   * server transaction and goes to tu.onRequest. An ACK matching nothing goes to the TU
   * with tx = null. Requests lacking what matching needs are dropped and counted.
   */
  receiveRequest(req: SipMessage, src: Destination): void {
    if (req.method === 'ACK') {
      this.receiveAck(req, src);
      return;
    }
    let key: string | undefined;
    let ackKey: string | undefined;
    try {
      const k = serverKey(req);
      key = k === undefined ? undefined : detachString(k);
      if (key !== undefined) {
        const existing = this.servers.get(key);
        if (existing !== undefined) {
          existing.receiveRetransmission();
          return;
        }
        req.callId(); // the transaction needs it: fail here, not half-way through creation
        if (req.method === 'INVITE') ackKey = server2543AckKey(req);
      }
    } catch {
      key = undefined;
    }
    if (key === undefined) {
      this.stats.malformedDropped++;
      return;
    }
    const dest = responseDestination(req, src);
    const tx: ServerTransaction =
      req.method === 'INVITE'
        ? new InviteServerTransaction(this.ctx, req, key, ackKey, src, dest)
        : new NonInviteServerTransaction(this.ctx, req, key, src, dest);
    this.servers.set(tx.key, tx);
    if (ackKey !== undefined) this.servers2543Ack.set((tx as InviteServerTransaction).ackKey!, tx as InviteServerTransaction);
    this.countCallId(tx.callId, 1);
    this.stats.serverCreated++;
    try {
      this.tu.onRequest(req, tx, src);
    } finally {
      // After the TU: the auto-100 timer is only needed if the TU has not answered yet.
      tx.start();
    }
  }

  /**
   * A response from the transport. Matched (§17.1.3) → the client transaction's state
   * machine, which passes it to its handlers or absorbs a retransmission. Unmatched →
   * tu.onStrayResponse (a proxy forwards it statelessly, §16.7 / §18.1.2).
   */
  receiveResponse(res: SipMessage, src: Destination): void {
    let key: string | undefined;
    try {
      key = responseClientKey(res);
    } catch {
      key = undefined;
    }
    if (key === undefined) {
      this.stats.malformedDropped++;
      return;
    }
    const tx = this.clients.get(key);
    if (tx === undefined) {
      this.stats.strayResponses++;
      this.tu.onStrayResponse(res, src);
      return;
    }
    tx.receiveResponse(res);
  }

  /**
   * Start a client transaction: the request is sent now and retransmitted per Timer A/E.
   * The caller has put the top Via with a unique branch (§8.1.1.7); ACK is not a
   * transaction (the ACK for non-2xx is generated by the INVITE transaction, the ACK for
   * 2xx is the TU's, sent directly). Throws TransactionError (ERR_TX_METHOD,
   * ERR_TX_NO_VIA, ERR_TX_BAD_REQUEST, ERR_TX_DUPLICATE); never calls a handler before it
   * returns — a transport error on the first send is reported on the next clock tick.
   */
  sendRequest(req: SipMessage, dest: Destination, handlers: ClientTransactionHandlers): ClientTransaction {
    if (req.method === 'ACK') {
      throw new TransactionError('ERR_TX_METHOD', 'ACK does not create a client transaction (RFC 3261 §17.1)');
    }
    const branch = req.topVia()?.branch;
    if (branch === undefined || branch === '') {
      throw new TransactionError('ERR_TX_NO_VIA', `${req.method} has no top Via with a branch`);
    }
    const key = detachString(clientKey(branch, req.method));
    if (this.clients.has(key)) {
      throw new TransactionError('ERR_TX_DUPLICATE', `a ${req.method} client transaction with branch ${branch} is live`);
    }
    let tx: ClientTransaction;
    try {
      tx =
        req.method === 'INVITE'
          ? new InviteClientTransaction(this.ctx, req, key, branch, dest, handlers)
          : new NonInviteClientTransaction(this.ctx, req, key, branch, dest, handlers);
    } catch (err) {
      throw new TransactionError('ERR_TX_BAD_REQUEST', `cannot start ${req.method} transaction: ${String(err)}`, {
        cause: err,
      });
    }
    this.clients.set(tx.key, tx);
    this.countCallId(tx.callId, 1);
    this.stats.clientCreated++;
    tx.start();
    return tx;
  }

  /**
   * §9.2: the INVITE server transaction a CANCEL refers to — matched as if the CANCEL
   * were the INVITE (same branch and sent-by, or for RFC 2543 peers the same
   * Request-URI, tags, Call-ID, CSeq number and Via). Undefined if none is live.
   */
  findInviteServerTx(cancel: SipMessage): InviteServerTransaction | undefined {
    try {
      const key = serverKey(cancel, 'INVITE');
      if (key === undefined) return undefined;
      const tx = this.servers.get(key);
      return tx instanceof InviteServerTransaction ? tx : undefined;
    } catch {
      return undefined;
    }
  }

  /** Whether any live transaction (client or server) has this Call-ID — the farm's second-chance test. */
  hasCallId(callId: string): boolean {
    return this.callIds.has(callId);
  }

  /** Live transactions, client and server. */
  size(): number {
    return this.servers.size + this.clients.size;
  }

  /** Stop every transaction and timer without notifying anyone (process shutdown, tests). */
  shutdown(): void {
    for (const tx of [...this.servers.values(), ...this.clients.values()]) tx.kill();
    this.wheel.clear();
    this.servers.clear();
    this.servers2543Ack.clear();
    this.clients.clear();
    this.callIds.clear();
  }

  private receiveAck(ack: SipMessage, src: Destination): void {
    let tx: InviteServerTransaction | undefined;
    try {
      const via = ack.topVia();
      if (via === undefined) {
        this.stats.malformedDropped++;
        return;
      }
      if (hasMagicCookie(via.branch)) {
        const found = this.servers.get(serverKey(ack) as string);
        if (found instanceof InviteServerTransaction) tx = found;
      } else {
        // §17.2.3 (RFC 2543): everything but the To tag is keyed; the To tag must equal
        // the one in the response this transaction sent.
        const key = server2543AckKey(ack);
        const found = key === undefined ? undefined : this.servers2543Ack.get(key);
        const sentTag = found?.lastToTag;
        if (found !== undefined && sentTag !== undefined && sentTag === ack.to().tag) tx = found;
      }
    } catch {
      this.stats.malformedDropped++;
      return;
    }
    if (tx === undefined) {
      this.stats.acksStray++;
      this.tu.onRequest(ack, null, src);
      return;
    }
    if (tx.receiveAck() === 'to-tu') this.tu.onRequest(ack, tx, src);
  }

  private forget(tx: Transaction<string>): void {
    if (tx instanceof ServerTransaction) {
      if (this.servers.get(tx.key) === tx) this.servers.delete(tx.key);
      if (tx instanceof InviteServerTransaction && tx.ackKey !== undefined && this.servers2543Ack.get(tx.ackKey) === tx) {
        this.servers2543Ack.delete(tx.ackKey);
      }
      this.stats.serverTerminated++;
    } else {
      if (this.clients.get(tx.key) === tx) this.clients.delete(tx.key);
      this.stats.clientTerminated++;
    }
    this.countCallId(tx.callId, -1);
  }

  private countCallId(callId: string, delta: 1 | -1): void {
    const n = (this.callIds.get(callId) ?? 0) + delta;
    if (n > 0) this.callIds.set(callId, n);
    else this.callIds.delete(callId);
  }
}
