/* libFuzzer harness: envelope decode (native/src/envelope.c) on arbitrary bytes, and an
 * encode → decode round trip of the input as payload, which must verify and give the
 * payload back unchanged. Run by test/fuzz/run.sh. */
#include <stdlib.h>
#include <string.h>
#include "sf.h"

static struct sf_hmac *key;
static sf_replay replay;
static uint8_t members[256];
static uint8_t out[SF_ENV_MAX_DATAGRAM + 64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (key == NULL) {
    static const uint8_t k[32] = "sipfarm fuzz key, 32 bytes long";
    key = sf_hmac_new(k, sizeof k);
    if (key == NULL || sf_replay_init(&replay, SF_DEFAULT_REPLAY_WINDOW) != 0) abort();
    members[1] = members[2] = 1;
  }
  uint8_t *b = malloc(size ? size : 1);
  if (b == NULL) return 0;
  memcpy(b, data, size);
  sf_env_header h;
  uint32_t n = 0;
  int rc = sf_env_decode(b, size, key, members, &replay, &h, &n);
  if (rc < 0 || rc >= SF_ENV_REJECT_COUNT) abort();
  if (rc == SF_ENV_REJECT_OK && (size_t)SF_ENV_HEADER_SIZE + n + SF_ENV_MAC_SIZE != size) abort();
  free(b);

  if (size <= SF_ENV_MAX_PAYLOAD) {
    static uint32_t seq = 0;
    sf_env_header e;
    memset(&e, 0, sizeof e);
    e.kind = SF_ENV_KIND_RELAY; e.hop = 1; e.origin = 2; e.family = 4;
    e.boot = 1; e.seq = seq++;
    if (size > 0) memcpy(e.src_addr, data, size < 16 ? size : 16);
    int32_t len = sf_env_encode(&e, data, size, key, out, sizeof out);
    if (len != (int32_t)(SF_ENV_HEADER_SIZE + size + SF_ENV_MAC_SIZE)) abort();
    sf_replay_reset(&replay, 2);
    if (sf_env_decode(out, (size_t)len, key, members, &replay, &h, &n) != SF_ENV_REJECT_OK) abort();
    if (n != size || memcmp(out + SF_ENV_OFF_PAYLOAD, data, size) != 0 || memcmp(h.src_addr, e.src_addr, 4) != 0) abort();
    out[SF_ENV_OFF_PAYLOAD + (size ? size / 2 : 0) - (size ? 0 : 1)] ^= 1; /* tamper: payload byte, or the header's last byte */
    sf_replay_reset(&replay, 2);
    if (sf_env_decode(out, (size_t)len, key, members, &replay, &h, &n) == SF_ENV_REJECT_OK) abort();
  }
  return 0;
}
