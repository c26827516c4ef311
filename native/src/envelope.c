/* The authenticated relay envelope and its replay window: the C twin of
 * src/farm/envelope.ts and src/farm/replay.ts (layout, check order and reject codes are
 * documented there). HMAC-SHA256 comes from OpenSSL 3 — inside the addon, the copy Node
 * itself exports; in the fuzz harness, libcrypto. */
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include "sf.h"

/* ---- replay window (RFC 4303 §3.4.3 sliding window, per origin, keyed by boot id) ---- */

int sf_replay_init(sf_replay *r, uint32_t window) {
  memset(r, 0, sizeof *r);
  if (window < 32 || window > 65536 || (window & (window - 1)) != 0) return -1;
  r->window = window;
  r->words = window >> 5;
  r->bits = calloc((size_t)(SF_MAX_MEMBER_ID + 1) * r->words, sizeof(uint32_t));
  return r->bits == NULL ? -1 : 0;
}

void sf_replay_free(sf_replay *r) {
  free(r->bits);
  r->bits = NULL;
}

static inline void bit_set(sf_replay *r, uint32_t base, uint32_t seq) {
  uint32_t i = seq & (r->window - 1);
  r->bits[base + (i >> 5)] |= 1u << (i & 31);
}
static inline void bit_clear(sf_replay *r, uint32_t base, uint32_t seq) {
  uint32_t i = seq & (r->window - 1);
  r->bits[base + (i >> 5)] &= ~(1u << (i & 31));
}

/* Call only after the MAC verified: an unauthenticated seq must never move the window. */
int sf_replay_check(sf_replay *r, int origin, uint32_t boot, uint32_t seq) {
  uint32_t base = (uint32_t)origin * r->words;
  if (r->seen[origin] == 0 || boot > r->boot[origin]) {
    r->seen[origin] = 1;
    r->boot[origin] = boot;
    memset(r->bits + base, 0, r->words * sizeof(uint32_t));
    r->top[origin] = seq;
    bit_set(r, base, seq);
    return 1;
  }
  if (boot < r->boot[origin]) return 0;
  uint32_t top = r->top[origin];
  if (seq > top) {
    uint32_t diff = seq - top;
    if (diff >= r->window) {
      memset(r->bits + base, 0, r->words * sizeof(uint32_t));
    } else {
      for (uint32_t s = top + 1; s != seq + 1; s++) bit_clear(r, base, s);
    }
    r->top[origin] = seq;
    bit_set(r, base, seq);
    return 1;
  }
  if (top - seq >= r->window) return 0;
  uint32_t i = seq & (r->window - 1);
  uint32_t w = base + (i >> 5), m = 1u << (i & 31);
  if (r->bits[w] & m) return 0;
  r->bits[w] |= m;
  return 1;
}

void sf_replay_reset(sf_replay *r, int origin) {
  uint32_t base = (uint32_t)origin * r->words;
  r->seen[origin] = 0;
  r->boot[origin] = 0;
  r->top[origin] = 0;
  memset(r->bits + base, 0, r->words * sizeof(uint32_t));
}

/* ---- HMAC-SHA256 ----------------------------------------------------------------------
 * One EVP_MAC_CTX per key, set up once; per datagram it is re-initialised with a NULL
 * key, which OpenSSL 3 defines as "same key again" — no per-packet key schedule. */

struct sf_hmac {
  EVP_MAC *mac;
  EVP_MAC_CTX *ctx;
};

struct sf_hmac *sf_hmac_new(const uint8_t *key, size_t key_len) {
  struct sf_hmac *h = calloc(1, sizeof *h);
  if (h == NULL) return NULL;
  h->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  if (h->mac != NULL) h->ctx = EVP_MAC_CTX_new(h->mac);
  if (h->ctx != NULL) {
    OSSL_PARAM params[2];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    if (EVP_MAC_init(h->ctx, key, key_len, params) == 1) return h;
  }
  sf_hmac_free(h);
  return NULL;
}

void sf_hmac_free(struct sf_hmac *h) {
  if (h == NULL) return;
  EVP_MAC_CTX_free(h->ctx);
  EVP_MAC_free(h->mac);
  free(h);
}

int sf_hmac_sha256(struct sf_hmac *h, const uint8_t *b, size_t n, uint8_t mac[32]) {
  size_t out = 0;
  if (EVP_MAC_init(h->ctx, NULL, 0, NULL) != 1) return -1;
  if (EVP_MAC_update(h->ctx, b, n) != 1) return -1;
  if (EVP_MAC_final(h->ctx, mac, &out, 32) != 1 || out != 32) return -1;
  return 0;
}

