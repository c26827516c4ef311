/* The N-API module: ABI/constant report, the farm context (tables the control plane
 * writes), and the scan / classify / envelope entry points the tests and the control
 * plane call. The per-packet loop itself lives in udp.c and never calls into JS per
 * packet. NAPI_VERSION is pinned to 8 (binding.gyp and addon.h). */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include "addon.h"

static const napi_type_tag CTX_TAG = {0x73697066u, 0x61726d637478ull}; /* "sipf" "armctx" */

napi_value sf_throw(napi_env env, const char *code, const char *msg) {
  napi_throw_error(env, code, msg);
  return NULL;
}

int sf_is_nullish(napi_env env, napi_value v) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return 1;
  return t == napi_undefined || t == napi_null;
}

/* Buffer, any TypedArray, DataView or ArrayBuffer: its bytes (no copy). */
int sf_arg_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t n, off;
    napi_value ab;
    void *p;
    if (napi_get_typedarray_info(env, v, &type, &n, &p, &ab, &off) != napi_ok) return 0;
    size_t el = 1;
    switch (type) {
      case napi_int16_array: case napi_uint16_array: el = 2; break;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: el = 4; break;
      case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: el = 8; break;
      default: el = 1;
    }
    *data = p; *len = n * el;
    return 1;
  }
  if (napi_is_arraybuffer(env, v, &is) == napi_ok && is) {
    void *p;
    if (napi_get_arraybuffer_info(env, v, &p, len) != napi_ok) return 0;
    *data = p;
    return 1;
  }
  napi_throw_type_error(env, "NATIVE_BAD_ARG", "expected a Buffer or TypedArray");
  return 0;
}

int sf_arg_i32(napi_env env, napi_value v, int32_t *out) {
  if (napi_get_value_int32(env, v, out) != napi_ok) {
    napi_throw_type_error(env, "NATIVE_BAD_ARG", "expected a number");
    return 0;
  }
  return 1;
}

int sf_arg_u32(napi_env env, napi_value v, uint32_t *out) {
  if (napi_get_value_uint32(env, v, out) != napi_ok) {
    napi_throw_type_error(env, "NATIVE_BAD_ARG", "expected a number");
    return 0;
  }
  return 1;
}

int sf_arg_ctx(napi_env env, napi_value v, sf_ctx **out) {
  bool ok = false;
  if (napi_check_object_type_tag(env, v, &CTX_TAG, &ok) != napi_ok || !ok ||
      napi_get_value_external(env, v, (void **)out) != napi_ok) {
    napi_throw_type_error(env, "NATIVE_BAD_ARG", "expected a native farm context");
    return 0;
  }
  return 1;
}

socklen_t sf_sockaddr_of(napi_env env, napi_value ip, uint32_t port, struct sockaddr_storage *ss) {
  char text[INET6_ADDRSTRLEN + 8];
  size_t n = 0;
  memset(ss, 0, sizeof *ss);
  if (napi_get_value_string_utf8(env, ip, text, sizeof text, &n) != napi_ok || port > 65535) return 0;
  struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
  if (inet_pton(AF_INET, text, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    return sizeof *a4;
  }
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET6, text, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    return sizeof *a6;
  }
  return 0;
}

/* ---- ABI ------------------------------------------------------------------------------ */

static napi_value abi_version(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value r;
  NAPI_CALL(env, napi_create_uint32(env, SF_ABI_VERSION, &r));
  return r;
}

static int put_num(napi_env env, napi_value obj, const char *name, double v) {
  napi_value n;
  return napi_create_double(env, v, &n) == napi_ok && napi_set_named_property(env, obj, name, n) == napi_ok;
}

