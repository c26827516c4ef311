/*
 * udp-sink: where the system under test delivers. Counts datagrams, unwraps sipfarm
 * relay envelopes (magic "SF", version 1, kind 1 = RELAY: the SIP bytes start at offset
 * 64 and a 16-byte MAC ends the datagram), reads the sender's timestamp ("X-Ts: " + 16
 * hex digits of CLOCK_MONOTONIC ns, written by udp-gen) for one-way latency, and reads
 * the CPU time of the SUT's processes from /proc/<pid>/stat exactly at the edges of
 * its measurement window, so packets and CPU are counted over the same interval.
 *
 *   udp-sink bind=IP:PORT[,IP:PORT] seconds=T warmup=W measure=M [pids=P1,P2,...]
 *            [samples=FILE] [sample_every=N] [respond=1]
 *
 * respond=1 answers every request with a 200 OK built from its Via, From, To, Call-ID
 * and CSeq (RFC 3261 §8.2.6.2), so a stateful proxy's transactions complete.
 * samples: relay envelopes written as [u16 len][bytes] (the first 64, then every Nth),
 * verified afterwards by the bench runner with sipfarm's own envelope decoder.
 * Prints one JSON object at the end.
 */
#include "benchutil.h"
#include <poll.h>
#include <signal.h>

#define MAXB 64
#define MAXLEN 2048
#define HIST_US 1000000 /* 1 µs buckets up to 1 s */
#define MAXPIDS 64

static volatile sig_atomic_t stop;
static void on_sig(int s) { (void)s; stop = 1; }

static unsigned hist[HIST_US + 1];
static int pids[MAXPIDS];
static int npids;

/* utime + stime (clock ticks) of every SUT pid (threads included: /proc/<pid>/stat is per process). */
static unsigned long long cpu_ticks(void) {
  unsigned long long sum = 0;
  char path[64], buf[1024];
  for (int i = 0; i < npids; i++) {
    snprintf(path, sizeof path, "/proc/%d/stat", pids[i]);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) continue;
    /* Fields after the comm: 3 state ... 14 utime 15 stime. p+2 is field 3. */
    unsigned long long ut = 0, st = 0;
    int field = 3;
    for (char *tok = strtok(p + 2, " "); tok; tok = strtok(NULL, " "), field++) {
      if (field == 14) ut = strtoull(tok, NULL, 10);
      if (field == 15) { st = strtoull(tok, NULL, 10); break; }
    }
    sum += ut + st;
  }
  return sum;
}

static long parse_hex16(const char *p) {
  long v = 0;
  for (int i = 0; i < 16; i++) {
    char c = p[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return -1;
    v = (v << 4) | d;
  }
  return v;
}

static unsigned pct(unsigned long long count, double p) {
  if (count == 0) return 0;
  unsigned long long rank = (unsigned long long)(p / 100.0 * (double)count + 0.999999);
  if (rank < 1) rank = 1;
  unsigned long long acc = 0;
  for (unsigned i = 0; i <= HIST_US; i++) {
    acc += hist[i];
    if (acc >= rank) return i;
  }
  return HIST_US;
}

/* Copy the header lines named in `names` (case-insensitive prefix "Name:") from req into out. */
static size_t copy_headers(const char *req, size_t len, char *out, size_t cap) {
  static const char *names[] = {"via:", "v:", "from:", "f:", "to:", "t:", "call-id:", "i:", "cseq:"};
  size_t o = 0;
  const char *p = memchr(req, '\n', len);
  if (!p) return 0;
  p++;
  const char *end = req + len;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol) break;
    size_t ll = (size_t)(eol - p) + 1;
    if (ll <= 2) break; /* empty line: end of headers */
    for (unsigned k = 0; k < sizeof names / sizeof *names; k++) {
      size_t nl = strlen(names[k]);
      if (ll > nl && strncasecmp(p, names[k], nl) == 0) {
        if (o + ll + 16 > cap) return 0;
        memcpy(out + o, p, ll);
        o += ll;
        /* RFC 3261 §8.2.6.2: the UAS adds a To tag. */
        if ((k == 4 || k == 5) && memmem(p, ll, ";tag=", 5) == NULL) {
          size_t at = o - ((out[o - 2] == '\r') ? 2 : 1);
          memmove(out + at + 8, out + at, o - at);
          memcpy(out + at, ";tag=snk", 8);
          o += 8;
        }
        break;
      }
    }
    p = eol + 1;
  }
  return o;
}

