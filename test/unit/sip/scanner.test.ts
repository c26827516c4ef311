import { describe, expect, it } from 'vitest';
import { MAX_DATAGRAM, Method, Scan, ScanFlag, ScanResult, methodOf, scan } from '../../../src/sip/scanner.js';

const CRLF = '\r\n';
const msg = (lines: string[], body = ''): Buffer => Buffer.from(lines.join(CRLF) + CRLF + CRLF + body, 'latin1');
const r = new ScanResult();
const run = (b: Buffer, maxSize?: number, flags?: number): number => scan(b, b.length, r, maxSize, flags);
/** the text of [start, end) or null when absent */
const txt = (b: Buffer, s: number, e: number): string | null => (s < 0 ? null : b.toString('latin1', s, e));

const INVITE = [
  'INVITE sip:bob@biloxi.example.com SIP/2.0',
  'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds',
  'Max-Forwards: 70',
  'To: Bob <sip:bob@biloxi.example.com>',
  'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
  'Call-ID: a84b4c76e66710@pc33.atlanta.example.com',
  'CSeq: 314159 INVITE',
  'Contact: <sip:alice@pc33.atlanta.example.com>',
  'Content-Type: application/sdp',
  'Content-Length: 4',
];

describe('scan: a plain INVITE', () => {
  const b = msg(INVITE, 'v=0\n');
  it('finds every field', () => {
    expect(run(b)).toBe(Scan.OK);
    expect(r.status).toBe(Scan.OK);
    expect(r.isRequest).toBe(true);
    expect(r.method).toBe(Method.INVITE);
    expect(txt(b, r.methodStart, r.methodEnd)).toBe('INVITE');
    expect(txt(b, r.ruriStart, r.ruriEnd)).toBe('sip:bob@biloxi.example.com');
    expect(txt(b, r.branchStart, r.branchEnd)).toBe('z9hG4bK776asdhds');
    expect(r.viaCount).toBe(1);
    expect(txt(b, r.callIdStart, r.callIdEnd)).toBe('a84b4c76e66710@pc33.atlanta.example.com');
    expect(r.cseqNum).toBe(314159);
    expect(r.cseqMethod).toBe(Method.INVITE);
    expect(txt(b, r.cseqMethodStart, r.cseqMethodEnd)).toBe('INVITE');
    expect(txt(b, r.toUriStart, r.toUriEnd)).toBe('sip:bob@biloxi.example.com');
    expect(r.toTagStart).toBe(-1);
    expect(txt(b, r.fromTagStart, r.fromTagEnd)).toBe('1928301774');
    expect(r.routeUriStart).toBe(-1);
    expect(r.maxForwards).toBe(70);
    expect(r.contentLength).toBe(4);
    expect(r.headersEnd).toBe(b.length - 4);
    expect(r.statusCode).toBe(0);
  });

  it('is reset by the next scan (one ScanResult per socket)', () => {
    run(b);
    const resp = msg(['SIP/2.0 180 Ringing', 'v: SIP/2.0/UDP h;branch=z9hG4bKx', 'i: c1', 'CSeq: 1 INVITE']);
    expect(run(resp)).toBe(Scan.OK);
    expect(r.isRequest).toBe(false);
    expect(r.statusCode).toBe(180);
    expect(r.method).toBe(Method.OTHER);
    expect(r.ruriStart).toBe(-1);
    expect(r.maxForwards).toBe(-1);
    expect(r.contentLength).toBe(-1);
    expect(r.fromTagStart).toBe(-1);
    expect(txt(resp, r.branchStart, r.branchEnd)).toBe('z9hG4bKx');
  });
});

