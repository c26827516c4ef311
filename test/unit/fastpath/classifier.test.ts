/**
 * The classifier against the shared vectors (test/vectors/classifier/vectors.json), the
 * same file the native twin's harness will read.
 */
import { describe, expect, it } from 'vitest';
import { Action, Arrival, Verdict, classify } from '../../../src/fastpath/classifier.js';
import { DROP_NAMES, OUTCOME_NAMES } from '../../../src/fastpath/outcomes.js';
import { ScanResult } from '../../../src/sip/scanner.js';
import { tablesOf, vectorPacket, vectors } from './vectors.js';

const doc = vectors;

const ACTIONS = ['local', 'relay', 'drop'];

describe('classifier vectors', () => {
  const s = new ScanResult();
  const v = new Verdict();
  for (const vec of doc.vectors) {
    it(`${vec.name}: ${vec.description}`, () => {
      const buf = vectorPacket(vec);
      const action = classify(buf, buf.length, vec.src, vec.arrival === 'direct' ? Arrival.DIRECT : Arrival.RELAYED, tablesOf(doc.tableSets[vec.tables]), s, v);
      expect(ACTIONS[action]).toBe(vec.expect.action);
      if (vec.expect.outcome !== undefined) expect(OUTCOME_NAMES[v.outcome]).toBe(vec.expect.outcome);
      if (vec.expect.drop !== undefined) expect(DROP_NAMES[v.drop]).toBe(vec.expect.drop);
      if (vec.expect.owner !== undefined) expect(v.owner).toBe(vec.expect.owner);
    });
  }

  it('never throws and always gives a verdict on mutated vectors', () => {
    const t = tablesOf(doc.tableSets.grace);
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    for (let i = 0; i < 5000; i++) {
      const base = Buffer.from(doc.vectors[rnd(doc.vectors.length)].packet, 'latin1');
      const b = Buffer.from(base.subarray(0, rnd(base.length + 1)));
      for (let k = rnd(4); k > 0 && b.length > 0; k--) b[rnd(b.length)] = rnd(256);
      const a = classify(b, b.length, '198.51.100.10', rnd(2), t, s, v);
      expect(a === Action.LOCAL || a === Action.RELAY || a === Action.DROP).toBe(true);
      if (a === Action.RELAY) expect(t.alive[v.owner]).toBe(1);
    }
  });
});
