/**
 * The shared classifier vectors (test/vectors/classifier/vectors.json): their types, the
 * datagram of a vector, and the OwnershipTables of a table set. Used by the TS classifier
 * tests and the native twin's tests alike.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { OwnershipTables } from '../../../src/fastpath/classifier.js';
import { MaglevRing } from '../../../src/farm/ring.js';

export interface TableSet { self: number; alive: number[]; ring: number[]; prevRing: number[] | null; probeSources: string[]; maxMessageSize: number }
export interface Vector {
  name: string; description: string; tables: string; src: string; arrival: 'direct' | 'relayed'; packet: string; padTo?: number;
  expect: { action: 'local' | 'relay' | 'drop'; outcome?: string; drop?: string; owner?: number };
}
export const VECTORS_DIR = resolve(import.meta.dirname, '../../vectors');
export const vectors = JSON.parse(readFileSync(resolve(VECTORS_DIR, 'classifier/vectors.json'), 'utf8')) as {
  tableSets: Record<string, TableSet>; vectors: Vector[];
};

/** The vector's datagram, padded with spaces to padTo bytes when given. */
export function vectorPacket(v: Vector): Buffer {
  let buf = Buffer.from(v.packet, 'latin1');
  if (v.padTo !== undefined) buf = Buffer.concat([buf, Buffer.alloc(v.padTo - buf.length, 0x20)]);
  return buf;
}

/** The fast path's tables for a table set. */
export function tablesOf(ts: TableSet): OwnershipTables {
  const t = new OwnershipTables();
  t.selfId = ts.self;
  for (const id of ts.alive) t.alive[id] = 1;
  t.ring = MaglevRing.build(ts.ring);
  t.prevRing = ts.prevRing ? MaglevRing.build(ts.prevRing) : null;
  t.probeSources = new Set(ts.probeSources);
  t.maxMessageSize = ts.maxMessageSize;
  return t;
}
