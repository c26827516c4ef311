import { describe, expect, it } from 'vitest';
import { SipParseError } from '../../../src/sip/errors.js';
import {
  formatNameAddr, formatVia, parseCSeq, parseNameAddr, parseParams, parseVia, splitList,
} from '../../../src/sip/headers.js';
import { aorOf, formatUri, parseUri } from '../../../src/sip/uri.js';

const code = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SipParseError);
    return (e as SipParseError).code;
  }
  return 'no error';
};

describe('parseUri', () => {
  it('sip URI with everything', () => {
    const u = parseUri('sips:alice:secret@Atlanta.Example.COM:5061;transport=TCP;LR;maddr=198.51.100.1?Subject=hi&Priority=urgent');
    expect(u).toMatchObject({ scheme: 'sips', user: 'alice', password: 'secret', host: 'Atlanta.Example.COM', port: 5061, headers: 'Subject=hi&Priority=urgent' });
    expect([...u.params]).toEqual([['transport', 'TCP'], ['lr', null], ['maddr', '198.51.100.1']]);
  });

  it('minimal forms, IPv6, scheme case', () => {
    expect(parseUri('SIP:example.com')).toMatchObject({ scheme: 'sip', host: 'example.com' });
    expect(parseUri('sip:example.com').user).toBeUndefined();
    expect(parseUri('sip:[2001:db8::10]:5070;lr')).toMatchObject({ host: '[2001:db8::10]', port: 5070 });
    expect(parseUri('sip:bob@198.51.100.9')).toMatchObject({ user: 'bob', host: '198.51.100.9' });
  });

  it('user part may hold ; ? and escapes (RFC 4475 §3.1.1.9, §3.1.1.2)', () => {
    expect(parseUri('sip:user;par=u%40example.net@example.com')).toMatchObject({ user: 'user;par=u%40example.net', host: 'example.com' });
    const weird = parseUri("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com");
    expect(weird.user).toBe("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    expect(weird.password).toBe("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
    expect(weird.host).toBe('example.com');
  });

  it('parameter names are unescaped and lowercased, values kept', () => {
    const u = parseUri('sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31');
    expect(u.params.has('lr')).toBe(true);
    expect(u.params.get('name')).toBe('v%61lue%25%34%31');
  });

  it('tel and unknown schemes', () => {
    expect(parseUri('tel:+1-201-555-0123;phone-context=example.com')).toMatchObject({ scheme: 'tel', user: '+1-201-555-0123', host: '' });
    expect(parseUri('tel:+1-201-555-0123;phone-context=example.com').params.get('phone-context')).toBe('example.com');
    expect(parseUri('soap.beep://192.0.2.103:3002')).toMatchObject({ scheme: 'soap.beep', opaque: '//192.0.2.103:3002', host: '' });
    expect(parseUri('urn:service:sos')).toMatchObject({ scheme: 'urn', opaque: 'service:sos' });
  });

  it('rejects malformed URIs with ERR_SIP_BAD_URI', () => {
    for (const s of ['', 'sip:', 'sip:@host', 'sip:user@', 'sip:a b@c', '<sip:a@b>', 'sip:a@b;', 'sip:a@b;;lr', 'sip:a@b:99999', 'sip:a@b:x',
      'sip:a@b?', 'sip:a@b?x', 'sip:a%4@b', 'sip:a@b>x', '1sip:a@b', 'nocolon', 'sip:a@[::1', 'sip:a@b\u00e9', 'x:']) {
      expect(code(() => parseUri(s)), s).toBe('ERR_SIP_BAD_URI');
    }
  });

  it('formatUri round-trips', () => {
    for (const s of ['sip:alice@atlanta.example.com', 'sips:a:pw@h:5061;transport=tcp;lr?subject=x', 'sip:[2001:db8::1]:5060;lr',
      'tel:+1-201-555-0123;phone-context=example.com', 'isbn:2983792873', 'sip:h;maddr=198.51.100.1']) {
      expect(formatUri(parseUri(s))).toBe(s);
    }
  });

  it('aorOf: scheme + user + lowercased host, escapes normalised (RFC 3261 §10.3, §19.1.4)', () => {
    expect(aorOf(parseUri('sip:alice@AtLanTa.Example.COM:5060;transport=tcp'))).toBe('sip:alice@atlanta.example.com');
    expect(aorOf(parseUri('sip:%61lice@atlanta.example.com'))).toBe('sip:alice@atlanta.example.com');
    expect(aorOf(parseUri('sip:sips%3auser%40example.com@example.net'))).toBe('sip:sips%3Auser%40example.com@example.net');
    expect(aorOf(parseUri('sip:example.com'))).toBe('sip:example.com');
    expect(aorOf(parseUri('tel:+12015550123;phone-context=x'))).toBe('tel:+12015550123');
  });
});

describe('parseParams', () => {
  it('flags, values, quoted values, whitespace around separators', () => {
    const p = parseParams(' ; Tag = abc ; lr ; q=0.7 ; +sip.instance="<urn:uuid:f81d4fae;x>" ');
    expect([...p]).toEqual([['tag', 'abc'], ['lr', null], ['q', '0.7'], ['+sip.instance', '"<urn:uuid:f81d4fae;x>"']]);
    expect([...parseParams('a=b;c')]).toEqual([['a', 'b'], ['c', null]]);
    expect(parseParams('').size).toBe(0);
  });
  it('rejects empty, duplicate and unterminated params', () => {
    for (const s of [';;', ';a;;b', ';a=', ';a="x', ';a;A', ';=x', ';a b']) expect(code(() => parseParams(s)), s).toBe('ERR_SIP_BAD_PARAMS');
  });
});

describe('splitList', () => {
  it('splits on commas outside quotes and <>', () => {
    expect(splitList('<sip:a@b;x=1,2>, "Doe, John" <sip:c@d>,sip:e@f ;q=1')).toEqual(['<sip:a@b;x=1,2>', '"Doe, John" <sip:c@d>', 'sip:e@f ;q=1']);
    expect(splitList('"a\\",b" <sip:x@y>, z')).toEqual(['"a\\",b" <sip:x@y>', 'z']);
    expect(splitList('single')).toEqual(['single']);
    expect(splitList('  ')).toEqual([]);
    expect(splitList('a,,b,')).toEqual(['a', '', 'b', '']);
  });
});

describe('parseVia / formatVia', () => {
  it('plain and with LWS everywhere (RFC 4475 §3.1.1.1)', () => {
    expect(parseVia('SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport')).toMatchObject({
      protocol: 'SIP/2.0', transport: 'UDP', host: 'pc33.atlanta.example.com', branch: 'z9hG4bK776asdhds',
    });
    const v = parseVia('SIP  / 2.0  / tcp     spindle.example.com   : 5070 ;  branch  =   z9hG4bK9ikj8 ; received = 198.51.100.2');
    expect(v).toMatchObject({ protocol: 'SIP/2.0', transport: 'TCP', host: 'spindle.example.com', port: 5070, branch: 'z9hG4bK9ikj8' });
    expect(v.params.get('received')).toBe('198.51.100.2');
    expect(parseVia('SIP/2.0/UDP [2001:db8::9]:5060;branch=z9hG4bKx')).toMatchObject({ host: '[2001:db8::9]', port: 5060 });
    expect(parseVia('SIP/2.0/UDP iftgw.example.com').branch).toBeUndefined();
    expect(parseVia('SIP/2.0/UDP h;rport').params.get('rport')).toBeNull();
  });
  it('rejects malformed values', () => {
    for (const s of ['', 'SIP/2.0', 'SIP/2.0/UDP', 'SIP/2.0/UDPhost', 'SIP/2.0 UDP host', 'SIP/2.0/UDP host;;', 'SIP/2.0/UDP host;branch',
      'SIP/2.0/UDP host:99999', 'SIP/2.0/UDP host x', 'SIP/2.0/UDP 192.0.2.15;;,;,,']) {
      expect(code(() => parseVia(s)), s).toBe('ERR_SIP_BAD_VIA');
    }
  });
  it('formats back', () => {
    const s = 'SIP/2.0/UDP h.example.com:5060;branch=z9hG4bK1;rport;received=198.51.100.1';
    expect(formatVia(parseVia(s))).toBe(s);
    const v = parseVia(s);
    v.branch = 'z9hG4bK2';
    expect(formatVia(v)).toBe('SIP/2.0/UDP h.example.com:5060;branch=z9hG4bK2;rport;received=198.51.100.1');
    expect(formatVia({ protocol: 'SIP/2.0', transport: 'UDP', host: '198.51.100.3', params: new Map(), branch: 'z9hG4bK-sf1-x' }))
      .toBe('SIP/2.0/UDP 198.51.100.3;branch=z9hG4bK-sf1-x');
  });
});

describe('parseNameAddr / formatNameAddr', () => {
  it('name-addr forms', () => {
    expect(parseNameAddr('"Bob \\"B\\"" <sip:bob@example.com>;tag=a6c85cf')).toMatchObject({ display: 'Bob "B"', tag: 'a6c85cf' });
    expect(parseNameAddr('Bob Smith <sip:bob@example.com>').display).toBe('Bob Smith');
    expect(parseNameAddr('caller<sip:caller@example.com>;tag=323')).toMatchObject({ display: 'caller', tag: '323' });
    const na = parseNameAddr('<sip:alice@pc33.example.com;transport=tcp>;expires=60;+sip.instance="<urn:uuid:1>"');
    expect(na.uri.params.get('transport')).toBe('tcp');
    expect(na.params.get('expires')).toBe('60');
    expect(na.display).toBeUndefined();
  });
  it('addr-spec: params after it belong to the header (RFC 3261 §20)', () => {
    const na = parseNameAddr('sip:+19725552222@gw1.example.net;unknownparam');
    expect(na.uri.params.size).toBe(0);
    expect(na.params.has('unknownparam')).toBe(true);
    expect(parseNameAddr('sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n').tag).toBe('1918181833n');
  });
  it('rejects the RFC 4475 bad forms', () => {
    expect(code(() => parseNameAddr('"Mr. J. User <sip:j.user@example.com>'))).toBe('ERR_SIP_BAD_NAME_ADDR'); // quotbal
    expect(code(() => parseNameAddr('"Watson, Thomas" < sip:t.watson@example.org >'))).toBe('ERR_SIP_BAD_NAME_ADDR'); // badaspec
    expect(code(() => parseNameAddr('Bell, Alexander <sip:a.g.bell@example.com>;tag=43'))).toBe('ERR_SIP_BAD_NAME_ADDR'); // baddn
    expect(code(() => parseNameAddr('sip:user@example.com?Route=%3Csip:sip.example.com%3E'))).toBe('ERR_SIP_BAD_NAME_ADDR'); // regbadct
    expect(code(() => parseNameAddr('"Joe" <sip:joe@example.org>;;;;'))).toBe('ERR_SIP_BAD_NAME_ADDR'); // badinv01
    expect(code(() => parseNameAddr('<sip:a@b'))).toBe('ERR_SIP_BAD_NAME_ADDR');
    expect(code(() => parseNameAddr('"x"sip:a@b'))).toBe('ERR_SIP_BAD_NAME_ADDR');
    expect(code(() => parseNameAddr(''))).toBe('ERR_SIP_BAD_NAME_ADDR');
  });
  it('formats with quotes and <>', () => {
    const na = parseNameAddr('Bob <sip:bob@example.com>;tag=1');
    expect(formatNameAddr(na)).toBe('"Bob" <sip:bob@example.com>;tag=1');
    na.tag = '2';
    expect(formatNameAddr(na)).toBe('"Bob" <sip:bob@example.com>;tag=2');
    expect(formatNameAddr({ display: 'a "q" \\', uri: parseUri('sip:x@y'), params: new Map() })).toBe('"a \\"q\\" \\\\" <sip:x@y>');
    expect(parseNameAddr(formatNameAddr({ display: 'a "q" \\', uri: parseUri('sip:x@y'), params: new Map() })).display).toBe('a "q" \\');
  });
});

describe('parseCSeq', () => {
  it('number and method', () => {
    expect(parseCSeq('314159 INVITE')).toEqual({ seq: 314159, method: 'INVITE' });
    expect(parseCSeq('0009 INVITE')).toEqual({ seq: 9, method: 'INVITE' });
    expect(parseCSeq('2147483647 ACK')).toEqual({ seq: 2147483647, method: 'ACK' });
  });
  it('rejects', () => {
    for (const s of ['', 'INVITE', '1', '1INVITE', '2147483648 INVITE', '36893488147419103232 REGISTER', '-1 INVITE', '1 INVITE extra', '1 INV@TE']) {
      expect(code(() => parseCSeq(s)), s).toBe('ERR_SIP_BAD_CSEQ');
    }
  });
});

describe('parser shortcuts = the general spelling rules', () => {
  it("Via protocol and transport: 'SIP'/'2.0'/'UDP' constants and every other spelling", () => {
    const cases: [string, string, string][] = [
      ['SIP/2.0/UDP h', 'SIP/2.0', 'UDP'],
      ['sip/2.0/udp h', 'SIP/2.0', 'UDP'],
      ['SIP / 2.0 / UDP h', 'SIP/2.0', 'UDP'],
      ['SIP/2.0/UDPX h', 'SIP/2.0', 'UDPX'],
      ['SIP/2.0/UD h', 'SIP/2.0', 'UD'],
      ['SIPX/2.0/Tcp h', 'SIPX/2.0', 'TCP'],
      ['SIP/2.01/udp h', 'SIP/2.01', 'UDP'],
      ['Sip/2.0/UDP h', 'SIP/2.0', 'UDP'],
    ];
    for (const [v, protocol, transport] of cases) {
      const via = parseVia(v);
      expect([via.protocol, via.transport], v).toEqual([protocol, transport]);
    }
  });
  it('a Via with its parameters', () => {
    const text = 'SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-shared;rport';
    expect(parseVia(text)).toEqual({ protocol: 'SIP/2.0', transport: 'UDP', host: '198.51.100.7', port: 5060, params: new Map([['branch', 'z9hG4bK-shared'], ['rport', null]]), branch: 'z9hG4bK-shared' });
    const from = 'sipp <sip:sipp@127.0.0.1:5071>;tag=shared1';
    expect(parseNameAddr(from).tag).toBe('shared1');
    expect(parseNameAddr(from).display).toBe('sipp');
    for (let i = 0; i < 300; i++) {
      expect(parseVia(`SIP/2.0/UDP h${i};branch=z9hG4bK-${i}`).branch).toBe(`z9hG4bK-${i}`);
      expect(parseNameAddr(`<sip:a${i}@b>;tag=t${i}`).uri.user).toBe(`a${i}`);
    }
  });
  it('display names of one word and of several', () => {
    expect(parseNameAddr('Alice <sip:a@b>').display).toBe('Alice');
    expect(parseNameAddr('Alice  Liddell\t<sip:a@b>').display).toBe('Alice  Liddell');
    expect(code(() => parseNameAddr('Al@ce <sip:a@b>'))).not.toBe('no error');
    expect(code(() => parseNameAddr('Alice Li@ddell <sip:a@b>'))).not.toBe('no error');
  });
  it('parameter names: plain, upper-case, escaped; duplicates still refused', () => {
    expect([...parseParams(';branch=1;TAG=2;l%72=3;Received=4;sf;q=0.5;x-y=z')]).toEqual([
      ['branch', '1'], ['tag', '2'], ['lr', '3'], ['received', '4'], ['sf', null], ['q', '0.5'], ['x-y', 'z'],
    ]);
    expect(code(() => parseParams(';tag=1;tag=2'))).toBe('ERR_SIP_BAD_PARAMS');
    expect(code(() => parseParams(';tag=1;TAG=2'))).toBe('ERR_SIP_BAD_PARAMS');
    expect(code(() => parseParams(';lr;l%72'))).toBe('ERR_SIP_BAD_PARAMS');
    expect(parseUri('sip:a@b;LR;Transport=udp').params).toEqual(new Map([['lr', null], ['transport', 'udp']]));
  });
  it('CSeq numbers with leading zeros, as the regex-stripping parser read them', () => {
    expect(parseCSeq('0009 INVITE')).toEqual({ seq: 9, method: 'INVITE' });
    expect(parseCSeq('0 ACK')).toEqual({ seq: 0, method: 'ACK' });
    expect(parseCSeq('000 ACK')).toEqual({ seq: 0, method: 'ACK' });
    expect(parseCSeq('00000000002147483647 BYE').seq).toBe(2147483647);
    expect(code(() => parseCSeq('2147483648 BYE'))).toBe('ERR_SIP_BAD_CSEQ');
    expect(code(() => parseCSeq('12345678901 BYE'))).toBe('ERR_SIP_BAD_CSEQ');
    expect(code(() => parseCSeq('INVITE'))).toBe('ERR_SIP_BAD_CSEQ');
    expect(code(() => parseCSeq('1INVITE'))).toBe('ERR_SIP_BAD_CSEQ');
  });
});

