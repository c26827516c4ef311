/**
 * A sipfarm farm inside a lab: the farm config for the lab's addresses (members with
 * their MAC, media range and a `sip:` socket on their own address for the LB's health
 * probes), `sipfarm run` members in their namespaces, `sipfarm lb-health` in the LB's,
 * and the members' admin endpoints read from inside the lab.
 *
 * Used by `sipfarm lab up --with-farm`, `sipfarm demo` (lab mode) and the LB tests.
 * The processes run bin/sipfarm.js, i.e. the build in dist/.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Lab } from './lab.js';
import { LabError } from './netns.js';
import { LAB_FARM_PORT, LAB_HOST_IFACE, LAB_LB_MAC, labMemberMediaPorts } from './topology.js';

/** bin/sipfarm.js (the same relative path from src/lab and dist/lab). */
export const SIPFARM_BIN = resolve(import.meta.dirname, '../../bin/sipfarm.js');
export const SIPFARM_DIST_MAIN = resolve(import.meta.dirname, '../../dist/cli/main.js');
/** Admin/metrics port on every member's own address. */
export const LAB_METRICS_PORT = 9090;

export interface LabFarmOptions {
  /** Member ids in the farm (default: all of the lab's). */
  members?: readonly number[];
  /** Heartbeat: fast, the lab is one lossless segment. */
  heartbeatIntervalMs?: number;
  deadAfterMs?: number;
  /** LB health checking (lb.health in the config). Default 1 s, 2 misses. */
  healthIntervalS?: number;
  healthRetries?: number;
  logLevel?: 'error' | 'warn' | 'info' | 'debug';
  /** How members relay (config `relay.mode`); l2 sends frames to the owner's MAC on the lab segment. */
  relay?: 'udp' | 'l2';
}

/** The farm's YAML config for the lab. The key is random per call. */
export function labFarmConfigYaml(lab: Lab, o: LabFarmOptions = {}): string {
  const ids = o.members ?? lab.memberIds;
  const key = randomBytes(24).toString('hex');
  return [
    '# sipfarm lab farm (generated)',
    `vip: ${lab.vip}:${lab.sipPort}`,
    `key: "${key}"`,
    `lbProbeSources: [${lab.addresses.lbFarmSide}]`,
    `heartbeat: { intervalMs: ${o.heartbeatIntervalMs ?? 100}, deadAfterMs: ${o.deadAfterMs ?? 600} }`,
    `log: { level: ${o.logLevel ?? 'warn'}, samplePerSecond: 5 }`,
    `lb: { iface: ${LAB_HOST_IFACE}, mac: "${LAB_LB_MAC}", mode: ${lab.lbMode}, health: { intervalS: ${o.healthIntervalS ?? 1}, retries: ${o.healthRetries ?? 2} } }`,
    ...(o.relay === 'l2' ? [`relay: { mode: l2, iface: ${LAB_HOST_IFACE} }`] : []),
    'members:',
    ...ids.map((id) => {
      const a = lab.memberAddress(id);
      const mp = labMemberMediaPorts(id);
      return `  - { id: ${id}, address: "${a}:${LAB_FARM_PORT}", sip: "${a}:${lab.sipPort}", metrics: "${a}:${LAB_METRICS_PORT}", mac: "${lab.memberMac(id)}", mediaPorts: "${mp.first}-${mp.last}" }`;
    }),
    '',
  ].join('\n');
}

/** Writes labFarmConfigYaml into `dir` (default a fresh temp dir); returns the file's path. */
export function writeLabFarmConfig(lab: Lab, o: LabFarmOptions & { dir?: string } = {}): string {
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'sipfarm-lab-'));
  const file = join(dir, 'farm.yaml');
  writeFileSync(file, labFarmConfigYaml(lab, o), { mode: 0o600 });
  return file;
}

export interface LabProcOptions {
  /** Detached, output appended to this file, not ended with this process (lab up). */
  logFile?: string;
}

function checkBuild(): void {
  if (!existsSync(SIPFARM_DIST_MAIN)) throw new LabError('ERR_LAB_UNAVAILABLE', `${SIPFARM_DIST_MAIN} is missing: run \`npm run build\` first`);
}

