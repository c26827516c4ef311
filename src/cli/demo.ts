/**
 * `sipfarm demo`: a farm on this one machine, on embedded defaults, carrying real SIP.
 *
 * Three members run in one process behind an in-process stateless LB that sprays every
 * datagram to a random member (one-host mode, src/lab/in-process.ts); the farm channel
 * between them is real UDP with authenticated envelopes. sipp registers a callee through
 * the VIP and places calls to it for a fixed time; a live line shows calls/s, failures
 * and the share of datagrams each member had to relay; a table sums it up.
 */
import { join } from 'node:path';
import { startInProcessFarm, type InProcessFarm } from '../lab/in-process.js';
import { SCENARIOS, freeUdpPort as freePort, haveSipp, readStats, sipp } from '../lab/sipp.js';

export interface DemoOptions {
  seconds: number;
  rate: number;
  members: number;
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

export async function runDemo(o: DemoOptions): Promise<number> {
  const out = o.out ?? ((l: string) => process.stdout.write(`${l}\n`));
  if (!haveSipp()) {
    out('sipfarm demo needs sipp, the SIP traffic generator: apt-get install sip-tester (or bash scripts/install-deps.sh as root)');
    return 2;
  }
  const ids = Array.from({ length: o.members }, (_, i) => i + 1);
  const farm = await startInProcessFarm(ids);
  try {
    await farm.waitConverged();
    out(`sipfarm demo: ${o.members} members behind a random-spraying stateless LB at VIP ${farm.vip.host}:${farm.vip.port} (one-host mode)`);
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
      const f = figures(farm);
      const share = [...f].map(([id, x]) => `m${id} ${x.fromLb ? Math.round((100 * x.relayedOut) / x.fromLb) : 0}%`).join(' ');
      const t = (Date.now() - start) / 1000;
      out(`t=${t.toFixed(0).padStart(3)}s  calls ok ${pad(st.successful, 6)}  failed ${pad(st.failed, 4)}  ${pad(st.successful - last, 4)} calls/s  relayed: ${share}`);
      last = st.successful;
    }
    const r = await caller.done;
    const u = await callee.done;
    const f = figures(farm);
    out('');
    out('member  from-LB  handled-locally  relayed-out  relayed-in  relayed-share  transactions  registrations');
    for (const [id, x] of f) {
      out(`${pad(id, 6)}  ${pad(x.fromLb, 7)}  ${pad(x.local, 15)}  ${pad(x.relayedOut, 11)}  ${pad(x.relayedIn, 10)}  ${pad(x.fromLb ? ((100 * x.relayedOut) / x.fromLb).toFixed(1) + '%' : '-', 13)}  ${pad(x.transactions, 12)}  ${pad(x.registrations, 13)}`);
    }
    out('');
    out(`calls: ${r.successful} completed, ${r.failed} failed (callee saw ${u.successful} ok, ${u.failed} failed)`);
    return r.failed === 0 && r.successful === total ? 0 : 1;
  } finally {
    await farm.stop();
  }
}
