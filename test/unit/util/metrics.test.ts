import { describe, expect, it } from 'vitest';
import { Counter, CounterSet, MetricsError, Registry, escapeLabelValue, formatValue } from '../../../src/util/metrics.js';

const OUTCOMES = ['local', 'relayed', 'dropped_size'] as const;

describe('CounterSet', () => {
  it('counts by index and by name', () => {
    const c = new CounterSet('sipfarm_packets_total', 'Packets by outcome', 'outcome', OUTCOMES);
    const RELAYED = c.ids.relayed;
    expect(RELAYED).toBe(1);
    for (let i = 0; i < 1000; i++) c.v[RELAYED]++;
    c.inc(c.ids.local);
    c.inc(c.ids.dropped_size, 5);
    expect(c.get(RELAYED)).toBe(1000);
    expect(c.getByValue('local')).toBe(1);
    expect(c.getByValue('nope')).toBeUndefined();
    expect(c.total()).toBe(1006);
    c.reset();
    expect(c.total()).toBe(0);
  });

  it('can count in caller-provided storage (e.g. shared with native code)', () => {
    const shared = new Float64Array(new ArrayBuffer(8 * 5), 16, 3);
    const c = new CounterSet('x_total', 'x', 'k', OUTCOMES, shared);
    c.v[2]++;
    expect(new Float64Array(shared.buffer)[4]).toBe(1);
    expect(() => new CounterSet('y_total', 'y', 'k', OUTCOMES, new Float64Array(2))).toThrow(MetricsError);
  });

  it('refuses bad names and duplicate values', () => {
    const code = (f: () => unknown): string | undefined => {
      try {
        f();
      } catch (e) {
        return (e as MetricsError).code;
      }
      return undefined;
    };
    expect(code(() => new CounterSet('bad-name', 'h', 'l', ['a']))).toBe('ERR_METRIC_NAME');
    expect(code(() => new CounterSet('9lives', 'h', 'l', ['a']))).toBe('ERR_METRIC_NAME');
    expect(code(() => new CounterSet('ok', 'h', '__reserved', ['a']))).toBe('ERR_METRIC_LABEL');
    expect(code(() => new CounterSet('ok', 'h', 'bad label', ['a']))).toBe('ERR_METRIC_LABEL');
    expect(code(() => new CounterSet('ok', 'h', 'l', ['a', 'a']))).toBe('ERR_METRIC_DUPLICATE');
    expect(code(() => new Counter('a:b_c', 'h'))).toBeUndefined();
  });
});

describe('Registry text format', () => {
  it('renders HELP, TYPE and samples for counters and gauges', () => {
    const r = new Registry();
    const c = r.counterSet('sipfarm_packets_total', 'Packets by outcome.', 'outcome', OUTCOMES);
    c.v[c.ids.relayed] += 7;
    const up = r.counter('sipfarm_restarts_total', 'Restarts');
    up.value++;
    let live = 3;
    r.gauge('sipfarm_transactions', 'Live transactions', () => live);
    r.labeledGauge('sipfarm_member_alive', 'Member liveness', 'member', () => ({ '0': 1, '1': 0 }));
    live = 4;
    expect(r.render()).toBe(
      [
        '# HELP sipfarm_packets_total Packets by outcome.',
        '# TYPE sipfarm_packets_total counter',
        'sipfarm_packets_total{outcome="local"} 0',
        'sipfarm_packets_total{outcome="relayed"} 7',
        'sipfarm_packets_total{outcome="dropped_size"} 0',
        '# HELP sipfarm_restarts_total Restarts',
        '# TYPE sipfarm_restarts_total counter',
        'sipfarm_restarts_total 1',
        '# HELP sipfarm_transactions Live transactions',
        '# TYPE sipfarm_transactions gauge',
        'sipfarm_transactions 4',
        '# HELP sipfarm_member_alive Member liveness',
        '# TYPE sipfarm_member_alive gauge',
        'sipfarm_member_alive{member="0"} 1',
        'sipfarm_member_alive{member="1"} 0',
        '',
      ].join('\n'),
    );
  });

  it('every sample line parses as name{labels} value', () => {
    const r = new Registry({ constLabels: { member: '2' } });
    r.counterSet('a_total', 'h', 'reason', ['x"y', 'back\\slash', 'new\nline']).v[0] = 2 ** 40;
    r.labeledGauge('b', 'h', 'k', () => new Map([['v', 0.5]]));
    const sample = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\\n])*",?)*\})? (NaN|[+-]Inf|-?[0-9.e+-]+)$/;
    const lines = r.render().trimEnd().split('\n');
    for (const line of lines) if (!line.startsWith('#')) expect(line).toMatch(sample);
    expect(lines).toContain('a_total{member="2",reason="x\\"y"} 1099511627776');
    expect(lines).toContain('a_total{member="2",reason="back\\\\slash"} 0');
    expect(lines).toContain('a_total{member="2",reason="new\\nline"} 0');
    expect(lines).toContain('b{member="2",k="v"} 0.5');
  });

  it('escapes HELP text and odd values', () => {
    const r = new Registry();
    r.gauge('g', 'line one\nback\\slash', () => NaN);
    r.gauge('h', 'throws', () => {
      throw new Error('boom');
    });
    r.gauge('i', 'inf', () => -Infinity);
    const text = r.render();
    expect(text).toContain('# HELP g line one\\nback\\\\slash\n');
    expect(text).toContain('\ng NaN\n');
    expect(text).toContain('\nh NaN\n');
    expect(text).toContain('\ni -Inf\n');
    expect(formatValue(Infinity)).toBe('+Inf');
    expect(formatValue(1e21)).toBe('1e+21');
    expect(escapeLabelValue('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
  });

  it('refuses a name registered twice and a label clashing with a constant label', () => {
    const r = new Registry({ constLabels: { member: '1' } });
    r.counter('x_total', 'h');
    expect(() => r.gauge('x_total', 'h', () => 1)).toThrow(/registered twice/);
    expect(() => r.counterSet('y_total', 'h', 'member', ['a'])).toThrow(/constant label/);
    expect(() => new Registry({ constLabels: { 'bad-label': 'x' } })).toThrow(MetricsError);
  });

  it('toJSON', () => {
    const r = new Registry({ constLabels: { member: '0' } });
    const c = r.counterSet('p_total', 'h', 'outcome', OUTCOMES);
    c.v[0] = 3;
    r.gauge('g', 'h', () => 9);
    r.labeledGauge('lg', 'h', 'm', () => [['a', 1] as const]);
    expect(r.toJSON()).toEqual({ p_total: { local: 3, relayed: 0, dropped_size: 0 }, g: 9, lg: { a: 1 } });
    expect(JSON.parse(JSON.stringify(r))).toEqual(r.toJSON());
    expect(r.metricNames()).toEqual(['p_total', 'g', 'lg']);
  });

  it('an empty registry renders nothing', () => {
    expect(new Registry().render()).toBe('');
  });
});
