// INVITE client transaction, RFC 3261 §17.1.1 / Fig. 5 with RFC 6026 Accepted.

import { describe, expect, it } from 'vitest';
import type { SipMessage } from '../../../src/sip/message.js';
import { TransactionError } from '../../../src/sip/transaction/errors.js';
import { InviteClientTransaction } from '../../../src/sip/transaction/invite-client.js';
import { Harness, SERVER, invite, recordingHandlers, responseTo, type ClientEvent } from './harness.js';

const BRANCH = 'z9hG4bK-sf1-c0ffee';

/** An INVITE as a proxy forwards it: our Via on top of the client's. */
function proxiedInvite(): SipMessage {
  const req = invite();
  req.prepend('via', `SIP/2.0/UDP 203.0.113.1:5060;branch=${BRANCH}`);
  return req;
}

function start(h: Harness, events: ClientEvent[], withTransportError = true) {
  const req = proxiedInvite();
  const tx = h.layer.sendRequest(req, SERVER, recordingHandlers(h.clock, events, withTransportError));
  return { req, tx };
}

const isInvite = (s: { msg: SipMessage }) => s.msg.method === 'INVITE';
const isAck = (s: { msg: SipMessage }) => s.msg.method === 'ACK';

describe('INVITE client transaction', () => {
  it('Calling: Timer A retransmits at T1 doubling, Timer B times out at 64·T1 and the maps empty', () => {
    const h = new Harness();
    const events: ClientEvent[] = [];
    const { tx } = start(h, events);
    expect(tx).toBeInstanceOf(InviteClientTransaction);
    expect(tx.state).toBe('Calling');
    expect(h.layer.size()).toBe(1);
    expect(h.layer.hasCallId('call-1@198.51.100.10')).toBe(true);
    h.clock.advance(31_999);
    expect(events).toEqual([]);
    h.clock.advance(1);
    // 0, then +500, +1000, +2000, +4000, +8000, +16000 (no T2 cap for INVITE)
    expect(h.sentTimes(isInvite)).toEqual([0, 500, 1500, 3500, 7500, 15500, 31500]);
    expect(h.sent.every((s) => s.dest === SERVER)).toBe(true);
    expect(h.sent.every((s) => s.raw === h.sent[0].raw)).toBe(true);
    expect(events.map((e) => [e.kind, e.at])).toEqual([
      ['timeout', 32_000],
      ['terminated', 32_000],
    ]);
    expect(tx.state).toBe('Terminated');
    expect(tx.terminationReason).toBe('timeout');
    expect(h.layer.size()).toBe(0);
    expect(h.layer.hasCallId('call-1@198.51.100.10')).toBe(false);
    expect(h.layer.stats.timeouts).toBe(1);
    expect(h.layer.stats.requestsRetransmitted).toBe(6);
    expect(h.clock.pending()).toBe(0);
  });

  it('a provisional stops retransmissions and Timer B (Proceeding waits for the final)', () => {
    const h = new Harness();
    const events: ClientEvent[] = [];
    const { req, tx } = start(h, events);
    h.clock.advance(700); // one retransmission at 500
    h.layer.receiveResponse(responseTo(req, 100, 'Trying'), SERVER);
    expect(tx.state).toBe('Proceeding');
    h.layer.receiveResponse(responseTo(req, 180, 'Ringing', 'b1'), SERVER);
    h.clock.advance(120_000);
    expect(h.sentTimes(isInvite)).toEqual([0, 500]);
    expect(events.map((e) => [e.kind, e.res?.status])).toEqual([
      ['response', 100],
      ['response', 180],
    ]);
    expect(tx.state).toBe('Proceeding');
    expect(h.layer.size()).toBe(1);
    // §9.1: the TU may give up on a transaction that never completes
    tx.terminate();
    expect(tx.terminationReason).toBe('terminated-by-tu');
    expect(events[events.length - 1].kind).toBe('terminated');
    expect(h.layer.size()).toBe(0);
  });

  it('non-2xx final: passed up once, ACK generated per §17.1.1.3, retransmissions re-ACKed and absorbed, Timer D cleans up', () => {
    const h = new Harness();
    const events: ClientEvent[] = [];
    const { req, tx } = start(h, events);
    h.layer.receiveResponse(responseTo(req, 180, 'Ringing', 'b1'), SERVER);
    h.clock.advance(1000);
    const busy = responseTo(req, 486, 'Busy Here', 'b1');
    h.layer.receiveResponse(busy, SERVER);
    expect(tx.state).toBe('Completed');

    const acks = h.sent.filter(isAck);
    expect(acks).toHaveLength(1);
    const ack = acks[0].msg;
    expect(acks[0].dest).toEqual(SERVER);
    expect(ack.uri).toBe(req.uri);
    expect(ack.getAll('via')).toEqual([`SIP/2.0/UDP 203.0.113.1:5060;branch=${BRANCH}`]);
    expect(ack.getAll('route')).toEqual(['<sip:203.0.113.20:5070;lr>', '<sip:203.0.113.30;lr>']);
    expect(ack.get('from')).toBe(req.get('from'));
    expect(ack.to().tag).toBe('b1');
    expect(ack.get('to')).toBe(busy.get('to'));
    expect(ack.callId()).toBe(req.callId());
    expect(ack.cseq()).toEqual({ seq: 1, method: 'ACK' });
    expect(ack.maxForwards()).toBe(69);
    expect(ack.has('contact')).toBe(false);
    expect(ack.body.length).toBe(0);
    expect((tx as InviteClientTransaction).ack?.method).toBe('ACK');

    // retransmitted final: ACK again, TU not bothered
    h.clock.advance(500);
    h.layer.receiveResponse(responseTo(req, 486, 'Busy Here', 'b1'), SERVER);
    h.clock.advance(1000);
    h.layer.receiveResponse(responseTo(req, 486, 'Busy Here', 'b1'), SERVER);
    expect(h.sent.filter(isAck).map((s) => s.raw)).toEqual([acks[0].raw, acks[0].raw, acks[0].raw]);
    expect(events.map((e) => [e.kind, e.res?.status])).toEqual([
      ['response', 180],
      ['response', 486],
    ]);
    expect(h.layer.stats.responseRetransmissionsAbsorbed).toBe(2);
    expect(h.layer.stats.acksGenerated).toBe(3);

    // Timer D: 32 s after the final, not before
    h.clock.advance(32_000 - 1500 - 1);
    expect(tx.state).toBe('Completed');
    h.clock.advance(1);
    expect(tx.state).toBe('Terminated');
    expect(tx.terminationReason).toBe('normal');
    expect(events[events.length - 1]).toMatchObject({ kind: 'terminated', at: 1000 + 32_000 });
    expect(h.layer.size()).toBe(0);
    expect(h.layer.hasCallId(req.callId())).toBe(false);
    // too late now: the response is stray (a proxy forwards it statelessly)
    h.layer.receiveResponse(responseTo(req, 486, 'Busy Here', 'b1'), SERVER);
    expect(h.tuEvents.map((e) => e.kind)).toEqual(['stray']);
    expect(h.clock.pending()).toBe(0);
  });

  it('a final in Calling also stops Timer A', () => {
    const h = new Harness();
    const events: ClientEvent[] = [];
    const { req } = start(h, events);
    h.layer.receiveResponse(responseTo(req, 503, 'Service Unavailable', 'x'), SERVER);
    h.clock.advance(10_000);
    expect(h.sentTimes(isInvite)).toEqual([0]);
    expect(h.sent.filter(isAck)).toHaveLength(1);
  });

  it('2xx: Accepted (RFC 6026), no ACK from the transaction, 2xx retransmissions passed up until Timer M', () => {
    const h = new Harness();
    const events: ClientEvent[] = [];
    const { req, tx } = start(h, events);
    h.layer.receiveResponse(responseTo(req, 200, 'OK', 'b1'), SERVER);
    expect(tx.state).toBe('Accepted');
    h.clock.advance(500);
    h.layer.receiveResponse(responseTo(req, 200, 'OK', 'b1'), SERVER);
    h.layer.receiveResponse(responseTo(req, 200, 'OK', 'b2'), SERVER); // another fork
    h.layer.receiveResponse(responseTo(req, 180, 'Ringing', 'b3'), SERVER); // late provisional: absorbed
    h.clock.advance(10_000);
    expect(h.sentTimes(isInvite)).toEqual([0]);
    expect(h.sent.filter(isAck)).toHaveLength(0);
    expect(events.map((e) => [e.kind, e.res?.status, e.res?.to().tag])).toEqual([
      ['response', 200, 'b1'],
      ['response', 200, 'b1'],
      ['response', 200, 'b2'],
    ]);
    expect(h.layer.stats.acceptedRetransmissionsToTu).toBe(2);
    h.clock.advance(32_000 - 10_500 - 1);
    expect(tx.state).toBe('Accepted');
    h.clock.advance(1);
    expect(tx.state).toBe('Terminated');
    expect(h.layer.size()).toBe(0);
    // after Timer M a 2xx retransmission is stray: the proxy forwards it statelessly
    h.layer.receiveResponse(responseTo(req, 200, 'OK', 'b1'), SERVER);
    expect(h.layer.stats.strayResponses).toBe(1);
  });

  it('responses match on branch AND CSeq method (§17.1.3)', () => {
    const h = new Harness();
    const events: ClientEvent[] = [];
    const { req } = start(h, events);
    const wrongMethod = responseTo(req, 200, 'OK', 'b1');
    wrongMethod.set('cseq', '1 CANCEL');
    h.layer.receiveResponse(wrongMethod, SERVER);
    const wrongBranch = responseTo(req, 200, 'OK', 'b1');
    wrongBranch.removeTop('via');
    wrongBranch.prepend('via', 'SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bK-other');
    h.layer.receiveResponse(wrongBranch, SERVER);
    expect(events).toEqual([]);
    expect(h.tuEvents.map((e) => e.kind)).toEqual(['stray', 'stray']);
  });

  it('transport error on the first send is reported on the next tick, never inside sendRequest', () => {
    const h = new Harness();
    const events: ClientEvent[] = [];
    h.failSends = true;
    const { tx } = start(h, events);
    expect(events).toEqual([]);
    expect(tx.state).toBe('Terminated');
    expect(h.layer.size()).toBe(0);
    h.clock.advance(0);
    expect(events.map((e) => e.kind)).toEqual(['transport-error', 'terminated']);
    expect(tx.terminationReason).toBe('transport-error');
    expect(h.layer.stats.transportErrors).toBe(1);
  });

  it('transport error on a retransmission terminates; without onTransportError the TU gets onTimeout', () => {
    const h = new Harness();
    const events: ClientEvent[] = [];
    const { tx } = start(h, events, false);
    h.failSends = true;
    h.clock.advance(500);
    expect(tx.state).toBe('Terminated');
    expect(events.map((e) => [e.kind, e.at])).toEqual([
      ['timeout', 500],
      ['terminated', 500],
    ]);
    expect(h.layer.size()).toBe(0);
    expect(h.clock.pending()).toBe(0);
  });

  it('reliable transport: no Timer A, Timer D is zero', () => {
    const h = new Harness({ reliable: true });
    const events: ClientEvent[] = [];
    const { req, tx } = start(h, events);
    h.clock.advance(20_000);
    expect(h.sentTimes(isInvite)).toEqual([0]);
    h.layer.receiveResponse(responseTo(req, 404, 'Not Found', 'b1'), SERVER);
    expect(h.sent.filter(isAck)).toHaveLength(1);
    expect(tx.state).toBe('Terminated');
    expect(events.map((e) => e.kind)).toEqual(['response', 'terminated']);
    expect(h.layer.size()).toBe(0);
  });

  it('sendRequest refuses ACK, a request without branch, and a duplicate branch', () => {
    const h = new Harness();
    const events: ClientEvent[] = [];
    start(h, events);
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return e instanceof TransactionError ? e.code : 'other';
      }
      return 'none';
    };
    const handlers = recordingHandlers(h.clock, events);
    const ack = proxiedInvite();
    ack.method = 'ACK';
    ack.set('cseq', '1 ACK');
    expect(code(() => h.layer.sendRequest(ack, SERVER, handlers))).toBe('ERR_TX_METHOD');
    const noBranch = invite();
    noBranch.remove('via');
    noBranch.append('via', 'SIP/2.0/UDP 203.0.113.1:5060');
    expect(code(() => h.layer.sendRequest(noBranch, SERVER, handlers))).toBe('ERR_TX_NO_VIA');
    expect(code(() => h.layer.sendRequest(proxiedInvite(), SERVER, handlers))).toBe('ERR_TX_DUPLICATE');
    expect(h.layer.size()).toBe(1);
  });
});
