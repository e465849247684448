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

// TcpWindow is one direction's window tracking state (ip_ct_tcp_state).
struct TcpWindow {
  uint32_t td_end = 0;     // max of seq + len
  uint32_t td_maxend = 0;  // max of ack + max(win, 1)
  uint32_t td_maxwin = 0;  // max(win)
  uint32_t td_maxack = 0;  // max of ack
  uint8_t td_scale = 0;    // window scale factor
  uint8_t flags = 0;       // IP_CT_TCP_FLAG_*
};

// TcpConnState is the TCP tracker's per-connection state (struct ip_ct_tcp).
struct TcpConnState {
  TcpWindow seen[2];
  uint8_t state = 0;  // TCP_CONNTRACK_* (0 none ... ), as the kernel numbers
  uint8_t last_dir = 0;
  uint8_t retrans = 0;
  uint8_t last_index = 0;
  uint32_t last_seq = 0;
  uint32_t last_ack = 0;
  uint32_t last_end = 0;
  uint16_t last_win = 0;
  uint8_t last_wscale = 0;
  uint8_t last_flags = 0;
};

// Conn is one tracked connection.
struct Conn {
  Tuple tuple[2];
  std::atomic<uint32_t> status{0};
  std::atomic<uint32_t> mark{0};
  uint32_t secmark = 0;
  uint16_t zone = 0;
  // On a CT template (status kIpsTemplate, attached by -j CT in raw): the
  // directions the zone applies to (NF_CT_ZONE_DIR_ORIG 1 | _REPL 2) and
  // whether the zone id is taken from the packet mark (NF_CT_FLAG_MARK).
  uint8_t zone_dir = 3;
  bool zone_from_mark = false;
  double expires = 0;      // absolute time (seconds) the entry times out
  std::string helper;      // attached helper name ("" = none)
  const Conn* master = nullptr;  // the connection this one was expected by
  uint8_t l4state = 0;     // protocol state for non-TCP protocols
  double udp_stream_ts = 0;  // UDP: replies after this make it a stream
  TcpConnState tcp;        // TCP tracker state (tcp.state is the TCP state)
  uint32_t table_slot = 0;  // position in the confirmed table (O(1) removal)
  uint64_t packets[2] = {0, 0};
  uint64_t bytes[2] = {0, 0};
};

}  // namespace netfence::core