/* ---- codec (big-endian, envelope.ts layout) ------------------------------------------ */

static inline void put16(uint8_t *b, int off, uint32_t v) { b[off] = (uint8_t)(v >> 8); b[off + 1] = (uint8_t)v; }
static inline void put32(uint8_t *b, int off, uint32_t v) {
  b[off] = (uint8_t)(v >> 24); b[off + 1] = (uint8_t)(v >> 16); b[off + 2] = (uint8_t)(v >> 8); b[off + 3] = (uint8_t)v;
}
static inline uint32_t get16(const uint8_t *b, int off) { return ((uint32_t)b[off] << 8) | b[off + 1]; }
static inline uint32_t get32(const uint8_t *b, int off) {
  return ((uint32_t)b[off] << 24) | ((uint32_t)b[off + 1] << 16) | ((uint32_t)b[off + 2] << 8) | b[off + 3];
}

/* envelope.ts putAddr: IPv4 in the first 4 bytes, the rest zero; nothing for family 0. */
static void put_addr(uint8_t *b, int off, int family, const uint8_t *a) {
  memset(b + off, 0, 16);
  if (family == 4) memcpy(b + off, a, 4);
  else if (family == 6) memcpy(b + off, a, 16);
}

#define FLAGS_KNOWN (SF_ENV_FLAG_SECOND_CHANCE | SF_ENV_FLAG_RETURNED)

/* envelope.ts checkHeader (the fields a uint8/uint32 cannot already rule out). */
static int header_ok(const sf_env_header *h) {
  if (h->kind != SF_ENV_KIND_RELAY && h->kind != SF_ENV_KIND_HEARTBEAT && h->kind != SF_ENV_KIND_CONTROL) return 0;
  if ((h->flags & ~FLAGS_KNOWN) != 0) return 0;
  if ((h->flags & SF_ENV_FLAG_RETURNED) && !(h->flags & SF_ENV_FLAG_SECOND_CHANCE)) return 0;
  if (h->hop == 0 || h->hop > SF_ENV_HOP_MAX) return 0;
  if (h->origin > SF_MAX_MEMBER_ID) return 0;
  if (h->transport != SF_ENV_TRANSPORT_UDP && h->transport != SF_ENV_TRANSPORT_TCP) return 0;
  if (h->family != 4 && h->family != 6 && !(h->family == 0 && h->kind != SF_ENV_KIND_RELAY)) return 0;
  return 1;
}

int32_t sf_env_encode(const sf_env_header *h, const uint8_t *payload, size_t n, struct sf_hmac *key, uint8_t *b,
                      size_t cap) {
  if (!header_ok(h) || n > SF_ENV_MAX_PAYLOAD || key == NULL) return -1;
  size_t total = SF_ENV_HEADER_SIZE + n + SF_ENV_MAC_SIZE;
  if (total > cap) return -1;
  put16(b, SF_ENV_OFF_MAGIC, SF_ENV_MAGIC);
  b[SF_ENV_OFF_VERSION] = SF_ENV_VERSION;
  b[SF_ENV_OFF_KIND] = h->kind;
  b[SF_ENV_OFF_FLAGS] = h->flags;
  b[SF_ENV_OFF_HOP] = h->hop;
  b[SF_ENV_OFF_ORIGIN] = h->origin;
  b[SF_ENV_OFF_TRANSPORT] = h->transport;
  put32(b, SF_ENV_OFF_EPOCH, h->epoch);
  put32(b, SF_ENV_OFF_BOOT, h->boot);
  put32(b, SF_ENV_OFF_SEQ, h->seq);
  b[SF_ENV_OFF_FAMILY] = h->family;
  b[SF_ENV_OFF_RESERVED1] = b[SF_ENV_OFF_RESERVED1 + 1] = b[SF_ENV_OFF_RESERVED1 + 2] = 0;
  put_addr(b, SF_ENV_OFF_SRC_ADDR, h->family, h->src_addr);
  put16(b, SF_ENV_OFF_SRC_PORT, h->src_port);
  put16(b, SF_ENV_OFF_LOCAL_PORT, h->local_port);
  put_addr(b, SF_ENV_OFF_LOCAL_ADDR, h->family, h->local_addr);
  put16(b, SF_ENV_OFF_PAYLOAD_LEN, (uint32_t)n);
  put16(b, SF_ENV_OFF_RESERVED2, 0);
  /* memmove: the payload may already sit in place (the relay path receives into it). */
  if (payload != b + SF_ENV_OFF_PAYLOAD) memmove(b + SF_ENV_OFF_PAYLOAD, payload, n);
  uint8_t mac[32];
  if (sf_hmac_sha256(key, b, SF_ENV_HEADER_SIZE + n, mac) != 0) return -1;
  memcpy(b + SF_ENV_HEADER_SIZE + n, mac, SF_ENV_MAC_SIZE);
  return (int32_t)total;
}