/* What this binary was compiled with: the loader compares it with the TS constants. */
static napi_value constants(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value o;
  NAPI_CALL(env, napi_create_object(env, &o));
  put_num(env, o, "abi", SF_ABI_VERSION);
  put_num(env, o, "scanCount", SF_SCAN_COUNT);
  put_num(env, o, "methodCount", SF_METHOD_COUNT);
  put_num(env, o, "outcomeCount", SF_OUTCOME_COUNT);
  put_num(env, o, "dropCount", SF_DROP_COUNT);
  put_num(env, o, "envelopeRejectCount", SF_ENV_REJECT_COUNT);
  put_num(env, o, "envelopeHeaderSize", SF_ENV_HEADER_SIZE);
  put_num(env, o, "envelopeMacSize", SF_ENV_MAC_SIZE);
  put_num(env, o, "envelopeMagic", SF_ENV_MAGIC);
  put_num(env, o, "ringEmpty", SF_RING_EMPTY);
  put_num(env, o, "maxMemberId", SF_MAX_MEMBER_ID);
  put_num(env, o, "scanMaxDatagram", SF_SCAN_MAX_DATAGRAM);
  put_num(env, o, "metaStride", SF_META_STRIDE);
  put_num(env, o, "scanFields", SF_SCANOUT_CONTENT_LENGTH + 1);
  put_num(env, o, "verdictFields", SF_VERDICT_BY_RING + 1);
  put_num(env, o, "sizeofScan", sizeof(sf_scan));
  put_num(env, o, "sizeofEnvHeader", sizeof(sf_env_header));
  return o;
}

/* ---- farm context ----------------------------------------------------------------------- */

static void ctx_finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  sf_ctx *c = data;
  sf_l2_close(&c->l2);
  sf_hmac_free(c->key);
  sf_replay_free(&c->replay);
  free(c->ring_copy);
  free(c->prev_ring_copy);
  free(c);
}

/* createContext(replayWindow) */
static napi_value create_context(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], ext;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t window = SF_DEFAULT_REPLAY_WINDOW;
  if (argc >= 1 && !sf_is_nullish(env, argv[0]) && !sf_arg_u32(env, argv[0], &window)) return NULL;
  sf_ctx *c = calloc(1, sizeof *c);
  if (c == NULL) return sf_throw(env, "NATIVE_NOMEM", "out of memory");
  if (sf_replay_init(&c->replay, window) != 0) {
    free(c);
    return sf_throw(env, "NATIVE_BAD_ARG", "replay window must be a power of two in 32..65536");
  }
  c->t.max_message_size = SF_SCAN_MAX_DATAGRAM;
  sf_l2_init_state(&c->l2);
  if (napi_create_external(env, c, ctx_finalize, NULL, &ext) != napi_ok) {
    ctx_finalize(env, c, NULL);
    return sf_throw(env, "NATIVE_NAPI", "napi_create_external failed");
  }
  NAPI_CALL(env, napi_type_tag_object(env, ext, &CTX_TAG));
  return ext;
}

/* Copies a ring table (Uint8Array, MaglevRing.table) or clears it for null. */
static int set_ring(napi_env env, napi_value v, uint8_t **copy, uint8_t **ptr, uint32_t *size) {
  if (sf_is_nullish(env, v)) {
    *ptr = NULL;
    *size = 0;
    return 1;
  }
  uint8_t *data;
  size_t len;
  if (!sf_arg_bytes(env, v, &data, &len)) return 0;
  if (len == 0 || len > (1u << 24)) {
    napi_throw_range_error(env, "NATIVE_BAD_ARG", "ring size must be 1..2^24");
    return 0;
  }
  uint8_t *n = realloc(*copy, len);
  if (n == NULL) {
    napi_throw_error(env, "NATIVE_NOMEM", "out of memory");
    return 0;
  }
  memcpy(n, data, len);
  *copy = n;
  *ptr = n;
  *size = (uint32_t)len;
  return 1;
}