describe('scan: header spellings', () => {
  it('compact forms and any case', () => {
    const b = msg([
      'BYE sip:a@b SIP/2.0',
      'v: SIP/2.0/TCP h1;branch=z9hG4bK1',
      't: <sip:a@b>;tag=tt',
      'f: sip:c@d;tag=ff',
      'i: compact-id',
      'cSeQ: 2 BYE',
      'l: 0',
      'MAX-FORWARDS: 9',
      'ROUTE: <sip:p1;lr>',
    ]);
    expect(run(b)).toBe(Scan.OK);
    expect(r.method).toBe(Method.BYE);
    expect(txt(b, r.branchStart, r.branchEnd)).toBe('z9hG4bK1');
    expect(txt(b, r.toTagStart, r.toTagEnd)).toBe('tt');
    expect(txt(b, r.fromTagStart, r.fromTagEnd)).toBe('ff');
    expect(txt(b, r.callIdStart, r.callIdEnd)).toBe('compact-id');
    expect(r.cseqNum).toBe(2);
    expect(r.cseqMethod).toBe(Method.BYE);
    expect(r.contentLength).toBe(0);
    expect(r.maxForwards).toBe(9);
    expect(txt(b, r.routeUriStart, r.routeUriEnd)).toBe('sip:p1;lr');
  });

  it('whitespace before the colon and around params (HCOLON, SEMI, EQUAL)', () => {
    const b = msg([
      'OPTIONS sip:a@b SIP/2.0',
      'Via  :  SIP / 2.0 / UDP  host ; rport ; Branch = z9hG4bKsp ; received=1.2.3.4',
      'Call-ID :x',
      'CSeq:1 OPTIONS',
    ]);
    expect(run(b)).toBe(Scan.OK);
    expect(txt(b, r.branchStart, r.branchEnd)).toBe('z9hG4bKsp');
    expect(txt(b, r.callIdStart, r.callIdEnd)).toBe('x');
  });

  it('IPv6 sent-by', () => {
    const b = msg(['OPTIONS sip:a@[2001:db8::1] SIP/2.0', 'Via: SIP/2.0/UDP [2001:db8::9]:5070;branch=z9hG4bKv6', 'Call-ID: x', 'CSeq: 1 OPTIONS']);
    expect(run(b)).toBe(Scan.OK);
    expect(txt(b, r.branchStart, r.branchEnd)).toBe('z9hG4bKv6');
  });

  it('a header named like a prefix of a known one is not it', () => {
    const b = msg(['OPTIONS sip:a@b SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bKa', 'Call-IDx: nope', 'Vias: SIP/2.0/UDP evil;branch=evil', 'CSeq: 1 OPTIONS']);
    expect(run(b)).toBe(Scan.NO_CALL_ID);
    expect(r.viaCount).toBe(1);
  });
});

describe('scan: Via lists', () => {
  it('several values on one line: the first is the top', () => {
    const b = msg([
      'SIP/2.0 200 OK',
      'Via: SIP/2.0/UDP top.example.com;branch=z9hG4bKtop, SIP/2.0/UDP second;branch=z9hG4bK2nd',
      'Via: SIP/2.0/UDP third;branch=z9hG4bK3rd',
      'Call-ID: x',
      'CSeq: 1 INVITE',
    ]);
    expect(run(b)).toBe(Scan.OK);
    expect(txt(b, r.branchStart, r.branchEnd)).toBe('z9hG4bKtop');
    expect(r.viaCount).toBe(3);
  });

  it('a later Via line does not replace the top one, even when the top has no branch', () => {
    const b = msg(['SIP/2.0 200 OK', 'Via: SIP/2.0/UDP old-style', 'Via: SIP/2.0/UDP h;branch=z9hG4bKlater', 'Call-ID: x', 'CSeq: 1 INVITE']);
    expect(run(b)).toBe(Scan.OK);
    expect(r.branchStart).toBe(-1);
    expect(r.viaCount).toBe(2);
  });

  it('branch of the first value only, not of the second on the same line', () => {
    const b = msg(['SIP/2.0 200 OK', 'Via: SIP/2.0/UDP a, SIP/2.0/UDP b;branch=z9hG4bKb', 'Call-ID: x', 'CSeq: 1 INVITE']);
    expect(run(b)).toBe(Scan.OK);
    expect(r.branchStart).toBe(-1);
    expect(r.viaCount).toBe(2);
  });

  it('a quoted comma in a param does not count as a value', () => {
    const b = msg(['SIP/2.0 200 OK', 'Via: SIP/2.0/UDP a;x="p,q";branch=z9hG4bKq', 'Call-ID: x', 'CSeq: 1 INVITE']);
    expect(run(b)).toBe(Scan.OK);
    expect(r.viaCount).toBe(1);
    expect(txt(b, r.branchStart, r.branchEnd)).toBe('z9hG4bKq');
  });
});

