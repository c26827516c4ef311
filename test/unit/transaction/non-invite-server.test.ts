// Non-INVITE server transaction, RFC 3261 §17.2.2 / Fig. 8.

import { describe, expect, it } from 'vitest';
import { createResponse } from '../../../src/sip/message.js';
import { NonInviteServerTransaction } from '../../../src/sip/transaction/non-invite-server.js';
import type { ServerTransaction } from '../../../src/sip/transaction/server.js';
import { CLIENT, Harness, register } from './harness.js';

function receive(h: Harness): ServerTransaction {
  h.layer.receiveRequest(register(), CLIENT);
  const tx = h.requests().at(-1)?.tx;
  if (!tx) throw new Error('no server transaction created');
  return tx;
}

describe('non-INVITE server transaction', () => {
  it('Trying: retransmissions are absorbed and nothing is sent', () => {
    const h = new Harness({ autoTryingMs: 200 });
    const tx = receive(h);
    expect(tx).toBeInstanceOf(NonInviteServerTransaction);
    expect(tx.state).toBe('Trying');
    h.layer.receiveRequest(register(), CLIENT);
    h.clock.advance(1000);
    h.layer.receiveRequest(register(), CLIENT);
    expect(h.sent).toHaveLength(0); // no 100 Trying for non-INVITE either (RFC 4320 §4.1)
    expect(h.requests()).toHaveLength(1);
    expect(h.layer.stats.requestRetransmissionsAbsorbed).toBe(2);
  });

  it('Proceeding resends the last provisional; Completed resends the final and discards later finals; Timer J cleans up', () => {
    const h = new Harness();
    const tx = receive(h);
    const req = tx.request!;
    expect(tx.respond(createResponse(req, 100, 'Trying'))).toBe(true);
    expect(tx.state).toBe('Proceeding');
    h.layer.receiveRequest(register(), CLIENT);
    expect(h.sent.map((s) => s.msg.status)).toEqual([100, 100]);

    h.clock.advance(1000);
    expect(tx.respond(createResponse(req, 200, 'OK', 'reg1'))).toBe(true);
    expect(tx.state).toBe('Completed');
    expect(tx.respond(createResponse(req, 500, 'Server Internal Error', 'reg1'))).toBe(false);
    expect(tx.respond(createResponse(req, 180, 'Ringing', 'reg1'))).toBe(false);
    h.clock.advance(10_000);
    h.layer.receiveRequest(register(), CLIENT);
    expect(h.sent.map((s) => [s.msg.status, s.at])).toEqual([
      [100, 0],
      [100, 0],
      [200, 1000],
      [200, 11_000],
    ]);
    expect(h.sent.every((s) => s.dest.address === CLIENT.address && s.dest.port === CLIENT.port)).toBe(true);
    // no retransmission of its own: non-INVITE responses are only resent on request
    h.clock.advance(32_000 - 10_000 - 1);
    expect(tx.state).toBe('Completed');
    expect(h.sent).toHaveLength(4);
    h.clock.advance(1);
    expect(tx.state).toBe('Terminated');
    expect(tx.terminationReason).toBe('normal');
    expect(h.layer.size()).toBe(0);
    expect(h.layer.hasCallId(req.callId())).toBe(false);
    expect(h.clock.pending()).toBe(0);
    // after Timer J the same request is new again
    h.layer.receiveRequest(register(), CLIENT);
    expect(h.requests()).toHaveLength(2);
    expect(h.layer.stats.serverCreated).toBe(2);
  });

  it('reliable transport: Timer J is zero', () => {
    const h = new Harness({ reliable: true });
    const tx = receive(h);
    tx.respond(createResponse(tx.request!, 200, 'OK', 'reg1'));
    expect(tx.state).toBe('Terminated');
    expect(h.layer.size()).toBe(0);
    expect(h.tuEvents.map((e) => e.kind)).toEqual(['request', 'terminated']);
  });

  it('the TU may terminate a server transaction; shutdown() clears everything silently', () => {
    const h = new Harness();
    const tx = receive(h);
    tx.terminate();
    expect(tx.terminationReason).toBe('terminated-by-tu');
    expect(h.layer.size()).toBe(0);
    const tx2 = receive(h);
    tx2.respond(createResponse(tx2.request!, 200, 'OK', 'reg1'));
    expect(h.clock.pending()).toBe(1);
    h.layer.shutdown();
    expect(tx2.terminationReason).toBe('shutdown');
    expect(h.layer.size()).toBe(0);
    expect(h.clock.pending()).toBe(0);
  });
});
