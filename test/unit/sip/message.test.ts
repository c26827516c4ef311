import { describe, expect, it } from 'vitest';
import { SipParseError } from '../../../src/sip/errors.js';
import { SipMessage, createResponse, parseMessage, reasonPhrase } from '../../../src/sip/message.js';

const CRLF = '\r\n';
const wire = (lines: string[], body = ''): Buffer => Buffer.from(lines.join(CRLF) + CRLF + CRLF + body, 'utf8');

const INVITE_LINES = [
  'INVITE sip:bob@biloxi.example.com SIP/2.0',
  'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds, SIP/2.0/TCP p0.example.com;branch=z9hG4bKp0',
  'v: SIP/2.0/UDP origin.example.com;branch=z9hG4bKorig;received=198.51.100.7',
  'Max-Forwards: 70',
  'To: Bob <sip:bob@biloxi.example.com>',
  'f: "Alice, A." <sip:alice@atlanta.example.com>;tag=1928301774',
  'i: a84b4c76e66710@pc33.atlanta.example.com',
  'CSeq: 314159 INVITE',
  'Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>',
  'Contact: <sip:alice@pc33.atlanta.example.com>',
  'X-Custom: one, two',
  'c: application/sdp',
  'l: 5',
];
const inviteBuf = () => wire(INVITE_LINES, 'v=0\r\n');

function parseError(fn: () => unknown): SipParseError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SipParseError);
    return e as SipParseError;
  }
  throw new Error('did not throw');
}

