/* The l2 relay (DESIGN "Relay between members", l2): a datagram owned by another member
 * leaves as the Ethernet frame the LB would have sent that member — destination MAC of
 * the owner, IPv4 source = the client, destination = the VIP — through an AF_PACKET
 * socket on the LB segment. The owner's kernel delivers it to its VIP socket with the
 * client's address intact, so the owner cannot tell a relayed datagram from a direct one
 * except by the loop-guard mark: the DSCP field set to the farm's mark (default CS1),
 * read back on every VIP socket with IP_RECVTOS. A marked datagram is classified as
 * RELAYED (never relayed again) and counted as relayed_in.
 *
 * The frame is built in the 64 bytes of headroom the receive arena keeps before every
 * datagram (udp.c), so the payload is never copied; the relays of a batch leave in one
 * sendmmsg on the AF_PACKET socket. Per packet: no allocation, no logging.
 *
 * Privileges: the AF_PACKET socket needs CAP_NET_RAW; l2Open() reports L2_NO_PRIVILEGE
 * and the member keeps the udp envelope. The guard (l2SetMark) needs none: every member
 * of an l2 farm sets it, whether or not it can send frames itself. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/if_ether.h>
#include <netpacket/packet.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include "addon.h"

_Static_assert(SF_L2_HEADER_SIZE <= SF_ENV_HEADER_SIZE, "the l2 headers must fit the arena headroom");

/* ---- frames (pure) ------------------------------------------------------------------- */

/* RFC 1071 one's-complement sum of b[0, n) as big-endian 16-bit words, added to sum. */
static uint32_t csum_add(uint32_t sum, const uint8_t *b, size_t n) {
  size_t i = 0;
  for (; i + 1 < n; i += 2) sum += (uint32_t)b[i] << 8 | b[i + 1];
  if (i < n) sum += (uint32_t)b[i] << 8; /* odd length: pad with a zero byte */
  return sum;
}

static uint16_t csum_fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

size_t sf_l2_build(uint8_t *f, const uint8_t dst_mac[6], const uint8_t src_mac[6], const uint8_t src_ip[4], uint16_t sport,
                   const uint8_t dst_ip[4], uint16_t dport, uint8_t tos, uint32_t payload_len) {
  const uint8_t *payload = f + SF_L2_HEADER_SIZE;
  uint16_t udp_len = (uint16_t)(8 + payload_len);
  uint16_t ip_len = (uint16_t)(20 + udp_len);
  /* Ethernet II */
  memcpy(f, dst_mac, 6);
  memcpy(f + 6, src_mac, 6);
  put16(f + 12, ETH_P_IP);
  /* IPv4, RFC 791 §3.1; no options */
  uint8_t *ip = f + 14;
  ip[0] = 0x45;
  ip[1] = tos; /* DSCP (RFC 2474 §3) = the loop-guard mark, ECN 0 */
  put16(ip + 2, ip_len);
  /* RFC 6864 §4.1: an atomic datagram (DF set, never fragmented — it fits the MTU of the
   * one segment it crosses) may carry any ID; 0 leaks nothing and costs nothing. */
  put16(ip + 4, 0);
  put16(ip + 6, 0x4000);
  ip[8] = 64;
  ip[9] = IPPROTO_UDP;
  put16(ip + 10, 0);
  memcpy(ip + 12, src_ip, 4);
  memcpy(ip + 16, dst_ip, 4);
  put16(ip + 10, csum_fold(csum_add(0, ip, 20)));
  /* UDP, RFC 768. The checksum is computed, not left 0 (which IPv4 allows): the client's
   * checksum was verified and stripped by our kernel, and this hop must not lose the
   * end-to-end protection of the SIP bytes. One pass over ≤ MTU bytes already in cache. */
  uint8_t *udp = ip + 20;
  put16(udp, sport);
  put16(udp + 2, dport);
  put16(udp + 4, udp_len);
  put16(udp + 6, 0);
  uint32_t sum = csum_add(0, ip + 12, 8); /* pseudo-header: source, destination … */
  sum += IPPROTO_UDP;                     /* … zero, protocol … */
  sum += udp_len;                         /* … UDP length */
  sum = csum_add(sum, udp, 8);
  /* Add the payload in chunks so the 32-bit accumulator never overflows (≤ 64 KiB). */
  for (uint32_t off = 0; off < payload_len; off += 32768) {
    uint32_t n = payload_len - off < 32768 ? payload_len - off : 32768;
    sum = csum_add(sum, payload + off, n);
    sum = (sum & 0xffff) + (sum >> 16);
  }
  uint16_t c = csum_fold(sum);
  put16(udp + 6, c == 0 ? 0xffff : c); /* RFC 768: a computed 0 is sent as all ones */
  return SF_L2_HEADER_SIZE + payload_len;
}

