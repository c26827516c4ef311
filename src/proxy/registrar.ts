/**
 * Registrar (RFC 3261 §10.3) for the farm's domains.
 *
 * The classifier hashes REGISTER by its To AoR, so a REGISTER normally reaches the AoR's
 * home member (ring(AoR)); the registrar there updates its store and pushes the result to
 * the replica (see location-service.ts). Authentication is not performed here.
 */
import { newTag } from '../util/random.js';
import { createResponse, type SipMessage } from '../sip/message.js';
import { parseNameAddr } from '../sip/headers.js';
import { aorOf, formatUri, parseUri } from '../sip/uri.js';
import type { Binding } from './location.js';
import type { Clock } from '../sip/clock.js';

export interface RegistrarConfig {
  minExpires: number;
  maxExpires: number;
  defaultExpires: number;
}

export interface RegistrarStore {
  /** Current bindings of the AoR (local store of the home member). */
  current(aor: string): Binding[];
  /** Commit new bindings: store locally and replicate. */
  commit(aor: string, bindings: Binding[]): void;
}

export interface RegisterOutcome {
  response: SipMessage;
  aor?: string;
}

function intOrUndefined(s: string | null | undefined): number | undefined {
  if (s === null || s === undefined || !/^\d{1,10}$/.test(s)) return undefined;
  return Number(s);
}

export class Registrar {
  constructor(
    private readonly cfg: RegistrarConfig,
    private readonly isOurDomain: (host: string) => boolean,
    private readonly store: RegistrarStore,
    private readonly clock: Clock,
  ) {}

  handle(req: SipMessage, src: { address: string; port: number }): RegisterOutcome {
    // §10.3 step 1: the Request-URI names the domain the registrar is for.
    let ruri;
    try {
      ruri = parseUri(req.uri);
    } catch {
      return { response: this.reply(req, 400, 'Bad Request - Request-URI') };
    }
    if (ruri.scheme !== 'sip' && ruri.scheme !== 'sips') return { response: this.reply(req, 416) };
    if (!this.isOurDomain(ruri.host)) return { response: this.reply(req, 403, 'Forbidden - Not Our Domain') };

    // §10.3 step 2: Require handling.
    const require = req.getAll('require');
    if (require.length > 0) {
      const res = this.reply(req, 420);
      res.set('unsupported', require.join(', '));
      return { response: res };
    }

    // §10.3 step 5: the AoR is the To URI, canonicalised.
    let aor: string;
    try {
      const to = req.to().uri;
      if (to.scheme !== 'sip' && to.scheme !== 'sips') return { response: this.reply(req, 416) };
      if (!this.isOurDomain(to.host)) return { response: this.reply(req, 404, 'Not Found - Not Our Domain') };
      aor = aorOf(to);
    } catch {
      return { response: this.reply(req, 400, 'Bad Request - To') };
    }

    const callId = req.callId();
    const cseq = req.cseq().seq;
    const expiresHeader = intOrUndefined(req.get('expires'));
    const now = this.clock.now();
    const contacts = req.getAll('contact');
    const current = this.store.current(aor);

    // §10.3 step 6: "*" removes all bindings, only with Expires: 0 and no other Contact.
    if (contacts.length === 1 && contacts[0].trim() === '*') {
      if (expiresHeader !== 0) return { response: this.reply(req, 400, 'Bad Request - Wildcard Contact Needs Expires 0') };
      for (const b of current) {
        // §10.3 step 7 applies to removal too: an older CSeq of the same Call-ID is stale.
        if (b.callId === callId && cseq <= b.cseq) return { response: this.reply(req, 500, 'Server Error - Stale CSeq') };
      }
      this.store.commit(aor, []);
      return { response: this.ok(req, []), aor };
    }
    if (contacts.some((c) => c.trim() === '*')) return { response: this.reply(req, 400, 'Bad Request - Wildcard Contact') };

    const next = current.map((b) => ({ ...b }));
    const via = req.topVia();
    const nat = via !== undefined && via.params.has('rport');
    for (const value of contacts) {
      let na;
      try {
        na = parseNameAddr(value);
      } catch {
        return { response: this.reply(req, 400, 'Bad Request - Contact') };
      }
      const expParam = na.params.get('expires');
      let expires = expParam !== undefined ? intOrUndefined(expParam) : expiresHeader;
      if (expParam !== undefined && expires === undefined) return { response: this.reply(req, 400, 'Bad Request - Contact expires') };
      if (expires === undefined) expires = this.cfg.defaultExpires;
      // §10.3 step 7 / §10.2.8: too-short intervals are refused with Min-Expires.
      if (expires !== 0 && expires < this.cfg.minExpires) {
        const res = this.reply(req, 423);
        res.set('min-expires', String(this.cfg.minExpires));
        return { response: res };
      }
      if (expires > this.cfg.maxExpires) expires = this.cfg.maxExpires;
      const contactUri = formatUri(na.uri);
      const qRaw = na.params.get('q');
      const q = qRaw !== undefined && qRaw !== null && /^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(qRaw) ? Number(qRaw) : 1;
      const idx = next.findIndex((b) => b.contact === contactUri);
      if (idx >= 0) {
        const existing = next[idx];
        // §10.3 step 7: same Call-ID and not a higher CSeq → the request is out of order.
        if (existing.callId === callId && cseq <= existing.cseq) {
          return { response: this.reply(req, 500, 'Server Error - Stale CSeq') };
        }
        if (expires === 0) { next.splice(idx, 1); continue; }
        next[idx] = { ...existing, expiresAt: now + expires * 1000, callId, cseq, q, source: { ...src }, nat, updatedAt: now };
      } else if (expires !== 0) {
        next.push({ contact: contactUri, expiresAt: now + expires * 1000, callId, cseq, q, source: { ...src }, nat, updatedAt: now });
      }
    }
    if (contacts.length > 0) this.store.commit(aor, next);
    return { response: this.ok(req, contacts.length > 0 ? next : current), aor };
  }

  /** §8.2.6.2: every final response of ours carries a To tag. */
  private reply(req: SipMessage, status: number, reason?: string): SipMessage {
    return createResponse(req, status, reason, newTag());
  }

  /** §10.3 step 8: 200 OK listing every current binding with its remaining expiry. */
  private ok(req: SipMessage, bindings: Binding[]): SipMessage {
    const res = this.reply(req, 200);
    const now = this.clock.now();
    for (const b of bindings) {
      const left = Math.max(0, Math.round((b.expiresAt - now) / 1000));
      res.append('contact', `<${b.contact}>;expires=${left}`);
    }
    res.set('date', new Date().toUTCString());
    return res;
  }
}

