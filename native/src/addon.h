/* Shared by the N-API glue files (addon.c, udp.c): the per-member farm context and the
 * argument helpers. Validation is the TS wrapper's job (src/fastpath/native.ts); here a
 * wrong type throws a TypeError with code NATIVE_BAD_ARG and nothing else happens. */
#ifndef SIPFARM_ADDON_H
#define SIPFARM_ADDON_H

#define NAPI_VERSION 8
#include <node_api.h>
#include <netpacket/packet.h>
#include <sys/socket.h>
#include "sf.h"

/* The l2 relay of a context (l2.c): the AF_PACKET socket on the LB segment (fd -1 = send
 * relays as envelopes), the owners' MACs, and the loop-guard mark every VIP socket of the
 * context checks (tos 0 = guard off, and then no frames are sent either). */
typedef struct sf_l2 {
  int fd, ifindex;
  uint32_t mtu;
  uint8_t tos; /* DSCP << 2 */
  uint8_t own_mac[6];
  uint8_t has_mac[256];
  uint8_t mac[256][6];
  struct sockaddr_ll dst; /* interface + ETH_P_IP; the MAC is in the frame itself */
  double counters[SF_L2_COUNTER_COUNT];
} sf_l2;

/* Everything the fast path reads, written only by the control plane through JS calls:
 * ownership tables, peers' farm addresses, the envelope key, sequencer and replay window.
 * One per member; the classify() binding and every socket of the member share it. */
typedef struct sf_ctx {
  sf_tables t;
  uint8_t *ring_copy, *prev_ring_copy; /* owned copies the tables point at */
  uint8_t peer_known[256];             /* is_member for envelope decode */
  struct sockaddr_storage peer_addr[256];
  socklen_t peer_len[256];
  struct sf_hmac *key;
  sf_replay replay;
  uint32_t epoch, boot;
  uint64_t next_seq; /* envelope.ts EnvelopeSequencer: boot moves up when seq would wrap */
  sf_l2 l2;
} sf_ctx;

/* Next (boot, seq) for an envelope about to be sent. */
static inline void sf_ctx_stamp(sf_ctx *c, uint32_t *boot, uint32_t *seq) {
  if (c->next_seq > 0xffffffffull) {
    c->boot++;
    c->next_seq = 0;
  }
  *boot = c->boot;
  *seq = (uint32_t)c->next_seq++;
}

#define NAPI_CALL(env, call)                                                             \
  do {                                                                                   \
    if ((call) != napi_ok) {                                                             \
      const napi_extended_error_info *ei_ = NULL;                                        \
      bool pending_ = false;                                                             \
      napi_get_last_error_info((env), &ei_);                                             \
      napi_is_exception_pending((env), &pending_);                                       \
      if (!pending_)                                                                     \
        napi_throw_error((env), "NATIVE_NAPI",                                           \
                         ei_ && ei_->error_message ? ei_->error_message : "napi call failed"); \
      return NULL;                                                                       \
    }                                                                                    \
  } while (0)

napi_value sf_throw(napi_env env, const char *code, const char *msg);
int sf_arg_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len);
int sf_arg_i32(napi_env env, napi_value v, int32_t *out);
int sf_arg_u32(napi_env env, napi_value v, uint32_t *out);
int sf_arg_ctx(napi_env env, napi_value v, sf_ctx **out);
int sf_is_nullish(napi_env env, napi_value v);
/* "a.b.c.d" / IPv6 text + port into a sockaddr; returns the length or 0. */
socklen_t sf_sockaddr_of(napi_env env, napi_value ip, uint32_t port, struct sockaddr_storage *ss);

/* udp.c */
napi_status sf_udp_init(napi_env env, napi_value exports);

/* l2.c */
napi_status sf_l2_init(napi_env env, napi_value exports);
void sf_l2_init_state(sf_l2 *l);
void sf_l2_close(sf_l2 *l);
/* Builds the frame for a relay to owner in the headroom before payload; returns its
 * length, or -SF_L2_FALLBACK_* when it must go as an envelope instead (nothing written). */
int sf_l2_prepare(sf_l2 *l, int owner, int family, const uint8_t src[16], uint16_t sport, const uint8_t dst[16],
                  uint16_t dport, uint8_t *payload, uint32_t len);
/* Is this TOS byte (IP_RECVTOS / IPV6_RECVTCLASS) the farm's loop-guard mark? ECN bits ignored. */
static inline int sf_l2_marked(const sf_l2 *l, int tos) {
  return l->tos != 0 && tos >= 0 && ((uint8_t)tos & 0xfc) == l->tos;
}

#endif