int sf_l2_prepare(sf_l2 *l, int owner, int family, const uint8_t src[16], uint16_t sport, const uint8_t dst[16],
                  uint16_t dport, uint8_t *payload, uint32_t len) {
  /* IPv4 only (the frame has no IPv6 variant yet); a socket without IP_PKTINFO bound to
   * the wildcard does not know the VIP the datagram was sent to. */
  if (family != 4 || (dst[0] | dst[1] | dst[2] | dst[3]) == 0) return -SF_L2_FALLBACK_FAMILY;
  if (!l->has_mac[owner & 0xff]) return -SF_L2_FALLBACK_NO_MAC;
  if (20u + 8u + len > l->mtu) return -SF_L2_FALLBACK_MTU;
  return (int)sf_l2_build(payload - SF_L2_HEADER_SIZE, l->mac[owner & 0xff], l->own_mac, src, sport, dst, dport, l->tos, len);
}

void sf_l2_init_state(sf_l2 *l) {
  memset(l, 0, sizeof *l);
  l->fd = -1;
}

void sf_l2_close(sf_l2 *l) {
  if (l->fd >= 0) close(l->fd);
  l->fd = -1;
  l->ifindex = 0;
  l->mtu = 0;
}

/* ---- N-API ----------------------------------------------------------------------------- */

static napi_value throw_l2(napi_env env, const char *code, const char *what, int err) {
  char msg[200];
  if (err != 0) snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  else snprintf(msg, sizeof msg, "%s", what);
  napi_value e, c, m, ev;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c);
  napi_create_error(env, c, m, &e);
  napi_create_int32(env, err, &ev);
  napi_set_named_property(env, e, "errno", ev);
  napi_throw(env, e);
  return NULL;
}

static int arg_mac(napi_env env, napi_value v, uint8_t out[6]) {
  uint8_t *d;
  size_t n;
  if (!sf_arg_bytes(env, v, &d, &n)) return 0;
  if (n != 6) {
    napi_throw_range_error(env, "NATIVE_BAD_ARG", "a MAC address is 6 bytes");
    return 0;
  }
  memcpy(out, d, 6);
  return 1;
}

static int arg_ip4(napi_env env, napi_value v, uint8_t out[4]) {
  uint8_t *d;
  size_t n;
  if (!sf_arg_bytes(env, v, &d, &n)) return 0;
  if (n != 4) {
    napi_throw_range_error(env, "NATIVE_BAD_ARG", "an IPv4 address is 4 bytes");
    return 0;
  }
  memcpy(out, d, 4);
  return 1;
}