describe('scan: folded headers (RFC 3261 §7.3.1)', () => {
  it('values continued on lines starting with SP/HTAB', () => {
    const b = msg([
      'INVITE sip:a@b SIP/2.0',
      'Via: SIP/2.0/UDP h',
      '\t;branch=',
      '  z9hG4bKfold',
      'Call-ID:',
      ' folded-id',
      'CSeq: 7',
      '  INVITE',
      'To: "A, ;tag=no <x>"',
      '  <sip:a@b>',
      '  ;tag=realtag',
      'Max-Forwards:',
      ' 5',
    ]);
    expect(run(b)).toBe(Scan.OK);
    expect(txt(b, r.branchStart, r.branchEnd)).toBe('z9hG4bKfold');
    expect(txt(b, r.callIdStart, r.callIdEnd)).toBe('folded-id');
    expect(r.cseqNum).toBe(7);
    expect(r.cseqMethod).toBe(Method.INVITE);
    expect(txt(b, r.toUriStart, r.toUriEnd)).toBe('sip:a@b');
    expect(txt(b, r.toTagStart, r.toTagEnd)).toBe('realtag');
    expect(r.maxForwards).toBe(5);
  });
});

describe('scan: the body is never read as headers', () => {
  it('header-like lines after the empty line are ignored', () => {
    const body = 'Via: SIP/2.0/UDP evil;branch=z9hG4bKevil\r\nCall-ID: evil\r\nRoute: <sip:evil>\r\n';
    const b = msg(['INVITE sip:a@b SIP/2.0', 'Via: SIP/2.0/UDP good;branch=z9hG4bKgood', 'Call-ID: good', 'CSeq: 1 INVITE', `Content-Length: ${body.length}`], body);
    expect(run(b)).toBe(Scan.OK);
    expect(txt(b, r.branchStart, r.branchEnd)).toBe('z9hG4bKgood');
    expect(txt(b, r.callIdStart, r.callIdEnd)).toBe('good');
    expect(r.viaCount).toBe(1);
    expect(r.routeUriStart).toBe(-1);
    expect(b.toString('latin1', r.headersEnd)).toBe(body);
  });

  it('a Call-ID only in the body is missing', () => {
    const b = msg(['INVITE sip:a@b SIP/2.0', 'Via: SIP/2.0/UDP good;branch=z9hG4bKgood', 'CSeq: 1 INVITE'], 'Call-ID: in-body\r\n');
    expect(run(b)).toBe(Scan.NO_CALL_ID);
  });
});

