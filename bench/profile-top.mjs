#!/usr/bin/env node
/**
 * Where the time goes: self time by function (and by file) of a V8 .cpuprofile written
 * by `BENCH_CPU_PROF=DIR npm run bench` (node --cpu-prof).
 *
 *   node bench/profile-top.mjs FILE.cpuprofile [N]
 */
import { readFileSync } from 'node:fs';

const [file, nArg] = process.argv.slice(2);
const N = Number(nArg ?? 25);
const prof = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const self = new Map();
const dt = prof.timeDeltas;
for (let i = 0; i < prof.samples.length; i++) {
  const id = prof.samples[i];
  self.set(id, (self.get(id) ?? 0) + (dt[i] ?? 0));
}
const total = [...self.values()].reduce((a, b) => a + b, 0);
const fn = new Map();
const byFile = new Map();
for (const [id, us] of self) {
  const n = byId.get(id);
  const cf = n.callFrame;
  const where = cf.url ? cf.url.replace(/^.*\/(dist|node_modules|bench)\//, '$1/').replace(/^node:/, 'node:') : '(native/vm)';
  const key = `${cf.functionName || '(anonymous)'}  ${where}${cf.url ? ':' + (cf.lineNumber + 1) : ''}`;
  fn.set(key, (fn.get(key) ?? 0) + us);
  byFile.set(where, (byFile.get(where) ?? 0) + us);
}
const show = (m, title) => {
  console.log(`\n${title} (of ${(total / 1e6).toFixed(2)} s sampled)`);
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, N)) console.log(`${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}`);
};
show(fn, 'self time by function');
show(byFile, 'self time by file');
