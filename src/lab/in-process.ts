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
  opts: {
    mode?: 'random' | 'flow';
    yaml?: string;
    /** configured but not started: join() them later */
    later?: number[];
    /**
     * 'stand-in' (default): one socket on the VIP hands each datagram to a member in-process.
     * 'reuseport': every member binds the VIP itself with SO_REUSEPORT and the kernel picks a
     * random one per datagram (classic BPF) — needs the native addon; `mode` is ignored.
     */
    lb?: 'stand-in' | 'reuseport';
  } = {},
): Promise<InProcessFarm> {
  const reuseport = opts.lb === 'reuseport';
  const lb = dgram.createSocket('udp4');
  if (!reuseport) await new Promise<void>((r) => lb.bind(0, '127.0.0.1', () => r()));
  const vipPort = reuseport ? await freeUdpPort() : lb.address().port;
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
  /** reuseport: (re)attach the random spreading program to the group's current size. */
  const spread = (): void => {
    const any = [...members.values()].at(-1);
    if (reuseport && any !== undefined && !any.spreadVipRandomly(members.size)) {
      throw new Error('one-host mode with SO_REUSEPORT needs the native addon (npm run native:build)');
    }
  };
  const startMember = async (id: number): Promise<FarmMember> => {
    const log = createLogger({ level: 'error', member: id });
    const m = new FarmMember(reuseport ? { config, memberId: id, log, reusePort: true, native: true } : { config, memberId: id, log, vipTransport: { send } });
    await m.start();
    members.set(id, m);
    return m;
  };
  const later = new Set(opts.later ?? []);
  for (const id of ids) if (!later.has(id)) await startMember(id);
  spread();
  const farm: InProcessFarm = {
    vip: { host: '127.0.0.1', port: vipPort },
    config,
    members,
    lbSet: ids.filter((id) => !later.has(id)),
    async join(id) {
      const m = await startMember(id);
      farm.lbSet = [...farm.lbSet, id];
      spread();
      return m;
    },
    async kill(id) {
      const m = members.get(id);
      members.delete(id);
      if (m) await m.stop();
      spread();
    },
    async stop() {
      for (const m of members.values()) await m.stop();
      members.clear();
      if (!reuseport) await new Promise<void>((r) => lb.close(() => r()));
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
