// NAT ranges as the NAT targets hand them to the NAT core
// (struct nf_nat_range2).
#pragma once

#include <cstdint>

#include "core/types.h"

namespace netfence::core {

// NatRange flags (NF_NAT_RANGE_*).
enum NatRangeFlag : unsigned {
  kNatMapIps = 1 << 0,
  kNatProtoSpecified = 1 << 1,
  kNatProtoRandom = 1 << 2,
  kNatPersistent = 1 << 3,
  kNatProtoRandomFully = 1 << 4,
  kNatProtoOffset = 1 << 5,
  kNatNetmap = 1 << 6,
};

// NatRange is an address and port range to map to.
struct NatRange {
  unsigned flags = 0;
  Addr min_addr, max_addr;
  uint16_t min_proto = 0, max_proto = 0;  // ports (host order) / ICMP ids
  uint16_t base_proto = 0;
};

// NatManip says which side a mapping rewrites.
enum class NatManip : uint8_t { kSrc = 0, kDst = 1 };

}  // namespace netfence::core
