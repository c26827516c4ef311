/**
 * The real HostFacts: `ip -j addr`, /proc/sys/net/ipv4/conf/*, `ip -j route get`, the
 * socket probe (probe-script.ts) and timedatectl — optionally inside a network namespace
 * (`ip netns exec NS`), because /proc/sys/net and sockets belong to the namespace of
 * the process that opens them.
 *
 * Read-only: nothing here changes the host. The only traffic is a datagram from the
 * VIP to a local echo socket (it never leaves the host) and listening on the farm port.
 */
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FarmConfig } from '../../cli/config.js';
import { CONF_KNOBS, type ConfKnob, type ConfValues, type HostFacts, type HostInterface, type ProbeOutcome, type RouteFacts } from './facts.js';
import { heartbeatsFrom } from './heartbeats.js';
import { PROBE_SCRIPT } from './probe-script.js';

export interface GatherOptions {
  /** Read the facts inside this network namespace (`ip netns exec`). */
  netns?: string;
  /** How long to listen for peers' heartbeats on a free farm port; 0 = don't. Default 2000. */
  heartbeatWaitMs?: number;
  /** Override the build time the clock is compared with (tests). */
  buildMs?: number;
}

/** A command the gatherer could not run at all (not a failing check). */
export class HostFactsError extends Error {
  readonly code = 'ERR_HOST_FACTS';
  constructor(message: string) {
    super(message);
    this.name = 'HostFactsError';
  }
}

interface Exec {
  code: number;
  stdout: string;
  stderr: string;
}

const SBIN = '/usr/local/sbin:/usr/sbin:/sbin';

