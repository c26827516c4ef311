/**
 * The replayer's engine: paces units of traffic (one captured request, or the start of
 * one synthetic flow) at a target rate from a pool of UDP source ports, matches every
 * response to its request by Call-ID + CSeq, and reports offered / answered / lost and
 * request → response latency.
 *
 * It is open-loop (a request is sent when it is due, whatever the target does) and it
 * never retransmits, so loss shows as loss. Sends go through node:dgram one datagram at a
 * time; a Node timer tick sends every datagram that fell due since the last one.
 */
import * as dgram from 'node:dgram';
import { createFlow, type Flow, type FlowKind, type FlowSend, type HostPort } from './flows.js';
import { Pacer } from './pacing.js';
import { messageKey, rewriteMessage, type RewriteRules } from './rewrite.js';
import { LatencyRecorder, type ReplayReport } from './stats.js';
import type { CapturedDatagram } from './capture.js';

/** Where units of traffic come from. */
export interface TrafficSource {
  readonly description: string;
  /** Unit `index` to be sent from `local` (socket `socketIndex`); null when exhausted. */
  unit(index: number, local: HostPort): { sends: FlowSend[]; flow?: Flow } | null;
  /** Which source socket unit `index` uses (same Call-ID → same socket). */
  socketFor(index: number, sockets: number): number;
}

/** Synthetic flows of one kind, one per unit. */
export function flowSource(kind: FlowKind, opts: { target: HostPort; user?: string; domain?: string; holdMs?: number; runId?: string }): TrafficSource {
  return {
    description: `synthetic ${kind} flows`,
    socketFor: (i, n) => i % n,
    unit(index, local) {
      const flow = createFlow(kind, { local, target: opts.target, index, user: opts.user, domain: opts.domain, holdMs: opts.holdMs, runId: opts.runId });
      return { sends: flow.start(), flow };
    },
  };
}

/**
 * The requests of a capture, in capture order, once per repetition. With `unique`, each
 * repetition r > 0 rewrites Call-IDs, branches and tags with a suffix so the target sees
 * new calls; rep 0 keeps the captured values unless `uniqueFirst` is set. The top Via
 * always names the replayer's socket so responses come back to it.
 */
export function captureSource(
  datagrams: readonly CapturedDatagram[],
  opts: { repeat: number; unique: boolean; replace?: ReadonlyArray<readonly [string, string]>; runId?: string; includeResponses?: boolean },
): TrafficSource & { requests: number } {
  const items: Array<{ payload: Buffer; callId: string; method: string }> = [];
  for (const d of datagrams) {
    const k = messageKey(d.payload);
    if (k === null) continue;
    if (!k.isRequest && opts.includeResponses !== true) continue;
    items.push({ payload: d.payload, callId: k.callId, method: k.method });
  }
  const runId = opts.runId ?? Math.floor(Math.random() * 0xffffffff).toString(16);
  const hashes = items.map((it) => fnv(it.callId));
  return {
    requests: items.length,
    description: `capture (${items.length} requests × ${opts.repeat})`,
    socketFor: (i, n) => (items.length === 0 ? 0 : (hashes[i % items.length] + Math.floor(i / items.length)) % n),
    unit(index, local) {
      if (items.length === 0) return null;
      const rep = Math.floor(index / items.length);
      if (rep >= opts.repeat) return null;
      const it = items[index % items.length];
      const rules: RewriteRules = { replace: opts.replace, topVia: local };
      if (opts.unique) {
        const sfx = `-${runId}r${rep}`;
        rules.callIdSuffix = sfx;
        rules.branchSuffix = sfx;
        rules.tagSuffix = sfx;
      }
      return { sends: [{ buf: rewriteMessage(it.payload, rules), expectsAnswer: it.method !== 'ACK' && !it.payload.subarray(0, 8).equals(Buffer.from('SIP/2.0 ')) }] };
    },
  };
}

