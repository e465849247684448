// A connection tracking entry as matches and targets see it (struct
// nf_conn): tuples in both directions, status bits, mark, zone, timeout.
// The tracker itself (core/conntrack) owns and updates entries.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "core/types.h"

namespace netfence::core {

// Direction of a tuple (IP_CT_DIR_ORIGINAL / IP_CT_DIR_REPLY).
enum CtDir : uint8_t { kDirOriginal = 0, kDirReply = 1 };

// CtStatus mirrors enum ip_conntrack_status bits.
enum CtStatus : uint32_t {
  kIpsExpected = 1u << 0,
  kIpsSeenReply = 1u << 1,
  kIpsAssured = 1u << 2,
  kIpsConfirmed = 1u << 3,
  kIpsSrcNat = 1u << 4,
  kIpsDstNat = 1u << 5,
  kIpsSeqAdjust = 1u << 6,
  kIpsSrcNatDone = 1u << 7,
  kIpsDstNatDone = 1u << 8,
  kIpsDying = 1u << 9,
  kIpsFixedTimeout = 1u << 10,
  kIpsTemplate = 1u << 11,
  kIpsUntracked = 1u << 12,
  kIpsHelper = 1u << 13,
  kIpsOffload = 1u << 14,
};

// Tuple identifies one direction of a connection (nf_conntrack_tuple).
// For ICMP, sport holds the echo id and dport (type << 8 | code).
struct Tuple {
  Family family = Family::kIPv4;
  Addr src, dst;
  uint16_t sport = 0, dport = 0;
  uint8_t proto = 0;
  bool operator==(const Tuple&) const = default;
};

// Conn is one tracked connection.
struct Conn {
  Tuple tuple[2];
  std::atomic<uint32_t> status{0};
  std::atomic<uint32_t> mark{0};
  uint32_t secmark = 0;
  uint16_t zone = 0;
  double expires = 0;      // absolute time (seconds) the entry times out
  std::string helper;      // attached helper name ("" = none)
  uint8_t l4state = 0;     // protocol state (TCP_CONNTRACK_*, ...)
  uint64_t packets[2] = {0, 0};
  uint64_t bytes[2] = {0, 0};
};

}  // namespace netfence::core