function exec(argv: readonly string[], timeoutMs = 10_000): Promise<Exec> {
  return new Promise((resolve) => {
    const env = { ...process.env, PATH: `${process.env.PATH ?? '/usr/bin:/bin'}:${SBIN}`, LC_ALL: 'C' };
    const child = spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(t);
      resolve({ code: -1, stdout, stderr: stderr + String(err) });
    });
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

function inNs(netns: string | undefined, argv: readonly string[]): string[] {
  return netns === undefined ? [...argv] : ['ip', 'netns', 'exec', netns, ...argv];
}

interface IpAddrJson {
  ifname: string;
  flags?: string[];
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

/** Parse `ip -j addr show` output. Exported for tests. */
export function parseIpAddr(json: string): Omit<HostInterface, 'conf'>[] {
  const data = JSON.parse(json) as IpAddrJson[];
  return data.map((l) => {
    const flags = l.flags ?? [];
    return {
      name: l.ifname,
      loopback: flags.includes('LOOPBACK'),
      noArp: flags.includes('NOARP'),
      up: flags.includes('UP'),
      addresses: (l.addr_info ?? [])
        .filter((a) => a.family === 'inet' || a.family === 'inet6')
        .map((a) => ({ family: a.family === 'inet' ? (4 as const) : (6 as const), address: a.local, prefixLen: a.prefixlen })),
    };
  });
}

/** Parse `grep -H . /proc/sys/net/ipv4/conf/<name>/<knob>` lines into name → values. Exported for tests. */
export function parseConfLines(text: string): Map<string, ConfValues> {
  const res = new Map<string, ConfValues>();
  for (const line of text.split('\n')) {
    const m = /^\/proc\/sys\/net\/ipv4\/conf\/([^/]+)\/([a-z_]+):(-?\d+)$/.exec(line.trim());
    if (!m || !(CONF_KNOBS as readonly string[]).includes(m[2])) continue;
    const v = res.get(m[1]) ?? {};
    v[m[2] as ConfKnob] = Number(m[3]);
    res.set(m[1], v);
  }
  return res;
}

/** Parse `ip -j route get` output (or its failure). Exported for tests. */
export function parseRouteGet(r: Exec): RouteFacts {
  if (r.code !== 0) return { ok: false, message: r.stderr.trim().replace(/^RTNETLINK answers: /, '') || `exit ${r.code}` };
  try {
    const [first] = JSON.parse(r.stdout) as { dev?: string; gateway?: string; prefsrc?: string; type?: string }[];
    if (first?.dev === undefined) return { ok: false, message: 'no route' };
    return { ok: true, dev: first.dev, gateway: first.gateway, prefsrc: first.prefsrc, type: first.type };
  } catch {
    return { ok: false, message: `unreadable output: ${r.stdout.slice(0, 100)}` };
  }
}

async function routeGet(netns: string | undefined, host: string): Promise<RouteFacts> {
  return parseRouteGet(await exec(inNs(netns, ['ip', '-j', 'route', 'get', host])));
}

function buildTime(): number {
  // The compiled module's mtime is the build time (tsc writes it); under a TS runner it
  // is the source's, which is older still — either way a clock before it is wrong.
  try {
    return statSync(fileURLToPath(import.meta.url)).mtimeMs;
  } catch {
    return 0;
  }
}

async function ntpSynchronized(): Promise<boolean | undefined> {
  // The clock is not namespaced: no `ip netns exec` here.
  const r = await exec(['timedatectl', 'show', '-p', 'NTPSynchronized', '--value'], 5_000);
  if (r.code !== 0) return undefined;
  const v = r.stdout.trim();
  return v === 'yes' ? true : v === 'no' ? false : undefined;
}

interface ProbeJson {
  vipBind: ProbeOutcome;
  source: { outcome: ProbeOutcome; seen?: string };
  farmBind: ProbeOutcome;
  datagrams: string[] | null;
}

/** Gather the facts for member `memberId` of `cfg`. Throws HostFactsError if `ip` itself is unusable. */
export async function gatherHostFacts(cfg: FarmConfig, memberId: number, opts: GatherOptions = {}): Promise<HostFacts> {
  const ns = opts.netns;
  const self = cfg.members.find((m) => m.id === memberId);
  const peers = cfg.members.filter((m) => m.id !== memberId);

  const addr = await exec(inNs(ns, ['ip', '-j', 'addr', 'show']));
  if (addr.code !== 0) throw new HostFactsError(`'ip -j addr show' failed: ${addr.stderr.trim() || `exit ${addr.code}`}`);
  const ifaces = parseIpAddr(addr.stdout);

  // One grep over the three knobs of every interface (a fixed string: nothing interpolated).
  const conf = await exec(inNs(ns, ['sh', '-c', 'grep -H . /proc/sys/net/ipv4/conf/*/arp_ignore /proc/sys/net/ipv4/conf/*/arp_announce /proc/sys/net/ipv4/conf/*/rp_filter']));
  const confBy = parseConfLines(conf.stdout);
  const interfaces: HostInterface[] = ifaces.map((i) => ({ ...i, conf: confBy.get(i.name) ?? {} }));

  const selfHost = self?.address.host;
  const selfLocal = selfHost !== undefined && interfaces.some((i) => i.addresses.some((a) => a.address === selfHost));
  const echoHost = selfLocal ? selfHost : cfg.vip.host.includes(':') ? '::1' : '127.0.0.1';
  const listenMs = opts.heartbeatWaitMs ?? 2000;
  const params = {
    vip: cfg.vip,
    echoHost,
    // Without a config entry for this member there is nothing to bind: probe a port that
    // cannot be bound (the result is not used) so the script stays simple.
    farm: self?.address ?? { host: echoHost, port: 0 },
    listenMs: self === undefined || peers.length === 0 ? 0 : listenMs,
  };
  const pr = await exec(inNs(ns, [process.execPath, '-e', PROBE_SCRIPT, JSON.stringify(params)]), 15_000 + params.listenMs);
  let probe: ProbeJson;
  try {
    probe = JSON.parse(pr.stdout) as ProbeJson;
  } catch {
    throw new HostFactsError(`socket probe failed: ${pr.stderr.trim().slice(0, 300) || `exit ${pr.code}`}`);
  }

  const [selfRoute, peerRoutes, ntp] = await Promise.all([
    selfHost === undefined ? Promise.resolve<RouteFacts>({ ok: false, message: 'no such member' }) : routeGet(ns, selfHost),
    Promise.all(peers.map(async (p) => ({ id: p.id, host: p.address.host, route: await routeGet(ns, p.address.host) }))),
    ntpSynchronized(),
  ]);

  return {
    netns: ns,
    interfaces,
    allConf: confBy.get('all') ?? {},
    vipBind: probe.vipBind,
    vipSource: { outcome: probe.source.outcome, seen: probe.source.seen, echo: echoHost },
    selfRoute,
    farmBind: probe.farmBind,
    heartbeats:
      probe.datagrams === null
        ? undefined
        : heartbeatsFrom(probe.datagrams.map((b) => Buffer.from(b, 'base64')), cfg.key, peers.map((p) => p.id), params.listenMs),
    peers: peerRoutes,
    clock: { nowMs: Date.now(), buildMs: opts.buildMs ?? buildTime(), ntpSynchronized: ntp },
  };
}
