/**
 * `sipfarm check` judgement over hand-written host facts (no root, no namespaces): the
 * kernel's max(all, iface) semantics, which interfaces count, each failure's fix
 * command, warnings vs failures, and the parsers of `ip -j` / /proc output.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/cli/config.js';
import {
  EnvelopeKind, EnvelopeSequencer, deriveEnvelopeKey, encodeEnvelope, newEnvelopeHeader,
} from '../../../src/farm/envelope.js';
import {
  effectiveConf, evaluateHost, exitCodeOf, formatReport, heartbeatsFrom, parseConfLines, parseIpAddr, parseRouteGet, sameSubnet,
  type CheckId, type CheckResult, type HostFacts,
} from '../../../src/lb/check/index.js';

const KEY = 'unit-test-farm-key-0123456789';
const cfg = parseConfig(`
vip: 198.51.100.100:5060
key: "${KEY}"
members:
  - { id: 1, address: 203.0.113.11:5080 }
  - { id: 2, address: 203.0.113.12:5080 }
`);

/** A host that is ready: every test changes one thing. */
function good(): HostFacts {
  return {
    interfaces: [
      { name: 'lo', loopback: true, noArp: false, up: true, conf: { arp_ignore: 0, arp_announce: 0, rp_filter: 0 },
        addresses: [{ family: 4, address: '127.0.0.1', prefixLen: 8 }, { family: 4, address: '198.51.100.100', prefixLen: 32 }] },
      { name: 'eth0', loopback: false, noArp: false, up: true, conf: { arp_ignore: 0, arp_announce: 0, rp_filter: 0 },
        addresses: [{ family: 4, address: '203.0.113.11', prefixLen: 24 }] },
      { name: 'wg0', loopback: false, noArp: true, up: true, conf: { arp_ignore: 0, arp_announce: 0, rp_filter: 1 }, addresses: [] },
    ],
    allConf: { arp_ignore: 1, arp_announce: 2, rp_filter: 2 },
    vipBind: { ok: true },
    vipSource: { outcome: { ok: true }, seen: '198.51.100.100', echo: '203.0.113.11' },
    selfRoute: { ok: true, dev: 'lo', type: 'local' },
    farmBind: { ok: true },
    heartbeats: { listenedMs: 2000, fromMembers: [2], rejected: {} },
    peers: [{ id: 2, host: '203.0.113.12', route: { ok: true, dev: 'eth0', prefsrc: '203.0.113.11' } }],
    clock: { nowMs: Date.UTC(2026, 0, 2), buildMs: Date.UTC(2026, 0, 1), ntpSynchronized: true },
  };
}

const eth0 = (f: HostFacts) => f.interfaces[1];
function result(f: HostFacts, id: CheckId, member = 1): CheckResult {
  const r = evaluateHost(f, cfg, member).find((x) => x.id === id);
  if (!r) throw new Error(`no ${id}`);
  return r;
}

