/**
 * DESIGN "Second chance": after a ring change, a request whose key moved reaches the
 * previous owner first; the previous owner keeps it when it still holds the transaction.
 * Without it, the CANCEL below would reach the new owner, which knows nothing of the
 * INVITE, and be answered 481.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { startInProcessFarm, type InProcessFarm } from '../../../src/lab/in-process.js';
import { callIdHashString } from '../../../src/farm/keys.js';

let farm: InProcessFarm;
let caller: dgram.Socket;
let callee: dgram.Socket;
const toCaller: string[] = [];
const toCallee: string[] = [];

async function bound(inbox: string[]): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  s.on('message', (m) => inbox.push(m.toString('latin1')));
  return s;
}

async function waitFor(inbox: string[], pred: (m: string) => boolean, ms = 2000): Promise<string> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const m = inbox.find(pred);
    if (m) return m;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out; got:\n${inbox.join('\n---\n')}`);
}

beforeAll(async () => {
  farm = await startInProcessFarm([1, 2, 3], { yaml: 'graceMs: 30000' });
  await farm.waitConverged();
  caller = await bound(toCaller);
  callee = await bound(toCallee);
});
afterAll(async () => {
  caller?.close();
  callee?.close();
  await farm?.stop();
});

it('a CANCEL after the INVITE owner started draining reaches the owner and cancels the call', async () => {
  const send = (s: dgram.Socket, text: string): void => {
    s.send(Buffer.from(text, 'latin1'), farm.vip.port, farm.vip.host);
  };
  const calleePort = callee.address().port;
  const callerPort = caller.address().port;
  send(callee, [
    'REGISTER sip:127.0.0.1 SIP/2.0', `Via: SIP/2.0/UDP 127.0.0.1:${calleePort};branch=z9hG4bKreg1`, 'Max-Forwards: 70',
    'From: <sip:sc@127.0.0.1>;tag=r1', 'To: <sip:sc@127.0.0.1>', `Call-ID: reg-${randomBytes(4).toString('hex')}`, 'CSeq: 1 REGISTER',
    `Contact: <sip:sc@127.0.0.1:${calleePort}>`, 'Content-Length: 0', '', '',
  ].join('\r\n'));
  await waitFor(toCallee, (m) => m.startsWith('SIP/2.0 200'));

  const callId = `sc-${randomBytes(6).toString('hex')}`;
  const owner = farm.members.get(1)!.membership.ring.lookup(callIdHashString(callId));
  const head = (method: string): string[] => [
    `${method} sip:sc@127.0.0.1 SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${callerPort};branch=z9hG4bKinv1`, 'Max-Forwards: 70',
    'From: <sip:caller@127.0.0.1>;tag=c1', 'To: <sip:sc@127.0.0.1>', `Call-ID: ${callId}`, `CSeq: 1 ${method}`,
  ];
  send(caller, [...head('INVITE'), 'Content-Length: 0', '', ''].join('\r\n'));
  const invite = await waitFor(toCallee, (m) => m.startsWith('INVITE '));
  // The callee rings: 180 back through the farm (to whichever member the LB picks).
  const vias = invite.split('\r\n').filter((l) => /^Via:/i.test(l));
  const ringing = ['SIP/2.0 180 Ringing', ...vias, 'From: <sip:caller@127.0.0.1>;tag=c1', 'To: <sip:sc@127.0.0.1>;tag=e1', `Call-ID: ${callId}`, 'CSeq: 1 INVITE', 'Content-Length: 0', '', ''].join('\r\n');
  send(callee, ringing);
  await waitFor(toCaller, (m) => m.startsWith('SIP/2.0 180'));

  // The owner drains: the others drop it from their ring, keys move, grace starts.
  farm.members.get(owner)!.setDraining(true);
  const deadline = Date.now() + 2000;
  while ([...farm.members].some(([id, m]) => id !== owner && m.membership.ring.members.includes(owner))) {
    if (Date.now() > deadline) throw new Error('ring did not change');
    await new Promise((r) => setTimeout(r, 20));
  }
  const newOwner = farm.members.get(owner === 1 ? 2 : 1)!.membership.ring.lookup(callIdHashString(callId));
  expect(newOwner).not.toBe(owner);

  // The CANCEL arrives at a member that is not the previous owner.
  farm.lbSet = [newOwner];
  send(caller, [...head('CANCEL'), 'Content-Length: 0', '', ''].join('\r\n'));
  const ok = await waitFor(toCaller, (m) => /^SIP\/2\.0 \d{3}/.test(m) && m.includes('CSeq: 1 CANCEL'));
  expect(ok.startsWith('SIP/2.0 200'), ok).toBe(true);
  await waitFor(toCallee, (m) => m.startsWith('CANCEL '));
  const sc = [...farm.members.values()].reduce((n, m) => n + (m.outcomes.getByValue('second_chance') ?? 0), 0);
  expect(sc).toBeGreaterThan(0);
  farm.lbSet = [1, 2, 3];
  farm.members.get(owner)!.setDraining(false);
});
