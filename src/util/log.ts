// Structured logging: one JSON object per line on stderr.
//
//   {"ts":"2025-01-01T00:00:00.000Z","level":"warn","member":2,"msg":"bad envelope","fields":{"from":"127.0.0.1:7001"}}
//
// Anything that can happen once per packet goes through `sampled(key, ...)`, which lets at
// most samplePerSecond lines per key through each second and reports the number it held
// back in the next line it lets through ("suppressed": n) — a flood of bad packets costs a
// few lines, not a full disk. Packets themselves are never logged whole: truncatePacket.
// The fast path does not log at all; it counts, and the slow path samples.

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

const RANK: Readonly<Record<LogLevel, number>> = { error: 0, warn: 1, info: 2, debug: 3 };

export type LogFields = Readonly<Record<string, unknown>>;

export interface LoggerOptions {
  /** Lines below this level are dropped. Default 'info'. */
  level?: LogLevel;
  /** This member's id (or a name), on every line. */
  member?: number | string;
  /** Per-key limit for sampled(); 0 turns sampled lines off. Default 20. */
  samplePerSecond?: number;
  /** Milliseconds since the epoch; tests inject a fake clock. Default Date.now. */
  now?: () => number;
  /** Where lines go (without the trailing newline added here). Default process.stderr. */
  write?: (line: string) => void;
  /** Most distinct sampler keys kept; beyond it, keys share one bucket. Default 1024. */
  maxSampleKeys?: number;
}

interface SampleWindow {
  start: number;
  emitted: number;
  suppressed: number;
}

/** Bucket shared by keys that arrive once the sampler table is full. */
export const OVERFLOW_SAMPLE_KEY = '(other)';

export class Logger {
  private threshold: number;
  private readonly member: number | string | undefined;
  private readonly perSecond: number;
  private readonly now: () => number;
  private readonly out: (line: string) => void;
  private readonly maxKeys: number;
  private readonly windows = new Map<string, SampleWindow>();

  constructor(opts: LoggerOptions = {}) {
    this.threshold = RANK[opts.level ?? 'info'];
    this.member = opts.member;
    this.perSecond = Math.max(0, Math.floor(opts.samplePerSecond ?? 20));
    this.now = opts.now ?? Date.now;
    this.out = opts.write ?? ((line) => void process.stderr.write(line + '\n'));
    this.maxKeys = Math.max(1, opts.maxSampleKeys ?? 1024);
  }

  setLevel(level: LogLevel): void {
    this.threshold = RANK[level];
  }

  /** Check before building expensive fields. */
  enabled(level: LogLevel): boolean {
    return RANK[level] <= this.threshold;
  }

  error(msg: string, fields?: LogFields): void {
    this.log('error', msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.log('warn', msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.log('info', msg, fields);
  }
  debug(msg: string, fields?: LogFields): void {
    this.log('debug', msg, fields);
  }

  log(level: LogLevel, msg: string, fields?: LogFields): void {
    if (RANK[level] > this.threshold) return;
    this.emit(level, msg, fields, 0);
  }

  /**
   * Log under a rate limit per key (use a stable reason, e.g. 'drop.bad_mac', never a
   * source address). Returns true when the line was written. A line below the level is
   * neither written nor counted as suppressed.
   */
  sampled(key: string, level: LogLevel, msg: string, fields?: LogFields): boolean {
    if (RANK[level] > this.threshold || this.perSecond === 0) return false;
    const t = this.now();
    let w = this.windows.get(key);
    if (w === undefined) {
      if (this.windows.size >= this.maxKeys) this.sweep(t);
      if (this.windows.size >= this.maxKeys) {
        key = OVERFLOW_SAMPLE_KEY;
        w = this.windows.get(key);
      }
      if (w === undefined) {
        w = { start: t, emitted: 0, suppressed: 0 };
        this.windows.set(key, w);
      }
    }
    if (t - w.start >= 1000 || t < w.start) {
      w.start = t;
      w.emitted = 0;
    }
    if (w.emitted >= this.perSecond) {
      w.suppressed++;
      return false;
    }
    w.emitted++;
    const held = w.suppressed;
    w.suppressed = 0;
    this.emit(level, msg, fields, held);
    return true;
  }

  /** Lines held back per key since that key's last written line (for /status and tests). */
  suppressedCounts(): Record<string, number> {
    const o: Record<string, number> = {};
    for (const [k, w] of this.windows) if (w.suppressed > 0) o[k] = w.suppressed;
    return o;
  }

  // Forget keys whose window has passed with nothing held back: nothing is lost by it.
  private sweep(t: number): void {
    for (const [k, w] of this.windows) if (w.suppressed === 0 && t - w.start >= 1000) this.windows.delete(k);
  }

  private emit(level: LogLevel, msg: string, fields: LogFields | undefined, suppressed: number): void {
    const rec: Record<string, unknown> = { ts: isoTime(this.now()), level };
    if (this.member !== undefined) rec.member = this.member;
    rec.msg = msg;
    if (fields !== undefined && Object.keys(fields).length > 0) rec.fields = fields;
    if (suppressed > 0) rec.suppressed = suppressed;
    let line: string;
    try {
      line = JSON.stringify(rec, replacer);
    } catch (err) {
      // Circular fields and the like: keep the message, say why the fields are missing.
      line = JSON.stringify({ ...rec, fields: undefined, fieldsError: err instanceof Error ? err.message : String(err) });
    }
    try {
      this.out(line);
    } catch {
      // A closed stderr must not take the process down.
    }
  }
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  return new Logger(opts);
}

/** A logger that writes nothing (tests, library use). */
export function silentLogger(): Logger {
  return new Logger({ level: 'error', write: () => {}, samplePerSecond: 0 });
}

function isoTime(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}

// Values JSON cannot carry, or should not carry whole.
function replacer(this: unknown, key: string, value: unknown): unknown {
  // JSON.stringify applies Buffer#toJSON before the replacer sees the value, so look at the
  // holder's original property to catch packets.
  const original = (this as Record<string, unknown>)[key];
  if (original instanceof Uint8Array) return truncatePacket(original);
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return code === undefined ? { name: value.name, message: value.message } : { name: value.name, code, message: value.message };
  }
  return value;
}

/**
 * At most `max` bytes of a packet as readable text: printable ASCII as is, CR/LF/TAB as
 * \r \n \t, a backslash as \\, anything else as \xHH; when cut, a suffix says how many
 * bytes were left out. Meant for log lines about malformed input (Kamailio logs ~100 bytes
 * of a bad message; the rest can carry credentials and is never needed to spot the fault).
 */
export function truncatePacket(buf: Uint8Array, max = 100): string {
  const n = Math.min(buf.length, Math.max(0, Math.floor(max)));
  let s = '';
  for (let i = 0; i < n; i++) {
    const c = buf[i];
    if (c === 0x5c) s += '\\\\';
    else if (c >= 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else if (c === 0x0d) s += '\\r';
    else if (c === 0x0a) s += '\\n';
    else if (c === 0x09) s += '\\t';
    else s += '\\x' + (c < 16 ? '0' : '') + c.toString(16);
  }
  if (buf.length > n) s += `...(+${buf.length - n} bytes)`;
  return s;
}
