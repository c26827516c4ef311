/* libFuzzer harness: the C scanner and classifier (native/src/scanner.c, classifier.c)
 * on arbitrary bytes. Beyond "no crash, no UB" (ASan + UBSan), it checks the scanner's
 * contract: every offset is -1 or inside the datagram, every range ordered, and a
 * verdict always names a live owner for RELAY. Run by test/fuzz/run.sh. */
#include <stdlib.h>
#include <string.h>
#include "sf.h"

#define RING 251 /* prime */
static uint8_t ring[RING], prev[RING];
static sf_tables tables;

static void init_tables(void) {
  static int done = 0;
  if (done) return;
  done = 1;
  for (int i = 0; i < RING; i++) {
    ring[i] = (uint8_t)(1 + i % 2);      /* members 1, 2 */
    prev[i] = (uint8_t)(1 + (i * 7) % 3); /* members 1, 2, 3 */
  }
  memset(&tables, 0, sizeof tables);
  tables.self_id = 1;
  tables.alive[1] = tables.alive[2] = tables.alive[3] = 1;
  tables.ring = ring;
  tables.ring_size = RING;
  tables.probe_v4[0] = 0xcb007101; /* 203.0.113.1 */
  tables.probe_count = 1;
  tables.max_message_size = SF_SCAN_MAX_DATAGRAM;
}

static void check_range(int32_t s, int32_t e, size_t len) {
  if (s == -1 && e == -1) return;
  if (s < 0 || e < s || (size_t)e > len) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  init_tables();
  if (size > SF_SCAN_MAX_DATAGRAM + 16) return 0;
  /* An exact-size heap copy, so ASan sees any read past the end. */
  uint8_t *b = malloc(size ? size : 1);
  if (b == NULL) return 0;
  memcpy(b, data, size);
  sf_scan s;
  for (int flags = 0; flags <= SF_SCANFLAG_LENIENT_LINE_ENDS; flags++) {
    int st = sf_scan_datagram(b, size, &s, SF_SCAN_MAX_DATAGRAM, flags);
    if (st < 0 || st >= SF_SCAN_COUNT || st != s.status) abort();
    check_range(s.method_start, s.method_end, size);
    check_range(s.ruri_start, s.ruri_end, size);
    check_range(s.branch_start, s.branch_end, size);
    check_range(s.call_id_start, s.call_id_end, size);
    check_range(s.cseq_method_start, s.cseq_method_end, size);
    check_range(s.to_uri_start, s.to_uri_end, size);
    check_range(s.from_tag_start, s.from_tag_end, size);
    check_range(s.to_tag_start, s.to_tag_end, size);
    check_range(s.route_uri_start, s.route_uri_end, size);
    if (s.headers_end > (int32_t)size) abort();
    if (st == SF_SCAN_OK && (s.call_id_start < 0 || s.via_count <= 0 || s.cseq_num < 0)) abort();
  }
  sf_verdict v;
  for (int arrival = 0; arrival <= 1; arrival++) {
    tables.prev_ring = arrival ? prev : NULL;
    tables.prev_ring_size = arrival ? RING : 0;
    tables.max_message_size = size > 64 && (b[0] & 1) ? 64 : SF_SCAN_MAX_DATAGRAM;
    int a = sf_classify(b, size, 0xcb007101u, arrival, &tables, &s, &v);
    if (a != v.action || a < SF_ACTION_LOCAL || a > SF_ACTION_DROP) abort();
    if (a == SF_ACTION_RELAY && (v.owner < 0 || v.owner > SF_MAX_MEMBER_ID || !tables.alive[v.owner])) abort();
    if (a == SF_ACTION_DROP && (v.drop < 0 || v.drop >= SF_DROP_COUNT)) abort();
    if (a != SF_ACTION_DROP && (v.outcome < 0 || v.outcome >= SF_OUTCOME_COUNT)) abort();
  }
  free(b);
  return 0;
}
