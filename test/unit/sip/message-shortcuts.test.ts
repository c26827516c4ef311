/**
 * The shortcuts the slow path takes for its common cases, each checked against the
 * general code it stands for, on the same inputs:
 *  - char loops standing for regexes and trim() (digits, Call-ID, trimmed slices);
 *  - the start line's 'SIP/2.0' shortcut against the previous split/regex parser;
 *  - header names recognised without slicing (many spellings, slot collisions);
 *  - createResponse copying request lines from the datagram, forwardCopy(), primed
 *    top Via, and the one-value shortcuts of getAll/hasValue/removeTop/set.
 */
import { describe, expect, it } from 'vitest';
import { corpus, rng } from './corpus.js';
import { SipErrorCode, SipParseError, badRequest } from '../../../src/sip/errors.js';
import { splitList, parseVia } from '../../../src/sip/headers.js';
import { SipMessage, createResponse, isCallId, isDigits, parseGeneral, parseMessage, trimmedSlice } from '../../../src/sip/message.js';
import { isToken, parseUri } from '../../../src/sip/uri.js';

const ALPHABET = ' \t\x0b\x0c@0123456789abcXYZ-.:;<>"!~\x7f\x20\x21\x3f\x40\x41\x7e';

function randomString(rand: () => number, max: number): string {
  const n = Math.floor(rand() * max);
  let s = '';
  for (let i = 0; i < n; i++) s += ALPHABET[Math.floor(rand() * ALPHABET.length)];
  return s;
}

describe('char loops = the regexes and trim() they replace', () => {
  it('isDigits = /^[0-9]{1,10}$/', () => {
    const rand = rng(1);
    const cases = ['', '0', '0000000000', '12345678901', '70', '7a', ' 7', '٣'];
    for (let i = 0; i < 3000; i++) cases.push(randomString(rand, 14).replace(/[^0-9 a]/g, (c) => (rand() < 0.8 ? String(c.charCodeAt(0) % 10) : c)));
    for (const c of cases) expect(isDigits(c), JSON.stringify(c)).toBe(/^[0-9]{1,10}$/.test(c));
  });
  it('isCallId = /^[\\x21-\\x3f\\x41-\\x7e]+(@[\\x21-\\x3f\\x41-\\x7e]+)?$/', () => {
    const re = /^[\x21-\x3f\x41-\x7e]+(@[\x21-\x3f\x41-\x7e]+)?$/;
    const rand = rng(2);
    const cases = ['', '@', 'a@', '@a', 'a@b', 'a@b@c', 'a b', 'abc', '\x7f', 'é@x', 'a@@b'];
    for (let i = 0; i < 5000; i++) cases.push(randomString(rand, 8));
    for (const c of cases) expect(isCallId(c), JSON.stringify(c)).toBe(re.test(c));
  });
  it('trimmedSlice = slice().trim() on ASCII text', () => {
    const rand = rng(3);
    for (let i = 0; i < 3000; i++) {
      const s = randomString(rand, 12);
      const a = Math.floor(rand() * (s.length + 1));
      const b = a + Math.floor(rand() * (s.length - a + 1));
      expect(trimmedSlice(s, a, b)).toBe(s.slice(a, b).trim());
    }
  });
});

