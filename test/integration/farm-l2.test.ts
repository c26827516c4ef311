/**
 * The farm with `relay.mode: l2` in the namespace lab: members relay by re-sending the
 * datagram as a frame to the owner's MAC (AF_PACKET), marked with the loop-guard DSCP;
 * the owner's kernel delivers it to its VIP socket with the client's address intact.
 * Calls through the random-spraying LB must complete exactly as with udp envelopes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Lab } from '../../src/lab/lab.js';
import { labMemberGet, metricFamily, parseMetrics, startLabMember, waitLabFarm, writeLabFarmConfig } from '../../src/lab/farm.js';
import { runNsSipp } from '../../src/lab/ns-sipp.js';
import { SCENARIOS } from '../../src/lab/sipp.js';
import { nativeAvailable } from '../../src/fastpath/native.js';

const unavailable = (await Lab.preflight()) ?? (nativeAvailable() ? undefined : 'the native addon is not built');

describe.skipIf(unavailable !== undefined)('farm with the l2 relay in the lab', () => {
  let lab: Lab;
  const procs: ChildProcess[] = [];
  const IDS = [1, 2, 3];

  beforeAll(async () => {
    lab = await Lab.up({ members: IDS.length, lbMode: 'random' });
    const cfg = writeLabFarmConfig(lab, { relay: 'l2' });
    for (const id of IDS) procs.push(startLabMember(lab, id, cfg));
    await waitLabFarm(lab, IDS);
  }, 60_000);

  afterAll(async () => {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    await lab?.down();
  });

  it('relays by frame and every call completes', async () => {
    for (const id of IDS) expect(JSON.parse((await labMemberGet(lab, id, '/status'))!).relay).toBe('l2');
    const vip = `${lab.vip}:${lab.sipPort}`;
    const reg = await runNsSipp(lab, lab.ns.callee, ['-sf', join(SCENARIOS, 'register.xml'), '-s', 'l2user', '-i', lab.addresses.callee, '-p', '5071', '-m', '1', vip], 10).done;
    expect(reg.successful).toBe(1);
    const callee = runNsSipp(lab, lab.ns.callee, ['-sf', join(SCENARIOS, 'uas.xml'), '-i', lab.addresses.callee, '-p', '5071', '-m', '100'], 40);
    const caller = await runNsSipp(lab, lab.ns.client, ['-sf', join(SCENARIOS, 'uac.xml'), '-s', 'l2user', '-i', lab.addresses.client, '-p', '5061', '-m', '100', '-r', '40', '-d', '100', vip], 40).done;
    const u = await callee.done;
    expect(caller.failed, caller.stderr).toBe(0);
    expect(caller.successful).toBe(100);
    expect(u.failed).toBe(0);
    let sent = 0;
    let markedIn = 0;
    let envelopesIn = 0;
    for (const id of IDS) {
      const m = parseMetrics((await labMemberGet(lab, id, '/metrics'))!);
      const l2 = metricFamily(m, 'sipfarm_l2_relay_total', 'event');
      sent += l2.sent ?? 0;
      markedIn += l2.marked_in ?? 0;
      envelopesIn += metricFamily(m, 'sipfarm_packets_total', 'outcome').relayed_in ?? 0;
      console.log(`m${id} l2 ${JSON.stringify(l2)}`);
    }
    // Relays went out as frames and came in marked; none bounced (the guard held).
    expect(sent).toBeGreaterThan(200);
    expect(markedIn).toBe(sent);
    expect(envelopesIn).toBeGreaterThanOrEqual(markedIn);
  }, 90_000);
});
