#!/usr/bin/env bash
# Installs what netfence needs on Debian 12 (as root) and builds it.
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS="build-essential cmake ninja-build pkg-config nlohmann-json3-dev libcli11-dev
  libfmt-dev libpcap-dev libgtest-dev libgmock-dev libbenchmark-dev zlib1g-dev iptables nftables
  conntrack python3 python3-scapy iproute2 ethtool"
# Optional: libdpdk-dev adds build/bench/netfence_rte_acl_bench (DPDK rte_acl side by side).
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing
fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
