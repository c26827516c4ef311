/* Batched UDP I/O in the Node loop: one uv_poll_t per socket; on readable, recvmmsg a
 * batch, classify each datagram in C, relay in C (envelope built in place, sendmmsg'd to
 * the owner's farm address), count drops, and hand the local ones to ONE JS callback per
 * batch as offsets into a shared arena (meta words: src/fastpath/native.ts NativeMeta).
 *
 * Roles:
 *   VIP   datagrams from the LB / clients: classify → LOCAL (to JS) / RELAY (in C) / DROP;
 *         with the context's l2 relay open (l2.c) relays leave as Ethernet frames to the
 *         owner's MAC instead of envelopes, and a datagram carrying the farm's DSCP mark
 *         (IP_RECVTOS) arrived that way: classified RELAYED, never relayed again
 *   FARM  envelopes from peers: verify (MAC, replay) → payload to JS with the original
 *         source; rejects counted per reason
 *   PLAIN everything to JS (no classification) — e.g. the member's own SIP port
 *
 * Per packet: no allocation, no logging, no JS call. The arena slot of datagram i is
 * [i*stride, (i+1)*stride): 64 bytes of headroom (the envelope header is written there
 * for a relay, so the payload is never copied), the datagram, room for the 16-byte MAC. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>
#include "addon.h"

#ifndef SO_ATTACH_REUSEPORT_CBPF
#define SO_ATTACH_REUSEPORT_CBPF 51
#endif

enum { ROLE_VIP = 0, ROLE_FARM = 1, ROLE_PLAIN = 2 };
#define CTL_SIZE 128
#define MAX_ROUNDS 8 /* batches per readable event before yielding to the loop */

static const napi_type_tag SOCK_TAG = {0x73697066u, 0x756470736f636bull}; /* "sipf" "udpsock" */

typedef struct sf_sock {
  napi_env env;
  int fd, family, role, closed, started, finalized, poll_inited, poll_closed, hook;
  uv_poll_t poll;
  sf_ctx *ctx;
  struct sf_sock *relay;
  napi_ref self_ref, ctx_ref, relay_ref, cb_ref, arena_ref, meta_ref, out_ref, drop_ref, rej_ref;
  napi_async_context async;
  uint8_t *arena;
  int32_t *meta;
  uint32_t slot, stride, batch;
  double *outcomes, *drops, *rejects;
  struct mmsghdr *msgs, *smsgs, *lmsgs; /* lmsgs: l2 frames (VIP sockets) */
  struct iovec *iov, *siov, *liov;
  struct sockaddr_storage *names;
  uint8_t (*ctl)[CTL_SIZE];
  uint8_t bound_addr[16];
  uint16_t bound_port;
} sf_sock;

static uint32_t stride_of(uint32_t slot) {
  return (SF_ENV_HEADER_SIZE + slot + SF_ENV_MAC_SIZE + 7u) & ~7u;
}

static void free_sock_memory(sf_sock *s) {
  free(s->msgs); free(s->smsgs); free(s->iov); free(s->siov); free(s->names); free(s->ctl);
  free(s->lmsgs); free(s->liov);
  free(s);
}

static void del_ref(napi_env env, napi_ref *r) {
  if (*r != NULL) {
    napi_delete_reference(env, *r);
    *r = NULL;
  }
}

static void on_poll_closed(uv_handle_t *h) {
  sf_sock *s = h->data;
  s->poll_closed = 1;
  if (s->finalized) free_sock_memory(s);
}

static void cleanup_hook(void *arg);

/* Stops I/O and closes the fd. with_refs = 0 when the env is going away. */
static void sock_shutdown(sf_sock *s, int with_refs) {
  if (s->closed) return;
  s->closed = 1;
  if (s->poll_inited && !uv_is_closing((uv_handle_t *)&s->poll)) {
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, on_poll_closed);
  }
  if (s->fd >= 0) close(s->fd);
  s->fd = -1;
  if (s->hook) {
    napi_remove_env_cleanup_hook(s->env, cleanup_hook, s);
    s->hook = 0;
  }
  if (with_refs) {
    if (s->async != NULL) napi_async_destroy(s->env, s->async);
    s->async = NULL;
    del_ref(s->env, &s->cb_ref); del_ref(s->env, &s->arena_ref); del_ref(s->env, &s->meta_ref);
    del_ref(s->env, &s->out_ref); del_ref(s->env, &s->drop_ref); del_ref(s->env, &s->rej_ref);
    del_ref(s->env, &s->relay_ref); del_ref(s->env, &s->ctx_ref); del_ref(s->env, &s->self_ref);
  }
  s->relay = NULL;
}

