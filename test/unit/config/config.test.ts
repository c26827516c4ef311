import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ConfigError,
  loadConfig,
  memberById,
  metricsAddressOf,
  parseConfig,
  parseDuration,
  publicConfig,
  suggestKey,
  type FarmConfig,
} from '../../../src/cli/config.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/farm.yaml', import.meta.url));

const MINIMAL = `
vip: 198.51.100.10
key: "0123456789abcdef"
members:
  - id: 0
    address: 127.0.0.1:7000
  - id: 1
    address: 127.0.0.1:7001
`;

/** Parse, expecting a ConfigError; returns it. */
function bad(text: string, source?: string): ConfigError {
  try {
    parseConfig(text, source);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError, the config was accepted');
}

const tmp = mkdtempSync(join(tmpdir(), 'sipfarm-config-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('example config', () => {
  it('examples/farm.yaml loads', () => {
    const cfg = loadConfig(EXAMPLE);
    expect(cfg.vip).toEqual({ host: '198.51.100.10', port: 5060 });
    expect(cfg.domains).toEqual(['example.com', '198.51.100.10']);
    expect(cfg.members.map((m) => m.id)).toEqual([0, 1, 2]);
    expect(cfg.members[0].address).toEqual({ host: '203.0.113.11', port: 5070 });
    expect(cfg.members[0].sip).toEqual({ host: '203.0.113.11', port: 5060 });
    expect(cfg.members[2].metrics).toEqual({ host: '127.0.0.1', port: 9102 });
    expect(cfg.heartbeat).toEqual({ intervalMs: 200, deadAfterMs: 1000 });
    expect(cfg.graceMs).toBe(32_000);
    expect(cfg.timers).toEqual({ t1: 500, t2: 4000, t4: 5000 });
    expect(cfg.lbProbeSources).toEqual(['203.0.113.2']);
    expect(cfg.metrics).toEqual({ host: '127.0.0.1', port: 9100 });
    expect(cfg.key.length).toBeGreaterThanOrEqual(16);
    expect(metricsAddressOf(cfg, cfg.members[0])).toEqual({ host: '127.0.0.1', port: 9100 });
    expect(metricsAddressOf(cfg, cfg.members[2])).toEqual({ host: '127.0.0.1', port: 9102 });
  });
});

describe('LB fields', () => {
  it('members[].mac, members[].mediaPorts and the lb section', () => {
    const cfg = parseConfig(MINIMAL.replace('address: 127.0.0.1:7000', 'address: 127.0.0.1:7000\n    mac: "02:AA:00:00:00:01"\n    mediaPorts: 20000-29999')
      + '  - { id: 2, address: 127.0.0.1:7002, mediaPorts: 30000 }\nlb: { iface: eth1, mac: "02:00:00:00:00:FE", mode: flow, health: { intervalS: 2 }, mediaAddress: 198.51.100.20 }\n');
    expect(cfg.members[0]).toMatchObject({ mac: '02:aa:00:00:00:01', mediaPorts: { first: 20000, last: 29999 } });
    expect(cfg.members[2].mediaPorts).toEqual({ first: 30000, last: 30000 });
    expect(cfg.lb).toEqual({ iface: 'eth1', mac: '02:00:00:00:00:fe', mode: 'flow', health: { intervalS: 2, retries: 3 }, mediaAddress: '198.51.100.20' });
    expect(publicConfig(cfg).members).toContainEqual(expect.objectContaining({ id: 0, mac: '02:aa:00:00:00:01', mediaPorts: '20000-29999' }));
    expect(parseConfig(MINIMAL).lb).toBeUndefined();
    expect(parseConfig(MINIMAL + 'lb: {}\n').lb).toEqual({ mode: 'random', health: { intervalS: 5, retries: 3 } });
  });
});

describe('defaults', () => {
  it('fills every optional field', () => {
    const cfg: FarmConfig = parseConfig(MINIMAL);
    expect(cfg.vip).toEqual({ host: '198.51.100.10', port: 5060 });
    expect(cfg.key.toString()).toBe('0123456789abcdef');
    expect(cfg.domains).toEqual(['198.51.100.10']);
    expect(cfg.lbProbeSources).toEqual([]);
    expect(cfg.heartbeat).toEqual({ intervalMs: 200, deadAfterMs: 1000 });
    expect(cfg.graceMs).toBe(32_000);
    expect(cfg.timers).toEqual({ t1: 500, t2: 4000, t4: 5000 });
    expect(cfg.maxMessageSize).toBe(65535);
    expect(cfg.metrics).toBeUndefined();
    expect(cfg.outboundProxy).toBeUndefined();
    expect(cfg.registrar).toEqual({ minExpires: 60, maxExpires: 7200, defaultExpires: 3600 });
    expect(cfg.log).toEqual({ level: 'info', samplePerSecond: 20 });
    expect(cfg.members[1]).toEqual({ id: 1, address: { host: '127.0.0.1', port: 7001 } });
  });

  it('derives grace from T1 and deadAfter from the interval when they are not set', () => {
    const cfg = parseConfig(MINIMAL + 'timers:\n  t1: 100\nheartbeat:\n  intervalMs: 500ms\n');
    expect(cfg.graceMs).toBe(64 * 100);
    expect(cfg.heartbeat).toEqual({ intervalMs: 500, deadAfterMs: 2500 });
  });

  it('lowercases domains and takes optional addresses', () => {
    const cfg = parseConfig(
      MINIMAL + 'domains: [Example.COM, "[2001:DB8::1]"]\noutboundProxy: 203.0.113.50\nmetrics: "[::1]:9100"\n',
    );
    expect(cfg.domains).toEqual(['example.com', '[2001:db8::1]']);
    expect(cfg.outboundProxy).toEqual({ host: '203.0.113.50', port: 5060 });
    expect(cfg.metrics).toEqual({ host: '::1', port: 9100 });
  });

  it('accepts an IPv6 VIP and members', () => {
    const cfg = parseConfig(`vip: "[2001:db8::10]:5070"\nkey: "0123456789abcdef"\nmembers:\n  - id: 3\n    address: "[::1]:7000"\n`);
    expect(cfg.vip).toEqual({ host: '2001:db8::10', port: 5070 });
    expect(cfg.members[0].address).toEqual({ host: '::1', port: 7000 });
    expect(memberById(cfg, 3)?.address.port).toBe(7000);
    expect(memberById(cfg, 4)).toBeUndefined();
  });

  it('treats an empty (null) optional value as absent', () => {
    const cfg = parseConfig(MINIMAL + 'metrics:\nlog:\n');
    expect(cfg.metrics).toBeUndefined();
    expect(cfg.log.level).toBe('info');
  });
});

describe('durations', () => {
  it('parses numbers and unit strings', () => {
    expect(parseDuration(200)).toBe(200);
    expect(parseDuration('200ms')).toBe(200);
    expect(parseDuration('1s')).toBe(1000);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('1.1s')).toBe(1100);
    expect(parseDuration('32s')).toBe(32_000);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('10 ms')).toBe(10);
  });

  it('refuses the rest', () => {
    for (const v of ['200', '1h', 's', '-1s', '0.5ms', 1.5, -3, true, null, '1s2']) expect(parseDuration(v)).toBeUndefined();
  });

  it('are accepted in heartbeat, graceMs and timers', () => {
    const cfg = parseConfig(MINIMAL + 'heartbeat:\n  intervalMs: 100ms\n  deadAfterMs: 0.5s\ngraceMs: 10s\ntimers:\n  t1: 250ms\n  t2: 2s\n  t4: 2500\n');
    expect(cfg.heartbeat).toEqual({ intervalMs: 100, deadAfterMs: 500 });
    expect(cfg.graceMs).toBe(10_000);
    expect(cfg.timers).toEqual({ t1: 250, t2: 2000, t4: 2500 });
  });

  it('a bad duration names its field', () => {
    const e = bad(MINIMAL + 'graceMs: soon\n');
    expect(e.field).toBe('graceMs');
    expect(e.message).toMatch(/^config: graceMs: "soon" must be a duration/);
  });
});

