/**
 * Differential test: the TS scanner/classifier and their C twin on thousands of
 * datagrams — the shared vectors, the RFC 4475 messages, mutations of both, and random
 * "header soup" — must give identical scan offsets and identical verdicts.
 */
import { describe, expect, it } from 'vitest';
import { Arrival, OwnershipTables, Verdict, classify } from '../../../src/fastpath/classifier.js';
import { Action } from '../../../src/fastpath/classifier.js';
import { ScanFlag, ScanResult, scan } from '../../../src/sip/scanner.js';
import { NativeFarmContext, nativeClassify, nativeScan } from '../../../src/fastpath/native.js';
import { HAVE_NATIVE, SKIP_REASON, type TableSet, bothTables, loadRfc4475, rfc4475, vectorPacket, vectors } from './helpers.js';

let seed = 0x5eed1234;
function rnd(n: number): number {
  // xorshift32: deterministic, so a failure reproduces
  seed ^= seed << 13; seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5; seed >>>= 0;
  return seed % n;
}
const pick = <T>(a: readonly T[]): T => a[rnd(a.length)];

const EOLS = ['\r\n', '\r\n', '\r\n', '\r\n', '\n', '\r', '\r\n '];
const METHODS = ['INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'REGISTER', 'PRACK', 'SUBSCRIBE', 'NOTIFY', 'MESSAGE', 'FOO', 'invite', 'RE%47ISTER', ''];
const URIS = [
  'sip:bob@203.0.113.100', 'sip:203.0.113.100', 'sip:203.0.113.100;sf=2', 'sip:u@h;lr;sf=1', 'sips:x@[2001:db8::1]:5061;sf=3',
  'sip:a;sf=2@h', 'sip:h;SF=02', 'sip:h;sf=254', 'sip:h;sf=255', 'tel:+123', 'sip:x@h?sf=2', '<sip:h;sf=2>', 'sip:h;sf=',
  'sip:%61lice@Example.COM', 'sip:alice:pw@EXAMPLE.com;transport=udp',
];
const VERSIONS = ['SIP/2.0', 'SIP/2.0', 'SIP/2.0', 'sip/2.0', 'SIP/2.1', 'SIP/3.0', 'SIP/2', 'SIP/02.0', 'HTTP/1.1', 'SIP/2.0 '];
const NAMES = ['Via', 'v', 'VIA', 'Call-ID', 'i', 'call-id', 'CSeq', 'To', 't', 'From', 'f', 'Route', 'route', 'Max-Forwards',
  'Content-Length', 'l', 'Contact', 'X-Y', 'Record-Route', 'Vía', ''];
const BRANCHES = ['z9hG4bK-sf1-abc', 'z9hG4bK-sf2-xyz', 'z9hG4bK-sf3-q', 'z9hG4bK-sf02-x', 'z9hG4bK-sf255-x', 'z9hG4bK-sf2-',
  'z9hG4bKc1', 'Z9HG4BK-sf2-a', '"q"', ''];
function value(name: string): string {
  const n = name.toLowerCase();
  const r = rnd(10);
  if (n === 'via' || n === 'v') {
    const vals = [`SIP/2.0/UDP 198.51.100.10:5060;branch=${pick(BRANCHES)}`, `SIP/2.0/UDP [2001:db8::1];rport;branch = ${pick(BRANCHES)}`,
      `SIP/2.0/UDP h;received=1.2.3.4;branch=${pick(BRANCHES)}, SIP/2.0/UDP g;branch=${pick(BRANCHES)}`, 'SIP/2.0/UDP h', `SIP/2.0/UDP h ; BRANCH=${pick(BRANCHES)}`];
    return pick(vals);
  }
  if (n === 'call-id' || n === 'i') return pick(['cid-1@198.51.100.10', 'cid-2', 'a b', `c${rnd(100000)}`, '']);
  if (n === 'cseq') return pick(['1 INVITE', '2 BYE', '3 REGISTER', '99999999999 INVITE', '1', 'x INVITE', '1  OPTIONS ', '2147483647 ACK', '2147483648 ACK']);
  if (n === 'max-forwards') return pick(['70', '0', '1', '255', '256', '0068', 'x', '1 ', '']);
  if (n === 'content-length' || n === 'l') return pick(['0', '12', '65535', '65536', '999999', 'x', '']);
  if (r < 3) return `"Bob \\"B\\"" <${pick(URIS)}>;tag=${pick(['t1', 'a', ''])}`;
  if (r < 6) return `<${pick(URIS)}>${pick(['', ';tag=f1', ' ; tag = x', ';tag="q"'])}`;
  if (r < 8) return `${pick(URIS)};tag=x, <sip:other>`;
  return pick(['', ' ', '<sip:unterminated', 'Display Name <sip:d@h;sf=2;lr>', '"unterminated']);
}

function soup(): Buffer {
  let s = '';
  const r = rnd(10);
  if (r < 7) s += `${pick(METHODS)} ${pick(URIS)} ${pick(VERSIONS)}`;
  else if (r < 9) s += `${pick(VERSIONS)} ${pick(['200', '180', '100', '487', '099', '700', '2000'])} ${pick(['OK', '', 'Ringing'])}`;
  else s += pick(['', ' INVITE sip:x SIP/2.0', 'GARBAGE']);
  s += pick(EOLS);
  const n = rnd(12);
  for (let i = 0; i < n; i++) {
    const name = pick(NAMES);
    s += `${name}${pick([':', ': ', ' : ', ':\t', ''])}${value(name)}${pick(EOLS)}`;
  }
  if (rnd(8) !== 0) s += pick(['\r\n', '\n', '']);
  if (rnd(3) === 0) s += 'v=0\r\no=- 1 1 IN IP4 h\r\n';
  return Buffer.from(s, 'latin1');
}

const SPICE = [0x0d, 0x0a, 0x20, 0x09, 0x3b, 0x2c, 0x3c, 0x3e, 0x22, 0x5c, 0x3a, 0x40, 0x3d, 0x30, 0x32, 0x00, 0xff, 0x2d];
function mutate(base: Buffer): Buffer {
  let b = Buffer.from(base);
  const ops = 1 + rnd(4);
  for (let k = 0; k < ops; k++) {
    const op = rnd(6);
    if (op === 0 && b.length > 0) b = b.subarray(0, rnd(b.length + 1));
    else if (op === 1 && b.length > 0) b[rnd(b.length)] = rnd(3) === 0 ? rnd(256) : pick(SPICE);
    else if (op === 2) {
      const at = rnd(b.length + 1);
      b = Buffer.concat([b.subarray(0, at), Buffer.from([pick(SPICE)]), b.subarray(at)]);
    } else if (op === 3 && b.length > 1) {
      const at = rnd(b.length);
      b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
    } else if (op === 4) {
      const a = rnd(b.length + 1), e = Math.min(b.length, a + rnd(40));
      b = Buffer.concat([b.subarray(0, e), b.subarray(a, e), b.subarray(e)]); // duplicate a slice
    } else if (b.length > 0) {
      const at = rnd(b.length);
      b[at] = b[at] >= 0x41 && b[at] <= 0x5a ? b[at] | 0x20 : b[at] >= 0x61 && b[at] <= 0x7a ? b[at] & ~0x20 : b[at];
    }
  }
  return b;
}

const SCAN_KEYS = Object.keys(new ScanResult()) as (keyof ScanResult)[];
const tsScan = new ScanResult();
const nScan = new ScanResult();

function compareScan(b: Buffer, maxSize: number, flags: number): void {
  scan(b, b.length, tsScan, maxSize, flags);
  nativeScan(b, nScan, b.length, maxSize, flags);
  for (const k of SCAN_KEYS) {
    if (tsScan[k] !== nScan[k]) {
      throw new Error(`scan field ${String(k)}: TS ${String(tsScan[k])} vs C ${String(nScan[k])} (maxSize ${maxSize}, flags ${flags}) for ${JSON.stringify(b.toString('latin1'))}`);
    }
  }
}

interface Pair { t: OwnershipTables; ctx: NativeFarmContext }
const tsVerdict = new Verdict();
const scratch = new ScanResult();
const SOURCES = ['198.51.100.10', '203.0.113.1', '203.0.113.9'];

function compareClassify(b: Buffer, p: Pair): void {
  for (const arrival of [Arrival.DIRECT, Arrival.RELAYED]) {
    const src = pick(SOURCES);
    const a = classify(b, b.length, src, arrival, p.t, scratch, tsVerdict);
    const n = nativeClassify(p.ctx, b, src, arrival);
    const same = a === n.action && tsVerdict.outcome === n.outcome && tsVerdict.drop === n.drop &&
      (a === Action.DROP || tsVerdict.owner === n.owner) && tsVerdict.secondChance === n.secondChance &&
      tsVerdict.ringOwner === n.ringOwner && tsVerdict.byRing === n.byRing && (!n.byRing || tsVerdict.hash === n.hash);
    if (!same) {
      throw new Error(`verdict differs (arrival ${arrival}, src ${src}): TS ${JSON.stringify({ a, ...tsVerdict })} vs C ${JSON.stringify(n)} for ${JSON.stringify(b.toString('latin1'))}`);
    }
  }
}

describe.skipIf(!HAVE_NATIVE)(`TS and C agree${SKIP_REASON}`, () => {
  const small: TableSet = { ...vectors.tableSets.grace, maxMessageSize: 300 };
  const pairs = HAVE_NATIVE ? [bothTables(vectors.tableSets.steady), bothTables(vectors.tableSets.grace), bothTables(small)] : [];
  const corpus: Buffer[] = [...vectors.vectors.map(vectorPacket), ...rfc4475.map((e) => loadRfc4475(e.file))];

  it('on the vectors and RFC 4475 messages', () => {
    for (const b of corpus) {
      compareScan(b, 65535, 0);
      compareScan(b, 65535, ScanFlag.LENIENT_LINE_ENDS);
      for (const p of pairs) compareClassify(b, p);
    }
  });

  it('on 4000 mutations of them', () => {
    for (let i = 0; i < 4000; i++) {
      const b = mutate(pick(corpus));
      compareScan(b, pick([65535, 65535, 200]), pick([0, ScanFlag.LENIENT_LINE_ENDS]));
      compareClassify(b, pick(pairs));
    }
  });

  it('on 4000 random header soups (and mutations of them)', () => {
    for (let i = 0; i < 4000; i++) {
      const b = rnd(3) === 0 ? mutate(soup()) : soup();
      compareScan(b, 65535, pick([0, ScanFlag.LENIENT_LINE_ENDS]));
      compareClassify(b, pick(pairs));
    }
  });

  it('on REGISTER (ring by the To AoR) with many AoR spellings', () => {
    for (let i = 0; i < 500; i++) {
      const uri = pick(URIS);
      const b = Buffer.from(`REGISTER sip:203.0.113.100 SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK${i}\r\nTo: <${uri}>\r\nFrom: <${uri}>;tag=${i}\r\nCall-ID: r${i}\r\nCSeq: ${i} REGISTER\r\n\r\n`, 'latin1');
      compareScan(b, 65535, 0);
      for (const p of pairs) compareClassify(b, p);
    }
  });

  it('a len beyond the buffer and the size cap behave as in TS', () => {
    const b = corpus[0];
    const ts = new ScanResult();
    scan(b, b.length + 10, ts);
    expect(nativeScan(b, new ScanResult(), b.length + 10).status).toBe(ts.status);
    scan(b, 70000, ts);
    expect(nativeScan(b, new ScanResult(), 70000).status).toBe(ts.status);
  });
});