static void cleanup_hook(void *arg) {
  sf_sock *s = arg;
  s->hook = 0; /* the env removes it itself */
  sock_shutdown(s, 0);
}

static void sock_finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  sf_sock *s = data;
  sock_shutdown(s, 1);
  s->finalized = 1;
  if (!s->poll_inited || s->poll_closed) free_sock_memory(s);
}

static int arg_sock(napi_env env, napi_value v, sf_sock **out) {
  bool ok = false;
  if (napi_check_object_type_tag(env, v, &SOCK_TAG, &ok) != napi_ok || !ok ||
      napi_get_value_external(env, v, (void **)out) != napi_ok) {
    napi_throw_type_error(env, "NATIVE_BAD_ARG", "expected a native UDP socket");
    return 0;
  }
  return 1;
}

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value e, code, m, errnov;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_string_utf8(env, "NATIVE_SOCKET", NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, m, &e);
  napi_create_int32(env, err, &errnov);
  napi_set_named_property(env, e, "errno", errnov);
  napi_throw(env, e);
  return NULL;
}

/* udpCreate(ctx|null, role, family 4|6, reusePort, freebind, pktinfo, rcvbuf, sndbuf) → socket */
static napi_value udp_create(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8], ext;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 8) return sf_throw(env, "NATIVE_BAD_ARG", "udpCreate needs 8 arguments");
  sf_ctx *ctx = NULL;
  int32_t role, family, reuse, freebind, pktinfo, rcvbuf, sndbuf;
  if (!sf_is_nullish(env, argv[0]) && !sf_arg_ctx(env, argv[0], &ctx)) return NULL;
  if (!sf_arg_i32(env, argv[1], &role) || !sf_arg_i32(env, argv[2], &family) || !sf_arg_i32(env, argv[3], &reuse) ||
      !sf_arg_i32(env, argv[4], &freebind) || !sf_arg_i32(env, argv[5], &pktinfo) || !sf_arg_i32(env, argv[6], &rcvbuf) ||
      !sf_arg_i32(env, argv[7], &sndbuf))
    return NULL;
  if (role < ROLE_VIP || role > ROLE_PLAIN || (family != 4 && family != 6))
    return sf_throw(env, "NATIVE_BAD_ARG", "bad role or family");
  if (role != ROLE_PLAIN && ctx == NULL) return sf_throw(env, "NATIVE_BAD_ARG", "VIP and FARM sockets need a context");
  int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  int one = 1;
  if (reuse && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) goto fail;
  if (freebind) {
    if (family == 4 ? setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof one) != 0
                    : setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof one) != 0)
      goto fail;
  }
  if (pktinfo) {
    /* The local address each datagram arrived on (the VIP), to answer from it (DSR). */
    if (family == 4 ? setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) != 0
                    : setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one) != 0)
      goto fail;
  }
  if (role == ROLE_VIP) {
    /* The l2 relay's loop guard reads each datagram's DSCP (l2.c): a TOS/TCLASS cmsg. */
    if (family == 4 ? setsockopt(fd, IPPROTO_IP, IP_RECVTOS, &one, sizeof one) != 0
                    : setsockopt(fd, IPPROTO_IPV6, IPV6_RECVTCLASS, &one, sizeof one) != 0)
      goto fail;
  }
  /* Capped by net.core.{r,w}mem_max: a smaller buffer is not an error. */
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (sndbuf > 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  sf_sock *s = calloc(1, sizeof *s);
  if (s == NULL) {
    close(fd);
    return sf_throw(env, "NATIVE_NOMEM", "out of memory");
  }
  s->env = env; s->fd = fd; s->family = family; s->role = role; s->ctx = ctx;
  if (napi_create_external(env, s, sock_finalize, NULL, &ext) != napi_ok) {
    close(fd);
    free(s);
    return sf_throw(env, "NATIVE_NAPI", "napi_create_external failed");
  }
  NAPI_CALL(env, napi_type_tag_object(env, ext, &SOCK_TAG));
  if (ctx != NULL) NAPI_CALL(env, napi_create_reference(env, argv[0], 1, &s->ctx_ref));
  return ext;
fail: {
  int err = errno;
  close(fd);
  return throw_errno(env, "setsockopt", err);
}
}

