/**
 * `sipfarm demo`: a farm on this one machine, on embedded defaults, carrying real SIP.
 *
 * Lab mode (root, `ip netns` and nft available, dist/ built): a network-namespace lab
 * (src/lab) — client, callee, the generated nftables DSR load balancer spraying every
 * datagram to a random member, and `sipfarm run` members in their own namespaces, with
 * `sipfarm lb-health` checking them from the LB. sipp runs in the client and callee
 * namespaces; the members' counters come from their /metrics endpoints in the lab.
 *
 * One-host mode (otherwise, no root needed): the members run in one process and share
 * the VIP through SO_REUSEPORT with a classic-BPF program that makes the kernel pick a
 * random member per datagram — the kernel is the stateless random-spraying LB (native
 * addon). Without the addon an in-process stand-in sprays instead, and the demo says so.
 * The farm channel between members is real UDP with authenticated envelopes.
 *
 * Either way sipp registers a callee through the VIP and places calls to it for a fixed
 * time; a live line shows calls/s, failures and the share of datagrams each member had
 * to relay; a table sums it up.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startInProcessFarm, type InProcessFarm } from '../lab/in-process.js';
import { nativeAvailable, nativeUnavailableReason } from '../fastpath/native.js';
import { SCENARIOS, freeUdpPort as freePort, haveSipp, readStats, sipp } from '../lab/sipp.js';
import { Lab } from '../lab/lab.js';
import {
  SIPFARM_DIST_MAIN,
  metricFamily,
  metricValue,
  startLabHealth,
  startLabMember,
  startMetricsPoller,
  waitLabFarm,
  writeLabFarmConfig,
} from '../lab/farm.js';
import { runNsSipp } from '../lab/ns-sipp.js';

export interface DemoOptions {
  seconds: number;
  rate: number;
  members: number;
  /** 'auto' (default): the lab when it can be built, else one-host; 'lab' fails without root. */
  mode?: 'auto' | 'lab' | 'one-host';
  out?: (line: string) => void;
}

interface MemberFigures { fromLb: number; relayedOut: number; relayedIn: number; local: number; transactions: number; registrations: number }

function figures(farm: InProcessFarm): Map<number, MemberFigures> {
  const out = new Map<number, MemberFigures>();
  for (const [id, m] of farm.members) {
    const c = (name: string): number => m.outcomes.getByValue(name) ?? 0;
    const relayedOut = c('relayed_branch') + c('relayed_route_token') + c('relayed_ring') + c('token_owner_dead') + c('second_chance');
    const fromLb = m.outcomes.total() - c('relayed_in') - c('second_chance_returned');
    out.set(id, { fromLb, relayedOut, relayedIn: c('relayed_in'), local: fromLb - relayedOut, transactions: m.layer.stats.serverCreated + m.layer.stats.clientCreated, registrations: m.status().registrations as number });
  }
  return out;
}

function pad(s: string | number, n: number): string {
  return String(s).padStart(n);
}

/** The same figures from a member's /metrics (lab mode). */
function metricFigures(c: Map<string, number> | undefined): MemberFigures {
  const o = metricFamily(c, 'sipfarm_packets_total', 'outcome');
  const v = (name: string): number => o[name] ?? 0;
  const total = Object.values(o).reduce((a, b) => a + b, 0);
  const relayedOut = v('relayed_branch') + v('relayed_route_token') + v('relayed_ring') + v('token_owner_dead') + v('second_chance');
  const fromLb = total - v('relayed_in') - v('second_chance_returned');
  const tx = metricFamily(c, 'sipfarm_transactions_total', 'outcome');
  return {
    fromLb, relayedOut, relayedIn: v('relayed_in'), local: fromLb - relayedOut,
    transactions: (tx.serverCreated ?? 0) + (tx.clientCreated ?? 0), registrations: metricValue(c, 'sipfarm_registrations'),
  };
}

function progressLine(t: number, ok: number, failed: number, perS: number, f: Map<number, MemberFigures>): string {
  const share = [...f].map(([id, x]) => `m${id} ${x.fromLb ? Math.round((100 * x.relayedOut) / x.fromLb) : 0}%`).join(' ');
  return `t=${t.toFixed(0).padStart(3)}s  calls ok ${pad(ok, 6)}  failed ${pad(failed, 4)}  ${pad(perS, 4)} calls/s  relayed: ${share}`;
}

