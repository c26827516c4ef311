#!/bin/sh
# lo-vip.sh — put the VIP on lo as /32 (and take it off) with plain `ip`, for hosts
# without networkd or ifupdown, or from a container entrypoint. Idempotent.
#
#   lo-vip.sh up   198.51.100.10    # ARP suppression first, then the VIP
#   lo-vip.sh down 198.51.100.10
#
# Make it persistent with 90-sipfarm-dsr.conf and lo-vip.network / lo-vip.interfaces.
set -eu

usage() { echo "usage: $0 up|down VIP" >&2; exit 2; }
[ $# -eq 2 ] || usage
action=$1
vip=$2
case "$vip" in
  *[!0-9.]*|'') echo "$0: '$vip' is not an IPv4 address" >&2; exit 2 ;;
esac

case "$action" in
  up)
    # Order matters: suppress ARP before the VIP exists, or the member may answer
    # "who has VIP?" once and steal the VIP from the LB until the caches expire.
    sysctl -q -w net.ipv4.conf.all.arp_ignore=1
    sysctl -q -w net.ipv4.conf.all.arp_announce=2
    # Loose, not strict: strict reverse-path filtering drops DSR traffic (see 90-sipfarm-dsr.conf).
    sysctl -q -w net.ipv4.conf.all.rp_filter=2
    # /32 on lo: local for the kernel, invisible on the wire.
    if ! ip -4 addr show dev lo | grep -q "inet $vip/32 "; then
      ip addr add "$vip/32" dev lo label lo:sipfarm
    fi
    ;;
  down)
    # Take the VIP away first: this member then drops VIP traffic instead of answering it.
    if ip -4 addr show dev lo | grep -q "inet $vip/32 "; then
      ip addr del "$vip/32" dev lo
    fi
    ;;
  *) usage ;;
esac
