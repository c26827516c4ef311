/**
 * The LB health checker: its decisions with a scripted prober (no I/O), and the SIP
 * OPTIONS prober against real UDP responders on loopback.
 */
import * as dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { HealthChecker, HealthError, SipOptionsProber, healthProbeRequest, type HealthEvent, type HealthTarget } from '../../../src/lb/health.js';

const M = (id: number): HealthTarget => ({ id, address: `203.0.113.${10 + id}`, port: 5060, mac: `02:53:46:01:00:0${id}` });
const MEMBERS = [M(1), M(2), M(3)];

/** A checker whose probe answers come from `script[id]` (status per round, last one repeats). */
function scripted(script: Record<number, number[]>, retries = 3) {
  const applied: number[][] = [];
  const events: HealthEvent[] = [];
  let round = 0;
  const checker = new HealthChecker({
    members: MEMBERS,
    intervalMs: 1000,
    retries,
    probe: async (m) => {
      const s = script[m.id] ?? [200];
      return { status: s[Math.min(round, s.length - 1)] };
    },
    apply: async (live) => void applied.push(live.map((m) => m.id)),
    onEvent: (e) => void events.push(e),
  });
  const next = async (): Promise<void> => {
    await checker.round();
    round++;
  };
  return { checker, applied, events, next };
}

describe('HealthChecker', () => {
  it('writes the live set on the first round, then only on changes', async () => {
    const h = scripted({});
    await h.next();
    await h.next();
    expect(h.applied).toEqual([[1, 2, 3]]);
    expect(h.checker.live()).toEqual([1, 2, 3]);
  });

  it('a member that misses `retries` probes in a row is removed; one 200 restores it', async () => {
    const h = scripted({ 2: [200, 0, 0, 0, 0, 200] }, 3);
    for (let i = 0; i < 3; i++) await h.next(); // rounds 0..2: one answer, two misses
    expect(h.checker.live()).toEqual([1, 2, 3]);
    await h.next(); // third miss
    expect(h.checker.live()).toEqual([1, 3]);
    expect(h.applied.at(-1)).toEqual([1, 3]);
    expect(h.events).toEqual([{ id: 2, from: 'up', to: 'down', reason: '3 probe(s) unanswered' }]);
    await h.next(); // still missing: no new write
    expect(h.applied.length).toBe(2);
    await h.next(); // 200 again
    expect(h.checker.live()).toEqual([1, 2, 3]);
    expect(h.applied.at(-1)).toEqual([1, 2, 3]);
    expect(h.checker.states().find((s) => s.id === 2)).toMatchObject({ state: 'up', misses: 0, lastStatus: 200 });
  });

  it('a misses counter is reset by an answer (no removal on scattered losses)', async () => {
    const h = scripted({ 1: [0, 0, 200, 0, 0, 200] }, 3);
    for (let i = 0; i < 6; i++) await h.next();
    expect(h.checker.live()).toEqual([1, 2, 3]);
    expect(h.applied).toEqual([[1, 2, 3]]);
  });

  it('503 (draining) removes the member at once, without waiting for retries', async () => {
    const h = scripted({ 3: [200, 503, 503, 200] }, 5);
    await h.next();
    await h.next();
    expect(h.checker.live()).toEqual([1, 2]);
    expect(h.events[0]).toMatchObject({ id: 3, from: 'up', to: 'draining' });
    await h.next();
    expect(h.applied).toEqual([[1, 2, 3], [1, 2]]);
    await h.next();
    expect(h.checker.live()).toEqual([1, 2, 3]);
  });

  it('a non-2xx, non-503 answer counts as a miss; a failed write is retried next round', async () => {
    let fail = true;
    const applied: number[][] = [];
    const errors: unknown[] = [];
    const c = new HealthChecker({
      members: MEMBERS, intervalMs: 1000, retries: 1,
      probe: async (m) => ({ status: m.id === 1 ? 404 : 200 }),
      apply: async (live) => {
        if (fail) throw new Error('nft: table not loaded');
        applied.push(live.map((m) => m.id));
      },
      onApplyError: (e) => void errors.push(e),
    });
    await c.round();
    expect(c.live()).toEqual([2, 3]);
    expect(errors.length).toBe(1);
    fail = false;
    await c.round();
    expect(applied).toEqual([[2, 3]]);
  });

  it('a probe that throws is a miss; an empty live set is written too', async () => {
    const applied: number[][] = [];
    const c = new HealthChecker({
      members: [M(1)], intervalMs: 1000, retries: 1,
      probe: async () => {
        throw new Error('EHOSTUNREACH');
      },
      apply: async (live) => void applied.push(live.map((m) => m.id)),
    });
    await c.round();
    expect(applied).toEqual([[]]);
  });

  it('refuses bad options with a stable code', () => {
    const base = { members: MEMBERS, intervalMs: 1000, retries: 3, probe: async () => ({ status: 200 }), apply: async () => {} };
    expect(() => new HealthChecker({ ...base, retries: 0 })).toThrow(HealthError);
    expect(() => new HealthChecker({ ...base, members: [M(1), M(1)] })).toThrow(expect.objectContaining({ code: 'ERR_HEALTH_OPTIONS' }));
  });

  it('start() probes every interval until stop()', async () => {
    let probes = 0;
    const c = new HealthChecker({ members: [M(1)], intervalMs: 20, retries: 1, probe: async () => (probes++, { status: 200 }), apply: async () => {} });
    c.start();
    await new Promise((r) => setTimeout(r, 110));
    await c.stop();
    const n = probes;
    expect(n).toBeGreaterThanOrEqual(3);
    await new Promise((r) => setTimeout(r, 60));
    expect(probes).toBe(n);
  });
});