/* l2Open(ctx, ifname) → { ifindex, mtu, mac: Buffer(6) }. Replaces an open socket. */
static napi_value l2_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], o, v;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sf_ctx *c;
  char name[IFNAMSIZ + 1];
  size_t n = 0;
  if (argc < 2 || !sf_arg_ctx(env, argv[0], &c)) return NULL;
  if (napi_get_value_string_utf8(env, argv[1], name, sizeof name, &n) != napi_ok || n == 0 || n >= IFNAMSIZ)
    return sf_throw(env, "NATIVE_BAD_ARG", "interface name must be 1..15 characters");
  unsigned idx = if_nametoindex(name);
  if (idx == 0) return throw_l2(env, "L2_NO_INTERFACE", name, errno);
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    int err = errno;
    return throw_l2(env, err == EPERM || err == EACCES ? "L2_NO_PRIVILEGE" : "L2_SOCKET",
                    "AF_PACKET socket (needs CAP_NET_RAW)", err);
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, n);
  if (ioctl(fd, SIOCGIFHWADDR, &ifr) != 0) {
    int err = errno;
    close(fd);
    return throw_l2(env, "L2_SOCKET", "SIOCGIFHWADDR", err);
  }
  if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
    close(fd);
    return throw_l2(env, "L2_NOT_ETHERNET", "the l2 relay needs an Ethernet interface", 0);
  }
  uint8_t mac[6];
  memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
  if (ioctl(fd, SIOCGIFMTU, &ifr) != 0) {
    int err = errno;
    close(fd);
    return throw_l2(env, "L2_SOCKET", "SIOCGIFMTU", err);
  }
  uint32_t mtu = (uint32_t)ifr.ifr_mtu;
  /* Protocol 0: the socket sends only; it is never handed a received frame. */
  struct sockaddr_ll ll;
  memset(&ll, 0, sizeof ll);
  ll.sll_family = AF_PACKET;
  ll.sll_protocol = 0;
  ll.sll_ifindex = (int)idx;
  if (bind(fd, (struct sockaddr *)&ll, sizeof ll) != 0) {
    int err = errno;
    close(fd);
    return throw_l2(env, "L2_SOCKET", "bind AF_PACKET", err);
  }
  sf_l2 *l = &c->l2;
  sf_l2_close(l);
  l->fd = fd;
  l->ifindex = (int)idx;
  l->mtu = mtu;
  memcpy(l->own_mac, mac, 6);
  memset(&l->dst, 0, sizeof l->dst);
  l->dst.sll_family = AF_PACKET;
  l->dst.sll_protocol = htons(ETH_P_IP);
  l->dst.sll_ifindex = (int)idx;
  l->dst.sll_halen = 6;
  NAPI_CALL(env, napi_create_object(env, &o));
  NAPI_CALL(env, napi_create_uint32(env, idx, &v));
  NAPI_CALL(env, napi_set_named_property(env, o, "ifindex", v));
  NAPI_CALL(env, napi_create_uint32(env, mtu, &v));
  NAPI_CALL(env, napi_set_named_property(env, o, "mtu", v));
  void *d;
  NAPI_CALL(env, napi_create_buffer_copy(env, 6, mac, &d, &v));
  NAPI_CALL(env, napi_set_named_property(env, o, "mac", v));
  return o;
}

/* l2Close(ctx): relays go back to envelopes; the mark and the MAC table stay. */
static napi_value l2_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sf_ctx *c;
  if (argc < 1 || !sf_arg_ctx(env, argv[0], &c)) return NULL;
  sf_l2_close(&c->l2);
  return NULL;
}

/* l2SetMark(ctx, dscp 0..63): the loop-guard mark, 0 = off (no frames are sent then). */
static napi_value l2_set_mark(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sf_ctx *c;
  uint32_t dscp;
  if (argc < 2 || !sf_arg_ctx(env, argv[0], &c) || !sf_arg_u32(env, argv[1], &dscp)) return NULL;
  if (dscp > 63) return sf_throw(env, "NATIVE_BAD_ARG", "DSCP is 0..63");
  c->l2.tos = (uint8_t)(dscp << 2);
  return NULL;
}

