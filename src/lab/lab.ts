/**
 * A network-namespace lab: client, callee, a stateless DSR load balancer and N farm
 * members on one bridged L2 segment — the farm's production topology on one machine.
 *
 * Used by the integration tests and by `sipfarm lab up|down|status`. Requires root (or
 * CAP_NET_ADMIN + CAP_SYS_ADMIN), iproute2 and nft. Only documentation address ranges
 * are used, only inside the lab's namespaces; the root namespace's addresses, links,
 * routes and ruleset are never touched.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { nftablesDsrRuleset, nftablesDsrSetLive, parseDsrRuleset, DEFAULT_DSR_TABLE, type LbMode } from '../lb/nftables.js';
import { registerExitCleanup, unregisterExitCleanup, type ExitCleanup } from './exit-cleanup.js';
import {
  LabError,
  deleteNetnsSync,
  ipBatch,
  isAlive,
  listNetns,
  must,
  netnsPids,
  netnsPidsSync,
  nsMust,
  nsRun,
  nsSpawn,
  run,
  type ExecOptions,
  type ExecResult,
  type LabSpawnOptions,
} from './netns.js';
import {
  LAB_BRIDGE,
  LAB_CALLEE_ADDRESS,
  LAB_CALLEE_MAC,
  LAB_CLIENT_ADDRESS,
  LAB_CLIENT_MAC,
  LAB_CLIENT_PREFIX,
  LAB_DEFAULT_MEMBERS,
  LAB_HOST_IFACE,
  LAB_LB_CLIENT_ADDRESS,
  LAB_LB_FARM_ADDRESS,
  LAB_LB_MAC,
  LAB_MAX_MEMBERS,
  LAB_PREFIX_RE,
  LAB_SIP_PORT,
  LAB_VIP,
  labMemberAddress,
  labMemberIdOfMac,
  labMemberMac,
  labMemberMediaPorts,
  labNamespaces,
  type LabNamespaces,
} from './topology.js';

export type { LbMode } from '../lb/nftables.js';
export { LabError } from './netns.js';
export type { ExecOptions, ExecResult, LabSpawnOptions } from './netns.js';

export interface LabOptions {
  /** Number of farm members, ids 1..members. Default 3, at most 80. */
  members?: number;
  /** How the LB spreads datagrams. Default 'random' (the farm's worst case). */
  lbMode?: LbMode;
  /** Namespace name prefix; default `sf<6 hex digits>-`, unique per run. */
  prefix?: string;
  /**
   * Remove the lab when this process exits or gets SIGINT/SIGTERM/SIGHUP, even if
   * down() was never called. Default true; `sipfarm lab up` turns it off to leave the
   * lab running.
   */
  cleanupOnExit?: boolean;
}

export interface LabStatus {
  prefix: string;
  /** Namespaces of this lab that exist right now. */
  present: string[];
  /** Namespaces of this lab that are missing (a healthy lab has none). */
  missing: string[];
  lbMode: LbMode;
  lbMembers: number[];
  /** `nft list table` output inside the LB namespace ('' if unavailable). */
  lbRuleset: string;
}

/** How long down() lets spawned processes exit on SIGTERM before SIGKILL. */
const KILL_GRACE_MS = 2_000;

