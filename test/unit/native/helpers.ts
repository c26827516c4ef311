/**
 * Shared by the native tests: whether the addon is usable, the table sets of the shared
 * vectors, and a loader for the TS tables + the native context built from one TableSet.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { OwnershipTables } from '../../../src/fastpath/classifier.js';
import { MaglevRing } from '../../../src/farm/ring.js';
import { NativeFarmContext, nativeAvailable, nativeUnavailableReason } from '../../../src/fastpath/native.js';

export const HAVE_NATIVE = nativeAvailable();
/** Shown in skipped test names so a skip is never silent. */
export const SKIP_REASON = HAVE_NATIVE ? '' : ` [SKIPPED: ${nativeUnavailableReason()?.message ?? 'native addon unavailable'}]`;

export interface TableSet { self: number; alive: number[]; ring: number[]; prevRing: number[] | null; probeSources: string[]; maxMessageSize: number }
export interface Vector {
  name: string; description: string; tables: string; src: string; arrival: 'direct' | 'relayed'; packet: string; padTo?: number;
  expect: { action: 'local' | 'relay' | 'drop'; outcome?: string; drop?: string; owner?: number };
}
export const VECTORS_DIR = resolve(import.meta.dirname, '../../vectors');
export const vectors = JSON.parse(readFileSync(resolve(VECTORS_DIR, 'classifier/vectors.json'), 'utf8')) as {
  tableSets: Record<string, TableSet>; vectors: Vector[];
};

export interface Rfc4475Expectation { file: string; section: string; category: string; scan: string }
export const rfc4475 = JSON.parse(readFileSync(resolve(VECTORS_DIR, 'rfc4475/expectations.json'), 'utf8')) as Rfc4475Expectation[];
export const loadRfc4475 = (f: string): Buffer => readFileSync(resolve(VECTORS_DIR, 'rfc4475', f));

export function vectorPacket(v: Vector): Buffer {
  let buf = Buffer.from(v.packet, 'latin1');
  if (v.padTo !== undefined) buf = Buffer.concat([buf, Buffer.alloc(v.padTo - buf.length, 0x20)]);
  return buf;
}

/** The TS tables and a native context holding the same tables. */
export function bothTables(ts: TableSet): { t: OwnershipTables; ctx: NativeFarmContext } {
  const t = new OwnershipTables();
  t.selfId = ts.self;
  for (const id of ts.alive) t.alive[id] = 1;
  t.ring = MaglevRing.build(ts.ring);
  t.prevRing = ts.prevRing ? MaglevRing.build(ts.prevRing) : null;
  t.probeSources = new Set(ts.probeSources);
  t.maxMessageSize = ts.maxMessageSize;
  const ctx = new NativeFarmContext();
  ctx.setTables({
    selfId: t.selfId, alive: t.alive, ring: t.ring.table, prevRing: t.prevRing?.table ?? null,
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
