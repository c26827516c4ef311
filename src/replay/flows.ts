/**
 * Synthetic call flows for the replayer: small user-agent clients that start with one
 * request and react to responses, enough to load a proxy or registrar with realistic
 * traffic without a capture.
 *
 *   options   OPTIONS → final                                  (RFC 3261 §11)
 *   register  REGISTER (Contact = the replayer's socket) → final (§10.2)
 *   message   MESSAGE with a short text body → final           (RFC 3428)
 *   invite    INVITE (SDP) → 2xx → ACK + BYE → final           (§13, §15)
 *             INVITE → non-2xx final → ACK (same branch)       (§17.1.1.3)
 *
 * Responses are matched to flows by Call-ID (the sender's map). The client never
 * retransmits: the replayer measures loss, it does not hide it.
 */
import { randomBytes } from 'node:crypto';
import { headerValues, splitMessage, type MessageKey } from './rewrite.js';

export const FLOW_KINDS = ['options', 'register', 'message', 'invite'] as const;
export type FlowKind = (typeof FLOW_KINDS)[number];

export interface HostPort {
  host: string;
  port: number;
}

export interface FlowContext {
  /** The socket this flow sends from (Via, Contact). */
  local: HostPort;
  /** Where requests go (the proxy, the VIP). */
  target: HostPort;
  /** Unique within the run: goes into Call-ID, tags and the user part. */
  index: number;
  /** Request-URI / To domain; defaults to the target host:port. */
  domain?: string;
  /** User part of the called / registered AoR; `{n}` is replaced by the index. */
  user?: string;
  /** Unique per run (default random): keeps Call-IDs of two runs apart. */
  runId?: string;
  /** Milliseconds between the INVITE's 2xx and the BYE (0 = at once). */
  holdMs?: number;
  /** For `register`: Expires value. */
  expires?: number;
}

/** A request the flow wants sent, and whether a response is expected for it. */
export interface FlowSend {
  buf: Buffer;
  /** false for ACK (RFC 3261 §17.1.1.3: ACK is never answered). */
  expectsAnswer: boolean;
  /** Send after this delay (ms) instead of now. */
  delayMs?: number;
}

export interface Flow {
  readonly callId: string;
  readonly kind: FlowKind;
  start(): FlowSend[];
  onResponse(resp: Buffer, key: MessageKey): FlowSend[];
  readonly done: boolean;
}

const CRLF = '\r\n';

function branch(): string {
  // RFC 3261 §8.1.1.7: the magic cookie marks a branch unique in space and time.
  return `z9hG4bK-rp-${randomBytes(6).toString('hex')}`;
}

function build(startLine: string, headers: string[], body = ''): Buffer {
  const all = [startLine, ...headers, `Content-Length: ${Buffer.byteLength(body, 'latin1')}`, '', body];
  return Buffer.from(all.join(CRLF), 'latin1');
}

/** A synthetic flow of `kind` for one call index. */
export function createFlow(kind: FlowKind, ctx: FlowContext): Flow {
  const runId = ctx.runId ?? randomBytes(4).toString('hex');
  const local = `${ctx.local.host}:${ctx.local.port}`;
  const domain = ctx.domain ?? `${ctx.target.host}:${ctx.target.port}`;
  const user = (ctx.user ?? 'bench{n}').replace('{n}', String(ctx.index));
  const callId = `rp-${runId}-${ctx.index}@${ctx.local.host}`;
  const fromTag = `rp${runId}${ctx.index}`;
  const via = (b: string): string => `Via: SIP/2.0/UDP ${local};branch=${b};rport`;
  const from = kind === 'register'
    ? `From: <sip:${user}@${domain}>;tag=${fromTag}`
    : `From: "replay" <sip:replay@${local}>;tag=${fromTag}`;
  const common = (toHeader: string, b: string, cseq: number, method: string): string[] => [
    via(b), 'Max-Forwards: 70', from, toHeader, `Call-ID: ${callId}`, `CSeq: ${cseq} ${method}`,
  ];
  const ruri = `sip:${user}@${domain}`;
  const toHeader = `To: <${ruri}>`;
  let done = false;

  const simple = (method: string, extra: string[], body = '', reqUri = ruri): Flow => ({
    callId,
    kind,
    get done() { return done; },
    start: () => [{ buf: build(`${method} ${reqUri} SIP/2.0`, [...common(toHeader, branch(), 1, method), ...extra], body), expectsAnswer: true }],
    onResponse: (_r, k) => {
      if (k.status >= 200) done = true;
      return [];
    },
  });

  switch (kind) {
    case 'options':
      return simple('OPTIONS', ['Accept: application/sdp']);
    case 'register':
      return simple('REGISTER', [`Contact: <sip:${user}@${local}>`, `Expires: ${ctx.expires ?? 300}`], '', `sip:${domain}`);
    case 'message':
      return simple('MESSAGE', ['Content-Type: text/plain'], `replay message ${ctx.index}`);
    case 'invite':
      return inviteFlow();
  }

  function inviteFlow(): Flow {
    const inviteBranch = branch();
    const sdp = [
      'v=0', `o=replay ${ctx.index} 1 IN IP4 ${ctx.local.host}`, 's=-', `c=IN IP4 ${ctx.local.host}`, 't=0 0',
      'm=audio 40000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', '',
    ].join(CRLF);
    const contact = `Contact: <sip:replay@${local}>`;
    let answered = false;
    let byeSent = false;
    return {
      callId,
      kind,
      get done() { return done; },
      start: () => [{
        buf: build(`INVITE ${ruri} SIP/2.0`, [...common(toHeader, inviteBranch, 1, 'INVITE'), contact, 'Content-Type: application/sdp'], sdp),
        expectsAnswer: true,
      }],
      onResponse: (resp, k) => {
        if (k.status < 200) return [];
        if (k.method === 'BYE') {
          done = true;
          return [];
        }
        if (k.method !== 'INVITE') return [];
        const m = splitMessage(resp.toString('latin1'));
        const to = headerValues(m, 'to')[0] ?? toHeader.slice(4);
        if (k.status >= 300) {
          // §17.1.1.3: the ACK for a non-2xx final is part of the INVITE transaction (same branch, same R-URI).
          done = true;
          return [{ buf: build(`ACK ${ruri} SIP/2.0`, [...common(`To: ${to}`, inviteBranch, 1, 'ACK')]), expectsAnswer: false }];
        }
        // §12.1.2: the route set is the Record-Route of the 2xx, reversed; the remote target its Contact.
        const rr = headerValues(m, 'record-route').flatMap((v) => v.split(/,(?=\s*<)/)).map((v) => v.trim()).reverse();
        const target = /<([^>]+)>/.exec(headerValues(m, 'contact')[0] ?? '')?.[1] ?? ruri;
        const routes = rr.map((r) => `Route: ${r}`);
        // §13.2.2.4: the 2xx ACK is its own transaction: a new branch. A retransmitted 2xx gets it again.
        const ack = { buf: build(`ACK ${target} SIP/2.0`, [...common(`To: ${to}`, branch(), 1, 'ACK'), ...routes]), expectsAnswer: false };
        if (answered) return [ack];
        answered = true;
        if (byeSent) return [ack];
        byeSent = true;
        const bye = { buf: build(`BYE ${target} SIP/2.0`, [...common(`To: ${to}`, branch(), 2, 'BYE'), ...routes]), expectsAnswer: true, delayMs: ctx.holdMs ?? 0 };
        return [ack, bye];
      },
    };
  }
}
