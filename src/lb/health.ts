/**
 * The LB-side health checker for the nftables DSR balancer (`sipfarm lb-health`).
 *
 * Every interval it probes each member with a SIP OPTIONS sent from the LB's own
 * address to the member's own address (its `sip:` socket), Request-URI `sip:<VIP>`
 * without a user part and Max-Forwards 0 — the form the farm's classifier always keeps
 * on the member that received it (DESIGN rule 5), so the answer says how *that* member
 * is, not whichever member a relay would pick. 2xx = up; 503 = draining (RFC 3261
 * §21.5.4: the member asks not to get new work) and it leaves the LB set at once; no
 * answer (or another final status) `retries` times in a row = down. One 2xx brings it
 * back. A changed live set is written to the LB's slot map in one nft transaction.
 *
 * The decisions (HealthChecker) are separate from the I/O (SipOptionsProber, nftApplier)
 * so that they run in plain unit tests with a scripted prober.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as dgram from 'node:dgram';
import { nftablesDsrSetLive, DEFAULT_DSR_TABLE } from './nftables.js';

/** A member as the health checker sees it. */
export interface HealthTarget {
  id: number;
  /** The member's own address (not the VIP). */
  address: string;
  /** Its SIP port on that address. */
  port: number;
  /** Its MAC on the LB segment (what the slot map holds). */
  mac: string;
}

/** The outcome of one probe: the final status (0 = no answer in time) and who sent it. */
export interface ProbeOutcome {
  status: number;
  from?: { address: string; port: number };
}

export type MemberHealthState = 'up' | 'down' | 'draining';

export interface MemberHealth {
  id: number;
  state: MemberHealthState;
  /** Consecutive probes without a 2xx (reset by a 2xx). */
  misses: number;
  /** Status of the last probe (0 = timeout). */
  lastStatus: number;
}

export interface HealthEvent {
  id: number;
  from: MemberHealthState;
  to: MemberHealthState;
  /** Why, for the log line. */
  reason: string;
}

export interface HealthCheckerOptions {
  members: readonly HealthTarget[];
  /** Time between the starts of two probe rounds. */
  intervalMs: number;
  /** Probes in a row without an answer (or with a non-2xx, non-503 answer) before a member is down. */
  retries: number;
  probe: (m: HealthTarget) => Promise<ProbeOutcome>;
  /** Writes the live set to the LB; must be atomic. */
  apply: (live: readonly HealthTarget[]) => Promise<void>;
  /** Ids considered live at start. Default: every member (what the generated ruleset holds). */
  initial?: readonly number[];
  onEvent?: (e: HealthEvent) => void;
  /** Called when apply() fails; the checker retries on the next round. */
  onApplyError?: (err: unknown) => void;
}

export class HealthError extends Error {
  constructor(readonly code: 'ERR_HEALTH_OPTIONS' | 'ERR_HEALTH_NFT' | 'ERR_HEALTH_SOCKET', message: string) {
    super(message);
    this.name = 'HealthError';
  }
}

export class HealthChecker {
  private readonly o: HealthCheckerOptions;
  private readonly health = new Map<number, MemberHealth>();
  /** The live set last written to the LB successfully (undefined = never). */
  private applied: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(o: HealthCheckerOptions) {
    if (!Number.isInteger(o.retries) || o.retries < 1) throw new HealthError('ERR_HEALTH_OPTIONS', `retries must be a positive integer (got ${o.retries})`);
    if (!(o.intervalMs > 0)) throw new HealthError('ERR_HEALTH_OPTIONS', `intervalMs must be positive (got ${o.intervalMs})`);
    const ids = new Set<number>();
    for (const m of o.members) {
      if (ids.has(m.id)) throw new HealthError('ERR_HEALTH_OPTIONS', `member ${m.id} is listed twice`);
      ids.add(m.id);
    }
    this.o = o;
    const initial = new Set(o.initial ?? o.members.map((m) => m.id));
    for (const m of o.members) this.health.set(m.id, { id: m.id, state: initial.has(m.id) ? 'up' : 'down', misses: 0, lastStatus: 0 });
  }

