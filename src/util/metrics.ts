// Counters and gauges, rendered in the Prometheus text exposition format (version 0.0.4).
//
// A counter set is one metric with one label whose values are fixed up front (e.g.
// outcome="relayed", outcome="dropped_bad_mac"): each value is a slot in a preallocated
// Float64Array, so the fast path bumps it with `set.v[IDX]++` — no allocation, no lookup,
// no call. Names and label values are validated once, at registration, never per packet.
// Float64 counts exactly up to 2^53, far past any process lifetime at packet rate.

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Bad metric or label name, duplicate registration, wrong storage size. */
export class MetricsError extends Error {
  constructor(
    readonly code: 'ERR_METRIC_NAME' | 'ERR_METRIC_LABEL' | 'ERR_METRIC_DUPLICATE' | 'ERR_METRIC_STORAGE',
    message: string,
  ) {
    super(message);
    this.name = 'MetricsError';
  }
}

export function isValidMetricName(name: string): boolean {
  return METRIC_NAME.test(name);
}

/** Label names starting with "__" are reserved by Prometheus. */
export function isValidLabelName(name: string): boolean {
  return LABEL_NAME.test(name) && !name.startsWith('__');
}

/** Label value escaping of the text format: backslash, double quote, line feed. */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text escaping: backslash and line feed only. */
export function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** Sample value as the text format spells it (NaN, +Inf, -Inf, integers without exponent). */
export function formatValue(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  if (Number.isInteger(n) && Math.abs(n) < 1e21) return n.toFixed(0);
  return String(n);
}

function checkName(name: string): void {
  if (!isValidMetricName(name)) throw new MetricsError('ERR_METRIC_NAME', `metrics: "${name}" is not a valid Prometheus metric name`);
}

function checkLabel(label: string, metric: string): void {
  if (!isValidLabelName(label)) throw new MetricsError('ERR_METRIC_LABEL', `metrics: ${metric}: "${label}" is not a valid label name`);
}

/**
 * One counter metric with one label over a fixed list of values. `v[i]` is the count for
 * `values[i]`; `ids[value]` is i. Hot code keeps the index in a module constant:
 *
 *   const OUTCOMES = ['local', 'relayed', 'dropped_size'] as const;
 *   const outcomes = new CounterSet('sipfarm_packets_total', 'Packets by outcome', 'outcome', OUTCOMES);
 *   const RELAYED = outcomes.ids.relayed;
 *   ... outcomes.v[RELAYED]++;
 */
export class CounterSet<V extends string = string> {
  readonly v: Float64Array;
  readonly ids: Readonly<Record<V, number>>;

  /**
   * @param storage an existing Float64Array to count in (e.g. a view shared with the native
   *   fast path); its length must equal values.length. Defaults to a fresh zeroed array.
   */
  constructor(
    readonly name: string,
    readonly help: string,
    readonly label: string,
    readonly values: readonly V[],
    storage?: Float64Array,
  ) {
    checkName(name);
    checkLabel(label, name);
    const ids = Object.create(null) as Record<V, number>;
    values.forEach((val, i) => {
      if (Object.prototype.hasOwnProperty.call(ids, val)) {
        throw new MetricsError('ERR_METRIC_DUPLICATE', `metrics: ${name}: label value "${val}" listed twice`);
      }
      ids[val] = i;
    });
    if (storage !== undefined && storage.length !== values.length) {
      throw new MetricsError('ERR_METRIC_STORAGE', `metrics: ${name}: storage has ${storage.length} slots for ${values.length} values`);
    }
    this.v = storage ?? new Float64Array(values.length);
    this.ids = Object.freeze(ids);
  }

  inc(index: number, by = 1): void {
    this.v[index] += by;
  }

  get(index: number): number {
    return this.v[index];
  }

  /** Count by label value (control plane, tests); undefined for an unknown value. */
  getByValue(value: string): number | undefined {
    const i = (this.ids as Record<string, number>)[value];
    return i === undefined ? undefined : this.v[i];
  }

  /** Sum over all values. */
  total(): number {
    let s = 0;
    for (let i = 0; i < this.v.length; i++) s += this.v[i];
    return s;
  }

  reset(): void {
    this.v.fill(0);
  }
}

/** A counter without labels; `c.value++` in hot code. */
export class Counter {
  value = 0;
  constructor(
    readonly name: string,
    readonly help: string,
  ) {
    checkName(name);
  }

  inc(by = 1): void {
    this.value += by;
  }
}

type GaugeRead = () => number;
type LabeledGaugeRead = () => Iterable<readonly [string, number]> | Readonly<Record<string, number>>;

interface GaugeEntry {
  kind: 'gauge';
  name: string;
  help: string;
  read: GaugeRead;
}

interface LabeledGaugeEntry {
  kind: 'labeledGauge';
  name: string;
  help: string;
  label: string;
  read: LabeledGaugeRead;
}

type Entry = CounterSet | Counter | GaugeEntry | LabeledGaugeEntry;

export interface RegistryOptions {
  /** Labels put on every sample, e.g. { member: '3' }. */
  constLabels?: Readonly<Record<string, string>>;
}

