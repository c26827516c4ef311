/**
 * The judgement of `sipfarm check`: pure functions from HostFacts (facts.ts) and the farm
 * config to a list of results, each failure with the exact command that fixes it.
 *
 * Kernel semantics these rules rely on (include/linux/inetdevice.h): arp_ignore,
 * arp_announce and rp_filter are IN_DEV_MAXCONF knobs — the value in force on an
 * interface is max(conf/all, conf/<if>). So raising `all` always fixes every interface,
 * and that is the one command we print; a per-interface value can only make things
 * stricter, never undo `all`.
 */
import type { FarmConfig, MemberConfig } from '../../cli/config.js';
import type { ConfKnob, HostFacts, HostInterface, ProbeOutcome, RouteFacts } from './facts.js';

export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';

/** Stable identifiers: scripts and tests key on them. */
export type CheckId =
  | 'vip-on-lo'
  | 'vip-not-elsewhere'
  | 'arp-ignore'
  | 'arp-announce'
  | 'rp-filter'
  | 'vip-bind'
  | 'vip-source'
  | 'member-address'
  | 'farm-bind'
  | 'peer-route'
  | 'peer-heartbeat'
  | 'clock'
  | 'ntp';

export interface CheckResult {
  id: CheckId;
  status: CheckStatus;
  /** One line: what was checked and what was found. */
  summary: string;
  /** Why it matters / what else to look at (may be empty). */
  detail?: string;
  /** Shell commands that fix it, in order; each is complete (prefixed for --netns). */
  fix?: string[];
  /** True when `fix` holds placeholders (<gateway>) the operator must fill in. */
  fixIsTemplate?: boolean;
}

/** Where the sysctl template lives, for the "make it persistent" hint. */
export const SYSCTL_TEMPLATE = 'sysctl/90-sipfarm-dsr.conf';

function prefix(facts: HostFacts, cmds: string[]): string[] {
  return facts.netns === undefined ? cmds : cmds.map((c) => `ip netns exec ${facts.netns} ${c}`);
}

function hostBits(host: string): number {
  return host.includes(':') ? 128 : 32;
}

/** Interfaces that would answer ARP for (or announce) a local address: not lo, not NOARP. */
export function arpInterfaces(facts: HostFacts): HostInterface[] {
  return facts.interfaces.filter((i) => !i.loopback && !i.noArp);
}

/** max(all, iface) — the value the kernel uses; undefined if neither could be read. */
export function effectiveConf(facts: HostFacts, iface: HostInterface, knob: ConfKnob): number | undefined {
  const a = facts.allConf[knob];
  const i = iface.conf[knob];
  if (a === undefined && i === undefined) return undefined;
  return Math.max(a ?? 0, i ?? 0);
}

/** Run every rule. Order = the order an operator should fix things in. */
export function evaluateHost(facts: HostFacts, cfg: FarmConfig, memberId: number): CheckResult[] {
  const self = cfg.members.find((m) => m.id === memberId);
  const out: CheckResult[] = [];
  out.push(...checkVipPlacement(facts, cfg));
  out.push(checkArpIgnore(facts, cfg), checkArpAnnounce(facts, cfg), checkRpFilter(facts));
  out.push(checkVipBind(facts, cfg), checkVipSource(facts, cfg));
  if (self === undefined) {
    out.push({
      id: 'member-address',
      status: 'fail',
      summary: `member ${memberId} is not in the config (members: ${cfg.members.map((m) => m.id).join(', ')})`,
    });
  } else {
    out.push(checkMemberAddress(facts, cfg, self), checkFarmBind(facts, self));
  }
  out.push(...checkPeers(facts, cfg, memberId));
  out.push(...checkClock(facts));
  return out;
}

function vipFixCmd(vip: string): string {
  return `ip addr add ${vip}/${hostBits(vip)} dev lo`;
}

