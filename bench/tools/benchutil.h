/*
 * Shared helpers for the benchmark's C tools: key=value arguments, IPv4 host:port
 * parsing, a monotonic clock in nanoseconds, and socket buffer sizing.
 * Loopback benchmarking only; no allocation in the packet loops of the tools.
 */
#ifndef SIPFARM_BENCHUTIL_H
#define SIPFARM_BENCHUTIL_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Value of "name=value" among argv, or def. */
static inline const char *arg(int argc, char **argv, const char *name, const char *def) {
  size_t n = strlen(name);
  for (int i = 1; i < argc; i++)
    if (strncmp(argv[i], name, n) == 0 && argv[i][n] == '=') return argv[i] + n + 1;
  return def;
}

static inline int parse_addr(const char *s, struct sockaddr_in *out) {
  char host[64];
  const char *colon = strrchr(s, ':');
  if (colon == NULL || (size_t)(colon - s) >= sizeof host) return -1;
  memcpy(host, s, (size_t)(colon - s));
  host[colon - s] = 0;
  memset(out, 0, sizeof *out);
  out->sin_family = AF_INET;
  out->sin_port = htons((uint16_t)atoi(colon + 1));
  return inet_pton(AF_INET, host, &out->sin_addr) == 1 ? 0 : -1;
}

static inline void big_buffers(int fd) {
  int sz = 8 << 20;
  /* As root, FORCE passes net.core.[rw]mem_max; otherwise the plain option (capped). */
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz) != 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof sz) != 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
}

static inline int udp_bind(const struct sockaddr_in *a) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) { perror("socket"); exit(2); }
  big_buffers(fd);
  if (bind(fd, (const struct sockaddr *)a, sizeof *a) != 0) { perror("bind"); exit(2); }
  return fd;
}

#endif