static void addr_bytes(const struct sockaddr_storage *ss, uint8_t out[16], uint16_t *port, int *family) {
  memset(out, 0, 16);
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    memcpy(out, &a->sin_addr, 4);
    *port = ntohs(a->sin_port);
    *family = 4;
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
    memcpy(out, &a->sin6_addr, 16);
    *port = ntohs(a->sin6_port);
    *family = 6;
  } else {
    *port = 0;
    *family = 0;
  }
}

/* udpBind(sock, ip, port) → bound port */
static napi_value udp_bind(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], r;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sf_sock *s;
  uint32_t port;
  if (argc < 3 || !arg_sock(env, argv[0], &s) || !sf_arg_u32(env, argv[2], &port)) return NULL;
  if (s->closed) return sf_throw(env, "NATIVE_CLOSED", "socket is closed");
  struct sockaddr_storage ss;
  socklen_t len = sf_sockaddr_of(env, argv[1], port, &ss);
  if (len == 0 || (ss.ss_family == AF_INET) != (s->family == 4))
    return sf_throw(env, "NATIVE_BAD_ARG", "bind address must be an IP literal of the socket's family");
  if (bind(s->fd, (struct sockaddr *)&ss, len) != 0) return throw_errno(env, "bind", errno);
  socklen_t sl = sizeof ss;
  getsockname(s->fd, (struct sockaddr *)&ss, &sl);
  int fam;
  addr_bytes(&ss, s->bound_addr, &s->bound_port, &fam);
  NAPI_CALL(env, napi_create_uint32(env, s->bound_port, &r));
  return r;
}

/* udpAttachReuseportRandom(sock, n): classic BPF on the SO_REUSEPORT group that picks a
 * socket at random per datagram (not per flow): `ld rand; mod #n; ret a`. */
static napi_value udp_reuseport_random(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sf_sock *s;
  uint32_t n;
  if (argc < 2 || !arg_sock(env, argv[0], &s) || !sf_arg_u32(env, argv[1], &n)) return NULL;
  if (n == 0 || n > 65535) return sf_throw(env, "NATIVE_BAD_ARG", "group size must be 1..65535");
  struct sock_filter code[] = {
    {BPF_LD | BPF_W | BPF_ABS, 0, 0, (uint32_t)(SKF_AD_OFF + SKF_AD_RANDOM)},
    {BPF_ALU | BPF_MOD | BPF_K, 0, 0, n},
    {BPF_RET | BPF_A, 0, 0, 0},
  };
  struct sock_fprog prog = {3, code};
  if (setsockopt(s->fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog) != 0)
    return throw_errno(env, "SO_ATTACH_REUSEPORT_CBPF", errno);
  return NULL;
}

/* ---- the receive loop --------------------------------------------------------------- */

/* The local address and interface (IP_PKTINFO) and the TOS byte (-1 when absent). */
static void local_of(sf_sock *s, struct msghdr *mh, uint8_t out[16], int32_t *ifindex, int *tos) {
  memcpy(out, s->bound_addr, 16);
  *ifindex = 0;
  *tos = -1;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      struct in_pktinfo pi;
      memcpy(&pi, CMSG_DATA(c), sizeof pi);
      memset(out, 0, 16);
      memcpy(out, &pi.ipi_addr, 4);
      *ifindex = pi.ipi_ifindex;
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      struct in6_pktinfo pi;
      memcpy(&pi, CMSG_DATA(c), sizeof pi);
      memcpy(out, &pi.ipi6_addr, 16);
      *ifindex = (int32_t)pi.ipi6_ifindex;
    } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS) {
      *tos = *(const uint8_t *)CMSG_DATA(c);
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS) {
      int tc;
      memcpy(&tc, CMSG_DATA(c), sizeof tc);
      *tos = tc & 0xff;
    }
  }
}

