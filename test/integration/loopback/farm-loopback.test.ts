/**
 * The farm on loopback, in one process, with sipp as the real peers: no root needed.
 * The LB stand-in sprays each datagram to a random member, so most packets reach a
 * member that does not own them and must be relayed over the real farm channel.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as dgram from 'node:dgram';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startInProcessFarm, type InProcessFarm } from './farm-in-process.js';
import { SCENARIOS, sipp } from './sipp.js';

function haveSipp(): boolean {
  try {
    execFileSync('sipp', ['-v'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    return (err as { status?: number }).status !== undefined && (err as { code?: string }).code !== 'ENOENT';
  }
}

async function freePort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const p = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

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

  async function callPair(uas: string, uac: string, calls: number, extra: string[] = []): Promise<void> {
    const user = `u${Math.floor(Math.random() * 1e9)}`;
    const uasPort = await freePort();
    await register(farm, user, uasPort);
    const callee = sipp(['-sf', sc(uas), '-i', '127.0.0.1', '-p', String(uasPort), '-m', String(calls), ...extra], { timeoutS: 40 });
    const uacPort = await freePort();
    const caller = sipp(['-sf', sc(uac), '-s', user, '-i', '127.0.0.1', '-p', String(uacPort), '-m', String(calls), '-r', '40', '-d', '50', ...extra, `127.0.0.1:${farm.vip.port}`], { timeoutS: 40 });
    const r = await caller.done;
    const u = await callee.done;
    expect(r.failed, `uac: ${r.stdout.slice(-3000)}\nuas: ${u.stdout.slice(-3000)}`).toBe(0);
    expect(r.successful).toBe(calls);
    expect(u.failed).toBe(0);
  }

  it('INVITE/200/ACK/BYE calls complete and most packets are relayed', async () => {
    await callPair('uas.xml', 'uac.xml', 60);
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
    await callPair('uas-busy.xml', 'uac-busy.xml', 30);
  }, 60_000);

  it('CANCEL before answer', async () => {
    await callPair('uas-cancel.xml', 'uac-cancel.xml', 30);
  }, 60_000);

  it('callee-side BYE', async () => {
    await callPair('uas-calleebye.xml', 'uac-calleebye.xml', 30);
  }, 60_000);
});
