/**
 * The fast path: decide, per datagram, who owns it (DESIGN.md "Classification").
 *
 * It scans, it does not parse: the scanner gives offsets, the classifier turns them into
 * an owner using only tables the control plane wrote (ring, previous ring, liveness,
 * probe sources). No allocation, no logging, no exceptions; every outcome has a counter.
 * The native classifier (issue 4) implements the same rules over the same tables.
 */
import { Method, Scan, ScanResult, scan } from '../sip/scanner.js';
import { branchOwner, uriTokenOwner } from '../farm/tokens.js';
import type { MaglevRing } from '../farm/ring.js';
import { aorHashBytes, callIdHash, uriUserHost } from '../farm/keys.js';
import { Drop, Outcome } from './outcomes.js';

/** How the datagram reached this member. */
export const Arrival = {
  /** Straight from the LB (or a client): may be relayed once. */
  DIRECT: 0,
  /** Relayed by a peer: handled here, except for the new owner's second-chance hop. */
  RELAYED: 1,
} as const;

export const Action = { LOCAL: 0, RELAY: 1, DROP: 2 } as const;

/** Tables the control plane writes and the fast path only reads. */
export class OwnershipTables {
  selfId = 0;
  /** 1 = member may receive relays (alive or draining). Indexed by member id. */
  readonly alive = new Uint8Array(256);
  ring: MaglevRing | null = null;
  /** Previous epoch's ring while the grace period lasts, else null. */
  prevRing: MaglevRing | null = null;
  /** Sources whose OPTIONS are LB health probes (DESIGN rule 5). */
  probeSources: ReadonlySet<string> = new Set();
  maxMessageSize = 65535;
}

/** Reused per socket: the classifier writes its answer here. */
export class Verdict {
  action: number = Action.DROP;
  outcome = -1;
  drop = -1;
  owner = -1;
  /** Relay with the second-chance flag. */
  secondChance = false;
  /** The ring hash used, when the owner came from the ring. */
  hash = 0;
  byRing = false;
  /**
   * Owner under the current ring. With secondChance set, `owner` is the previous epoch's
   * owner (which may be this member) and ringOwner is where the request goes if the
   * previous owner has no state for it.
   */
  ringOwner = -1;
}

const userHost = new Int32Array(4);

function local(v: Verdict, outcome: number, owner: number): void {
  v.action = Action.LOCAL; v.outcome = outcome; v.owner = owner;
}
function relay(v: Verdict, outcome: number, owner: number): void {
  v.action = Action.RELAY; v.outcome = outcome; v.owner = owner;
}
function drop(v: Verdict, reason: number): void {
  v.action = Action.DROP; v.drop = reason; v.outcome = -1;
}

/** True when the Request-URI has no user part (an OPTIONS "ping" to the host itself). */
function ruriHasNoUser(buf: Uint8Array, s: ScanResult): boolean {
  for (let i = s.ruriStart; i < s.ruriEnd; i++) if (buf[i] === 0x40) return false;
  return true;
}

/** Ring hash of a scanned request: To AoR for REGISTER (its home member), else the Call-ID. */
export function ringHash(buf: Uint8Array, s: ScanResult): number {
  if (s.method === Method.REGISTER && s.toUriStart >= 0 && uriUserHost(buf, s.toUriStart, s.toUriEnd, userHost)) {
    return aorHashBytes(buf, userHost[0], userHost[1], userHost[2], userHost[3]);
  }
  return callIdHash(buf, s.callIdStart, s.callIdEnd);
}

/**
 * Classify one datagram. `s` and `v` are caller-owned scratch objects.
 * Returns v.action.
 */