  /** Ids the LB should send to now, ascending. */
  live(): number[] {
    return [...this.health.values()].filter((h) => h.state === 'up').map((h) => h.id).sort((a, b) => a - b);
  }

  states(): MemberHealth[] {
    return [...this.health.values()].map((h) => ({ ...h })).sort((a, b) => a.id - b.id);
  }

  /**
   * One round: probe every member at once, update the states, write the live set to
   * the LB if it changed (or was never written, or the last write failed).
   */
  async round(): Promise<void> {
    const outcomes = await Promise.all(this.o.members.map(async (m) => [m, await this.o.probe(m).catch((): ProbeOutcome => ({ status: 0 }))] as const));
    for (const [m, out] of outcomes) this.update(m.id, out.status);
    const live = this.live();
    const key = live.join(',');
    if (key === this.applied) return;
    try {
      await this.o.apply(this.o.members.filter((m) => live.includes(m.id)));
      this.applied = key;
    } catch (err) {
      this.o.onApplyError?.(err);
    }
  }

  /** Probes every intervalMs until stop(); the first round starts now. */
  start(): void {
    if (this.timer !== undefined || this.running !== undefined) return;
    this.stopped = false;
    const tick = (): void => {
      const started = Date.now();
      this.running = this.round().finally(() => {
        this.running = undefined;
        if (!this.stopped) this.timer = setTimeout(tick, Math.max(0, this.o.intervalMs - (Date.now() - started)));
      });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private update(id: number, status: number): void {
    const h = this.health.get(id) as MemberHealth;
    const was = h.state;
    h.lastStatus = status;
    let reason: string;
    if (status >= 200 && status < 300) {
      h.misses = 0;
      h.state = 'up';
      reason = `answered ${status}`;
    } else if (status === 503) {
      // RFC 3261 §21.5.4 / DESIGN "draining": no new flows, at once (no retries to wait for).
      h.misses++;
      h.state = 'draining';
      reason = 'answered 503 (draining)';
    } else {
      h.misses++;
      if (h.state === 'up' && h.misses >= this.o.retries) h.state = 'down';
      else if (h.state === 'draining') h.state = 'down';
      reason = status === 0 ? `${h.misses} probe(s) unanswered` : `answered ${status} ${h.misses} time(s)`;
    }
    if (h.state !== was) this.o.onEvent?.({ id, from: was, to: h.state, reason });
  }
}

/**
 * The probe datagram (CRLF line ends). `branch` and `callId` are unique per probe so a
 * late answer to an earlier probe is never taken for the current one.
 */
export function healthProbeRequest(vip: string, source: { address: string; port: number }, branch: string, callId: string): string {
  const uri = `sip:${vip}`;
  return [
    `OPTIONS ${uri} SIP/2.0`,
    // RFC 3581 §4: rport makes the member answer the probe's source port.
    `Via: SIP/2.0/UDP ${source.address}:${source.port};rport;branch=${branch}`,
    // RFC 3261 §16.3 step 3 / §11: Max-Forwards 0 — the element answers OPTIONS itself.
    'Max-Forwards: 0',
    `To: <${uri}>`,
    `From: <sip:lb-health@${vip}>;tag=${branch.slice(-8)}`,
    `Call-ID: ${callId}`,
    'CSeq: 1 OPTIONS',
    'User-Agent: sipfarm-lb-health',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

const STATUS_RE = /^SIP\/2\.0 (\d{3}) /;
// Top Via's branch: the first Via header (or compact `v:`) of the response.
const VIA_BRANCH_RE = /^(?:via|v)[ \t]*:[^\r\n]*?;[ \t]*branch=([^;,\s]+)/im;

interface Pending {
  resolve: (o: ProbeOutcome) => void;
  timer: NodeJS.Timeout;
}

/** Sends OPTIONS probes from one UDP socket on the LB's address and matches answers by branch. */
export class SipOptionsProber {
  private readonly pending = new Map<string, Pending>();
  private seq = 0;
  private readonly tag = randomBytes(4).toString('hex');

  private constructor(
    private readonly sock: dgram.Socket,
    private readonly vip: string,
    private readonly timeoutMs: number,
    /** The probe socket's address and port (the Via sent-by). */
    readonly local: { address: string; port: number },
  ) {
    sock.on('message', (buf, r) => this.onMessage(buf, { address: r.address, port: r.port }));
    sock.on('error', () => {
      // A send error (e.g. no route) shows up as a missed probe.
    });
  }

  /** Binds the probe socket to `source` (the LB's address on the members' segment; listed in lbProbeSources). */
  static async open(o: { source: string; vip: string; timeoutMs: number }): Promise<SipOptionsProber> {
    const sock = dgram.createSocket(o.source.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      sock.once('error', (err) => reject(new HealthError('ERR_HEALTH_SOCKET', `cannot bind the probe socket to ${o.source}: ${err.message}`)));
      sock.bind(0, o.source, () => resolve());
    });
    const a = sock.address();
    return new SipOptionsProber(sock, o.vip, o.timeoutMs, { address: a.address, port: a.port });
  }

  probe(m: Pick<HealthTarget, 'id' | 'address' | 'port'>): Promise<ProbeOutcome> {
    const n = ++this.seq;
    const branch = `z9hG4bK-lbh${m.id}-${this.tag}${n.toString(16)}`;
    const req = healthProbeRequest(this.vip, this.local, branch, `lbh-${this.tag}-${n}@${this.local.address}`);
    return new Promise<ProbeOutcome>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(branch);
        resolve({ status: 0 });
      }, this.timeoutMs);
      this.pending.set(branch, { resolve, timer });
      this.sock.send(req, m.port, m.address);
    });
  }

  private onMessage(buf: Buffer, from: { address: string; port: number }): void {
    const text = buf.toString('latin1', 0, Math.min(buf.length, 4096));
    const st = STATUS_RE.exec(text);
    if (!st) return;
    const status = Number(st[1]);
    if (status < 200) return; // provisional: keep waiting for the final answer
    const b = VIA_BRANCH_RE.exec(text);
    const p = b ? this.pending.get(b[1]) : undefined;
    if (!b || !p) return;
    this.pending.delete(b[1]);
    clearTimeout(p.timer);
    p.resolve({ status, from });
  }

  async close(): Promise<void> {
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.resolve({ status: 0 });
    }
    this.pending.clear();
    await new Promise<void>((r) => this.sock.close(() => r()));
  }
}

/**
 * An apply() that writes the live set into the slot map of a loaded DSR table with
 * `nft -f -` (one transaction). `command` prefixes nft, e.g. ['ip', 'netns', 'exec', 'lb'].
 */
export function nftApplier(o: { table?: string; command?: readonly string[] } = {}): (live: readonly HealthTarget[]) => Promise<void> {
  const table = o.table ?? DEFAULT_DSR_TABLE;
  return (live) => new Promise<void>((resolve, reject) => {
    const input = nftablesDsrSetLive(live, table);
    const argv = [...(o.command ?? []), 'nft', '-f', '-'];
    const env = { ...process.env, PATH: `${process.env.PATH ?? '/usr/bin:/bin'}:/usr/local/sbin:/usr/sbin:/sbin` };
    const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'ignore', 'pipe'], env });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err) => reject(new HealthError('ERR_HEALTH_NFT', `${argv.join(' ')}: ${err.message}`)));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new HealthError('ERR_HEALTH_NFT', `${argv.join(' ')} failed (${code}): ${stderr.trim()}`))));
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}
