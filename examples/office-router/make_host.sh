#!/usr/bin/env bash
# Builds the example router in a network namespace and writes host.json the
# way the contract describes (ip -j addr / route). Run as root.
set -euo pipefail
ns=nf-example-$$
peer=nf-example-peer-$$
ip netns add "$ns"
ip netns add "$peer"
trap 'ip netns del "$ns"; ip netns del "$peer"' EXIT
x() { ip netns exec "$ns" "$@"; }
x ip link set lo up
for spec in "wan0 02:00:00:00:00:01 203.0.113.2/24" \
            "lan0 02:00:00:00:00:02 192.168.10.1/24" \
            "dmz0 02:00:00:00:00:03 10.20.0.1/24"; do
  set -- $spec
  # Each interface is a veth whose other end lives in a peer namespace.
  x ip link add "$1" type veth peer name "p$1" netns "$peer"
  ip netns exec "$peer" ip link set "p$1" up
  x ip link set "$1" address "$2"
  x ip addr add "$3" dev "$1"
  x ip link set "$1" up
done
x ip route add default via 203.0.113.1 dev wan0
printf '{"addrs":%s,"routes":%s,"routes6":%s,"forwarding":true}\n' \
  "$(x ip -j addr)" "$(x ip -j route show table all)" \
  "$(x ip -6 -j route show table all)" > host.json