// The start-line parser as it was before the 'SIP/2.0' shortcut (split, regexes, case folding).
const VERSION_RE = /^SIP\/[0-9]+\.[0-9]+$/i;
function oldCheckVersion(v: string, line: string): void {
  if (v.toUpperCase() === 'SIP/2.0') return;
  if (VERSION_RE.test(v)) throw new SipParseError(SipErrorCode.BAD_VERSION, `unsupported version ${v}`, 505);
  throw badRequest(SipErrorCode.BAD_START_LINE, `bad start line (version): ${line.slice(0, 100)}`, 'Bad Start Line');
}
function oldStartLine(line: string): Record<string, unknown> {
  const bad = (why: string) => badRequest(SipErrorCode.BAD_START_LINE, `bad start line (${why}): ${line.slice(0, 100)}`, 'Bad Start Line');
  const sp1 = line.indexOf(' ');
  if (sp1 <= 0) throw bad('no SP');
  const first = line.slice(0, sp1);
  if (first.indexOf('/') >= 0) {
    oldCheckVersion(first, line);
    const sp2 = line.indexOf(' ', sp1 + 1);
    if (sp2 < 0) throw bad('no SP after status code');
    const code = line.slice(sp1 + 1, sp2);
    if (!/^[1-6][0-9]{2}$/.test(code)) throw bad('status code');
    return { kind: 'response', status: Number(code), reason: line.slice(sp2 + 1) };
  }
  const parts = line.split(' ');
  if (parts.length !== 3) throw bad('expected Method SP Request-URI SP SIP-Version');
  const [method, uri, version] = parts;
  if (!isToken(method)) throw bad('method');
  if (!VERSION_RE.test(version)) throw bad('version');
  oldCheckVersion(version, line);
  let ruri;
  try {
    ruri = parseUri(uri);
  } catch {
    throw badRequest(SipErrorCode.BAD_URI, `bad Request-URI: ${uri.slice(0, 100)}`, 'Bad Request-URI');
  }
  if (ruri.headers !== undefined) throw badRequest(SipErrorCode.BAD_URI, `Request-URI with headers: ${uri.slice(0, 100)}`, 'Bad Request-URI');
  return { kind: 'request', method, uri };
}

type Outcome = Record<string, unknown> | { error: string; status: number; reason: string; message: string };
function outcome(f: () => Record<string, unknown>): Outcome {
  try {
    return f();
  } catch (e) {
    const x = e as SipParseError;
    return { error: x.code, status: x.status, reason: x.reason, message: x.message };
  }
}
function newStartLine(line: string): Record<string, unknown> {
  const first = line.split(' ')[0];
  const method = isToken(first) ? first : 'INVITE';
  const m = parseMessage(Buffer.from(`${line}\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 ${method}\r\n\r\n`, 'latin1'));
  return m.kind === 'response' ? { kind: 'response', status: m.status, reason: m.reason } : { kind: 'request', method: m.method, uri: m.uri };
}

describe("start line: the 'SIP/2.0' shortcut = the split/regex parser", () => {
  const PIECES = ['SIP/2.0', 'sip/2.0', 'SIP/2.00', 'SIP/3.0', 'SIP/2.0x', 'SIP/2', 'XIP/2.0', 'SIP/20', 'S/2.0', '200', '099', '2000', '20', '700', '1x0',
    'OK', 'INVITE', 'IN VITE', 'sip:a@b', 'sip:a@b?x=y', 'sip:', '', ' ', 'tel:+1', 'a/b'];
  it('on combinations of start-line pieces', () => {
    const rand = rng(4);
    const lines = ['SIP/2.0 200 OK', 'SIP/2.0 200 ', 'SIP/2.0 200', 'INVITE sip:a@b SIP/2.0', 'INVITE sip:a@b sip/2.0', 'INVITE  sip:a@b SIP/2.0',
      'INVITE sip:a@b SIP/2.0 ', 'SIP/2.0  200 OK', 'SIP/2.0 180 Ringing  ', ' SIP/2.0 200 OK', 'INVITE/x sip:a@b SIP/2.0'];
    for (let i = 0; i < 3000; i++) {
      const n = 1 + Math.floor(rand() * 4);
      const parts: string[] = [];
      for (let k = 0; k < n; k++) parts.push(PIECES[Math.floor(rand() * PIECES.length)]);
      lines.push(parts.join(rand() < 0.9 ? ' ' : '  '));
    }
    const seen = new Set<string>();
    for (const line of lines) {
      const a = outcome(() => oldStartLine(line));
      const b = outcome(() => newStartLine(line));
      expect(b, line).toEqual(a);
      seen.add('error' in a ? String(a.error) : String(a.kind));
    }
    // every kind of outcome was met
    expect([...seen].sort()).toEqual([SipErrorCode.BAD_START_LINE, SipErrorCode.BAD_URI, SipErrorCode.BAD_VERSION, 'request', 'response'].sort());
  });
});