function randomPrefix(): string {
  return `sf${randomBytes(3).toString('hex')}-`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class Lab implements ExitCleanup {
  readonly prefix: string;
  readonly vip = LAB_VIP;
  readonly sipPort = LAB_SIP_PORT;
  readonly ns: LabNamespaces;
  /** Addresses of the hosts (members: see memberAddress()). */
  readonly addresses = {
    client: LAB_CLIENT_ADDRESS,
    callee: LAB_CALLEE_ADDRESS,
    lbClientSide: LAB_LB_CLIENT_ADDRESS,
    lbFarmSide: LAB_LB_FARM_ADDRESS,
  } as const;
  /** Member ids, 1..N. */
  readonly memberIds: readonly number[];

  private mode: LbMode;
  private lbSet: number[];
  private readonly children = new Set<ChildProcess>();
  /**
   * Namespaces this object created (up()), so that a failed build never removes a
   * namespace that appeared under one of our names meanwhile; undefined after attach(),
   * where the whole lab is ours to remove.
   */
  private created: Set<string> | undefined;
  private downed = false;
  private readonly cleanupOnExit: boolean;

  private constructor(prefix: string, members: number, mode: LbMode, lbMembers: number[], cleanupOnExit: boolean) {
    this.prefix = prefix;
    this.ns = labNamespaces(prefix, members);
    this.memberIds = Object.freeze(Array.from({ length: members }, (_, i) => i + 1));
    this.mode = mode;
    this.lbSet = lbMembers;
    this.cleanupOnExit = cleanupOnExit;
  }

  /** Why a lab cannot be built on this host, or undefined when it can. */
  static async preflight(): Promise<string | undefined> {
    if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'not running as root';
    const ip = await run('ip', ['netns', 'list']);
    if (ip.code !== 0) return `'ip netns' is unavailable: ${ip.stderr.trim() || `exit ${ip.code}`}`;
    const nft = await run('nft', ['--version']);
    if (nft.code !== 0) return `'nft' is unavailable: ${nft.stderr.trim() || `exit ${nft.code}`}`;
    return undefined;
  }

  /** Prefixes of the labs whose namespaces exist on this host (complete or not). */
  static async list(): Promise<string[]> {
    const names = await listNetns();
    const prefixes = new Set<string>();
    for (const n of names) {
      const m = /^(.+)sw$/.exec(n);
      if (m && names.includes(`${m[1]}lb`) && LAB_PREFIX_RE.test(m[1])) prefixes.add(m[1]);
    }
    return [...prefixes].sort();
  }

  /** Builds a lab. On any failure everything created so far is removed before the error is thrown. */
  static async up(opts: LabOptions = {}): Promise<Lab> {
    const members = opts.members ?? LAB_DEFAULT_MEMBERS;
    if (!Number.isInteger(members) || members < 1 || members > LAB_MAX_MEMBERS) {
      throw new LabError('ERR_LAB_OPTIONS', `members must be an integer in 1..${LAB_MAX_MEMBERS} (got ${members})`);
    }
    const mode = opts.lbMode ?? 'random';
    if (mode !== 'random' && mode !== 'flow') throw new LabError('ERR_LAB_OPTIONS', `lbMode must be 'random' or 'flow'`);
    const prefix = opts.prefix ?? randomPrefix();
    if (!LAB_PREFIX_RE.test(prefix)) {
      throw new LabError('ERR_LAB_OPTIONS', `prefix '${prefix}' must match ${LAB_PREFIX_RE}`);
    }
    const why = await Lab.preflight();
    if (why !== undefined) throw new LabError(why.startsWith('not running') ? 'ERR_LAB_PRIVILEGE' : 'ERR_LAB_UNAVAILABLE', `lab unavailable: ${why}`);

    const lab = new Lab(prefix, members, mode, Array.from({ length: members }, (_, i) => i + 1), opts.cleanupOnExit ?? true);
    const existing = new Set(await listNetns());
    const clash = lab.allNamespaces().find((n) => existing.has(n));
    if (clash !== undefined) throw new LabError('ERR_LAB_EXISTS', `namespace '${clash}' already exists (lab prefix '${prefix}' in use?)`);

    lab.created = new Set();
    if (lab.cleanupOnExit) registerExitCleanup(lab);
    try {
      await lab.build();
    } catch (err) {
      await lab.down().catch(() => {});
      throw err;
    }
    return lab;
  }

  /**
   * Re-attaches to a running lab by prefix (for `sipfarm lab down|status` from another
   * process). The LB mode and member set are read back from the LB's ruleset.
   */
  static async attach(prefix: string, opts: { cleanupOnExit?: boolean } = {}): Promise<Lab> {
    if (!LAB_PREFIX_RE.test(prefix)) throw new LabError('ERR_LAB_OPTIONS', `prefix '${prefix}' must match ${LAB_PREFIX_RE}`);
    const names = new Set(await listNetns());
    if (!names.has(`${prefix}sw`) && !names.has(`${prefix}lb`)) throw new LabError('ERR_LAB_NOT_FOUND', `no lab with prefix '${prefix}'`);
    let members = 0;
    while (names.has(`${prefix}m${members + 1}`)) members++;
    const lab = new Lab(prefix, Math.max(members, 1), 'random', [], opts.cleanupOnExit ?? false);
    const r = await nsRun(lab.ns.lb, 'nft', ['list', 'table', 'netdev', DEFAULT_DSR_TABLE]);
    if (r.code === 0) {
      const st = parseDsrRuleset(r.stdout);
      lab.mode = st.mode ?? 'random';
      const ids = st.liveMacs.map(labMemberIdOfMac).filter((id): id is number => id !== undefined);
      lab.lbSet = [...new Set(ids)].sort((a, b) => a - b);
    }
    if (lab.cleanupOnExit) registerExitCleanup(lab);
    return lab;
  }

  /** Every namespace of the lab, switch first. */
  allNamespaces(): string[] {
    return [this.ns.switch, this.ns.lb, this.ns.client, this.ns.callee, ...this.ns.members];
  }

  /** 203.0.113.(10+id). */
  memberAddress(id: number): string {
    this.checkMemberId(id);
    return labMemberAddress(id);
  }

  memberMac(id: number): string {
    this.checkMemberId(id);
    return labMemberMac(id);
  }

  /** Namespace of member `id`. */
  memberNs(id: number): string {
    this.checkMemberId(id);
    return this.ns.members[id - 1];
  }

  get lbMode(): LbMode {
    return this.mode;
  }

  /** Member ids the LB currently sends to. */
  get lbMembers(): readonly number[] {
    return this.lbSet;
  }

  /**
   * The nftables ruleset for the current LB mode and live set: every member's MAC and
   * single-IP media range (on the VIP), the live ones in the slot map.
   */
  lbRuleset(): string {
    return nftablesDsrRuleset({
      iface: LAB_HOST_IFACE,
      vip: LAB_VIP,
      port: LAB_SIP_PORT,
      lbMac: LAB_LB_MAC,
      members: this.memberIds.map((id) => ({ id, mac: labMemberMac(id), mediaPorts: labMemberMediaPorts(id) })),
      live: this.lbSet,
      mode: this.mode,
    });
  }

  /**
   * From now on the lab outlives this process (`sipfarm lab up`): the exit and signal
   * handlers no longer remove it; `sipfarm lab down` does.
   */
  persist(): void {
    unregisterExitCleanup(this);
  }

  /** Runs a command to completion inside one of the lab's namespaces. Never rejects on a non-zero exit. */
  exec(ns: string, cmd: string, args: readonly string[], opts?: ExecOptions): Promise<ExecResult> {
    this.checkNs(ns);
    return nsRun(ns, cmd, args, opts);
  }

  /**
   * Starts a process inside one of the lab's namespaces. child.pid is the process
   * itself (`ip netns exec` execs in place); down() terminates it if still running.
   */
  spawn(ns: string, cmd: string, args: readonly string[], opts?: LabSpawnOptions): ChildProcess {
    this.checkNs(ns);
    if (this.downed) throw new LabError('ERR_LAB_DOWN', 'lab is down');
    const child = nsSpawn(ns, cmd, args, opts);
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    child.once('error', () => this.children.delete(child));
    return child;
  }

  /**
   * Sets the members the LB sends to — what the LB's health check does when a member
   * dies or comes back. Applied atomically (one nft transaction).
   */
  async setLbMembers(ids: readonly number[]): Promise<void> {
    for (const id of ids) this.checkMemberId(id);
    const next = [...new Set(ids)].sort((a, b) => a - b);
    const prev = this.lbSet;
    this.lbSet = next;
    try {
      // Only the slot map changes (what the health checker does): rules and counters stay.
      await nsMust(this.ns.lb, 'nft', ['-f', '-'], { input: nftablesDsrSetLive(next.map((id) => ({ id, mac: labMemberMac(id) }))) });
    } catch (err) {
      this.lbSet = prev;
      throw err;
    }
  }

  /** Switches the LB between per-datagram random spraying and per-flow hashing. */
  async setLbMode(mode: LbMode): Promise<void> {
    if (mode !== 'random' && mode !== 'flow') throw new LabError('ERR_LAB_OPTIONS', `lbMode must be 'random' or 'flow'`);
    const prev = this.mode;
    this.mode = mode;
    try {
      await this.applyLb();
    } catch (err) {
      this.mode = prev;
      throw err;
    }
  }

  async status(): Promise<LabStatus> {
    const names = new Set(await listNetns());
    const all = this.allNamespaces();
    const r = names.has(this.ns.lb) ? await nsRun(this.ns.lb, 'nft', ['list', 'table', 'netdev', DEFAULT_DSR_TABLE]) : undefined;
    return {
      prefix: this.prefix,
      present: all.filter((n) => names.has(n)),
      missing: all.filter((n) => !names.has(n)),
      lbMode: this.mode,
      lbMembers: [...this.lbSet],
      lbRuleset: r && r.code === 0 ? r.stdout : '',
    };
  }

  /**
   * Removes the lab: terminates the processes started with spawn() (SIGTERM, then
   * SIGKILL after a grace period), then any other process still inside the lab's
   * namespaces (by PID), then deletes the namespaces — which destroys their veths,
   * bridge and ruleset. Idempotent.
   */
  async down(): Promise<void> {
    if (this.downed) return;
    this.downed = true;
    try {
      const tracked = [...this.children].map((c) => c.pid).filter((p): p is number => p !== undefined && isAlive(p));
      for (const pid of tracked) this.signal(pid, 'SIGTERM');
      const deadline = Date.now() + KILL_GRACE_MS;
      while (tracked.some(isAlive) && Date.now() < deadline) await sleep(50);
      for (const pid of tracked) if (isAlive(pid)) this.signal(pid, 'SIGKILL');

      const existing = new Set(await listNetns());
      const mine = this.ownedNamespaces().filter((n) => existing.has(n));
      // A process left in a namespace keeps it (and its links) alive after `netns del`.
      for (const ns of mine) for (const pid of await netnsPids(ns)) this.signal(pid, 'SIGKILL');
      if (mine.length > 0) await ipBatch(undefined, mine.map((n) => `netns del ${n}`), true);
      const left = new Set(await listNetns());
      const stuck = mine.filter((n) => left.has(n));
      if (stuck.length > 0) throw new LabError('ERR_LAB_DOWN', `could not delete namespaces: ${stuck.join(', ')}`);
    } finally {
      this.children.clear();
      unregisterExitCleanup(this);
    }
  }

  /** ExitCleanup: the synchronous variant of down() for exit and signal handlers. */
  cleanupSync(): void {
    if (this.downed) return;
    this.downed = true;
    for (const c of this.children) if (c.pid !== undefined) this.signal(c.pid, 'SIGKILL');
    this.children.clear();
    const mine = this.ownedNamespaces();
    for (const ns of mine) for (const pid of netnsPidsSync(ns)) this.signal(pid, 'SIGKILL');
    deleteNetnsSync(mine);
  }

  private ownedNamespaces(): string[] {
    return this.allNamespaces().filter((n) => this.created === undefined || this.created.has(n));
  }

  private signal(pid: number, sig: NodeJS.Signals): void {
    if (pid === process.pid) return;
    try {
      process.kill(pid, sig);
    } catch {
      // Already gone.
    }
  }

  private checkNs(ns: string): void {
    if (!this.allNamespaces().includes(ns)) throw new LabError('ERR_LAB_NAMESPACE', `'${ns}' is not a namespace of lab '${this.prefix}'`);
  }

  private checkMemberId(id: number): void {
    if (!Number.isInteger(id) || id < 1 || id > this.ns.members.length) {
      throw new LabError('ERR_LAB_OPTIONS', `member id ${id} is outside 1..${this.ns.members.length}`);
    }
  }

  private async applyLb(): Promise<void> {
    await nsMust(this.ns.lb, 'nft', ['-f', '-'], { input: this.lbRuleset() });
  }

  private async build(): Promise<void> {
    const { ns } = this;
    const all = this.allNamespaces();
    for (const n of all) {
      await must('ip', ['netns', 'add', n]);
      this.created?.add(n);
    }

    // No IPv6 (no DAD/RS/MLD noise on the segment, nothing we do not use) and no
    // routing between interfaces inside any lab host.
    await Promise.all(all.map((n) => nsMust(n, 'sysctl', ['-q', '-w',
      'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1', 'net.ipv4.ip_forward=0'])));

    // The switch: a bridge with one veth port per host; the peer end is created
    // directly inside the host's namespace as eth0 (it never exists in the root ns).
    // Ageing at one hour: members learnt once stay learnt for a whole test run.
    const hosts: Array<{ role: string; ns: string }> = [
      { role: 'lb', ns: ns.lb },
      { role: 'client', ns: ns.client },
      { role: 'callee', ns: ns.callee },
      ...ns.members.map((n, i) => ({ role: `m${i + 1}`, ns: n })),
    ];
    await ipBatch(ns.switch, [
      'link set lo up',
      `link add ${LAB_BRIDGE} type bridge stp_state 0 ageing_time 360000`,
      ...hosts.flatMap((h) => [
        `link add p-${h.role} type veth peer name ${LAB_HOST_IFACE} netns ${h.ns}`,
        `link set p-${h.role} master ${LAB_BRIDGE}`,
        `link set p-${h.role} up`,
      ]),
      `link set ${LAB_BRIDGE} up`,
    ]);

    const hostSetup = (mac: string, extra: string[]): string[] => [
      'link set lo up',
      `link set ${LAB_HOST_IFACE} address ${mac}`,
      `link set ${LAB_HOST_IFACE} up`,
      ...extra,
    ];
    const viaLb = `route add ${LAB_VIP}/32 via ${LAB_LB_CLIENT_ADDRESS} dev ${LAB_HOST_IFACE}`;
    await Promise.all([
      ipBatch(ns.lb, hostSetup(LAB_LB_MAC, [
        `addr add ${LAB_LB_CLIENT_ADDRESS}/24 dev ${LAB_HOST_IFACE}`,
        `addr add ${LAB_LB_FARM_ADDRESS}/24 dev ${LAB_HOST_IFACE}`,
      ])),
      ipBatch(ns.client, hostSetup(LAB_CLIENT_MAC, [`addr add ${LAB_CLIENT_ADDRESS}/24 dev ${LAB_HOST_IFACE}`, viaLb])),
      ipBatch(ns.callee, hostSetup(LAB_CALLEE_MAC, [`addr add ${LAB_CALLEE_ADDRESS}/24 dev ${LAB_HOST_IFACE}`, viaLb])),
      ...ns.members.map(async (n, i) => {
        const id = i + 1;
        // DSR host settings: never answer ARP for the VIP (arp_ignore=1: only for
        // addresses on the receiving interface; the VIP is on lo), never use it as an
        // ARP source (arp_announce=2), and accept packets whose reply path is not the
        // interface they came in on (rp_filter=0).
        await nsMust(n, 'sysctl', ['-q', '-w', ...['all', 'default', 'lo', LAB_HOST_IFACE].flatMap((d) => [
          `net.ipv4.conf.${d}.arp_ignore=1`, `net.ipv4.conf.${d}.arp_announce=2`, `net.ipv4.conf.${d}.rp_filter=0`,
        ])]);
        await ipBatch(n, hostSetup(labMemberMac(id), [
          `addr add ${labMemberAddress(id)}/24 dev ${LAB_HOST_IFACE}`,
          `addr add ${LAB_VIP}/32 dev lo`,
          // Replies to clients leave directly on the segment (DSR), not via the LB.
          `route add ${LAB_CLIENT_PREFIX} dev ${LAB_HOST_IFACE} scope link`,
        ]));
      }),
    ]);

    await this.applyLb();

    // One frame from every host so that the bridge learns all MACs now; otherwise it
    // floods the first datagrams to every port. Doubles as a connectivity check.
    const pings: Array<[string, string]> = [
      [ns.client, LAB_LB_CLIENT_ADDRESS],
      [ns.callee, LAB_LB_CLIENT_ADDRESS],
      ...ns.members.map((n): [string, string] => [n, LAB_LB_FARM_ADDRESS]),
    ];
    await Promise.all(pings.map(async ([n, dst]) => {
      const r = await nsRun(n, 'ping', ['-n', '-q', '-c', '1', '-W', '2', dst], { timeoutMs: 5_000 });
      if (r.code !== 0) throw new LabError('ERR_LAB_CONNECTIVITY', `${n} cannot reach ${dst}: ${r.stdout.trim()} ${r.stderr.trim()}`, r);
    }));
  }
}

/** Removes whatever is left of a lab by prefix (e.g. after a crash), without attaching. */
export async function destroyLab(prefix: string): Promise<void> {
  if (!LAB_PREFIX_RE.test(prefix)) throw new LabError('ERR_LAB_OPTIONS', `prefix '${prefix}' must match ${LAB_PREFIX_RE}`);
  const names = (await listNetns()).filter((n) => n.startsWith(prefix) && /^(sw|lb|client|callee|m\d+)$/.test(n.slice(prefix.length)));
  for (const n of names) for (const pid of await netnsPids(n)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  if (names.length > 0) await ipBatch(undefined, names.map((n) => `netns del ${n}`), true);
}
