/**
 * Entry of the slow path: full parse, then the transaction layer. Bad input gets the
 * SIP error it is owed (400 with a reason, 505, 513 ...) or a counted drop — never an
 * exception that could take other calls' state with it.
 */
import { parseMessage, reasonPhrase } from '../sip/message.js';
import { SipParseError } from '../sip/errors.js';
import type { TransactionLayer } from '../sip/transaction/layer.js';
import type { Destination, SendFn } from '../sip/transaction/transport.js';
import type { Logger } from '../util/log.js';
import { truncatePacket } from '../util/log.js';

export const SLOW_PATH_EVENTS = ['requests', 'responses', 'malformed_answered', 'malformed_dropped', 'internal_errors'] as const;
export type SlowPathEvent = (typeof SLOW_PATH_EVENTS)[number];

/** Headers an error response copies from the request (RFC 3261 §8.2.6.2), long and compact names. */
const COPIED = new Map([
  ['via', 'Via'], ['v', 'Via'], ['from', 'From'], ['f', 'From'], ['to', 'To'], ['t', 'To'],
  ['call-id', 'Call-ID'], ['i', 'Call-ID'], ['cseq', 'CSeq'],
]);

/**
 * An error response built from the raw lines of a request the parser refused: the
 * parser could not give us a message object, but the client still needs its 400.
 * Returns undefined when no response is possible (no Via, an ACK, a response).
 */
export function rawErrorResponse(buf: Buffer, status: number, reason: string): Buffer | undefined {
  const text = buf.toString('latin1', 0, Math.min(buf.length, 65535));
  const headEnd = text.search(/\r?\n\r?\n/);
  const lines = (headEnd >= 0 ? text.slice(0, headEnd) : text).split(/\r?\n/);
  const start = lines[0] ?? '';
  const m = /^([A-Za-z!%*_+`'~.-]+) \S/.exec(start);
  if (m === null || start.startsWith('SIP/') || m[1].toUpperCase() === 'ACK') return undefined;
  const out: string[] = [`SIP/2.0 ${status} ${reason}`];
  let hasVia = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(':');
    if (colon <= 0 || line.startsWith(' ') || line.startsWith('\t')) continue;
    const name = COPIED.get(line.slice(0, colon).trim().toLowerCase());
    if (name === undefined) continue;
    // CR/LF inside a value cannot survive the split; anything else is copied as is.
    out.push(`${name}: ${line.slice(colon + 1).trim()}`);
    if (name === 'Via') hasVia = true;
  }
  if (!hasVia) return undefined;
  out.push('Content-Length: 0', '', '');
  return Buffer.from(out.join('\r\n'), 'latin1');
}

export class SlowPath {
  readonly events: Record<SlowPathEvent, number> = { requests: 0, responses: 0, malformed_answered: 0, malformed_dropped: 0, internal_errors: 0 };

  constructor(
    private readonly layer: TransactionLayer,
    private readonly send: SendFn,
    private readonly log: Logger,
    private readonly maxSize: number,
  ) {}

  receive(buf: Buffer, src: Destination): void {
    let msg;
    try {
      msg = parseMessage(buf, { maxSize: this.maxSize });
    } catch (err) {
      this.malformed(buf, err, src);
      return;
    }
    try {
      if (msg.kind === 'request') {
        this.events.requests++;
        this.layer.receiveRequest(msg, src);
      } else {
        this.events.responses++;
        this.layer.receiveResponse(msg, src);
      }
    } catch (err) {
      // A bug must cost one message, not the member.
      this.events.internal_errors++;
      this.log.sampled('slow-path-error', 'error', 'slow path failed on a message', { err, src: `${src.address}:${src.port}`, packet: truncatePacket(buf) });
    }
  }

  /** Any live transaction for this Call-ID (the second-chance test of DESIGN.md). */
  hasState(callId: string): boolean {
    return this.layer.hasCallId(callId);
  }

  private malformed(buf: Buffer, err: unknown, src: Destination): void {
    const status = err instanceof SipParseError ? err.status : 400;
    const reason = err instanceof SipParseError ? err.reason : reasonPhrase(400);
    const res = rawErrorResponse(buf, status, reason);
    this.log.sampled('malformed', 'info', 'malformed SIP message', {
      code: err instanceof SipParseError ? err.code : 'ERR_UNKNOWN',
      src: `${src.address}:${src.port}`,
      packet: truncatePacket(buf),
      answered: res !== undefined ? status : 0,
    });
    if (res === undefined) {
      this.events.malformed_dropped++;
      return;
    }
    this.events.malformed_answered++;
    try {
      this.send(res, src);
    } catch {
      /* the socket layer counts send failures */
    }
  }
}