describe('parseMessage', () => {
  it('builds the model: canonical names, one entry per line', () => {
    const m = parseMessage(inviteBuf());
    expect(m.kind).toBe('request');
    expect(m.method).toBe('INVITE');
    expect(m.uri).toBe('sip:bob@biloxi.example.com');
    expect(m.version).toBe('SIP/2.0');
    expect(m.headers.map((h) => h.name)).toEqual([
      'via', 'via', 'max-forwards', 'to', 'from', 'call-id', 'cseq', 'route', 'contact', 'x-custom', 'content-type', 'content-length',
    ]);
    expect(m.get('I')).toBe('a84b4c76e66710@pc33.atlanta.example.com');
    expect(m.get('call-ID')).toBe(m.callId());
    expect(m.get('via')).toBe('SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds, SIP/2.0/TCP p0.example.com;branch=z9hG4bKp0');
    expect(m.getAll('v')).toHaveLength(3);
    expect(m.getAll('route')).toEqual(['<sip:p1.example.com;lr>', '<sip:p2.example.com;lr>']);
    // not a known list header: returned whole
    expect(m.getAll('x-custom')).toEqual(['one, two']);
    expect(m.has('CONTENT-TYPE')).toBe(true);
    expect(m.has('subject')).toBe(false);
    expect(m.body.toString()).toBe('v=0\r\n');
  });

  it('convenience accessors', () => {
    const m = parseMessage(inviteBuf());
    expect(m.cseq()).toEqual({ seq: 314159, method: 'INVITE' });
    expect(m.maxForwards()).toBe(70);
    const top = m.topVia()!;
    expect(top).toMatchObject({ protocol: 'SIP/2.0', transport: 'UDP', host: 'pc33.atlanta.example.com', branch: 'z9hG4bK776asdhds' });
    expect(m.from()).toMatchObject({ display: 'Alice, A.', tag: '1928301774' });
    expect(m.from().uri.user).toBe('alice');
    expect(m.to().tag).toBeUndefined();
    expect(m.to().display).toBe('Bob');
  });

  it('round-trips: parse → toBuffer → parse gives the same model', () => {
    const m = parseMessage(inviteBuf());
    const out = m.toBuffer();
    expect(out.toString()).toContain('\r\nCall-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n');
    expect(out.toString()).toContain('\r\nCSeq: 314159 INVITE\r\n');
    expect(out.toString()).toContain('\r\nContent-Length: 5\r\n\r\nv=0\r\n');
    const again = parseMessage(out);
    expect(again.headers).toEqual(m.headers);
    expect(again.body.equals(m.body)).toBe(true);
    expect(again.toBuffer().equals(out)).toBe(true);
  });

  it('unfolds continuation lines to one space', () => {
    const m = parseMessage(wire(['OPTIONS sip:a@b SIP/2.0', 'Via: SIP/2.0/UDP h', '  ;branch=z9hG4bK1', 'From: <sip:a@b>;tag=1', 'To: <sip:a@b>', 'Call-ID: x', 'CSeq: 1', '\tOPTIONS', 'Subject: a', '   b  ']));
    expect(m.get('via')).toBe('SIP/2.0/UDP h ;branch=z9hG4bK1');
    expect(m.get('cseq')).toBe('1 OPTIONS');
    expect(m.get('subject')).toBe('a b');
    expect(m.topVia()?.branch).toBe('z9hG4bK1');
  });

  it('responses', () => {
    const m = parseMessage(wire(['SIP/2.0 486 Busy Here', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'From: <sip:a@b>;tag=1', 'To: <sip:a@b>;tag=2', 'Call-ID: x', 'CSeq: 1 INVITE', 'Content-Length: 0']));
    expect(m.kind).toBe('response');
    expect(m.status).toBe(486);
    expect(m.reason).toBe('Busy Here');
    expect(m.method).toBe('');
    expect(m.cseq().method).toBe('INVITE');
  });

  it('body: Content-Length shorter truncates, absent takes the rest, longer is an error (§18.3)', () => {
    const base = INVITE_LINES.filter((l) => !l.startsWith('l:'));
    expect(parseMessage(wire([...base, 'Content-Length: 2'], 'abcdef')).body.toString()).toBe('ab');
    expect(parseMessage(wire(base, 'abcdef')).body.toString()).toBe('abcdef');
    const e = parseError(() => parseMessage(wire([...base, 'Content-Length: 7'], 'abcdef')));
    expect(e.code).toBe('ERR_SIP_CONTENT_LENGTH');
    expect(e.status).toBe(400);
    expect(parseError(() => parseMessage(wire([...base, 'Content-Length: 99999999999'], 'a'))).code).toBe('ERR_SIP_CONTENT_LENGTH');
  });

  it('the body is never parsed as headers', () => {
    const base = INVITE_LINES.filter((l) => !l.startsWith('l:') && !l.startsWith('i:'));
    // no Call-ID in the headers, one in the body
    const e = parseError(() => parseMessage(wire(base, 'Call-ID: in-body\r\n')));
    expect(e.code).toBe('ERR_SIP_MISSING_HEADER');
    expect(e.reason).toBe('Bad Request - Missing Call-ID');
  });

  it('rejects with stable codes and the status to answer', () => {
    const cases: [string, Buffer, string, number][] = [
      ['too large', inviteBuf(), 'ERR_SIP_TOO_LARGE', 513],
      ['leading whitespace', wire([' ' + INVITE_LINES[0], ...INVITE_LINES.slice(1)]), 'ERR_SIP_BAD_START_LINE', 400],
      ['leading CRLF', Buffer.concat([Buffer.from('\r\n'), inviteBuf()]), 'ERR_SIP_BAD_START_LINE', 400],
      ['version', wire(['INVITE sip:bob@biloxi.example.com SIP/2.1', ...INVITE_LINES.slice(1)]), 'ERR_SIP_BAD_VERSION', 505],
      ['not a version', wire(['INVITE sip:bob@biloxi.example.com HTTP/1.1', ...INVITE_LINES.slice(1)]), 'ERR_SIP_BAD_START_LINE', 400],
      ['method not a token', wire(['INV@TE sip:bob@biloxi.example.com SIP/2.0', ...INVITE_LINES.slice(1)]), 'ERR_SIP_BAD_START_LINE', 400],
      ['header without colon', wire([...INVITE_LINES.slice(0, 3), 'Garbage', ...INVITE_LINES.slice(3)]), 'ERR_SIP_BAD_HEADER', 400],
      ['no empty line', Buffer.from(INVITE_LINES.join(CRLF) + CRLF), 'ERR_SIP_NO_END_OF_HEADERS', 400],
      ['bare LF', Buffer.from(INVITE_LINES.join('\n') + '\n\n'), 'ERR_SIP_NO_END_OF_HEADERS', 400],
      ['bad UTF-8', wire([...INVITE_LINES.slice(0, 3), 'Subject: \u00ff'].map((l) => l)).fill(0xff, 150, 151), 'ERR_SIP_BAD_ENCODING', 400],
      ['missing Via', wire(INVITE_LINES.filter((l) => !/^(Via|v):/.test(l)), 'v=0\r\n'), 'ERR_SIP_MISSING_HEADER', 400],
      ['Max-Forwards 256', wire(INVITE_LINES.map((l) => (l.startsWith('Max') ? 'Max-Forwards: 256' : l)), 'v=0\r\n'), 'ERR_SIP_BAD_MAX_FORWARDS', 400],
      ['CSeq 2^31', wire(INVITE_LINES.map((l) => (l.startsWith('CSeq') ? 'CSeq: 2147483648 INVITE' : l)), 'v=0\r\n'), 'ERR_SIP_BAD_CSEQ', 400],
      ['two CSeq', wire([...INVITE_LINES.slice(0, -1), 'CSeq: 314160 INVITE', 'l: 5'], 'v=0\r\n'), 'ERR_SIP_DUPLICATE_HEADER', 400],
      ['Expires > 2^32-1', wire([...INVITE_LINES.slice(0, -1), 'Expires: 4294967296', 'l: 5'], 'v=0\r\n'), 'ERR_SIP_BAD_SCALAR', 400],
      ['bad Via', wire(INVITE_LINES.map((l) => (l.startsWith('v:') ? 'v: SIP/2.0 origin' : l)), 'v=0\r\n'), 'ERR_SIP_BAD_VIA', 400],
      ['unbalanced <', wire(INVITE_LINES.map((l) => (l.startsWith('To') ? 'To: Bob <sip:bob@biloxi.example.com' : l)), 'v=0\r\n'), 'ERR_SIP_BAD_NAME_ADDR', 400],
      ['bad Route', wire(INVITE_LINES.map((l) => (l.startsWith('Route') ? 'Route: <sip:p1;lr>,' : l)), 'v=0\r\n'), 'ERR_SIP_BAD_NAME_ADDR', 400],
    ];
    for (const [what, buf, code, status] of cases) {
      const e = parseError(() => parseMessage(buf, what === 'too large' ? { maxSize: 100 } : undefined));
      expect(e.code, what).toBe(code);
      expect(e.status, what).toBe(status);
    }
  });

  it('identical duplicates of a single-value header are tolerated', () => {
    const m = parseMessage(wire([...INVITE_LINES.slice(0, -1), 'CSeq: 314159 INVITE', 'l: 5'], 'v=0\r\n'));
    expect(m.cseq().seq).toBe(314159);
  });

  it('Contact: * is accepted', () => {
    const m = parseMessage(wire(['REGISTER sip:example.com SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'From: <sip:a@example.com>;tag=1', 'To: <sip:a@example.com>', 'Call-ID: x', 'CSeq: 2 REGISTER', 'Contact: *', 'Expires: 0']));
    expect(m.getAll('contact')).toEqual(['*']);
  });

  it('lenientLineEnds accepts bare LF', () => {
    const m = parseMessage(Buffer.from(INVITE_LINES.join('\n') + '\n\nv=0\r\n'), { lenientLineEnds: true });
    expect(m.callId()).toBe('a84b4c76e66710@pc33.atlanta.example.com');
    expect(m.body.toString()).toBe('v=0\r\n');
  });
});

describe('header list operations', () => {
  it('prepend/removeTop on Via (proxy push and pop, RFC 3261 §16.6 step 8, §16.7 step 3)', () => {
    const m = parseMessage(inviteBuf());
    m.prepend('via', 'SIP/2.0/UDP proxy.example.com;branch=z9hG4bK-sf1-abc');
    expect(m.headers[0]).toEqual({ name: 'via', value: 'SIP/2.0/UDP proxy.example.com;branch=z9hG4bK-sf1-abc' });
    expect(m.topVia()?.branch).toBe('z9hG4bK-sf1-abc');
    expect(m.getAll('via')).toHaveLength(4);
    expect(m.removeTop('via')).toBe('SIP/2.0/UDP proxy.example.com;branch=z9hG4bK-sf1-abc');
    // the first line holds two values: popping the top leaves the second on that line
    expect(m.removeTop('Via')).toBe('SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds');
    expect(m.get('via')).toBe('SIP/2.0/TCP p0.example.com;branch=z9hG4bKp0');
    expect(m.topVia()?.branch).toBe('z9hG4bKp0');
    expect(m.removeTop('via')).toBe('SIP/2.0/TCP p0.example.com;branch=z9hG4bKp0');
    expect(m.getAll('via')).toEqual(['SIP/2.0/UDP origin.example.com;branch=z9hG4bKorig;received=198.51.100.7']);
    expect(m.removeTop('via')).toBeDefined();
    expect(m.removeTop('via')).toBeUndefined();
    expect(m.topVia()).toBeUndefined();
  });

  it('removeTop on Route (loose routing pop, §16.4), prepend Record-Route when none exists', () => {
    const m = parseMessage(inviteBuf());
    expect(m.removeTop('route')).toBe('<sip:p1.example.com;lr>');
    expect(m.getAll('route')).toEqual(['<sip:p2.example.com;lr>']);
    expect(m.removeTop('route')).toBe('<sip:p2.example.com;lr>');
    expect(m.has('route')).toBe(false);
    m.prepend('record-route', '<sip:member1.example.com;lr;sf=1>');
    expect(m.headers[0].name).toBe('record-route');
    m.prepend('Record-Route', '<sip:member2.example.com;lr>');
    expect(m.getAll('record-route')).toEqual(['<sip:member2.example.com;lr>', '<sip:member1.example.com;lr;sf=1>']);
  });

  it('set replaces all lines at the first position; append; remove', () => {
    const m = parseMessage(inviteBuf());
    const idx = m.headers.findIndex((h) => h.name === 'via');
    m.set('V', 'SIP/2.0/UDP only;branch=z9hG4bKonly');
    expect(m.headers.filter((h) => h.name === 'via')).toHaveLength(1);
    expect(m.headers[idx].value).toBe('SIP/2.0/UDP only;branch=z9hG4bKonly');
    m.set('max-forwards', '69');
    expect(m.maxForwards()).toBe(69);
    m.set('subject', 'new');
    expect(m.headers[m.headers.length - 1]).toEqual({ name: 'subject', value: 'new' });
    m.append('contact', '<sip:second@h>');
    expect(m.getAll('m')).toEqual(['<sip:alice@pc33.atlanta.example.com>', '<sip:second@h>']);
    m.remove('contact');
    expect(m.has('contact')).toBe(false);
  });

  it('clone is deep', () => {
    const m = parseMessage(inviteBuf());
    const c = m.clone();
    c.set('call-id', 'other');
    c.headers[0].value = 'changed';
    c.body[0] = 0x41;
    expect(m.callId()).toBe('a84b4c76e66710@pc33.atlanta.example.com');
    expect(m.headers[0].value).not.toBe('changed');
    expect(m.body.toString()).toBe('v=0\r\n');
  });

  it('toBuffer writes Content-Length from the body, always', () => {
    const m = SipMessage.request('MESSAGE', 'sip:bob@example.com', [
      ['Via', 'SIP/2.0/UDP h;branch=z9hG4bK1'], ['To', '<sip:bob@example.com>'], ['From', '<sip:a@example.com>;tag=9'],
      ['Call-ID', 'c'], ['CSeq', '1 MESSAGE'], ['Content-Length', '999'], ['Max-Forwards', '70'],
    ], Buffer.from('hello'));
    const s = m.toBuffer().toString();
    expect(s).toBe('MESSAGE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:bob@example.com>\r\n'
      + 'From: <sip:a@example.com>;tag=9\r\nCall-ID: c\r\nCSeq: 1 MESSAGE\r\nContent-Length: 5\r\nMax-Forwards: 70\r\n\r\nhello');
    const r = SipMessage.response(200, 'OK', [{ name: 'v', value: 'SIP/2.0/UDP h;branch=z9hG4bK1' }]);
    expect(r.toBuffer().toString()).toBe('SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n');
  });
});

describe('createResponse (RFC 3261 §8.2.6.2)', () => {
  it('copies Via lines in order, From, To, Call-ID, CSeq; adds the To tag', () => {
    const req = parseMessage(inviteBuf());
    const res = createResponse(req, 180, undefined, 'totag1');
    expect(res.kind).toBe('response');
    expect(res.status).toBe(180);
    expect(res.reason).toBe('Ringing');
    expect(res.headers.map((h) => h.name)).toEqual(['via', 'via', 'from', 'to', 'call-id', 'cseq']);
    expect(res.getAll('via')).toEqual(req.getAll('via'));
    expect(res.to().tag).toBe('totag1');
    expect(res.get('from')).toBe(req.get('from'));
    expect(res.cseq()).toEqual(req.cseq());
    // and it is a valid message on the wire
    const back = parseMessage(res.toBuffer());
    expect(back.status).toBe(180);
    expect(back.to().tag).toBe('totag1');
  });

  it('no tag on 100, none added when To already has one, custom reason', () => {
    const req = parseMessage(inviteBuf());
    expect(createResponse(req, 100, undefined, 'x').to().tag).toBeUndefined();
    req.set('to', 'sip:bob@biloxi.example.com;tag=existing');
    const res = createResponse(req, 200, 'Fine', 'x');
    expect(res.to().tag).toBe('existing');
    expect(res.reason).toBe('Fine');
  });

  it('reason phrases', () => {
    const table: [number, string][] = [[100, 'Trying'], [180, 'Ringing'], [183, 'Session Progress'], [200, 'OK'], [202, 'Accepted'],
      [400, 'Bad Request'], [401, 'Unauthorized'], [403, 'Forbidden'], [404, 'Not Found'], [405, 'Method Not Allowed'],
      [408, 'Request Timeout'], [413, 'Request Entity Too Large'], [415, 'Unsupported Media Type'], [416, 'Unsupported URI Scheme'],
      [420, 'Bad Extension'], [423, 'Interval Too Brief'], [480, 'Temporarily Unavailable'], [481, 'Call/Transaction Does Not Exist'],
      [482, 'Loop Detected'], [483, 'Too Many Hops'], [484, 'Address Incomplete'], [485, 'Ambiguous'], [486, 'Busy Here'],
      [487, 'Request Terminated'], [488, 'Not Acceptable Here'], [500, 'Server Internal Error'], [501, 'Not Implemented'],
      [502, 'Bad Gateway'], [503, 'Service Unavailable'], [504, 'Server Time-out'], [505, 'Version Not Supported'], [513, 'Message Too Large']];
    for (const [code, phrase] of table) expect(reasonPhrase(code)).toBe(phrase);
    expect(reasonPhrase(499)).toBe('Client Error');
  });
});
