/**
 * The proxy's shortcuts against what they replace, on the same inputs: the loop-hash
 * and stateless-branch FNV without the joined string, our Via's parse built from a
 * model instead of parsed, and the stateless branch prefix taken once.
 */
import { describe, expect, it } from 'vitest';
import { fnv1a32String } from '../../../src/farm/hash.js';
import { mintBranch } from '../../../src/farm/tokens.js';
import { parseVia } from '../../../src/sip/headers.js';
import { loopKeyHash, stringHash, viaWithBranch } from '../../../src/proxy/proxy.js';

describe('loop key hash = fnv1a32String of the joined key', () => {
  it('on ASCII and non-ASCII pieces', () => {
    const samples: string[][] = [
      ['sip:service@127.0.0.1:5072', '1a', '1b', '1-bench@127.0.0.1', '2', ''],
      ['', '', '', '', '0', ''],
      ['sip:bob@example.com', 'tag', '', 'cid', '4294967295', 'foo,bar'],
      ['sip:bjørn@example.com', 'x', 'y', 'c', '1', ''],
      ['sip:a@b', 'é', '', 'c', '1', ''],
      ['sip:a@b', 'x', '日本', 'c', '1', 'ext'],
      ['sip:a@b', 'x', '\u{1F600}', 'c', '1', ''],
    ];
    for (let i = 0; i < 200; i++) samples.push(['sip:u' + i + '@h', String(i * 7919), '', `${i}@c`, String(i), i % 5 === 0 ? 'a,b' : '']);
    for (const parts of samples) expect(loopKeyHash(parts.slice())).toBe(fnv1a32String(parts.join('\n')));
  });
  it('stringHash (the stateless branch) = fnv1a32String, ASCII or not', () => {
    for (const s of ['', 'z9hG4bK-1-i', 'z9hG4bK-ñ', 'abc\u00ff']) {
      expect(stringHash(s)).toBe(fnv1a32String(s));
    }
  });
});

describe("our Via's parse from its model = parseVia", () => {
  it('for IPv4, IPv6 and name hosts, with and without a port', () => {
    for (const sentBy of ['127.0.0.1:5060', '203.0.113.1', '[2001:db8::1]:5062', 'sip.example.com:5080']) {
      const model = parseVia(`SIP/2.0/UDP ${sentBy};branch=z9hG4bK-model`);
      for (const branch of ['z9hG4bK-sf1-abcdefghijklmnop.1x', 'z9hG4bK-sf254-0000000000000000.zz']) {
        expect(viaWithBranch(model, branch)).toEqual(parseVia(`SIP/2.0/UDP ${sentBy};branch=${branch}`));
      }
    }
  });
});

describe('stateless branch prefix', () => {
  it('a minted branch without its random part is the same every time', () => {
    for (const id of [0, 1, 9, 10, 254]) {
      const prefixes = new Set<string>();
      for (let i = 0; i < 200; i++) prefixes.add(mintBranch(id).replace(/-[^-]*$/, ''));
      expect([...prefixes]).toEqual([`z9hG4bK-sf${id}`]);
    }
  });
});
