/*
 * scan-cost: the CPU cost of one sf_classify call (native/src/classifier.c, which runs
 * the scanner native/src/scanner.c) on a fixed set of typical datagrams: the benchmark's
 * INVITE (bench/run.mjs makeTemplates) and the rest of a proxied call's messages — 180,
 * 200 OK with SDP, ACK and BYE with Record-Route/Route and the farm's tokens.
 *
 * No sockets, no load on anything but the CPU it runs on. Build it with the addon's
 * flags (native/build/sipfarm.target.mk: -O3 last wins) from the repository root:
 *
 *   gcc -O3 -std=gnu11 -D_GNU_SOURCE -Wall -Inative/src -o /tmp/scan-cost bench/tools/scan-cost.c \
 *       native/src/scanner.c native/src/classifier.c native/src/hash.c native/src/tokens.c
 *   /tmp/scan-cost [iters=2000000] [rounds=5] [only=NAME]
 *   /tmp/scan-cost callgrind=1 [iters=2000]
 *
 * The first prints ns/call per datagram (best of `rounds`: the machine is shared, the
 * minimum is the least disturbed figure) and a digest of every output field, which must
 * not change when the scanner is optimised. The second re-runs itself under
 * `valgrind --tool=callgrind --toggle-collect=sf_classify` once per datagram and prints
 * instructions per call (Ir inside sf_classify, inclusive, / iters): repeatable to the
 * instruction, so it is the figure to compare before/after a change.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include "benchutil.h" /* now_ns(), arg() */
#include <unistd.h>
#include "sf.h"

typedef struct datagram {
  const char *name;
  const char *text;
} datagram;

/* CRLF line ends, as sent. Ports and addresses as on the bench's loopback. */
static const datagram DATAGRAMS[] = {
  { "invite-bench",
    "INVITE sip:bench17@127.0.0.1:5060 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-bench-000000000042;rport\r\n"
    "Max-Forwards: 70\r\n"
    "From: \"bench\" <sip:gen@127.0.0.1:5070>;tag=g17\r\n"
    "To: <sip:bench17@127.0.0.1>\r\n"
    "Call-ID: b17-2362200265@127.0.0.1\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:gen@127.0.0.1:5070>\r\n"
    "X-Ts: 0000000000000000\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 144\r\n"
    "\r\n"
    "v=0\r\no=gen 17 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n" },
  { "180-rr",
    "SIP/2.0 180 Ringing\r\n"
    "Via: SIP/2.0/UDP 203.0.113.100:5060;branch=z9hG4bK-sf2-7f3a9c01e5d2;rport=5060\r\n"
    "Via: SIP/2.0/UDP 198.51.100.10:5060;received=198.51.100.10;branch=z9hG4bK776asdhds\r\n"
    "Record-Route: <sip:203.0.113.100:5060;lr;sf=2>\r\n"
    "From: \"Alice\" <sip:alice@example.com>;tag=1928301774\r\n"
    "To: \"Bob\" <sip:bob@example.com>;tag=a6c85cf\r\n"
    "Call-ID: a84b4c76e66710@pc33.example.com\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Contact: <sip:bob@192.0.2.4:5060>\r\n"
    "Content-Length: 0\r\n"
    "\r\n" },
  { "200-sdp",
    "SIP/2.0 200 OK\r\n"
    "Via: SIP/2.0/UDP 203.0.113.100:5060;branch=z9hG4bK-sf2-7f3a9c01e5d2;rport=5060\r\n"
    "Via: SIP/2.0/UDP 198.51.100.10:5060;received=198.51.100.10;branch=z9hG4bK776asdhds\r\n"
    "Record-Route: <sip:203.0.113.100:5060;lr;sf=2>\r\n"
    "Record-Route: <sip:edge.example.com;lr>\r\n"
    "From: \"Alice\" <sip:alice@example.com>;tag=1928301774\r\n"
    "To: \"Bob\" <sip:bob@example.com>;tag=a6c85cf\r\n"
    "Call-ID: a84b4c76e66710@pc33.example.com\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Contact: <sip:bob@192.0.2.4:5060>\r\n"
    "Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, UPDATE\r\n"
    "Supported: replaces, timer\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 131\r\n"
    "\r\n"
    "v=0\r\no=bob 2890844527 2890844527 IN IP4 192.0.2.4\r\ns=-\r\nc=IN IP4 192.0.2.4\r\nt=0 0\r\n"
    "m=audio 3456 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n" },
  { "ack-route",
    "ACK sip:bob@192.0.2.4:5060 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 198.51.100.10:5060;branch=z9hG4bK776asdhdt;rport\r\n"
    "Max-Forwards: 70\r\n"
    "Route: <sip:edge.example.com;lr>\r\n"
    "Route: <sip:203.0.113.100:5060;lr;sf=2>\r\n"
    "From: \"Alice\" <sip:alice@example.com>;tag=1928301774\r\n"
    "To: \"Bob\" <sip:bob@example.com>;tag=a6c85cf\r\n"
    "Call-ID: a84b4c76e66710@pc33.example.com\r\n"
    "CSeq: 314159 ACK\r\n"
    "Content-Length: 0\r\n"
    "\r\n" },
  { "bye-route",
    "BYE sip:alice@198.51.100.10:5060 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bKnashds7;rport\r\n"
    "Max-Forwards: 70\r\n"
    "Route: <sip:203.0.113.100:5060;lr;sf=2>, <sip:edge.example.com;lr>\r\n"
    "From: \"Bob\" <sip:bob@example.com>;tag=a6c85cf\r\n"
    "To: \"Alice\" <sip:alice@example.com>;tag=1928301774\r\n"
    "Call-ID: a84b4c76e66710@pc33.example.com\r\n"
    "CSeq: 231 BYE\r\n"
    "User-Agent: softphone/1.2.3\r\n"
    "Content-Length: 0\r\n"
    "\r\n" },
};
#define N_DATAGRAMS (sizeof DATAGRAMS / sizeof DATAGRAMS[0])