/* setTables(ctx, selfId, alive: Uint8Array(256), ring|null, prevRing|null, probeV4: Uint32Array, maxMessageSize) */
static napi_value set_tables(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 7) return sf_throw(env, "NATIVE_BAD_ARG", "setTables needs 7 arguments");
  sf_ctx *c;
  int32_t self, maxsz;
  uint8_t *alive, *probes;
  size_t alive_len, probes_len;
  if (!sf_arg_ctx(env, argv[0], &c) || !sf_arg_i32(env, argv[1], &self) || !sf_arg_bytes(env, argv[2], &alive, &alive_len) ||
      !sf_arg_bytes(env, argv[5], &probes, &probes_len) || !sf_arg_i32(env, argv[6], &maxsz))
    return NULL;
  if (self < 0 || self > SF_MAX_MEMBER_ID || alive_len != 256 || probes_len % 4 != 0 ||
      probes_len / 4 > SF_TABLE_MAX_PROBE_SOURCES)
    return sf_throw(env, "NATIVE_BAD_ARG", "setTables: bad selfId, alive length or probe list");
  if (!set_ring(env, argv[3], &c->ring_copy, &c->t.ring, &c->t.ring_size)) return NULL;
  if (!set_ring(env, argv[4], &c->prev_ring_copy, &c->t.prev_ring, &c->t.prev_ring_size)) return NULL;
  c->t.self_id = self;
  memcpy(c->t.alive, alive, 256);
  c->t.alive[255] = 0; /* 255 is RING_EMPTY, never a member */
  memcpy(c->t.probe_v4, probes, probes_len);
  c->t.probe_count = (int32_t)(probes_len / 4);
  c->t.max_message_size = maxsz;
  return NULL;
}

/* setPeer(ctx, id, ip, port): the member's farm address; also makes it a known origin. */
static napi_value set_peer(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sf_ctx *c;
  uint32_t id, port;
  if (argc < 4 || !sf_arg_ctx(env, argv[0], &c) || !sf_arg_u32(env, argv[1], &id) || !sf_arg_u32(env, argv[3], &port)) return NULL;
  if (id > SF_MAX_MEMBER_ID) return sf_throw(env, "NATIVE_BAD_ARG", "member id outside 0..254");
  socklen_t len = sf_sockaddr_of(env, argv[2], port, &c->peer_addr[id]);
  if (len == 0) return sf_throw(env, "NATIVE_BAD_ARG", "peer address must be an IP literal and a port");
  c->peer_len[id] = len;
  c->peer_known[id] = 1;
  return NULL;
}

static napi_value clear_peer(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sf_ctx *c;
  uint32_t id;
  if (argc < 2 || !sf_arg_ctx(env, argv[0], &c) || !sf_arg_u32(env, argv[1], &id)) return NULL;
  if (id > SF_MAX_MEMBER_ID) return sf_throw(env, "NATIVE_BAD_ARG", "member id outside 0..254");
  c->peer_known[id] = 0;
  c->peer_len[id] = 0;
  sf_replay_reset(&c->replay, (int)id);
  return NULL;
}

/* setKey(ctx, key): the 32-byte HKDF-derived HMAC key (deriveEnvelopeKey(...).export()). */
static napi_value set_key(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sf_ctx *c;
  uint8_t *key;
  size_t len;
  if (argc < 2 || !sf_arg_ctx(env, argv[0], &c) || !sf_arg_bytes(env, argv[1], &key, &len)) return NULL;
  if (len < 16) return sf_throw(env, "NATIVE_BAD_ARG", "envelope key must be at least 16 bytes");
  struct sf_hmac *h = sf_hmac_new(key, len);
  if (h == NULL) return sf_throw(env, "NATIVE_CRYPTO", "OpenSSL HMAC-SHA256 setup failed");
  sf_hmac_free(c->key);
  c->key = h;
  return NULL;
}