function fnv(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export interface ReplayOptions {
  target: HostPort;
  source: TrafficSource;
  /** Units per second. */
  rate: number;
  /** Stop after this many units (default: unbounded, then `seconds` must be set). */
  count?: number;
  /** Stop sending after this long (default: unbounded, then `count` must be set or the source ends). */
  seconds?: number;
  /** Number of source sockets. */
  sourcePorts: number;
  bindHost: string;
  /** Wait this long after the last send for outstanding responses. */
  drainMs: number;
  /** Largest burst one timer tick may send. */
  maxBurst?: number;
  /** Progress callback once per second (sent so far, answered so far). */
  onProgress?: (sent: number, answered: number) => void;
}

interface Pending {
  sentNs: number;
  answered: boolean;
}

const nowNs = (): number => Number(process.hrtime.bigint());

/** Run one replay; resolves with the report when sending and draining are over. */
export async function replay(o: ReplayOptions): Promise<ReplayReport> {
  if (o.count === undefined && o.seconds === undefined) throw new RangeError('replay needs count or seconds');
  const sockets: dgram.Socket[] = [];
  const locals: HostPort[] = [];
  const pending = new Map<string, Pending>();
  const flows = new Map<string, Flow>();
  const socketOfFlow = new Map<string, number>();
  const latency = new LatencyRecorder();
  const finals: Record<string, number> = {};
  let sent = 0;
  let offered = 0;
  let answered = 0;
  let unmatched = 0;
  let sendErrors = 0;
  const timers = new Set<NodeJS.Timeout>();

  const onResponse = (buf: Buffer): void => {
    const k = messageKey(buf);
    if (k === null || k.isRequest) { unmatched++; return; }
    const p = pending.get(k.key);
    if (p === undefined) unmatched++;
    else {
      if (!p.answered) {
        p.answered = true;
        answered++;
        latency.add((nowNs() - p.sentNs) / 1e6);
      }
      if (k.status >= 200) {
        const cls = `${Math.floor(k.status / 100)}xx`;
        finals[cls] = (finals[cls] ?? 0) + 1;
        pending.delete(k.key);
      }
    }
    const flow = flows.get(k.callId);
    if (flow !== undefined) {
      const sock = sockets[socketOfFlow.get(k.callId) ?? 0];
      const more = flow.onResponse(buf, k);
      for (const s of more) {
        if (s.delayMs) {
          const t = setTimeout(() => { timers.delete(t); send(sock, s); }, s.delayMs);
          timers.add(t);
        } else send(sock, s);
      }
      if (flow.done) { flows.delete(k.callId); socketOfFlow.delete(k.callId); }
    }
  };
  const send = (sock: dgram.Socket, s: FlowSend): void => {
    if (s.expectsAnswer) {
      const k = messageKey(s.buf);
      if (k !== null && !pending.has(k.key)) {
        pending.set(k.key, { sentNs: nowNs(), answered: false });
        offered++;
      }
    }
    sent++;
    sock.send(s.buf, o.target.port, o.target.host, (err) => { if (err) sendErrors++; });
  };

  for (let i = 0; i < o.sourcePorts; i++) {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((res, rej) => { s.once('error', rej); s.bind(0, o.bindHost, () => { s.off('error', rej); res(); }); });
    s.on('error', () => { sendErrors++; });
    s.on('message', onResponse);
    try { s.setRecvBufferSize(1 << 20); s.setSendBufferSize(1 << 20); } catch { /* capped by rmem_max */ }
    sockets.push(s);
    locals.push({ host: o.bindHost, port: s.address().port });
  }

  const start = nowNs();
  const pacer = new Pacer(o.rate, start, o.maxBurst ?? Math.max(64, Math.ceil(o.rate / 100)), o.count ?? Number.POSITIVE_INFINITY);
  const endNs = o.seconds === undefined ? Number.POSITIVE_INFINITY : start + o.seconds * 1e9;
  let index = 0;
  let lastUnitNs = start;
  let exhausted = false;
  let lastProgress = start;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = nowNs();
      if (now >= endNs || pacer.done || exhausted) { resolve(); return; }
      const n = pacer.take(now);
      for (let j = 0; j < n; j++) {
        const si = o.source.socketFor(index, sockets.length);
        const u = o.source.unit(index, locals[si]);
        if (u === null) { exhausted = true; break; }
        if (u.flow !== undefined && !u.flow.done) { flows.set(u.flow.callId, u.flow); socketOfFlow.set(u.flow.callId, si); }
        for (const s of u.sends) send(sockets[si], s);
        index++;
        lastUnitNs = now;
      }
      if (o.onProgress && now - lastProgress >= 1e9) { lastProgress = now; o.onProgress(sent, answered); }
      // Wake at the next due packet (at least every 100 ms to notice the end).
      const waitMs = Math.min(100, Math.max(0, Math.min(pacer.nextDueNs(), endNs) - nowNs()) / 1e6);
      // Timers fire no sooner than ~1 ms: whatever fell due meanwhile goes as one burst next tick.
      setTimeout(tick, waitMs < 1 ? 0 : Math.floor(waitMs));
    };
    tick();
  });
  const sendEnd = nowNs();
  // Drain: until every request has its final response and every flow ended, or drainMs.
  const drainUntil = Date.now() + o.drainMs;
  while (Date.now() < drainUntil && (pending.size > 0 || flows.size > 0 || timers.size > 0)) {
    await new Promise((r) => setTimeout(r, 10));
  }
  for (const t of timers) clearTimeout(t);
  for (const s of sockets) await new Promise<void>((r) => s.close(() => r()));
  const durationS = (sendEnd - start) / 1e9;
  return {
    target: `${o.target.host}:${o.target.port}`,
    source: o.source.description,
    rateTarget: o.rate,
    // Units 0..index-1 went out over [start, lastUnit]: index-1 intervals.
    rateAchieved: index > 1 && lastUnitNs > start ? ((index - 1) * 1e9) / (lastUnitNs - start) : 0,
    durationS,
    sent,
    offered,
    answered,
    lost: offered - answered,
    unmatched,
    finals,
    sendErrors,
    latency: latency.summary(),
    sourcePorts: sockets.length,
  };
}
