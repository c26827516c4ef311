// INVITE server transaction, RFC 3261 §17.2.1 / Fig. 7 with RFC 6026 Accepted.

import { describe, expect, it } from 'vitest';
import { createResponse, type SipMessage } from '../../../src/sip/message.js';
import { InviteServerTransaction } from '../../../src/sip/transaction/invite-server.js';
import type { ServerTransaction } from '../../../src/sip/transaction/server.js';
import { CLIENT, Harness, ackFor, invite } from './harness.js';

const isStatus = (code: number) => (s: { msg: SipMessage }) => s.msg.status === code;

function receive(h: Harness, req = invite()): { req: SipMessage; tx: ServerTransaction } {
  h.layer.receiveRequest(req, CLIENT);
  const ev = h.requests().at(-1);
  if (!ev?.tx) throw new Error('no server transaction created');
  return { req, tx: ev.tx };
}

describe('INVITE server transaction', () => {
  it('new INVITE → Proceeding and the TU; retransmissions absorbed, the last provisional resent', () => {
    const h = new Harness();
    const { req, tx } = receive(h);
    expect(tx).toBeInstanceOf(InviteServerTransaction);
    expect(tx.state).toBe('Proceeding');
    expect(tx.request).toBe(req);
    expect(tx.source).toEqual({ address: '198.51.100.10', port: 5060 });
    expect(h.layer.stats.serverCreated).toBe(1);

    h.layer.receiveRequest(invite(), CLIENT); // nothing to resend yet
    expect(h.sent).toHaveLength(0);
    expect(tx.respond(createResponse(req, 180, 'Ringing', 'srv1'))).toBe(true);
    h.layer.receiveRequest(invite(), CLIENT);
    h.layer.receiveRequest(invite(), CLIENT);
    expect(h.sent.map((s) => s.msg.status)).toEqual([180, 180, 180]);
    expect(h.sent.every((s) => s.raw === h.sent[0].raw)).toBe(true);
    expect(h.requests()).toHaveLength(1);
    expect(h.layer.stats.requestRetransmissionsAbsorbed).toBe(3);
    expect(h.layer.size()).toBe(1);
  });

  it('non-2xx final → Completed: Timer G doubles to T2, Timer H fails the transaction at 64·T1', () => {
    const h = new Harness();
    const { req, tx } = receive(h);
    h.clock.advance(100);
    tx.respond(createResponse(req, 486, 'Busy Here', 'srv1'));
    expect(tx.state).toBe('Completed');
    h.clock.advance(32_000);
    expect(h.sentTimes(isStatus(486)).map((t) => t - 100)).toEqual([
      0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500,
    ]);
    expect(tx.state).toBe('Terminated');
    expect(tx.terminationReason).toBe('timeout');
    expect(h.tuEvents.filter((e) => e.kind !== 'request').map((e) => [e.kind, e.reason, e.at])).toEqual([
      ['failure', 'timeout', 32_100],
      ['terminated', undefined, 32_100],
    ]);
    expect(h.layer.stats.timeoutsH).toBe(1);
    expect(h.layer.size()).toBe(0);
    expect(h.clock.pending()).toBe(0);
  });

  it('a retransmitted INVITE in Completed gets the final again; a second final from the TU is discarded', () => {
    const h = new Harness();
    const { req, tx } = receive(h);
    tx.respond(createResponse(req, 404, 'Not Found', 'srv1'));
    h.clock.advance(100);
    h.layer.receiveRequest(invite(), CLIENT);
    expect(h.sentTimes(isStatus(404))).toEqual([0, 100]);
    expect(tx.respond(createResponse(req, 500, 'Server Internal Error', 'srv1'))).toBe(false);
    expect(tx.respond(createResponse(req, 200, 'OK', 'srv1'))).toBe(false);
    expect(h.sent.filter((s) => s.msg.status !== 404)).toHaveLength(0);
    expect(tx.lastStatus).toBe(404);
    expect(h.layer.stats.responsesDiscarded).toBe(2);
  });

  it('ACK in Completed → Confirmed: G and H stop, ACK/INVITE repeats absorbed silently, Timer I (T4) cleans up', () => {
    const h = new Harness();
    const { req, tx } = receive(h);
    tx.respond(createResponse(req, 486, 'Busy Here', 'srv1'));
    h.clock.advance(600); // one Timer G retransmission at 500
    h.layer.receiveRequest(ackFor(req, 'srv1'), CLIENT);
    expect(tx.state).toBe('Confirmed');
    expect(h.requests()).toHaveLength(1); // the ACK did not reach the TU
    h.layer.receiveRequest(ackFor(req, 'srv1'), CLIENT);
    h.layer.receiveRequest(invite(), CLIENT);
    h.clock.advance(4999);
    expect(tx.state).toBe('Confirmed');
    expect(h.sentTimes(isStatus(486))).toEqual([0, 500]);
    h.clock.advance(1);
    expect(tx.state).toBe('Terminated');
    expect(tx.terminationReason).toBe('normal');
    expect(h.layer.stats.acksAbsorbed).toBe(2);
    expect(h.layer.size()).toBe(0);
    expect(h.layer.hasCallId(req.callId())).toBe(false);
    expect(h.tuEvents.map((e) => e.kind)).toEqual(['request', 'terminated']);
    expect(h.clock.pending()).toBe(0);
    // a late ACK now matches nothing: the TU gets it with tx = null
    h.layer.receiveRequest(ackFor(req, 'srv1'), CLIENT);
    expect(h.requests().at(-1)?.tx).toBeNull();
  });

  it('2xx → Accepted (RFC 6026): INVITE repeats absorbed without resend, TU 2xx retransmissions sent, ACKs to the TU, Timer L cleans up', () => {
    const h = new Harness();
    const { req, tx } = receive(h);
    tx.respond(createResponse(req, 180, 'Ringing', 'srv1'));
    const ok = createResponse(req, 200, 'OK', 'srv1');
    expect(tx.respond(ok)).toBe(true);
    expect(tx.state).toBe('Accepted');
    h.layer.receiveRequest(invite(), CLIENT);
    expect(h.sent.map((s) => s.msg.status)).toEqual([180, 200]);
    h.clock.advance(500);
    expect(tx.respond(ok)).toBe(true); // the TU (a UAS core, or a proxy forwarding) retransmits
    expect(tx.respond(createResponse(req, 486, 'Busy Here', 'srv1'))).toBe(false);
    expect(tx.respond(createResponse(req, 183, 'Session Progress', 'srv1'))).toBe(false);
    expect(h.sent.map((s) => s.msg.status)).toEqual([180, 200, 200]);

    // ACK for the 2xx carrying the INVITE's branch matches: to the TU, with the transaction
    h.layer.receiveRequest(ackFor(req, 'srv1'), CLIENT);
    // ACK for the 2xx with its own branch (RFC 3261 §17.1.1.3 UAC): to the TU, tx null
    h.layer.receiveRequest(ackFor(req, 'srv1', 'z9hG4bK-ack2xx'), CLIENT);
    const acks = h.requests().filter((e) => e.msg?.method === 'ACK');
    expect(acks.map((e) => e.tx)).toEqual([tx, null]);
    expect(h.layer.stats.acksToTu).toBe(1);
    expect(h.layer.stats.acksStray).toBe(1);
    expect(tx.state).toBe('Accepted');

    h.clock.advance(32_000 - 500 - 1);
    expect(tx.state).toBe('Accepted');
    h.clock.advance(1);
    expect(tx.state).toBe('Terminated');
    expect(tx.terminationReason).toBe('normal');
    expect(h.layer.size()).toBe(0);
    expect(tx.respond(ok)).toBe(false);
    // after Timer L an INVITE retransmission would be a new transaction: that is the RFC 6026 bound
    h.layer.receiveRequest(invite(), CLIENT);
    expect(h.requests().filter((e) => e.msg?.method === 'INVITE')).toHaveLength(2);
  });

  it('sends 100 Trying itself when the TU is silent for 200 ms (§17.2.1), not when it answered', () => {
    const h = new Harness({ autoTryingMs: 200 });
    const first = receive(h, invite('z9hG4bK-a'));
    h.onRequest = (req, tx) => tx?.respond(createResponse(req, 180, 'Ringing', 'x'));
    receive(h, invite('z9hG4bK-b'));
    h.clock.advance(199);
    expect(h.sent.map((s) => s.msg.status)).toEqual([180]);
    h.clock.advance(1);
    expect(h.sent.map((s) => s.msg.status)).toEqual([180, 100]);
    const trying = h.sent[1].msg;
    expect(trying.topVia()?.branch).toBe('z9hG4bK-a');
    expect(trying.to().tag).toBeUndefined();
    expect(first.tx.lastStatus).toBe(100);
    expect(h.layer.stats.autoTrying).toBe(1);
    h.layer.receiveRequest(invite('z9hG4bK-a'), CLIENT);
    expect(h.sent.map((s) => s.msg.status)).toEqual([180, 100, 100]);
  });

  it('transport error on a response terminates the transaction and tells the TU', () => {
    const h = new Harness();
    const { req, tx } = receive(h);
    h.failSends = true;
    expect(tx.respond(createResponse(req, 486, 'Busy Here', 'srv1'))).toBe(false);
    expect(tx.state).toBe('Terminated');
    expect(tx.terminationReason).toBe('transport-error');
    expect(h.tuEvents.filter((e) => e.kind === 'failure').map((e) => e.reason)).toEqual(['transport-error']);
    expect(h.layer.size()).toBe(0);
    expect(h.clock.pending()).toBe(0);
  });

  it('reliable transport: no Timer G, Timer I is zero', () => {
    const h = new Harness({ reliable: true });
    const { req, tx } = receive(h);
    tx.respond(createResponse(req, 486, 'Busy Here', 'srv1'));
    h.clock.advance(10_000);
    expect(h.sent).toHaveLength(1);
    h.layer.receiveRequest(ackFor(req, 'srv1'), CLIENT);
    expect(tx.state).toBe('Terminated');
    expect(h.layer.size()).toBe(0);
  });

  it('the TU may choose where responses go by setting tx.source', () => {
    const h = new Harness();
    const { req, tx } = receive(h);
    tx.source = { address: '127.0.0.1', port: 15060 };
    tx.respond(createResponse(req, 603, 'Decline', 'srv1'));
    h.clock.advance(500);
    expect(h.sent.map((s) => s.dest)).toEqual([
      { address: '127.0.0.1', port: 15060 },
      { address: '127.0.0.1', port: 15060 },
    ]);
  });
});
