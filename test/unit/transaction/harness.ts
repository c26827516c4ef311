// Shared fixtures for the transaction tests: a layer on a FakeClock whose transport
// records every datagram (parsed back, so assertions look at real wire bytes), a
// recording TU, and messages written as raw SIP text.

import { FakeClock } from '../../../src/sip/clock.js';
import { parseMessage, type SipMessage } from '../../../src/sip/message.js';
import type { ClientTransaction, ClientTransactionHandlers } from '../../../src/sip/transaction/client.js';
import { TransactionLayer, type TransactionLayerOptions } from '../../../src/sip/transaction/layer.js';
import type { ServerTransaction } from '../../../src/sip/transaction/server.js';
import type { Destination } from '../../../src/sip/transaction/transport.js';
import type { TransactionUser } from '../../../src/sip/transaction/user.js';

/** Raw SIP text (LF line ends in the source) → parsed message with CRLF on the wire. */
export function sip(text: string): SipMessage {
  const lines = text.replace(/^\n+/, '').replace(/\n+$/, '').split('\n').map((l) => l.trimStart());
  return parseMessage(Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'utf8'));
}

export const CLIENT: Destination = { address: '198.51.100.10', port: 5060 };
export const SERVER: Destination = { address: '203.0.113.20', port: 5070 };

export interface Sent {
  at: number;
  dest: Destination;
  msg: SipMessage;
  raw: string;
}

export interface TuEvent {
  kind: 'request' | 'stray' | 'failure' | 'terminated';
  at: number;
  msg?: SipMessage;
  tx?: ServerTransaction | null;
  src?: Destination;
  reason?: string;
}

export class Harness {
  readonly clock = new FakeClock();
  readonly sent: Sent[] = [];
  readonly tuEvents: TuEvent[] = [];
  /** Set to make the next sends throw (transport error). */
  failSends = false;
  /** Hook run inside tu.onRequest (e.g. to respond at once). */
  onRequest: ((req: SipMessage, tx: ServerTransaction | null) => void) | undefined;
  readonly layer: TransactionLayer;

  constructor(opts: Partial<TransactionLayerOptions> = {}) {
    const tu: TransactionUser = {
      onRequest: (req, tx, src) => {
        this.tuEvents.push({ kind: 'request', at: this.clock.now(), msg: req, tx, src });
        this.onRequest?.(req, tx);
      },
      onStrayResponse: (res, src) => this.tuEvents.push({ kind: 'stray', at: this.clock.now(), msg: res, src }),
      onServerFailure: (tx, reason) => this.tuEvents.push({ kind: 'failure', at: this.clock.now(), tx, reason }),
      onServerTerminated: (tx) => this.tuEvents.push({ kind: 'terminated', at: this.clock.now(), tx }),
    };
    this.layer = new TransactionLayer({
      clock: this.clock,
      send: (buf, dest) => {
        if (this.failSends) throw new Error('EHOSTUNREACH (test)');
        this.sent.push({ at: this.clock.now(), dest, msg: parseMessage(buf), raw: buf.toString('utf8') });
      },
      tu,
      autoTryingMs: 0,
      // Exact long timers: these tests assert the RFC schedules to the millisecond; the
      // coarse default granularity has its own tests (timer-wheel.test.ts).
      timerGranularityMs: 1,
      ...opts,
    });
  }

  /** Times (ms since start) of sent datagrams matching a predicate. */
  sentTimes(pred: (s: Sent) => boolean): number[] {
    return this.sent.filter(pred).map((s) => s.at);
  }

  requests(): TuEvent[] {
    return this.tuEvents.filter((e) => e.kind === 'request');
  }
}

export interface ClientEvent {
  kind: 'response' | 'timeout' | 'transport-error' | 'terminated';
  at: number;
  res?: SipMessage;
  tx: ClientTransaction;
}

/** Client handlers that record into `events`. */
export function recordingHandlers(
  clock: FakeClock,
  events: ClientEvent[],
  withTransportError = true,
): ClientTransactionHandlers {
  const h: ClientTransactionHandlers = {
    onResponse: (res, tx) => events.push({ kind: 'response', at: clock.now(), res, tx }),
    onTimeout: (tx) => events.push({ kind: 'timeout', at: clock.now(), tx }),
    onTerminated: (tx) => events.push({ kind: 'terminated', at: clock.now(), tx }),
  };
  if (withTransportError) h.onTransportError = (tx) => events.push({ kind: 'transport-error', at: clock.now(), tx });
  return h;
}

// ---- messages ----

export function invite(branch = 'z9hG4bK-inv1', extra = ''): SipMessage {
  return sip(`
    INVITE sip:bob@example.com SIP/2.0
    Via: SIP/2.0/UDP 198.51.100.10:5060;branch=${branch}
    Max-Forwards: 69
    Route: <sip:203.0.113.20:5070;lr>
    Route: <sip:203.0.113.30;lr>
    From: Alice <sip:alice@example.com>;tag=a1
    To: Bob <sip:bob@example.com>
    Call-ID: call-1@198.51.100.10
    CSeq: 1 INVITE
    Contact: <sip:alice@198.51.100.10>
    ${extra}
    Content-Length: 0
  `.replace(/\n\s*\n/g, '\n'));
}

export function register(branch = 'z9hG4bK-reg1'): SipMessage {
  return sip(`
    REGISTER sip:example.com SIP/2.0
    Via: SIP/2.0/UDP 198.51.100.10:5060;branch=${branch}
    Max-Forwards: 70
    From: <sip:alice@example.com>;tag=r1
    To: <sip:alice@example.com>
    Call-ID: reg-1@198.51.100.10
    CSeq: 7 REGISTER
    Contact: <sip:alice@198.51.100.10>
    Content-Length: 0
  `);
}

/** A response to `req` with the given status, written from its headers. */
export function responseTo(req: SipMessage, status: number, reason: string, toTag?: string): SipMessage {
  const vias = req.headers.filter((h) => h.name === 'via').map((h) => `Via: ${h.value}`);
  const to = toTag ? `${req.get('to')};tag=${toTag}` : req.get('to');
  return sip(`
    SIP/2.0 ${status} ${reason}
    ${vias.join('\n')}
    From: ${req.get('from')}
    To: ${to}
    Call-ID: ${req.get('call-id')}
    CSeq: ${req.get('cseq')}
    Content-Length: 0
  `);
}

export function ackFor(invite: SipMessage, toTag: string, branch?: string): SipMessage {
  const via = invite.getAll('via')[0].replace(/branch=[^;]+/, `branch=${branch ?? invite.topVia()!.branch}`);
  return sip(`
    ACK ${invite.uri} SIP/2.0
    Via: ${via}
    Max-Forwards: 70
    From: ${invite.get('from')}
    To: ${invite.get('to')};tag=${toTag}
    Call-ID: ${invite.get('call-id')}
    CSeq: ${invite.cseq().seq} ACK
    Content-Length: 0
  `);
}