function summary(out: (l: string) => void, f: Map<number, MemberFigures>): void {
  out('');
  out('member  from-LB  handled-locally  relayed-out  relayed-in  relayed-share  transactions  registrations');
  for (const [id, x] of f) {
    out(`${pad(id, 6)}  ${pad(x.fromLb, 7)}  ${pad(x.local, 15)}  ${pad(x.relayedOut, 11)}  ${pad(x.relayedIn, 10)}  ${pad(x.fromLb ? ((100 * x.relayedOut) / x.fromLb).toFixed(1) + '%' : '-', 13)}  ${pad(x.transactions, 12)}  ${pad(x.registrations, 13)}`);
  }
  out('');
}

export async function runDemo(o: DemoOptions): Promise<number> {
  const out = o.out ?? ((l: string) => process.stdout.write(`${l}\n`));
  if (!haveSipp()) {
    out('sipfarm demo needs sipp, the SIP traffic generator: apt-get install sip-tester (or bash scripts/install-deps.sh as root)');
    return 2;
  }
  const mode = o.mode ?? 'auto';
  if (mode !== 'one-host') {
    const why = (await Lab.preflight()) ?? (existsSync(SIPFARM_DIST_MAIN) ? undefined : `${SIPFARM_DIST_MAIN} is missing (npm run build)`);
    if (why === undefined) return runLabDemo(o, out);
    if (mode === 'lab') {
      out(`sipfarm demo (lab mode) needs root, iproute2 ('ip netns'), nft and a build: ${why}`);
      return 2;
    }
    out(`(namespace lab unavailable: ${why}; using one-host mode)`);
  }
  const ids = Array.from({ length: o.members }, (_, i) => i + 1);
  const kernelLb = nativeAvailable();
  if (!kernelLb) {
    out(`(the native addon is not available — ${nativeUnavailableReason()?.message ?? 'not built'} — so the kernel cannot spray the VIP over`);
    out(' SO_REUSEPORT members: an in-process stand-in LB does it; `npm run native:build` needs gcc, make and python3)');
  }
  const farm = await startInProcessFarm(ids, { lb: kernelLb ? 'reuseport' : 'stand-in' });
  try {
    await farm.waitConverged();
    const how = kernelLb ? 'the kernel spraying datagrams at random over SO_REUSEPORT members' : 'an in-process random-spraying LB stand-in';
    out(`sipfarm demo: ${o.members} members sharing VIP ${farm.vip.host}:${farm.vip.port}, ${how} (one-host mode)`);
    const total = Math.max(1, Math.round(o.rate * o.seconds));
    const uasPort = await freePort();
    const reg = await sipp(['-sf', join(SCENARIOS, 'register.xml'), '-s', 'demo', '-i', '127.0.0.1', '-p', String(uasPort), '-m', '1', `127.0.0.1:${farm.vip.port}`], { timeoutS: 10 }).done;
    if (reg.successful !== 1) {
      out(`registration through the farm failed:\n${reg.stdout.slice(-2000)}`);
      return 1;
    }
    out(`registered sip:demo@127.0.0.1 -> 127.0.0.1:${uasPort}; placing ${total} calls at ${o.rate}/s`);
    const limit = o.seconds + 40;
    const callee = sipp(['-sf', join(SCENARIOS, 'uas.xml'), '-i', '127.0.0.1', '-p', String(uasPort), '-m', String(total)], { timeoutS: limit });
    const uacPort = await freePort();
    const caller = sipp(['-sf', join(SCENARIOS, 'uac.xml'), '-s', 'demo', '-i', '127.0.0.1', '-p', String(uacPort), '-m', String(total), '-r', String(o.rate), '-d', '200', `127.0.0.1:${farm.vip.port}`], { timeoutS: limit });
    let done = false;
    void caller.done.then(() => (done = true));
    const start = Date.now();
    let last = 0;
    while (!done) {
      await new Promise((r) => setTimeout(r, 1000));
      const st = readStats(caller.dir);
      out(progressLine((Date.now() - start) / 1000, st.successful, st.failed, st.successful - last, figures(farm)));
      last = st.successful;
    }
    const r = await caller.done;
    const u = await callee.done;
    summary(out, figures(farm));
    out(`calls: ${r.successful} completed, ${r.failed} failed (callee saw ${u.successful} ok, ${u.failed} failed)`);
    return r.failed === 0 && r.successful === total ? 0 : 1;
  } finally {
    await farm.stop();
  }
}

