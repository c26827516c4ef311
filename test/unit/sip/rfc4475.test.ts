/**
 * RFC 4475 torture messages, table-driven from test/vectors/rfc4475/expectations.json
 * (shared with the native classifier's harness).
 *
 * Each entry: { file, section, category, parse: 'ok'|'reject', status?, code?, scan, note }
 *  - parse 'reject': parseMessage throws SipParseError with `status` and `code`;
 *  - parse 'ok': parseMessage succeeds; `status`, when present, is the answer the RFC
 *    expects from the element that acts on it (proxy/registrar/UAS), not the parser's;
 *  - scan: the expected `Scan` status name from the fast-path scanner.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SipParseError } from '../../../src/sip/errors.js';
import { parseMessage } from '../../../src/sip/message.js';
import { Scan, ScanResult, scan } from '../../../src/sip/scanner.js';

interface Expectation {
  file: string; section: string; category: string; parse: 'ok' | 'reject';
  status?: number; code?: string; scan: keyof typeof Scan; note: string;
}

const dir = join(dirname(fileURLToPath(import.meta.url)), '../../vectors/rfc4475');
const table: Expectation[] = JSON.parse(readFileSync(join(dir, 'expectations.json'), 'utf8'));
const load = (f: string): Buffer => readFileSync(join(dir, f));

describe('RFC 4475 expectations table', () => {
  it('covers all 49 messages once', () => {
    expect(table).toHaveLength(49);
    expect(new Set(table.map((e) => e.file)).size).toBe(49);
    expect(table.filter((e) => e.category === 'valid')).toHaveLength(13);
    expect(table.filter((e) => e.category === 'invalid')).toHaveLength(19);
    expect(table.filter((e) => e.category === 'application')).toHaveLength(15);
  });
});

describe('RFC 4475 parseMessage', () => {
  for (const e of table) {
    it(`${e.section} ${e.file}: ${e.parse}${e.status ? ` (${e.status})` : ''}`, () => {
      const buf = load(e.file);
      if (e.parse === 'ok') {
        const m = parseMessage(buf);
        // every accepted message yields the structures a proxy needs
        expect(m.callId().length).toBeGreaterThan(0);
        expect(m.cseq().seq).toBeGreaterThanOrEqual(0);
        expect(m.topVia()).toBeDefined();
        m.from();
        m.to();
        // and survives a serialize/parse round trip
        const again = parseMessage(m.toBuffer());
        const noLength = (hs: { name: string }[]) => hs.filter((h) => h.name !== 'content-length');
        expect(noLength(again.headers)).toEqual(noLength(m.headers));
        expect(again.get('content-length')).toBe(String(m.body.length));
        expect(again.body.equals(m.body)).toBe(true);
      } else {
        let err: unknown;
        try {
          parseMessage(buf);
        } catch (x) {
          err = x;
        }
        expect(err).toBeInstanceOf(SipParseError);
        const pe = err as SipParseError;
        expect(pe.status).toBe(e.status);
        expect(pe.code).toBe(e.code);
        expect(pe.reason.length).toBeGreaterThan(0);
      }
    });
  }
});

describe('RFC 4475 scan', () => {
  const r = new ScanResult();
  for (const e of table) {
    it(`${e.section} ${e.file}: ${e.scan}`, () => {
      const buf = load(e.file);
      expect(scan(buf, buf.length, r)).toBe(Scan[e.scan]);
    });
  }
});

describe('RFC 4475 details', () => {
  it('3.1.1.1 wsinv: LWS everywhere, folded values, compact forms', () => {
    const m = parseMessage(load('valid/wsinv.dat'));
    expect(m.method).toBe('INVITE');
    expect(m.cseq()).toEqual({ seq: 9, method: 'INVITE' });
    expect(m.maxForwards()).toBe(68);
    expect(m.to().tag).toBe('1918181833n');
    expect(m.from().display).toBe('J Rosenberg \\"');
    expect(m.from().tag).toBe('98asjd8');
    const vias = m.getAll('via');
    expect(vias).toHaveLength(3);
    expect(m.topVia()).toMatchObject({ protocol: 'SIP/2.0', transport: 'UDP', host: '192.0.2.2', branch: '390skdjuw' });
    expect(m.get('subject')).toBe('');
    expect(m.get('newfangledheader')).toBe('newfangled value continued newfangled value');
    const contact = m.getAll('m');
    expect(contact).toHaveLength(1);
    expect(m.body.length).toBe(150);
  });

  it('3.1.1.5 esc02: RE%47IST%45R is an extension method, C%6Fntact an unknown header', () => {
    const m = parseMessage(load('valid/esc02.dat'));
    expect(m.method).toBe('RE%47IST%45R');
    expect(m.getAll('contact')).toHaveLength(2);
    expect(m.get('c%6fntact')).toBe('<sip:alias2@host2.example.com>');
  });

  it('3.1.1.8 dblreq: only the first request, body per Content-Length', () => {
    const m = parseMessage(load('valid/dblreq.dat'));
    expect(m.method).toBe('REGISTER');
    expect(m.body.length).toBe(0);
  });

  it('3.1.1.10 transports: five Via values, transports upper-cased', () => {
    const m = parseMessage(load('valid/transports.dat'));
    expect(m.getAll('via')).toHaveLength(5);
    expect(m.callId()).toBe('transports.kijh4akdnaqjkwendsasfdj');
  });

  it('3.1.1.13 noreason: empty reason phrase', () => {
    const m = parseMessage(load('valid/noreason.dat'));
    expect(m.kind).toBe('response');
    expect(m.status).toBe(100);
    expect(m.reason).toBe('');
  });

  it('3.1.2.15 baddn with the missing empty line restored: display-name error', () => {
    const buf = Buffer.concat([load('invalid/baddn.dat'), Buffer.from('\r\n')]);
    expect(() => parseMessage(buf)).toThrow(expect.objectContaining({ code: 'ERR_SIP_BAD_NAME_ADDR', status: 400 }));
  });

  it('3.4.1 inv2543: no Content-Length over UDP → the rest of the datagram is the body', () => {
    const buf = load('invalid/inv2543.dat');
    const m = parseMessage(buf);
    expect(m.maxForwards()).toBeUndefined();
    expect(m.topVia()?.branch).toBeUndefined();
    expect(m.body.toString()).toMatch(/^v=0\r\n/);
    expect(m.body.length).toBe(buf.length - buf.indexOf('\r\n\r\n') - 4);
  });

  it('3.3.4 unksm2: URIs of unknown schemes are kept opaque', () => {
    const m = parseMessage(load('invalid/unksm2.dat'));
    expect(m.to().uri).toMatchObject({ scheme: 'isbn', opaque: '2983792873' });
    expect(m.from().uri).toMatchObject({ scheme: 'http', opaque: '//www.example.com' });
  });
});
