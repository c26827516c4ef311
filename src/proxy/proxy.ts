/**
 * Transaction-stateful proxy core (RFC 3261 §16), the transaction user above the
 * transaction layer. Dialog-stateless: in-dialog requests carry the farm's Record-Route
 * with the member token, so the classifier brings them back to the member that created
 * the dialog — but any member could forward them, which is what keeps calls alive when
 * that member dies.
 */
import { newTag } from '../util/random.js';
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { createResponse, reasonPhrase, type SipMessage } from '../sip/message.js';
import { parseNameAddr, parseVia, type Via } from '../sip/headers.js';
import { aorOf, parseUri, type SipUri } from '../sip/uri.js';
import { FNV1A32_OFFSET, fnv1a32Ascii, fnv1a32String } from '../farm/hash.js';
import { mintBranch } from '../farm/tokens.js';
import type { ClientTransaction, ClientTransactionHandlers } from '../sip/transaction/client.js';
import type { ServerTransaction } from '../sip/transaction/server.js';
import type { TransactionLayer } from '../sip/transaction/layer.js';
import type { TransactionUser } from '../sip/transaction/user.js';
import type { Destination, SendFn } from '../sip/transaction/transport.js';
import type { Binding } from './location.js';
import type { Registrar } from './registrar.js';
import { optionsResponse } from './health.js';

export interface ProxyOptions {
  selfId: number;
  /** Public SIP address: the sent-by of our Via and the host of our Record-Route. */
  vip: { host: string; port: number };
  /** Other addresses that are us (a member's own SIP socket), for route recognition. */
  localHosts?: string[];
  domains: string[];
  outboundProxy?: Destination;
  /** Bindings of an AoR: an array when this member holds them, a promise when a peer must be asked. */
  location: { lookup(aor: string): Binding[] | Promise<Binding[]> };
  registrar: Registrar;
  isDraining(): boolean;
  /** Raw send through the VIP socket, for stateless forwarding and error answers. */
  send: SendFn;
}

/** Per-event proxy counters, exported as sipfarm_proxy_total{event=...}. */
export const PROXY_EVENTS = [
  'requests', 'forwarded_stateful', 'forwarded_stateless', 'responses_forwarded', 'stray_responses_forwarded',
  'stray_responses_dropped', 'local_2xx', 'local_4xx', 'local_5xx', 'registrations', 'options_answered',
  'cancels', 'loops_detected', 'too_many_hops', 'relay_denied', 'not_found', 'timeouts', 'malformed_answered',
  'malformed_dropped', 'resolve_failed',
] as const;
export type ProxyEvent = (typeof PROXY_EVENTS)[number];

/**
 * State kept per proxied INVITE/non-INVITE: the response context of §16. It is also the
 * client transaction's handler object (methods, not closures), and it lets go of the
 * request and the forwarded copy once a final response went upstream: the client
 * transaction keeps its handlers until Timer M/K (up to 64·T1), and retaining two parsed
 * messages per call that long was a large part of the slow path's GC work.
 */
class ResponseContext implements ClientTransactionHandlers {
  client: ClientTransaction | undefined = undefined;
  /** The forwarded request (for CANCEL, §9.1); dropped once a final response was sent. */
  forwarded: SipMessage | undefined = undefined;
  dest: Destination | undefined = undefined;
  finalSent = false;
  provisionalSeen = false;
  cancelRequested = false;
  cancelSent = false;

  constructor(
    private readonly proxy: Proxy,
    readonly server: ServerTransaction,
    /** The received request; dropped once a final response was sent. */
    public req: SipMessage | undefined,
  ) {}

  /** A final response went (or is going) upstream: nothing below needs the requests again. */
  markFinal(): void {
    this.finalSent = true;
    this.req = undefined;
    this.forwarded = undefined;
  }

  onResponse(res: SipMessage): void {
    this.proxy.onClientResponse(this, res);
  }

  onTimeout(): void {
    this.proxy.onClientTimeout(this);
  }

  onTerminated(): void {
    this.proxy.onClientTerminated(this);
  }
}

