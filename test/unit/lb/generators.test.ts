/**
 * LB config generators: golden files (test/vectors/lb/, readable next to the seed's
 * vendor examples) and the properties every format must have for a sipfarm farm —
 * UDP, DSR/no NAT, stateless, no SIP-aware switching, per-member SIP OPTIONS health.
 * Regenerate the goldens with UPDATE_GOLDEN=1 after an intended change, and review the diff.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../../src/cli/config.js';
import { runLbConfig } from '../../../src/cli/lb-config.js';
import { generateLbConfig, lbTarget, LbConfigError, probeRequest, type LbConfigOptions, type LbFormat } from '../../../src/lb/index.js';
import { DSR_SLOTS, dsrSlotMacs, nftablesDsrRuleset, nftablesDsrSetLive, parseDsrRuleset } from '../../../src/lb/nftables.js';

const VEC = resolve(import.meta.dirname, '../../vectors/lb');
const cfg = loadConfig(join(VEC, 'farm.yaml'));
const MACS = { 1: '02:53:46:01:00:01', 2: '02:53:46:01:00:02', 3: '02:53:46:01:00:03' };
const NFT_OPTS: LbConfigOptions = { iface: 'eth1', lbMac: '02:53:46:00:00:01', memberMacs: MACS };

const GOLDEN: { file: string; format: LbFormat; opts: LbConfigOptions }[] = [
  { file: 'alteon.txt', format: 'alteon', opts: {} },
  { file: 'f5.tmsh', format: 'f5', opts: {} },
  { file: 'foundry.txt', format: 'foundry', opts: {} },
  { file: 'ipvs.sh', format: 'ipvs', opts: {} },
  { file: 'ipvs-flow.sh', format: 'ipvs', opts: { mode: 'flow' } },
  { file: 'nftables.nft', format: 'nftables', opts: NFT_OPTS },
  { file: 'nftables-flow.nft', format: 'nftables', opts: { ...NFT_OPTS, mode: 'flow' } },
];

describe('golden files', () => {
  for (const g of GOLDEN) {
    it(`${g.file} matches`, () => {
      const { text, warnings } = generateLbConfig(cfg, g.format, g.opts);
      expect(warnings).toEqual([]);
      const path = join(VEC, g.file);
      if (process.env.UPDATE_GOLDEN === '1' || !existsSync(path)) writeFileSync(path, text);
      expect(text).toBe(readFileSync(path, 'utf8'));
    });
  }
});

describe('what every vendor format says', () => {
  const text = (f: LbFormat, o: LbConfigOptions = {}): string => generateLbConfig(cfg, f, o).text;
  /** The configuration without its comment lines (comments may name what is *not* used). */
  const code = (t: string): string => t.split('\n').filter((l) => !/^\s*(#|!|\/\*)/.test(l)).join('\n');

  it('alteon: UDP, stateless, nonat, no persistent binding, SIP OPTIONS health, every member', () => {
    const t = text('alteon');
    expect(t).toMatch(/\/c\/slb\/virt 1\/service 5060\n\tgroup 1\n\tudp enabled\n\tudp stateless\n\tnonat ena\n\tpbind disabled/);
    expect(t).toContain('\thealth sipoptions');
    expect(t).toContain('\tvip 198.51.100.10');
    for (const a of ['203.0.113.11', '203.0.113.12', '203.0.113.13']) expect(t).toContain(`\trip ${a}`);
    expect(t).toContain('\tmetric roundrobin');
    expect(text('alteon', { mode: 'flow' })).toContain('\tmetric hash');
    expect(code(t)).not.toMatch(/sip ?switch|sipp ena|pbind (clientip|ena)/i);
  });

  it('f5: no address/port translation, no SNAT, datagram LB, sip monitor on OPTIONS', () => {
    const t = text('f5');
    for (const s of ['translate-address disabled', 'translate-port disabled', 'type none', 'ip-protocol udp', 'datagram-load-balancing enabled', 'mode udp', 'request "OPTIONS sip:198.51.100.10 SIP/2.0"', 'headers "Max-Forwards: 0"']) {
      expect(t).toContain(s);
    }
    expect(t).toContain('203.0.113.12:5060 {');
    expect(code(t)).not.toMatch(/persist|profiles \{[^}]*\bsip\b/);
    expect(text('f5', { mode: 'flow' })).toContain('datagram-load-balancing disabled');
  });

  it('foundry: dsr on the VIP port, bound to every member, no sip-switch', () => {
    const t = text('foundry');
    expect(t).toContain(' port 5060 dsr');
    expect(t).toContain(' bind 5060 sipfarm-m1 5060 sipfarm-m2 5060 sipfarm-m3 5060');
    expect(t).toContain('server real sipfarm-m3 203.0.113.13');
    expect(code(t)).not.toMatch(/sip-switch|sip-proxy-server|sticky/);
  });

  it('ipvs: a valid sh script; UDP service, direct routing, one-packet scheduling', () => {
    const t = text('ipvs');
    expect(t).toContain('ipvsadm -A -u 198.51.100.10:5060 -s rr --ops');
    expect(t).toContain('ipvsadm -a -u 198.51.100.10:5060 -r 203.0.113.11:5060 -g -w 1');
    expect(text('ipvs', { mode: 'flow' })).toContain('-s sh -b sh-port --ops');
    const dir = mkdtempSync(join(tmpdir(), 'sfipvs-'));
    try {
      writeFileSync(join(dir, 'x.sh'), t);
      execFileSync('sh', ['-n', join(dir, 'x.sh')]); // throws on a syntax error
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('nftables goes through the nftables generator: slot map of every member, fragments before ports, media ranges', () => {
    const t = text('nftables', NFT_OPTS);
    expect(t).toContain(`ether daddr set numgen random mod ${DSR_SLOTS} map @slots counter fwd to "eth1"`);
    expect(t).toContain('elements = { 0 : 02:53:46:01:00:01, 1 : 02:53:46:01:00:02, 2 : 02:53:46:01:00:03, 3 : 02:53:46:01:00:01,');
    const lines = t.split('\n');
    const frag = lines.findIndex((l) => l.includes('ip frag-off & 0x3fff != 0') && l.includes('fwd'));
    const sip = lines.findIndex((l) => l.includes('udp dport 5060') && l.includes('fwd'));
    // Every fragment (the first one too) is hashed on source and IP id, before any port rule.
    expect(lines[frag]).toContain('ip daddr 198.51.100.10 ip protocol udp ip frag-off & 0x3fff != 0 ether saddr set 02:53:46:00:00:01 ether daddr set jhash ip saddr . ip id mod 240');
    expect(frag).toBeGreaterThan(0);
    expect(frag).toBeLessThan(sip);
    // Single-IP media: one rule per member range, straight to that member's MAC.
    expect(t).toContain('ip daddr 198.51.100.10 udp dport 20000-29999 ether saddr set 02:53:46:00:00:01 ether daddr set 02:53:46:01:00:01 counter fwd to "eth1"');
    expect(t).toContain('udp dport 40000-49999 ether saddr set 02:53:46:00:00:01 ether daddr set 02:53:46:01:00:03 counter');
    // Health probes go to the members' own addresses: every rule is about the VIP only.
    for (const l of lines.filter((x) => /^\s+ip /.test(x))) expect(l).toMatch(/^\s+ip daddr 198\.51\.100\.10 /);
    // Flow mode: UDP per source address and port; TCP (when on) always per flow.
    const flow = text('nftables', { ...NFT_OPTS, mode: 'flow' });
    expect(flow).toMatch(/udp dport 5060 .*jhash ip saddr \. udp sport mod 240 seed 0x[0-9a-f]+ map @slots/);
  });

  it('nftables takes iface, LB MAC, mode and member MACs from the config (lb section, members[].mac)', () => {
    const c = parseConfig(`
vip: 198.51.100.10
key: "golden-files-key-0123456789abcdef"
lb: { iface: eth2, mac: "02:00:00:00:00:fe", mode: flow, mediaAddress: 198.51.100.20 }
members:
  - { id: 1, address: 203.0.113.11:5080, mac: "02:00:00:00:01:01", mediaPorts: 20000-20999 }
  - { id: 2, address: 203.0.113.12:5080, mac: "02:00:00:00:01:02" }
`);
    const t = generateLbConfig(c, 'nftables').text;
    expect(t).toContain('device "eth2"');
    expect(t).toContain('ether saddr set 02:00:00:00:00:fe');
    expect(t).toContain('jhash ip saddr . udp sport');
    expect(t).toContain('ip daddr 198.51.100.20 udp dport 20000-20999 ether saddr set 02:00:00:00:00:fe ether daddr set 02:00:00:00:01:01');
    expect(t).toContain('1 : 02:00:00:00:01:02');
    // The command line wins over the config.
    expect(generateLbConfig(c, 'nftables', { mode: 'random', iface: 'eth9' }).text).toMatch(/device "eth9"[\s\S]*numgen random/);
  });

  it('slot map: every live member gets its share; the set-live transaction replaces only the map', () => {
    const three = dsrSlotMacs([{ id: 3, mac: '02:00:00:00:00:03' }, { id: 1, mac: '02:00:00:00:00:01' }, { id: 2, mac: '02:00:00:00:00:02' }]);
    expect(three.length).toBe(DSR_SLOTS);
    expect(three.slice(0, 4)).toEqual(['02:00:00:00:00:01', '02:00:00:00:00:02', '02:00:00:00:00:03', '02:00:00:00:00:01']);
    for (const n of [1, 2, 3, 4, 5, 6, 7, 11]) {
      const macs = dsrSlotMacs(Array.from({ length: n }, (_, i) => ({ id: i, mac: `02:00:00:00:00:${String(i).padStart(2, '0')}` })));
      const counts = new Map<string, number>();
      for (const m of macs) counts.set(m, (counts.get(m) ?? 0) + 1);
      expect(counts.size).toBe(n);
      expect(Math.max(...counts.values()) - Math.min(...counts.values())).toBeLessThanOrEqual(1);
    }
    expect(dsrSlotMacs([])).toEqual([]);
    const upd = nftablesDsrSetLive([{ id: 2, mac: '02:53:46:01:00:02' }], 'lb1');
    expect(upd.split('\n')[0]).toBe('flush map netdev lb1 slots');
    expect(upd).toContain('add element netdev lb1 slots { 0 : 02:53:46:01:00:02, 1 : 02:53:46:01:00:02,');
    expect(upd).not.toMatch(/table|chain|rule/);
    expect(nftablesDsrSetLive([])).toBe('flush map netdev sipfarm_dsr slots\n');
  });

  it('the live set and mode read back from the ruleset text', () => {
    const members = [{ id: 1, mac: '02:53:46:01:00:01', mediaPorts: { first: 20000, last: 20999 } }, { id: 2, mac: '02:53:46:01:00:02' }];
    const t = nftablesDsrRuleset({ iface: 'eth0', vip: '203.0.113.100', port: 5060, lbMac: '02:53:46:00:00:01', members, live: [2], mode: 'random' });
    // Member 1's media rule names its MAC, but only member 2 is in the slot map.
    expect(parseDsrRuleset(t)).toEqual({ mode: 'random', liveMacs: ['02:53:46:01:00:02'] });
    const f = nftablesDsrRuleset({ iface: 'eth0', vip: '203.0.113.100', port: 5060, lbMac: '02:53:46:00:00:01', members, live: [], mode: 'flow' });
    expect(parseDsrRuleset(f)).toEqual({ mode: 'flow', liveMacs: [] });
    expect(f).not.toContain('elements');
  });

  it('the probe is a user-less OPTIONS with Max-Forwards 0 and rport (kept local by classifier rule 5)', () => {
    const r = probeRequest('198.51.100.10', '203.0.113.2');
    expect(r.startsWith('OPTIONS sip:198.51.100.10 SIP/2.0\r\n')).toBe(true);
    expect(r).toContain('\r\nMax-Forwards: 0\r\n');
    expect(r).toContain('Via: SIP/2.0/UDP 203.0.113.2;rport;branch=z9hG4bK-');
    expect(r.endsWith('Content-Length: 0\r\n\r\n')).toBe(true);
  });
});

describe('warnings and errors', () => {
  const bare = parseConfig(`
vip: 198.51.100.10
key: "golden-files-key-0123456789abcdef"
members:
  - { id: 0, address: 203.0.113.11:5080 }
  - { id: 4, address: 203.0.113.14:5080, sip: 203.0.113.14:5062 }
`);

  it('a member without a sip socket, and no lbProbeSources, are warned about in text and list', () => {
    const r = generateLbConfig(bare, 'f5');
    expect(r.warnings.some((w) => w.includes("member 0 has no 'sip:' socket"))).toBe(true);
    expect(r.warnings.some((w) => w.includes('lbProbeSources is empty'))).toBe(true);
    expect(r.text).toContain("# WARNING: member 0 has no 'sip:' socket");
    // Member 4 is probed on its own sip port.
    expect(r.text).toContain('destination *:5062');
    expect(lbTarget(bare).members.map((m) => [m.id, m.address, m.probePort])).toEqual([[0, '203.0.113.11', 5060], [4, '203.0.113.14', 5062]]);
  });

  it('refuses what it cannot generate, with stable codes', () => {
    const code = (f: () => unknown): string | undefined => {
      try {
        f();
      } catch (e) {
        return e instanceof LbConfigError ? e.code : 'other';
      }
      return undefined;
    };
    expect(code(() => generateLbConfig(cfg, 'nftables', { iface: 'eth1', lbMac: '02:00:00:00:00:01' }))).toBe('ERR_LB_MAC');
    expect(code(() => generateLbConfig(cfg, 'nftables', { memberMacs: MACS }))).toBe('ERR_LB_OPTIONS');
    expect(code(() => generateLbConfig(cfg, 'alteon', { memberMacs: { 9: '02:00:00:00:00:09' } }))).toBe('ERR_LB_MAC');
    expect(code(() => generateLbConfig(cfg, 'alteon', { memberMacs: { 1: 'nope' } }))).toBe('ERR_LB_MAC');
    expect(code(() => generateLbConfig(cfg, 'cisco' as LbFormat))).toBe('ERR_LB_FORMAT');
    expect(code(() => generateLbConfig(cfg, 'f5', { name: '1bad' }))).toBe('ERR_LB_OPTIONS');
    expect(code(() => generateLbConfig(cfg, 'f5', { health: { intervalS: 0 } }))).toBe('ERR_LB_OPTIONS');
    expect(code(() => generateLbConfig(parseConfig('vip: "[2001:db8::1]:5060"\nkey: "golden-files-key-0123456789abcdef"\nmembers: [{ id: 1, address: 203.0.113.11:5080 }]\n'), 'ipvs'))).toBe('ERR_LB_ADDRESS');
  });
});

describe('runLbConfig', () => {
  const capture = (): { w: { write: (s: string) => boolean }; text: () => string } => {
    let s = '';
    return { w: { write: (x: string) => ((s += x), true) }, text: () => s };
  };

  it('prints the config, takes --member-mac, and exits 0', async () => {
    const o = capture();
    const e = capture();
    const args = ['--config', join(VEC, 'farm.yaml'), '--format', 'nftables', '--iface', 'eth1', '--lb-mac', '02:53:46:00:00:01'];
    for (const [id, mac] of Object.entries(MACS)) args.push('--member-mac', `${id}=${mac}`);
    expect(await runLbConfig(args, o.w, e.w)).toBe(0);
    expect(o.text()).toBe(readFileSync(join(VEC, 'nftables.nft'), 'utf8'));
    expect(e.text()).toBe('');
  });

  it('exits 2 with a message on bad usage or missing MACs', async () => {
    for (const args of [
      ['--format', 'f5'],
      ['--config', join(VEC, 'farm.yaml'), '--format', 'haproxy'],
      ['--config', join(VEC, 'farm.yaml'), '--format', 'f5', '--mode', 'sticky'],
      ['--config', join(VEC, 'farm.yaml'), '--format', 'f5', '--member-mac', 'x'],
      ['--config', join(VEC, 'farm.yaml'), '--format', 'nftables', '--iface', 'eth1', '--lb-mac', '02:53:46:00:00:01'],
      ['--config', join(VEC, 'missing.yaml'), '--format', 'f5'],
    ]) {
      const e = capture();
      expect(await runLbConfig(args, capture().w, e.w), args.join(' ')).toBe(2);
      expect(e.text()).toMatch(/^sipfarm lb-config: /);
    }
  });
});
