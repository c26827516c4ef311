/**
 * The C twin against the shared vectors: test/vectors/classifier/vectors.json (the same
 * file classifier.test.ts runs through the TS classifier) and the `scan` expectation of
 * every RFC 4475 torture message.
 */
import { describe, expect, it } from 'vitest';
import { Arrival } from '../../../src/fastpath/classifier.js';
import { DROP_NAMES, OUTCOME_NAMES } from '../../../src/fastpath/outcomes.js';
import { Scan } from '../../../src/sip/scanner.js';
import { nativeClassify, nativeScan, nativeUnavailableReason } from '../../../src/fastpath/native.js';
import { HAVE_NATIVE, SKIP_REASON, bothTables, loadRfc4475, rfc4475, vectorPacket, vectors } from './helpers.js';

const ACTIONS = ['local', 'relay', 'drop'];
const SCAN_NAMES = Object.keys(Scan);

describe('native addon presence', () => {
  // CI builds the addon (npm ci runs the install hook with gcc present): a missing addon
  // there is a build regression, not a reason to skip.
  it.runIf(process.env.CI !== undefined)('is built and loads in CI', () => {
    expect(nativeUnavailableReason()?.message ?? null).toBeNull();
    expect(HAVE_NATIVE).toBe(true);
  });
});

describe.skipIf(!HAVE_NATIVE)(`native classifier vectors${SKIP_REASON}`, () => {
  for (const vec of vectors.vectors) {
    it(`${vec.name}: ${vec.description}`, () => {
      const { ctx } = bothTables(vectors.tableSets[vec.tables]);
      const v = nativeClassify(ctx, vectorPacket(vec), vec.src, vec.arrival === 'direct' ? Arrival.DIRECT : Arrival.RELAYED);
      expect(ACTIONS[v.action]).toBe(vec.expect.action);
      if (vec.expect.outcome !== undefined) expect(OUTCOME_NAMES[v.outcome]).toBe(vec.expect.outcome);
      if (vec.expect.drop !== undefined) expect(DROP_NAMES[v.drop]).toBe(vec.expect.drop);
      if (vec.expect.owner !== undefined) expect(v.owner).toBe(vec.expect.owner);
    });
  }
});

describe.skipIf(!HAVE_NATIVE)(`native scanner on RFC 4475${SKIP_REASON}`, () => {
  it('has the 49 messages', () => expect(rfc4475).toHaveLength(49));
  for (const e of rfc4475) {
    it(`${e.section} ${e.file}: ${e.scan}`, () => {
      const r = nativeScan(loadRfc4475(e.file));
      expect(SCAN_NAMES[r.status]).toBe(e.scan);
    });
  }
});
