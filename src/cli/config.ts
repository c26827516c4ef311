// The farm's YAML configuration: parsed strictly, every value checked, every error naming
// the field (and its line) so an operator can fix the file without reading this code.
// Everything here runs once at start-up; it allocates freely.

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import { AddrError, formatHostPort, isHostname, isIpLiteral, isUnspecified, parseHostPort, sameHostPort, type HostPort } from '../util/addr.js';

import type { LogLevel } from '../util/log.js';

export type { HostPort } from '../util/addr.js';
export type { LogLevel } from '../util/log.js';

export interface MemberConfig {
  /** 0..254, unique; carried in branch and route tokens (DESIGN: fast path rules 3–4). */
  id: number;
  /** Farm channel address (unicast IP:port), unique; peers send envelopes and heartbeats here. */
  address: HostPort;
  /** This member's admin/metrics listener; falls back to FarmConfig.metrics. */
  metrics?: HostPort;
  /** Extra SIP socket on the member's own address, for LB probes sent to the member (not the VIP). */
  sip?: HostPort;
  /** The member's MAC on the LB's segment (lowercase); the nftables DSR LB sends frames to it. */
  mac?: string;
  /** Single-IP media: this member's RTP/RTCP port range on the media address (the LB maps it here). */
  mediaPorts?: { first: number; last: number };
}

/** The load balancer's side, for `sipfarm lb-config --format nftables`, `lb-health` and the lab. */
export interface LbSettings {
  /** The LB's interface facing the members. */
  iface?: string;
  /** The LB's MAC on that interface (lowercase). */
  mac?: string;
  mode: 'random' | 'flow';
  health: { intervalS: number; retries: number };
  /** Single-IP media address (WAN media address) the members' mediaPorts are on; default the VIP. */
  mediaAddress?: string;
}


export interface FarmConfig {
  vip: HostPort;
  key: Buffer;
  domains: string[];
  members: MemberConfig[];
  lbProbeSources: string[];
  heartbeat: { intervalMs: number; deadAfterMs: number };
  graceMs: number;
  timers: { t1: number; t2: number; t4: number };
  maxMessageSize: number;
  metrics?: HostPort;
  outboundProxy?: HostPort;
  registrar: { minExpires: number; maxExpires: number; defaultExpires: number };
  log: { level: LogLevel; samplePerSecond: number };
  lb?: LbSettings;
  /** How members relay to each other (DESIGN "Relay between members"). */
  relay: RelaySettings;
}

/**
 * `udp`: the authenticated envelope on the farm channel (default; works anywhere).
 * `l2`: DSR-style frames to the owner's MAC on the LB segment (native fast path,
 * CAP_NET_RAW, every member's `mac`), marked with `dscp` so they are never relayed again;
 * anything a frame cannot carry still goes by envelope.
 */
export interface RelaySettings {
  mode: 'udp' | 'l2';
  /** l2: the member's interface on the LB segment. */
  iface?: string;
  /** l2: the loop-guard DSCP (1..63, the same on every member). */
  dscp: number;
}

/** A configuration the farm refuses to start with. `field` is the dotted path, '' for the document. */
export class ConfigError extends Error {
  readonly code = 'ERR_CONFIG';
  constructor(
    readonly field: string,
    readonly detail: string,
    readonly source?: string,
    readonly line?: number,
    readonly column?: number,
  ) {
    const where = line === undefined ? '' : ` (${source ?? 'config'} line ${line}, column ${column ?? 1})`;
    super(`config: ${field === '' ? '' : field + ': '}${detail}${where}`);
    this.name = 'ConfigError';
  }
}

export const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug'];

/** Defaults in one place; the derived ones (deadAfterMs, t2, graceMs, defaultExpires) are computed in parse. */
export const DEFAULTS = {
  vipPort: 5060,
  sipPort: 5060,
  heartbeatIntervalMs: 200,
  deadAfterMs: 1000,
  // RFC 3261 §17.1.1.1: T1 500 ms, T2 4 s, T4 5 s.
  t1: 500,
  t2: 4000,
  t4: 5000,
  maxMessageSize: 65535,
  minExpires: 60,
  maxExpires: 7200,
  defaultExpires: 3600,
  logLevel: 'info' as LogLevel,
  samplePerSecond: 20,
} as const;

