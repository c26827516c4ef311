#!/usr/bin/env bash
# Debian packages sipfarm's lab, demo and tests use: sipp (the SIP peers), nftables (the
# lab's stateless DSR load balancer), iproute2 (namespaces, veth, bridge), tcpdump and
# ping (frames that teach the lab bridge each MAC); gcc, make, python3 (node-gyp builds the
# native fast path); clang, libclang-rt-14-dev, libssl-dev (the libFuzzer harnesses,
# test/fuzz/run.sh). Installs only what is missing.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
need=()
for pkg_cmd in sip-tester:sipp nftables:nft iproute2:ip tcpdump:tcpdump iputils-ping:ping gcc:gcc make:make python3:python3 clang:clang; do
  pkg=${pkg_cmd%%:*}; cmd=${pkg_cmd##*:}
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || need+=("$pkg")
done
# Libraries (no command to look for): ask dpkg.
for pkg in libclang-rt-14-dev libssl-dev; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "install-deps: need root to install: ${need[*]}" >&2; exit 1; fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  echo "install-deps: installed ${need[*]}"
fi
