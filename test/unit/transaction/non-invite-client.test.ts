// Non-INVITE client transaction, RFC 3261 §17.1.2 / Fig. 6; CANCEL as its own transaction (§9.1).

import { describe, expect, it } from 'vitest';
import type { SipMessage } from '../../../src/sip/message.js';
import { buildCancel } from '../../../src/sip/transaction/hop-requests.js';
import { NonInviteClientTransaction } from '../../../src/sip/transaction/non-invite-client.js';
import { Harness, SERVER, invite, recordingHandlers, register, responseTo, type ClientEvent } from './harness.js';

const isRegister = (s: { msg: SipMessage }) => s.msg.method === 'REGISTER';

function start(h: Harness, events: ClientEvent[]) {
  const req = register('z9hG4bK-sf1-reg');
  const tx = h.layer.sendRequest(req, SERVER, recordingHandlers(h.clock, events));
  return { req, tx };
}

describe('non-INVITE client transaction', () => {
  it('Trying: Timer E doubles up to T2, Timer F times out at 64·T1, maps emptied', () => {
    const h = new Harness();
    const events: ClientEvent[] = [];
    const { tx } = start(h, events);
    expect(tx).toBeInstanceOf(NonInviteClientTransaction);
    expect(tx.state).toBe('Trying');
    h.clock.advance(32_000);
    // +500, +1000, +2000, then +4000 (T2) until F
    expect(h.sentTimes(isRegister)).toEqual([0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    expect(events.map((e) => [e.kind, e.at])).toEqual([
      ['timeout', 32_000],
      ['terminated', 32_000],
    ]);
    expect(h.layer.size()).toBe(0);
    expect(h.layer.stats.timeouts).toBe(1);
    expect(h.clock.pending()).toBe(0);
  });

  it('Proceeding: Timer E is reset to T2; Timer F still bounds the transaction', () => {
    const h = new Harness();
    const events: ClientEvent[] = [];
    const { req, tx } = start(h, events);
    h.clock.advance(600);
    h.layer.receiveResponse(responseTo(req, 100, 'Trying'), SERVER);
    expect(tx.state).toBe('Proceeding');
    h.clock.advance(32_000 - 600);
    // 0, 500 (Trying); E armed for +1000 fires at 1500 in Proceeding, then every T2
    expect(h.sentTimes(isRegister)).toEqual([0, 500, 1500, 5500, 9500, 13500, 17500, 21500, 25500, 29500]);
    expect(events.map((e) => e.kind)).toEqual(['response', 'timeout', 'terminated']);
    expect(h.layer.size()).toBe(0);
  });

  it('final response: passed up once, retransmissions stop, repeats absorbed, Timer K (T4) cleans up', () => {
    const h = new Harness();
    const events: ClientEvent[] = [];
    const { req, tx } = start(h, events);
    h.clock.advance(600);
    h.layer.receiveResponse(responseTo(req, 200, 'OK', 'r9'), SERVER);
    expect(tx.state).toBe('Completed');
    h.layer.receiveResponse(responseTo(req, 200, 'OK', 'r9'), SERVER);
    h.clock.advance(4999);
    h.layer.receiveResponse(responseTo(req, 200, 'OK', 'r9'), SERVER);
    expect(tx.state).toBe('Completed');
    expect(h.sentTimes(isRegister)).toEqual([0, 500]);
    expect(events.map((e) => [e.kind, e.res?.status])).toEqual([['response', 200]]);
    expect(h.layer.stats.responseRetransmissionsAbsorbed).toBe(2);
    h.clock.advance(1);
    expect(tx.state).toBe('Terminated');
    expect(tx.terminationReason).toBe('normal');
    expect(events.map((e) => e.kind)).toEqual(['response', 'terminated']);
    expect(h.layer.size()).toBe(0);
    expect(h.clock.pending()).toBe(0);
  });

  it('reliable transport: no Timer E, Timer K is zero', () => {
    const h = new Harness({ reliable: true });
    const events: ClientEvent[] = [];
    const { req, tx } = start(h, events);
    h.clock.advance(10_000);
    expect(h.sentTimes(isRegister)).toEqual([0]);
    h.layer.receiveResponse(responseTo(req, 401, 'Unauthorized', 'r1'), SERVER);
    expect(tx.state).toBe('Terminated');
    expect(h.layer.size()).toBe(0);
  });

  it('CANCEL is its own client transaction on the INVITE branch (§9.1); responses split by CSeq method', () => {
    const h = new Harness();
    const invEvents: ClientEvent[] = [];
    const canEvents: ClientEvent[] = [];
    const inv = invite('z9hG4bK-sf1-inv');
    const invTx = h.layer.sendRequest(inv, SERVER, recordingHandlers(h.clock, invEvents));
    h.layer.receiveResponse(responseTo(inv, 180, 'Ringing', 'b1'), SERVER);

    const cancel = buildCancel(inv);
    expect(cancel.method).toBe('CANCEL');
    expect(cancel.uri).toBe(inv.uri);
    expect(cancel.getAll('via')).toEqual([inv.getAll('via')[0]]);
    expect(cancel.getAll('route')).toEqual(inv.getAll('route'));
    expect(cancel.get('to')).toBe(inv.get('to'));
    expect(cancel.get('from')).toBe(inv.get('from'));
    expect(cancel.callId()).toBe(inv.callId());
    expect(cancel.cseq()).toEqual({ seq: 1, method: 'CANCEL' });

    const canTx = h.layer.sendRequest(cancel, SERVER, recordingHandlers(h.clock, canEvents));
    expect(h.layer.size()).toBe(2);
    h.layer.receiveResponse(responseTo(cancel, 200, 'OK', 'b1'), SERVER);
    h.layer.receiveResponse(responseTo(inv, 487, 'Request Terminated', 'b1'), SERVER);
    expect(canEvents.map((e) => e.res?.status)).toEqual([200]);
    expect(invEvents.map((e) => e.res?.status)).toEqual([180, 487]);
    expect(canTx.state).toBe('Completed');
    expect(invTx.state).toBe('Completed');
    h.clock.advance(32_000);
    expect(h.layer.size()).toBe(0);
    expect(h.layer.hasCallId(inv.callId())).toBe(false);
    expect(h.layer.stats.clientTerminated).toBe(2);
  });
});
