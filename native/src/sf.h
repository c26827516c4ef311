/* sipfarm native fast path: the shared declarations of the C twin.
 *
 * Every function here mirrors a TypeScript function of the same role (file named in
 * the comment) and must agree with it byte for byte; test/unit/native/differential.test.ts
 * checks that on generated and mutated datagrams. Per-packet functions do not allocate,
 * log, or fail other than through their return value. */
#ifndef SIPFARM_SF_H
#define SIPFARM_SF_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include "constants.h"

/* ---- hash.c (src/farm/hash.ts, src/farm/keys.ts) ---------------------------------- */
uint32_t sf_fnv1a32(const uint8_t *b, int32_t s, int32_t e, uint32_t seed);
uint32_t sf_fnv1a32_lower(const uint8_t *b, int32_t s, int32_t e, uint32_t seed);
uint32_t sf_fmix32(uint32_t h);
uint32_t sf_key_hash(const uint8_t *b, int32_t s, int32_t e);
uint32_t sf_aor_hash(const uint8_t *b, int32_t us, int32_t ue, int32_t hs, int32_t he);
/* user/host of a sip(s) URI in b[s, e); out = {userStart, userEnd, hostStart, hostEnd} */
int sf_uri_user_host(const uint8_t *b, int32_t s, int32_t e, int32_t out[4]);

/* ---- tokens.c (src/farm/tokens.ts) ------------------------------------------------ */
int sf_branch_owner(const uint8_t *b, int32_t s, int32_t e);
int sf_uri_token_owner(const uint8_t *b, int32_t s, int32_t e);

/* ---- scanner.c (src/sip/scanner.ts) ------------------------------------------------ */
typedef struct sf_scan {
  int32_t status, is_request, method, method_start, method_end, status_code;
  int32_t ruri_start, ruri_end, branch_start, branch_end, via_count;
  int32_t call_id_start, call_id_end, cseq_num, cseq_method, cseq_method_start, cseq_method_end;
  int32_t to_uri_start, to_uri_end, from_tag_start, from_tag_end, to_tag_start, to_tag_end;
  int32_t route_uri_start, route_uri_end, max_forwards, headers_end, content_length;
} sf_scan;

int sf_method_of(const uint8_t *b, int32_t s, int32_t e);
/* len is the datagram length; cap is the size limit (clamped to SF_SCAN_MAX_DATAGRAM). */
int sf_scan_datagram(const uint8_t *b, size_t len, sf_scan *out, int32_t cap, int flags);
/* Copy into the Int32Array layout of NativeScanField. */
void sf_scan_export(const sf_scan *s, int32_t *out);

/* ---- classifier.c (src/fastpath/classifier.ts) ------------------------------------- */
typedef struct sf_tables {
  int32_t self_id;
  uint8_t alive[256];
  uint8_t *ring;       /* slot -> member id (SF_RING_EMPTY = none); NULL = no ring */
  uint32_t ring_size;
  uint8_t *prev_ring;  /* previous epoch's ring during grace, else NULL */
  uint32_t prev_ring_size;
  uint32_t probe_v4[SF_TABLE_MAX_PROBE_SOURCES]; /* host order */
  int32_t probe_count;
  int32_t max_message_size;
} sf_tables;

typedef struct sf_verdict {
  int32_t action, outcome, drop, owner, second_chance, ring_owner, by_ring;
  uint32_t hash;
} sf_verdict;

/* src_v4: IPv4 source in host order, or 0 when not IPv4 (never a probe source then). */
int sf_classify(const uint8_t *b, size_t len, uint32_t src_v4, int arrival, const sf_tables *t, sf_scan *s,
                sf_verdict *v);
uint32_t sf_ring_hash(const uint8_t *b, const sf_scan *s);
int sf_ring_lookup(const uint8_t *ring, uint32_t size, uint32_t h);
void sf_verdict_export(const sf_verdict *v, int32_t *out);

/* ---- envelope.c (src/farm/envelope.ts, src/farm/replay.ts) -------------------------- */
typedef struct sf_replay {
  uint32_t window; /* power of two, 32..65536 */
  uint32_t words;
  uint8_t seen[SF_MAX_MEMBER_ID + 1];
  uint32_t boot[SF_MAX_MEMBER_ID + 1];
  uint32_t top[SF_MAX_MEMBER_ID + 1];
  uint32_t *bits; /* (SF_MAX_MEMBER_ID + 1) * words */
} sf_replay;

int sf_replay_init(sf_replay *r, uint32_t window);
void sf_replay_free(sf_replay *r);
int sf_replay_check(sf_replay *r, int origin, uint32_t boot, uint32_t seq);
void sf_replay_reset(sf_replay *r, int origin);

typedef struct sf_env_header {
  uint8_t kind, flags, hop, origin, transport, family;
  uint32_t epoch, boot, seq;
  uint8_t src_addr[16], local_addr[16];
  uint16_t src_port, local_port;
} sf_env_header;

struct sf_hmac; /* opaque: OpenSSL HMAC-SHA256 context with the farm key */
struct sf_hmac *sf_hmac_new(const uint8_t *key, size_t key_len);
void sf_hmac_free(struct sf_hmac *h);
/* mac[32] = HMAC-SHA256(key, b[0, n)); returns 0 on success */
int sf_hmac_sha256(struct sf_hmac *h, const uint8_t *b, size_t n, uint8_t mac[32]);

/* Encodes into out (room cap); returns the datagram length, or -1 (bad header/too big). */
int32_t sf_env_encode(const sf_env_header *h, const uint8_t *payload, size_t n, struct sf_hmac *key, uint8_t *out,
                      size_t cap);
/* is_member[id] != 0: origin allowed. Returns an SF_ENV_REJECT_* code; fills h and *payload_len. */
int sf_env_decode(const uint8_t *b, size_t len, struct sf_hmac *key, const uint8_t *is_member, sf_replay *replay,
                  sf_env_header *h, uint32_t *payload_len);

/* ---- l2.c (src/io/l2-relay.ts) ------------------------------------------------------ */
/* Ethernet II 14 + IPv4 20 (no options) + UDP 8, written into the arena headroom. */
#define SF_L2_HEADER_SIZE 42
/* l2 counters (src/io/l2-relay.ts L2_COUNTER_NAMES, same order; append-only). The
 * FALLBACK_* ones went out as udp envelopes instead of frames. */
enum {
  SF_L2_SENT = 0,
  SF_L2_FALLBACK_MTU = 1,
  SF_L2_FALLBACK_NO_MAC = 2,
  SF_L2_FALLBACK_FAMILY = 3,
  SF_L2_FALLBACK_SECOND_CHANCE = 4,
  SF_L2_SEND_FAILED = 5,
  SF_L2_MARKED_IN = 6,
  SF_L2_COUNTER_COUNT = 7
};
/* Writes Ethernet/IPv4/UDP headers into f[0, 42) for the payload_len bytes at f + 42,
 * both checksums computed; tos is the whole TOS byte (DSCP << 2). Returns the frame length. */
size_t sf_l2_build(uint8_t *f, const uint8_t dst_mac[6], const uint8_t src_mac[6], const uint8_t src_ip[4], uint16_t sport,
                   const uint8_t dst_ip[4], uint16_t dport, uint8_t tos, uint32_t payload_len);

#endif
