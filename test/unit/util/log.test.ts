import { describe, expect, it } from 'vitest';
import { Logger, OVERFLOW_SAMPLE_KEY, truncatePacket } from '../../../src/util/log.js';

function setup(opts: { samplePerSecond?: number; level?: 'error' | 'warn' | 'info' | 'debug'; maxSampleKeys?: number } = {}) {
  let t = Date.UTC(2025, 0, 1);
  const lines: Record<string, unknown>[] = [];
  const log = new Logger({ member: 2, now: () => t, write: (l) => lines.push(JSON.parse(l)), ...opts });
  return { log, lines, advance: (ms: number) => (t += ms) };
}

describe('Logger', () => {
  it('writes one JSON object per line with ts, level, member, msg, fields', () => {
    let raw = '';
    const log = new Logger({ member: 7, now: () => Date.UTC(2025, 0, 1), write: (l) => (raw += l + '\n') });
    log.warn('bad envelope', { from: '127.0.0.1:7001', err: Object.assign(new Error('mac'), { code: 'ERR_MAC' }), n: 10n });
    log.info('plain');
    const lines = raw.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[0])).toEqual({
      ts: '2025-01-01T00:00:00.000Z',
      level: 'warn',
      member: 7,
      msg: 'bad envelope',
      fields: { from: '127.0.0.1:7001', err: { name: 'Error', code: 'ERR_MAC', message: 'mac' }, n: '10' },
    });
    expect(JSON.parse(lines[1])).toEqual({ ts: '2025-01-01T00:00:00.000Z', level: 'info', member: 7, msg: 'plain' });
  });

  it('filters by level', () => {
    const { log, lines } = setup({ level: 'warn' });
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.error('e');
    expect(lines.map((l) => l.level)).toEqual(['warn', 'error']);
    expect(log.enabled('info')).toBe(false);
    log.setLevel('debug');
    log.debug('d2');
    expect(lines).toHaveLength(3);
  });

  it('renders packets in fields truncated, never whole', () => {
    const { log, lines } = setup();
    const pkt = Buffer.concat([Buffer.from('INVITE sip:a@b SIP/2.0\r\n'), Buffer.alloc(500, 0x41)]);
    log.info('bad packet', { pkt });
    const s = (lines[0].fields as { pkt: string }).pkt;
    expect(s.startsWith('INVITE sip:a@b SIP/2.0\\r\\nAAAA')).toBe(true);
    expect(s.endsWith('...(+424 bytes)')).toBe(true);
  });

  it('survives circular fields and a throwing writer', () => {
    const { log, lines } = setup();
    const o: Record<string, unknown> = {};
    o.self = o;
    log.info('loop', { o });
    expect(lines[0].msg).toBe('loop');
    expect(lines[0].fieldsError).toBeTypeOf('string');
    const broken = new Logger({ write: () => { throw new Error('EPIPE'); } });
    expect(() => broken.error('x')).not.toThrow();
  });
});

describe('sampled', () => {
  it('lets samplePerSecond lines per key through per second and reports the rest', () => {
    const { log, lines, advance } = setup({ samplePerSecond: 3 });
    let written = 0;
    for (let i = 0; i < 10; i++) if (log.sampled('drop.bad_mac', 'warn', 'bad mac', { i })) written++;
    expect(written).toBe(3);
    expect(lines.map((l) => (l.fields as { i: number }).i)).toEqual([0, 1, 2]);
    expect(lines.every((l) => l.suppressed === undefined)).toBe(true);
    expect(log.suppressedCounts()).toEqual({ 'drop.bad_mac': 7 });

    advance(999);
    expect(log.sampled('drop.bad_mac', 'warn', 'bad mac')).toBe(false);
    advance(1);
    expect(log.sampled('drop.bad_mac', 'warn', 'bad mac')).toBe(true);
    expect(lines[3].suppressed).toBe(8);
    expect(log.sampled('drop.bad_mac', 'warn', 'bad mac')).toBe(true);
    expect(lines[4].suppressed).toBeUndefined();
    expect(log.suppressedCounts()).toEqual({});
  });

  it('keeps keys apart', () => {
    const { log, lines } = setup({ samplePerSecond: 1 });
    log.sampled('a', 'info', 'a');
    log.sampled('a', 'info', 'a');
    log.sampled('b', 'info', 'b');
    expect(lines.map((l) => l.msg)).toEqual(['a', 'b']);
  });

  it('does not count lines below the level, and 0 per second turns sampling off', () => {
    const { log, lines, advance } = setup({ samplePerSecond: 1, level: 'info' });
    for (let i = 0; i < 5; i++) log.sampled('k', 'debug', 'd');
    log.sampled('k', 'info', 'i');
    advance(1000);
    log.sampled('k', 'info', 'i');
    expect(lines.map((l) => l.suppressed)).toEqual([undefined, undefined]);
    const off = setup({ samplePerSecond: 0 });
    expect(off.log.sampled('k', 'error', 'e')).toBe(false);
    expect(off.lines).toHaveLength(0);
  });

  it('bounds the number of keys', () => {
    const { log, lines, advance } = setup({ samplePerSecond: 1, maxSampleKeys: 2 });
    log.sampled('a', 'info', 'a');
    log.sampled('b', 'info', 'b');
    log.sampled('c', 'info', 'c'); // table full, windows not expired: c and d share the overflow bucket
    log.sampled('d', 'info', 'd');
    expect(lines.map((l) => l.msg)).toEqual(['a', 'b', 'c']);
    expect(log.suppressedCounts()).toEqual({ [OVERFLOW_SAMPLE_KEY]: 1 });
    advance(1000);
    log.sampled('e', 'info', 'e'); // a and b expired clean and are swept: e gets its own window
    log.sampled('e', 'info', 'e');
    expect(lines.map((l) => l.msg)).toEqual(['a', 'b', 'c', 'e']);
    expect(log.suppressedCounts()).toEqual({ [OVERFLOW_SAMPLE_KEY]: 1, e: 1 });
  });
});

describe('truncatePacket', () => {
  it('escapes non-printables and cuts at max bytes', () => {
    expect(truncatePacket(Buffer.from('OPTIONS\r\n\t\\x\x00\xff', 'latin1'))).toBe('OPTIONS\\r\\n\\t\\\\x\\x00\\xff');
    const long = Buffer.alloc(250, 0x61);
    const s = truncatePacket(long);
    expect(s).toBe('a'.repeat(100) + '...(+150 bytes)');
    expect(truncatePacket(long, 10)).toBe('a'.repeat(10) + '...(+240 bytes)');
    expect(truncatePacket(new Uint8Array(0))).toBe('');
  });

  it('output has no raw control characters', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    // eslint-disable-next-line no-control-regex
    expect(truncatePacket(all, 256)).not.toMatch(/[\x00-\x1f\x7f-\xff]/);
  });
});
