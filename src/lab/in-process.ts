/**
 * A whole farm in one process on loopback ("one-host mode"), for the demo and for fast
 * tests that need no root:
 * one UDP socket plays the VIP and a stateless LB that hands each datagram to a random
 * member (in-process), members answer through that same socket (as DSR members answer
 * from the VIP), and the farm channel between members is real UDP with real envelopes.
 */
import * as dgram from 'node:dgram';
import { parseConfig, type FarmConfig } from '../cli/config.js';
import { FarmMember } from '../farm/member.js';
import { createLogger } from '../util/log.js';
import { freeUdpPort } from './sipp.js';

export interface InProcessFarm {
  vip: { host: string; port: number };
  config: FarmConfig;
  members: Map<number, FarmMember>;
  /** Member ids the LB sprays to (a test removes a killed member, as an LB health check would). */
  lbSet: number[];
  kill(id: number): Promise<void>;
  /** Start a member listed in `opts.later` (it joins a running farm) and add it to the LB. */
  join(id: number): Promise<FarmMember>;
  stop(): Promise<void>;
  waitConverged(timeoutMs?: number): Promise<void>;
}

export async function startInProcessFarm(
  ids: number[],
  opts: { mode?: 'random' | 'flow'; yaml?: string; /** configured but not started: join() them later */ later?: number[] } = {},
): Promise<InProcessFarm> {
  const lb = dgram.createSocket('udp4');
  await new Promise<void>((r) => lb.bind(0, '127.0.0.1', () => r()));
  const vipPort = lb.address().port;
  // Farm channel ports: ask the kernel for free ones.
  const farmPorts: number[] = [];
  for (const _ of ids) farmPorts.push(await freeUdpPort());
  // Fast liveness for one host; `opts.yaml` may override any of these top-level keys.
  const extra = opts.yaml ?? '';
  const defaults = ['heartbeat: { intervalMs: 50, deadAfterMs: 1000 }', 'graceMs: 2000', 'log: { level: error, samplePerSecond: 5 }']
    .filter((line) => !new RegExp(`^${line.split(':')[0]}:`, 'm').test(extra));
  const yaml = [
    `vip: 127.0.0.1:${vipPort}`,
    'key: in-process-test-key-0123456789',
    ...defaults,
    'members:',
    ...ids.map((id, i) => `  - { id: ${id}, address: 127.0.0.1:${farmPorts[i]} }`),
    extra,
  ].join('\n');
  const config = parseConfig(yaml, 'in-process');
  const members = new Map<number, FarmMember>();
  const send = (buf: Buffer, dest: { address: string; port: number }): void => {
    lb.send(buf, dest.port, dest.address);
  };
  const startMember = async (id: number): Promise<FarmMember> => {
    const m = new FarmMember({ config, memberId: id, log: createLogger({ level: 'error', member: id }), vipTransport: { send } });
    await m.start();
    members.set(id, m);
    return m;
  };
  const later = new Set(opts.later ?? []);
  for (const id of ids) if (!later.has(id)) await startMember(id);
  const farm: InProcessFarm = {
    vip: { host: '127.0.0.1', port: vipPort },
    config,
    members,
    lbSet: ids.filter((id) => !later.has(id)),
    async join(id) {
      const m = await startMember(id);
      farm.lbSet = [...farm.lbSet, id];
      return m;
    },
    async kill(id) {
      const m = members.get(id);
      members.delete(id);
      if (m) await m.stop();
    },
    async stop() {
      for (const m of members.values()) await m.stop();
      members.clear();
      await new Promise<void>((r) => lb.close(() => r()));
    },
    async waitConverged(timeoutMs = 3000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const want = [...members.keys()].sort((a, b) => a - b).join(',');
        if ([...members.values()].every((m) => m.liveIds().join(',') === want)) return;
        if (Date.now() > deadline) throw new Error(`members did not converge on [${want}]`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
  lb.on('message', (buf, r) => {
    const set = farm.lbSet;
    if (set.length === 0) return;
    // Stateless LB: per packet at random, or per flow (source address and port).
    const pick = opts.mode === 'flow' ? set[(hashFlow(r.address, r.port) >>> 0) % set.length] : set[Math.floor(Math.random() * set.length)];
    members.get(pick)?.receiveVip(buf, r.address, r.port);
  });
  return farm;
}

function hashFlow(address: string, port: number): number {
  let h = 0x811c9dc5;
  const s = `${address}:${port}`;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h;
}