describe('SipOptionsProber (loopback)', () => {
  const sockets: dgram.Socket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) await new Promise<void>((r) => s.close(() => r()));
  });

  /** A UDP "member" answering each OPTIONS with `status` (after `delayMs`), echoing the Via. */
  async function responder(status: number, delayMs = 0): Promise<{ port: number; seen: string[] }> {
    const s = dgram.createSocket('udp4');
    sockets.push(s);
    const seen: string[] = [];
    s.on('message', (m, r) => {
      const req = m.toString();
      seen.push(req);
      const via = /^Via: .*$/m.exec(req)?.[0] ?? '';
      const answer = (code: number): Buffer => Buffer.from(`SIP/2.0 ${code} X\r\n${via}\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`);
      setTimeout(() => {
        s.send(answer(100), r.port, r.address); // provisional: must be ignored
        s.send(answer(status), r.port, r.address);
      }, delayMs);
    });
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    return { port: s.address().port, seen };
  }

  it('sends a user-less OPTIONS with Max-Forwards 0 and rport, and reads the final status and its source', async () => {
    const up = await responder(200);
    const draining = await responder(503);
    const p = await SipOptionsProber.open({ source: '127.0.0.1', vip: '203.0.113.100', timeoutMs: 500 });
    try {
      const a = await p.probe({ id: 1, address: '127.0.0.1', port: up.port });
      expect(a).toEqual({ status: 200, from: { address: '127.0.0.1', port: up.port } });
      expect(up.seen[0]).toMatch(/^OPTIONS sip:203\.0\.113\.100 SIP\/2\.0\r\n/);
      expect(up.seen[0]).toContain('\r\nMax-Forwards: 0\r\n');
      expect(up.seen[0]).toMatch(new RegExp(`\\r\\nVia: SIP/2\\.0/UDP 127\\.0\\.0\\.1:${p.local.port};rport;branch=z9hG4bK-lbh1-`));
      expect((await p.probe({ id: 2, address: '127.0.0.1', port: draining.port })).status).toBe(503);
    } finally {
      await p.close();
    }
  });

  it('no answer in time is status 0, and a late answer is not taken for the next probe', async () => {
    const slow = await responder(200, 150);
    const p = await SipOptionsProber.open({ source: '127.0.0.1', vip: '203.0.113.100', timeoutMs: 80 });
    try {
      expect((await p.probe({ id: 1, address: '127.0.0.1', port: slow.port })).status).toBe(0);
      // The answer to probe 1 arrives while probe 2 waits: different branch, ignored.
      const second = p.probe({ id: 1, address: '127.0.0.1', port: slow.port });
      expect((await second).status).toBe(0);
    } finally {
      await p.close();
    }
  });

  it('the probe text is well formed', () => {
    const r = healthProbeRequest('198.51.100.10', { address: '203.0.113.1', port: 40000 }, 'z9hG4bK-lbh1-abc', 'lbh-1@203.0.113.1');
    expect(r.split('\r\n').slice(0, 3)).toEqual(['OPTIONS sip:198.51.100.10 SIP/2.0', 'Via: SIP/2.0/UDP 203.0.113.1:40000;rport;branch=z9hG4bK-lbh1-abc', 'Max-Forwards: 0']);
    expect(r.endsWith('Content-Length: 0\r\n\r\n')).toBe(true);
  });
});
