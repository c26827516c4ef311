/**
 * The slow path's fast paths must not change what it does:
 *  - parseMessage (ASCII index scan with byte spans) against parseGeneral (the general
 *    decoder it falls back to), on the RFC 4475 messages and seeded mutations of them:
 *    same message, or the same error (code, status, reason);
 *  - toBuffer() copying unchanged lines from the datagram against printing every line,
 *    after the edits a proxy makes (prepend Via/Record-Route, Max-Forwards, Request-URI,
 *    top Route or Via removed, in-place value change), and on clones;
 *  - parse results kept on the message follow the header text when it changes.
 */
import { describe, expect, it } from 'vitest';
import { corpus, rng } from './corpus.js';
import { SipMessage, parseGeneral, parseMessage } from '../../../src/sip/message.js';

const INSERTS = ['\r', '\n', '\r\n', '\r\n ', '\r\n\t', ' ', '\t', ',', ';', '"', '<', '>', ':', '=', '\\', '%', '\r\n\r\n', 'Via: SIP/2.0/UDP h;branch=z9hG4bKx\r\n'];

function mutate(src: Buffer, rand: () => number): Buffer {
  let b = Buffer.from(src);
  const n = 1 + Math.floor(rand() * 3);
  for (let k = 0; k < n; k++) {
    const at = Math.floor(rand() * b.length);
    const r = rand();
    if (r < 0.5) b = Buffer.concat([b.subarray(0, at), Buffer.from(INSERTS[Math.floor(rand() * INSERTS.length)], 'latin1'), b.subarray(at)]);
    else if (r < 0.8) b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + Math.floor(rand() * 4)))]);
    else b[at] = 0x20 + Math.floor(rand() * 0x5f);
  }
  return b;
}

type Outcome = { ok: true; msg: SipMessage } | { ok: false; code: string; status: number; reason: string };

function outcome(f: () => SipMessage): Outcome {
  try {
    return { ok: true, msg: f() };
  } catch (e) {
    const x = e as { code: string; status: number; reason: string };
    return { ok: false, code: x.code, status: x.status, reason: x.reason };
  }
}

function same(buf: Buffer): void {
  const a = outcome(() => parseMessage(buf));
  const b = outcome(() => parseGeneral(buf, false));
  expect(a.ok).toBe(b.ok);
  if (!a.ok || !b.ok) {
    expect(a).toEqual(b);
    return;
  }
  const [x, y] = [a.msg, b.msg];
  expect([x.kind, x.method, x.uri, x.status, x.reason, x.version]).toEqual([y.kind, y.method, y.uri, y.status, y.reason, y.version]);
  expect(x.headers).toEqual(y.headers);
  expect(x.body.equals(y.body)).toBe(true);
  expect(x.toBuffer().equals(y.toBuffer())).toBe(true);
}

/** The same message without the datagram behind it: every line printed. */
function printed(m: SipMessage): Buffer {
  const c = m.kind === 'request' ? SipMessage.request(m.method, m.uri, m.headers.map((h) => ({ ...h })), m.body) : SipMessage.response(m.status, m.reason, m.headers.map((h) => ({ ...h })), m.body);
  c.version = m.version;
  return c.toBuffer();
}

describe('ASCII fast parse = general parse', () => {
  it('on every RFC 4475 message', () => {
    for (const b of corpus) same(b);
  });
  it('on 3000 seeded mutations', () => {
    const rand = rng(4475);
    for (let i = 0; i < 3000; i++) same(mutate(corpus[i % corpus.length], rand));
  });
});

const INVITE = [
  'INVITE sip:bob@example.com SIP/2.0',
  'Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-abc;rport',
  'Max-Forwards: 70',
  'Route: <sip:203.0.113.1;lr;sf=1>, <sip:203.0.113.9;lr>',
  'From: "A" <sip:alice@example.com>;tag=1',
  'To: <sip:bob@example.com>',
  'i: call-1@198.51.100.7',
  'CSeq:  1 INVITE',
  'Contact: <sip:alice@198.51.100.7>',
  'Subject: folded',
  '  continued',
  'Content-Type: application/sdp',
  'Content-Length: 4',
  '',
  'v=0\n',
].join('\r\n');

describe('toBuffer from the datagram = toBuffer printed', () => {
  const edits: [string, (m: SipMessage) => void][] = [
    ['none', () => undefined],
    ['proxy forward', (m) => {
      m.uri = 'sip:bob@203.0.113.20:5070';
      m.set('max-forwards', '69');
      m.prepend('record-route', '<sip:203.0.113.1;lr;sf=1>');
      m.prepend('via', 'SIP/2.0/UDP 203.0.113.1;branch=z9hG4bK-sf1-x');
    }],
    ['top Route removed', (m) => void m.removeTop('route')],
    ['all Routes removed, header appended', (m) => { m.remove('route'); m.append('x-new', 'v'); }],
    ['value changed in place', (m) => { m.headers[1].value = 'SIP/2.0/UDP other;branch=z9hG4bKother'; }],
    ['name changed in place', (m) => { m.headers[2].name = 'x-max'; }],
    ['header object replaced', (m) => { m.headers[4] = { name: 'from', value: m.headers[4].value }; }],
    ['body replaced', (m) => { m.body = Buffer.from('longer body'); }],
  ];
  for (const [what, edit] of edits) {
    it(`after edit: ${what} (and on a clone)`, () => {
      const m = parseMessage(Buffer.from(INVITE, 'latin1'));
      const c = m.clone();
      edit(m);
      edit(c);
      const expected = printed(m);
      expect(m.toBuffer().toString('latin1')).toBe(expected.toString('latin1'));
      expect(c.toBuffer().toString('latin1')).toBe(expected.toString('latin1'));
      // a second serialization prints the same bytes
      expect(m.toBuffer().equals(expected)).toBe(true);
    });
  }
  it('a response with its top Via removed', () => {
    const res = parseMessage(Buffer.from('SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP b;branch=z9hG4bK2\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n', 'latin1'));
    const up = res.clone();
    up.removeTop('via');
    expect(up.toBuffer().toString('latin1')).toBe(printed(up).toString('latin1'));
    expect(up.toBuffer().toString('latin1')).toContain('\r\nVia: SIP/2.0/UDP b;branch=z9hG4bK2\r\nFrom:');
  });
});

describe('parse results kept on the message', () => {
  it('follow the header text', () => {
    const m = parseMessage(Buffer.from(INVITE, 'latin1'));
    expect(m.topVia()?.branch).toBe('z9hG4bK-abc');
    expect(m.topVia()).toBe(m.topVia());
    m.prepend('via', 'SIP/2.0/UDP 203.0.113.1;branch=z9hG4bK-new');
    expect(m.topVia()?.branch).toBe('z9hG4bK-new');
    expect(m.to().tag).toBeUndefined();
    m.set('to', '<sip:bob@example.com>;tag=9');
    expect(m.to().tag).toBe('9');
    m.headers.find((h) => h.name === 'from')!.value = '<sip:carol@example.com>;tag=7';
    expect(m.from().uri.user).toBe('carol');
    expect(m.cseq()).toEqual({ seq: 1, method: 'INVITE' });
    m.set('cseq', '2 INVITE');
    expect(m.cseq().seq).toBe(2);
    expect(m.requestUri().user).toBe('bob');
    m.uri = 'sip:dave@example.com';
    expect(m.requestUri().user).toBe('dave');
  });
});