/** VIP on lo as a host route (/32, /128), and on no other interface. */
export function checkVipPlacement(facts: HostFacts, cfg: FarmConfig): CheckResult[] {
  const vip = cfg.vip.host;
  const bits = hostBits(vip);
  const lo = facts.interfaces.find((i) => i.loopback);
  const onLo = lo?.addresses.find((a) => a.address === vip);
  const res: CheckResult[] = [];
  if (onLo === undefined) {
    res.push({
      id: 'vip-on-lo',
      status: 'fail',
      summary: `VIP ${vip} is not an address of lo`,
      detail: 'in DSR the LB delivers frames for the VIP unchanged: the kernel accepts them only if the VIP is local. Make it persistent with sysctl/lo-vip.* (networkd, ifupdown or the ip script).',
      fix: prefix(facts, [vipFixCmd(vip)]),
    });
  } else if (onLo.prefixLen !== bits) {
    res.push({
      id: 'vip-on-lo',
      status: 'fail',
      summary: `VIP ${vip} is on lo as /${onLo.prefixLen}, not /${bits}`,
      detail: `a wider prefix on lo makes the whole subnet local: replies to clients (or the LB) in it would loop back into lo instead of leaving the host`,
      fix: prefix(facts, [`ip addr del ${vip}/${onLo.prefixLen} dev lo`, vipFixCmd(vip)]),
    });
  } else {
    res.push({ id: 'vip-on-lo', status: 'pass', summary: `VIP ${vip}/${bits} is on lo` });
  }
  const elsewhere = facts.interfaces.filter((i) => !i.loopback && i.addresses.some((a) => a.address === vip));
  if (elsewhere.length > 0) {
    res.push({
      id: 'vip-not-elsewhere',
      status: 'fail',
      summary: `VIP ${vip} is also on ${elsewhere.map((i) => i.name).join(', ')}`,
      detail: 'a member that holds the VIP on a real interface answers ARP for it and steals the VIP from the load balancer',
      fix: prefix(
        facts,
        elsewhere.flatMap((i) => i.addresses.filter((a) => a.address === vip).map((a) => `ip addr del ${vip}/${a.prefixLen} dev ${i.name}`)),
      ),
    });
  } else {
    res.push({ id: 'vip-not-elsewhere', status: 'pass', summary: `VIP ${vip} is on no other interface` });
  }
  return res;
}

function knobCheck(
  facts: HostFacts,
  id: CheckId,
  knob: ConfKnob,
  ok: (v: number) => boolean,
  want: number,
  why: string,
): CheckResult {
  const ifaces = arpInterfaces(facts);
  const bad: string[] = [];
  const unknown: string[] = [];
  for (const i of ifaces) {
    const v = effectiveConf(facts, i, knob);
    if (v === undefined) unknown.push(i.name);
    else if (!ok(v)) bad.push(`${i.name}=${v}`);
  }
  const key = `net.ipv4.conf.all.${knob}`;
  if (bad.length > 0) {
    return {
      id,
      status: 'fail',
      summary: `${knob} in force (max of all and the interface) is wrong on ${bad.join(', ')}`,
      detail: `${why} Persist it: install ${SYSCTL_TEMPLATE} in /etc/sysctl.d/ and run 'sysctl --system'.`,
      fix: prefix(facts, [`sysctl -w ${key}=${want}`]),
    };
  }
  if (unknown.length > 0) {
    return { id, status: 'warn', summary: `${knob} could not be read for ${unknown.join(', ')}` };
  }
  if (ifaces.length === 0) return { id, status: 'pass', summary: `${knob}: no ARP-capable interface` };
  return { id, status: 'pass', summary: `${knob} in force is right on ${ifaces.map((i) => i.name).join(', ')}` };
}

// ARP suppression is IPv4 business; an IPv6 VIP would need the NDP equivalent, which
// Linux has no knob for (an address on lo is not advertised by NDP on other links).
function ipv6Skip(id: CheckId, knob: string): CheckResult {
  return { id, status: 'skip', summary: `${knob}: IPv6 VIP (no ARP); Neighbor Discovery does not answer for an address on lo` };
}

/** arp_ignore ≥ 1: answer ARP only for addresses configured on the receiving interface. */
export function checkArpIgnore(facts: HostFacts, cfg: FarmConfig): CheckResult {
  if (cfg.vip.host.includes(':')) return ipv6Skip('arp-ignore', 'arp_ignore');
  return knobCheck(facts, 'arp-ignore', 'arp_ignore', (v) => v >= 1, 1,
    'With 0 every member answers "who has VIP?" on its LAN interfaces, the LB\'s router learns a member\'s MAC for the VIP, and traffic bypasses the LB.');
}