describe('evaluateHost', () => {
  it('a ready host: every check passes, exit 0, "ready for DSR"', () => {
    const rs = evaluateHost(good(), cfg, 1);
    expect(rs.filter((r) => r.status !== 'pass')).toEqual([]);
    expect(exitCodeOf(rs)).toBe(0);
    expect(formatReport(rs)).toMatch(/ready for DSR\n$/);
  });

  it('ARP knobs: the value in force is max(all, iface)', () => {
    const f = good();
    f.allConf.arp_ignore = 0;
    expect(result(f, 'arp-ignore').status).toBe('fail');
    eth0(f).conf.arp_ignore = 1; // interface value alone is enough
    expect(result(f, 'arp-ignore').status).toBe('pass');
    expect(effectiveConf(f, eth0(f), 'arp_ignore')).toBe(1);

    f.allConf.arp_announce = 1;
    const r = result(f, 'arp-announce');
    expect(r.status).toBe('fail');
    expect(r.summary).toContain('eth0=1');
    expect(r.fix).toEqual(['sysctl -w net.ipv4.conf.all.arp_announce=2']);
    expect(r.summary).not.toContain('wg0'); // NOARP interfaces cannot leak the VIP
    expect(r.summary).not.toContain('lo=');
  });

  it('rp_filter: strict (1) in force fails, whether from all or the interface; loose all masks a strict interface', () => {
    const f = good();
    eth0(f).conf.rp_filter = 1;
    expect(result(f, 'rp-filter').status).toBe('pass'); // max(2, 1) = 2
    f.allConf.rp_filter = 0;
    const r = result(f, 'rp-filter');
    expect(r.status).toBe('fail');
    expect(r.fix).toEqual(['sysctl -w net.ipv4.conf.all.rp_filter=2']);
    f.allConf.rp_filter = 1;
    eth0(f).conf.rp_filter = 0;
    expect(result(f, 'rp-filter').status).toBe('fail');
  });

  it('an unreadable knob is a warning, not a pass', () => {
    const f = good();
    f.allConf = {};
    eth0(f).conf = {};
    expect(result(f, 'arp-ignore').status).toBe('warn');
  });

  it('VIP placement: missing, wrong prefix, on a real interface', () => {
    let f = good();
    f.interfaces[0].addresses.pop();
    let r = result(f, 'vip-on-lo');
    expect(r.status).toBe('fail');
    expect(r.fix).toEqual(['ip addr add 198.51.100.100/32 dev lo']);

    f = good();
    f.interfaces[0].addresses[1].prefixLen = 24;
    r = result(f, 'vip-on-lo');
    expect(r.fix).toEqual(['ip addr del 198.51.100.100/24 dev lo', 'ip addr add 198.51.100.100/32 dev lo']);

    f = good();
    eth0(f).addresses.push({ family: 4, address: '198.51.100.100', prefixLen: 24 });
    r = result(f, 'vip-not-elsewhere');
    expect(r.status).toBe('fail');
    expect(r.fix).toEqual(['ip addr del 198.51.100.100/24 dev eth0']);
  });

  it('VIP bind: in use is a warning; EACCES and EADDRNOTAVAIL fail with their fixes', () => {
    const f = good();
    f.vipBind = { ok: false, code: 'EADDRINUSE', message: 'in use' };
    expect(result(f, 'vip-bind').status).toBe('warn');
    expect(exitCodeOf(evaluateHost(f, cfg, 1))).toBe(0);
    f.vipBind = { ok: false, code: 'EACCES', message: 'denied' };
    expect(result(f, 'vip-bind').fix).toEqual(['sysctl -w net.ipv4.ip_unprivileged_port_start=5060']);
    f.vipBind = { ok: false, code: 'EADDRNOTAVAIL', message: 'x' };
    expect(result(f, 'vip-bind').fix).toEqual(['ip addr add 198.51.100.100/32 dev lo']);
  });

  it('a reply seen with another source (SNAT) fails', () => {
    const f = good();
    f.vipSource.seen = '203.0.113.11';
    expect(result(f, 'vip-source').status).toBe('fail');
  });

  it('member address: names the interface and prefix of the connected route, or a template', () => {
    const f = good();
    eth0(f).addresses = [{ family: 4, address: '203.0.113.21', prefixLen: 24 }];
    f.selfRoute = { ok: true, dev: 'eth0', prefsrc: '203.0.113.21' };
    let r = result(f, 'member-address');
    expect(r.status).toBe('fail');
    expect(r.fix).toEqual(['ip addr add 203.0.113.11/24 dev eth0']);
    expect(r.fixIsTemplate).toBe(false);
    f.selfRoute = { ok: false, message: 'Network is unreachable' };
    r = result(f, 'member-address');
    expect(r.fix).toEqual(['ip addr add 203.0.113.11/32 dev <iface>']);
    expect(r.fixIsTemplate).toBe(true);
    // Checked as the wrong member: the hint names the member this host is.
    const w = result(good(), 'member-address', 2);
    expect(w.status).toBe('fail');
    expect(w.detail).toContain('member 1');
    expect(result(good(), 'member-address', 7).summary).toContain('not in the config');
  });

  it('peers: no route fails with a template; a local peer address is a duplicate', () => {
    const f = good();
    f.peers[0].route = { ok: false, message: 'Network is unreachable' };
    const r = result(f, 'peer-route');
    expect(r.status).toBe('fail');
    expect(r.fixIsTemplate).toBe(true);
    f.peers[0].route = { ok: true, dev: 'lo', type: 'local' };
    expect(result(f, 'peer-route').status).toBe('fail');
  });

  it('heartbeats: missing is a warning; a bad MAC says the key differs; not listened is skipped', () => {
    const f = good();
    f.heartbeats = { listenedMs: 2000, fromMembers: [], rejected: { BAD_MAC: 3 } };
    const r = result(f, 'peer-heartbeat');
    expect(r.status).toBe('warn');
    expect(r.summary).toContain('3 BAD_MAC');
    expect(r.detail).toContain('different farm key');
    f.heartbeats = undefined;
    expect(result(f, 'peer-heartbeat').status).toBe('skip');
  });

  it('clock: before the build date fails; NTP not synchronised warns; unknown skips', () => {
    const f = good();
    f.clock.nowMs = Date.UTC(2020, 0, 1);
    expect(result(f, 'clock').status).toBe('fail');
    f.clock.ntpSynchronized = false;
    expect(result(f, 'ntp').status).toBe('warn');
    f.clock.ntpSynchronized = undefined;
    expect(result(f, 'ntp').status).toBe('skip');
  });

  it('in a namespace every fix is prefixed so it can be run as printed', () => {
    const f = good();
    f.netns = 'memberns';
    f.allConf.arp_ignore = 0;
    expect(result(f, 'arp-ignore').fix).toEqual(['ip netns exec memberns sysctl -w net.ipv4.conf.all.arp_ignore=1']);
  });

  it('an IPv6 VIP skips the ARP checks', () => {
    const v6 = parseConfig(`vip: "[2001:db8::10]:5060"\nkey: "${KEY}"\nmembers: [{ id: 1, address: 203.0.113.11:5080 }]\n`);
    const rs = evaluateHost(good(), v6, 1);
    expect(rs.find((r) => r.id === 'arp-ignore')?.status).toBe('skip');
    expect(rs.find((r) => r.id === 'vip-on-lo')?.status).toBe('fail');
  });

  it('formatReport prints each failure with its fix and counts failures', () => {
    const f = good();
    f.allConf.arp_ignore = 0;
    const text = formatReport(evaluateHost(f, cfg, 1));
    expect(text).toContain('FAIL arp-ignore:');
    expect(text).toContain('       fix: sysctl -w net.ipv4.conf.all.arp_ignore=1');
    expect(text).toMatch(/1 check failed\n$/);
  });
});