describe('errors name the field', () => {
  // [description, text, field, message fragment]
  const cases: Array<[string, string, string, RegExp]> = [
    ['member address without port', MINIMAL.replace('127.0.0.1:7001', '10.0.0.1'), 'members[1].address', /^config: members\[1\]\.address: "10\.0\.0\.1" must be host:port/],
    ['member address with a name', MINIMAL.replace('127.0.0.1:7001', 'node1.example.com:7001'), 'members[1].address', /must be an IP address/],
    ['member address unspecified', MINIMAL.replace('127.0.0.1:7001', '0.0.0.0:7001'), 'members[1].address', /unspecified/],
    ['port out of range', MINIMAL.replace('127.0.0.1:7001', '127.0.0.1:70000'), 'members[1].address', /outside 1\.\.65535/],
    ['bare IPv6', MINIMAL.replace('127.0.0.1:7001', '"::1:7001"'), 'members[1].address', /\[address\]:port/],
    ['duplicate member id', MINIMAL.replace('id: 1', 'id: 0'), 'members[1].id', /already used by members\[0\]/],
    ['member id too large', MINIMAL.replace('id: 1', 'id: 255'), 'members[1].id', /0\.\.254/],
    ['member id not integer', MINIMAL.replace('id: 1', 'id: "one"'), 'members[1].id', /must be an integer/],
    ['duplicate member address', MINIMAL.replace('127.0.0.1:7001', '127.0.0.1:7000'), 'members[1].address', /already used by members\[0\]/],
    ['member address is the VIP', MINIMAL.replace('127.0.0.1:7001', '198.51.100.10:5060'), 'members[1].address', /is the VIP/],
    ['member sip is the VIP', MINIMAL + '  - id: 2\n    address: 127.0.0.1:7002\n    sip: 198.51.100.10\n', 'members[2].sip', /VIP/],
    ['member missing address', MINIMAL + '  - id: 2\n', 'members[2].address', /is required/],
    ['member not a mapping', MINIMAL + '  - 127.0.0.1:7002\n', 'members[2]', /must be a mapping/],
    ['members missing', 'vip: 198.51.100.10\nkey: "0123456789abcdef"\n', 'members', /is required/],
    ['members empty', 'vip: 198.51.100.10\nkey: "0123456789abcdef"\nmembers: []\n', 'members', /at least one/],
    ['vip missing', MINIMAL.replace('vip: 198.51.100.10\n', ''), 'vip', /is required/],
    ['vip bad', MINIMAL.replace('vip: 198.51.100.10', 'vip: 198.51.100.300'), 'vip', /"198\.51\.100\.300"/],
    ['vip as a number', MINIMAL.replace('vip: 198.51.100.10', 'vip: 5060'), 'vip', /must be a string/],
    ['key short', MINIMAL.replace('0123456789abcdef', 'short'), 'key', /too short: 5 characters/],
    ['key and keyFile', MINIMAL + 'keyFile: /nonexistent\n', 'keyFile', /either key or keyFile/],
    ['no key', MINIMAL.replace('key: "0123456789abcdef"\n', ''), 'key', /is required/],
    ['keyFile missing file', MINIMAL.replace('key: "0123456789abcdef"', 'keyFile: /nonexistent/sipfarm.key'), 'keyFile', /cannot read .*ENOENT/],
    ['domains empty', MINIMAL + 'domains: []\n', 'domains', /at least one/],
    ['domain invalid', MINIMAL + 'domains: [example.com, "bad domain"]\n', 'domains[1]', /not a host name/],
    ['domain twice', MINIMAL + 'domains: [example.com, EXAMPLE.com]\n', 'domains[1]', /listed twice/],
    ['probe source not IP', MINIMAL + 'lbProbeSources: [203.0.113.2, lb.example.com]\n', 'lbProbeSources[1]', /must be an IP address/],
    ['deadAfter too short', MINIMAL + 'heartbeat:\n  intervalMs: 200\n  deadAfterMs: 400\n', 'heartbeat.deadAfterMs', /more than 2 × intervalMs/],
    ['deadAfter too long', MINIMAL + 'heartbeat:\n  deadAfterMs: 2m\n', 'heartbeat.deadAfterMs', /within 1\.\.60000/],
    ['interval too small', MINIMAL + 'heartbeat:\n  intervalMs: 1ms\n', 'heartbeat.intervalMs', /within 10\.\.10000/],
    ['t2 below t1', MINIMAL + 'timers:\n  t1: 1s\n  t2: 500ms\n', 'timers.t2', /at least timers\.t1/],
    ['maxMessageSize too small', MINIMAL + 'maxMessageSize: 512\n', 'maxMessageSize', /1024\.\.65535/],
    ['registrar min above max', MINIMAL + 'registrar:\n  minExpires: 600\n  maxExpires: 300\n', 'registrar.maxExpires', /at least registrar\.minExpires/],
    ['registrar default out of range', MINIMAL + 'registrar:\n  defaultExpires: 10\n', 'registrar.defaultExpires', /within registrar\.minExpires\.\.maxExpires/],
    ['log level', MINIMAL + 'log:\n  level: verbose\n', 'log.level', /must be one of error, warn, info, debug/],
    ['samplePerSecond negative', MINIMAL + 'log:\n  samplePerSecond: -1\n', 'log.samplePerSecond', /0\.\.100000/],
    ['heartbeat not a mapping', MINIMAL + 'heartbeat: 200\n', 'heartbeat', /must be a mapping/],
    ['outboundProxy is the VIP', MINIMAL + 'outboundProxy: 198.51.100.10:5060\n', 'outboundProxy', /loop/],
    ['metrics without port', MINIMAL + 'metrics: 127.0.0.1\n', 'metrics', /must be host:port/],
    ['member mac bad', MINIMAL + '  - { id: 2, address: 127.0.0.1:7002, mac: "02:00:00:00:01" }\n', 'members[2].mac', /not a MAC address/],
    ['member mac twice', MINIMAL.replace('address: 127.0.0.1:7000', 'address: 127.0.0.1:7000\n    mac: "02:00:00:00:00:01"') + '  - { id: 2, address: 127.0.0.1:7002, mac: "02:00:00:00:00:01" }\n', 'members[2].mac', /already used by members\[0\]/],
    ['mediaPorts not a range', MINIMAL + '  - { id: 2, address: 127.0.0.1:7002, mediaPorts: "20000..29999" }\n', 'members[2].mediaPorts', /port range like "20000-29999"/],
    ['mediaPorts reversed', MINIMAL + '  - { id: 2, address: 127.0.0.1:7002, mediaPorts: 30000-20000 }\n', 'members[2].mediaPorts', /first <= last/],
    ['mediaPorts below 1024', MINIMAL + '  - { id: 2, address: 127.0.0.1:7002, mediaPorts: 100-200 }\n', 'members[2].mediaPorts', /1024\.\.65535/],
    ['mediaPorts overlap', MINIMAL.replace('address: 127.0.0.1:7000', 'address: 127.0.0.1:7000\n    mediaPorts: 20000-29999') + '  - { id: 2, address: 127.0.0.1:7002, mediaPorts: 29000-39999 }\n', 'members[2].mediaPorts', /overlaps members\[0\]\.mediaPorts/],
    ['mediaPorts on the VIP include SIP', MINIMAL.replace('address: 127.0.0.1:7000', 'address: 127.0.0.1:7000\n    mediaPorts: 5000-5999') + 'lb: {}\n', 'members[0].mediaPorts', /includes the VIP's SIP port 5060/],
    ['lb unknown key', MINIMAL + 'lb: { iface: eth1, modee: flow }\n', 'lb.modee', /did you mean "mode"/],
    ['lb mode', MINIMAL + 'lb: { mode: sticky }\n', 'lb.mode', /must be random or flow/],
    ['lb iface', MINIMAL + 'lb: { iface: "eth0; flush" }\n', 'lb.iface', /not an interface name/],
    ['lb mac', MINIMAL + 'lb: { mac: "nope" }\n', 'lb.mac', /not a MAC address/],
    ['lb health retries', MINIMAL + 'lb: { health: { retries: 0 } }\n', 'lb.health.retries', /1\.\.100/],
    ['lb health unknown key', MINIMAL + 'lb: { health: { interval: 2 } }\n', 'lb.health.interval', /did you mean "intervalS"/],
    ['lb mediaAddress', MINIMAL + 'lb: { mediaAddress: media.example.com }\n', 'lb.mediaAddress', /must be an IP address/],
    ['relay mode', MINIMAL + 'relay: { mode: ipip }\n', 'relay.mode', /must be udp or l2/],
    ['relay l2 without iface', MINIMAL + 'relay: { mode: l2 }\n', 'relay.iface', /required with mode l2/],
    ['relay l2 without member mac', MINIMAL + 'relay: { mode: l2, iface: eth0 }\n', 'members[0].mac', /required with relay.mode l2/],
    ['relay dscp', MINIMAL + 'relay: { dscp: 64 }\n', 'relay.dscp', /1\.\.63/],
    ['relay unknown key', MINIMAL + 'relay: { mdoe: l2 }\n', 'relay.mdoe', /did you mean "mode"/],
  ];
  for (const [what, text, field, re] of cases) {
    it(what, () => {
      const e = bad(text);
      expect(e.code).toBe('ERR_CONFIG');
      expect(e.field).toBe(field);
      expect(e.message.startsWith(`config: ${field}: `)).toBe(true);
      expect(e.message).toMatch(re);
    });
  }

  it('never echoes the key', () => {
    const e = bad(MINIMAL.replace('0123456789abcdef', 'sekrit'));
    expect(e.message).not.toContain('sekrit');
  });

  it('reports the line and column with the source name', () => {
    const e = bad(MINIMAL.replace('127.0.0.1:7001', '10.0.0.1'), 'farm.yaml');
    // MINIMAL starts with a blank line: the second member's address is on line 8.
    expect(e.line).toBe(8);
    expect(e.column).toBe(14);
    expect(e.source).toBe('farm.yaml');
    expect(e.message).toBe('config: members[1].address: "10.0.0.1" must be host:port (farm.yaml line 8, column 14)');
  });

  it('points a missing field at its parent', () => {
    const e = bad(MINIMAL + '  - id: 2\n', 'f.yaml');
    expect(e.field).toBe('members[2].address');
    expect(e.line).toBe(9);
  });
});

describe('unknown keys', () => {
  it('are refused with the closest known key', () => {
    const e = bad(MINIMAL + 'heartbeat:\n  intervalMS: 100\n', 'farm.yaml');
    expect(e.field).toBe('heartbeat.intervalMS');
    expect(e.message).toContain('unknown key (did you mean "intervalMs"?)');
    expect(e.line).toBe(10);
    expect(e.column).toBe(3);
  });

  it('at top level and inside members', () => {
    expect(bad(MINIMAL + 'membrs: []\n').message).toContain('config: membrs: unknown key (did you mean "members"?)');
    expect(bad(MINIMAL + 'grace_ms: 1s\n').message).toContain('did you mean "graceMs"?');
    const e = bad(MINIMAL + '  - id: 2\n    adress: 127.0.0.1:7002\n');
    expect(e.field).toBe('members[2].adress');
    expect(e.message).toContain('did you mean "address"?');
  });

  it('list the known keys when nothing is close', () => {
    const e = bad(MINIMAL + 'log:\n  zzzzzzzz: 1\n');
    expect(e.field).toBe('log.zzzzzzzz');
    expect(e.message).toContain('known keys: level, samplePerSecond');
  });

  it('suggestKey', () => {
    expect(suggestKey('deadafter_ms', ['intervalMs', 'deadAfterMs'])).toBe('deadAfterMs');
    expect(suggestKey('vpi', ['vip', 'key'])).toBe('vip');
    expect(suggestKey('colour', ['vip', 'key'])).toBeUndefined();
  });
});

describe('YAML problems', () => {
  it('duplicate keys are refused with the key and its line', () => {
    const e = bad(MINIMAL + 'graceMs: 1s\ngraceMs: 2s\n', 'farm.yaml');
    expect(e.field).toBe('graceMs');
    expect(e.message).toMatch(/unique/i);
    expect(e.line).toBe(10);
  });

  it('syntax errors carry a line', () => {
    const e = bad('vip: [198.51.100.10\nkey: x\n', 'farm.yaml');
    expect(e.message).toMatch(/^config: .*YAML:/);
    expect(e.line).toBeTypeOf('number');
  });

  it('an empty document and a non-mapping are refused', () => {
    expect(bad('').message).toMatch(/empty/);
    expect(bad('- 1\n- 2\n').message).toMatch(/must be a mapping/);
  });
});

describe('keyFile', () => {
  it('is read relative to the config file and trimmed', () => {
    writeFileSync(join(tmp, 'farm.key'), '  abcdefghijklmnopqrstuvwxyz\n');
    const path = join(tmp, 'farm.yaml');
    writeFileSync(path, MINIMAL.replace('key: "0123456789abcdef"', 'keyFile: farm.key'));
    const cfg = loadConfig(path);
    expect(cfg.key.toString()).toBe('abcdefghijklmnopqrstuvwxyz');
  });

  it('too short after trimming is refused', () => {
    writeFileSync(join(tmp, 'short.key'), 'abc\n\n');
    const e = bad(MINIMAL.replace('key: "0123456789abcdef"', `keyFile: ${join(tmp, 'short.key')}`));
    expect(e.field).toBe('keyFile');
    expect(e.message).toMatch(/3 bytes after trimming/);
  });

  it('loadConfig on a missing file says which', () => {
    expect(() => loadConfig(join(tmp, 'nope.yaml'))).toThrow(/cannot read .*nope\.yaml.*ENOENT/);
  });
});

describe('publicConfig', () => {
  it('redacts the key and formats addresses', () => {
    const cfg = parseConfig(MINIMAL + 'metrics: "[::1]:9100"\n');
    const pub = publicConfig(cfg);
    expect(pub.key).toBe('<redacted 16 bytes>');
    expect(JSON.stringify(pub)).not.toContain('0123456789abcdef');
    expect(pub.vip).toBe('198.51.100.10:5060');
    expect(pub.metrics).toBe('[::1]:9100');
  });
});
