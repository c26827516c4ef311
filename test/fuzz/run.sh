#!/usr/bin/env bash
# Builds the libFuzzer harnesses of the native fast path and runs each for a bounded time.
#   test/fuzz/run.sh [SECONDS per harness, default 20]
# Exit status: 0 when every harness ran clean; 1 on a crash/sanitizer report (the
# reproducer is left in $OUT); 2 when clang with libFuzzer is not available.
# Needs the Debian packages clang, libclang-rt-<ver>-dev, libssl-dev (scripts/install-deps.sh).
set -euo pipefail
SECS=${1:-20}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${SIPFARM_FUZZ_DIR:-${TMPDIR:-/tmp}/sipfarm-fuzz}
CC=${CC_FUZZ:-}
if [ -z "$CC" ]; then
  for c in clang clang-16 clang-15 clang-14; do command -v "$c" >/dev/null 2>&1 && { CC=$c; break; }; done
fi
if [ -z "$CC" ]; then echo "fuzz: clang not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; fi
mkdir -p "$OUT"
SRC="$ROOT/native/src"
CFLAGS=(-g -O1 -std=gnu11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I"$SRC")
if ! echo 'int LLVMFuzzerTestOneInput(const char*d,unsigned long n){return 0;}' | "$CC" "${CFLAGS[@]}" -x c - -o "$OUT/probe" 2>/dev/null; then
  echo "fuzz: $CC cannot link libFuzzer (apt-get install libclang-rt-14-dev)" >&2; exit 2
fi
"$CC" "${CFLAGS[@]}" "$ROOT/test/fuzz/scan_fuzz.c" "$SRC/scanner.c" "$SRC/classifier.c" "$SRC/hash.c" "$SRC/tokens.c" -o "$OUT/scan_fuzz"
"$CC" "${CFLAGS[@]}" "$ROOT/test/fuzz/envelope_fuzz.c" "$SRC/envelope.c" -lcrypto -o "$OUT/envelope_fuzz"

# Seed corpora: the RFC 4475 messages and the classifier vectors' packets.
mkdir -p "$OUT/corpus/scan" "$OUT/corpus/envelope"
cp "$ROOT"/test/vectors/rfc4475/valid/*.dat "$ROOT"/test/vectors/rfc4475/invalid/*.dat "$OUT/corpus/scan/" 2>/dev/null || true
node -e '
  const v = require(process.argv[1]);
  v.vectors.forEach((x, i) => require("fs").writeFileSync(process.argv[2] + "/vec" + i, Buffer.from(x.packet, "latin1")));
' "$ROOT/test/vectors/classifier/vectors.json" "$OUT/corpus/scan"

status=0
for h in scan envelope; do
  echo "fuzz: $h for ${SECS}s"
  if ! (cd "$OUT" && "./${h}_fuzz" -max_total_time="$SECS" -max_len=4096 -timeout=10 -rss_limit_mb=1024 \
        -print_final_stats=1 -artifact_prefix="$OUT/${h}-" "$OUT/corpus/$h" >"$OUT/$h.log" 2>&1); then
    echo "fuzz: $h FAILED — see $OUT/$h.log and $OUT/${h}-crash-*" >&2
    tail -40 "$OUT/$h.log" >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|Done" "$OUT/$h.log" | tail -2
  fi
done
exit $status
