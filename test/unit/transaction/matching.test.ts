// Transaction matching: §17.2.3 (branch + sent-by + method, ACK → INVITE, CANCEL apart),
// §9.2 (CANCEL → its INVITE), the RFC 2543 fallback (RFC 4475 §3.4 inv2543), §18.2.2 /
// RFC 3581 response destination.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createResponse, parseMessage, type SipMessage } from '../../../src/sip/message.js';
import { buildCancel } from '../../../src/sip/transaction/hop-requests.js';
import { InviteServerTransaction } from '../../../src/sip/transaction/invite-server.js';
import { responseDestination } from '../../../src/sip/transaction/transport.js';
import { CLIENT, Harness, invite, register, sip } from './harness.js';

const INV2543 = new URL('../../vectors/rfc4475/invalid/inv2543.dat', import.meta.url);

function lastTx(h: Harness) {
  return h.requests().at(-1)?.tx ?? null;
}

function withVia(msg: SipMessage, via: string): SipMessage {
  const m = msg.clone();
  m.remove('via');
  m.prepend('via', via);
  return m;
}

describe('server transaction matching (RFC 3261 §17.2.3)', () => {
  it('same branch but another sent-by, or another method, is another transaction', () => {
    const h = new Harness();
    h.layer.receiveRequest(invite(), CLIENT);
    h.layer.receiveRequest(withVia(invite(), 'SIP/2.0/UDP 198.51.100.11:5060;branch=z9hG4bK-inv1'), CLIENT);
    // sent-by compares host case-insensitively and the default port as 5060
    h.layer.receiveRequest(withVia(invite(), 'SIP/2.0/UDP 198.51.100.10;branch=z9hG4bK-inv1'), CLIENT);
    const opts = invite();
    opts.method = 'OPTIONS';
    opts.set('cseq', '1 OPTIONS');
    h.layer.receiveRequest(opts, CLIENT);
    expect(h.requests().map((e) => e.msg?.method)).toEqual(['INVITE', 'INVITE', 'OPTIONS']);
    expect(h.layer.size()).toBe(3);
    expect(h.layer.stats.requestRetransmissionsAbsorbed).toBe(1);
  });

  it('CANCEL is its own server transaction and findInviteServerTx finds its INVITE (§9.2)', () => {
    const h = new Harness();
    const inv = invite();
    h.layer.receiveRequest(inv, CLIENT);
    const invTx = lastTx(h);
    const cancel = buildCancel(inv);
    h.layer.receiveRequest(cancel, CLIENT);
    const cancelTx = lastTx(h);
    expect(cancelTx).not.toBe(invTx);
    expect(cancelTx?.isInvite).toBe(false);
    expect(cancelTx?.state).toBe('Trying');
    expect(h.layer.findInviteServerTx(cancel)).toBe(invTx);
    expect(h.layer.size()).toBe(2);
    // CANCEL retransmission absorbed by the CANCEL transaction
    h.layer.receiveRequest(buildCancel(inv), CLIENT);
    expect(h.requests()).toHaveLength(2);
    // a CANCEL on another branch or sent-by cancels nothing
    expect(h.layer.findInviteServerTx(withVia(cancel, 'SIP/2.0/UDP 198.51.100.10:5060;branch=z9hG4bK-zzz'))).toBeUndefined();
    expect(h.layer.findInviteServerTx(withVia(cancel, 'SIP/2.0/UDP 198.51.100.99:5060;branch=z9hG4bK-inv1'))).toBeUndefined();
    // a CANCEL for a REGISTER transaction is not an INVITE match
    const reg = register();
    h.layer.receiveRequest(reg, CLIENT);
    expect(h.layer.findInviteServerTx(buildCancel(reg))).toBeUndefined();
    // once the INVITE transaction is gone, nothing matches
    invTx?.terminate();
    expect(h.layer.findInviteServerTx(cancel)).toBeUndefined();
  });

  it('ACK with a non-2xx To tag but a different branch is not absorbed (goes to the TU with tx null)', () => {
    const h = new Harness();
    const inv = invite();
    h.layer.receiveRequest(inv, CLIENT);
    const tx = lastTx(h)!;
    tx.respond(createResponse(inv, 486, 'Busy Here', 't1'));
    const ack = buildCancel(inv); // same shape; make it an ACK on another branch
    ack.method = 'ACK';
    ack.set('cseq', '1 ACK');
    ack.set('to', `${inv.get('to')};tag=t1`);
    h.layer.receiveRequest(withVia(ack, 'SIP/2.0/UDP 198.51.100.10:5060;branch=z9hG4bK-other'), CLIENT);
    expect(tx.state).toBe('Completed');
    expect(lastTx(h)).toBeNull();
  });

  it('requests without a Via are dropped and counted, not passed up', () => {
    const h = new Harness();
    const bad = invite();
    bad.remove('via');
    h.layer.receiveRequest(bad, CLIENT);
    const badAck = bad.clone();
    badAck.method = 'ACK';
    h.layer.receiveRequest(badAck, CLIENT);
    const badRes = createResponse(invite(), 200, 'OK');
    badRes.remove('via');
    h.layer.receiveResponse(badRes, CLIENT);
    expect(h.tuEvents).toHaveLength(0);
    expect(h.layer.stats.malformedDropped).toBe(3);
    expect(h.layer.size()).toBe(0);
  });

  it('hasCallId tracks live server and client transactions', () => {
    const h = new Harness();
    h.layer.receiveRequest(register(), CLIENT);
    expect(h.layer.hasCallId('reg-1@198.51.100.10')).toBe(true);
    expect(h.layer.hasCallId('call-1@198.51.100.10')).toBe(false);
    lastTx(h)!.respond(createResponse(lastTx(h)!.request!, 200, 'OK', 'x'));
    h.clock.advance(32_000);
    expect(h.layer.hasCallId('reg-1@198.51.100.10')).toBe(false);
  });
});

