/**
 * `sipfarm lb-config`: load-balancer configuration for the farm, generated from the farm
 * config, in the formats of the seed's examples (Alteon, F5 BIG-IP, Foundry ServerIron)
 * plus Linux IPVS and the project's own nftables DSR balancer.
 *
 * What every format says, because it is what a sipfarm farm needs from any LB
 * (docs/deployment.md has the reasons):
 *  - UDP VIP:port, DSR / no NAT: the member receives the datagram with the VIP as
 *    destination and answers the client directly from the VIP;
 *  - stateless: no UDP "session binding" — each datagram is scheduled on its own (the
 *    farm relays whatever lands on the wrong member; a binding only delays failover);
 *  - no SIP-aware switching (Call-ID persistence and the like): unnecessary and harmful;
 *  - a health check that probes each member directly: SIP OPTIONS to the member's own
 *    address, user-less Request-URI and Max-Forwards 0, which the classifier keeps on
 *    the probed member (DESIGN rule 5); 200 = up, 503 = draining.
 *
 * Generators are pure text functions over an `LbTarget` (the farm resolved to what an
 * LB needs); `generateLbConfig` builds the target from the config and options.
 */
import type { FarmConfig, MemberConfig } from '../cli/config.js';
import { nftablesDsrRuleset, NftablesConfigError, type LbMode } from './nftables.js';
import { alteonConfig } from './alteon.js';
import { f5Config } from './f5.js';
import { foundryConfig } from './foundry.js';
import { ipvsScript } from './ipvs.js';

export type { LbMode } from './nftables.js';

export const LB_FORMATS = ['nftables', 'alteon', 'f5', 'foundry', 'ipvs'] as const;
export type LbFormat = (typeof LB_FORMATS)[number];

export interface LbConfigOptions {
  /** 'random' (default): every datagram scheduled alone; 'flow': one member per client address:port. */
  mode?: LbMode;
  /**
   * Member MACs on the LB segment, by member id (nftables needs them; the farm config
   * has no MAC field yet). Takes precedence over a `mac` field on the member, if the
   * config ever grows one.
   */
  memberMacs?: Readonly<Record<number, string>>;
  /** nftables: the LB's interface facing the members, and its MAC. */
  iface?: string;
  lbMac?: string;
  /** Prefix of the objects the config creates (pools, monitors, tables). Default 'sipfarm'. */
  name?: string;
  /** Health check timing. Defaults: every 5 s, 3 misses = down. */
  health?: { intervalS?: number; retries?: number };
}

/** The farm as a load balancer sees it. */
export interface LbTarget {
  name: string;
  vip: string;
  port: number;
  mode: LbMode;
  members: LbMember[];
  health: LbHealth;
  /** The farm's lbProbeSources: where the LB's probes must come from. */
  probeSources: string[];
}

export interface LbMember {
  id: number;
  /** The member's own unicast address (its `sip` socket host, else its farm address host). */
  address: string;
  /** Where the health check goes: the member's `sip` socket port, else the VIP port. */
  probePort: number;
  mac?: string;
}

export interface LbHealth {
  intervalS: number;
  retries: number;
  /** Request-URI of the probe: the VIP, no user part (DESIGN rule 5). */
  uri: string;
  /** The full probe datagram (CRLF line ends), for LBs that send raw text. */
  request: string;
}

export interface LbConfig {
  format: LbFormat;
  /** The configuration text (or script), ending with a newline. */
  text: string;
  /** Things the operator must look at (also written as comments into `text`). */
  warnings: string[];
}

export class LbConfigError extends Error {
  readonly code: 'ERR_LB_FORMAT' | 'ERR_LB_OPTIONS' | 'ERR_LB_MAC' | 'ERR_LB_ADDRESS';
  constructor(code: LbConfigError['code'], message: string) {
    super(message);
    this.name = 'LbConfigError';
    this.code = code;
  }
}

