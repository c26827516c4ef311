/**
 * Mutation fuzzing of the RFC 4475 messages through the fast-path scanner and the
 * slow-path parser (seeded, so a failure reproduces):
 *  - scan() never throws, returns a known status, and its offsets stay inside [0, len];
 *  - parseMessage() throws nothing but SipParseError;
 *  - differential: whatever the strict parser accepts, the scanner accepts too, and both
 *    read the same Call-ID, CSeq, top branch, Via count, tags and Max-Forwards.
 */
import { describe, expect, it } from 'vitest';
import { corpus, rng } from './corpus.js';
import { SipParseError } from '../../../src/sip/errors.js';
import { type SipMessage, parseMessage } from '../../../src/sip/message.js';
import { Scan, ScanResult, scan } from '../../../src/sip/scanner.js';

const INSERTS = ['\r', '\n', '\r\n', '\r\n ', ' ', '\t', ',', ';', '"', '<', '>', ':', '=', '\\', '\0', '%', '\xff', '\r\n\r\n'];

function mutate(src: Buffer, rand: () => number): Buffer {
  let b = Buffer.from(src);
  const n = 1 + Math.floor(rand() * 3);
  for (let k = 0; k < n; k++) {
    const at = Math.floor(rand() * (b.length + 1));
    switch (Math.floor(rand() * 5)) {
      case 0: // bit flip
        if (b.length > 0) b[Math.min(at, b.length - 1)] ^= 1 << Math.floor(rand() * 8);
        break;
      case 1: // truncation
        b = b.subarray(0, at);
        break;
      case 2: { // insertion of a delimiter
        const ins = Buffer.from(INSERTS[Math.floor(rand() * INSERTS.length)], 'latin1');
        b = Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
        break;
      }
      case 3: // deletion of a short run
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + Math.floor(rand() * 4)))]);
        break;
      default: { // duplicate a line
        const s = b.lastIndexOf('\r\n', at);
        const e = b.indexOf('\r\n', at);
        if (s >= 0 && e > s) b = Buffer.concat([b.subarray(0, e), b.subarray(s, e), b.subarray(e)]);
      }
    }
  }
  return b;
}

const STATUSES = new Set<number>(Object.values(Scan));
const r = new ScanResult();

function checkScan(b: Buffer): number {
  const st = scan(b, b.length, r);
  expect(STATUSES.has(st)).toBe(true);
  expect(r.status).toBe(st);
  const pairs: [number, number][] = [
    [r.methodStart, r.methodEnd], [r.ruriStart, r.ruriEnd], [r.branchStart, r.branchEnd], [r.callIdStart, r.callIdEnd],
    [r.cseqMethodStart, r.cseqMethodEnd], [r.toUriStart, r.toUriEnd], [r.fromTagStart, r.fromTagEnd], [r.toTagStart, r.toTagEnd],
    [r.routeUriStart, r.routeUriEnd],
  ];
  for (const [s, e] of pairs) {
    if (s === -1) { expect(e).toBe(-1); continue; }
    expect(s).toBeGreaterThanOrEqual(0);
    expect(e).toBeGreaterThanOrEqual(s);
    expect(e).toBeLessThanOrEqual(b.length);
  }
  if (st === Scan.OK) {
    expect(r.headersEnd).toBeGreaterThan(0);
    expect(r.headersEnd).toBeLessThanOrEqual(b.length);
  }
  return st;
}

function tryParse(b: Buffer): SipMessage | undefined {
  try {
    return parseMessage(b);
  } catch (e) {
    if (!(e instanceof SipParseError)) throw new Error(`non-SipParseError on ${JSON.stringify(b.toString('latin1'))}: ${String(e)}`);
    expect(e.code).toMatch(/^ERR_SIP_/);
    expect([400, 505, 513]).toContain(e.status);
    return undefined;
  }
}

const text = (b: Buffer, s: number, e: number): string | undefined => (s < 0 ? undefined : b.toString('utf8', s, e));

function differential(b: Buffer, m: SipMessage, st: number): void {
  const ctx = JSON.stringify(b.toString('latin1'));
  expect(st, ctx).toBe(Scan.OK);
  expect(r.isRequest, ctx).toBe(m.kind === 'request');
  expect(text(b, r.callIdStart, r.callIdEnd), ctx).toBe(m.callId());
  const cseq = m.cseq();
  expect(r.cseqNum, ctx).toBe(cseq.seq);
  expect(text(b, r.cseqMethodStart, r.cseqMethodEnd), ctx).toBe(cseq.method);
  expect(r.viaCount, ctx).toBe(m.getAll('via').length);
  expect(text(b, r.branchStart, r.branchEnd), ctx).toBe(m.topVia()?.branch);
  expect(text(b, r.toTagStart, r.toTagEnd), ctx).toBe(m.to().tag);
  expect(text(b, r.fromTagStart, r.fromTagEnd), ctx).toBe(m.from().tag);
  if (m.kind === 'request') expect(r.maxForwards, ctx).toBe(m.maxForwards() ?? -1);
}

describe('fuzz: mutated RFC 4475 messages', () => {
  it('the unmutated corpus agrees between scanner and parser', () => {
    let accepted = 0;
    for (const b of corpus) {
      const st = checkScan(b);
      const m = tryParse(b);
      if (m) { differential(b, m, st); accepted++; }
    }
    expect(accepted).toBeGreaterThanOrEqual(25);
  });

  it('scan never throws, parse throws only SipParseError, accepted messages agree', () => {
    // SIP_FUZZ_SEED / SIP_FUZZ_ROUNDS: run longer or elsewhere without editing the test
    const rand = rng(Number(process.env.SIP_FUZZ_SEED ?? 0x5eed4475));
    const ROUNDS = Number(process.env.SIP_FUZZ_ROUNDS ?? 120);
    let parsed = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (const src of corpus) {
        const b = mutate(src, rand);
        const st = checkScan(b);
        const m = tryParse(b);
        if (m) { differential(b, m, st); parsed++; }
      }
    }
    // the mutations must leave a fair share of messages parseable, or the differential is idle
    expect(parsed).toBeGreaterThan(ROUNDS * corpus.length * 0.1);
  });

  it('random bytes', () => {
    const rand = rng(42);
    for (let i = 0; i < 2000; i++) {
      const b = Buffer.alloc(Math.floor(rand() * 200));
      for (let k = 0; k < b.length; k++) b[k] = Math.floor(rand() * 256);
      checkScan(b);
      tryParse(b);
    }
  });
});
