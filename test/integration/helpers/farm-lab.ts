/**
 * Runs real `sipfarm run` members inside the lab's member namespaces and reads their
 * admin endpoints (/status, /metrics) from inside those namespaces.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Lab } from '../../../src/lab/lab.js';
import { metricFamily, parseMetrics } from '../../../src/lab/farm.js';

export const REPO = resolve(import.meta.dirname, '../../..');
export const SIPFARM_BIN = join(REPO, 'bin/sipfarm.js');
export const SIPFARM_MAIN = join(REPO, 'dist/cli/main.js');
export const FARM_KEY = 'lab-farm-key-0123456789abcdef0123';
export const METRICS_PORT = 9090;

/** Writes the farm's YAML config for members 1..n of the lab; returns its path. */
export function writeFarmConfig(lab: Lab, n: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'sipfarm-lab-'));
  const ids = Array.from({ length: n }, (_, i) => i + 1);
  const yaml = [
    `vip: ${lab.vip}:${lab.sipPort}`,
    `key: ${FARM_KEY}`,
    `lbProbeSources: [${lab.addresses.lbFarmSide}]`,
    'heartbeat: { intervalMs: 100, deadAfterMs: 600 }',
    'members:',
    ...ids.map((id) => `  - { id: ${id}, address: ${lab.memberAddress(id)}:5080, metrics: ${lab.memberAddress(id)}:${METRICS_PORT} }`),
    '',
  ].join('\n');
  const file = join(dir, 'farm.yaml');
  writeFileSync(file, yaml);
  return file;
}

export interface MemberProc {
  id: number;
  child: ChildProcess;
  /** The last few KB of the member's stdout+stderr, for failure messages. */
  output(): string;
}

/** Starts `node bin/sipfarm.js run --config <file> --member <id>` in the member's namespace. */
export function startMember(lab: Lab, id: number, configFile: string, env?: NodeJS.ProcessEnv): MemberProc {
  if (!existsSync(SIPFARM_MAIN)) throw new Error(`${SIPFARM_MAIN} is missing: run \`npm run build\` first (\`npm test\` does)`);
  const child = lab.spawn(lab.memberNs(id), process.execPath, [SIPFARM_BIN, 'run', '--config', configFile, '--member', String(id)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: env === undefined ? undefined : { ...process.env, ...env },
  });
  let out = '';
  const keep = (d: string): void => {
    out = (out + d).slice(-6000);
  };
  child.stdout?.setEncoding('utf8').on('data', keep);
  child.stderr?.setEncoding('utf8').on('data', keep);
  return { id, child, output: () => out };
}

const FETCH = `
fetch(process.argv[1], { signal: AbortSignal.timeout(2000) })
  .then(async (r) => { process.stdout.write(await r.text()); process.exit(r.ok ? 0 : 1); })
  .catch((e) => { process.stderr.write(String(e)); process.exit(2); });
`;

/** GET http://<member>:9090<path> from inside the member's namespace; undefined when it fails. */
export async function memberGet(lab: Lab, id: number, path: string): Promise<string | undefined> {
  const url = `http://${lab.memberAddress(id)}:${METRICS_PORT}${path}`;
  const r = await lab.exec(lab.memberNs(id), process.execPath, ['-e', FETCH, url], { timeoutMs: 5_000 });
  return r.code === 0 ? r.stdout : undefined;
}

export interface MemberStatus {
  member: number;
  epoch: number;
  draining: boolean;
  /** 'native' (C fast path) or 'ts' */
  fastPath: string;
  live: number[];
  ring: number[];
  [k: string]: unknown;
}

export async function memberStatus(lab: Lab, id: number): Promise<MemberStatus | undefined> {
  const text = await memberGet(lab, id, '/status');
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as MemberStatus;
  } catch {
    return undefined;
  }
}

/**
 * Waits until every member in `ids` reports `live` = `live` (and, when given, `ring` =
 * `ring`). Throws with the last statuses seen after `timeoutMs`.
 */
export async function waitFarm(lab: Lab, ids: readonly number[], want: { live: number[]; ring?: number[] }, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const same = (a: readonly number[] | undefined, b: readonly number[]): boolean =>
    Array.isArray(a) && a.length === b.length && [...a].sort((x, y) => x - y).every((v, i) => v === b[i]);
  let last: Array<MemberStatus | undefined> = [];
  for (;;) {
    last = await Promise.all(ids.map((id) => memberStatus(lab, id)));
    if (last.every((s) => s !== undefined && same(s.live, want.live) && (want.ring === undefined || same(s.ring, want.ring)))) return;
    if (Date.now() > deadline) throw new Error(`farm did not converge to ${JSON.stringify(want)}: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export type Counters = Map<string, number>;

export async function memberCounters(lab: Lab, id: number): Promise<Counters | undefined> {
  const text = await memberGet(lab, id, '/metrics');
  return text === undefined ? undefined : parseMetrics(text);
}

/** Values of one labelled family keyed by one of its labels (the lab's parser). */
export const family = metricFamily;

/** a − b per key (keys of a). */
export function delta(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(a)) out[k] = v - (b[k] ?? 0);
  return out;
}

export const RELAYED_OUT = ['relayed_branch', 'relayed_route_token', 'relayed_ring'] as const;

/**
 * Share of the datagrams the LB delivered that the receiving member relayed to another
 * member, from packets_total outcome deltas. Arrivals from peers (relayed_in and the
 * second-chance bounce back) are not LB deliveries and are left out.
 */
export function relayedShare(outcomes: Record<string, number>): { relayed: number; total: number; share: number } {
  let relayed = 0;
  let total = 0;
  for (const [k, v] of Object.entries(outcomes)) {
    if (k === 'relayed_in' || k === 'second_chance_returned') continue;
    total += v;
    if ((RELAYED_OUT as readonly string[]).includes(k)) relayed += v;
  }
  return { relayed, total, share: total === 0 ? 0 : relayed / total };
}
