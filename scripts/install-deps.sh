#!/usr/bin/env bash
# Debian packages sipfarm's lab, demo and tests use: sipp (the SIP peers), nftables (the
# lab's stateless DSR load balancer), iproute2 (namespaces, veth, bridge), tcpdump and
# ping (frames that teach the lab bridge each MAC). Installs only what is missing.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
need=()
for pkg_cmd in sip-tester:sipp nftables:nft iproute2:ip tcpdump:tcpdump iputils-ping:ping; do
  pkg=${pkg_cmd%%:*}; cmd=${pkg_cmd##*:}
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "install-deps: need root to install: ${need[*]}" >&2; exit 1; fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  echo "install-deps: installed ${need[*]}"
fi