/** Everything /metrics shows, in registration order. Reading happens only when scraped. */
export class Registry {
  private readonly entries: Entry[] = [];
  private readonly names = new Set<string>();
  private readonly constPairs: Array<[string, string]>;

  constructor(opts: RegistryOptions = {}) {
    this.constPairs = Object.entries(opts.constLabels ?? {});
    for (const [k] of this.constPairs) checkLabel(k, '(constLabels)');
  }

  /** Register an existing CounterSet or Counter (e.g. one created next to the fast path). */
  register<T extends CounterSet<string> | Counter>(metric: T): T {
    this.claim(metric.name);
    if (metric instanceof CounterSet && this.constPairs.some(([k]) => k === metric.label)) {
      throw new MetricsError('ERR_METRIC_LABEL', `metrics: ${metric.name}: label "${metric.label}" clashes with a constant label`);
    }
    this.entries.push(metric);
    return metric;
  }

  counterSet<V extends string>(name: string, help: string, label: string, values: readonly V[], storage?: Float64Array): CounterSet<V> {
    return this.register(new CounterSet(name, help, label, values, storage));
  }

  counter(name: string, help: string): Counter {
    return this.register(new Counter(name, help));
  }

  /** A gauge read when scraped, e.g. live transactions: `() => txLayer.size`. */
  gauge(name: string, help: string, read: GaugeRead): void {
    checkName(name);
    this.claim(name);
    this.entries.push({ kind: 'gauge', name, help, read });
  }

  /** A gauge with one label whose values are known only when scraped (e.g. per-member liveness). */
  labeledGauge(name: string, help: string, label: string, read: LabeledGaugeRead): void {
    checkName(name);
    checkLabel(label, name);
    if (this.constPairs.some(([k]) => k === label)) {
      throw new MetricsError('ERR_METRIC_LABEL', `metrics: ${name}: label "${label}" clashes with a constant label`);
    }
    this.claim(name);
    this.entries.push({ kind: 'labeledGauge', name, help, label, read });
  }

  /** Prometheus text exposition format 0.0.4 (serve as `text/plain; version=0.0.4`). */
  render(): string {
    const out: string[] = [];
    for (const e of this.entries) {
      if (e instanceof CounterSet) {
        header(out, e.name, e.help, 'counter');
        for (let i = 0; i < e.values.length; i++) out.push(`${e.name}${this.labels(e.label, e.values[i])} ${formatValue(e.v[i])}`);
      } else if (e instanceof Counter) {
        header(out, e.name, e.help, 'counter');
        out.push(`${e.name}${this.labels()} ${formatValue(e.value)}`);
      } else if (e.kind === 'gauge') {
        header(out, e.name, e.help, 'gauge');
        out.push(`${e.name}${this.labels()} ${formatValue(safeRead(e.read))}`);
      } else {
        header(out, e.name, e.help, 'gauge');
        for (const [val, n] of pairsOf(e.read)) out.push(`${e.name}${this.labels(e.label, val)} ${formatValue(n)}`);
      }
    }
    return out.length === 0 ? '' : out.join('\n') + '\n';
  }

  /** The same data as JSON: { name: n } or { name: { labelValue: n } }; constant labels omitted. */
  toJSON(): Record<string, number | Record<string, number>> {
    const o: Record<string, number | Record<string, number>> = {};
    for (const e of this.entries) {
      if (e instanceof CounterSet) {
        const m: Record<string, number> = {};
        e.values.forEach((val, i) => (m[val] = e.v[i]));
        o[e.name] = m;
      } else if (e instanceof Counter) {
        o[e.name] = e.value;
      } else if (e.kind === 'gauge') {
        o[e.name] = safeRead(e.read);
      } else {
        const m: Record<string, number> = {};
        for (const [val, n] of pairsOf(e.read)) m[val] = n;
        o[e.name] = m;
      }
    }
    return o;
  }

  /** Registered metric names, in order. */
  metricNames(): string[] {
    return this.entries.map((e) => e.name);
  }

  private claim(name: string): void {
    if (this.names.has(name)) throw new MetricsError('ERR_METRIC_DUPLICATE', `metrics: "${name}" is registered twice`);
    this.names.add(name);
  }

  private labels(label?: string, value?: string): string {
    const parts = this.constPairs.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
    if (label !== undefined && value !== undefined) parts.push(`${label}="${escapeLabelValue(value)}"`);
    return parts.length === 0 ? '' : `{${parts.join(',')}}`;
  }
}

function header(out: string[], name: string, help: string, type: 'counter' | 'gauge'): void {
  out.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
}

// A failing gauge callback must not take /metrics down with it: it reads as NaN.
function safeRead(read: GaugeRead): number {
  try {
    const n = read();
    return typeof n === 'number' ? n : NaN;
  } catch {
    return NaN;
  }
}

function pairsOf(read: LabeledGaugeRead): Array<readonly [string, number]> {
  try {
    const r = read();
    const it: Iterable<readonly [string, number]> =
      Symbol.iterator in (r as object) ? (r as Iterable<readonly [string, number]>) : Object.entries(r as Record<string, number>);
    return Array.from(it, ([k, n]) => [String(k), typeof n === 'number' ? n : NaN] as const);
  } catch {
    return [];
  }
}
