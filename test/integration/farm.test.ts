/**
 * The farm end to end, as deployed: three `sipfarm run` members in their own network
 * namespaces behind the lab's stateless nftables DSR load balancer, real sipp caller
 * and callee. The LB sprays every datagram to a random member (the farm's worst case),
 * so most packets reach the wrong member and must be relayed to their owner.
 *
 * Needs root and `ip netns` (skipped otherwise; CI runs it as root) and a build
 * (`npm test` builds first): it runs bin/sipfarm.js → dist/cli/main.js.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeAvailable } from '../../src/fastpath/native.js';
import { Lab } from '../../src/lab/lab.js';
import { MaglevRing } from '../../src/farm/ring.js';
import { keyHash } from '../../src/farm/hash.js';
import { aorHash } from '../../src/farm/keys.js';
import {
  delta,
  family,
  memberCounters,
  memberStatus,
  relayedShare,
  startMember,
  waitFarm,
  writeFarmConfig,
  type Counters,
  type MemberProc,
} from './helpers/farm-lab.js';
import { runSipp, type SippResult } from './helpers/sipp-ns.js';

const unavailable = await Lab.preflight();
const IDS = [1, 2, 3];

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function alive(p: MemberProc): boolean {
  return p.child.exitCode === null && p.child.signalCode === null;
}

/** The owner of a Call-ID under the full ring, as every member computes it (DESIGN rule 6). */
function ownerOf(callId: string, ring: MaglevRing): number {
  const b = Buffer.from(callId, 'utf8');
  return ring.lookup(keyHash(b, 0, b.length));
}

interface CallsOptions {
  uac: string;
  uas: string;
  calls: number;
  rate: number;
  durationMs?: number;
  /** sipp -lost on both peers (percent). */
  lost?: number;
  recvTimeoutMs?: number;
  /** Called right after the caller starts; awaited while calls run. */
  during?: () => Promise<void>;
  /** The callee may not see every call (a member dies): stop it once the caller is done. */
  calleeMayMiss?: boolean;
  /** Callee user; default one per scenario. */
  user?: string;
}

interface CallsResult {
  caller: SippResult;
  callee: SippResult;
  /** packets_total outcome deltas, per member and summed. */
  outcomes: Map<number, Record<string, number>>;
  total: Record<string, number>;
}

