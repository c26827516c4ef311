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
import { MaglevRing } from '../../../src/farm/ring.js';

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

async function waitFor(inbox: string[], pred: (m: string) => boolean, ms = 5000): Promise<string> {
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

/** Registers a callee, places an INVITE and lets it ring; returns what a CANCEL needs. */
async function ringingCall(farm: InProcessFarm, user: string): Promise<{ callId: string; owner: number; cancel: () => void }> {
  toCaller.length = 0;
  toCallee.length = 0;
  const send = (s: dgram.Socket, text: string): void => {
    s.send(Buffer.from(text, 'latin1'), farm.vip.port, farm.vip.host);
  };
  const calleePort = callee.address().port;
  const callerPort = caller.address().port;
  send(callee, [
    'REGISTER sip:127.0.0.1 SIP/2.0', `Via: SIP/2.0/UDP 127.0.0.1:${calleePort};branch=z9hG4bK${randomBytes(4).toString('hex')}`, 'Max-Forwards: 70',
    `From: <sip:${user}@127.0.0.1>;tag=r1`, `To: <sip:${user}@127.0.0.1>`, `Call-ID: reg-${randomBytes(4).toString('hex')}`, 'CSeq: 1 REGISTER',
    `Contact: <sip:${user}@127.0.0.1:${calleePort}>`, 'Content-Length: 0', '', '',
  ].join('\r\n'));
  await waitFor(toCallee, (m) => m.startsWith('SIP/2.0 200'));

  const callId = `sc-${randomBytes(6).toString('hex')}`;
  const owner = [...farm.members.values()][0].membership.ring.lookup(callIdHashString(callId));
  // CANCEL carries the INVITE's branch (RFC 3261 §9.1); each call has its own.
  const branch = `z9hG4bK${randomBytes(6).toString('hex')}`;
  const head = (method: string): string[] => [
    `${method} sip:${user}@127.0.0.1 SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${callerPort};branch=${branch}`, 'Max-Forwards: 70',
    'From: <sip:caller@127.0.0.1>;tag=c1', `To: <sip:${user}@127.0.0.1>`, `Call-ID: ${callId}`, `CSeq: 1 ${method}`,
  ];
  send(caller, [...head('INVITE'), 'Content-Length: 0', '', ''].join('\r\n'));
  const invite = await waitFor(toCallee, (m) => m.startsWith('INVITE ') && m.includes(callId));
  // The callee rings: 180 back through the farm (to whichever member the LB picks).
  const vias = invite.split('\r\n').filter((l) => /^Via:/i.test(l));
  const ringing = ['SIP/2.0 180 Ringing', ...vias, 'From: <sip:caller@127.0.0.1>;tag=c1', `To: <sip:${user}@127.0.0.1>;tag=e1`, `Call-ID: ${callId}`, 'CSeq: 1 INVITE', 'Content-Length: 0', '', ''].join('\r\n');
  send(callee, ringing);
  await waitFor(toCaller, (m) => m.startsWith('SIP/2.0 180') && m.includes(callId));
  return { callId, owner, cancel: () => send(caller, [...head('CANCEL'), 'Content-Length: 0', '', ''].join('\r\n')) };
}

async function expectCancelled(farm: InProcessFarm, callId: string): Promise<void> {
  const ok = await waitFor(toCaller, (m) => /^SIP\/2\.0 \d{3}/.test(m) && m.includes('CSeq: 1 CANCEL') && m.includes(callId));
  expect(ok.startsWith('SIP/2.0 200'), ok).toBe(true);
  await waitFor(toCallee, (m) => m.startsWith('CANCEL ') && m.includes(callId));
  const sc = [...farm.members.values()].reduce((n, m) => n + (m.outcomes.getByValue('second_chance') ?? 0), 0);
  expect(sc).toBeGreaterThan(0);
}

it('a CANCEL after the INVITE owner started draining reaches the owner and cancels the call', async () => {
  const { callId, owner, cancel } = await ringingCall(farm, 'sc');

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
  cancel();
  await expectCancelled(farm, callId);
  farm.lbSet = [1, 2, 3];
  farm.members.get(owner)!.setDraining(false);
});

it('a member joining a running farm sends moved keys to their old owner first', async () => {
  const f = await startInProcessFarm([1, 2, 3], { later: [3], yaml: 'graceMs: 30000' });
  try {
    await f.waitConverged();
    // Find a call the running farm [1, 2] owns but the joined farm [1, 2, 3] gives to 3.
    let call;
    for (let i = 0; i < 40; i++) {
      call = await ringingCall(f, `j${i}`);
      if (MaglevRing.build([1, 2, 3]).lookup(callIdHashString(call.callId)) === 3) break;
    }
    expect(MaglevRing.build([1, 2, 3]).lookup(callIdHashString(call!.callId))).toBe(3);
    await f.join(3);
    await f.waitConverged();
    // The CANCEL reaches the newcomer, which has never seen the INVITE.
    f.lbSet = [3];
    call!.cancel();
    await expectCancelled(f, call!.callId);
  } finally {
    await f.stop();
  }
});