static void emit(sf_sock *s, uint32_t k, uint32_t off, uint32_t len, int family, uint16_t src_port, uint16_t local_port,
                 int32_t outcome, int32_t kind, int32_t flags, int32_t origin, int32_t hop, const uint8_t *src,
                 const uint8_t *local, int32_t ring_owner, int32_t ifindex) {
  int32_t *m = s->meta + (size_t)k * SF_META_STRIDE;
  m[SF_META_OFFSET] = (int32_t)off;
  m[SF_META_LENGTH] = (int32_t)len;
  m[SF_META_FAMILY] = family;
  m[SF_META_SRC_PORT] = src_port;
  m[SF_META_LOCAL_PORT] = local_port;
  m[SF_META_OUTCOME] = outcome;
  m[SF_META_KIND] = kind;
  m[SF_META_FLAGS] = flags;
  m[SF_META_ORIGIN] = origin;
  m[SF_META_HOP] = hop;
  memcpy(&m[SF_META_SRC_ADDR], src, 16);
  memcpy(&m[SF_META_LOCAL_ADDR], local, 16);
  m[SF_META_RING_OWNER] = ring_owner;
  m[SF_META_IFINDEX] = ifindex;
}

static void flush_relays(sf_sock *s, uint32_t n) {
  uint32_t sent = 0;
  int fd = s->relay != NULL ? s->relay->fd : -1;
  while (fd >= 0 && sent < n) {
    int r = sendmmsg(fd, s->smsgs + sent, n - sent, MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      /* ICMP errors of an earlier send surface here for one datagram: skip it */
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) {
        s->drops[SF_DROP_RELAY_SEND_FAILED]++;
        sent++;
        continue;
      }
      break;
    }
    sent += (uint32_t)r;
  }
  if (sent < n) s->drops[SF_DROP_RELAY_SEND_FAILED] += n - sent;
}

/* The l2 relays of a batch: one sendmmsg on the context's AF_PACKET socket. */
static void flush_l2(sf_sock *s, uint32_t n) {
  sf_l2 *l = &s->ctx->l2;
  uint32_t sent = 0;
  while (l->fd >= 0 && sent < n) {
    int r = sendmmsg(l->fd, s->lmsgs + sent, n - sent, MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) {
        l->counters[SF_L2_SEND_FAILED]++;
        s->drops[SF_DROP_RELAY_SEND_FAILED]++;
        sent++;
        continue;
      }
      break;
    }
    sent += (uint32_t)r;
  }
  l->counters[SF_L2_SENT] += sent;
  if (sent < n) {
    l->counters[SF_L2_SEND_FAILED] += n - sent;
    s->drops[SF_DROP_RELAY_SEND_FAILED] += n - sent;
  }
}

/* Calls the JS batch callback; returns 0 if the socket was closed meanwhile. */
static int deliver(sf_sock *s, uint32_t count) {
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return 0;
  napi_value cb, recv, arg, result;
  if (napi_get_reference_value(env, s->cb_ref, &cb) == napi_ok && cb != NULL && napi_get_global(env, &recv) == napi_ok &&
      napi_create_uint32(env, count, &arg) == napi_ok) {
    napi_status st = napi_make_callback(env, s->async, recv, cb, 1, &arg, &result);
    if (st == napi_pending_exception) {
      napi_value e;
      if (napi_get_and_clear_last_exception(env, &e) == napi_ok) napi_fatal_exception(env, e);
    }
  }
  napi_close_handle_scope(env, scope);
  return !s->closed;
}