const MIN_KEY_BYTES = 16;

const TOP_KEYS = [
  'vip', 'key', 'keyFile', 'domains', 'members', 'lbProbeSources', 'heartbeat', 'graceMs',
  'timers', 'maxMessageSize', 'metrics', 'outboundProxy', 'registrar', 'log', 'lb', 'relay',
] as const;
const RELAY_KEYS = ['mode', 'iface', 'dscp'] as const;
const MEMBER_KEYS = ['id', 'address', 'metrics', 'sip', 'mac', 'mediaPorts'] as const;
const LB_KEYS = ['iface', 'mac', 'mode', 'health', 'mediaAddress'] as const;
const LB_HEALTH_KEYS = ['intervalS', 'retries'] as const;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const IFACE_RE = /^[A-Za-z0-9_.-]{1,15}$/;
const HEARTBEAT_KEYS = ['intervalMs', 'deadAfterMs'] as const;
const TIMER_KEYS = ['t1', 't2', 't4'] as const;
const REGISTRAR_KEYS = ['minExpires', 'maxExpires', 'defaultExpires'] as const;
const LOG_KEYS = ['level', 'samplePerSecond'] as const;

/** Read and validate a config file. keyFile is resolved relative to the config file's directory. */
export function loadConfig(path: string): FarmConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError('', `cannot read "${path}": ${errText(err)}`, path);
  }
  return parseConfig(text, path);
}

/**
 * Validate YAML text. `source` names the file in messages; when given, a relative keyFile
 * is resolved against its directory, otherwise against the working directory.
 */
export function parseConfig(text: string, source?: string): FarmConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { strict: true, uniqueKeys: true, prettyErrors: true, lineCounter });
  const ck = new Checker(doc, lineCounter, source);
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const pos = e.linePos?.[0];
    const path = e.pos ? ck.pathAt(e.pos[0]) : [];
    // The yaml message repeats the position and a code excerpt after the first line.
    const detail = e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    throw new ConfigError(fmtPath(path), `YAML: ${detail}`, source, pos?.line, pos?.col);
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError('', `YAML: ${errText(err)}`, source);
  }
  const baseDir = source === undefined ? process.cwd() : dirname(resolve(source));
  return validate(raw, ck, baseDir);
}

/** The member with this id, or undefined. */
export function memberById(cfg: FarmConfig, id: number): MemberConfig | undefined {
  return cfg.members.find((m) => m.id === id);
}

/** The admin/metrics listener a member should open: its own, else the farm default, else none. */
export function metricsAddressOf(cfg: FarmConfig, member: MemberConfig): HostPort | undefined {
  return member.metrics ?? cfg.metrics;
}

/** The config as JSON-safe data for /status and logs: addresses formatted, the key redacted. */
export function publicConfig(cfg: FarmConfig): Record<string, unknown> {
  const hp = (h: HostPort | undefined): string | undefined => (h === undefined ? undefined : formatHostPort(h));
  return {
    vip: hp(cfg.vip),
    key: `<redacted ${cfg.key.length} bytes>`,
    domains: cfg.domains,
    members: cfg.members.map((m) => ({
      id: m.id, address: hp(m.address), metrics: hp(m.metrics), sip: hp(m.sip), mac: m.mac,
      mediaPorts: m.mediaPorts === undefined ? undefined : `${m.mediaPorts.first}-${m.mediaPorts.last}`,
    })),
    lbProbeSources: cfg.lbProbeSources,
    heartbeat: cfg.heartbeat,
    graceMs: cfg.graceMs,
    timers: cfg.timers,
    maxMessageSize: cfg.maxMessageSize,
    metrics: hp(cfg.metrics),
    outboundProxy: hp(cfg.outboundProxy),
    registrar: cfg.registrar,
    log: cfg.log,
    lb: cfg.lb,
    relay: cfg.relay,
  };
}

/**
 * '200ms', '1s', '1.5s', '2m' or a plain number of milliseconds → integer milliseconds.
 * Returns undefined for anything else (including fractions of a millisecond).
 */