#define RING 251 /* prime, as test/fuzz/scan_fuzz.c */
static uint8_t ring[RING];
static sf_tables tables;

static void init_tables(void) {
  for (int i = 0; i < RING; i++) ring[i] = (uint8_t)(1 + i % 2); /* members 1, 2 */
  memset(&tables, 0, sizeof tables);
  tables.self_id = 1;
  tables.alive[1] = tables.alive[2] = 1;
  tables.ring = ring;
  tables.ring_size = RING;
  tables.max_message_size = SF_SCAN_MAX_DATAGRAM;
}

/* FNV-1a over every exported field: a fingerprint of the results, to compare builds. */
_Static_assert(SF_SCANOUT_CONTENT_LENGTH < 40 && SF_VERDICT_BY_RING < 24, "digest: room for the exported fields");
static uint32_t digest(const sf_scan *s, const sf_verdict *v) {
  int32_t o[64];
  memset(o, 0, sizeof o);
  sf_scan_export(s, o);
  sf_verdict_export(v, o + 40);
  uint32_t h = SF_FNV1A32_OFFSET;
  const uint8_t *p = (const uint8_t *)o;
  for (size_t i = 0; i < sizeof o; i++) h = (h ^ p[i]) * SF_FNV1A32_PRIME;
  return h;
}

/* Each datagram in its own exact-size heap buffer, as a receive would leave it. */
static uint8_t *copy_of(const datagram *d, size_t *len) {
  *len = strlen(d->text);
  uint8_t *b = malloc(*len);
  if (b == NULL) { perror("malloc"); exit(1); }
  memcpy(b, d->text, *len);
  return b;
}

static volatile uint32_t sink;

static uint64_t run(const uint8_t *b, size_t len, long iters) {
  sf_scan s;
  sf_verdict v;
  uint32_t acc = 0;
  uint64_t t0 = now_ns();
  for (long i = 0; i < iters; i++) {
    acc += (uint32_t)sf_classify(b, len, 0, SF_ARRIVAL_DIRECT, &tables, &s, &v);
    acc += (uint32_t)s.call_id_end;
  }
  uint64_t dt = now_ns() - t0;
  sink += acc;
  return dt;
}

