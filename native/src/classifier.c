/* The fast path's classifier: the C twin of src/fastpath/classifier.ts (DESIGN
 * "Classification", rules 2-7). Reads only the tables the control plane wrote; no
 * allocation, no logging, every outcome a counter index. */
#include "sf.h"

static inline void v_local(sf_verdict *v, int outcome, int owner) {
  v->action = SF_ACTION_LOCAL; v->outcome = outcome; v->owner = owner;
}
static inline void v_relay(sf_verdict *v, int outcome, int owner) {
  v->action = SF_ACTION_RELAY; v->outcome = outcome; v->owner = owner;
}
static inline void v_drop(sf_verdict *v, int reason) {
  v->action = SF_ACTION_DROP; v->drop = reason; v->outcome = -1;
}

int sf_ring_lookup(const uint8_t *ring, uint32_t size, uint32_t h) {
  if (ring == NULL || size == 0) return -1;
  uint8_t id = ring[h % size];
  return id == SF_RING_EMPTY ? -1 : id;
}

/* REGISTER hashes its To AoR (the home member), everything else its Call-ID. */
uint32_t sf_ring_hash(const uint8_t *b, const sf_scan *s) {
  int32_t uh[4];
  if (s->method == SF_METHOD_REGISTER && s->to_uri_start >= 0 && sf_uri_user_host(b, s->to_uri_start, s->to_uri_end, uh))
    return sf_aor_hash(b, uh[0], uh[1], uh[2], uh[3]);
  return sf_key_hash(b, s->call_id_start, s->call_id_end);
}

static int ruri_has_no_user(const uint8_t *b, const sf_scan *s) {
  for (int32_t i = s->ruri_start; i < s->ruri_end; i++)
    if (b[i] == 0x40) return 0;
  return 1;
}

static int is_probe_source(const sf_tables *t, uint32_t src) {
  if (src == 0) return 0;
  for (int32_t i = 0; i < t->probe_count; i++)
    if (t->probe_v4[i] == src) return 1;
  return 0;
}

int sf_classify(const uint8_t *b, size_t len, uint32_t src_v4, int arrival, const sf_tables *t, sf_scan *s,
                sf_verdict *v) {
  v->second_chance = 0;
  v->by_ring = 0;
  v->ring_owner = -1;
  v->drop = -1;
  v->hash = 0;
  const int self = t->self_id;
  int st = sf_scan_datagram(b, len, s, t->max_message_size, 0);
  if (st != SF_SCAN_OK) {
    if (st == SF_SCAN_TOO_LARGE) {
      /* A request over the cap is owed 513 (RFC 3261 §21.5.11); responses are dropped. */
      if (len >= 4 && b[0] == 0x53 && b[1] == 0x49 && b[2] == 0x50 && b[3] == 0x2f) v_drop(v, SF_DROP_TOO_LARGE);
      else v_local(v, SF_OUTCOME_LOCAL_MALFORMED, self);
      return v->action;
    }
    if (st == SF_SCAN_NOT_SIP) { v_drop(v, SF_DROP_NOT_SIP); return v->action; }
    if (st == SF_SCAN_NO_END_OF_HEADERS) { v_drop(v, SF_DROP_NO_END_OF_HEADERS); return v->action; }
    /* A request with a readable start line is owed an error response (RFC 3261 §8.2). */
    if (s->is_request) { v_local(v, SF_OUTCOME_LOCAL_MALFORMED, self); return v->action; }
    v_drop(v, SF_DROP_MALFORMED_RESPONSE);
    return v->action;
  }

  if (!s->is_request) {
    /* Rule 3: a response goes to the member that minted its top-Via branch. */
    int owner = s->branch_start >= 0 ? sf_branch_owner(b, s->branch_start, s->branch_end) : -1;
    if (owner < 0 || t->alive[owner] == 0) { v_local(v, SF_OUTCOME_LOCAL_FOREIGN_BRANCH, self); return v->action; }
    if (owner == self || arrival != SF_ARRIVAL_DIRECT) { v_local(v, SF_OUTCOME_LOCAL, self); return v->action; }
    v_relay(v, SF_OUTCOME_RELAYED_BRANCH, owner);
    return v->action;
  }

  /* Rule 4: the farm's route token in the top Route, or the Request-URI without Route. */
  int token_owner = s->route_uri_start >= 0 ? sf_uri_token_owner(b, s->route_uri_start, s->route_uri_end)
                                            : sf_uri_token_owner(b, s->ruri_start, s->ruri_end);
  int token_dead = 0;
  if (token_owner >= 0) {
    if (t->alive[token_owner] != 0) {
      if (token_owner == self || arrival != SF_ARRIVAL_DIRECT) { v_local(v, SF_OUTCOME_LOCAL, self); return v->action; }
      v_relay(v, SF_OUTCOME_RELAYED_ROUTE_TOKEN, token_owner);
      return v->action;
    }
    token_dead = 1;
  }

  /* Rule 5: LB health probes are answered by the member the LB probed. */
  if (s->method == SF_METHOD_OPTIONS &&
      (is_probe_source(t, src_v4) || (s->max_forwards >= 0 && s->max_forwards <= 1 && ruri_has_no_user(b, s)))) {
    v_local(v, SF_OUTCOME_LOCAL_PROBE, self);
    return v->action;
  }

  /* Rules 6/7: ring over live members. */
  uint32_t h = sf_ring_hash(b, s);
  v->hash = h;
  v->by_ring = 1;
  int owner = sf_ring_lookup(t->ring, t->ring_size, h);
  v->ring_owner = owner;
  if (owner < 0) {
    v_local(v, token_dead ? SF_OUTCOME_TOKEN_OWNER_DEAD : SF_OUTCOME_LOCAL, self);
    return v->action;
  }
  if (arrival != SF_ARRIVAL_DIRECT) {
    /* A relayed packet is never relayed again (peers may disagree on the ring briefly). */
    v_local(v, SF_OUTCOME_LOCAL, self);
    return v->action;
  }
  /* Second chance (DESIGN): during grace the previous owner sees the request first. */
  if (t->prev_ring != NULL) {
    int prev = sf_ring_lookup(t->prev_ring, t->prev_ring_size, h);
    if (prev >= 0 && prev != owner && t->alive[prev] != 0) {
      v->second_chance = 1;
      v_relay(v, SF_OUTCOME_SECOND_CHANCE, prev);
      return v->action;
    }
  }
  if (owner != self) {
    v_relay(v, token_dead ? SF_OUTCOME_TOKEN_OWNER_DEAD : SF_OUTCOME_RELAYED_RING, owner);
    return v->action;
  }
  v_local(v, token_dead ? SF_OUTCOME_TOKEN_OWNER_DEAD : SF_OUTCOME_LOCAL, self);
  return v->action;
}

void sf_verdict_export(const sf_verdict *v, int32_t *o) {
  o[SF_VERDICT_ACTION] = v->action;
  o[SF_VERDICT_OUTCOME] = v->outcome;
  o[SF_VERDICT_DROP] = v->drop;
  o[SF_VERDICT_OWNER] = v->owner;
  o[SF_VERDICT_SECOND_CHANCE] = v->second_chance;
  o[SF_VERDICT_RING_OWNER] = v->ring_owner;
  o[SF_VERDICT_HASH] = (int32_t)v->hash;
  o[SF_VERDICT_BY_RING] = v->by_ring;
}