/** arp_announce = 2: never use the VIP as the source of an ARP request. */
export function checkArpAnnounce(facts: HostFacts, cfg: FarmConfig): CheckResult {
  if (cfg.vip.host.includes(':')) return ipv6Skip('arp-announce', 'arp_announce');
  return knobCheck(facts, 'arp-announce', 'arp_announce', (v) => v >= 2, 2,
    'With 0 a reply sent from the VIP may trigger an ARP request carrying the VIP as sender address, and neighbours update their cache to this member\'s MAC (gratuitous takeover of the VIP).');
}

/** rp_filter must not be strict (1): loose (2) or off (0). */
export function checkRpFilter(facts: HostFacts): CheckResult {
  return knobCheck(facts, 'rp-filter', 'rp_filter', (v) => v !== 1, 2,
    'Strict reverse-path filtering drops datagrams whose source would not be routed back out of the interface they came in on: client datagrams the LB (or an l2 relay from a peer) delivers on the LB-facing interface while the route to the client leaves by another one. Loose (2) still drops unroutable sources.');
}

function bindFix(facts: HostFacts, cfg: FarmConfig, o: Extract<ProbeOutcome, { ok: false }>): { fix?: string[]; detail?: string } {
  const port = cfg.vip.port;
  switch (o.code) {
    case 'EADDRNOTAVAIL':
      return { fix: prefix(facts, [vipFixCmd(cfg.vip.host)]), detail: 'the VIP is not a local address' };
    case 'EACCES':
      return {
        fix: prefix(facts, [`sysctl -w net.ipv4.ip_unprivileged_port_start=${port}`]),
        detail: `ports below 1024 need CAP_NET_BIND_SERVICE: run sipfarm from sysctl/sipfarm.service (AmbientCapabilities=CAP_NET_BIND_SERVICE), or lower the unprivileged port range as printed`,
      };
    default:
      return {};
  }
}

export function checkVipBind(facts: HostFacts, cfg: FarmConfig): CheckResult {
  const at = `${cfg.vip.host}:${cfg.vip.port}`;
  const o = facts.vipBind;
  if (o.ok) return { id: 'vip-bind', status: 'pass', summary: `a UDP socket can bind ${at}` };
  if (o.code === 'EADDRINUSE') {
    return {
      id: 'vip-bind',
      status: 'warn',
      summary: `${at} is already bound by another socket`,
      detail: `fine if it is this member's sipfarm; otherwise find it with: ss -ulpn 'sport = :${cfg.vip.port}'`,
    };
  }
  return { id: 'vip-bind', status: 'fail', summary: `cannot bind ${at}: ${o.code} (${o.message})`, ...bindFix(facts, cfg, o) };
}

export function checkVipSource(facts: HostFacts, cfg: FarmConfig): CheckResult {
  const vip = cfg.vip.host;
  const s = facts.vipSource;
  if (!s.outcome.ok) {
    return {
      id: 'vip-source',
      status: 'fail',
      summary: `a datagram sent from ${vip} to the local echo ${s.echo} failed: ${s.outcome.code} (${s.outcome.message})`,
      ...bindFix(facts, cfg, s.outcome),
    };
  }
  if (s.seen !== vip) {
    return {
      id: 'vip-source',
      status: 'fail',
      summary: `a datagram sent from a socket bound to ${vip} arrived from ${s.seen ?? 'nowhere'}`,
      detail: 'replies would not carry the VIP as source: look for SNAT/masquerade rules (nft list ruleset) on this host',
    };
  }
  return { id: 'vip-source', status: 'pass', summary: `replies leave with source ${vip} (seen by a local echo on ${s.echo})` };
}

function addrOwner(facts: HostFacts, host: string): HostInterface | undefined {
  return facts.interfaces.find((i) => i.addresses.some((a) => a.address === host));
}

/** The prefix length of a connected subnet on `dev` that contains host, else a host route. */
function connectedPrefix(facts: HostFacts, dev: string, host: string): number {
  const iface = facts.interfaces.find((i) => i.name === dev);
  for (const a of iface?.addresses ?? []) {
    if (sameSubnet(a.address, host, a.prefixLen)) return a.prefixLen;
  }
  return hostBits(host);
}