describe('RFC 2543 fallback (no magic cookie)', () => {
  const raw = readFileSync(INV2543);

  it('inv2543: retransmission matched on Request-URI/tags/Call-ID/CSeq/Via; a new CSeq is a new transaction', () => {
    const h = new Harness();
    h.layer.receiveRequest(parseMessage(raw), CLIENT);
    const tx = lastTx(h)!;
    expect(tx).toBeInstanceOf(InviteServerTransaction);
    tx.respond(createResponse(tx.request!, 180, 'Ringing', 'gw1'));
    h.layer.receiveRequest(parseMessage(raw), CLIENT);
    expect(h.requests()).toHaveLength(1);
    expect(h.sent.map((s) => s.msg.status)).toEqual([180, 180]);

    const next = parseMessage(raw);
    next.set('cseq', '57 INVITE');
    h.layer.receiveRequest(next, CLIENT);
    const otherUri = parseMessage(raw);
    otherUri.uri = 'sip:UserC@example.com';
    h.layer.receiveRequest(otherUri, CLIENT);
    const otherVia = withVia(parseMessage(raw), 'SIP/2.0/UDP iftgw2.example.com');
    h.layer.receiveRequest(otherVia, CLIENT);
    const otherToTag = parseMessage(raw);
    otherToTag.set('to', 'sip:+16505552222@ss1.example.net;user=phone;tag=zz');
    h.layer.receiveRequest(otherToTag, CLIENT);
    const otherFromTag = parseMessage(raw);
    otherFromTag.set('from', '<sip:+13035551111@ift.client.example.net;user=phone>;tag=ff');
    h.layer.receiveRequest(otherFromTag, CLIENT);
    const otherCallId = parseMessage(raw);
    otherCallId.set('call-id', 'other@ift.client.example.com');
    h.layer.receiveRequest(otherCallId, CLIENT);
    expect(h.requests()).toHaveLength(7);
    expect(h.layer.size()).toBe(7);
    // default response destination: source address, Via port or 5060
    expect(tx.source).toEqual({ address: CLIENT.address, port: 5060 });
  });

  it('inv2543: the ACK matches when its To tag is the one of the response sent, CANCEL finds the INVITE', () => {
    const h = new Harness();
    const inv = parseMessage(raw);
    h.layer.receiveRequest(inv, CLIENT);
    const tx = lastTx(h)!;

    const cancel = buildCancel(inv);
    expect(h.layer.findInviteServerTx(cancel)).toBe(tx);
    h.layer.receiveRequest(cancel, CLIENT);
    const cancelTx = lastTx(h)!;
    expect(cancelTx).not.toBe(tx); // the CANCEL got its own transaction
    cancelTx.respond(createResponse(cancel, 200, 'OK', 'gw1'));

    tx.respond(createResponse(inv, 487, 'Request Terminated', 'gw1'));
    const ack = (toTag: string) =>
      sip(`
        ACK sip:UserB@example.com SIP/2.0
        Via: SIP/2.0/UDP iftgw.example.com
        From: <sip:+13035551111@ift.client.example.net;user=phone>
        To: sip:+16505552222@ss1.example.net;user=phone;tag=${toTag}
        Call-ID: inv2543.1717@ift.client.example.com
        CSeq: 56 ACK
        Content-Length: 0
      `);
    h.layer.receiveRequest(ack('not-ours'), CLIENT);
    expect(tx.state).toBe('Completed');
    expect(lastTx(h)).toBeNull();
    h.layer.receiveRequest(ack('gw1'), CLIENT);
    expect(tx.state).toBe('Confirmed');
    expect(h.requests().filter((e) => e.msg?.method === 'ACK')).toHaveLength(1);
    h.clock.advance(32_000);
    expect(h.layer.size()).toBe(0);
  });
});

describe('responseDestination (RFC 3261 §18.2.2, RFC 3581)', () => {
  const src = { address: '203.0.113.77', port: 40_000 };
  const at = (via: string) => responseDestination(withVia(register(), via), src);

  it('defaults to the source address and the sent-by port (or 5060)', () => {
    expect(at('SIP/2.0/UDP 198.51.100.10:5080;branch=z9hG4bK-1')).toEqual({ address: '203.0.113.77', port: 5080 });
    expect(at('SIP/2.0/UDP host.example.com;branch=z9hG4bK-1')).toEqual({ address: '203.0.113.77', port: 5060 });
    expect(at('SIP/2.0/TLS host.example.com;branch=z9hG4bK-1')).toEqual({ address: '203.0.113.77', port: 5061 });
  });

  it('received gives the address; rport with a value gives the port; bare rport the source port', () => {
    expect(at('SIP/2.0/UDP h:5080;received=198.51.100.5;branch=z9hG4bK-1')).toEqual({ address: '198.51.100.5', port: 5080 });
    expect(at('SIP/2.0/UDP h:5080;rport=41000;received=198.51.100.5;branch=z9hG4bK-1')).toEqual({
      address: '198.51.100.5',
      port: 41_000,
    });
    expect(at('SIP/2.0/UDP h:5080;rport;branch=z9hG4bK-1')).toEqual({ address: '203.0.113.77', port: 40_000 });
  });

  it('maddr is ignored (no reflection to a spoofed address)', () => {
    expect(at('SIP/2.0/UDP h:5080;maddr=198.51.100.255;branch=z9hG4bK-1')).toEqual({ address: '203.0.113.77', port: 5080 });
  });
});
