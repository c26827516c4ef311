/*
 * udp-gen: the benchmark's load generator. Sends datagram templates at a fixed rate,
 * with sendmmsg in small batches, round-robin over many source sockets (as many
 * clients behind an LB would), stamping each datagram with the send time and a unique
 * counter so the sink can measure one-way latency and the SUT sees new transactions.
 *
 *   udp-gen target=IP:PORT templates=FILE rate=PPS seconds=S [sources=32]
 *           [reply_port=P] [batch=32]
 *
 * Template file: records of [u16 len][u16 ts_off][u16 ctr_off][len bytes], little-endian.
 * At ts_off 16 hex digits are overwritten with CLOCK_MONOTONIC ns at send time; at
 * ctr_off 12 hex digits with the datagram's sequence number (0xffff = no field).
 * Source socket 0 binds reply_port (the Via port of the templates, so responses and
 * 100 Trying come back to a socket that drains them); the others bind ephemeral ports.
 *
 * Pacing is open-loop: datagram k is due at start + k/rate; a batch carries whatever
 * is due (at most `batch`), then the generator sleeps until the next one is due.
 * Prints {"sent":N,"errors":N,"replies":N,"seconds":S} at the end.
 */
#include "benchutil.h"
#include <signal.h>

#define MAXB 64
#define MAXLEN 2048
#define MAXSRC 256

struct tpl { uint16_t len, ts_off, ctr_off; char data[MAXLEN]; };

static volatile sig_atomic_t stop;
static void on_sig(int s) { (void)s; stop = 1; }

static const char HEX[] = "0123456789abcdef";
static void put_hex(char *p, uint64_t v, int digits) {
  for (int i = digits - 1; i >= 0; i--) { p[i] = HEX[v & 15]; v >>= 4; }
}

int main(int argc, char **argv) {
  struct sockaddr_in target;
  const char *tfile = arg(argc, argv, "templates", NULL);
  double rate = atof(arg(argc, argv, "rate", "0"));
  double seconds = atof(arg(argc, argv, "seconds", "0"));
  int nsrc = atoi(arg(argc, argv, "sources", "32"));
  int reply_port = atoi(arg(argc, argv, "reply_port", "0"));
  int batch = atoi(arg(argc, argv, "batch", "32"));
  if (parse_addr(arg(argc, argv, "target", ""), &target) || tfile == NULL || rate <= 0 || seconds <= 0) {
    fprintf(stderr, "usage: udp-gen target=IP:PORT templates=FILE rate=PPS seconds=S [sources=N] [reply_port=P] [batch=N]\n");
    return 2;
  }
  if (nsrc < 1 || nsrc > MAXSRC) nsrc = 32;
  if (batch < 1 || batch > MAXB) batch = 32;
  struct sigaction sa = {0};
  sa.sa_handler = on_sig;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  FILE *f = fopen(tfile, "rb");
  if (!f) { perror(tfile); return 2; }
  size_t cap = 1024, nt = 0;
  struct tpl *t = malloc(cap * sizeof *t);
  uint16_t h[3];
  while (fread(h, 2, 3, f) == 3) {
    if (h[0] > MAXLEN) { fprintf(stderr, "template too long\n"); return 2; }
    if (nt == cap) t = realloc(t, (cap *= 2) * sizeof *t);
    t[nt].len = h[0]; t[nt].ts_off = h[1]; t[nt].ctr_off = h[2];
    if (fread(t[nt].data, 1, h[0], f) != h[0]) { fprintf(stderr, "short template file\n"); return 2; }
    nt++;
  }
  fclose(f);
  if (nt == 0) { fprintf(stderr, "no templates\n"); return 2; }

  int fds[MAXSRC];
  for (int i = 0; i < nsrc; i++) {
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr = target.sin_addr.s_addr == htonl(INADDR_LOOPBACK) ? target.sin_addr : (struct in_addr){htonl(INADDR_LOOPBACK)};
    a.sin_port = htons(i == 0 ? (uint16_t)reply_port : 0);
    fds[i] = udp_bind(&a);
  }

  static char bufs[MAXB][MAXLEN];
  static struct iovec iov[MAXB];
  static struct mmsghdr msgs[MAXB];
  static char rbufs[MAXB][MAXLEN];
  static struct iovec riov[MAXB];
  static struct mmsghdr rmsgs[MAXB];
  for (int i = 0; i < MAXB; i++) {
    iov[i].iov_base = bufs[i];
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &target;
    msgs[i].msg_hdr.msg_namelen = sizeof target;
    riov[i].iov_base = rbufs[i];
    riov[i].iov_len = MAXLEN;
    rmsgs[i].msg_hdr.msg_iov = &riov[i];
    rmsgs[i].msg_hdr.msg_iovlen = 1;
  }

  uint64_t start = now_ns();
  uint64_t end = start + (uint64_t)(seconds * 1e9);
  double interval = 1e9 / rate;
  unsigned long long sent = 0, errors = 0, replies = 0;
  int cur = 0;
  for (;;) {
    uint64_t now = now_ns();
    if (now >= end || stop) break;
    unsigned long long total = (unsigned long long)((double)(now - start) / interval) + 1;
    long long due = (long long)(total - sent);
    if (due <= 0) {
      uint64_t next = start + (uint64_t)((double)sent * interval);
      if (next > now) {
        uint64_t d = next - now;
        struct timespec ts = { (time_t)(d / 1000000000ull), (long)(d % 1000000000ull) };
        nanosleep(&ts, NULL);
      }
      continue;
    }
    if (due > batch) due = batch;
    for (int i = 0; i < due; i++) {
      const struct tpl *p = &t[(sent + (unsigned)i) % nt];
      memcpy(bufs[i], p->data, p->len);
      iov[i].iov_len = p->len;
      if (p->ts_off != 0xffff) put_hex(bufs[i] + p->ts_off, now, 16);
      if (p->ctr_off != 0xffff) put_hex(bufs[i] + p->ctr_off, sent + (unsigned)i, 12);
    }
    int s = sendmmsg(fds[cur], msgs, (unsigned)due, 0);
    if (s < (int)due) errors += (unsigned long long)(due - (s < 0 ? 0 : s));
    /* Count a failed send as sent: the schedule moves on (open loop), the error is reported. */
    sent += (unsigned long long)due;
    cur = (cur + 1) % nsrc;
    /* Drain responses (100 Trying, 200 OK through a stateful proxy) without blocking. */
    int r = recvmmsg(fds[0], rmsgs, MAXB, MSG_DONTWAIT, NULL);
    if (r > 0) replies += (unsigned)r;
  }
  double secs = (double)(now_ns() - start) / 1e9;
  printf("{\"sent\":%llu,\"errors\":%llu,\"replies\":%llu,\"seconds\":%.3f}\n", sent, errors, replies, secs);
  return 0;
}