/** Handlers of a hop-by-hop CANCEL: its answer concerns this hop only (§16.10), nothing to do. */
const IGNORE_RESPONSES: ClientTransactionHandlers = { onResponse: () => undefined, onTimeout: () => undefined };

const DIALOG_CREATING = new Set(['INVITE', 'SUBSCRIBE', 'REFER']);

/** Where routing sends a request: a final status, a response already built (registrar), or a next hop. */
type RouteDecision = { status: number; reason?: string; extra?: [string, string][] } | { response: SipMessage } | { uri: string; dest: Destination };

/** Source of a request forwarded statelessly (not used for routing decisions). */
const NO_SOURCE: Destination = { address: '', port: 0 };

/**
 * The decision to forward to `uri` at `dest`: now when dest is known, after the lookup
 * when it is a promise — no promise, and no closure, unless one is needed.
 */
function forwardTo(uri: string, dest: Destination | Promise<Destination>): RouteDecision | Promise<RouteDecision> {
  return dest instanceof Promise ? dest.then((d) => ({ uri, dest: d })) : { uri, dest };
}

/** RFC 3261 §18.2.2 / RFC 3581: where a response for this Via goes. */
export function viaDestination(via: Via): Destination {
  const received = via.params.get('received');
  const rport = via.params.get('rport');
  const address = received !== undefined && received !== null ? received : via.host.replace(/^\[|\]$/g, '');
  const port = rport !== undefined && rport !== null && /^\d+$/.test(rport) ? Number(rport) : via.port ?? 5060;
  return { address, port };
}

/** Parses our own Via once; undefined if it does not parse (then every Via is parsed as received). */
function ourViaModel(sentBy: string): Via | undefined {
  try {
    const v = parseVia(`SIP/2.0/UDP ${sentBy};branch=${MAGIC_BRANCH}`);
    return v.params.size === 1 && v.branch === MAGIC_BRANCH ? v : undefined;
  } catch {
    return undefined;
  }
}
const MAGIC_BRANCH = 'z9hG4bK-model';

/** parseVia(`SIP/2.0/UDP <sent-by>;branch=<branch>`) from the parsed model of that Via. */
export function viaWithBranch(model: Via, branch: string): Via {
  const via: Via = { protocol: model.protocol, transport: model.transport, host: model.host, params: new Map([['branch', branch]]) };
  if (model.port !== undefined) via.port = model.port;
  via.branch = branch;
  return via;
}

/** loopHash scratch: the pieces of the loop key. */
const LOOP_PARTS: string[] = ['', '', '', '', '', ''];

/**
 * fnv1a32String(parts.join('\n')) without the joined string or its UTF-8 copy: the
 * same bytes hashed where they are (ASCII, the usual case); anything else the long way.
 */
export function loopKeyHash(parts: string[]): number {
  let h = FNV1A32_OFFSET;
  for (let i = 0; i < parts.length; i++) {
    if (i > 0) h = fnv1a32Ascii('\n', 0, 1, h);
    h = fnv1a32Ascii(parts[i], 0, parts[i].length, h);
    if (h < 0) return fnv1a32String(parts.join('\n'));
  }
  return h;
}

/** fnv1a32String(s), hashed where it is when s is ASCII. */
export function stringHash(s: string): number {
  const h = fnv1a32Ascii(s, 0, s.length);
  return h >= 0 ? h : fnv1a32String(s);
}

export class Proxy implements TransactionUser {
  readonly events: Record<ProxyEvent, number>;
  private readonly contexts = new Map<ServerTransaction, ResponseContext>();
  private readonly domains: Set<string>;
  private readonly localHosts: Set<string>;
  private readonly viaSentBy: string;
  private readonly recordRoute: string;
  /** Our Via with a placeholder branch, parsed once: the model of every Via we add. */
  private readonly viaModel: Via | undefined;
  /** Branch prefix of statelessly forwarded requests: a minted branch without its random part. */
  private readonly statelessPrefix: string;
  layer!: TransactionLayer;