describe('sysctl/90-sipfarm-dsr.conf', () => {
  it('its all.* values are the ones check requires', () => {
    const text = readFileSync(resolve(import.meta.dirname, '../../../sysctl/90-sipfarm-dsr.conf'), 'utf8');
    const kv = new Map(text.split('\n').filter((l) => /^[a-z]/.test(l)).map((l) => l.split('=').map((x) => x.trim()) as [string, string]));
    const f = good();
    f.allConf = {
      arp_ignore: Number(kv.get('net.ipv4.conf.all.arp_ignore')),
      arp_announce: Number(kv.get('net.ipv4.conf.all.arp_announce')),
      rp_filter: Number(kv.get('net.ipv4.conf.all.rp_filter')),
    };
    eth0(f).conf = { arp_ignore: 0, arp_announce: 0, rp_filter: 1 }; // whatever the interface says
    for (const id of ['arp-ignore', 'arp-announce', 'rp-filter'] as const) expect(result(f, id).status).toBe('pass');
    expect(kv.get('net.ipv4.conf.default.rp_filter')).toBe('2');
  });
});

describe('parsers and helpers', () => {
  it('parseIpAddr reads flags and addresses from ip -j addr', () => {
    const json = JSON.stringify([
      { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK', 'UP', 'LOWER_UP'], addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8 }, { family: 'inet6', local: '::1', prefixlen: 128 }] },
      { ifindex: 2, ifname: 'wg0', flags: ['POINTOPOINT', 'NOARP', 'UP'], addr_info: [] },
      { ifindex: 3, ifname: 'eth0', flags: ['BROADCAST', 'MULTICAST'] },
    ]);
    expect(parseIpAddr(json)).toEqual([
      { name: 'lo', loopback: true, noArp: false, up: true, addresses: [{ family: 4, address: '127.0.0.1', prefixLen: 8 }, { family: 6, address: '::1', prefixLen: 128 }] },
      { name: 'wg0', loopback: false, noArp: true, up: true, addresses: [] },
      { name: 'eth0', loopback: false, noArp: false, up: false, addresses: [] },
    ]);
  });

  it('parseConfLines maps grep -H output per interface (dotted VLAN names too)', () => {
    const m = parseConfLines('/proc/sys/net/ipv4/conf/all/arp_ignore:1\n/proc/sys/net/ipv4/conf/eth0.100/rp_filter:2\n/proc/sys/net/ipv4/conf/eth0.100/arp_announce:0\ngarbage\n');
    expect(m.get('all')).toEqual({ arp_ignore: 1 });
    expect(m.get('eth0.100')).toEqual({ rp_filter: 2, arp_announce: 0 });
  });

  it('parseRouteGet reads ip -j route get and its failures', () => {
    expect(parseRouteGet({ code: 0, stdout: '[{"dst":"203.0.113.12","dev":"eth0","prefsrc":"203.0.113.11","flags":[],"uid":0,"cache":[]}]', stderr: '' }))
      .toEqual({ ok: true, dev: 'eth0', gateway: undefined, prefsrc: '203.0.113.11', type: undefined });
    expect(parseRouteGet({ code: 2, stdout: '', stderr: 'RTNETLINK answers: Network is unreachable\n' })).toEqual({ ok: false, message: 'Network is unreachable' });
  });

  it('sameSubnet', () => {
    expect(sameSubnet('203.0.113.21', '203.0.113.11', 24)).toBe(true);
    expect(sameSubnet('203.0.113.21', '203.0.114.11', 24)).toBe(false);
    expect(sameSubnet('10.0.0.1', '10.255.0.1', 8)).toBe(true);
    expect(sameSubnet('::1', '::1', 64)).toBe(false);
  });

  it('heartbeatsFrom accepts the members\' authenticated heartbeats only', () => {
    const mk = (secret: string, origin: number, kind: number = EnvelopeKind.HEARTBEAT): Buffer => {
      const h = newEnvelopeHeader();
      h.kind = kind;
      h.origin = origin;
      h.family = 0;
      new EnvelopeSequencer().stamp(h);
      return encodeEnvelope(h, Buffer.from('{}'), deriveEnvelopeKey(secret));
    };
    const got = heartbeatsFrom(
      [mk(KEY, 2), mk('another-farm-key-0123456789', 3), mk(KEY, 9), mk(KEY, 3, EnvelopeKind.CONTROL), Buffer.from('junk')],
      Buffer.from(KEY), [2, 3], 2000,
    );
    expect(got).toEqual({ listenedMs: 2000, fromMembers: [2], rejected: { BAD_MAC: 1, UNKNOWN_MEMBER: 1, SHORT: 1 } });
  });
});