static void process_batch(sf_sock *s, int n) {
  sf_ctx *c = s->ctx;
  uint32_t k = 0, nrelay = 0, nl2 = 0;
  sf_scan scan;
  sf_verdict v;
  for (int i = 0; i < n; i++) {
    uint32_t off = (uint32_t)i * s->stride + SF_ENV_HEADER_SIZE;
    uint8_t *p = s->arena + off;
    uint32_t len = s->msgs[i].msg_len;
    struct msghdr *mh = &s->msgs[i].msg_hdr;
    uint8_t src[16], local[16];
    uint16_t src_port;
    int family;
    int32_t ifindex;
    int tos;
    addr_bytes(&s->names[i], src, &src_port, &family);
    local_of(s, mh, local, &ifindex, &tos);
    if (mh->msg_flags & MSG_TRUNC) {
      /* larger than the slot: never the whole datagram, so never classified */
      if (s->drops != NULL) s->drops[s->role == ROLE_FARM ? SF_DROP_ENVELOPE : SF_DROP_TOO_LARGE]++;
      continue;
    }
    if (s->role == ROLE_PLAIN) {
      emit(s, k++, off, len, family, src_port, s->bound_port, -1, 0, 0, 255, 0, src, local, -1, ifindex);
      continue;
    }
    if (s->role == ROLE_FARM) {
      sf_env_header h;
      uint32_t plen = 0;
      int rc = sf_env_decode(p, len, c->key, c->peer_known, &c->replay, &h, &plen);
      if (rc != SF_ENV_REJECT_OK) {
        if (s->rejects != NULL) s->rejects[rc]++;
        s->drops[SF_DROP_ENVELOPE]++;
        continue;
      }
      int32_t outcome = -1;
      if (h.kind == SF_ENV_KIND_RELAY) {
        outcome = SF_OUTCOME_RELAYED_IN;
        s->outcomes[outcome]++;
      }
      emit(s, k++, off + SF_ENV_OFF_PAYLOAD, plen, h.family, h.src_port, h.local_port, outcome, h.kind, h.flags, h.origin,
           h.hop, h.src_addr, h.local_addr, -1, ifindex);
      continue;
    }
    /* ROLE_VIP: DESIGN "Classification" */
    uint32_t src_v4 = family == 4 ? ((uint32_t)src[0] << 24 | (uint32_t)src[1] << 16 | (uint32_t)src[2] << 8 | src[3]) : 0;
    /* The l2 loop guard: a frame another member relayed carries the farm's mark. */
    int marked = sf_l2_marked(&c->l2, tos);
    int a = sf_classify(p, len, src_v4, marked ? SF_ARRIVAL_RELAYED : SF_ARRIVAL_DIRECT, &c->t, &scan, &v);
    if (a == SF_ACTION_DROP) {
      s->drops[v.drop]++;
      continue;
    }
    if (marked) {
      /* DESIGN rule 1: relayed once, handled here (the classifier never relays a RELAYED
       * arrival); counted like an envelope's payload. */
      c->l2.counters[SF_L2_MARKED_IN]++;
      s->outcomes[SF_OUTCOME_RELAYED_IN]++;
      emit(s, k++, off, len, family, src_port, s->bound_port, SF_OUTCOME_RELAYED_IN, 0, 0, 255, 0, src, local, v.ring_owner,
           ifindex);
      continue;
    }
    s->outcomes[v.outcome]++;
    if (a == SF_ACTION_LOCAL || (v.second_chance && v.owner == c->t.self_id)) {
      /* A second chance whose previous owner is us needs the slow path's state: JS decides. */
      emit(s, k++, off, len, family, src_port, s->bound_port, v.outcome, 0, 0, 255, 0, src, local, v.ring_owner, ifindex);
      continue;
    }
    if (!c->peer_known[v.owner] || c->peer_len[v.owner] == 0) {
      s->drops[SF_DROP_NO_LIVE_MEMBER]++;
      continue;
    }
    if (c->l2.fd >= 0 && c->l2.tos != 0) {
      /* l2 relay: the frame the LB would have sent the owner, marked (l2.c). A second
       * chance needs the envelope's flag and hop, which a frame cannot carry. */
      int r = v.second_chance ? -SF_L2_FALLBACK_SECOND_CHANCE
                              : sf_l2_prepare(&c->l2, v.owner, family, src, src_port, local, s->bound_port, p, len);
      if (r > 0) {
        struct mmsghdr *lm = &s->lmsgs[nl2];
        s->liov[nl2].iov_base = p - SF_L2_HEADER_SIZE;
        s->liov[nl2].iov_len = (size_t)r;
        memset(&lm->msg_hdr, 0, sizeof lm->msg_hdr);
        lm->msg_hdr.msg_iov = &s->liov[nl2];
        lm->msg_hdr.msg_iovlen = 1;
        lm->msg_hdr.msg_name = &c->l2.dst;
        lm->msg_hdr.msg_namelen = sizeof c->l2.dst;
        nl2++;
        continue;
      }
      c->l2.counters[-r]++; /* too big, no MAC, IPv6, second chance: the envelope below */
    }
    sf_env_header h;
    h.kind = SF_ENV_KIND_RELAY;
    h.flags = v.second_chance ? SF_ENV_FLAG_SECOND_CHANCE : 0;
    h.hop = v.second_chance ? SF_ENV_HOP_SECOND_CHANCE : SF_ENV_HOP_NORMAL;
    h.origin = (uint8_t)c->t.self_id;
    h.transport = SF_ENV_TRANSPORT_UDP;
    h.epoch = c->epoch;
    h.family = (uint8_t)family;
    memcpy(h.src_addr, src, 16);
    h.src_port = src_port;
    memcpy(h.local_addr, local, 16);
    if (family != s->family) memset(h.local_addr, 0, 16); /* as member.ts: no cross-family local address */
    h.local_port = s->bound_port;
    sf_ctx_stamp(c, &h.boot, &h.seq);
    int32_t total = c->key != NULL ? sf_env_encode(&h, p, len, c->key, p - SF_ENV_HEADER_SIZE, s->stride) : -1;
    if (total < 0) {
      s->drops[SF_DROP_RELAY_SEND_FAILED]++;
      continue;
    }
    struct mmsghdr *sm = &s->smsgs[nrelay];
    s->siov[nrelay].iov_base = p - SF_ENV_HEADER_SIZE;
    s->siov[nrelay].iov_len = (size_t)total;
    memset(&sm->msg_hdr, 0, sizeof sm->msg_hdr);
    sm->msg_hdr.msg_iov = &s->siov[nrelay];
    sm->msg_hdr.msg_iovlen = 1;
    sm->msg_hdr.msg_name = &c->peer_addr[v.owner];
    sm->msg_hdr.msg_namelen = c->peer_len[v.owner];
    nrelay++;
  }
  if (nrelay > 0) flush_relays(s, nrelay);
  if (nl2 > 0) flush_l2(s, nl2);
  if (k > 0) deliver(s, k);
}

