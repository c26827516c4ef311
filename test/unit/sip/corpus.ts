/** The RFC 4475 torture messages as a fuzzing corpus, and a small seeded PRNG. */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = join(dirname(fileURLToPath(import.meta.url)), '../../vectors/rfc4475');

/** All 49 messages, valid then invalid, each folder sorted by name. */
export const corpus: Buffer[] = [];
for (const sub of ['valid', 'invalid']) {
  for (const f of readdirSync(join(dir, sub)).sort()) if (f.endsWith('.dat')) corpus.push(readFileSync(join(dir, sub, f)));
}

/** mulberry32: a seeded PRNG in [0, 1), so a failing fuzz round can be replayed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