export function parseDuration(v: unknown): number | undefined {
  let ms: number;
  if (typeof v === 'number') {
    ms = v;
  } else if (typeof v === 'string') {
    const m = /^([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m)$/.exec(v.trim());
    if (!m) return undefined;
    const scaled = Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : 60_000);
    ms = Math.round(scaled);
    if (Math.abs(scaled - ms) > 1e-6) return undefined;
  } else {
    return undefined;
  }
  return Number.isInteger(ms) && ms >= 0 ? ms : undefined;
}

/** Closest known key to a misspelt one, or undefined when nothing is close. */
export function suggestKey(name: string, known: readonly string[]): string | undefined {
  const norm = (s: string): string => s.toLowerCase().replace(/[-_]/g, '');
  const exact = known.find((k) => norm(k) === norm(name));
  if (exact !== undefined) return exact;
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(name.toLowerCase(), k.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  if (best === undefined) return undefined;
  const allowed = Math.max(1, Math.floor(Math.max(name.length, best.length) / 3));
  return bestD <= allowed ? best : undefined;
}

// ---------------------------------------------------------------------------------------

type Seg = string | number;

function fmtPath(path: readonly Seg[]): string {
  let s = '';
  for (const seg of path) s += typeof seg === 'number' ? `[${seg}]` : s === '' ? seg : `.${seg}`;
  return s;
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || v === undefined) return 'empty';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}

function errText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code ? `${code} (${err.message})` : err.message;
  }
  return String(err);
}

