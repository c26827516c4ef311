/**
 * The farm on loopback, in one process, with sipp as the real peers: no root needed.
 * The LB stand-in sprays each datagram to a random member, so most packets reach a
 * member that does not own them and must be relayed over the real farm channel.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { startInProcessFarm, type InProcessFarm } from '../../../src/lab/in-process.js';
import { SCENARIOS, freeUdpPort as freePort, haveSipp, sipp, type SippResult } from '../../../src/lab/sipp.js';
import { MaglevRing } from '../../../src/farm/ring.js';
import { callIdHashString } from '../../../src/farm/keys.js';
import { nativeAvailable } from '../../../src/fastpath/native.js';

const sc = (name: string): string => join(SCENARIOS, name);

async function register(farm: InProcessFarm, user: string, port: number): Promise<void> {
  const r = await sipp(['-sf', sc('register.xml'), '-s', user, '-i', '127.0.0.1', '-p', String(port), '-m', '1', `127.0.0.1:${farm.vip.port}`], { timeoutS: 10 }).done;
  expect(r.failed, r.stdout.slice(-2000)).toBe(0);
  expect(r.successful).toBe(1);
}

function counters(farm: InProcessFarm): Record<number, Record<string, number>> {
  const out: Record<number, Record<string, number>> = {};
  for (const [id, m] of farm.members) {
    out[id] = {};
    m.outcomes.values.forEach((name, i) => (out[id][name] = m.outcomes.v[i]));
  }
  return out;
}

describe.skipIf(!haveSipp())('farm on loopback with sipp (random-spraying LB)', () => {
  let farm: InProcessFarm;
  beforeAll(async () => {
    farm = await startInProcessFarm([1, 2, 3]);
    await farm.waitConverged();
  });
  afterAll(async () => {
    await farm?.stop();
  });

  async function callPair(
    uas: string,
    uac: string,
    calls: number,
    extra: string[] = [],
    during?: () => Promise<void>,
    rate = 40,
  ): Promise<{ uac: SippResult; uas: SippResult }> {
    const user = `u${Math.floor(Math.random() * 1e9)}`;
    const uasPort = await freePort();
    await register(farm, user, uasPort);
    const callee = sipp(['-sf', sc(uas), '-i', '127.0.0.1', '-p', String(uasPort), '-m', String(calls), ...extra], { timeoutS: 40 });
    const uacPort = await freePort();
    const caller = sipp(['-sf', sc(uac), '-s', user, '-i', '127.0.0.1', '-p', String(uacPort), '-m', String(calls), '-r', String(rate), '-d', '50', ...extra, `127.0.0.1:${farm.vip.port}`], { timeoutS: 40 });
    if (during) await during();
    const r = await caller.done;
    const u = await callee.done;
    return { uac: r, uas: u };
  }

  async function cleanCalls(uas: string, uac: string, calls: number, extra: string[] = [], during?: () => Promise<void>): Promise<void> {
    const { uac: r, uas: u } = await callPair(uas, uac, calls, extra, during);
    expect(r.failed, `uac: ${r.stdout.slice(-3000)}\nuas: ${u.stdout.slice(-3000)}`).toBe(0);
    expect(r.successful).toBe(calls);
    expect(u.failed).toBe(0);
  }

  it('INVITE/200/ACK/BYE calls complete and most packets are relayed', async () => {
    await cleanCalls('uas.xml', 'uac.xml', 60);
    const c = counters(farm);
    let relayed = 0;
    let fromLb = 0;
    for (const m of Object.values(c)) {
      relayed += m.relayed_branch + m.relayed_route_token + m.relayed_ring;
      // Everything but relayed_in (and the returns of the second-chance hop) came from the LB.
      fromLb += Object.entries(m).filter(([k]) => k !== 'relayed_in' && k !== 'second_chance_returned').reduce((a, [, n]) => a + n, 0);
    }
    const total = fromLb;
    // 3 members, random spraying: about 2/3 of what arrives from the LB is someone else's.
    expect(relayed / total).toBeGreaterThan(0.45);
    expect(relayed / total).toBeLessThan(0.85);
  }, 60_000);

  it('486 Busy: the non-2xx ACK reaches the INVITE owner', async () => {
    await cleanCalls('uas-busy.xml', 'uac-busy.xml', 30);
  }, 60_000);

  it('CANCEL before answer', async () => {
    await cleanCalls('uas-cancel.xml', 'uac-cancel.xml', 30);
  }, 60_000);

  it('callee-side BYE', async () => {
    await cleanCalls('uas-calleebye.xml', 'uac-calleebye.xml', 30);
  }, 60_000);

  it('5% packet loss on both peers: retransmissions are absorbed and answered by the owners', async () => {
    await cleanCalls('uas.xml', 'uac.xml', 40, ['-lost', '5']);
  }, 90_000);

  it('a member set draining mid-run: its calls finish, new ones go elsewhere', async () => {
    const drainer = farm.members.get(2)!;
    await cleanCalls('uas.xml', 'uac.xml', 60, [], async () => {
      await new Promise((r) => setTimeout(r, 600));
      drainer.setDraining(true);
    });
    // The others took it out of their ring (heartbeats carry the state).
    for (const [id, m] of farm.members) if (id !== 2) expect(m.membership.ring.members).not.toContain(2);
    drainer.setDraining(false);
    await farm.waitConverged();
  }, 60_000);
});

describe.skipIf(!haveSipp())('farm on loopback: a member killed mid-run', () => {
  it('calls owned by the survivors complete', async () => {
    const farm = await startInProcessFarm([1, 2, 3]);
    try {
      await farm.waitConverged();
      const user = `k${Math.floor(Math.random() * 1e9)}`;
      const uasPort = await freePort();
      await register(farm, user, uasPort);
      const callee = sipp(['-sf', sc('uas.xml'), '-i', '127.0.0.1', '-p', String(uasPort), '-m', '120'], { timeoutS: 45 });
      const uacPort = await freePort();
      const caller = sipp(['-sf', sc('uac.xml'), '-s', user, '-i', '127.0.0.1', '-p', String(uacPort), '-m', '120', '-r', '40', '-d', '300', `127.0.0.1:${farm.vip.port}`], { timeoutS: 45 });
      await new Promise((r) => setTimeout(r, 1200));
      await farm.kill(3);
      // The LB's health check notices a moment later and stops spraying to it.
      await new Promise((r) => setTimeout(r, 300));
      farm.lbSet = [1, 2];
      const r = await caller.done;
      callee.child.kill('SIGKILL');
      await callee.done;
      const ring = MaglevRing.build([1, 2, 3]);
      const owners = [...r.failedCallIds].map((id) => ring.lookup(callIdHashString(id)));
      console.log(`kill test: ${r.successful} ok, ${r.failed} failed, failed-call owners ${JSON.stringify(owners)}`);
      expect(r.successful + r.failed).toBe(120);
      expect(r.failedCallIds.size).toBe(r.failed);
      // Every failed call was owned by the killed member; every other call completed.
      for (const o of owners) expect(o).toBe(3);
      expect(r.successful).toBeGreaterThan(60);
    } finally {
      await farm.stop();
    }
  }, 90_000);
});

describe.skipIf(!haveSipp() || !nativeAvailable())('one-host mode: members share the VIP through SO_REUSEPORT, the kernel sprays', () => {
  it('calls complete and about 2/3 of the datagrams are relayed', async () => {
    const farm = await startInProcessFarm([1, 2, 3], { lb: 'reuseport' });
    try {
      await farm.waitConverged();
      const user = `rp${Math.floor(Math.random() * 1e9)}`;
      const uasPort = await freePort();
      await register(farm, user, uasPort);
      const callee = sipp(['-sf', sc('uas.xml'), '-i', '127.0.0.1', '-p', String(uasPort), '-m', '60'], { timeoutS: 40 });
      const caller = await sipp(['-sf', sc('uac.xml'), '-s', user, '-i', '127.0.0.1', '-p', String(await freePort()), '-m', '60', '-r', '40', '-d', '50', `127.0.0.1:${farm.vip.port}`], { timeoutS: 40 }).done;
      const u = await callee.done;
      expect(caller.failed, caller.stdout.slice(-2000)).toBe(0);
      expect(caller.successful).toBe(60);
      expect(u.failed).toBe(0);
      let relayed = 0;
      let fromLb = 0;
      for (const m of farm.members.values()) {
        const c = (n: string): number => m.outcomes.getByValue(n) ?? 0;
        relayed += c('relayed_branch') + c('relayed_route_token') + c('relayed_ring');
        fromLb += m.outcomes.total() - c('relayed_in') - c('second_chance_returned');
        // Every member got its share straight from the kernel's random pick.
        expect(m.outcomes.total() - c('relayed_in')).toBeGreaterThan(0);
        expect(m.fastPath).toBe('native');
      }
      expect(relayed / fromLb).toBeGreaterThan(0.45);
      expect(relayed / fromLb).toBeLessThan(0.85);
    } finally {
      await farm.stop();
    }
  }, 60_000);
});
