/**
 * What the farm answers, byte-level, to requests a UA or an attacker sends: the SIP
 * errors bad input is owed, the registrar's rules, the probe responder, no open relay.
 * A raw UDP socket is the client; the farm runs in-process on loopback.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { startInProcessFarm, type InProcessFarm } from '../../../src/lab/in-process.js';

let farm: InProcessFarm;
let client: dgram.Socket;
let clientPort: number;
const inbox: string[] = [];

beforeAll(async () => {
  farm = await startInProcessFarm([1, 2, 3], { yaml: 'maxMessageSize: 4096' });
  await farm.waitConverged();
  client = dgram.createSocket('udp4');
  await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
  clientPort = client.address().port;
  client.on('message', (m) => inbox.push(m.toString('latin1')));
});
afterAll(async () => {
  client?.close();
  await farm?.stop();
});

function msg(lines: string[], body = ''): string {
  return `${lines.join('\r\n')}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

function request(method: string, uri: string, extra: string[] = [], opts: { callId?: string; mf?: string; to?: string; cseqMethod?: string } = {}): string {
  const callId = opts.callId ?? randomBytes(8).toString('hex');
  return msg([
    `${method} ${uri} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${clientPort};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
    `Max-Forwards: ${opts.mf ?? '70'}`,
    `From: <sip:alice@127.0.0.1>;tag=${randomBytes(4).toString('hex')}`,
    `To: ${opts.to ?? '<sip:bob@127.0.0.1>'}`,
    `Call-ID: ${callId}`,
    `CSeq: 1 ${opts.cseqMethod ?? method}`,
    ...extra,
  ]);
}

/**
 * Sends and returns the first final response for this request's Call-ID. (INVITE error
 * responses are retransmitted until ACKed — Timer G — so earlier tests' responses keep
 * arriving; they are told apart by Call-ID.) Without a Call-ID in the request, any
 * response that is not for an earlier request counts.
 */
const sentCallIds = new Set<string>();
const callIdOf = (m: string): string | undefined => /\r\n(?:Call-ID|i)\s*:\s*([^\r]+)/i.exec(m)?.[1];

async function exchange(text: string | Buffer, timeoutMs = 1500): Promise<string | undefined> {
  inbox.length = 0;
  const buf = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
  const callId = callIdOf(buf.toString('latin1'));
  if (callId !== undefined) sentCallIds.add(callId);
  client.send(buf, farm.vip.port, farm.vip.host);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const final = inbox.find((m) => {
      if (/^SIP\/2\.0 1\d\d /.test(m)) return false;
      const id = callIdOf(m);
      return callId !== undefined ? id === callId : id === undefined || !sentCallIds.has(id);
    });
    if (final) return final;
    await new Promise((r) => setTimeout(r, 10));
  }
  return undefined;
}

const statusOf = (m: string | undefined): number => (m ? Number(m.split(' ')[1]) : 0);

describe('slow path answers', () => {
  it('OPTIONS to the farm host answers 200 with Allow', async () => {
    const r = await exchange(request('OPTIONS', 'sip:127.0.0.1', [], { mf: '0' }));
    expect(statusOf(r)).toBe(200);
    expect(r).toMatch(/\r\nAllow: [^\r]*INVITE/i);
    expect(r).toMatch(/\r\nTo: <sip:bob@127.0.0.1>;tag=\w+/);
  });

  it('Max-Forwards 0 on a request to forward → 483', async () => {
    expect(statusOf(await exchange(request('INVITE', 'sip:bob@127.0.0.1', [], { mf: '0' })))).toBe(483);
  });

  it('unknown user of our domain → 404', async () => {
    expect(statusOf(await exchange(request('INVITE', 'sip:nobody@127.0.0.1')))).toBe(404);
  });

  it('request for a domain the farm does not serve → 403 (never an open relay)', async () => {
    const r = await exchange(request('INVITE', 'sip:bob@198.51.100.77', [], { to: '<sip:bob@198.51.100.77>' }));
    expect(statusOf(r)).toBe(403);
  });

  it('pre-loaded Route through a foreign proxy → 403', async () => {
    expect(statusOf(await exchange(request('MESSAGE', 'sip:bob@127.0.0.1', ['Route: <sip:198.51.100.77;lr>'])))).toBe(403);
  });

  it('Proxy-Require with an unknown extension → 420 with Unsupported', async () => {
    const r = await exchange(request('INVITE', 'sip:bob@127.0.0.1', ['Proxy-Require: foo']));
    expect(statusOf(r)).toBe(420);
    expect(r).toMatch(/\r\nUnsupported: foo/i);
  });

  it('unsupported URI scheme → 416', async () => {
    expect(statusOf(await exchange(request('INVITE', 'tel:+15550100')))).toBe(416);
  });

  it('missing Call-ID → 400 with a reason phrase, built from the raw lines', async () => {
    const text = msg([
      'INVITE sip:bob@127.0.0.1 SIP/2.0',
      `Via: SIP/2.0/UDP 127.0.0.1:${clientPort};branch=z9hG4bKnocallid`,
      'Max-Forwards: 70',
      'From: <sip:alice@127.0.0.1>;tag=1',
      'To: <sip:bob@127.0.0.1>',
      'CSeq: 1 INVITE',
    ]);
    const r = await exchange(text);
    expect(statusOf(r)).toBe(400);
    expect(r!.split('\r\n')[0]).toMatch(/^SIP\/2\.0 400 \S.*/);
    expect(r).toContain('branch=z9hG4bKnocallid');
  });

  it('CSeq method mismatch → 400', async () => {
    expect(statusOf(await exchange(request('INVITE', 'sip:bob@127.0.0.1', [], { cseqMethod: 'ACK' })))).toBe(400);
  });

  it('wrong SIP version → 505', async () => {
    const t = request('OPTIONS', 'sip:bob@127.0.0.1').replace('SIP/2.0\r\n', 'SIP/7.0\r\n');
    expect(statusOf(await exchange(t))).toBe(505);
  });

  it('garbage is dropped silently and the member keeps working', async () => {
    expect(await exchange(randomBytes(300), 300)).toBeUndefined();
    expect(await exchange(Buffer.from('INVITE\r\n\r\n'), 300)).toBeUndefined();
    expect(statusOf(await exchange(request('OPTIONS', 'sip:127.0.0.1')))).toBe(200);
  });

  it('a request over maxMessageSize → 513', async () => {
    const r = await exchange(request('MESSAGE', 'sip:bob@127.0.0.1', [`X-Pad: ${'x'.repeat(5000)}`]));
    expect(statusOf(r)).toBe(513);
  });

  it('CANCEL for no transaction → 481', async () => {
    expect(statusOf(await exchange(request('CANCEL', 'sip:bob@127.0.0.1')))).toBe(481);
  });
});