  constructor(private readonly o: ProxyOptions) {
    this.events = Object.fromEntries(PROXY_EVENTS.map((e) => [e, 0])) as Record<ProxyEvent, number>;
    this.domains = new Set(o.domains.map((d) => d.toLowerCase()));
    this.localHosts = new Set([o.vip.host.toLowerCase(), ...(o.localHosts ?? []).map((h) => h.toLowerCase())]);
    this.viaSentBy = `${o.vip.host}:${o.vip.port}`;
    // The member token makes in-dialog requests find this member (DESIGN rule 4).
    this.recordRoute = `<sip:${o.vip.host}:${o.vip.port};lr;sf=${o.selfId}>`;
    this.viaModel = ourViaModel(this.viaSentBy);
    // [a-z0-9] random part: the same prefix for every branch of this member.
    this.statelessPrefix = mintBranch(o.selfId).replace(/-[^-]*$/, '');
  }

  attach(layer: TransactionLayer): void {
    this.layer = layer;
  }

  /** Live response contexts (proxied transactions awaiting a final response). */
  get pending(): number {
    return this.contexts.size;
  }

  isOurDomain(host: string): boolean {
    const h = host.toLowerCase();
    return this.domains.has(h) || this.localHosts.has(h);
  }

  /** A URI that points at this farm (our Record-Route or our address), per §16.4. */
  private isUs(uri: SipUri): boolean {
    if (!this.localHosts.has(uri.host.toLowerCase())) return false;
    const port = uri.port ?? 5060;
    return port === this.o.vip.port || uri.params.has('sf');
  }

  private respond(tx: ServerTransaction, req: SipMessage, status: number, reason?: string, extra?: [string, string][]): void {
    const res = createResponse(req, status, reason ?? reasonPhrase(status), newTag());
    if (extra) for (const [k, v] of extra) res.set(k, v);
    if (status >= 200 && status < 300) this.events.local_2xx++;
    else if (status >= 400 && status < 500) this.events.local_4xx++;
    else if (status >= 500) this.events.local_5xx++;
    tx.respond(res);
  }

  /** The layer dropped a server transaction (Timer H, transport error, end of life). */
  onServerTerminated(tx: ServerTransaction): void {
    this.contexts.delete(tx);
  }

  // ---- requests -------------------------------------------------------------------------

  onRequest(req: SipMessage, tx: ServerTransaction | null, src: Destination): void {
    this.events.requests++;
    if (tx === null || req.method === 'ACK') {
      // An ACK that reached the TU is the ACK for a 2xx, end to end (§13.2.2.4): it
      // matched no transaction, or the INVITE's in Accepted (RFC 6026 §8.9, a UA that
      // reused the INVITE's branch). Either way it is forwarded statelessly (§16.11).
      this.forwardStateless(req);
      return;
    }
    try {
      this.handleRequest(req, tx, src);
    } catch (err) {
      // Parse errors on demand (a bad header only the proxy looks at) answer 400.
      const status = (err as { status?: number }).status ?? 500;
      const reason = (err as { reason?: string }).reason;
      if (!this.finalSentFor(tx)) this.respond(tx, req, status, reason);
    }
  }

  private finalSentFor(tx: ServerTransaction): boolean {
    const ctx = this.contexts.get(tx);
    return ctx !== undefined && ctx.finalSent;
  }

