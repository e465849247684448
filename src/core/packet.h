// The packet as netfilter sees it: the IP datagram plus the sk_buff metadata
// that matches and targets read and write (mark, priority, socket owner,
// link-layer addresses, conntrack reference).
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/types.h"

namespace netfence::core {

struct Interface;  // core/host.h
struct Conn;       // conntrack entry (core/conntrack.h)

// PktType mirrors skb->pkt_type (PACKET_HOST ...).
enum class PktType : uint8_t {
  kHost = 0,
  kBroadcast = 1,
  kMulticast = 2,
  kOtherHost = 3,
  kOutgoing = 4,
  kLoopback = 5,
};

// CtInfo mirrors enum ip_conntrack_info.
enum class CtInfo : uint8_t {
  kEstablished = 0,
  kRelated = 1,
  kNew = 2,
  kEstablishedReply = 3,
  kRelatedReply = 4,
  kUntracked = 7,
};

// SockOwner is the socket a locally generated packet belongs to (-m owner).
struct SockOwner {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> groups;  // supplementary groups
  // A kernel socket (the ICMP control socket icmp_send uses) has no file,
  // so it has a socket but no owner.
  bool has_file = true;
};

// Packet is one IP datagram (data starts at the network header) and its
// sk_buff metadata.
struct Packet {
  Family family = Family::kIPv4;
  std::vector<uint8_t> data;
  uint32_t mark = 0;
  uint32_t priority = 0;
  uint32_t secmark = 0;
  PktType pkt_type = PktType::kHost;
  bool has_mac = false;  // arrived in an Ethernet frame
  std::array<uint8_t, 6> src_mac{};
  std::array<uint8_t, 6> dst_mac{};
  std::optional<SockOwner> sk;
  // No entry with ctinfo 0 is the kernel's empty skb->_nfct: matches see
  // such a packet as INVALID. Untracked is ct == nullptr with kUntracked.
  Conn* ct = nullptr;
  CtInfo ctinfo = CtInfo::kEstablished;
  // Keeps ct alive while the packet holds it: an unconfirmed entry belongs
  // to the packet that created it until that packet is confirmed.
  std::shared_ptr<Conn> ct_ref;
  bool nftrace = false;
  // A TCP reset nf_send_reset made (IPv4): until a device completes it, its
  // checksum field holds only the pseudo-header sum (CHECKSUM_PARTIAL), which
  // is what an ICMP error quoting it carries. data keeps the complete sum.
  bool csum_partial = false;
  double tstamp = 0;  // seconds, from the packet's "t"

  // HeaderPointer returns len bytes at off, or nullptr when the packet is
  // shorter (skb_header_pointer).
  const uint8_t* HeaderPointer(size_t off, size_t len) const {
    if (off > data.size() || len > data.size() - off) return nullptr;
    return data.data() + off;
  }
};

// Load16 and Load32 read big-endian integers.
inline uint16_t Load16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
inline uint32_t Load32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 |
         p[3];
}
inline void Store16(uint8_t* p, uint16_t v) {
  p[0] = v >> 8;
  p[1] = v;
}
inline void Store32(uint8_t* p, uint32_t v) {
  p[0] = v >> 24;
  p[1] = v >> 16;
  p[2] = v >> 8;
  p[3] = v;
}

}  // namespace netfence::core