describe.skipIf(unavailable !== undefined)('sipfarm in the lab: 3 members behind a stateless DSR load balancer', () => {
  let lab: Lab | undefined;
  const procs = new Map<number, MemberProc>();
  /** Last counters read from each member (kept for a member that was killed). */
  const lastCounters = new Map<number, Counters>();
  let scenarioNo = 0;

  const L = (): Lab => {
    if (!lab) throw new Error('lab is not up');
    return lab;
  };

  const outputs = (): string =>
    [...procs.values()].map((p) => `--- member ${p.id} (${alive(p) ? 'running' : `exited ${p.child.exitCode ?? p.child.signalCode}`}) ---\n${p.output()}`).join('\n');

  async function readCounters(): Promise<Map<number, Counters>> {
    const lab = L();
    await Promise.all(IDS.map(async (id) => {
      const p = procs.get(id);
      if (!p || !alive(p)) return;
      const c = await memberCounters(lab, id);
      if (c) lastCounters.set(id, c);
    }));
    return new Map(lastCounters);
  }

  function printOutcomes(title: string, outcomes: Map<number, Record<string, number>>): void {
    const cols = ['local', 'relayed_branch', 'relayed_route_token', 'relayed_ring', 'relayed_in', 'second_chance', 'second_chance_returned', 'token_owner_dead', 'local_foreign_branch'];
    const rows = [...outcomes.entries()].map(([id, o]) => {
      const r = relayedShare(o);
      return `  m${id}  ${cols.map((c) => String(o[c] ?? 0).padStart(Math.max(6, c.length))).join(' ')}  ${(r.share * 100).toFixed(0).padStart(4)}%`;
    });
    console.log(`${title}\n      ${cols.map((c) => c.padStart(Math.max(6, c.length))).join(' ')}  relayed\n${rows.join('\n')}`);
  }

  async function register(user: string, port: number): Promise<void> {
    const lab = L();
    const r = await runSipp(lab, lab.ns.callee, {
      scenario: 'register.xml', ip: lab.addresses.callee, port, service: user, calls: 1,
      recvTimeoutMs: 5_000, timeoutS: 10, remote: `${lab.vip}:${lab.sipPort}`,
    }).done;
    expect({ register: user, code: r.code, successful: r.successful, errors: r.errorSample }).toEqual({ register: user, code: 0, successful: 1, errors: '' });
  }

  async function calls(o: CallsOptions): Promise<CallsResult> {
    const lab = L();
    const k = scenarioNo++;
    const user = o.user ?? `callee${k}`;
    const uasPort = 5070 + k;
    const uacPort = 5100 + k;
    await register(user, uasPort);
    const before = await readCounters();
    const lost = o.lost !== undefined ? ['-lost', String(o.lost)] : [];
    const runS = Math.ceil(o.calls / o.rate);
    const callee = runSipp(lab, lab.ns.callee, {
      scenario: o.uas, ip: lab.addresses.callee, port: uasPort, service: user, calls: o.calls, timeoutS: runS + 40, extra: lost,
    });
    await sleep(300); // the UAS binds
    const caller = runSipp(lab, lab.ns.client, {
      scenario: o.uac, ip: lab.addresses.client, port: uacPort, service: user, calls: o.calls, rate: o.rate,
      durationMs: o.durationMs ?? 300, recvTimeoutMs: o.recvTimeoutMs ?? 10_000, timeoutS: runS + 35,
      remote: `${lab.vip}:${lab.sipPort}`, extra: lost,
    });
    if (o.during) await o.during();
    const c = await caller.done;
    // The callee ends by itself after its last call's timewait; bound the wait anyway.
    const calleeDone = await Promise.race([callee.done.then(() => true), sleep(o.calleeMayMiss ? 1_000 : 12_000).then(() => false)]);
    if (!calleeDone && callee.child.pid !== undefined) callee.child.kill('SIGKILL');
    const s = await callee.done;
    const after = await readCounters();
    const outcomes = new Map<number, Record<string, number>>();
    const total: Record<string, number> = {};
    for (const id of IDS) {
      const d = delta(family(after.get(id), 'sipfarm_packets_total', 'outcome'), family(before.get(id), 'sipfarm_packets_total', 'outcome'));
      outcomes.set(id, d);
      for (const [key, v] of Object.entries(d)) total[key] = (total[key] ?? 0) + v;
    }
    console.log(`[${o.uac}${o.lost ? ` -lost ${o.lost}` : ''}, LB ${lab.lbMode}] caller: ${c.successful} ok / ${c.failed} failed (exit ${c.code}), ` +
      `callee: ${s.successful} ok / ${s.failed} failed, retransmissions ${c.retransmissions}+${s.retransmissions}`);
    printOutcomes(`  packets by outcome (share relayed: ${(relayedShare(total).share * 100).toFixed(0)}%)`, outcomes);
    return { caller: c, callee: s, outcomes, total };
  }

  function expectClean(r: CallsResult, n: number): void {
    const { caller: c, callee: s } = r;
    // (sipp's error log is not asserted empty: it also notes harmless late retransmissions.)
    expect({ caller: { code: c.code, successful: c.successful, failed: c.failed } },
      `caller sipp results in ${c.dir}\n${c.errorSample}\n${outputs()}`).toEqual({ caller: { code: 0, successful: n, failed: 0 } });
    expect({ callee: { successful: s.successful, failed: s.failed } }, `callee sipp results in ${s.dir}\n${s.errorSample}`).toEqual({ callee: { successful: n, failed: 0 } });
  }

  beforeAll(async () => {
    lab = await Lab.up({ members: IDS.length, lbMode: 'random' });
    const config = writeFarmConfig(lab, IDS.length);
    // Member 2 runs the pure-TS fast path, the others the native one (when built): the
    // farm must not care, and their envelopes must interoperate byte for byte.
    for (const id of IDS) procs.set(id, startMember(lab, id, config, id === 2 ? { SIPFARM_NATIVE: '0' } : undefined));
    try {
      await waitFarm(lab, IDS, { live: IDS, ring: IDS }, 20_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${outputs()}`);
    }
    const paths = await Promise.all(IDS.map(async (id) => (await memberStatus(lab, id))?.fastPath));
    console.log(`fast paths: ${IDS.map((id, i) => `m${id} ${paths[i]}`).join(', ')}`);
    expect(paths[1]).toBe('ts');
    if (nativeAvailable()) expect([paths[0], paths[2]]).toEqual(['native', 'native']);
  }, 60_000);

  afterAll(async () => {
    if (!lab) return;
    try {
      const final = await readCounters();
      const outcomes = new Map<number, Record<string, number>>();
      for (const id of IDS) outcomes.set(id, family(final.get(id), 'sipfarm_packets_total', 'outcome'));
      printOutcomes('per-member packet counters for the whole run', outcomes);
      for (const id of IDS) {
        const drops = Object.entries(family(final.get(id), 'sipfarm_dropped_total', 'reason')).filter(([, v]) => v > 0);
        const tx = Object.entries(family(final.get(id), 'sipfarm_transactions_total', 'outcome')).filter(([, v]) => v > 0);
        console.log(`  m${id} dropped ${JSON.stringify(Object.fromEntries(drops))} transactions ${JSON.stringify(Object.fromEntries(tx))}`);
      }
      // Graceful stop (SIGTERM, by PID), then down() kills whatever did not exit.
      const running = [...procs.values()].filter(alive);
      for (const p of running) p.child.kill('SIGTERM');
      const deadline = Date.now() + 3_000;
      while (running.some(alive) && Date.now() < deadline) await sleep(50);
    } finally {
      await lab.down();
    }
  }, 30_000);

  it('(a) 200 calls INVITE/200/ACK/BYE; about 2/3 of the datagrams are relayed', async () => {
    const r = await calls({ uac: 'uac.xml', uas: 'uas.xml', calls: 200, rate: 40 });
    expectClean(r, 200);
    // With 3 members and random spraying, a datagram reaches its owner 1 time in 3.
    const { share } = relayedShare(r.total);
    expect(share).toBeGreaterThan(0.4);
    expect(share).toBeLessThan(0.9);
    // Every member took part.
    for (const id of IDS) expect(r.outcomes.get(id)?.local ?? 0).toBeGreaterThan(0);
  }, 90_000);

  it('(b) 486 busy: the non-2xx ACK is absorbed hop by hop', async () => {
    expectClean(await calls({ uac: 'uac-busy.xml', uas: 'uas-busy.xml', calls: 100, rate: 40 }), 100);
  }, 60_000);

  it('(c) CANCEL before the answer: 200 for the CANCEL, 487 for the INVITE', async () => {
    expectClean(await calls({ uac: 'uac-cancel.xml', uas: 'uas-cancel.xml', calls: 100, rate: 40 }), 100);
  }, 60_000);

  it('(d) the callee hangs up: its BYE follows the Record-Route back to the owner', async () => {
    expectClean(await calls({ uac: 'uac-calleebye.xml', uas: 'uas-calleebye.xml', calls: 100, rate: 40 }), 100);
  }, 60_000);

  it('(e) 5% loss on both peers: retransmissions are absorbed and answered by the owners', async () => {
    const r = await calls({ uac: 'uac.xml', uas: 'uas.xml', calls: 200, rate: 40, lost: 5, recvTimeoutMs: 15_000 });
    expectClean(r, 200);
    expect(r.caller.retransmissions + r.callee.retransmissions).toBeGreaterThan(0);
  }, 120_000);

  it('(f) a member set draining mid-run (SIGUSR2): no call fails', async () => {
    const lab = L();
    const drainer = procs.get(2)!;
    const r = await calls({
      uac: 'uac.xml', uas: 'uas.xml', calls: 300, rate: 30, durationMs: 500,
      during: async () => {
        await sleep(3_000);
        drainer.child.kill('SIGUSR2');
      },
    });
    expectClean(r, 300);
    // Member 2 drains: still alive, out of everybody's ring.
    const s2 = await memberStatus(lab, 2);
    expect(s2?.draining).toBe(true);
    await waitFarm(lab, [1, 3], { live: IDS, ring: [1, 3] }, 5_000);
    // SIGUSR2 toggles: back to normal for the next scenarios.
    drainer.child.kill('SIGUSR2');
    await waitFarm(lab, IDS, { live: IDS, ring: IDS }, 10_000);
  }, 90_000);

  it('(a) again with the LB hashing per flow', async () => {
    const lab = L();
    await lab.setLbMode('flow');
    try {
      expectClean(await calls({ uac: 'uac.xml', uas: 'uas.xml', calls: 200, rate: 40 }), 200);
    } finally {
      await lab.setLbMode('random');
    }
  }, 90_000);

  it('(g) a member killed mid-run (SIGKILL), dropped by the LB 1 s later: only its own calls may fail', async () => {
    const lab = L();
    const victim = 3;
    const ring = MaglevRing.build(IDS);
    // A callee whose registration's home is a survivor: this scenario is about calls,
    // not about the location service's replica.
    let user = 'gcallee';
    for (let i = 0; ring.lookup(aorHash(user, lab.vip)) === victim; i++) user = `gcallee${i}`;
    const calls300 = 300;
    const r = await calls({
      uac: 'uac.xml', uas: 'uas.xml', calls: calls300, rate: 30, durationMs: 500, recvTimeoutMs: 8_000, calleeMayMiss: true, user,
      during: async () => {
        await sleep(3_000);
        procs.get(victim)!.child.kill('SIGKILL');
        await sleep(1_000); // the LB's health check notices
        await lab.setLbMembers(IDS.filter((id) => id !== victim));
      },
    });
    const c = r.caller;
    const owners = c.failedCallIds.map((id) => ownerOf(id, ring));
    console.log(`  failed calls: ${c.failed}, their owners: ${JSON.stringify(owners.reduce<Record<number, number>>((a, o) => ((a[o] = (a[o] ?? 0) + 1), a), {}))}`);
    expect(c.successful + c.failed).toBe(calls300);
    expect(c.failedCallIds.length).toBe(c.failed);
    for (const [i, o] of owners.entries()) expect(o, `failed call ${c.failedCallIds[i]} was owned by member ${o}`).toBe(victim);
    // The survivors' calls (about 2/3) all completed.
    expect(c.successful).toBeGreaterThan(calls300 / 2);
    await waitFarm(lab, [1, 2], { live: [1, 2], ring: [1, 2] }, 5_000);
  }, 120_000);
});