function spawnSipfarm(lab: Lab, ns: string, args: string[], o: LabProcOptions): ChildProcess {
  checkBuild();
  if (o.logFile === undefined) return lab.spawn(ns, process.execPath, [SIPFARM_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const fd = openSync(o.logFile, 'a');
  try {
    const child = lab.spawn(ns, process.execPath, [SIPFARM_BIN, ...args], { stdio: ['ignore', fd, fd], detached: true });
    child.unref();
    return child;
  } finally {
    closeSync(fd);
  }
}

/** `sipfarm run --config F --member ID` in the member's namespace. */
export function startLabMember(lab: Lab, id: number, configFile: string, o: LabProcOptions = {}): ChildProcess {
  return spawnSipfarm(lab, lab.memberNs(id), ['run', '--config', configFile, '--member', String(id)], o);
}

/** `sipfarm lb-health --config F` in the LB's namespace (probes leave from the LB's farm-side address). */
export function startLabHealth(lab: Lab, configFile: string, o: LabProcOptions & { extra?: string[] } = {}): ChildProcess {
  return spawnSipfarm(lab, lab.ns.lb, ['lb-health', '--config', configFile, '--source', lab.addresses.lbFarmSide, ...(o.extra ?? [])], o);
}

const FETCH = `
fetch(process.argv[1], { signal: AbortSignal.timeout(2000) })
  .then(async (r) => { process.stdout.write(await r.text()); process.exit(r.ok ? 0 : 1); })
  .catch((e) => { process.stderr.write(String(e)); process.exit(2); });
`;

/** GET http://<member>:9090<path> from inside the member's namespace; undefined when it fails. */
export async function labMemberGet(lab: Lab, id: number, path: string): Promise<string | undefined> {
  const r = await lab.exec(lab.memberNs(id), process.execPath, ['-e', FETCH, `http://${lab.memberAddress(id)}:${LAB_METRICS_PORT}${path}`], { timeoutMs: 5_000 });
  return r.code === 0 ? r.stdout : undefined;
}

/** Waits until every member in `ids` reports `live` = ids. Throws LabError after timeoutMs. */
export async function waitLabFarm(lab: Lab, ids: readonly number[], timeoutMs = 20_000): Promise<void> {
  const want = [...ids].sort((a, b) => a - b).join(',');
  const deadline = Date.now() + timeoutMs;
  let last: string[] = [];
  for (;;) {
    last = await Promise.all(ids.map(async (id) => {
      const t = await labMemberGet(lab, id, '/status');
      try {
        return t === undefined ? 'no answer' : ([...(JSON.parse(t) as { live: number[] }).live].sort((a, b) => a - b).join(','));
      } catch {
        return 'bad status';
      }
    }));
    if (last.every((l) => l === want)) return;
    if (Date.now() > deadline) throw new LabError('ERR_LAB_CONNECTIVITY', `farm did not converge on [${want}]: ${last.map((l, i) => `m${ids[i]}: ${l}`).join('; ')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Prometheus text → { 'name{labels}': value }. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?)\s+([-+0-9.eE]+|NaN|[+-]Inf)\s*$/.exec(line.trim());
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

/** One labelled family keyed by `label`'s value (other labels summed over). */
export function metricFamily(c: Map<string, number> | undefined, name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  if (!c) return out;
  for (const [k, v] of c) {
    if (!k.startsWith(`${name}{`)) continue;
    const m = new RegExp(`(?:^|[{,])${label}="((?:[^"\\\\]|\\\\.)*)"`).exec(k.slice(name.length));
    if (m) out[m[1]] = (out[m[1]] ?? 0) + v;
  }
  return out;
}

/** Plain (unlabelled, or member-labelled) gauge value. */
export function metricValue(c: Map<string, number> | undefined, name: string): number {
  if (!c) return 0;
  for (const [k, v] of c) if (k === name || k.startsWith(`${name}{`)) return v;
  return 0;
}

// One long-lived poller in the LB namespace (on the members' segment) instead of a
// process per member per read: it prints one JSON line per round.
const POLLER = `
const [intervalMs, ...urls] = process.argv.slice(1);
async function round() {
  const texts = await Promise.all(urls.map((u) => fetch(u, { signal: AbortSignal.timeout(900) }).then((r) => r.text()).catch(() => null)));
  process.stdout.write(JSON.stringify(texts) + '\\n');
}
round();
setInterval(round, Number(intervalMs));
process.on('SIGTERM', () => process.exit(0));
`;

export interface MetricsPoller {
  /** The last /metrics of each member that answered. */
  latest(): Map<number, Map<string, number>>;
  /** Resolves after the next complete round. */
  next(): Promise<void>;
  stop(): void;
}

/** Reads every member's /metrics from the LB namespace every intervalMs. */
export function startMetricsPoller(lab: Lab, ids: readonly number[], intervalMs = 1000): MetricsPoller {
  const urls = ids.map((id) => `http://${lab.memberAddress(id)}:${LAB_METRICS_PORT}/metrics`);
  const child = lab.spawn(lab.ns.lb, process.execPath, ['-e', POLLER, String(intervalMs), ...urls]);
  const latest = new Map<number, Map<string, number>>();
  let waiters: Array<() => void> = [];
  let buf = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        (JSON.parse(line) as Array<string | null>).forEach((t, i) => {
          if (t !== null) latest.set(ids[i], parseMetrics(t));
        });
      } catch {
        continue;
      }
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    }
  });
  return {
    latest: () => new Map(latest),
    next: () => new Promise<void>((r) => {
      waiters.push(r);
      setTimeout(r, intervalMs * 3).unref();
    }),
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
  };
}
