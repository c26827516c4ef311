/**
 * The network-namespace lab: topology, the nftables DSR load balancer (random and
 * per-flow), clean teardown, and the sipp scenario pairs validated client ↔ callee
 * directly (without the farm).
 *
 * Needs root and `ip netns`; skipped otherwise (CI runs it as root).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, LabError } from '../../src/lab/lab.js';
import { nftablesDsrRuleset, NftablesConfigError, parseDsrRuleset } from '../../src/lb/nftables.js';
import { netnsWithPrefix, rootSnapshot } from './helpers/root-snapshot.js';
import { runSipp } from './helpers/sipp-ns.js';
import { probeVip, startResponders } from './helpers/udp-probe.js';

const REPO = resolve(import.meta.dirname, '../..');
const unavailable = await Lab.preflight();

describe('nftablesDsrRuleset', () => {
  const base = {
    iface: 'eth0',
    vip: '203.0.113.100',
    port: 5060,
    lbMac: '02:53:46:00:00:01',
    members: [
      { id: 2, mac: '02:53:46:01:00:02' },
      { id: 1, mac: '02:53:46:01:00:01' },
    ],
  };

  it('random mode: netdev ingress, MAC rewrite, numgen over the slot map in id order, fwd back out', () => {
    const text = nftablesDsrRuleset({ ...base, mode: 'random' });
    expect(text).toContain('table netdev sipfarm_dsr {');
    expect(text).toContain('type filter hook ingress device "eth0" priority 0; policy accept;');
    expect(text).toContain(
      'ip daddr 203.0.113.100 udp dport 5060 ether saddr set 02:53:46:00:00:01 ether daddr set numgen random mod 240 map @slots counter fwd to "eth0"',
    );
    expect(text).toContain('elements = { 0 : 02:53:46:01:00:01, 1 : 02:53:46:01:00:02, 2 : 02:53:46:01:00:01,');
    // Atomic replace: the table is declared, deleted and recreated in one transaction.
    expect(text.indexOf('delete table netdev sipfarm_dsr')).toBeLessThan(text.lastIndexOf('table netdev sipfarm_dsr {'));
    expect(text).not.toContain('tcp');
  });

  it('flow mode hashes source address and port; TCP is always per flow', () => {
    const text = nftablesDsrRuleset({ ...base, mode: 'flow', tcp: true, table: 'lb1' });
    expect(text).toMatch(/udp dport 5060 .*jhash ip saddr \. udp sport mod 240 seed 0x[0-9a-f]+ map @slots/);
    expect(text).toMatch(/tcp dport 5060 .*jhash ip saddr \. tcp sport mod 240 seed 0x[0-9a-f]+ map @slots/);
    expect(text).toContain('table netdev lb1 {');
    const random = nftablesDsrRuleset({ ...base, mode: 'random', tcp: true });
    expect(random).toMatch(/tcp dport 5060 .*jhash ip saddr \. tcp sport/);
  });

  it('no live member: the slot map is empty and datagrams for the VIP end in the drop rules', () => {
    const text = nftablesDsrRuleset({ ...base, live: [], mode: 'random' });
    expect(text).toContain('ip daddr 203.0.113.100 udp dport 5060 counter drop');
    expect(text).toContain('ip daddr 203.0.113.100 ip protocol udp ip frag-off & 0x3fff != 0 counter drop');
    expect(text).not.toContain('elements');
    expect(nftablesDsrRuleset({ ...base, members: [], mode: 'random' })).not.toContain('elements');
  });

  it('refuses bad input with a stable code', () => {
    const codeOf = (f: () => unknown): string | undefined => {
      try {
        f();
      } catch (e) {
        return e instanceof NftablesConfigError ? e.code : 'other';
      }
      return undefined;
    };
    expect(codeOf(() => nftablesDsrRuleset({ ...base, mode: 'random', lbMac: '02:53:46:00:00' }))).toBe('ERR_NFT_MAC');
    expect(codeOf(() => nftablesDsrRuleset({ ...base, mode: 'random', vip: '203.0.113.300' }))).toBe('ERR_NFT_ADDRESS');
    expect(codeOf(() => nftablesDsrRuleset({ ...base, mode: 'random', port: 0 }))).toBe('ERR_NFT_PORT');
    expect(codeOf(() => nftablesDsrRuleset({ ...base, mode: 'random', iface: 'eth0"; flush ruleset' }))).toBe('ERR_NFT_IFACE');
    expect(codeOf(() => nftablesDsrRuleset({ ...base, mode: 'random', members: [base.members[0], base.members[0]] }))).toBe('ERR_NFT_MEMBER');
    expect(codeOf(() => nftablesDsrRuleset({ ...base, mode: 'random', live: [9] }))).toBe('ERR_NFT_MEMBER');
    const media = (a: [number, number], b: [number, number]) => [
      { ...base.members[0], mediaPorts: { first: a[0], last: a[1] } },
      { ...base.members[1], mediaPorts: { first: b[0], last: b[1] } },
    ];
    expect(codeOf(() => nftablesDsrRuleset({ ...base, mode: 'random', members: media([20000, 29999], [29000, 39999]) }))).toBe('ERR_NFT_PORT');
    expect(codeOf(() => nftablesDsrRuleset({ ...base, mode: 'random', members: media([5000, 5999], [30000, 39999]) }))).toBe('ERR_NFT_PORT');
    // The same range on another media address than the VIP may include 5060.
    expect(codeOf(() => nftablesDsrRuleset({ ...base, mode: 'random', mediaAddress: '203.0.113.200', members: media([5000, 5999], [30000, 39999]) }))).toBeUndefined();
  });
});

describe.skipIf(unavailable !== undefined)('network-namespace lab', () => {
  let before = '';
  let lab: Lab | undefined;

  beforeAll(async () => {
    before = rootSnapshot();
    lab = await Lab.up({ members: 3, lbMode: 'random' });
  });

  afterAll(async () => {
    await lab?.down();
  });

  const L = (): Lab => {
    if (!lab) throw new Error('lab is not up');
    return lab;
  };

  it('builds the topology inside its own namespaces only', async () => {
    const lab = L();
    expect(netnsWithPrefix(lab.prefix).sort()).toEqual(lab.allNamespaces().sort());
    const m2 = await lab.exec(lab.memberNs(2), 'ip', ['-o', '-4', 'addr']);
    expect(m2.stdout).toContain('inet 203.0.113.12/24');
    expect(m2.stdout).toMatch(/lo\s+inet 203\.0\.113\.100\/32/);
    const sysctl = await lab.exec(lab.memberNs(2), 'sysctl', ['-n', 'net.ipv4.conf.eth0.arp_ignore', 'net.ipv4.conf.all.arp_announce', 'net.ipv4.conf.eth0.rp_filter']);
    expect(sysctl.stdout.trim().split('\n')).toEqual(['1', '2', '0']);
    const route = await lab.exec(lab.ns.client, 'ip', ['route', 'get', lab.vip]);
    expect(route.stdout).toContain('via 198.51.100.1 dev eth0');
    const rules = await lab.exec(lab.ns.lb, 'nft', ['list', 'ruleset']);
    expect(rules.stdout).toContain('numgen random mod 240 map @slots');
    // Single-IP media ranges map to their members.
    expect(rules.stdout).toContain('udp dport 10500-10999 ether saddr set 02:53:46:00:00:01 ether daddr set 02:53:46:01:00:02');
    expect(lab.lbMembers).toEqual([1, 2, 3]);
    // The bridge learnt every host's MAC while the lab came up.
    const fdb = await lab.exec(lab.ns.switch, 'bridge', ['fdb', 'show', 'br', 'br0']);
    for (const id of lab.memberIds) expect(fdb.stdout).toContain(`${lab.memberMac(id)} dev p-m${id}`);
    // `ip netns exec` execs in place: the child's PID is the command itself.
    const child = lab.spawn(lab.ns.client, 'sleep', ['5']);
    await new Promise((r) => setTimeout(r, 100));
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(`/proc/${child.pid}/comm`, 'utf8').trim()).toBe('sleep');
    child.kill('SIGKILL');
  });

  it('refuses a second lab with the same prefix and leaves the first intact', async () => {
    const lab = L();
    await expect(Lab.up({ prefix: lab.prefix })).rejects.toMatchObject({ code: 'ERR_LAB_EXISTS' });
    expect(netnsWithPrefix(lab.prefix).sort()).toEqual(lab.allNamespaces().sort());
    expect(() => lab.spawn('not-a-lab-ns', 'true', [])).toThrow(LabError);
  });

  it('can be found and re-attached by prefix (what `sipfarm lab status|down` does)', async () => {
    const lab = L();
    expect(await Lab.list()).toContain(lab.prefix);
    await lab.setLbMembers([1, 3]);
    try {
      const again = await Lab.attach(lab.prefix);
      expect(again.ns).toEqual(lab.ns);
      expect(again.lbMode).toBe('random');
      expect(again.lbMembers).toEqual([1, 3]);
      const st = await again.status();
      expect(st.missing).toEqual([]);
      expect(st.present.sort()).toEqual(lab.allNamespaces().sort());
      expect(parseDsrRuleset(st.lbRuleset)).toEqual({ mode: 'random', liveMacs: [lab.memberMac(1), lab.memberMac(3)] });
    } finally {
      await lab.setLbMembers([1, 2, 3]);
    }
    await expect(Lab.attach('sfnosuchlab-')).rejects.toMatchObject({ code: 'ERR_LAB_NOT_FOUND' });
  });

  it('random mode: every member answers, from the VIP, directly (DSR)', async () => {
    const lab = L();
    const responders = await startResponders(lab);
    try {
      const [answers] = await probeVip(lab, 1, 60);
      expect(answers.length).toBeGreaterThanOrEqual(57); // a lossless segment; allow a straggler or three
      // Source = VIP: the member answered from its loopback alias, not its own address.
      for (const a of answers) expect(a).toMatch(/^m[123]@203\.0\.113\.100:5060$/);
      const ids = new Set(answers.map((a) => a.slice(0, 2)));
      expect([...ids].sort()).toEqual(['m1', 'm2', 'm3']);
      // The LB never learnt the client's MAC on its own port (source MAC rewrite):
      const fdb = await lab.exec(lab.ns.switch, 'bridge', ['fdb', 'show', 'br', 'br0']);
      expect(fdb.stdout).toMatch(/02:53:46:00:00:0a dev p-client/);
      expect(fdb.stdout).not.toMatch(/02:53:46:00:00:0a dev p-lb/);
      // Replies did not go through the LB: its forward counter saw only the requests.
      const counter = await lab.exec(lab.ns.lb, 'nft', ['list', 'ruleset']);
      const packets = Number(/udp dport 5060 .*counter packets (\d+)/.exec(counter.stdout)?.[1]);
      expect(packets).toBeGreaterThanOrEqual(60);

      // The LB's health check drops member 3: nobody sends to it any more.
      await lab.setLbMembers([1, 2]);
      const [after] = await probeVip(lab, 1, 40);
      expect(after.length).toBeGreaterThanOrEqual(37);
      expect(new Set(after.map((a) => a.slice(0, 2)))).toEqual(new Set(['m1', 'm2']));
      await lab.setLbMembers([1, 2, 3]);
    } finally {
      for (const r of responders) r.kill('SIGTERM');
    }
  });

  it('flow mode: one client port always lands on one member', async () => {
    const lab = L();
    const responders = await startResponders(lab);
    try {
      await lab.setLbMode('flow');
      const perSocket = await probeVip(lab, 12, 8);
      const owners = perSocket.map((answers) => {
        expect(answers.length).toBeGreaterThanOrEqual(7);
        const ids = new Set(answers.map((a) => a.slice(0, 2)));
        expect(ids.size).toBe(1);
        return [...ids][0];
      });
      // 12 flows over 3 members: more than one member is used (P(all on one) = 3^-11).
      expect(new Set(owners).size).toBeGreaterThan(1);
    } finally {
      await lab.setLbMode('random');
      for (const r of responders) r.kill('SIGTERM');
    }
  });

  // The scenario pairs the farm test uses, run caller → callee directly: the scenarios
  // themselves must be right before the farm is blamed for anything.
  const pairs: Array<[string, string, string]> = [
    ['call', 'uac.xml', 'uas.xml'],
    ['busy', 'uac-busy.xml', 'uas-busy.xml'],
    ['cancel', 'uac-cancel.xml', 'uas-cancel.xml'],
    ['callee hangs up', 'uac-calleebye.xml', 'uas-calleebye.xml'],
  ];
  pairs.forEach(([name, uac, uas], i) => {
    it(`sipp pair without the farm: ${name}`, async () => {
      const lab = L();
      const calls = 20;
      const uasPort = 5070 + i;
      const callee = runSipp(lab, lab.ns.callee, { scenario: uas, ip: lab.addresses.callee, port: uasPort, service: 'bob', calls, timeoutS: 25 });
      await new Promise((r) => setTimeout(r, 300)); // let the UAS bind
      const caller = runSipp(lab, lab.ns.client, {
        scenario: uac, ip: lab.addresses.client, port: 5100 + i, service: 'bob', calls, rate: 20, durationMs: 100,
        recvTimeoutMs: 5_000, timeoutS: 25, remote: `${lab.addresses.callee}:${uasPort}`,
      });
      const [c, s] = await Promise.all([caller.done, callee.done]);
      expect({ code: c.code, failed: c.failed, errors: c.errorSample }).toEqual({ code: 0, failed: 0, errors: '' });
      expect(c.successful).toBe(calls);
      expect({ code: s.code, failed: s.failed, errors: s.errorSample }).toEqual({ code: 0, failed: 0, errors: '' });
      expect(s.successful).toBe(calls);
    });
  });

  it('sipp register.xml against a stand-in registrar', async () => {
    const lab = L();
    const registrar = runSipp(lab, lab.ns.client, { scenario: 'uas-register.xml', ip: lab.addresses.client, port: 5090, calls: 1, timeoutS: 10 });
    await new Promise((r) => setTimeout(r, 300));
    const reg = runSipp(lab, lab.ns.callee, {
      scenario: 'register.xml', ip: lab.addresses.callee, port: 5079, service: 'bob', calls: 1, timeoutS: 10, remote: `${lab.addresses.client}:5090`,
    });
    const [r, s] = await Promise.all([reg.done, registrar.done]);
    expect({ code: r.code, successful: r.successful, failed: r.failed }).toEqual({ code: 0, successful: 1, failed: 0 });
    expect(s.code).toBe(0);
  });

  it('down() removes everything and leaves the root namespace unchanged', async () => {
    const lab = L();
    const straggler = lab.spawn(lab.ns.callee, 'sleep', ['30']);
    const gone = new Promise<NodeJS.Signals | null>((r) => straggler.once('exit', (_c, sig) => r(sig)));
    await lab.down();
    expect(await gone).toBe('SIGTERM');
    expect(netnsWithPrefix(lab.prefix)).toEqual([]);
    expect(rootSnapshot()).toBe(before);
    await lab.down(); // idempotent
  });

  const distLab = resolve(REPO, 'dist/lab/lab.js');
  it.skipIf(!existsSync(distLab))('a lab is removed when its process gets SIGTERM without calling down()', async () => {
    const snapshot = rootSnapshot();
    const prefix = `sft${process.pid % 100000}-`;
    const script = `
      const { Lab } = await import(${JSON.stringify(distLab)});
      await Lab.up({ members: 1, prefix: ${JSON.stringify(prefix)} });
      process.stdout.write('up\\n');
      setTimeout(() => process.exit(7), 20000);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    try {
      await new Promise<void>((res, rej) => {
        const t = setTimeout(() => rej(new Error(`child lab did not come up: ${stderr}`)), 20_000);
        child.stdout.setEncoding('utf8').on('data', (d: string) => {
          if (d.includes('up')) {
            clearTimeout(t);
            res();
          }
        });
        child.once('exit', (code) => rej(new Error(`child exited early (${code}): ${stderr}`)));
      });
      expect(netnsWithPrefix(prefix).length).toBe(5);
      const exited = new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_c, sig) => r(sig)));
      child.kill('SIGTERM');
      // The default action is restored after cleanup: the process still dies of SIGTERM.
      expect(await exited).toBe('SIGTERM');
      expect(netnsWithPrefix(prefix)).toEqual([]);
      expect(rootSnapshot()).toBe(snapshot);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      // Should the child have died before its handler ran, do not leave its lab behind.
      const left = netnsWithPrefix(prefix);
      if (left.length > 0) {
        const { destroyLab } = await import('../../src/lab/lab.js');
        await destroyLab(prefix);
      }
    }
  });
});