/* Runs this program under callgrind for one datagram; Ir collected inside sf_classify. */
static long long callgrind_ir(const char *self, const char *name, long iters) {
  int fd[2];
  if (pipe(fd) != 0) return -1;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    char it[32], only[96];
    snprintf(it, sizeof it, "iters=%ld", iters);
    snprintf(only, sizeof only, "only=%s", name);
    dup2(fd[1], 2);
    close(fd[0]);
    execlp("valgrind", "valgrind", "--tool=callgrind", "--toggle-collect=sf_classify", "--callgrind-out-file=/dev/null",
           self, it, "rounds=1", "quiet=1", only, (char *)NULL);
    _exit(127);
  }
  close(fd[1]);
  FILE *f = fdopen(fd[0], "r");
  char line[512];
  long long ir = -1;
  while (f != NULL && fgets(line, sizeof line, f) != NULL) {
    char *c = strstr(line, "Collected :");
    if (c != NULL) ir = atoll(c + strlen("Collected :"));
  }
  if (f != NULL) fclose(f);
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? ir : -1;
}

/* sf_method_of spells the method names out (scanner.c): they must be SF_METHOD_NAMES. */
static int check_methods(void) {
  for (int m = 1; m < SF_METHOD_COUNT; m++) {
    const char *name = SF_METHOD_NAMES[m];
    int32_t n = (int32_t)strlen(name);
    uint8_t buf[16];
    memcpy(buf, name, (size_t)n);
    if (sf_method_of(buf, 0, n) != m) { fprintf(stderr, "sf_method_of(%s) != %d\n", name, m); return 1; }
    buf[n - 1] ^= 0x20; /* case-sensitive: one letter in the other case is no method */
    if (sf_method_of(buf, 0, n) != SF_METHOD_OTHER) { fprintf(stderr, "sf_method_of(%.*s) matched\n", n, buf); return 1; }
  }
  return 0;
}

int main(int argc, char **argv) {
  init_tables();
  if (check_methods() != 0) return 1;
  const int cg = atoi(arg(argc, argv, "callgrind", "0"));
  const long iters = atol(arg(argc, argv, "iters", cg ? "2000" : "2000000"));
  const int rounds = atoi(arg(argc, argv, "rounds", "5"));
  const int quiet = atoi(arg(argc, argv, "quiet", "0"));
  const char *only = arg(argc, argv, "only", NULL);
  if (iters <= 0 || rounds <= 0) { fprintf(stderr, "iters and rounds must be > 0\n"); return 2; }

  if (!quiet) {
    printf("sf_classify cost, %s: %ld iters%s\n", cg ? "callgrind Ir/call" : "ns/call (best of rounds)", iters,
           cg ? "" : " x rounds");
    printf("%-14s %6s %10s %10s %10s\n", "datagram", "bytes", cg ? "Ir/call" : "ns/call", cg ? "Ir/byte" : "ns/byte",
           "digest");
  }
  double sum = 0;
  int n = 0;
  for (size_t k = 0; k < N_DATAGRAMS; k++) {
    const datagram *d = &DATAGRAMS[k];
    if (only != NULL && strcmp(only, d->name) != 0) continue;
    size_t len;
    uint8_t *b = copy_of(d, &len);
    sf_scan s;
    sf_verdict v;
    sf_classify(b, len, 0, SF_ARRIVAL_DIRECT, &tables, &s, &v);
    if (s.status != SF_SCAN_OK) { fprintf(stderr, "%s: scan status %d\n", d->name, s.status); return 1; }
    uint32_t dg = digest(&s, &v);
    double per;
    if (cg) {
      long long ir = callgrind_ir(argv[0], d->name, iters);
      if (ir < 0) { fprintf(stderr, "%s: callgrind run failed (is valgrind installed?)\n", d->name); return 1; }
      per = (double)ir / (double)iters;
    } else {
      uint64_t best = UINT64_MAX;
      for (int r = 0; r < rounds; r++) {
        uint64_t t = run(b, len, iters);
        if (t < best) best = t;
      }
      per = (double)best / (double)iters;
    }
    if (!quiet) printf("%-14s %6zu %10.1f %10.3f   %08x\n", d->name, len, per, per / (double)len, dg);
    sum += per;
    n++;
    free(b);
  }
  if (!quiet && n > 0) printf("%-14s %6s %10.1f\n", "mean", "", sum / n);
  return n > 0 ? 0 : 1;
}