int sf_env_decode(const uint8_t *b, size_t len, struct sf_hmac *key, const uint8_t *is_member, sf_replay *replay,
                  sf_env_header *h, uint32_t *payload_len) {
  if (len < SF_ENV_HEADER_SIZE + SF_ENV_MAC_SIZE) return SF_ENV_REJECT_SHORT;
  if (get16(b, SF_ENV_OFF_MAGIC) != SF_ENV_MAGIC) return SF_ENV_REJECT_BAD_MAGIC;
  if (b[SF_ENV_OFF_VERSION] != SF_ENV_VERSION) return SF_ENV_REJECT_BAD_VERSION;
  uint32_t n = get16(b, SF_ENV_OFF_PAYLOAD_LEN);
  size_t mac_at = SF_ENV_HEADER_SIZE + n;
  if (mac_at + SF_ENV_MAC_SIZE != len) return SF_ENV_REJECT_BAD_LENGTH;
  /* Authenticate before believing any other field; constant-time compare. */
  uint8_t mac[32];
  if (key == NULL || sf_hmac_sha256(key, b, mac_at, mac) != 0) return SF_ENV_REJECT_BAD_MAC;
  if (CRYPTO_memcmp(mac, b + mac_at, SF_ENV_MAC_SIZE) != 0) return SF_ENV_REJECT_BAD_MAC;

  uint8_t kind = b[SF_ENV_OFF_KIND], flags = b[SF_ENV_OFF_FLAGS], hop = b[SF_ENV_OFF_HOP];
  uint8_t origin = b[SF_ENV_OFF_ORIGIN], transport = b[SF_ENV_OFF_TRANSPORT], family = b[SF_ENV_OFF_FAMILY];
  if ((flags & ~FLAGS_KNOWN) != 0) return SF_ENV_REJECT_BAD_FLAGS;
  if ((flags & SF_ENV_FLAG_RETURNED) && !(flags & SF_ENV_FLAG_SECOND_CHANCE)) return SF_ENV_REJECT_BAD_FLAGS;
  if (kind < SF_ENV_KIND_RELAY || kind > SF_ENV_KIND_CONTROL) return SF_ENV_REJECT_BAD_FIELD;
  if (transport > SF_ENV_TRANSPORT_TCP) return SF_ENV_REJECT_BAD_FIELD;
  if (family != 4 && family != 6 && !(family == 0 && kind != SF_ENV_KIND_RELAY)) return SF_ENV_REJECT_BAD_FIELD;
  if (hop > SF_ENV_HOP_MAX) return SF_ENV_REJECT_BAD_FIELD;
  if ((b[SF_ENV_OFF_RESERVED1] | b[SF_ENV_OFF_RESERVED1 + 1] | b[SF_ENV_OFF_RESERVED1 + 2] | b[SF_ENV_OFF_RESERVED2] |
       b[SF_ENV_OFF_RESERVED2 + 1]) != 0)
    return SF_ENV_REJECT_BAD_FIELD;
  if (origin > SF_MAX_MEMBER_ID || is_member == NULL || !is_member[origin]) return SF_ENV_REJECT_UNKNOWN_MEMBER;
  if (hop == 0) return SF_ENV_REJECT_HOP_EXHAUSTED;
  uint32_t boot = get32(b, SF_ENV_OFF_BOOT), seq = get32(b, SF_ENV_OFF_SEQ);
  if (replay != NULL && !sf_replay_check(replay, origin, boot, seq)) return SF_ENV_REJECT_REPLAY;

  h->kind = kind; h->flags = flags; h->hop = hop; h->origin = origin; h->transport = transport; h->family = family;
  h->epoch = get32(b, SF_ENV_OFF_EPOCH);
  h->boot = boot;
  h->seq = seq;
  memcpy(h->src_addr, b + SF_ENV_OFF_SRC_ADDR, 16);
  memcpy(h->local_addr, b + SF_ENV_OFF_LOCAL_ADDR, 16);
  h->src_port = (uint16_t)get16(b, SF_ENV_OFF_SRC_PORT);
  h->local_port = (uint16_t)get16(b, SF_ENV_OFF_LOCAL_PORT);
  *payload_len = n;
  return SF_ENV_REJECT_OK;
}