static void on_readable(uv_poll_t *h, int status, int events) {
  (void)events;
  sf_sock *s = h->data;
  if (status < 0 || s->closed) return;
  for (int round = 0; round < MAX_ROUNDS && !s->closed; round++) {
    for (uint32_t i = 0; i < s->batch; i++) {
      s->msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
      s->msgs[i].msg_hdr.msg_controllen = CTL_SIZE;
      s->msgs[i].msg_hdr.msg_flags = 0;
      s->iov[i].iov_len = s->slot;
    }
    int n = recvmmsg(s->fd, s->msgs, s->batch, MSG_DONTWAIT, NULL);
    if (n <= 0) break;
    process_batch(s, n);
    if ((uint32_t)n < s->batch) break;
  }
}

static int arg_f64(napi_env env, napi_value v, double **out, size_t want, napi_ref *ref) {
  if (sf_is_nullish(env, v)) {
    *out = NULL;
    return 1;
  }
  uint8_t *d;
  size_t n;
  if (!sf_arg_bytes(env, v, &d, &n)) return 0;
  if (n < want * sizeof(double)) {
    napi_throw_range_error(env, "NATIVE_BAD_ARG", "counter array too short");
    return 0;
  }
  *out = (double *)d;
  return napi_create_reference(env, v, 1, ref) == napi_ok;
}