describe('header names recognised without slicing', () => {
  it('many spellings (slot collisions and evictions) parse as parseGeneral does', () => {
    const rand = rng(5);
    const names = ['Via', 'v', 'VIA', 'vIa', 'Max-Forwards', 'max-forwards', 'Call-ID', 'Call-Id', 'i', 'CSeq', 'cseq', 'From', 'f', 'To', 't',
      'Contact', 'm', 'X-A', 'X-B', 'x-a'];
    for (let i = 0; i < 600; i++) names.push(`X-${Math.floor(rand() * 1e6).toString(36)}`);
    for (let round = 0; round < 200; round++) {
      const extra: string[] = [];
      for (let k = 0; k < 12; k++) extra.push(`${names[Math.floor(rand() * names.length)]}: v${k}`);
      const text = [
        'OPTIONS sip:a@b SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bKx', 'From: <sip:a@b>;tag=1', 'To: <sip:c@d>', 'Call-ID: x', 'CSeq: 1 OPTIONS',
        ...extra.filter((l) => !/^(v|via|i|call-id|f|from|t|to|cseq|max-forwards|m|contact)\s*:/i.test(l)), '', '',
      ].join('\r\n');
      const buf = Buffer.from(text, 'latin1');
      const a = parseMessage(buf);
      const b = parseGeneral(buf, false);
      expect(a.headers).toEqual(b.headers);
      expect(a.toBuffer().equals(b.toBuffer())).toBe(true);
    }
  });
  it('a bad name is still a 400 with the same reason', () => {
    const buf = Buffer.from('OPTIONS sip:a@b SIP/2.0\r\nVi(a: x\r\n\r\n', 'latin1');
    expect(() => parseMessage(buf)).toThrow(/bad header name: Vi\(a: x/);
  });
});

const REQUEST = [
  'INVITE sip:bob@example.com SIP/2.0',
  'Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-abc;rport',
  'v: SIP/2.0/UDP 198.51.100.8;branch=z9hG4bK-def',
  'Max-Forwards: 70',
  'CSeq: 7 INVITE',
  'From: "A" <sip:alice@example.com>;tag=1',
  'To: <sip:bob@example.com>',
  'Call-ID:  call-1@198.51.100.7',
  'Subject: folded',
  '  continued',
  'Content-Length: 4',
  '',
  'v=0\n',
].join('\r\n');

/** The same message without the datagram behind it. */
function unparsed(m: SipMessage): SipMessage {
  const c = SipMessage.request(m.method, m.uri, m.headers.map((h) => ({ ...h })), Buffer.from(m.body));
  return c;
}

describe('createResponse from the datagram = createResponse printed', () => {
  const requests = [REQUEST, ...corpus.map((b) => b.toString('latin1'))];
  it('on a request and the RFC 4475 corpus, with and without a To tag', () => {
    let compared = 0;
    for (const text of requests) {
      let req: SipMessage;
      try {
        req = parseMessage(Buffer.from(text, 'latin1'));
      } catch {
        continue;
      }
      if (req.kind !== 'request') continue;
      for (const [status, tag] of [[100, undefined], [180, 'tt'], [487, 'x'], [200, undefined]] as const) {
        const a = createResponse(req, status, undefined, tag);
        const b = createResponse(unparsed(req), status, undefined, tag);
        expect(a.headers).toEqual(b.headers);
        expect(a.toBuffer().toString('latin1')).toBe(b.toBuffer().toString('latin1'));
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(20);
  });
  it('keeps the parse results of the copied lines, not of a changed To', () => {
    const req = parseMessage(Buffer.from(REQUEST, 'latin1'));
    const res = createResponse(req, 180, undefined, 'tt');
    expect(res.topVia()).toEqual(req.topVia());
    expect(res.cseq()).toEqual({ seq: 7, method: 'INVITE' });
    expect(res.to().tag).toBe('tt');
    expect(res.from().tag).toBe('1');
  });
});

describe('forwardCopy', () => {
  const edit = (m: SipMessage) => {
    m.uri = 'sip:bob@203.0.113.20:5070';
    m.set('max-forwards', '69');
    m.prepend('record-route', '<sip:203.0.113.1;lr;sf=1>');
    m.prepend('via', 'SIP/2.0/UDP 203.0.113.1;branch=z9hG4bK-sf1-x');
    m.removeTop('route');
  };
  it('serializes as clone() does after a proxy\'s edits, and leaves the original as it was', () => {
    const req = parseMessage(Buffer.from(REQUEST, 'latin1'));
    const before = unparsed(req).toBuffer().toString('latin1');
    const a = req.forwardCopy();
    const b = req.clone();
    edit(a);
    edit(b);
    expect(a.toBuffer().toString('latin1')).toBe(b.toBuffer().toString('latin1'));
    expect(a.toBuffer().toString('latin1')).toBe(b.toBuffer().toString('latin1'));
    expect(req.toBuffer().toString('latin1')).toBe(before);
    expect(req.maxForwards()).toBe(70);
    expect(req.topVia()?.branch).toBe('z9hG4bK-abc');
  });
});

describe('primeTopVia', () => {
  it('answers topVia() with the given parse only for that first Via line', () => {
    const m = parseMessage(Buffer.from(REQUEST, 'latin1'));
    const text = 'SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bK-sf1-y';
    m.prepend('via', text);
    const parsed = parseVia(text);
    m.primeTopVia(text, parsed);
    expect(m.topVia()).toBe(parsed);
    const other = parseMessage(Buffer.from(REQUEST, 'latin1'));
    other.primeTopVia(text, parsed); // not its top Via: ignored
    expect(other.topVia()?.branch).toBe('z9hG4bK-abc');
  });
});

describe('one-value shortcuts = the list code', () => {
  const VALUES = ['a', ' a ', '', '   ', 'a, b', 'a,,b', ',', '"x,y" <sip:a>', '<sip:a,b>', '"unterminated', 'a ,', ' , a'];
  it('getAll, hasValue, removeTop on every value shape', () => {
    for (const v of VALUES) {
      for (const name of ['route', 'via', 'subject']) {
        const m = SipMessage.request('OPTIONS', 'sip:a@b', [[name, v], ['call-id', 'x']]);
        const list = name === 'subject' ? [v] : splitList(v).filter((x) => x.length > 0);
        expect(m.getAll(name), `${name}: ${JSON.stringify(v)}`).toEqual(list);
        expect(m.hasValue(name)).toBe(list.length > 0);
        const values = splitList(v);
        const top = m.removeTop(name);
        if (values.length <= 1) {
          expect(top).toBe(values.length === 1 ? values[0] : v);
          expect(m.headers.map((h) => h.name)).toEqual(['call-id']);
        } else {
          expect(top).toBe(values[0]);
          expect(m.headers[0]).toEqual({ name, value: values.slice(1).join(', ') });
        }
      }
    }
  });
  it('set() with one line or several', () => {
    const m = SipMessage.request('OPTIONS', 'sip:a@b', [['subject', 'a'], ['call-id', 'x'], ['subject', 'b'], ['to', 't']]);
    m.set('subject', 'c');
    expect(m.headers).toEqual([{ name: 'subject', value: 'c' }, { name: 'call-id', value: 'x' }, { name: 'to', value: 't' }]);
    m.set('to', 'u');
    m.set('max-forwards', '1');
    expect(m.headers).toEqual([{ name: 'subject', value: 'c' }, { name: 'call-id', value: 'x' }, { name: 'to', value: 'u' }, { name: 'max-forwards', value: '1' }]);
  });
});