/* setSequence(ctx, epoch, boot, nextSeq): the envelope header's epoch and the sequencer. */
static napi_value set_sequence(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sf_ctx *c;
  uint32_t epoch, boot;
  int64_t next = 0;
  if (argc < 3 || !sf_arg_ctx(env, argv[0], &c) || !sf_arg_u32(env, argv[1], &epoch) || !sf_arg_u32(env, argv[2], &boot)) return NULL;
  if (argc >= 4 && !sf_is_nullish(env, argv[3])) {
    if (napi_get_value_int64(env, argv[3], &next) != napi_ok || next < 0) return sf_throw(env, "NATIVE_BAD_ARG", "bad next seq");
    c->next_seq = (uint64_t)next;
    c->boot = boot;
  } else if (boot != c->boot) {
    c->boot = boot;
    c->next_seq = 0;
  }
  c->epoch = epoch;
  return NULL;
}

/* getSequence(ctx) → [epoch, boot, nextSeq] */
static napi_value get_sequence(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], arr, v;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sf_ctx *c;
  if (argc < 1 || !sf_arg_ctx(env, argv[0], &c)) return NULL;
  NAPI_CALL(env, napi_create_array_with_length(env, 3, &arr));
  NAPI_CALL(env, napi_create_uint32(env, c->epoch, &v));
  NAPI_CALL(env, napi_set_element(env, arr, 0, v));
  NAPI_CALL(env, napi_create_uint32(env, c->boot, &v));
  NAPI_CALL(env, napi_set_element(env, arr, 1, v));
  NAPI_CALL(env, napi_create_double(env, (double)c->next_seq, &v));
  NAPI_CALL(env, napi_set_element(env, arr, 2, v));
  return arr;
}

/* ---- scan / classify ---------------------------------------------------------------------- */

/* scan(buf, len, out: Int32Array(scanFields), maxSize, flags) → status */
static napi_value scan(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], r;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint8_t *buf, *outb;
  size_t blen, olen;
  uint32_t len;
  int32_t cap, flags;
  if (argc < 5 || !sf_arg_bytes(env, argv[0], &buf, &blen) || !sf_arg_u32(env, argv[1], &len) ||
      !sf_arg_bytes(env, argv[2], &outb, &olen) || !sf_arg_i32(env, argv[3], &cap) || !sf_arg_i32(env, argv[4], &flags))
    return NULL;
  if (olen < (SF_SCANOUT_CONTENT_LENGTH + 1) * 4) return sf_throw(env, "NATIVE_BAD_ARG", "scan out array too small");
  sf_scan s;
  /* scanner.ts: the size cap looks at len; the bytes read stop at the buffer's end */
  int st;
  if (len > (uint32_t)(cap < 0 ? 0 : cap) || len > SF_SCAN_MAX_DATAGRAM) st = sf_scan_datagram(buf, len, &s, cap, flags);
  else st = sf_scan_datagram(buf, len < blen ? len : blen, &s, cap, flags);
  sf_scan_export(&s, (int32_t *)outb);
  NAPI_CALL(env, napi_create_int32(env, st, &r));
  return r;
}

/* classify(ctx, buf, len, srcV4 (u32, 0 = not IPv4), arrival, out: Int32Array(verdictFields)) → action */
static napi_value classify(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6], r;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sf_ctx *c;
  uint8_t *buf, *outb;
  size_t blen, olen;
  uint32_t len, src;
  int32_t arrival;
  if (argc < 6 || !sf_arg_ctx(env, argv[0], &c) || !sf_arg_bytes(env, argv[1], &buf, &blen) || !sf_arg_u32(env, argv[2], &len) ||
      !sf_arg_u32(env, argv[3], &src) || !sf_arg_i32(env, argv[4], &arrival) || !sf_arg_bytes(env, argv[5], &outb, &olen))
    return NULL;
  if (olen < (SF_VERDICT_BY_RING + 1) * 4) return sf_throw(env, "NATIVE_BAD_ARG", "verdict out array too small");
  if (len > blen) len = (uint32_t)blen;
  sf_scan s;
  sf_verdict v;
  memset(&v, 0, sizeof v);
  v.owner = -1;
  int a = sf_classify(buf, len, src, arrival, &c->t, &s, &v);
  sf_verdict_export(&v, (int32_t *)outb);
  NAPI_CALL(env, napi_create_int32(env, a, &r));
  return r;
}

