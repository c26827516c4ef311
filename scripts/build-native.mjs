#!/usr/bin/env node
// Builds the native fast path (native/ → native/build/Release/sipfarm.node) with the
// node-gyp bundled with npm, using only what is on this machine: it never downloads Node
// headers (only the npm registry and Debian packages are reachable). When a tool or the
// headers are missing it prints ONE line saying what is missing and that the pure-TS path
// will be used.
//
//   node scripts/build-native.mjs            (npm "install" hook: never fails the install)
//   node scripts/build-native.mjs --strict   (npm run native:build: exit 1 on failure)
//
// Environment: SIPFARM_NATIVE=0 skips the build; SIPFARM_NODEDIR overrides the headers dir.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const strict = process.argv.includes('--strict');
const FALLBACK = 'the pure-TS fast path will be used';

function give_up(what) {
  console.log(`sipfarm: native addon not built (${what}); ${FALLBACK}`);
  process.exit(strict ? 1 : 0);
}

function has(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
  return r.status === 0;
}

if (process.env.SIPFARM_NATIVE === '0') give_up('SIPFARM_NATIVE=0');
if (process.platform !== 'linux') give_up(`platform ${process.platform} is not supported, Linux only`);

const missing = [];
if (!has('python3') && !has('python')) missing.push('python3');
if (!has('make')) missing.push('make');
if (!has('cc') && !has('gcc') && !has('clang')) missing.push('a C compiler (gcc)');
if (missing.length > 0) give_up(`missing ${missing.join(', ')}`);

// node-gyp: the copy npm runs scripts with, else the one bundled in npm next to node.
const candidates = [
  process.env.npm_config_node_gyp,
  join(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
  '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
  '/usr/share/nodejs/node-gyp/bin/node-gyp.js',
].filter((p) => typeof p === 'string' && p.length > 0);
const gyp = candidates.find((p) => existsSync(p));
if (gyp === undefined) give_up('missing node-gyp (it ships with npm)');

// Headers: an explicit dir, the distribution's /usr/include/node, the prefix node runs
// from, or node-gyp's own cache — never a download.
const version = process.versions.node;
const nodedirs = [
  process.env.SIPFARM_NODEDIR,
  '/usr',
  resolve(dirname(process.execPath), '..'),
].filter((p) => typeof p === 'string' && p.length > 0);
const nodedir = nodedirs.find((d) => existsSync(join(d, 'include/node/node_api.h')));
const gypCache = [
  process.env.npm_config_devdir,
  join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'node-gyp'),
  join(homedir(), '.node-gyp'),
].filter((p) => typeof p === 'string' && p.length > 0).map((d) => join(d, version));
const cached = gypCache.find((d) => existsSync(join(d, 'include/node/node_api.h')));
if (nodedir === undefined && cached === undefined) give_up(`missing Node ${version} headers (node_api.h; Debian: libnode-dev / nodejs headers)`);

const args = [gyp, 'rebuild', '--directory', join(root, 'native'), '--loglevel', 'warn'];
if (nodedir !== undefined) args.push(`--nodedir=${nodedir}`);
else args.push(`--devdir=${dirname(cached)}`);
const r = spawnSync(process.execPath, args, {
  stdio: ['ignore', 'inherit', 'inherit'],
  env: { ...process.env, npm_config_nodedir: nodedir ?? '' },
});
if (r.status !== 0) give_up(`node-gyp failed with status ${r.status}; see the output above`);
const out = join(root, 'native/build/Release/sipfarm.node');
if (!existsSync(out)) give_up(`node-gyp produced no ${out}`);
console.log(`sipfarm: native addon built: ${out}`);