/** IPv4-only subnet test (IPv6 farm addresses fall back to /128). */
export function sameSubnet(a: string, b: string, prefixLen: number): boolean {
  const v4 = (s: string): number | undefined => {
    const p = s.split('.');
    if (p.length !== 4) return undefined;
    let n = 0;
    for (const x of p) {
      const v = Number(x);
      if (!Number.isInteger(v) || v < 0 || v > 255) return undefined;
      n = n * 256 + v;
    }
    return n;
  };
  const x = v4(a);
  const y = v4(b);
  if (x === undefined || y === undefined || prefixLen < 0 || prefixLen > 32) return false;
  const div = 2 ** (32 - prefixLen);
  return Math.floor(x / div) === Math.floor(y / div);
}

export function checkMemberAddress(facts: HostFacts, cfg: FarmConfig, self: MemberConfig): CheckResult {
  const host = self.address.host;
  const owner = addrOwner(facts, host);
  if (owner !== undefined && !owner.loopback) {
    return { id: 'member-address', status: 'pass', summary: `member ${self.id} farm address ${host} is on ${owner.name}` };
  }
  const others = cfg.members.filter((m) => m.id !== self.id && addrOwner(facts, m.address.host) !== undefined).map((m) => m.id);
  const hint = others.length > 0 ? ` This host holds the farm address of member ${others.join(', ')}: is --member wrong?` : '';
  if (owner !== undefined) {
    return {
      id: 'member-address',
      status: 'fail',
      summary: `member ${self.id} farm address ${host} is on lo`,
      detail: `peers must reach it over the network; put it on the farm-facing interface.${hint}`,
    };
  }
  const dev = facts.selfRoute.ok && facts.selfRoute.dev !== 'lo' ? facts.selfRoute.dev : undefined;
  return {
    id: 'member-address',
    status: 'fail',
    summary: `member ${self.id} farm address ${host} is not an address of this host`,
    detail: `peers send relays and heartbeats to it.${hint}`,
    fix: prefix(facts, [`ip addr add ${host}/${dev === undefined ? hostBits(host) : connectedPrefix(facts, dev, host)} dev ${dev ?? '<iface>'}`]),
    fixIsTemplate: dev === undefined,
  };
}

export function checkFarmBind(facts: HostFacts, self: MemberConfig): CheckResult {
  const at = `${self.address.host}:${self.address.port}`;
  const o = facts.farmBind;
  if (o.ok) return { id: 'farm-bind', status: 'pass', summary: `the farm channel ${at} can be bound` };
  if (o.code === 'EADDRINUSE') {
    return { id: 'farm-bind', status: 'warn', summary: `${at} is already bound (sipfarm running?); heartbeats not listened for` };
  }
  return { id: 'farm-bind', status: 'fail', summary: `cannot bind the farm channel ${at}: ${o.code} (${o.message})` };
}

function routeProblem(r: RouteFacts): string | undefined {
  if (!r.ok) return r.message;
  if (r.type !== undefined && r.type !== 'unicast') return `route type ${r.type}`;
  if (r.dev === 'lo') return 'the address is local to this host (duplicate member address?)';
  return undefined;
}