/* l2SetOwnerMac(ctx, id, mac: 6 bytes | null) */
static napi_value l2_set_owner_mac(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sf_ctx *c;
  uint32_t id;
  if (argc < 3 || !sf_arg_ctx(env, argv[0], &c) || !sf_arg_u32(env, argv[1], &id)) return NULL;
  if (id > SF_MAX_MEMBER_ID) return sf_throw(env, "NATIVE_BAD_ARG", "member id outside 0..254");
  if (sf_is_nullish(env, argv[2])) {
    c->l2.has_mac[id] = 0;
    return NULL;
  }
  if (!arg_mac(env, argv[2], c->l2.mac[id])) return NULL;
  c->l2.has_mac[id] = 1;
  return NULL;
}

/* l2Counters(ctx, out: Float64Array(counterCount)): a copy of the l2 counters. */
static napi_value l2_counters(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sf_ctx *c;
  uint8_t *d;
  size_t n;
  if (argc < 2 || !sf_arg_ctx(env, argv[0], &c) || !sf_arg_bytes(env, argv[1], &d, &n)) return NULL;
  if (n < sizeof c->l2.counters) return sf_throw(env, "NATIVE_BAD_ARG", "l2 counter array too short");
  memcpy(d, c->l2.counters, sizeof c->l2.counters);
  return NULL;
}

/* l2BuildFrame(dstMac, srcMac, srcIp4, srcPort, dstIp4, dstPort, dscp, payload) → Buffer:
 * the frame the relay loop would send (tests, tools). */
static napi_value l2_build_frame(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8], out;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint8_t dmac[6], smac[6], sip[4], dip[4], *payload;
  uint32_t sport, dport, dscp;
  size_t n;
  if (argc < 8 || !arg_mac(env, argv[0], dmac) || !arg_mac(env, argv[1], smac) || !arg_ip4(env, argv[2], sip) ||
      !sf_arg_u32(env, argv[3], &sport) || !arg_ip4(env, argv[4], dip) || !sf_arg_u32(env, argv[5], &dport) ||
      !sf_arg_u32(env, argv[6], &dscp) || !sf_arg_bytes(env, argv[7], &payload, &n))
    return NULL;
  if (sport > 65535 || dport > 65535 || dscp > 63) return sf_throw(env, "NATIVE_BAD_ARG", "port or DSCP out of range");
  if (n > 65535 - 28) return sf_throw(env, "NATIVE_BAD_ARG", "payload too large for one IPv4 datagram");
  void *d;
  NAPI_CALL(env, napi_create_buffer(env, SF_L2_HEADER_SIZE + n, &d, &out));
  memcpy((uint8_t *)d + SF_L2_HEADER_SIZE, payload, n);
  sf_l2_build(d, dmac, smac, sip, (uint16_t)sport, dip, (uint16_t)dport, (uint8_t)(dscp << 2), (uint32_t)n);
  return out;
}

/* l2Constants() → { headerSize, counterCount }: checked by src/io/l2-relay.ts at load. */
static napi_value l2_constants(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value o, v;
  NAPI_CALL(env, napi_create_object(env, &o));
  NAPI_CALL(env, napi_create_uint32(env, SF_L2_HEADER_SIZE, &v));
  NAPI_CALL(env, napi_set_named_property(env, o, "headerSize", v));
  NAPI_CALL(env, napi_create_uint32(env, SF_L2_COUNTER_COUNT, &v));
  NAPI_CALL(env, napi_set_named_property(env, o, "counterCount", v));
  return o;
}

napi_status sf_l2_init(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
    {"l2Open", NULL, l2_open, NULL, NULL, NULL, napi_enumerable, NULL},
    {"l2Close", NULL, l2_close, NULL, NULL, NULL, napi_enumerable, NULL},
    {"l2SetMark", NULL, l2_set_mark, NULL, NULL, NULL, napi_enumerable, NULL},
    {"l2SetOwnerMac", NULL, l2_set_owner_mac, NULL, NULL, NULL, napi_enumerable, NULL},
    {"l2Counters", NULL, l2_counters, NULL, NULL, NULL, napi_enumerable, NULL},
    {"l2BuildFrame", NULL, l2_build_frame, NULL, NULL, NULL, napi_enumerable, NULL},
    {"l2Constants", NULL, l2_constants, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
