/*
 * floor-relay: the benchmark's floor. Receives datagrams with recvmmsg and sends each,
 * unchanged, to one destination with sendmmsg — the least work any relay can do in user
 * space on Linux (no parsing, no classification, no authentication). Every other
 * relay's packets per CPU-second are read against this one.
 *
 *   floor-relay bind=127.0.0.1:PORT to=127.0.0.1:PORT [batch=64]
 *
 * Runs until SIGTERM/SIGINT; prints {"relayed":N} on exit.
 */
#include "benchutil.h"
#include <signal.h>

#define MAXB 256
#define MAXLEN 2048

static volatile sig_atomic_t stop;
static void on_sig(int s) { (void)s; stop = 1; }

int main(int argc, char **argv) {
  struct sockaddr_in bind_a, to_a;
  if (parse_addr(arg(argc, argv, "bind", ""), &bind_a) || parse_addr(arg(argc, argv, "to", ""), &to_a)) {
    fprintf(stderr, "usage: floor-relay bind=IP:PORT to=IP:PORT [batch=N]\n");
    return 2;
  }
  int batch = atoi(arg(argc, argv, "batch", "64"));
  if (batch < 1 || batch > MAXB) batch = 64;
  struct sigaction sa = {0};
  sa.sa_handler = on_sig; /* no SA_RESTART: recvmmsg returns EINTR */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  int fd = udp_bind(&bind_a);
  static char bufs[MAXB][MAXLEN];
  static struct iovec iov[MAXB];
  static struct mmsghdr in[MAXB], out[MAXB];
  for (int i = 0; i < MAXB; i++) {
    iov[i].iov_base = bufs[i];
    iov[i].iov_len = MAXLEN;
    in[i].msg_hdr.msg_iov = &iov[i];
    in[i].msg_hdr.msg_iovlen = 1;
  }
  unsigned long long relayed = 0;
  printf("ready\n");
  fflush(stdout);
  while (!stop) {
    int n = recvmmsg(fd, in, (unsigned)batch, MSG_WAITFORONE, NULL);
    if (n <= 0) continue;
    for (int i = 0; i < n; i++) {
      out[i].msg_hdr.msg_name = &to_a;
      out[i].msg_hdr.msg_namelen = sizeof to_a;
      out[i].msg_hdr.msg_iov = &iov[i];
      out[i].msg_hdr.msg_iovlen = 1;
      iov[i].iov_len = in[i].msg_len;
    }
    int s = sendmmsg(fd, out, (unsigned)n, 0);
    if (s > 0) relayed += (unsigned)s;
    for (int i = 0; i < n; i++) iov[i].iov_len = MAXLEN;
  }
  printf("{\"relayed\":%llu}\n", relayed);
  return 0;
}