  private handleRequest(req: SipMessage, tx: ServerTransaction, src: Destination): void {
    const method = req.method;
    if (method === 'INVITE') {
      // §16.2: a stateful proxy answers 100 at once so the UAC stops retransmitting.
      tx.respond(createResponse(req, 100, 'Trying'));
    }
    let ruri: SipUri;
    try {
      ruri = req.requestUri();
    } catch {
      this.respond(tx, req, 400, 'Bad Request - Request-URI');
      return;
    }
    // OPTIONS to the farm itself (no user part): the health/keep-alive responder, even
    // with Max-Forwards 0 (§16.3 step 3 lets the element answer OPTIONS itself).
    if (method === 'OPTIONS' && ruri.user === undefined && this.isOurDomain(ruri.host) && !req.has('route')) {
      this.events.options_answered++;
      tx.respond(optionsResponse(req, this.o.isDraining(), newTag()));
      return;
    }
    // §16.3 step 3: Max-Forwards.
    const mf = req.maxForwards();
    if (mf !== undefined && mf <= 0) {
      this.events.too_many_hops++;
      this.respond(tx, req, 483);
      return;
    }
    // §16.3 step 4: loop detection.
    if (this.isLoop(req)) {
      this.events.loops_detected++;
      this.respond(tx, req, 482);
      return;
    }
    // §16.3 step 5: Proxy-Require — this proxy supports no extension that needs it.
    if (req.hasValue('proxy-require')) {
      this.respond(tx, req, 420, undefined, [['unsupported', req.getAll('proxy-require').join(', ')]]);
      return;
    }
    if (method === 'CANCEL') {
      this.handleCancel(req, tx);
      return;
    }
    const ctx = new ResponseContext(this, tx, req);
    this.contexts.set(tx, ctx);
    // Routing is synchronous unless a farm RPC or DNS lookup is needed: most requests
    // are forwarded in the same turn, without a promise chain per request.
    let r: RouteDecision | Promise<RouteDecision>;
    try {
      r = this.route(req, ruri, src);
    } catch {
      this.routeFailed(ctx, req);
      return;
    }
    if (r instanceof Promise) {
      r.then((d) => this.routed(ctx, req, d)).catch(() => this.routeFailed(ctx, req));
      return;
    }
    try {
      this.routed(ctx, req, r);
    } catch {
      this.routeFailed(ctx, req);
    }
  }

  private routed(ctx: ResponseContext, req: SipMessage, r: RouteDecision): void {
    if (ctx.finalSent) return;
    if ('status' in r) {
      this.finish(ctx, req, r.status, r.reason, r.extra);
      return;
    }
    if ('response' in r) {
      ctx.markFinal();
      this.contexts.delete(ctx.server);
      ctx.server.respond(r.response);
      return;
    }
    if (ctx.cancelRequested) {
      // CANCEL arrived while we were still looking up the target (§16.10).
      this.finish(ctx, req, 487);
      return;
    }
    this.forwardStateful(ctx, req, r);
  }

  private routeFailed(ctx: ResponseContext, req: SipMessage): void {
    if (!ctx.finalSent) this.finish(ctx, req, 500, 'Server Internal Error');
  }

  private finish(ctx: ResponseContext, req: SipMessage, status: number, reason?: string, extra?: [string, string][]): void {
    ctx.markFinal();
    this.contexts.delete(ctx.server);
    this.respond(ctx.server, req, status, reason, extra);
  }

  /**
   * §16.4 route information preprocessing and §16.5 target determination. Resolves to a
   * forwarding decision or a final status to answer with.
   */
  private route(req: SipMessage, ruri: SipUri, src: Destination): RouteDecision | Promise<RouteDecision> {
    const pre = this.preprocessRoutes(req, ruri);
    ruri = pre.ruri;
    const routes = req.getAll('route');
    if (routes.length > 0) {
      // Loose routing (§16.6 step 7): next hop is the top Route; Request-URI unchanged.
      if (!pre.hadOurRoute && this.o.outboundProxy === undefined) {
        this.events.relay_denied++;
        return { status: 403, reason: 'Forbidden - Relaying Denied' };
      }
      const next = parseNameAddr(routes[0]).uri;
      return forwardTo(req.uri, this.resolve(next));
    }
    if (ruri.scheme !== 'sip' && ruri.scheme !== 'sips') return { status: 416 };
    if (this.isOurDomain(ruri.host) && !pre.hadOurRoute) {
      if (req.method === 'REGISTER') {
        this.events.registrations++;
        const out = this.o.registrar.handle(req, src);
        return { response: out.response };
      }
      if (ruri.user === undefined) {
        this.events.not_found++;
        return { status: 404 };
      }
      const bindings = this.o.location.lookup(aorOf(ruri));
      return bindings instanceof Promise ? bindings.then((b) => this.toBinding(b)) : this.toBinding(bindings);
    }
    if (pre.hadOurRoute) return forwardTo(req.uri, this.resolve(ruri));
    if (this.o.outboundProxy !== undefined) return { uri: req.uri, dest: this.o.outboundProxy };
    // Never an open relay: a request for a domain we do not serve, not routed through us.
    this.events.relay_denied++;
    return { status: 403, reason: 'Forbidden - Relaying Denied' };
  }

