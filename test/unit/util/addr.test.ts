import { describe, expect, it } from 'vitest';
import {
  AddrError,
  canonicalHost,
  formatHostPort,
  isIpLiteral,
  isUnspecified,
  parseHostPort,
  sameHostPort,
} from '../../../src/util/addr.js';

function reason(s: string, defaultPort?: number): string {
  try {
    parseHostPort(s, defaultPort);
  } catch (err) {
    expect(err).toBeInstanceOf(AddrError);
    expect((err as AddrError).code).toBe('ERR_ADDR');
    return (err as AddrError).reason;
  }
  throw new Error(`"${s}" was accepted`);
}

describe('parseHostPort', () => {
  it('IPv4, IPv6 and names with ports', () => {
    expect(parseHostPort('198.51.100.1:5060')).toEqual({ host: '198.51.100.1', port: 5060 });
    expect(parseHostPort('[2001:DB8::1]:5061')).toEqual({ host: '2001:db8::1', port: 5061 });
    expect(parseHostPort('[::1]:1')).toEqual({ host: '::1', port: 1 });
    expect(parseHostPort('sip.example.com:65535')).toEqual({ host: 'sip.example.com', port: 65535 });
  });

  it('default port only when one is given', () => {
    expect(parseHostPort('198.51.100.1', 5060)).toEqual({ host: '198.51.100.1', port: 5060 });
    expect(parseHostPort('[::1]', 5060)).toEqual({ host: '::1', port: 5060 });
    expect(reason('198.51.100.1')).toBe('syntax');
    expect(reason('[::1]')).toBe('syntax');
  });

  it('refuses bad ports, hosts and unbracketed IPv6', () => {
    expect(reason('198.51.100.1:0')).toBe('port');
    expect(reason('198.51.100.1:65536')).toBe('port');
    expect(reason('198.51.100.1:')).toBe('port');
    expect(reason('198.51.100.1:50x')).toBe('port');
    expect(reason('198.51.100.1:+50')).toBe('port');
    expect(reason('::1:5060')).toBe('ipv6-brackets');
    expect(reason('[198.51.100.1]:5060')).toBe('host');
    expect(reason('[::1')).toBe('syntax');
    expect(reason('[::1]5060')).toBe('syntax');
    expect(reason('bad_host:5060')).toBe('host');
    expect(reason(':5060')).toBe('syntax');
    expect(reason(' 198.51.100.1:5060')).toBe('syntax');
    expect(reason('')).toBe('syntax');
  });
});

describe('helpers', () => {
  it('formatHostPort round-trips', () => {
    for (const s of ['198.51.100.1:5060', '[2001:db8::1]:5061', 'sip.example.com:5060']) {
      expect(formatHostPort(parseHostPort(s))).toBe(s);
    }
  });

  it('isIpLiteral', () => {
    expect(isIpLiteral('203.0.113.5')).toBe(true);
    expect(isIpLiteral('2001:db8::5')).toBe(true);
    expect(isIpLiteral('[2001:db8::5]')).toBe(false);
    expect(isIpLiteral('203.0.113.256')).toBe(false);
    expect(isIpLiteral('example.com')).toBe(false);
  });

  it('isUnspecified', () => {
    expect(isUnspecified('0.0.0.0')).toBe(true);
    expect(isUnspecified('::')).toBe(true);
    expect(isUnspecified('0:0::0')).toBe(true);
    expect(isUnspecified('::1')).toBe(false);
    expect(isUnspecified('127.0.0.1')).toBe(false);
  });

  it('sameHostPort compares IPv6 by value', () => {
    expect(canonicalHost('::1')).toBe('0000:0000:0000:0000:0000:0000:0000:0001');
    expect(canonicalHost('::ffff:1.2.3.4')).toBe(canonicalHost('::ffff:102:304'));
    expect(sameHostPort({ host: '::1', port: 1 }, { host: '0:0:0::1', port: 1 })).toBe(true);
    expect(sameHostPort({ host: '2001:DB8::1', port: 1 }, { host: '2001:db8:0::1', port: 1 })).toBe(true);
    expect(sameHostPort({ host: '::1', port: 1 }, { host: '::1', port: 2 })).toBe(false);
    expect(sameHostPort({ host: 'A.example', port: 1 }, { host: 'a.example', port: 1 })).toBe(true);
  });
});