describe('registrar', () => {
  const aorTo = (u: string): string => `<sip:${u}@127.0.0.1>`;

  it('registers, lists the binding with its expiry, and the AoR becomes reachable', async () => {
    const user = `r${randomBytes(4).toString('hex')}`;
    const r = await exchange(request('REGISTER', 'sip:127.0.0.1', [`Contact: <sip:${user}@127.0.0.1:5999>`, 'Expires: 600'], { to: aorTo(user) }));
    expect(statusOf(r)).toBe(200);
    expect(r).toMatch(new RegExp(`Contact: <sip:${user}@127.0.0.1:5999>;expires=(600|599)`));
    // Query from any member: an OPTIONS to the AoR is forwarded to the contact (nobody
    // listens there, so the transaction times out — here we only need the lookup).
    const total = [...farm.members.values()].reduce((n, m) => n + m.location.counters.lookupMisses, 0);
    inbox.length = 0;
    const reply = await exchange(request('MESSAGE', `sip:${user}@127.0.0.1`), 300);
    expect(statusOf(reply)).not.toBe(404);
    // The REGISTER's Via asked for rport (RFC 3581): the UA is reached where the REGISTER
    // came from — this very socket — not at its (unreachable) Contact.
    const forwarded = inbox.find((m) => m.startsWith(`MESSAGE sip:${user}@127.0.0.1:5999 SIP/2.0`));
    expect(forwarded, inbox.join('\n---\n')).toBeDefined();
    expect(forwarded).toMatch(/\r\nVia: SIP\/2\.0\/UDP 127\.0\.0\.1:\d+;branch=z9hG4bK-sf\d-/);
    expect(forwarded).toMatch(/\r\nMax-Forwards: 69\r\n/);
    expect([...farm.members.values()].reduce((n, m) => n + m.location.counters.lookupMisses, 0)).toBe(total);
  });

  it('too short an interval → 423 with Min-Expires', async () => {
    const r = await exchange(request('REGISTER', 'sip:127.0.0.1', ['Contact: <sip:x@127.0.0.1:5998>', 'Expires: 5'], { to: aorTo('short') }));
    expect(statusOf(r)).toBe(423);
    expect(r).toMatch(/\r\nMin-Expires: \d+/i);
  });

  it('wildcard removes all bindings; wildcard without Expires: 0 → 400', async () => {
    const user = `w${randomBytes(4).toString('hex')}`;
    const callId = randomBytes(8).toString('hex');
    expect(statusOf(await exchange(request('REGISTER', 'sip:127.0.0.1', [`Contact: <sip:${user}@127.0.0.1:5997>`], { to: aorTo(user), callId })))).toBe(200);
    expect(statusOf(await exchange(request('REGISTER', 'sip:127.0.0.1', ['Contact: *'], { to: aorTo(user) })))).toBe(400);
    const text = request('REGISTER', 'sip:127.0.0.1', ['Contact: *', 'Expires: 0'], { to: aorTo(user) }).replace('CSeq: 1 ', 'CSeq: 2 ');
    const r = await exchange(text);
    expect(statusOf(r)).toBe(200);
    expect(r).not.toMatch(/\r\nContact:/i);
    expect(statusOf(await exchange(request('INVITE', `sip:${user}@127.0.0.1`)))).toBe(404);
  });

  it('REGISTER for a foreign domain → 403', async () => {
    expect(statusOf(await exchange(request('REGISTER', 'sip:198.51.100.77', ['Contact: <sip:x@127.0.0.1:5996>'], { to: '<sip:x@198.51.100.77>' })))).toBe(403);
  });
});

describe('health probes', () => {
  it('a draining member answers its probe 503', async () => {
    const m = farm.members.get(1)!;
    m.setDraining(true);
    try {
      // Probes are answered by the member that received them: pin the LB to member 1.
      const saved = farm.lbSet;
      farm.lbSet = [1];
      const r = await exchange(request('OPTIONS', 'sip:127.0.0.1', [], { mf: '1' }));
      farm.lbSet = saved;
      expect(statusOf(r)).toBe(503);
      expect(r).toMatch(/\r\nRetry-After: \d+/i);
    } finally {
      m.setDraining(false);
    }
  });
});