  /** §16.5: the target from the location service's bindings. */
  private toBinding(bindings: Binding[]): RouteDecision | Promise<RouteDecision> {
    if (bindings.length === 0) {
      this.events.not_found++;
      return { status: 404 };
    }
    // No forking: the best binding (highest q, most recent) — RFC 3261 §16.5 allows
    // a proxy to choose a subset of the target set.
    const b = bindings[0];
    // RFC 3581: a UA behind NAT is reached where its REGISTER came from.
    if (b.nat) return { uri: b.contact, dest: { ...b.source } };
    return forwardTo(b.contact, this.resolve(parseUri(b.contact)));
  }

  /** §16.4: strict-router fix-up and removal of our own top Route. */
  private preprocessRoutes(req: SipMessage, ruri: SipUri): { ruri: SipUri; hadOurRoute: boolean } {
    let hadOurRoute = false;
    if (this.isUs(ruri) && ruri.params.has('sf')) {
      // The previous hop was a strict router and put our Record-Route in the
      // Request-URI: the real target is the last Route value.
      const routes = req.getAll('route');
      if (routes.length > 0) {
        const last = parseNameAddr(routes[routes.length - 1]).uri;
        req.uri = routes[routes.length - 1].replace(/^[^<]*<|>.*$/g, '');
        const all = routes.slice(0, -1);
        req.remove('route');
        for (const r of all) req.append('route', r);
        ruri = last;
        hadOurRoute = true;
      }
    }
    const routes = req.getAll('route');
    if (routes.length > 0) {
      const top = parseNameAddr(routes[0]).uri;
      if (this.isUs(top)) {
        req.removeTop('route');
        hadOurRoute = true;
      }
    }
    return { ruri, hadOurRoute };
  }

  /** An IP literal resolves now; a host name through DNS (a promise). */
  private resolve(uri: SipUri): Destination | Promise<Destination> {
    const host = uri.host.charCodeAt(0) === 0x5b ? uri.host.replace(/^\[|\]$/g, '') : uri.host;
    const maddr = uri.params.get('maddr');
    const target = maddr !== undefined && maddr !== null ? maddr : host;
    const port = uri.port ?? (uri.scheme === 'sips' ? 5061 : 5060);
    if (isIP(target) !== 0) return { address: target, port };
    return this.resolveName(target, port);
  }

  private async resolveName(target: string, port: number): Promise<Destination> {
    try {
      // RFC 3263 NAPTR/SRV is not done: A/AAAA of the host, the URI's port or 5060.
      const r = await dnsLookup(target, { family: 4 });
      return { address: r.address, port };
    } catch {
      this.events.resolve_failed++;
      throw Object.assign(new Error(`cannot resolve ${target}`), { status: 503 });
    }
  }

  /**
   * §16.6 steps 1–8: copy, retarget, Max-Forwards, Record-Route, Via. `loopKey` goes
   * into the branch so that §16.3 step 4 can tell a loop from a spiral.
   */
  private prepareForward(req: SipMessage, uri: string, branch: string, inPlace = false): SipMessage {
    // A stateless forward edits the received request itself: nothing keeps it (§16.11).
    // Lines are only replaced here, never written into: the copy may share them.
    const fwd = inPlace ? req : req.forwardCopy();
    fwd.uri = uri;
    const mf = req.maxForwards();
    fwd.set('max-forwards', String(mf === undefined ? 70 : mf - 1));
    let toTag: string | undefined;
    try {
      toTag = req.to().tag;
    } catch {
      toTag = undefined;
    }
    if (DIALOG_CREATING.has(req.method) && toTag === undefined) fwd.prepend('record-route', this.recordRoute);
    const via = `SIP/2.0/UDP ${this.viaSentBy};branch=${branch}`;
    fwd.prepend('via', via);
    // The transaction layer reads the top Via back at once: give it what parseVia would
    // (a stateless forward has no transaction to read it).
    if (this.viaModel !== undefined && !inPlace) fwd.primeTopVia(via, viaWithBranch(this.viaModel, branch));
    return fwd;
  }