/* ---- envelope ---------------------------------------------------------------------------- */

static int get_u32_prop(napi_env env, napi_value o, const char *name, uint32_t *out) {
  napi_value v;
  if (napi_get_named_property(env, o, name, &v) != napi_ok) return 0;
  if (sf_is_nullish(env, v)) { *out = 0; return 1; }
  return sf_arg_u32(env, v, out);
}

static int get_addr_prop(napi_env env, napi_value o, const char *name, uint8_t out[16]) {
  napi_value v;
  memset(out, 0, 16);
  if (napi_get_named_property(env, o, name, &v) != napi_ok) return 0;
  if (sf_is_nullish(env, v)) return 1;
  uint8_t *d;
  size_t n;
  if (!sf_arg_bytes(env, v, &d, &n)) return 0;
  memcpy(out, d, n < 16 ? n : 16);
  return 1;
}

/* envelopeEncode(ctx, header (EnvelopeHeader shape), payload, stamp) → Buffer.
 * With stamp true, boot/seq come from the context's sequencer and epoch from setSequence. */
static napi_value envelope_encode(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], out;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sf_ctx *c;
  uint8_t *payload;
  size_t n;
  bool stamp = false;
  if (argc < 4 || !sf_arg_ctx(env, argv[0], &c) || !sf_arg_bytes(env, argv[2], &payload, &n)) return NULL;
  napi_get_value_bool(env, argv[3], &stamp);
  sf_env_header h;
  uint32_t kind, flags, hop, origin, transport, family, epoch, boot, seq, sp, lp;
  if (!get_u32_prop(env, argv[1], "kind", &kind) || !get_u32_prop(env, argv[1], "flags", &flags) ||
      !get_u32_prop(env, argv[1], "hop", &hop) || !get_u32_prop(env, argv[1], "origin", &origin) ||
      !get_u32_prop(env, argv[1], "transport", &transport) || !get_u32_prop(env, argv[1], "family", &family) ||
      !get_u32_prop(env, argv[1], "epoch", &epoch) || !get_u32_prop(env, argv[1], "boot", &boot) ||
      !get_u32_prop(env, argv[1], "seq", &seq) || !get_u32_prop(env, argv[1], "srcPort", &sp) ||
      !get_u32_prop(env, argv[1], "localPort", &lp) || !get_addr_prop(env, argv[1], "srcAddr", h.src_addr) ||
      !get_addr_prop(env, argv[1], "localAddr", h.local_addr))
    return NULL;
  if (kind > 255 || flags > 255 || hop > 255 || origin > 255 || transport > 255 || family > 255 || sp > 65535 || lp > 65535)
    return sf_throw(env, "ENVELOPE_BAD_HEADER", "envelope header field out of range");
  h.kind = (uint8_t)kind; h.flags = (uint8_t)flags; h.hop = (uint8_t)hop; h.origin = (uint8_t)origin;
  h.transport = (uint8_t)transport; h.family = (uint8_t)family; h.src_port = (uint16_t)sp; h.local_port = (uint16_t)lp;
  h.epoch = epoch; h.boot = boot; h.seq = seq;
  if (stamp) {
    h.epoch = c->epoch;
    sf_ctx_stamp(c, &h.boot, &h.seq);
  }
  if (c->key == NULL) return sf_throw(env, "NATIVE_NO_KEY", "setKey() first");
  if (n > SF_ENV_MAX_PAYLOAD) return sf_throw(env, "ENVELOPE_PAYLOAD_TOO_LARGE", "payload too large for one envelope");
  void *data;
  size_t total = SF_ENV_HEADER_SIZE + n + SF_ENV_MAC_SIZE;
  NAPI_CALL(env, napi_create_buffer(env, total, &data, &out));
  if (sf_env_encode(&h, payload, n, c->key, data, total) < 0)
    return sf_throw(env, "ENVELOPE_BAD_HEADER", "envelope header field out of range");
  return out;
}