/* udpStart(sock, relaySock|null, arena, meta: Int32Array, slot, batch, outcomes, drops, rejects, cb) */
static napi_value udp_start(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10], name, resource;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sf_sock *s, *relay = NULL;
  uint8_t *arena, *meta;
  size_t arena_len, meta_len;
  uint32_t slot, batch;
  if (argc < 10 || !arg_sock(env, argv[0], &s)) return sf_throw(env, "NATIVE_BAD_ARG", "udpStart needs 10 arguments");
  if (s->closed || s->started) return sf_throw(env, "NATIVE_STATE", "socket closed or already started");
  if (!sf_is_nullish(env, argv[1]) && !arg_sock(env, argv[1], &relay)) return NULL;
  if (!sf_arg_bytes(env, argv[2], &arena, &arena_len) || !sf_arg_bytes(env, argv[3], &meta, &meta_len) ||
      !sf_arg_u32(env, argv[4], &slot) || !sf_arg_u32(env, argv[5], &batch))
    return NULL;
  if (batch == 0 || batch > SF_TABLE_MAX_BATCH || slot < 512 || slot > 65536 || arena_len < (size_t)batch * stride_of(slot) ||
      meta_len < (size_t)batch * SF_META_STRIDE * 4)
    return sf_throw(env, "NATIVE_BAD_ARG", "udpStart: bad slot/batch or arena/meta too small");
  if (s->role != ROLE_PLAIN) {
    if (!arg_f64(env, argv[6], &s->outcomes, SF_OUTCOME_COUNT, &s->out_ref) ||
        !arg_f64(env, argv[7], &s->drops, SF_DROP_COUNT, &s->drop_ref) ||
        !arg_f64(env, argv[8], &s->rejects, SF_ENV_REJECT_COUNT, &s->rej_ref))
      return NULL;
    if (s->outcomes == NULL || s->drops == NULL) return sf_throw(env, "NATIVE_BAD_ARG", "VIP/FARM sockets need counters");
  }
  if (s->role == ROLE_VIP && slot > SF_SCAN_MAX_DATAGRAM + 1) slot = SF_SCAN_MAX_DATAGRAM + 1;
  s->slot = slot;
  s->stride = stride_of(slot);
  s->batch = batch;
  s->arena = arena;
  s->meta = (int32_t *)meta;
  s->msgs = calloc(batch, sizeof *s->msgs);
  s->smsgs = calloc(batch, sizeof *s->smsgs);
  s->iov = calloc(batch, sizeof *s->iov);
  s->siov = calloc(batch, sizeof *s->siov);
  s->names = calloc(batch, sizeof *s->names);
  s->ctl = calloc(batch, CTL_SIZE);
  s->lmsgs = calloc(batch, sizeof *s->lmsgs);
  s->liov = calloc(batch, sizeof *s->liov);
  if (!s->msgs || !s->smsgs || !s->iov || !s->siov || !s->names || !s->ctl || !s->lmsgs || !s->liov)
    return sf_throw(env, "NATIVE_NOMEM", "out of memory");
  for (uint32_t i = 0; i < batch; i++) {
    s->iov[i].iov_base = arena + (size_t)i * s->stride + SF_ENV_HEADER_SIZE;
    s->iov[i].iov_len = slot;
    s->msgs[i].msg_hdr.msg_iov = &s->iov[i];
    s->msgs[i].msg_hdr.msg_iovlen = 1;
    s->msgs[i].msg_hdr.msg_name = &s->names[i];
    s->msgs[i].msg_hdr.msg_control = s->ctl[i];
  }
  NAPI_CALL(env, napi_create_reference(env, argv[2], 1, &s->arena_ref));
  NAPI_CALL(env, napi_create_reference(env, argv[3], 1, &s->meta_ref));
  NAPI_CALL(env, napi_create_reference(env, argv[9], 1, &s->cb_ref));
  NAPI_CALL(env, napi_create_reference(env, argv[0], 1, &s->self_ref)); /* alive while open, like a dgram socket */
  if (relay != NULL) {
    s->relay = relay;
    NAPI_CALL(env, napi_create_reference(env, argv[1], 1, &s->relay_ref));
  }
  NAPI_CALL(env, napi_create_string_utf8(env, "sipfarm:udp", NAPI_AUTO_LENGTH, &name));
  NAPI_CALL(env, napi_create_object(env, &resource));
  NAPI_CALL(env, napi_async_init(env, resource, name, &s->async));
  uv_loop_t *loop;
  NAPI_CALL(env, napi_get_uv_event_loop(env, &loop));
  if (uv_poll_init(loop, &s->poll, s->fd) != 0) return sf_throw(env, "NATIVE_SOCKET", "uv_poll_init failed");
  s->poll.data = s;
  s->poll_inited = 1;
  if (uv_poll_start(&s->poll, UV_READABLE, on_readable) != 0) return sf_throw(env, "NATIVE_SOCKET", "uv_poll_start failed");
  s->started = 1;
  if (napi_add_env_cleanup_hook(env, cleanup_hook, s) == napi_ok) s->hook = 1;
  return NULL;
}

