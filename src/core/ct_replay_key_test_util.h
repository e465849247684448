// Test helper shared by the tracker tests that replay kernel recordings
// (ct_proto_tcp_test, ct_proto_sctp_test): the flow key of a recorded
// packet, addresses printed the way the recorder's `conntrack -L` lines
// name them.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>

#include "core/packet.h"
#include "core/types.h"

namespace netfence::core::ctreplay {

// FlowKey is a packet's addresses and ports, and where its transport
// header starts.
struct FlowKey {
  std::string src, dst;
  uint16_t sport = 0, dport = 0;
  unsigned dataoff = 0;
  bool operator==(const FlowKey& o) const {
    return src == o.src && dst == o.dst && sport == o.sport && dport == o.dport;
  }
};

// Reverse is the key of the other direction.
inline FlowKey Reverse(FlowKey k) {
  std::swap(k.src, k.dst);
  std::swap(k.sport, k.dport);
  return k;
}

// KeyOf reads a packet's key; IPv6 addresses are printed only as much as
// the recorders' fd77::N addresses need.
inline FlowKey KeyOf(const Packet& p) {
  auto v4 = [](const uint8_t* a) {
    return std::to_string(a[0]) + "." + std::to_string(a[1]) + "." +
           std::to_string(a[2]) + "." + std::to_string(a[3]);
  };
  auto v6 = [](const uint8_t* a) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%x::%x", Load16(a), Load16(a + 14));
    return std::string(buf);
  };
  FlowKey k;
  const uint8_t* d = p.data.data();
  if (p.family == Family::kIPv6) {
    k.src = v6(d + 8);
    k.dst = v6(d + 24);
    k.dataoff = 40;
  } else {
    k.src = v4(d + 12);
    k.dst = v4(d + 16);
    k.dataoff = (d[0] & 15) * 4;
  }
  k.sport = Load16(d + k.dataoff);
  k.dport = Load16(d + k.dataoff + 2);
  return k;
}

}  // namespace netfence::core::ctreplay
