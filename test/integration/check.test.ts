/**
 * `sipfarm check` against a real member namespace: every failure mode is detected, and
 * every printed fix command, executed exactly as printed, makes the check pass.
 *
 * Topology (built here; documentation ranges only, only inside our namespaces):
 *   <p>m  member 1: eth0 203.0.113.11/24, lo + VIP 198.51.100.100/32
 *   <p>p  member 2: eth0 203.0.113.12/24 (sends heartbeats in one test)
 * Needs root and `ip netns`; skipped otherwise. Namespaces are removed in afterAll.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/cli/config.js';
import { runCheck } from '../../src/cli/check.js';
import { checkHost, type CheckId, type CheckResult } from '../../src/lb/check/index.js';
import { EnvelopeKind, EnvelopeSequencer, deriveEnvelopeKey, encodeEnvelope, newEnvelopeHeader } from '../../src/farm/envelope.js';

const PATH = `${process.env.PATH ?? '/usr/bin:/bin'}:/usr/sbin:/sbin`;
const root = typeof process.getuid === 'function' && process.getuid() === 0;
const hasNetns = root && spawnSync('ip', ['netns', 'list'], { env: { ...process.env, PATH } }).status === 0;

const P = `sfck${randomBytes(3).toString('hex')}`;
const NS_M = `${P}m`;
const NS_P = `${P}p`;
const VIP = '198.51.100.100';
const KEY = 'check-test-key-0123456789abcdef';
const YAML = `
vip: ${VIP}:5060
key: "${KEY}"
members:
  - { id: 1, address: 203.0.113.11:5080 }
  - { id: 2, address: 203.0.113.12:5080 }
`;

function sh(cmd: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('sh', ['-c', cmd], { env: { ...process.env, PATH }, timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr });
    });
  });
}

async function must(cmd: string): Promise<void> {
  const r = await sh(cmd);
  if (r.code !== 0) throw new Error(`${cmd}: ${r.out}`);
}

const cfg = parseConfig(YAML);
let dir = '';
let cfgPath = '';

async function check(wait = 0): Promise<CheckResult[]> {
  return checkHost(cfg, 1, { netns: NS_M, heartbeatWaitMs: wait });
}

function byId(rs: CheckResult[], id: CheckId): CheckResult {
  const r = rs.find((x) => x.id === id);
  if (r === undefined) throw new Error(`no result ${id}`);
  return r;
}

/** Break something, see `ids` fail, run every printed fix verbatim, see everything pass. */
async function breakAndFix(breakCmds: string[], ids: CheckId[]): Promise<string[]> {
  for (const c of breakCmds) await must(c);
  const broken = await check();
  for (const id of ids) expect(byId(broken, id).status, `${id} after: ${breakCmds.join('; ')}`).toBe('fail');
  const fixes = [...new Set(broken.filter((r) => r.status === 'fail').flatMap((r) => r.fix ?? []))];
  expect(fixes.length).toBeGreaterThan(0);
  for (const f of fixes) {
    expect(f.startsWith(`ip netns exec ${NS_M} `)).toBe(true);
    expect(f).not.toMatch(/<[a-z]+>/); // no placeholders for these failure modes
    await must(f);
  }
  const fixed = await check();
  expect(fixed.filter((r) => r.status === 'fail')).toEqual([]);
  return fixes;
}