int main(int argc, char **argv) {
  char binds[128];
  snprintf(binds, sizeof binds, "%s", arg(argc, argv, "bind", ""));
  double seconds = atof(arg(argc, argv, "seconds", "0"));
  double warmup = atof(arg(argc, argv, "warmup", "0"));
  double measure = atof(arg(argc, argv, "measure", "0"));
  const char *samples_path = arg(argc, argv, "samples", NULL);
  unsigned long long sample_every = strtoull(arg(argc, argv, "sample_every", "997"), NULL, 10);
  int respond = atoi(arg(argc, argv, "respond", "0"));
  if (binds[0] == 0 || seconds <= 0 || measure <= 0 || warmup + measure > seconds) {
    fprintf(stderr, "usage: udp-sink bind=IP:PORT[,IP:PORT] seconds=T warmup=W measure=M [pids=..] [samples=F] [respond=1]\n");
    return 2;
  }
  char pidlist[1024];
  snprintf(pidlist, sizeof pidlist, "%s", arg(argc, argv, "pids", ""));
  for (char *tok = strtok(pidlist, ","); tok && npids < MAXPIDS; tok = strtok(NULL, ",")) pids[npids++] = atoi(tok);
  struct sigaction sa = {0};
  sa.sa_handler = on_sig;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  struct pollfd pfd[2];
  int nfd = 0;
  for (char *tok = strtok(binds, ","); tok && nfd < 2; tok = strtok(NULL, ",")) {
    struct sockaddr_in a;
    if (parse_addr(tok, &a)) { fprintf(stderr, "bad bind %s\n", tok); return 2; }
    pfd[nfd].fd = udp_bind(&a);
    pfd[nfd].events = POLLIN;
    nfd++;
  }
  FILE *samples = samples_path ? fopen(samples_path, "wb") : NULL;

  static char bufs[MAXB][MAXLEN];
  static struct iovec iov[MAXB];
  static struct mmsghdr msgs[MAXB];
  static struct sockaddr_in from[MAXB];
  static char rbufs[MAXB][MAXLEN];
  static struct iovec riov[MAXB];
  static struct mmsghdr rmsgs[MAXB];
  for (int i = 0; i < MAXB; i++) {
    iov[i].iov_base = bufs[i];
    iov[i].iov_len = MAXLEN;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &from[i];
    msgs[i].msg_hdr.msg_namelen = sizeof from[i];
    riov[i].iov_base = rbufs[i];
    rmsgs[i].msg_hdr.msg_iov = &riov[i];
    rmsgs[i].msg_hdr.msg_iovlen = 1;
  }

  uint64_t start = now_ns();
  uint64_t w0 = start + (uint64_t)(warmup * 1e9), w1 = w0 + (uint64_t)(measure * 1e9);
  uint64_t end = start + (uint64_t)(seconds * 1e9);
  unsigned long long total = 0, win = 0, env_relay = 0, env_other = 0, plain = 0, lat_n = 0, lat_over = 0;
  unsigned long long responded = 0, sampled = 0, cpu0 = 0, cpu1 = 0, win_first = 0;
  uint64_t t0 = 0, t1 = 0;
  int in_win = 0, done_win = 0;
  printf("ready\n");
  fflush(stdout);
  while (!stop) {
    uint64_t now = now_ns();
    if (!in_win && !done_win && now >= w0) { cpu0 = cpu_ticks(); t0 = now_ns(); in_win = 1; win_first = total; }
    if (in_win && now >= w1) { cpu1 = cpu_ticks(); t1 = now_ns(); in_win = 0; done_win = 1; win = total - win_first; }
    if (now >= end) break;
    if (poll(pfd, (nfds_t)nfd, 5) <= 0) continue;
    for (int s = 0; s < nfd; s++) {
      if (!(pfd[s].revents & POLLIN)) continue;
      for (int i = 0; i < MAXB; i++) { iov[i].iov_len = MAXLEN; msgs[i].msg_hdr.msg_namelen = sizeof from[i]; }
      int n = recvmmsg(pfd[s].fd, msgs, MAXB, MSG_DONTWAIT, NULL);
      if (n <= 0) continue;
      uint64_t at = now_ns();
      int nr = 0;
      for (int i = 0; i < n; i++) {
        const unsigned char *b = (const unsigned char *)bufs[i];
        size_t len = msgs[i].msg_len;
        const char *sip = (const char *)b;
        size_t slen = len;
        if (len >= 80 && b[0] == 'S' && b[1] == 'F' && b[2] == 1) {
          if (b[3] != 1) { env_other++; continue; } /* heartbeat / control: not traffic */
          env_relay++;
          sip += 64;
          slen = len - 80;
          if (samples && (env_relay <= 64 || env_relay % sample_every == 0) && sampled < 4096) {
            uint16_t l16 = (uint16_t)len;
            fwrite(&l16, 2, 1, samples);
            fwrite(b, 1, len, samples);
            sampled++;
          }
        } else {
          plain++;
        }
        total++;
        if (in_win) {
          const char *ts = memmem(sip, slen, "X-Ts: ", 6);
          if (ts && ts + 22 <= sip + slen) {
            long v = parse_hex16(ts + 6);
            if (v > 0 && (uint64_t)v <= at) {
              uint64_t us = (at - (uint64_t)v) / 1000;
              if (us > HIST_US) { us = HIST_US; lat_over++; }
              hist[us]++;
              lat_n++;
            }
          }
        }
        if (respond && slen > 8 && memcmp(sip, "SIP/2.0 ", 8) != 0 && memcmp(sip, "ACK ", 4) != 0) {
          static const char sl[] = "SIP/2.0 200 OK\r\n";
          memcpy(rbufs[nr], sl, sizeof sl - 1);
          size_t o = sizeof sl - 1;
          size_t h = copy_headers(sip, slen, rbufs[nr] + o, MAXLEN - o - 32);
          if (h == 0) continue;
          o += h;
          memcpy(rbufs[nr] + o, "Content-Length: 0\r\n\r\n", 21);
          riov[nr].iov_len = o + 21;
          rmsgs[nr].msg_hdr.msg_name = &from[i];
          rmsgs[nr].msg_hdr.msg_namelen = sizeof from[i];
          nr++;
        }
      }
      if (nr > 0) {
        int r = sendmmsg(pfd[s].fd, rmsgs, (unsigned)nr, 0);
        if (r > 0) responded += (unsigned)r;
      }
    }
  }
  if (in_win) { cpu1 = cpu_ticks(); t1 = now_ns(); win = total - win_first; }
  if (samples) fclose(samples);
  double wsec = t1 > t0 ? (double)(t1 - t0) / 1e9 : 0;
  printf("{\"total\":%llu,\"window_count\":%llu,\"window_s\":%.4f,\"cpu_ticks\":%llu,\"clk_tck\":%ld,"
         "\"env_relay\":%llu,\"env_other\":%llu,\"plain\":%llu,\"responded\":%llu,\"samples\":%llu,"
         "\"lat_count\":%llu,\"lat_over_1s\":%llu,\"lat_p50_us\":%u,\"lat_p90_us\":%u,\"lat_p99_us\":%u}\n",
         total, win, wsec, cpu1 - cpu0, sysconf(_SC_CLK_TCK), env_relay, env_other, plain, responded, sampled,
         lat_n, lat_over, pct(lat_n, 50), pct(lat_n, 90), pct(lat_n, 99));
  return 0;
}