/** Lab mode: the farm in namespaces behind the generated nftables DSR LB. */
async function runLabDemo(o: DemoOptions, out: (line: string) => void): Promise<number> {
  // cleanupOnExit: Ctrl-C (or a crash) removes the lab and everything running in it.
  const lab = await Lab.up({ members: o.members, lbMode: 'random' });
  const ids = [...lab.memberIds];
  let poller: ReturnType<typeof startMetricsPoller> | undefined;
  const tails = new Map<string, string>();
  const keep = (name: string, c: { stdout?: NodeJS.ReadableStream | null; stderr?: NodeJS.ReadableStream | null }): void => {
    const add = (d: Buffer | string): void => void tails.set(name, ((tails.get(name) ?? '') + d.toString()).slice(-3000));
    c.stdout?.on('data', add);
    c.stderr?.on('data', add);
  };
  try {
    const config = writeLabFarmConfig(lab);
    for (const id of ids) keep(`m${id}`, startLabMember(lab, id, config));
    try {
      await waitLabFarm(lab, ids, 20_000);
    } catch (err) {
      out(`the farm did not come up: ${(err as Error).message}`);
      for (const [n, t] of tails) out(`--- ${n} ---\n${t}`);
      return 1;
    }
    keep('lb-health', startLabHealth(lab, config));
    poller = startMetricsPoller(lab, ids, 1000);
    out(`sipfarm demo: ${o.members} members behind a random-spraying stateless nftables DSR LB at VIP ${lab.vip}:${lab.sipPort} (namespace lab ${lab.prefix})`);
    const total = Math.max(1, Math.round(o.rate * o.seconds));
    const vip = `${lab.vip}:${lab.sipPort}`;
    const uasPort = 5070;
    const reg = await runNsSipp(lab, lab.ns.callee, ['-sf', join(SCENARIOS, 'register.xml'), '-s', 'demo', '-i', lab.addresses.callee, '-p', String(uasPort), '-m', '1', vip], 10).done;
    if (reg.successful !== 1) {
      out(`registration through the farm failed:\n${reg.stderr.slice(-2000)}`);
      return 1;
    }
    out(`registered sip:demo@${lab.vip} -> ${lab.addresses.callee}:${uasPort}; placing ${total} calls at ${o.rate}/s`);
    const limit = o.seconds + 40;
    const callee = runNsSipp(lab, lab.ns.callee, ['-sf', join(SCENARIOS, 'uas.xml'), '-i', lab.addresses.callee, '-p', String(uasPort), '-m', String(total)], limit);
    await new Promise((r) => setTimeout(r, 300)); // the UAS binds
    const caller = runNsSipp(lab, lab.ns.client, ['-sf', join(SCENARIOS, 'uac.xml'), '-s', 'demo', '-i', lab.addresses.client, '-p', '5100', '-m', String(total), '-r', String(o.rate), '-d', '200', vip], limit);
    let done = false;
    void caller.done.then(() => (done = true));
    const start = Date.now();
    let last = 0;
    const labFigures = (): Map<number, MemberFigures> => {
      const latest = poller?.latest() ?? new Map<number, Map<string, number>>();
      return new Map(ids.map((id) => [id, metricFigures(latest.get(id))]));
    };
    while (!done) {
      await new Promise((r) => setTimeout(r, 1000));
      const st = readStats(caller.dir);
      out(progressLine((Date.now() - start) / 1000, st.successful, st.failed, st.successful - last, labFigures()));
      last = st.successful;
    }
    const r = await caller.done;
    const u = await Promise.race([callee.done, new Promise<undefined>((res) => setTimeout(() => res(undefined), 12_000))]);
    if (u === undefined) callee.child.kill('SIGKILL');
    const uu = u ?? (await callee.done);
    await poller.next(); // counters after the last call
    summary(out, labFigures());
    out(`calls: ${r.successful} completed, ${r.failed} failed (callee saw ${uu.successful} ok, ${uu.failed} failed)`);
    return r.failed === 0 && r.successful === total ? 0 : 1;
  } finally {
    poller?.stop();
    await lab.down();
  }
}
