/**
 * Rewriting captured SIP messages before they are replayed, and the few header reads the
 * replayer needs (Call-ID, CSeq, status) to match responses to requests.
 *
 * The replayer is a load generator, not the farm's fast path: it works on latin1 strings
 * (byte-preserving) and allocates freely. Header names are matched case-insensitively
 * and in their compact forms (RFC 3261 §7.3.3: i = Call-ID, v = Via, l = Content-Length).
 */

export interface RewriteRules {
  /** Appended to every Call-ID ("abc@h" → "abc@h<suffix>"): one replay = new calls. */
  callIdSuffix?: string;
  /**
   * Appended to every Via branch parameter: new transactions. The RFC 3261 §8.1.1.7 magic
   * cookie (z9hG4bK) stays at the front, so the branch stays RFC 3261-compliant.
   */
  branchSuffix?: string;
  /** Appended to every From/To tag already present: new dialogs. */
  tagSuffix?: string;
  /** Literal replacements applied to the whole message, header and body (e.g. capture IP → lab IP). */
  replace?: ReadonlyArray<readonly [string, string]>;
  /** Top Via sent-by becomes this host:port (the replayer's socket), so responses come back to it. */
  topVia?: { host: string; port: number };
}

const HEADER_ALIASES: Record<string, string> = {
  i: 'call-id', v: 'via', l: 'content-length', f: 'from', t: 'to', m: 'contact', c: 'content-type',
};

/** Canonical lower-case header name (compact forms expanded). */
export function canonicalHeaderName(name: string): string {
  const n = name.trim().toLowerCase();
  return HEADER_ALIASES[n] ?? n;
}

export interface SplitMessage {
  /** Start line and header lines, without their line ends; folded lines (RFC 3261 §7.3.1) joined to their header. */
  lines: string[];
  /** Line end used by the message: '\r\n', or '\n' for the lenient captures some tools write. */
  eol: string;
  body: string;
}

/** Split a message (latin1 text) into start line + headers and body. */
export function splitMessage(text: string): SplitMessage {
  let end = text.indexOf('\r\n\r\n');
  let eol = '\r\n';
  if (end < 0) {
    const lf = text.indexOf('\n\n');
    if (lf >= 0) { end = lf; eol = '\n'; }
  }
  const head = end < 0 ? text : text.slice(0, end);
  const body = end < 0 ? '' : text.slice(end + eol.length * 2);
  const raw = head.split(/\r?\n/);
  const lines: string[] = [];
  for (const l of raw) {
    // Header folding: a line starting with whitespace continues the previous one.
    if ((l.startsWith(' ') || l.startsWith('\t')) && lines.length > 1) lines[lines.length - 1] += ' ' + l.trim();
    else lines.push(l);
  }
  return { lines, eol, body };
}

export function joinMessage(m: SplitMessage): string {
  return m.lines.join(m.eol) + m.eol + m.eol + m.body;
}

/** Values of a header (all occurrences, comma-joined values not split). */
export function headerValues(m: SplitMessage, name: string): string[] {
  const want = canonicalHeaderName(name);
  const out: string[] = [];
  for (let i = 1; i < m.lines.length; i++) {
    const c = m.lines[i].indexOf(':');
    if (c > 0 && canonicalHeaderName(m.lines[i].slice(0, c)) === want) out.push(m.lines[i].slice(c + 1).trim());
  }
  return out;
}

function mapHeaders(m: SplitMessage, name: string, fn: (value: string, index: number) => string): void {
  const want = canonicalHeaderName(name);
  let k = 0;
  for (let i = 1; i < m.lines.length; i++) {
    const line = m.lines[i];
    const c = line.indexOf(':');
    if (c > 0 && canonicalHeaderName(line.slice(0, c)) === want) {
      m.lines[i] = `${line.slice(0, c)}: ${fn(line.slice(c + 1).trim(), k++)}`;
    }
  }
}

function replaceAll(s: string, from: string, to: string): string {
  return from === '' ? s : s.split(from).join(to);
}

/**
 * Apply `rules` to one message and return the new bytes. Content-Length is set to the
 * body's real byte length whenever the message has one (RFC 3261 §20.14: it counts the
 * body's octets; a replacement in the body changes it). A message without Content-Length
 * keeps none: over UDP the datagram end delimits the body (§18.3).
 */
export function rewriteMessage(buf: Uint8Array, rules: RewriteRules): Buffer {
  let text = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('latin1');
  for (const [from, to] of rules.replace ?? []) text = replaceAll(text, from, to);
  const m = splitMessage(text);
  if (rules.callIdSuffix) mapHeaders(m, 'call-id', (v) => v + rules.callIdSuffix);
  if (rules.branchSuffix) {
    const sfx = rules.branchSuffix;
    mapHeaders(m, 'via', (v) => v.replace(/(;\s*branch\s*=\s*)([^;,\s]+)/gi, (_all, p: string, b: string) => p + b + sfx));
  }
  if (rules.tagSuffix) {
    const sfx = rules.tagSuffix;
    const tag = (v: string): string => v.replace(/(;\s*tag\s*=\s*)([^;,\s>]+)/i, (_all, p: string, t: string) => p + t + sfx);
    mapHeaders(m, 'from', tag);
    mapHeaders(m, 'to', tag);
  }
  if (rules.topVia) {
    const { host, port } = rules.topVia;
    // Only the first Via value: "SIP/2.0/UDP host[:port][;params][, next-via]".
    mapHeaders(m, 'via', (v, i) => (i === 0 ? v.replace(/^(SIP\s*\/\s*2\.0\s*\/\s*\S+\s+)([^;,\s]+)/i, `$1${host}:${port}`) : v));
  }
  const bodyLen = Buffer.byteLength(m.body, 'latin1');
  mapHeaders(m, 'content-length', () => String(bodyLen));
  return Buffer.from(joinMessage(m), 'latin1');
}

/** What the replayer reads from a message to match a response to its request. */
export interface MessageKey {
  isRequest: boolean;
  /** Request method, or the CSeq method for a response. */
  method: string;
  status: number;
  callId: string;
  cseq: number;
  /** `${callId} ${cseq} ${method}`: a response and its request share it (RFC 3261 §17.1.3 uses the branch; Call-ID+CSeq suffices for a client that never reuses a CSeq). */
  key: string;
}

/** Read start line, Call-ID and CSeq; null if any is missing. */
export function messageKey(buf: Uint8Array): MessageKey | null {
  const text = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('latin1');
  const m = splitMessage(text);
  const start = m.lines[0] ?? '';
  const callId = headerValues(m, 'call-id')[0];
  const cseqV = headerValues(m, 'cseq')[0];
  if (callId === undefined || cseqV === undefined) return null;
  const cs = /^(\d+)\s+(\S+)/.exec(cseqV);
  if (cs === null) return null;
  const cseq = Number(cs[1]);
  const cseqMethod = cs[2].toUpperCase();
  const resp = /^SIP\/2\.0\s+(\d{3})/.exec(start);
  if (resp !== null) {
    return { isRequest: false, method: cseqMethod, status: Number(resp[1]), callId, cseq, key: `${callId} ${cseq} ${cseqMethod}` };
  }
  const req = /^(\S+)\s/.exec(start);
  if (req === null) return null;
  const method = req[1].toUpperCase();
  return { isRequest: true, method, status: 0, callId, cseq, key: `${callId} ${cseq} ${method}` };
}