const NAME_RE = /^[A-Za-z][A-Za-z0-9_-]{0,31}$/;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/** The SIP OPTIONS probe an LB should send to one member (RFC 3261 §11: OPTIONS answered by the UAS itself). */
export function probeRequest(vip: string, probeSource?: string): string {
  const uri = `sip:${vip}`;
  return [
    `OPTIONS ${uri} SIP/2.0`,
    // For LBs that send the probe as raw text. `rport` (RFC 3581 §4) sends the answer back
    // to the probe's source address and port, whatever the LB put in the Via host.
    `Via: SIP/2.0/UDP ${probeSource ?? 'lb-probe.invalid'};rport;branch=z9hG4bK-lbprobe`,
    // §16.3 step 3: with Max-Forwards 0 an element answers OPTIONS itself, never forwards it.
    'Max-Forwards: 0',
    `To: <${uri}>`,
    `From: <sip:lb-probe@${vip}>;tag=lbprobe`,
    'Call-ID: lb-probe',
    'CSeq: 1 OPTIONS',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

function macOf(m: MemberConfig, opts: LbConfigOptions): string | undefined {
  return opts.memberMacs?.[m.id] ?? m.mac;
}

/** Resolve the farm config into what an LB needs. Throws LbConfigError. */
export function lbTarget(cfg: FarmConfig, opts: LbConfigOptions = {}): LbTarget {
  const name = opts.name ?? 'sipfarm';
  if (!NAME_RE.test(name)) throw new LbConfigError('ERR_LB_OPTIONS', `name '${name}' must be a letter then letters, digits, '-' or '_' (at most 32)`);
  const mode = opts.mode ?? cfg.lb?.mode ?? 'random';
  if (mode !== 'random' && mode !== 'flow') throw new LbConfigError('ERR_LB_OPTIONS', `mode '${String(mode)}' is neither 'random' nor 'flow'`);
  if (cfg.vip.host.includes(':')) throw new LbConfigError('ERR_LB_ADDRESS', `VIP ${cfg.vip.host}: the LB generators support IPv4 VIPs only`);
  const h = opts.health ?? {};
  const health = {
    intervalS: h.intervalS ?? cfg.lb?.health.intervalS ?? 5,
    retries: h.retries ?? cfg.lb?.health.retries ?? 3,
  };
  for (const [k, v] of Object.entries(health)) {
    if (!Number.isInteger(v) || v < 1 || v > 3600) throw new LbConfigError('ERR_LB_OPTIONS', `health.${k} must be an integer 1..3600 (got ${v})`);
  }
  if (opts.memberMacs) {
    for (const id of Object.keys(opts.memberMacs)) {
      if (!cfg.members.some((m) => String(m.id) === id)) throw new LbConfigError('ERR_LB_MAC', `a MAC is given for member ${id}, which is not in the config`);
    }
  }
  const members = [...cfg.members]
    .sort((a, b) => a.id - b.id)
    .map((m): LbMember => {
      const mac = macOf(m, opts);
      if (mac !== undefined && !MAC_RE.test(mac)) throw new LbConfigError('ERR_LB_MAC', `member ${m.id}: '${mac}' is not a MAC address (aa:bb:cc:dd:ee:ff)`);
      const address = (m.sip ?? m.address).host;
      if (address.includes(':')) throw new LbConfigError('ERR_LB_ADDRESS', `member ${m.id}: ${address}: IPv4 member addresses only`);
      return { id: m.id, address, probePort: m.sip?.port ?? cfg.vip.port, mac: mac?.toLowerCase() };
    });
  return {
    name,
    vip: cfg.vip.host,
    port: cfg.vip.port,
    mode,
    members,
    health: { ...health, uri: `sip:${cfg.vip.host}`, request: probeRequest(cfg.vip.host, cfg.lbProbeSources[0]) },
    probeSources: [...cfg.lbProbeSources],
  };
}

/** Warnings that hold for every format. */
function commonWarnings(cfg: FarmConfig, t: LbTarget, format: LbFormat): string[] {
  const w: string[] = [];
  if (format !== 'nftables' && format !== 'ipvs') {
    for (const m of cfg.members) {
      if (m.sip === undefined) {
        w.push(`member ${m.id} has no 'sip:' socket on its own address: the health check to ${m.address.host}:${t.port} gets no answer (add "sip: ${m.address.host}:${t.port}" to member ${m.id})`);
      }
    }
  }
  if (t.probeSources.length === 0 && format !== 'nftables') {
    w.push(`lbProbeSources is empty: probes are still kept local (user-less URI, Max-Forwards 0), but list the LB's health-check source address there so any probe form stays on the probed member`);
  }
  return w;
}

/** Comment lines for warnings, with the format's comment leader. */
export function warningComments(warnings: readonly string[], leader: string): string[] {
  return warnings.map((w) => `${leader} WARNING: ${w}`);
}

/** Generate the LB configuration of `format` for the farm. Throws LbConfigError. */
export function generateLbConfig(cfg: FarmConfig, format: LbFormat, opts: LbConfigOptions = {}): LbConfig {
  if (!(LB_FORMATS as readonly string[]).includes(format)) {
    throw new LbConfigError('ERR_LB_FORMAT', `format '${String(format)}' is not one of ${LB_FORMATS.join(', ')}`);
  }
  const t = lbTarget(cfg, opts);
  const warnings = commonWarnings(cfg, t, format);
  switch (format) {
    case 'nftables': {
      const iface = opts.iface ?? cfg.lb?.iface;
      const lbMac = opts.lbMac ?? cfg.lb?.mac;
      if (iface === undefined || lbMac === undefined) {
        throw new LbConfigError('ERR_LB_OPTIONS', 'nftables needs --iface (the LB interface facing the members) and --lb-mac (its MAC), or lb.iface and lb.mac in the config');
      }
      const missing = t.members.filter((m) => m.mac === undefined).map((m) => m.id);
      if (missing.length > 0) {
        throw new LbConfigError('ERR_LB_MAC', `nftables needs the MAC of every member; missing for ${missing.join(', ')} (--member-mac ID=aa:bb:cc:dd:ee:ff)`);
      }
      let text: string;
      try {
        text = nftablesDsrRuleset({
          iface,
          vip: t.vip,
          port: t.port,
          lbMac,
          mode: t.mode,
          members: t.members.map((m) => ({ id: m.id, mac: m.mac as string, mediaPorts: cfg.members.find((c) => c.id === m.id)?.mediaPorts })),
          table: opts.name === undefined ? undefined : opts.name.replace(/-/g, '_'),
          mediaAddress: cfg.lb?.mediaAddress,
        });
      } catch (err) {
        if (err instanceof NftablesConfigError) throw new LbConfigError('ERR_LB_OPTIONS', err.message);
        throw err;
      }
      // The netdev ruleset has no health checks of its own: `sipfarm lb-health` (src/lb/health.ts)
      // probes the members and swaps the live set in the table's slot map atomically.
      return { format, text, warnings };
    }
    case 'alteon':
      return { format, text: alteonConfig(t, warnings), warnings };
    case 'f5':
      return { format, text: f5Config(t, warnings), warnings };
    case 'foundry':
      return { format, text: foundryConfig(t, warnings), warnings };
    case 'ipvs':
      return { format, text: ipvsScript(t, warnings), warnings };
  }
}