describe.skipIf(!hasNetns)('sipfarm check in a member namespace', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sfcheck-'));
    cfgPath = join(dir, 'farm.yaml');
    writeFileSync(cfgPath, YAML);
    await must(`ip netns add ${NS_M}`);
    await must(`ip netns add ${NS_P}`);
    await must(`ip -n ${NS_M} link add eth0 type veth peer name eth0 netns ${NS_P}`);
    for (const [ns, a] of [[NS_M, '203.0.113.11'], [NS_P, '203.0.113.12']]) {
      await must(`ip -n ${ns} link set lo up`);
      await must(`ip -n ${ns} addr add ${a}/24 dev eth0`);
      await must(`ip -n ${ns} link set eth0 up`);
    }
    // The healthy member.
    await must(`ip -n ${NS_M} addr add ${VIP}/32 dev lo`);
    for (const [k, v] of [['arp_ignore', 1], ['arp_announce', 2], ['rp_filter', 2]] as const) {
      await must(`ip netns exec ${NS_M} sysctl -qw net.ipv4.conf.all.${k}=${v}`);
      await must(`ip netns exec ${NS_M} sysctl -qw net.ipv4.conf.eth0.${k}=0`);
    }
  });

  afterAll(async () => {
    for (const ns of [NS_M, NS_P]) await sh(`ip netns pids ${ns} | xargs -r kill -9; ip netns del ${ns}`);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a ready member passes, and runCheck exits 0 and prints "ready for DSR"', async () => {
    const rs = await check();
    expect(rs.filter((r) => r.status === 'fail')).toEqual([]);
    for (const id of ['vip-on-lo', 'vip-not-elsewhere', 'arp-ignore', 'arp-announce', 'rp-filter', 'vip-bind', 'vip-source', 'member-address', 'farm-bind', 'peer-route', 'clock'] as const) {
      expect(byId(rs, id).status, id).toBe('pass');
    }
    expect(byId(rs, 'vip-source').summary).toContain(`source ${VIP}`);
    let text = '';
    const code = await runCheck(['--config', cfgPath, '--member', '1', '--netns', NS_M, '--heartbeat-wait', '0'], { write: (s: string) => (text += s) });
    expect(code).toBe(0);
    expect(text).toContain('ready for DSR');
  });

  it('arp_ignore=0 is detected and fixed', async () => {
    const fixes = await breakAndFix([`ip netns exec ${NS_M} sysctl -qw net.ipv4.conf.all.arp_ignore=0`], ['arp-ignore']);
    expect(fixes).toEqual([`ip netns exec ${NS_M} sysctl -w net.ipv4.conf.all.arp_ignore=1`]);
  });

  it('arp_announce=0 is detected and fixed', async () => {
    const fixes = await breakAndFix([`ip netns exec ${NS_M} sysctl -qw net.ipv4.conf.all.arp_announce=0`], ['arp-announce']);
    expect(fixes).toEqual([`ip netns exec ${NS_M} sysctl -w net.ipv4.conf.all.arp_announce=2`]);
  });

  it('strict rp_filter is detected whether set on all or on the interface, and fixed', async () => {
    await breakAndFix([`ip netns exec ${NS_M} sysctl -qw net.ipv4.conf.all.rp_filter=1`], ['rp-filter']);
    // all=0 with eth0=1: max(0, 1) = 1 is in force on eth0.
    await breakAndFix(
      [`ip netns exec ${NS_M} sysctl -qw net.ipv4.conf.all.rp_filter=0`, `ip netns exec ${NS_M} sysctl -qw net.ipv4.conf.eth0.rp_filter=1`],
      ['rp-filter'],
    );
    await must(`ip netns exec ${NS_M} sysctl -qw net.ipv4.conf.eth0.rp_filter=0`);
  });

  it('a missing VIP on lo is detected (and the binds fail), and fixed', async () => {
    const fixes = await breakAndFix([`ip -n ${NS_M} addr del ${VIP}/32 dev lo`], ['vip-on-lo', 'vip-bind', 'vip-source']);
    expect(fixes).toEqual([`ip netns exec ${NS_M} ip addr add ${VIP}/32 dev lo`]);
  });

  it('the VIP on lo with a wide prefix, or on eth0, is detected and fixed', async () => {
    await breakAndFix([`ip -n ${NS_M} addr del ${VIP}/32 dev lo`, `ip -n ${NS_M} addr add ${VIP}/24 dev lo`], ['vip-on-lo']);
    await breakAndFix([`ip -n ${NS_M} addr add ${VIP}/32 dev eth0`], ['vip-not-elsewhere']);
  });

  it('a wrong member address is detected and fixed on the right interface', async () => {
    const fixes = await breakAndFix(
      [`ip -n ${NS_M} addr del 203.0.113.11/24 dev eth0`, `ip -n ${NS_M} addr add 203.0.113.21/24 dev eth0`],
      ['member-address', 'farm-bind'],
    );
    expect(fixes).toEqual([`ip netns exec ${NS_M} ip addr add 203.0.113.11/24 dev eth0`]);
    // Deleting the primary .21 would take the secondary .11 with it: start over.
    await must(`ip -n ${NS_M} addr flush dev eth0`);
    await must(`ip -n ${NS_M} addr add 203.0.113.11/24 dev eth0`);
  });

  it('sysctl/lo-vip.sh up makes a bare member ready; down takes the VIP away', async () => {
    await must(`ip -n ${NS_M} addr del ${VIP}/32 dev lo`);
    for (const k of ['arp_ignore', 'arp_announce', 'rp_filter']) await must(`ip netns exec ${NS_M} sysctl -qw net.ipv4.conf.all.${k}=${k === 'rp_filter' ? 1 : 0}`);
    expect((await check()).filter((r) => r.status === 'fail').map((r) => r.id)).toEqual(
      expect.arrayContaining(['vip-on-lo', 'arp-ignore', 'arp-announce', 'rp-filter']),
    );
    const script = resolve(import.meta.dirname, '../../sysctl/lo-vip.sh');
    await must(`ip netns exec ${NS_M} sh ${script} up ${VIP}`);
    await must(`ip netns exec ${NS_M} sh ${script} up ${VIP}`); // idempotent
    expect((await check()).filter((r) => r.status === 'fail')).toEqual([]);
    await must(`ip netns exec ${NS_M} sh ${script} down ${VIP}`);
    expect(byId(await check(), 'vip-on-lo').status).toBe('fail');
    await must(`ip netns exec ${NS_M} sh ${script} up ${VIP}`);
  });

  it('checking as the wrong member says which member this host is', async () => {
    const rs = await checkHost(cfg, 2, { netns: NS_M, heartbeatWaitMs: 0 });
    const r = byId(rs, 'member-address');
    expect(r.status).toBe('fail');
    expect(r.detail).toContain('member 1');
    // Member 2's address is local to its own namespace only; from here it is a peer route.
    let text = '';
    expect(await runCheck(['--config', cfgPath, '--member', '2', '--netns', NS_M, '--heartbeat-wait', '0'], { write: (s: string) => (text += s) })).toBe(1);
    expect(text).toMatch(/FAIL member-address/);
  });

  it('an unroutable peer is a failure with a route template', async () => {
    await must(`ip -n ${NS_P} link set eth0 down`); // the veth peer down takes the carrier away on our side too
    await must(`ip -n ${NS_M} addr flush dev eth0`);
    await must(`ip -n ${NS_M} addr add 203.0.113.11/32 dev eth0`);
    try {
      const rs = await check();
      const r = byId(rs, 'peer-route');
      expect(r.status).toBe('fail');
      expect(r.fixIsTemplate).toBe(true);
      expect(r.fix).toEqual([`ip netns exec ${NS_M} ip route add 203.0.113.12/32 via <gateway> dev <iface>`]);
    } finally {
      await must(`ip -n ${NS_M} addr flush dev eth0`);
      await must(`ip -n ${NS_M} addr add 203.0.113.11/24 dev eth0`);
      await must(`ip -n ${NS_P} link set eth0 up`);
    }
  });

  it('heartbeats from a running peer are seen; a peer with another key is reported', async () => {
    // Member 2 stand-in: real heartbeat envelopes (the member's own encoder), sent from
    // its namespace to member 1's farm port every 100 ms for a bounded 4 s.
    const burst = (secret: string): string[] => {
      const key = deriveEnvelopeKey(secret);
      const seq = new EnvelopeSequencer();
      return Array.from({ length: 40 }, () => {
        const h = newEnvelopeHeader();
        h.kind = EnvelopeKind.HEARTBEAT;
        h.origin = 2;
        h.family = 0;
        seq.stamp(h);
        return encodeEnvelope(h, Buffer.from('{}'), key).toString('base64');
      });
    };
    const sender = (msgs: string[]): ReturnType<typeof spawn> =>
      spawn('ip', ['netns', 'exec', NS_P, process.execPath, '-e', `
        const s = require('node:dgram').createSocket('udp4'); const m = JSON.parse(process.argv[1]); let i = 0;
        const t = setInterval(() => { if (i >= m.length) { clearInterval(t); s.close(); return; } s.send(Buffer.from(m[i++], 'base64'), 5080, '203.0.113.11'); }, 100);`,
        JSON.stringify(msgs)], { env: { ...process.env, PATH }, stdio: 'ignore' });

    const good = sender(burst(KEY));
    try {
      const rs = await check(1500);
      expect(byId(rs, 'peer-heartbeat').status).toBe('pass');
      expect(byId(rs, 'peer-heartbeat').summary).toContain('members 2');
    } finally {
      good.kill('SIGKILL');
    }
    const bad = sender(burst('some-other-farm-key-0123456789'));
    try {
      const rs = await check(1500);
      const r = byId(rs, 'peer-heartbeat');
      expect(r.status).toBe('warn');
      expect(r.summary).toMatch(/\d+ BAD_MAC/);
      expect(r.detail).toContain('different farm key');
    } finally {
      bad.kill('SIGKILL');
    }
  });
});
