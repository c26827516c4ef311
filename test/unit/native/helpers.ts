/**
 * Shared by the native tests: whether the addon is usable, the table sets of the shared
 * vectors, and a loader for the TS tables + the native context built from one TableSet.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { OwnershipTables } from '../../../src/fastpath/classifier.js';
import { VECTORS_DIR, tablesOf, type TableSet } from '../fastpath/vectors.js';
import { NativeFarmContext, nativeAvailable, nativeUnavailableReason } from '../../../src/fastpath/native.js';

export const HAVE_NATIVE = nativeAvailable();
/** Shown in skipped test names so a skip is never silent. */
export const SKIP_REASON = HAVE_NATIVE ? '' : ` [SKIPPED: ${nativeUnavailableReason()?.message ?? 'native addon unavailable'}]`;

export { VECTORS_DIR, vectorPacket, vectors, type TableSet, type Vector } from '../fastpath/vectors.js';

export interface Rfc4475Expectation { file: string; section: string; category: string; scan: string }
export const rfc4475 = JSON.parse(readFileSync(resolve(VECTORS_DIR, 'rfc4475/expectations.json'), 'utf8')) as Rfc4475Expectation[];
export const loadRfc4475 = (f: string): Buffer => readFileSync(resolve(VECTORS_DIR, 'rfc4475', f));

/** The TS tables and a native context holding the same tables. */
export function bothTables(ts: TableSet): { t: OwnershipTables; ctx: NativeFarmContext } {
  const t = tablesOf(ts);
  const ctx = new NativeFarmContext();
  ctx.setTables({
    selfId: t.selfId, alive: t.alive, ring: t.ring!.table, prevRing: t.prevRing?.table ?? null,
    probeSources: t.probeSources, maxMessageSize: t.maxMessageSize,
  });
  return { t, ctx };
}

/** Polls `cond` every 5 ms until it holds; throws after `ms`. */
export async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}
