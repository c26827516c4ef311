import { describe, expect, test } from 'vitest';
import {
  BRANCH_PREFIX, TokenError, branchOwner, branchOwnerString, mintBranch, routeTokenParam, uriTokenOwner, uriTokenOwnerString,
} from '../../../src/farm/tokens.js';

const enc = new TextEncoder();

/** Run the byte scanner on `s` placed inside other bytes, so reads past `end` would show. */
function ownerInside(fn: (b: Uint8Array, s: number, e: number) => number, s: string): number {
  const pre = 'XX;sf=9@';
  const post = ';sf=7-abc>';
  const buf = enc.encode(pre + s + post);
  return fn(buf, pre.length, pre.length + enc.encode(s).length);
}

describe('branch tokens', () => {
  test('mintBranch → branchOwner round trip for every member id', () => {
    for (let id = 0; id <= 254; id++) {
      const br = mintBranch(id);
      expect(br).toMatch(/^z9hG4bK-sf(0|[1-9][0-9]{0,2})-[a-z0-9]{16}$/);
      expect(ownerInside(branchOwner, br)).toBe(id);
      expect(branchOwnerString(br)).toBe(id);
    }
  });

  test('minted branches are unique and use the whole alphabet', () => {
    const seen = new Set<string>();
    const chars = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const br = mintBranch(3);
      seen.add(br);
      for (const c of br.slice(BRANCH_PREFIX.length + 2)) chars.add(c);
    }
    expect(seen.size).toBe(2000);
    expect(chars.size).toBe(36);
  });

  test('mintBranch refuses ids outside 0..254', () => {
    expect(() => mintBranch(255)).toThrow(TokenError);
    expect(() => mintBranch(-1)).toThrow(TokenError);
    expect(() => mintBranch(1.5)).toThrow(TokenError);
    expect(() => routeTokenParam(255)).toThrow(expect.objectContaining({ code: 'TOKEN_BAD_MEMBER_ID' }));
  });

  test.each([
    ['z9hG4bK-sf0-a', 0],
    ['z9hG4bK-sf254-x', 254],
    ['z9hG4bK-sf12-abc.def;x', 12],
    ['z9hG4bK776asdhds', -1], // a foreign RFC 3261 branch
    ['z9hG4bK-sf', -1],
    ['z9hG4bK-sf1', -1], // no '-'
    ['z9hG4bK-sf1-', -1], // nothing after '-'
    ['z9hG4bK-sf-1-a', -1], // no digits
    ['z9hG4bK-sf255-a', -1],
    ['z9hG4bK-sf1000-a', -1],
    ['z9hG4bK-sf999-a', -1],
    ['z9hG4bK-sf01-a', -1], // leading zero
    ['z9hG4bK-sf00-a', -1],
    ['Z9HG4BK-sf1-a', -1], // not our spelling
    ['z9hG4bK-SF1-a', -1],
    ['z9hG4bK-sfx-a', -1],
    ['z9hG4bK-sf1x-a', -1],
    ['', -1],
    ['z9h', -1],
  ])('branchOwner(%s) = %i', (br, want) => {
    expect(ownerInside(branchOwner, br)).toBe(want);
    expect(branchOwnerString(br)).toBe(want);
  });

  test('never reads outside [start, end)', () => {
    const buf = enc.encode('z9hG4bK-sf12-abc');
    expect(branchOwner(buf, 0, 12)).toBe(-1); // cut right after the digits
    expect(branchOwner(buf, 0, 13)).toBe(-1); // cut right after the '-'
    expect(branchOwner(buf, 0, 14)).toBe(12);
  });
});

describe('route tokens', () => {
  test('routeTokenParam', () => {
    expect(routeTokenParam(2)).toBe('sf=2');
    expect(uriTokenOwnerString(`<sip:203.0.113.100:5060;lr;${routeTokenParam(254)}>`)).toBe(254);
  });

  test.each([
    ['sip:203.0.113.100:5060;lr;sf=2', 2],
    ['<sip:203.0.113.100:5060;lr;sf=2>', 2],
    ['sip:203.0.113.100;SF=7;lr', 7],
    ['sip:203.0.113.100;Sf=0', 0],
    ['SIPS:farm.example.com;sf=5', 5],
    ['sip:u@h;maddr=198.51.100.1;sf=12;transport=udp', 12],
    ['sip:[2001:db8::1]:5060;lr;sf=9', 9],
    ['sip:[2001:db8::1];sf=10', 10],
    ['sip:alice;sf=3@example.com', -1], // ';sf=' in the user part
    ['sip:alice;sf=3@example.com;sf=4', 4],
    ['sip:a,b?c;d=e@198.51.100.7;lr;sf=1', 1], // ',', '?' and ';' are user-unreserved
    ['sip:h;xsf=1', -1],
    ['sip:h;sfx=1', -1],
    ['sip:h;x=sf;y=sf=1', -1],
    ['sip:h;sf', -1],
    ['sip:h;sf=', -1],
    ['sip:h;sf=;lr', -1],
    ['sip:h;sf=255', -1],
    ['sip:h;sf=01', -1],
    ['sip:h;sf=1a', -1],
    ['sip:h;sf=1000', -1],
    ['sip:h;sf=1;sf=2', 1], // the first decides
    ['sip:h;sf=x;sf=2', -1], // a malformed first one is not skipped
    ['sip:h?sf=1', -1], // URI header, not a parameter
    ['sip:h;lr?x=y;sf=1', -1],
    ['<sip:h;lr>;sf=3', -1], // header parameter after '>'
    ['sip:h', -1],
    ['sip:h:5060', -1],
    ['tel:+15551234;sf=1', -1],
    ['sipx:h;sf=1', -1],
    ['sip;sf=1', -1],
    ['', -1],
    ['<', -1],
    ['sip:', -1],
    ['sip:[2001:db8::1;sf=1', -1], // unterminated IPv6 reference
  ])('uriTokenOwner(%s) = %i', (uri, want) => {
    expect(ownerInside(uriTokenOwner, uri)).toBe(want);
    expect(uriTokenOwnerString(uri)).toBe(want);
  });

  test('Request-URI followed by the rest of the start line', () => {
    const line = enc.encode('BYE sip:203.0.113.100;lr;sf=3 SIP/2.0\r\n');
    expect(uriTokenOwner(line, 4, line.length)).toBe(3); // scan stops at the space
  });

  test('random bytes never throw and give -1 or a member id', () => {
    let seed = 1;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16) & 0xff;
    const alphabet = enc.encode('sip:SF=;<>@[]?0123456789z9hG4bK-abc ');
    const buf = new Uint8Array(64);
    for (let i = 0; i < 20000; i++) {
      const n = rnd() % 64;
      for (let k = 0; k < n; k++) buf[k] = i % 2 === 0 ? rnd() : alphabet[rnd() % alphabet.length];
      for (const f of [uriTokenOwner, branchOwner]) {
        const r = f(buf, 0, n);
        expect(r === -1 || (r >= 0 && r <= 254)).toBe(true);
      }
    }
  });
});