describe('scan: Route', () => {
  it('top Route = first value of the first Route header', () => {
    const b = msg([
      'BYE sip:callee@10.0.0.1;sf=2 SIP/2.0',
      'Via: SIP/2.0/UDP h;branch=z9hG4bK1',
      'Route: <sip:p1.example.com;lr;sf=3>, <sip:p2.example.com;lr>',
      'Route: <sip:p3.example.com;lr>',
      'Call-ID: x',
      'CSeq: 2 BYE',
    ]);
    expect(run(b)).toBe(Scan.OK);
    expect(txt(b, r.routeUriStart, r.routeUriEnd)).toBe('sip:p1.example.com;lr;sf=3');
    expect(txt(b, r.ruriStart, r.ruriEnd)).toBe('sip:callee@10.0.0.1;sf=2');
  });
  it('no Route → -1', () => {
    const b = msg(['BYE sip:callee@10.0.0.1 SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'Call-ID: x', 'CSeq: 2 BYE']);
    expect(run(b)).toBe(Scan.OK);
    expect(r.routeUriStart).toBe(-1);
    expect(r.routeUriEnd).toBe(-1);
  });
});

describe('scan: To/From forms', () => {
  it('addr-spec without <>: URI up to ";", params belong to the header', () => {
    const b = msg(['INVITE sip:a@b SIP/2.0', 'Via: SIP/2.0/UDP h', 'To: sip:bob@example.com;tag=abc', 'From: "x;tag=no" <sip:a@b;tag=inuri>;tag=yes', 'Call-ID: x', 'CSeq: 1 INVITE']);
    expect(run(b)).toBe(Scan.OK);
    expect(txt(b, r.toUriStart, r.toUriEnd)).toBe('sip:bob@example.com');
    expect(txt(b, r.toTagStart, r.toTagEnd)).toBe('abc');
    expect(txt(b, r.fromTagStart, r.fromTagEnd)).toBe('yes');
  });
  it('token display name without space before <', () => {
    const b = msg(['INVITE sip:a@b SIP/2.0', 'Via: SIP/2.0/UDP h', 'To: caller<sip:c@d>', 'Call-ID: x', 'CSeq: 1 INVITE']);
    expect(run(b)).toBe(Scan.OK);
    expect(txt(b, r.toUriStart, r.toUriEnd)).toBe('sip:c@d');
  });
});

describe('scan: failures', () => {
  it('size cap checked before any byte is read', () => {
    const big = Buffer.alloc(MAX_DATAGRAM + 1, 0x41);
    expect(scan(big, big.length, r)).toBe(Scan.TOO_LARGE);
    const b = msg(INVITE);
    expect(run(b, 100)).toBe(Scan.TOO_LARGE);
    expect(r.isRequest).toBe(false);
    expect(run(b, b.length)).toBe(Scan.OK);
  });

  it('missing Via / Call-ID / CSeq', () => {
    expect(run(msg(INVITE.filter((l) => !l.startsWith('Via'))))).toBe(Scan.NO_VIA);
    expect(run(msg(INVITE.filter((l) => !l.startsWith('Call-ID'))))).toBe(Scan.NO_CALL_ID);
    expect(run(msg(INVITE.filter((l) => !l.startsWith('CSeq'))))).toBe(Scan.NO_CSEQ);
    // the request is known to be a request: the classifier can answer 400
    expect(r.isRequest).toBe(true);
    // empty Call-ID counts as missing
    expect(run(msg(INVITE.map((l) => (l.startsWith('Call-ID') ? 'Call-ID: ' : l))))).toBe(Scan.NO_CALL_ID);
  });

  it('bad CSeq', () => {
    for (const v of ['2147483648 INVITE', 'INVITE', '1', '1INVITE', '99999999999999999999 INVITE', '1 INVITE x']) {
      expect(run(msg(INVITE.map((l) => (l.startsWith('CSeq') ? `CSeq: ${v}` : l)))), v).toBe(Scan.BAD_CSEQ);
    }
    expect(run(msg(INVITE.map((l) => (l.startsWith('CSeq') ? 'CSeq: 2147483647 INVITE' : l))))).toBe(Scan.OK);
    expect(r.cseqNum).toBe(2147483647);
  });

  it('bad Max-Forwards; leading zeros are fine', () => {
    for (const v of ['256', 'abc', '-1', '1 2', '']) {
      expect(run(msg(INVITE.map((l) => (l.startsWith('Max-Forwards') ? `Max-Forwards: ${v}` : l)))), v).toBe(Scan.BAD_MAX_FORWARDS);
    }
    expect(run(msg(INVITE.map((l) => (l.startsWith('Max-Forwards') ? 'Max-Forwards: 0068' : l))))).toBe(Scan.OK);
    expect(r.maxForwards).toBe(68);
  });

  it('not SIP', () => {
    for (const s of ['', '\r\n\r\n', 'HTTP/1.1 200 OK\r\n\r\n', 'GET / HTTP/1.1\r\n\r\n', 'SIP/2.0 20 OK\r\n\r\n', 'SIP/2.0 200OK\r\n\r\n',
      'SIP/2.0 099 Low\r\n\r\n', ' INVITE sip:a@b SIP/2.0\r\n\r\n', 'INVITE\r\n\r\n', 'INVITE sip:a@b\r\n\r\n', '\x00\x01\x02\x03']) {
      expect(run(Buffer.from(s, 'latin1')), JSON.stringify(s)).toBe(Scan.NOT_SIP);
    }
  });

  it('unsupported version (505): known request, no further scanning', () => {
    expect(run(msg(['OPTIONS sip:a@b SIP/3.0', 'Via: SIP/2.0/UDP h', 'Call-ID: x', 'CSeq: 1 OPTIONS']))).toBe(Scan.BAD_VERSION);
    expect(r.isRequest).toBe(true);
    expect(r.method).toBe(Method.OPTIONS);
    expect(run(msg(['SIP/1.0 200 OK', 'Via: SIP/2.0/UDP h', 'Call-ID: x', 'CSeq: 1 OPTIONS']))).toBe(Scan.BAD_VERSION);
    expect(r.isRequest).toBe(false);
  });

  it('a malformed Request-Line with a readable method still scans (the owner answers 400)', () => {
    const b = msg(['INVITE  sip:a@b;  lr  SIP/2.0  ', 'Via: SIP/2.0/UDP h', 'Call-ID: x', 'CSeq: 1 INVITE']);
    expect(run(b)).toBe(Scan.OK);
    expect(txt(b, r.ruriStart, r.ruriEnd)).toBe('sip:a@b;  lr');
  });

  it('no end of headers', () => {
    const b = Buffer.from(INVITE.join(CRLF) + CRLF, 'latin1');
    expect(run(b)).toBe(Scan.NO_END_OF_HEADERS);
  });

  it('never reads beyond len', () => {
    const full = msg(INVITE);
    // cut just before the final CRLF: the bytes are in the buffer, but past len
    expect(scan(full, full.length - 2, r)).toBe(Scan.NO_END_OF_HEADERS);
    expect(scan(full, full.length, r)).toBe(Scan.OK);
    // a len beyond the buffer is clamped to it
    expect(scan(full, full.length + 10, r)).toBe(Scan.OK);
    // every prefix: no throw, never OK before the end
    for (let n = 0; n < full.length; n++) expect(scan(full, n, r)).not.toBe(Scan.OK);
  });
});

describe('scan: line ends', () => {
  const lf = Buffer.from(INVITE.join('\n') + '\n\n', 'latin1');
  it('bare LF is rejected by default (strict)', () => {
    expect(run(lf)).not.toBe(Scan.OK);
  });
  it('bare LF is accepted with ScanFlag.LENIENT_LINE_ENDS', () => {
    expect(run(lf, undefined, ScanFlag.LENIENT_LINE_ENDS)).toBe(Scan.OK);
    expect(txt(lf, r.callIdStart, r.callIdEnd)).toBe('a84b4c76e66710@pc33.atlanta.example.com');
    expect(r.headersEnd).toBe(lf.length);
  });
  it('a bare LF inside a CRLF message does not end a header in strict mode', () => {
    const b = msg(['OPTIONS sip:a@b SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bKa\nCall-ID: hidden', 'CSeq: 1 OPTIONS']);
    expect(run(b)).toBe(Scan.NO_CALL_ID);
  });
});

describe('scan: byte searches (line ends, commas, "<>" found with Buffer indexOf)', () => {
  /** every field of a ScanResult, for comparing two scans */
  const fields = (x: ScanResult): Record<string, unknown> => ({ ...x });
  const FULL = msg([...INVITE.slice(0, 9), 'Route: "R" <sip:p1;lr>, <sip:p2>', 'Content-Length: 4'], 'v=0\n');

  it('a plain Uint8Array and a view at a byteOffset scan like the Buffer', () => {
    for (const b of [FULL, msg(INVITE), msg(['SIP/2.0 200 OK', 'Via: SIP/2.0/UDP h;branch=z9hG4bKr, SIP/2.0/UDP g', 'Call-ID: c', 'CSeq: 1 BYE'])]) {
      expect(run(b)).toBe(Scan.OK);
      const want = fields(r);
      const plain = new Uint8Array(b);
      expect(scan(plain, plain.length, r)).toBe(Scan.OK);
      expect(fields(r)).toEqual(want);
      // the same bytes 7 bytes into a larger ArrayBuffer, with CRs before and after them
      const host = new Uint8Array(b.length + 20).fill(0x0d);
      host.set(b, 7);
      const view = host.subarray(7, 7 + b.length);
      expect(scan(view, view.length, r)).toBe(Scan.OK);
      expect(fields(r)).toEqual(want);
    }
  });

  it('a CR beyond len is not a line end, whatever the buffer holds there', () => {
    const b = msg(INVITE);
    // len stops right after the CR of the final CRLF: its LF is in the buffer, not in len
    expect(scan(b, b.length - 1, r)).toBe(Scan.NO_END_OF_HEADERS);
    // len stops on a header line's CR
    const cr = b.indexOf('\r\nMax-Forwards');
    expect(scan(b, cr + 1, r)).toBe(Scan.NO_END_OF_HEADERS);
    expect(scan(b, cr, r)).toBe(Scan.NO_END_OF_HEADERS);
    // the request line cut before its CRLF, with CRLF present past len
    expect(scan(b, INVITE[0].length, r)).toBe(Scan.NO_END_OF_HEADERS);
  });

  it('a bare CR inside a value is value bytes (strict); CR CR LF ends at the second CR', () => {
    const b = msg(['OPTIONS sip:a@b SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bKa', 'Subject: x\ry', 'Call-ID: id\r', 'CSeq: 1 OPTIONS']);
    expect(run(b)).toBe(Scan.OK);
    // the Call-ID value is "id\r": it stops at the CR (not a valid Call-ID byte), the line at CR LF
    expect(txt(b, r.callIdStart, r.callIdEnd)).toBe('id');
    expect(r.cseqNum).toBe(1);
  });

  it('folded values: the line end followed by SP/HTAB continues the value', () => {
    const b = msg(['OPTIONS sip:a@b SIP/2.0', 'Via: SIP/2.0/UDP h', '\t;branch=z9hG4bKf,', ' SIP/2.0/UDP g', 'Call-ID:', '  folded-id', 'CSeq: 1', '\tOPTIONS']);
    expect(run(b)).toBe(Scan.OK);
    expect(txt(b, r.branchStart, r.branchEnd)).toBe('z9hG4bKf');
    expect(r.viaCount).toBe(2);
    expect(txt(b, r.callIdStart, r.callIdEnd)).toBe('folded-id');
    expect(r.cseqMethod).toBe(Method.OPTIONS);
  });

  it('Via values are counted only on commas outside quotes and <>', () => {
    const cases: Array<[string, number, string | null]> = [
      ['SIP/2.0/UDP h;branch=z9hG4bKa', 1, 'z9hG4bKa'],
      ['SIP/2.0/UDP h;branch=z9hG4bKa,SIP/2.0/UDP g', 2, 'z9hG4bKa'],
      ['SIP/2.0/UDP h;x="a,b";branch=z9hG4bKa', 1, 'z9hG4bKa'],
      // '<' is no param value byte: the param scan stops there (the slow path judges it)
      ['SIP/2.0/UDP h;x=<a,b>;branch=z9hG4bKa, SIP/2.0/UDP g , SIP/2.0/UDP k', 3, null],
    ];
    for (const [via, n, branch] of cases) {
      const b = msg(['OPTIONS sip:a@b SIP/2.0', `Via: ${via}`, 'Call-ID: c', 'CSeq: 1 OPTIONS']);
      expect(run(b), via).toBe(Scan.OK);
      expect(r.viaCount, via).toBe(n);
      expect(txt(b, r.branchStart, r.branchEnd), via).toBe(branch);
    }
  });

  it('a name-addr without its ">" has no URI', () => {
    const b = msg(['OPTIONS sip:a@b SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bKa', 'To: <sip:open;tag=x', 'Route: "r" <sip:p;lr', 'Call-ID: c', 'CSeq: 1 OPTIONS']);
    expect(run(b)).toBe(Scan.OK);
    expect(r.toUriStart).toBe(-1);
    expect(r.toTagStart).toBe(-1);
    expect(r.routeUriStart).toBe(-1);
  });
});

describe('scan: header names (one table look-up by first letter and length)', () => {
  const base = (extra: string[]): Buffer => msg(['OPTIONS sip:a@b SIP/2.0', ...extra]);
  const mix = (name: string, k: number): string =>
    [...name].map((ch, i) => ((k >> (i % 8)) & 1 ? ch.toUpperCase() : ch.toLowerCase())).join('');

  it('every name and compact form, in any case', () => {
    for (let k = 0; k < 8; k++) {
      const b = base([
        `${mix('via', k)}: SIP/2.0/UDP h;branch=z9hG4bKn${k}`, `${mix('v', k)}: SIP/2.0/UDP g`,
        `${mix('call-id', k)}: id${k}`, `${mix('cseq', k)}: ${k + 1} OPTIONS`, `${mix('to', k)}: <sip:t@h>;tag=t${k}`,
        `${mix('from', k)}: <sip:f@h>;tag=f${k}`, `${mix('route', k)}: <sip:r${k}@h;lr>`, `${mix('max-forwards', k)}: ${k}`,
        `${mix('content-length', k)}: ${k}`,
      ]);
      expect(run(b), `case mix ${k}`).toBe(Scan.OK);
      expect(txt(b, r.branchStart, r.branchEnd)).toBe(`z9hG4bKn${k}`);
      expect(r.viaCount).toBe(2);
      expect(txt(b, r.callIdStart, r.callIdEnd)).toBe(`id${k}`);
      expect(r.cseqNum).toBe(k + 1);
      expect(txt(b, r.toTagStart, r.toTagEnd)).toBe(`t${k}`);
      expect(txt(b, r.fromTagStart, r.fromTagEnd)).toBe(`f${k}`);
      expect(txt(b, r.routeUriStart, r.routeUriEnd)).toBe(`sip:r${k}@h;lr`);
      expect(r.maxForwards).toBe(k);
      expect(r.contentLength).toBe(k);
    }
    for (const [compact, check] of [['i', 'callId'], ['t', 'to'], ['f', 'from'], ['l', 'cl']] as const) {
      const b = base(['Via: SIP/2.0/UDP h;branch=z9hG4bKc', `${compact.toUpperCase()}: <sip:x@h>;tag=q`, 'Call-ID: c0', 'CSeq: 1 OPTIONS']);
      run(b);
      if (check === 'callId') expect(txt(b, r.callIdStart, r.callIdEnd)).toBe('<sip:x@h>;tag=q');
      if (check === 'to') expect(txt(b, r.toTagStart, r.toTagEnd)).toBe('q');
      if (check === 'from') expect(txt(b, r.fromTagStart, r.fromTagEnd)).toBe('q');
      if (check === 'cl') expect(r.contentLength).toBe(-1); // not a number: absent
    }
  });

  it('names sharing first letter and length with a known one are other headers', () => {
    const near = ['vie', 'vi', 'va', 'call-ie', 'callxid', 'cseg', 'csex', 'tx', 'ti', 'frum', 'fro', 'routf', 'rout', 'max-forwardz',
      'max-forward', 'content-lengtx', 'content-lengths', 'w', 'j', 'u', 'g', 'm'];
    const b = base(['Via: SIP/2.0/UDP h;branch=z9hG4bKa', ...near.map((n) => `${n}: SIP/2.0/UDP evil;branch=evil, <sip:evil;sf=3>;tag=evil`), 'Call-ID: c', 'CSeq: 1 OPTIONS']);
    expect(run(b)).toBe(Scan.OK);
    expect(r.viaCount).toBe(1);
    expect(txt(b, r.branchStart, r.branchEnd)).toBe('z9hG4bKa');
    expect(txt(b, r.callIdStart, r.callIdEnd)).toBe('c');
    expect(r.toUriStart).toBe(-1);
    expect(r.fromTagStart).toBe(-1);
    expect(r.routeUriStart).toBe(-1);
    expect(r.maxForwards).toBe(-1);
    expect(r.contentLength).toBe(-1);
  });

  it('non-ASCII and very long names are other headers', () => {
    const b = base(['Via: SIP/2.0/UDP h;branch=z9hG4bKa', 'V\xeda: SIP/2.0/UDP evil', `${'x'.repeat(300)}: y`, 'Call-ID: c', 'CSeq: 1 OPTIONS']);
    expect(run(b)).toBe(Scan.OK);
    expect(r.viaCount).toBe(1);
  });
});

describe('methodOf', () => {
  it('maps the known methods, case-sensitively', () => {
    const names = ['INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'REGISTER', 'PRACK', 'UPDATE', 'INFO', 'SUBSCRIBE', 'NOTIFY', 'MESSAGE', 'REFER', 'PUBLISH'] as const;
    for (const n of names) {
      const b = Buffer.from(`x${n}y`);
      expect(methodOf(b, 1, 1 + n.length)).toBe(Method[n]);
    }
    expect(methodOf(Buffer.from('invite'), 0, 6)).toBe(Method.OTHER);
    expect(methodOf(Buffer.from('INVITES'), 0, 7)).toBe(Method.OTHER);
    expect(methodOf(Buffer.from('RE%47IST%45R'), 0, 12)).toBe(Method.OTHER);
    expect(methodOf(Buffer.from(''), 0, 0)).toBe(Method.OTHER);
  });
});