static void set_u32(napi_env env, napi_value o, const char *name, uint32_t v) {
  napi_value n;
  if (napi_create_uint32(env, v, &n) == napi_ok) napi_set_named_property(env, o, name, n);
}

/* envelopeDecode(ctx, buf, len, out: object) → reject code; fills out on 0 (like DecodedEnvelope). */
static napi_value envelope_decode(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], r;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sf_ctx *c;
  uint8_t *buf;
  size_t blen;
  uint32_t len;
  if (argc < 4 || !sf_arg_ctx(env, argv[0], &c) || !sf_arg_bytes(env, argv[1], &buf, &blen) || !sf_arg_u32(env, argv[2], &len)) return NULL;
  int st;
  sf_env_header h;
  uint32_t n = 0;
  if (len > blen) st = SF_ENV_REJECT_BAD_LENGTH; /* envelope.ts: len beyond the buffer */
  else st = sf_env_decode(buf, len, c->key, c->peer_known, &c->replay, &h, &n);
  if (st == SF_ENV_REJECT_OK) {
    napi_value o = argv[3], a;
    set_u32(env, o, "kind", h.kind); set_u32(env, o, "flags", h.flags); set_u32(env, o, "hop", h.hop);
    set_u32(env, o, "origin", h.origin); set_u32(env, o, "transport", h.transport); set_u32(env, o, "epoch", h.epoch);
    set_u32(env, o, "boot", h.boot); set_u32(env, o, "seq", h.seq); set_u32(env, o, "family", h.family);
    set_u32(env, o, "srcPort", h.src_port); set_u32(env, o, "localPort", h.local_port);
    set_u32(env, o, "payloadStart", SF_ENV_OFF_PAYLOAD); set_u32(env, o, "payloadEnd", SF_ENV_OFF_PAYLOAD + n);
    void *d;
    if (napi_create_buffer_copy(env, 16, h.src_addr, &d, &a) == napi_ok) napi_set_named_property(env, o, "srcAddr", a);
    if (napi_create_buffer_copy(env, 16, h.local_addr, &d, &a) == napi_ok) napi_set_named_property(env, o, "localAddr", a);
  }
  NAPI_CALL(env, napi_create_int32(env, st, &r));
  return r;
}

/* ---- module ------------------------------------------------------------------------------ */

static napi_value init(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
    {"abiVersion", NULL, abi_version, NULL, NULL, NULL, napi_enumerable, NULL},
    {"constants", NULL, constants, NULL, NULL, NULL, napi_enumerable, NULL},
    {"createContext", NULL, create_context, NULL, NULL, NULL, napi_enumerable, NULL},
    {"setTables", NULL, set_tables, NULL, NULL, NULL, napi_enumerable, NULL},
    {"setPeer", NULL, set_peer, NULL, NULL, NULL, napi_enumerable, NULL},
    {"clearPeer", NULL, clear_peer, NULL, NULL, NULL, napi_enumerable, NULL},
    {"setKey", NULL, set_key, NULL, NULL, NULL, napi_enumerable, NULL},
    {"setSequence", NULL, set_sequence, NULL, NULL, NULL, napi_enumerable, NULL},
    {"getSequence", NULL, get_sequence, NULL, NULL, NULL, napi_enumerable, NULL},
    {"scan", NULL, scan, NULL, NULL, NULL, napi_enumerable, NULL},
    {"classify", NULL, classify, NULL, NULL, NULL, napi_enumerable, NULL},
    {"envelopeEncode", NULL, envelope_encode, NULL, NULL, NULL, napi_enumerable, NULL},
    {"envelopeDecode", NULL, envelope_decode, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  NAPI_CALL(env, napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  NAPI_CALL(env, sf_udp_init(env, exports));
  NAPI_CALL(env, sf_l2_init(env, exports));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