  private forwardStateful(ctx: ResponseContext, req: SipMessage, target: { uri: string; dest: Destination }): void {
    const branch = `${mintBranch(this.o.selfId)}.${this.loopHash(req)}`;
    const fwd = this.prepareForward(req, target.uri, branch);
    ctx.forwarded = fwd;
    ctx.dest = target.dest;
    this.events.forwarded_stateful++;
    ctx.client = this.layer.sendRequest(fwd, target.dest, ctx);
  }

  /** @internal ResponseContext.onTimeout */
  onClientTimeout(ctx: ResponseContext): void {
    this.events.timeouts++;
    // §16.7 step 6 / §16.8: a timed-out branch counts as a 408.
    if (!ctx.finalSent && ctx.req !== undefined) this.finish(ctx, ctx.req, ctx.cancelRequested ? 487 : 408);
  }

  /** @internal ResponseContext.onTerminated */
  onClientTerminated(ctx: ResponseContext): void {
    if (ctx.finalSent || ctx.server.state === 'Terminated') this.contexts.delete(ctx.server);
  }

  /** §16.7: a response from the downstream client transaction. @internal ResponseContext.onResponse */
  onClientResponse(ctx: ResponseContext, res: SipMessage): void {
    if (res.status < 200) {
      ctx.provisionalSeen = true;
      if (ctx.cancelRequested && !ctx.cancelSent) this.sendCancel(ctx);
      // §16.7 step 5: 100 Trying is hop-by-hop, never forwarded.
      if (res.status === 100) return;
    }
    if (res.status >= 200 && res.status < 300) {
      // Every 2xx goes upstream, retransmissions included (RFC 6026).
      ctx.markFinal();
      this.contexts.delete(ctx.server);
    } else if (res.status >= 300) {
      if (ctx.finalSent) return;
      ctx.markFinal();
      this.contexts.delete(ctx.server);
    }
    // The response is ours alone once the client transaction passed it up: forwarded as
    // is, minus our Via, instead of as a copy.
    const up = res;
    up.removeTop('via');
    if (!up.hasValue('via')) return;
    if (up.status === 503) {
      // §16.7 step 6: a 503 from downstream would make the UAC avoid this whole farm.
      up.status = 500;
      up.reason = 'Server Internal Error';
    }
    this.events.responses_forwarded++;
    ctx.server.respond(up);
  }

  // ---- CANCEL (§16.10) ------------------------------------------------------------------

  private handleCancel(cancel: SipMessage, tx: ServerTransaction): void {
    this.events.cancels++;
    const invite = this.layer.findInviteServerTx(cancel);
    if (invite === undefined) {
      // A proxy would forward an unknown CANCEL statelessly; on the farm the classifier
      // already brought it to the INVITE's owner, so no context means the INVITE is gone.
      this.respond(tx, cancel, 481);
      return;
    }
    this.respond(tx, cancel, 200);
    const ctx = this.contexts.get(invite);
    if (ctx === undefined || ctx.finalSent) return;
    ctx.cancelRequested = true;
    if (ctx.client !== undefined && ctx.provisionalSeen) this.sendCancel(ctx);
    // Otherwise §9.1: wait for a provisional response before sending CANCEL downstream.
  }

  /** §9.1: CANCEL for the forwarded INVITE, hop by hop on its own client transaction. */
  private sendCancel(ctx: ResponseContext): void {
    const fwd = ctx.forwarded;
    if (fwd === undefined || ctx.dest === undefined || ctx.cancelSent) return;
    ctx.cancelSent = true;
    const headers: [string, string][] = [['via', fwd.getAll('via')[0]]];
    for (const r of fwd.getAll('route')) headers.push(['route', r]);
    headers.push(['max-forwards', '70'], ['from', fwd.get('from') ?? ''], ['to', fwd.get('to') ?? ''], ['call-id', fwd.callId()], ['cseq', `${fwd.cseq().seq} CANCEL`]);
    const cancel = (fwd.constructor as typeof SipMessage).request('CANCEL', fwd.uri, headers);
    this.layer.sendRequest(cancel, ctx.dest, IGNORE_RESPONSES);
  }

