/**
 * Routing outcomes of the fast path: one counter per outcome, one name per counter.
 *
 * The numeric values index the counter arrays (and will be mirrored by the native
 * classifier), so they are append-only: never renumber.
 */
export const Outcome = {
  /** Owner is this member (by ring, branch or route token) — handed to the slow path. */
  LOCAL: 0,
  /** Response whose top-Via branch was minted by another member: relayed there. */
  RELAYED_BRANCH: 1,
  /** Request whose top Route / Request-URI carries another member's token: relayed there. */
  RELAYED_ROUTE_TOKEN: 2,
  /** Request owned by another member through ring(Call-ID) or ring(AoR): relayed there. */
  RELAYED_RING: 3,
  /** Datagram that arrived in a verified envelope from a peer. */
  RELAYED_IN: 4,
  /** Request forwarded to the previous epoch's owner during the grace period. */
  SECOND_CHANCE: 5,
  /** Second-chance request the previous owner had no state for, returned to the new owner. */
  SECOND_CHANCE_RETURNED: 6,
  /** LB health probe: always answered by the member that received it. */
  LOCAL_PROBE: 7,
  /** Response with a branch that is not ours, or whose minting member is dead: slow path forwards statelessly. */
  LOCAL_FOREIGN_BRANCH: 8,
  /** Request that failed the scanner but looks like SIP: the slow path owes it a 4xx/5xx. */
  LOCAL_MALFORMED: 9,
  /** Owner named by a token is dead: fell back to the ring over live members. */
  TOKEN_OWNER_DEAD: 10,
} as const;
export type OutcomeCode = (typeof Outcome)[keyof typeof Outcome];

export const OUTCOME_NAMES: readonly string[] = [
  'local',
  'relayed_branch',
  'relayed_route_token',
  'relayed_ring',
  'relayed_in',
  'second_chance',
  'second_chance_returned',
  'local_probe',
  'local_foreign_branch',
  'local_malformed',
  'token_owner_dead',
];

/** Why a datagram was dropped. Append-only, like Outcome. */
export const Drop = {
  TOO_LARGE: 0,
  NOT_SIP: 1,
  NO_END_OF_HEADERS: 2,
  MALFORMED_RESPONSE: 3,
  NO_LIVE_MEMBER: 4,
  ENVELOPE: 5,
  RELAY_SEND_FAILED: 6,
  HOP_EXHAUSTED: 7,
} as const;

export const DROP_NAMES: readonly string[] = [
  'too_large',
  'not_sip',
  'no_end_of_headers',
  'malformed_response',
  'no_live_member',
  'envelope',
  'relay_send_failed',
  'hop_exhausted',
];
