// A connection tracking entry as matches and targets see it (struct
// nf_conn): tuples in both directions, status bits, mark, zone, timeout.
// The tracker itself (core/conntrack) owns and updates entries.
#pragma once

#include <atomic>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

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

// CtHelperName is a connection's helper name ("" = none), stored as a
// 16-bit id into a process-wide table of the names seen (a handful: ftp,
// sip, ...), so an entry spends 2 bytes on it instead of a std::string.
// It reads like a const std::string.
class CtHelperName {
 public:
  CtHelperName() = default;
  CtHelperName(std::string_view name) : id_(Intern(name)) {}  // NOLINT
  CtHelperName& operator=(std::string_view name) {
    id_ = Intern(name);
    return *this;
  }
  const std::string& str() const { return Name(id_); }
  operator const std::string&() const { return str(); }  // NOLINT
  bool empty() const { return id_ == 0; }
  bool operator==(const CtHelperName& o) const { return id_ == o.id_; }
  bool operator==(std::string_view o) const { return str() == o; }
  friend std::ostream& operator<<(std::ostream& os, const CtHelperName& h) {
    return os << h.str();
  }

 private:
  static uint16_t Intern(std::string_view name);
  static const std::string& Name(uint16_t id);
  uint16_t id_ = 0;
};

struct Conn;
// ReleaseMaster drops an expected connection's reference on its master
// (core/ct_expect.cc).
void ReleaseMaster(const Conn* master);

// Conn is one tracked connection. Its layout is kept small (136 bytes):
// a million entries are a normal table. State only some protocols need
// lives out of line (TCP's window tracking) or shares storage (UDP's stream
// time), and there are no per-entry packet/byte counters
// (nf_conntrack_acct is off, the kernel's default, and nothing prints them).
struct Conn {
  Conn() = default;
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  ~Conn() {
    DropTcp();
    if (master != nullptr) ReleaseMaster(master);
  }

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
  double expires = 0;            // absolute time (seconds) the entry times out
  // The connection this one was expected by (core/ct_helper), held by a
  // reference that the destructor drops.
  const Conn* master = nullptr;
  uint32_t table_slot = 0;  // position in the confirmed table (O(1) removal)
  // Conntrack's bookkeeping: the entry's index in the connection slab
  // (core/ct_hash.h; kNoSlab for an entry made elsewhere, e.g. a template)
  // and its references (the table's and the packets' ct_ref).
  static constexpr uint32_t kNoSlab = ~uint32_t(0);
  uint32_t slab_id = kNoSlab;
  std::atomic<uint32_t> refs{0};
  CtHelperName helper;  // attached helper name ("" = none)
  // Protocol state for non-TCP protocols (SCTP: its state and flags,
  // SctpConnState::Small()).
  uint8_t l4state = 0;

  // tcp is the TCP tracker state (tcp().state is the TCP state), allocated
  // on first write; a connection without it reads as all zero.
  TcpConnState& tcp() {
    if (!has_tcp_) {
      l4_.tcp = new TcpConnState();
      has_tcp_ = true;
    }
    return *l4_.tcp;
  }
  const TcpConnState& tcp() const { return has_tcp_ ? *l4_.tcp : kNoTcp; }
  // UDP: replies after this time (seconds) make the entry a stream. Shares
  // storage with the TCP state (a connection has one protocol).
  double udp_stream_ts() const { return has_tcp_ ? 0 : l4_.udp_stream_ts; }
  void set_udp_stream_ts(double t) {
    DropTcp();
    l4_.udp_stream_ts = t;
  }
  // SCTP: both directions' verification tags (SctpConnState::Tags()),
  // sharing the same storage.
  uint64_t sctp_tags() const { return has_tcp_ ? 0 : l4_.sctp_tags; }
  void set_sctp_tags(uint64_t tags) {
    DropTcp();
    l4_.sctp_tags = tags;
  }

 private:
  void DropTcp() {
    if (has_tcp_) delete l4_.tcp;
    has_tcp_ = false;
    l4_.udp_stream_ts = 0;
  }
  static const TcpConnState kNoTcp;
  bool has_tcp_ = false;
  union {
    TcpConnState* tcp;
    double udp_stream_ts = 0;
    uint64_t sctp_tags;
  } l4_;
};

}  // namespace netfence::core