/* udpSend(sock, buf, offset, length, ip, port, srcIp|null) → bytes sent, or -errno (never throws per packet) */
static napi_value udp_send(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7], r;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sf_sock *s;
  uint8_t *buf;
  size_t blen;
  uint32_t off, len, port;
  if (argc < 7 || !arg_sock(env, argv[0], &s) || !sf_arg_bytes(env, argv[1], &buf, &blen) || !sf_arg_u32(env, argv[2], &off) ||
      !sf_arg_u32(env, argv[3], &len) || !sf_arg_u32(env, argv[5], &port))
    return NULL;
  int32_t res;
  struct sockaddr_storage to;
  socklen_t tolen = sf_sockaddr_of(env, argv[4], port, &to);
  if (s->fd < 0) res = -EBADF;
  else if ((size_t)off + len > blen) res = -EINVAL;
  else if (tolen == 0) res = -EINVAL;
  else {
    struct iovec iov = {buf + off, len};
    struct msghdr mh;
    memset(&mh, 0, sizeof mh);
    mh.msg_name = &to;
    mh.msg_namelen = tolen;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    uint8_t ctl[CTL_SIZE];
    res = 0;
    if (!sf_is_nullish(env, argv[6])) {
      /* Reply from the VIP out of a socket bound to the wildcard (DSR): the source is
       * chosen per datagram with IP_PKTINFO ipi_spec_dst / IPV6_PKTINFO. */
      struct sockaddr_storage from;
      if (sf_sockaddr_of(env, argv[6], 0, &from) == 0) res = -EINVAL;
      else {
        memset(ctl, 0, sizeof ctl);
        mh.msg_control = ctl;
        struct cmsghdr *c = (struct cmsghdr *)ctl;
        if (from.ss_family == AF_INET) {
          struct in_pktinfo pi;
          memset(&pi, 0, sizeof pi);
          pi.ipi_spec_dst = ((struct sockaddr_in *)&from)->sin_addr;
          c->cmsg_level = IPPROTO_IP;
          c->cmsg_type = IP_PKTINFO;
          c->cmsg_len = CMSG_LEN(sizeof pi);
          memcpy(CMSG_DATA(c), &pi, sizeof pi);
          mh.msg_controllen = CMSG_SPACE(sizeof pi);
        } else {
          struct in6_pktinfo pi;
          memset(&pi, 0, sizeof pi);
          pi.ipi6_addr = ((struct sockaddr_in6 *)&from)->sin6_addr;
          c->cmsg_level = IPPROTO_IPV6;
          c->cmsg_type = IPV6_PKTINFO;
          c->cmsg_len = CMSG_LEN(sizeof pi);
          memcpy(CMSG_DATA(c), &pi, sizeof pi);
          mh.msg_controllen = CMSG_SPACE(sizeof pi);
        }
      }
    }
    if (res == 0) {
      ssize_t n;
      do n = sendmsg(s->fd, &mh, MSG_DONTWAIT); while (n < 0 && errno == EINTR);
      res = n < 0 ? -errno : (int32_t)n;
    }
  }
  NAPI_CALL(env, napi_create_int32(env, res, &r));
  return r;
}

static napi_value udp_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sf_sock *s;
  if (argc < 1 || !arg_sock(env, argv[0], &s)) return NULL;
  sock_shutdown(s, 1);
  return NULL;
}

/* udpRef(sock, bool): whether an open socket keeps the event loop alive (default yes). */
static napi_value udp_ref(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sf_sock *s;
  bool on = true;
  if (argc < 2 || !arg_sock(env, argv[0], &s)) return NULL;
  napi_get_value_bool(env, argv[1], &on);
  if (s->poll_inited && !s->closed) {
    if (on) uv_ref((uv_handle_t *)&s->poll);
    else uv_unref((uv_handle_t *)&s->poll);
  }
  return NULL;
}

/* udpStride(slot) → bytes per arena slot (headroom + slot + MAC, 8-aligned) */
static napi_value udp_stride(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], r;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t slot;
  if (argc < 1 || !sf_arg_u32(env, argv[0], &slot)) return NULL;
  NAPI_CALL(env, napi_create_uint32(env, stride_of(slot), &r));
  return r;
}

napi_status sf_udp_init(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
    {"udpCreate", NULL, udp_create, NULL, NULL, NULL, napi_enumerable, NULL},
    {"udpBind", NULL, udp_bind, NULL, NULL, NULL, napi_enumerable, NULL},
    {"udpAttachReuseportRandom", NULL, udp_reuseport_random, NULL, NULL, NULL, napi_enumerable, NULL},
    {"udpStart", NULL, udp_start, NULL, NULL, NULL, napi_enumerable, NULL},
    {"udpSend", NULL, udp_send, NULL, NULL, NULL, napi_enumerable, NULL},
    {"udpClose", NULL, udp_close, NULL, NULL, NULL, napi_enumerable, NULL},
    {"udpRef", NULL, udp_ref, NULL, NULL, NULL, napi_enumerable, NULL},
    {"udpStride", NULL, udp_stride, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