export function classify(
  buf: Uint8Array,
  len: number,
  src: string,
  arrival: number,
  t: OwnershipTables,
  s: ScanResult,
  v: Verdict,
): number {
  v.secondChance = false;
  v.byRing = false;
  v.ringOwner = -1;
  v.drop = -1;
  const self = t.selfId;
  const st = scan(buf as Buffer, len, s, t.maxMessageSize);
  if (st !== Scan.OK) {
    if (st === Scan.TOO_LARGE) {
      // A request over the cap is owed 513 (RFC 3261 §21.5.11); the slow path reads only
      // its first lines to build it. Oversized responses are dropped.
      if (len >= 4 && buf[0] === 0x53 && buf[1] === 0x49 && buf[2] === 0x50 && buf[3] === 0x2f) drop(v, Drop.TOO_LARGE);
      else local(v, Outcome.LOCAL_MALFORMED, self);
      return v.action;
    }
    if (st === Scan.NOT_SIP) { drop(v, Drop.NOT_SIP); return v.action; }
    if (st === Scan.NO_END_OF_HEADERS) { drop(v, Drop.NO_END_OF_HEADERS); return v.action; }
    // A request with a readable start line is owed an error response (RFC 3261 §8.2, §16.3);
    // answering it here rather than at the owner is fine: it creates no state.
    if (s.isRequest) { local(v, Outcome.LOCAL_MALFORMED, self); return v.action; }
    drop(v, Drop.MALFORMED_RESPONSE);
    return v.action;
  }

  if (!s.isRequest) {
    // Rule 3: a response goes to the member that minted its top-Via branch.
    const owner = s.branchStart >= 0 ? branchOwner(buf, s.branchStart, s.branchEnd) : -1;
    if (owner < 0 || t.alive[owner] === 0) { local(v, Outcome.LOCAL_FOREIGN_BRANCH, self); return v.action; }
    if (owner === self || arrival !== Arrival.DIRECT) { local(v, Outcome.LOCAL, self); return v.action; }
    relay(v, Outcome.RELAYED_BRANCH, owner);
    return v.action;
  }

  // Rule 4: the farm's route token in the top Route, or in the Request-URI without Route.
  const tokenOwner = s.routeUriStart >= 0
    ? uriTokenOwner(buf, s.routeUriStart, s.routeUriEnd)
    : uriTokenOwner(buf, s.ruriStart, s.ruriEnd);
  let tokenDead = false;
  if (tokenOwner >= 0) {
    if (t.alive[tokenOwner] !== 0) {
      if (tokenOwner === self || arrival !== Arrival.DIRECT) { local(v, Outcome.LOCAL, self); return v.action; }
      relay(v, Outcome.RELAYED_ROUTE_TOKEN, tokenOwner);
      return v.action;
    }
    tokenDead = true;
  }

  // Rule 5: LB health probes are answered by the member the LB probed, never farmed.
  if (s.method === Method.OPTIONS && (t.probeSources.has(src) || (s.maxForwards >= 0 && s.maxForwards <= 1 && ruriHasNoUser(buf, s)))) {
    local(v, Outcome.LOCAL_PROBE, self);
    return v.action;
  }

  // Rule 6/7: ring over live members.
  const ring = t.ring;
  const h = ringHash(buf, s);
  v.hash = h;
  v.byRing = true;
  const owner = ring === null ? -1 : ring.lookup(h);
  v.ringOwner = owner;
  if (owner < 0) {
    // Nobody is in the ring (all draining): serve it here rather than lose it.
    local(v, tokenDead ? Outcome.TOKEN_OWNER_DEAD : Outcome.LOCAL, self);
    return v.action;
  }
  if (arrival !== Arrival.DIRECT) {
    // A relayed packet is never relayed again (peers may disagree on the ring for a moment).
    local(v, Outcome.LOCAL, self);
    return v.action;
  }
  // During grace the previous owner may still hold the transaction this request belongs
  // to (a CANCEL, an ACK, a retransmission): it gets a second chance first (DESIGN
  // "Second chance"); it returns the request to the new owner if it has nothing.
  const prev = t.prevRing;
  if (prev !== null) {
    const prevOwner = prev.lookup(h);
    if (prevOwner >= 0 && prevOwner !== owner && t.alive[prevOwner] !== 0) {
      v.secondChance = true;
      relay(v, Outcome.SECOND_CHANCE, prevOwner);
      return v.action;
    }
  }
  if (owner !== self) {
    relay(v, tokenDead ? Outcome.TOKEN_OWNER_DEAD : Outcome.RELAYED_RING, owner);
    return v.action;
  }
  local(v, tokenDead ? Outcome.TOKEN_OWNER_DEAD : Outcome.LOCAL, self);
  return v.action;
}