// Optimal string alignment distance: Levenshtein plus adjacent transposition ('vpi' → 'vip' is 1),
// the commonest typo in hand-written keys.
function editDistance(a: string, b: string): number {
  const d: number[][] = [];
  for (let i = 0; i <= a.length; i++) d.push([i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}

interface AddrRule {
  defaultPort?: number;
  /** A destination others send to: the unspecified address (0.0.0.0, ::) is refused. */
  destination: boolean;
}

/** Type checks that fail with the field path and, when the node is found, its line. */
class Checker {
  constructor(
    private readonly doc: Document,
    private readonly lc: LineCounter,
    private readonly source: string | undefined,
  ) {}

  fail(path: readonly Seg[], detail: string, at: 'value' | 'key' = 'value'): never {
    const pos = this.locate(path, at);
    throw new ConfigError(fmtPath(path), detail, this.source, pos?.line, pos?.col);
  }

  /** Position of the node at path (its key when at = 'key'), else of the nearest ancestor. */
  private locate(path: readonly Seg[], at: 'value' | 'key'): { line: number; col: number } | undefined {
    for (let n = path.length; n >= 0; n--) {
      const sub = path.slice(0, n);
      let node: unknown;
      if (at === 'key' && n === path.length && n > 0) {
        const parent = sub.length === 1 ? this.doc.contents : this.doc.getIn(sub.slice(0, -1), true);
        if (isMap(parent)) {
          const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === String(sub[sub.length - 1]));
          node = pair?.key;
        }
      } else {
        node = n === 0 ? this.doc.contents : this.doc.getIn(sub, true);
      }
      const range = (node as Node | undefined)?.range;
      if (range) return this.lc.linePos(range[0]);
    }
    return undefined;
  }

  /** The path of the innermost key or value containing a source offset (for YAML errors). */
  pathAt(offset: number): Seg[] {
    const path: Seg[] = [];
    let node: unknown = this.doc.contents;
    for (;;) {
      let next: unknown;
      if (isMap(node)) {
        for (const p of node.items) {
          const k = p.key as Node | null;
          const v = p.value as Node | null;
          if (k?.range && offset >= k.range[0] && offset < k.range[2]) {
            path.push(isScalar(k) ? String(k.value) : '?');
            return path;
          }
          if (v?.range && offset >= v.range[0] && offset < v.range[2]) {
            path.push(isScalar(k) ? String(k.value) : '?');
            next = v;
            break;
          }
        }
      } else if (isSeq(node)) {
        node.items.forEach((item, i) => {
          const r = (item as Node | null)?.range;
          if (next === undefined && r && offset >= r[0] && offset < r[2]) {
            path.push(i);
            next = item;
          }
        });
      }
      if (next === undefined) return path;
      node = next;
    }
  }

  mapping(v: unknown, path: readonly Seg[]): Record<string, unknown> {
    if (!isRecord(v)) this.fail(path, `must be a mapping, got ${show(v)}`);
    return v;
  }

  list(v: unknown, path: readonly Seg[]): unknown[] {
    if (!Array.isArray(v)) this.fail(path, `must be a list, got ${show(v)}`);
    return v;
  }

  keys(o: Record<string, unknown>, path: readonly Seg[], known: readonly string[]): void {
    for (const k of Object.keys(o)) {
      if (known.includes(k)) continue;
      const hint = suggestKey(k, known);
      const tail = hint === undefined ? `; known keys: ${known.join(', ')}` : ` (did you mean "${hint}"?)`;
      this.fail([...path, k], `unknown key${tail}`, 'key');
    }
  }

  int(v: unknown, path: readonly Seg[], min: number, max: number): number {
    if (typeof v !== 'number' || !Number.isInteger(v)) this.fail(path, `${show(v)} must be an integer`);
    if (v < min || v > max) this.fail(path, `${v} must be within ${min}..${max}`);
    return v;
  }

  duration(v: unknown, path: readonly Seg[], min: number, max: number): number {
    const ms = parseDuration(v);
    if (ms === undefined) {
      this.fail(path, `${show(v)} must be a duration: milliseconds as a number, or a string like "200ms", "1s", "32s"`);
    }
    if (ms < min || ms > max) this.fail(path, `${show(v)} must be within ${min}..${max} ms`);
    return ms;
  }

  string(v: unknown, path: readonly Seg[]): string {
    if (typeof v !== 'string') this.fail(path, `${show(v)} must be a string (quote it)`);
    return v;
  }

  hostPort(v: unknown, path: readonly Seg[], rule: AddrRule): HostPort {
    const s = this.string(v, path);
    let hp: HostPort;
    try {
      hp = parseHostPort(s, rule.defaultPort);
    } catch (err) {
      if (err instanceof AddrError) {
        this.fail(path, `${show(s)} ${err.reason === 'syntax' && rule.defaultPort === undefined ? 'must be host:port' : err.message}`);
      }
      throw err;
    }
    if (!isIpLiteral(hp.host)) this.fail(path, `${show(s)}: host must be an IP address (IPv4 or [IPv6]), not a name`);
    if (rule.destination && isUnspecified(hp.host)) {
      this.fail(path, `${show(s)}: the unspecified address cannot be a destination; use the unicast address`);
    }
    return hp;
  }

  /** 'first-last' (or one port) → an inclusive range within 1024..65535. */
  portRange(v: unknown, path: readonly Seg[]): { first: number; last: number } {
    const s = typeof v === 'number' ? String(v) : this.string(v, path);
    const m = /^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$/.exec(s);
    if (!m) this.fail(path, `${show(v)} must be a port range like "20000-29999"`);
    const first = Number(m[1]);
    const last = m[2] === undefined ? first : Number(m[2]);
    if (first < 1024 || last > 65535 || first > last) this.fail(path, `${show(v)} must be first-last within 1024..65535, first <= last`);
    return { first, last };
  }

  ipLiteral(v: unknown, path: readonly Seg[]): string {
    const s = this.string(v, path);
    if (!isIpLiteral(s)) this.fail(path, `${show(s)} must be an IP address (IPv6 without brackets)`);
    return s.includes(':') ? s.toLowerCase() : s;
  }
}

/** Present and not YAML null. Null and absence mean the same ("use the default"). */
function given(v: unknown): boolean {
  return v !== undefined && v !== null;
}

function validate(raw: unknown, ck: Checker, baseDir: string): FarmConfig {
  if (!given(raw)) ck.fail([], 'the document is empty; at least vip, key or keyFile, and members are required');
  const root = ck.mapping(raw, []);
  ck.keys(root, [], TOP_KEYS);

  if (!given(root.vip)) ck.fail(['vip'], 'is required (the public SIP address, e.g. "198.51.100.10:5060")');
  const vip = ck.hostPort(root.vip, ['vip'], { defaultPort: DEFAULTS.vipPort, destination: true });

  const key = readKey(root, ck, baseDir);

  // Domains this farm is responsible for (RFC 3261 §10.3 step 1, §16.4): lowercased,
  // because host comparison in SIP URIs is case-insensitive (§19.1.4).
  let domains: string[];
  if (!given(root.domains)) {
    domains = [vip.host.toLowerCase()];
  } else {
    const list = ck.list(root.domains, ['domains']);
    if (list.length === 0) ck.fail(['domains'], 'must list at least one domain (omit it to use the VIP address)');
    domains = list.map((d, i) => {
      const s = ck.string(d, ['domains', i]).toLowerCase();
      const bare = s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s;
      if (!isHostname(s) && !isIpLiteral(bare)) ck.fail(['domains', i], `${show(d)} is not a host name or IP address`);
      return s;
    });
    domains.forEach((d, i) => {
      const j = domains.indexOf(d);
      if (j !== i) ck.fail(['domains', i], `${show(d)} is listed twice (also domains[${j}])`);
    });
  }

  if (!given(root.members)) ck.fail(['members'], 'is required (at least one member)');
  const rawMembers = ck.list(root.members, ['members']);
  if (rawMembers.length === 0) ck.fail(['members'], 'must list at least one member');
  const members: MemberConfig[] = [];
  rawMembers.forEach((rm, i) => {
    const p: Seg[] = ['members', i];
    const m = ck.mapping(rm, p);
    ck.keys(m, p, MEMBER_KEYS);
    if (!given(m.id)) ck.fail([...p, 'id'], 'is required (0..254)');
    // 255 stays free: member ids travel in one octet and 0xff can mean "none".
    const id = ck.int(m.id, [...p, 'id'], 0, 254);
    const dupId = members.findIndex((o) => o.id === id);
    if (dupId >= 0) ck.fail([...p, 'id'], `${id} is already used by members[${dupId}]`);
    if (!given(m.address)) ck.fail([...p, 'address'], 'is required (farm channel ip:port)');
    const address = ck.hostPort(m.address, [...p, 'address'], { destination: true });
    const dupAddr = members.findIndex((o) => sameHostPort(o.address, address));
    if (dupAddr >= 0) ck.fail([...p, 'address'], `${show(m.address)} is already used by members[${dupAddr}]`);
    if (sameHostPort(address, vip)) ck.fail([...p, 'address'], `${show(m.address)} is the VIP; the farm channel needs its own port`);
    const member: MemberConfig = { id, address };
    if (given(m.metrics)) member.metrics = ck.hostPort(m.metrics, [...p, 'metrics'], { destination: false });
    if (given(m.sip)) {
      member.sip = ck.hostPort(m.sip, [...p, 'sip'], { defaultPort: DEFAULTS.sipPort, destination: true });
      if (sameHostPort(member.sip, vip)) ck.fail([...p, 'sip'], `${show(m.sip)} is the VIP itself; this socket is for the member's own address`);
      if (sameHostPort(member.sip, address)) ck.fail([...p, 'sip'], `${show(m.sip)} is the farm channel address`);
    }
    if (given(m.mac)) {
      const mac = ck.string(m.mac, [...p, 'mac']).toLowerCase();
      if (!MAC_RE.test(mac)) ck.fail([...p, 'mac'], `${show(m.mac)} is not a MAC address (aa:bb:cc:dd:ee:ff)`);
      const dupMac = members.findIndex((o) => o.mac === mac);
      if (dupMac >= 0) ck.fail([...p, 'mac'], `${show(m.mac)} is already used by members[${dupMac}]`);
      member.mac = mac;
    }
    if (given(m.mediaPorts)) {
      const r = ck.portRange(m.mediaPorts, [...p, 'mediaPorts']);
      // Single-IP media: one address, each port owned by exactly one member (the LB maps
      // ranges to members), so ranges must not overlap.
      const clash = members.findIndex((o) => o.mediaPorts !== undefined && o.mediaPorts.first <= r.last && r.first <= o.mediaPorts.last);
      if (clash >= 0) ck.fail([...p, 'mediaPorts'], `${r.first}-${r.last} overlaps members[${clash}].mediaPorts`);
      member.mediaPorts = r;
    }
    members.push(member);
  });

  let lbProbeSources: string[] = [];
  if (given(root.lbProbeSources)) {
    lbProbeSources = ck.list(root.lbProbeSources, ['lbProbeSources']).map((s, i) => ck.ipLiteral(s, ['lbProbeSources', i]));
  }

  // Heartbeat: a member is declared dead after deadAfterMs of silence; requiring more than
  // two intervals keeps one lost heartbeat from flapping the ring.
  const hbRaw = given(root.heartbeat) ? ck.mapping(root.heartbeat, ['heartbeat']) : {};
  ck.keys(hbRaw, ['heartbeat'], HEARTBEAT_KEYS);
  const intervalMs = given(hbRaw.intervalMs)
    ? ck.duration(hbRaw.intervalMs, ['heartbeat', 'intervalMs'], 10, 10_000)
    : DEFAULTS.heartbeatIntervalMs;
  const deadAfterMs = given(hbRaw.deadAfterMs)
    ? ck.duration(hbRaw.deadAfterMs, ['heartbeat', 'deadAfterMs'], 1, 60_000)
    : Math.max(DEFAULTS.deadAfterMs, 5 * intervalMs);
  if (deadAfterMs <= 2 * intervalMs) {
    ck.fail(['heartbeat', 'deadAfterMs'], `${deadAfterMs} ms must be more than 2 × intervalMs (${2 * intervalMs} ms)`);
  }

  // RFC 3261 §17.1.1.1 / §17.1.2.2: T1, T2, T4. T2 caps the retransmit interval, so T2 >= T1.
  const tRaw = given(root.timers) ? ck.mapping(root.timers, ['timers']) : {};
  ck.keys(tRaw, ['timers'], TIMER_KEYS);
  const t1 = given(tRaw.t1) ? ck.duration(tRaw.t1, ['timers', 't1'], 1, 60_000) : DEFAULTS.t1;
  const t2 = given(tRaw.t2) ? ck.duration(tRaw.t2, ['timers', 't2'], 1, 600_000) : Math.max(DEFAULTS.t2, t1);
  if (t2 < t1) ck.fail(['timers', 't2'], `${t2} ms must be at least timers.t1 (${t1} ms)`);
  const t4 = given(tRaw.t4) ? ck.duration(tRaw.t4, ['timers', 't4'], 1, 600_000) : DEFAULTS.t4;

  // Grace defaults to 64·T1, the longest a transaction can live (Timer B/F, RFC 3261 §17.1.1.2).
  const graceMs = given(root.graceMs) ? ck.duration(root.graceMs, ['graceMs'], 0, 3_600_000) : 64 * t1;

  const maxMessageSize = given(root.maxMessageSize)
    ? ck.int(root.maxMessageSize, ['maxMessageSize'], 1024, 65535)
    : DEFAULTS.maxMessageSize;

  const metrics = given(root.metrics) ? ck.hostPort(root.metrics, ['metrics'], { destination: false }) : undefined;
  const outboundProxy = given(root.outboundProxy)
    ? ck.hostPort(root.outboundProxy, ['outboundProxy'], { defaultPort: DEFAULTS.sipPort, destination: true })
    : undefined;
  if (outboundProxy && sameHostPort(outboundProxy, vip)) ck.fail(['outboundProxy'], 'must not be the VIP (requests would loop)');

  // Registrar expiry bounds in seconds: RFC 3261 §10.3 step 7 (423 + Min-Expires below
  // minExpires), §20.19 (Expires is at most 2^32-1).
  const rRaw = given(root.registrar) ? ck.mapping(root.registrar, ['registrar']) : {};
  ck.keys(rRaw, ['registrar'], REGISTRAR_KEYS);
  const U32 = 4_294_967_295;
  const minExpires = given(rRaw.minExpires) ? ck.int(rRaw.minExpires, ['registrar', 'minExpires'], 1, U32) : DEFAULTS.minExpires;
  const maxExpires = given(rRaw.maxExpires) ? ck.int(rRaw.maxExpires, ['registrar', 'maxExpires'], 1, U32) : Math.max(DEFAULTS.maxExpires, minExpires);
  if (maxExpires < minExpires) ck.fail(['registrar', 'maxExpires'], `${maxExpires} must be at least registrar.minExpires (${minExpires})`);
  const defaultExpires = given(rRaw.defaultExpires)
    ? ck.int(rRaw.defaultExpires, ['registrar', 'defaultExpires'], 1, U32)
    : Math.min(Math.max(DEFAULTS.defaultExpires, minExpires), maxExpires);
  if (defaultExpires < minExpires || defaultExpires > maxExpires) {
    ck.fail(['registrar', 'defaultExpires'], `${defaultExpires} must be within registrar.minExpires..maxExpires (${minExpires}..${maxExpires})`);
  }

  const lRaw = given(root.log) ? ck.mapping(root.log, ['log']) : {};
  ck.keys(lRaw, ['log'], LOG_KEYS);
  let level: LogLevel = DEFAULTS.logLevel;
  if (given(lRaw.level)) {
    const s = ck.string(lRaw.level, ['log', 'level']);
    if (!(LOG_LEVELS as readonly string[]).includes(s)) ck.fail(['log', 'level'], `${show(s)} must be one of ${LOG_LEVELS.join(', ')}`);
    level = s as LogLevel;
  }
  // 0 turns sampled (per-packet-reason) logs off entirely.
  const samplePerSecond = given(lRaw.samplePerSecond)
    ? ck.int(lRaw.samplePerSecond, ['log', 'samplePerSecond'], 0, 100_000)
    : DEFAULTS.samplePerSecond;

  const cfg: FarmConfig = {
    vip,
    key,
    domains,
    members,
    lbProbeSources,
    heartbeat: { intervalMs, deadAfterMs },
    graceMs,
    timers: { t1, t2, t4 },
    maxMessageSize,
    registrar: { minExpires, maxExpires, defaultExpires },
    log: { level, samplePerSecond },
    relay: validateRelay(root.relay, ck, members),
  };
  if (metrics) cfg.metrics = metrics;
  if (outboundProxy) cfg.outboundProxy = outboundProxy;
  if (given(root.lb)) cfg.lb = validateLb(root.lb, ck, vip, members);
  return cfg;
}

/** The `relay:` section. */
function validateRelay(raw: unknown, ck: Checker, members: readonly MemberConfig[]): RelaySettings {
  if (!given(raw)) return { mode: 'udp', dscp: 8 };
  const o = ck.mapping(raw, ['relay']);
  ck.keys(o, ['relay'], RELAY_KEYS);
  const relay: RelaySettings = { mode: 'udp', dscp: given(o.dscp) ? ck.int(o.dscp, ['relay', 'dscp'], 1, 63) : 8 };
  if (given(o.mode)) {
    const s = ck.string(o.mode, ['relay', 'mode']);
    if (s !== 'udp' && s !== 'l2') ck.fail(['relay', 'mode'], `${show(s)} must be udp or l2`);
    relay.mode = s;
  }
  if (given(o.iface)) {
    const s = ck.string(o.iface, ['relay', 'iface']);
    if (!IFACE_RE.test(s)) ck.fail(['relay', 'iface'], `${show(s)} is not an interface name (1..15 of letters, digits, '_', '.', '-')`);
    relay.iface = s;
  }
  if (relay.mode === 'l2') {
    if (relay.iface === undefined) ck.fail(['relay', 'iface'], 'is required with mode l2 (the interface on the LB segment)');
    members.forEach((m, i) => {
      if (m.mac === undefined) ck.fail(['members', i, 'mac'], 'is required with relay.mode l2 (frames go to the owner\'s MAC)');
    });
  }
  return relay;
}

/** The `lb:` section: the nftables DSR LB and its health checker. */
function validateLb(raw: unknown, ck: Checker, vip: HostPort, members: readonly MemberConfig[]): LbSettings {
  const o = ck.mapping(raw, ['lb']);
  ck.keys(o, ['lb'], LB_KEYS);
  let mode: LbSettings['mode'] = 'random';
  if (given(o.mode)) {
    const s = ck.string(o.mode, ['lb', 'mode']);
    if (s !== 'random' && s !== 'flow') ck.fail(['lb', 'mode'], `${show(s)} must be random or flow`);
    mode = s;
  }
  const hRaw = given(o.health) ? ck.mapping(o.health, ['lb', 'health']) : {};
  ck.keys(hRaw, ['lb', 'health'], LB_HEALTH_KEYS);
  const lb: LbSettings = {
    mode,
    health: {
      intervalS: given(hRaw.intervalS) ? ck.int(hRaw.intervalS, ['lb', 'health', 'intervalS'], 1, 3600) : 5,
      retries: given(hRaw.retries) ? ck.int(hRaw.retries, ['lb', 'health', 'retries'], 1, 100) : 3,
    },
  };
  if (given(o.iface)) {
    const s = ck.string(o.iface, ['lb', 'iface']);
    if (!IFACE_RE.test(s)) ck.fail(['lb', 'iface'], `${show(s)} is not an interface name (1..15 of letters, digits, '_', '.', '-')`);
    lb.iface = s;
  }
  if (given(o.mac)) {
    const s = ck.string(o.mac, ['lb', 'mac']).toLowerCase();
    if (!MAC_RE.test(s)) ck.fail(['lb', 'mac'], `${show(o.mac)} is not a MAC address (aa:bb:cc:dd:ee:ff)`);
    const i = members.findIndex((m) => m.mac === s);
    if (i >= 0) ck.fail(['lb', 'mac'], `${show(o.mac)} is also members[${i}].mac`);
    lb.mac = s;
  }
  if (given(o.mediaAddress)) lb.mediaAddress = ck.ipLiteral(o.mediaAddress, ['lb', 'mediaAddress']);
  // Media on the VIP itself: a member's range must not swallow the SIP port.
  if ((lb.mediaAddress ?? vip.host) === vip.host) {
    members.forEach((m, i) => {
      if (m.mediaPorts && m.mediaPorts.first <= vip.port && vip.port <= m.mediaPorts.last) {
        ck.fail(['members', i, 'mediaPorts'], `${m.mediaPorts.first}-${m.mediaPorts.last} includes the VIP's SIP port ${vip.port} (media is on the VIP address)`);
      }
    });
  }
  return lb;
}

/** The farm key authenticates every envelope and heartbeat (HMAC-SHA-256), so it is never echoed. */
function readKey(root: Record<string, unknown>, ck: Checker, baseDir: string): Buffer {
  const hasKey = given(root.key);
  const hasFile = given(root.keyFile);
  if (hasKey && hasFile) ck.fail(['keyFile'], 'give either key or keyFile, not both');
  if (!hasKey && !hasFile) ck.fail(['key'], `is required: set key (a string of at least ${MIN_KEY_BYTES} characters) or keyFile (a path)`);
  if (hasKey) {
    if (typeof root.key !== 'string') ck.fail(['key'], 'must be a string (quote it)');
    if (root.key.length < MIN_KEY_BYTES) ck.fail(['key'], `is too short: ${root.key.length} characters, at least ${MIN_KEY_BYTES} required`);
    return Buffer.from(root.key, 'utf8');
  }
  const rel = ck.string(root.keyFile, ['keyFile']);
  const path = resolve(baseDir, rel);
  let content: Buffer;
  try {
    content = readFileSync(path);
  } catch (err) {
    ck.fail(['keyFile'], `cannot read "${path}": ${errText(err)}`);
  }
  const key = trimBytes(content);
  if (key.length < MIN_KEY_BYTES) ck.fail(['keyFile'], `"${path}" holds ${key.length} bytes after trimming, at least ${MIN_KEY_BYTES} required`);
  return key;
}

/** Strip ASCII whitespace at both ends (a trailing newline from `echo > keyfile`), keep binary bytes. */
function trimBytes(b: Buffer): Buffer {
  const ws = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
  let s = 0;
  let e = b.length;
  while (s < e && ws(b[s])) s++;
  while (e > s && ws(b[e - 1])) e--;
  return Buffer.from(b.subarray(s, e));
}

// Re-exported so callers that only import the config module can parse and render addresses.
export { formatHostPort, parseHostPort };