  // ---- stateless forwarding -------------------------------------------------------------

  /** ACK for 2xx (and anything else we forward without a transaction), §16.11. */
  private forwardStateless(req: SipMessage): void {
    const mf = req.maxForwards();
    if (mf !== undefined && mf <= 0) return;
    let ruri: SipUri;
    let r: RouteDecision | Promise<RouteDecision>;
    try {
      ruri = req.requestUri();
      r = this.route(req, ruri, NO_SOURCE);
    } catch {
      return;
    }
    if (r instanceof Promise) r.then((d) => this.sendStateless(req, d)).catch(() => undefined);
    else this.sendStateless(req, r);
  }

  private sendStateless(req: SipMessage, r: RouteDecision): void {
    if (!('dest' in r)) return;
    // §16.11: a stateless branch must be the same for retransmissions: derive it.
    const inBranch = req.topVia()?.branch ?? req.callId();
    const branch = `${this.statelessPrefix}-a${stringHash(inBranch).toString(36)}`;
    const fwd = this.prepareForward(req, r.uri, branch, true);
    this.events.forwarded_stateless++;
    this.o.send(fwd.toBuffer(), r.dest);
  }

  /** §16.7 when no client transaction matches: forward statelessly by the next Via. */
  onStrayResponse(res: SipMessage, _src: Destination): void {
    const vias = res.getAll('via');
    if (vias.length < 2) {
      this.events.stray_responses_dropped++;
      return;
    }
    let top: Via;
    let next: Via;
    try {
      top = parseVia(vias[0]);
      next = parseVia(vias[1]);
    } catch {
      this.events.stray_responses_dropped++;
      return;
    }
    if (!this.localHosts.has(top.host.toLowerCase()) || (top.port ?? 5060) !== this.o.vip.port) {
      this.events.stray_responses_dropped++;
      return;
    }
    const up = res.clone();
    up.removeTop('via');
    this.events.stray_responses_forwarded++;
    this.o.send(up.toBuffer(), viaDestination(next));
  }

  // ---- loops ----------------------------------------------------------------------------

  /**
   * §16.6 step 8 / §16.3 step 4: the part of our branch that identifies the request as
   * it reached us. The topmost Via is left out on purpose: on a true loop it is the last
   * hop's Via, which differs every time round.
   */
  private loopHash(req: SipMessage): string {
    let fromTag = '';
    let toTag = '';
    try {
      fromTag = req.from().tag ?? '';
      toTag = req.to().tag ?? '';
    } catch {
      /* missing From/To was caught by the parser */
    }
    const parts = LOOP_PARTS;
    parts[0] = req.uri;
    parts[1] = fromTag;
    parts[2] = toTag;
    parts[3] = req.callId();
    parts[4] = String(req.cseq().seq);
    parts[5] = req.hasValue('proxy-require') ? req.getAll('proxy-require').join(',') : '';
    return loopKeyHash(parts).toString(36);
  }

  private isLoop(req: SipMessage): boolean {
    const vias = req.getAll('via');
    if (vias.length < 2) return false;
    let h: string | undefined;
    for (const v of vias) {
      let via: Via;
      try {
        via = parseVia(v);
      } catch {
        continue;
      }
      if (!this.localHosts.has(via.host.toLowerCase()) || (via.port ?? 5060) !== this.o.vip.port) continue;
      const b = via.branch;
      if (b === undefined || !b.startsWith('z9hG4bK-sf')) continue;
      const dot = b.lastIndexOf('.');
      if (dot < 0) continue;
      h ??= this.loopHash(req);
      if (b.slice(dot + 1) === h) return true;
    }
    return false;
  }
}