export function checkPeers(facts: HostFacts, cfg: FarmConfig, memberId: number): CheckResult[] {
  const res: CheckResult[] = [];
  const bad = facts.peers.filter((p) => routeProblem(p.route) !== undefined);
  if (facts.peers.length === 0) {
    res.push({ id: 'peer-route', status: 'skip', summary: 'no other members in the config' });
  } else if (bad.length > 0) {
    res.push({
      id: 'peer-route',
      status: 'fail',
      summary: `no usable route to ${bad.map((p) => `member ${p.id} (${p.host}: ${routeProblem(p.route)})`).join('; ')}`,
      detail: 'the farm channel needs unicast UDP between every pair of members',
      fix: prefix(facts, bad.map((p) => `ip route add ${p.host}/${hostBits(p.host)} via <gateway> dev <iface>`)),
      fixIsTemplate: true,
    });
  } else {
    res.push({
      id: 'peer-route',
      status: 'pass',
      summary: `routes to members ${facts.peers.map((p) => `${p.id} via ${p.route.ok ? p.route.dev : '?'}`).join(', ')}`,
    });
  }
  const hb = facts.heartbeats;
  if (facts.peers.length === 0) return res;
  if (hb === undefined) {
    res.push({ id: 'peer-heartbeat', status: 'skip', summary: 'heartbeats not listened for (farm port busy, or --heartbeat-wait 0)' });
    return res;
  }
  const missing = facts.peers.filter((p) => !hb.fromMembers.includes(p.id)).map((p) => p.id);
  const rejected = Object.entries(hb.rejected).map(([k, v]) => `${v} ${k}`);
  const self = cfg.members.find((m) => m.id === memberId);
  if (missing.length === 0) {
    res.push({ id: 'peer-heartbeat', status: 'pass', summary: `authenticated heartbeats from members ${hb.fromMembers.join(', ')} within ${hb.listenedMs} ms` });
  } else {
    res.push({
      id: 'peer-heartbeat',
      status: 'warn',
      summary: `no heartbeat within ${hb.listenedMs} ms from member ${missing.join(', ')}${rejected.length > 0 ? `; rejected: ${rejected.join(', ')}` : ''}`,
      detail: hb.rejected.BAD_MAC
        ? 'datagrams with a bad MAC: the peers use a different farm key'
        : `fine if those members are not running yet; otherwise check a firewall between members for UDP to ${self ? `${self.address.host}:${self.address.port}` : 'the farm port'}`,
    });
  }
  return res;
}

export function checkClock(facts: HostFacts): CheckResult[] {
  const c = facts.clock;
  const res: CheckResult[] = [];
  if (c.nowMs < c.buildMs) {
    res.push({
      id: 'clock',
      status: 'fail',
      summary: `the clock (${new Date(c.nowMs).toISOString()}) is before this build of sipfarm (${new Date(c.buildMs).toISOString()})`,
      detail: 'envelope boot ids and log times come from the clock; a member restarting with a clock behind its previous boot looks like a replay to its peers',
      fix: ['timedatectl set-ntp true'],
    });
  } else {
    res.push({ id: 'clock', status: 'pass', summary: `the clock is after the build date (${new Date(c.buildMs).toISOString().slice(0, 10)})` });
  }
  if (c.ntpSynchronized === undefined) {
    res.push({ id: 'ntp', status: 'skip', summary: 'NTP status unknown (timedatectl unavailable)' });
  } else if (!c.ntpSynchronized) {
    res.push({ id: 'ntp', status: 'warn', summary: 'the clock is not NTP-synchronised', fix: ['timedatectl set-ntp true'] });
  } else {
    res.push({ id: 'ntp', status: 'pass', summary: 'the clock is NTP-synchronised' });
  }
  return res;
}

/** 0 when nothing failed (warnings and skips are allowed), 1 otherwise. */
export function exitCodeOf(results: readonly CheckResult[]): 0 | 1 {
  return results.some((r) => r.status === 'fail') ? 1 : 0;
}

/** Human-readable report: one line per check, fixes indented under failures and warnings. */
export function formatReport(results: readonly CheckResult[]): string {
  const tag: Record<CheckStatus, string> = { pass: 'ok  ', warn: 'WARN', fail: 'FAIL', skip: 'skip' };
  const lines: string[] = [];
  for (const r of results) {
    lines.push(`${tag[r.status]} ${r.id}: ${r.summary}`);
    if (r.status === 'fail' || r.status === 'warn') {
      if (r.detail) lines.push(`       ${r.detail}`);
      for (const f of r.fix ?? []) lines.push(`       fix${r.fixIsTemplate ? ' (fill in)' : ''}: ${f}`);
    }
  }
  const failed = results.filter((r) => r.status === 'fail').length;
  const warned = results.filter((r) => r.status === 'warn').length;
  lines.push(failed === 0 ? `ready for DSR${warned > 0 ? ` (${warned} warning${warned > 1 ? 's' : ''})` : ''}` : `${failed} check${failed > 1 ? 's' : ''} failed`);
  return lines.join('\n') + '\n';
}
