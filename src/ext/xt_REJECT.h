// The replies of the REJECT target (ipt_REJECT / ip6t_REJECT with
// nf_reject_ipv4 / nf_reject_ipv6, icmp_send and icmpv6_send): a TCP reset
// or an ICMP / ICMPv6 destination unreachable, built byte for byte as the
// kernel builds them. Exposed so that they can be tested on their own and
// reused by the engine for the host's own ICMP errors.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "core/types.h"

namespace netfence::ext {

// kDefaultTtl is net.ipv4.ip_default_ttl and the IPv6 hop_limit default: the
// TTL / hop limit of every reply (routes carry no hoplimit metric here).
inline constexpr uint8_t kDefaultTtl = 64;

// kIcmpDummySource is INADDR_DUMMY (192.0.0.8), the source icmp_send falls
// back to when the host has no address to send from.
inline constexpr uint32_t kIcmpDummySource = 0xc0000008;

// TcpResetV4 returns the RST that nf_send_reset builds in reply to the IPv4
// datagram pkt (from its destination to its source; ID 0, DF, TOS 0), or an
// empty vector when the kernel sends none for reasons found in the packet:
// not TCP, a non-first fragment, a truncated TCP header, RST set, or a bad
// TCP checksum. Host conditions (a broadcast or multicast route, no route
// back) are the caller's. The TCP checksum is complete; a capture on a veth
// shows the kernel's partial one instead (CHECKSUM_PARTIAL offload).
std::vector<uint8_t> TcpResetV4(const std::vector<uint8_t>& pkt,
                                uint8_t ttl = kDefaultTtl);

// IcmpUnreachV4 returns the ICMP destination unreachable (code) that
// nf_send_unreach / icmp_send build about pkt, sent from src over a route
// of this MTU, or an empty vector when the kernel sends none for reasons
// found in the packet: a non-first fragment, a bad checksum of a protocol
// nf_reject verifies, an ICMP error or unknown ICMP type, a truncated ICMP
// header. The IP ID is 0 where the kernel picks one at random; IP options
// of pkt are not echoed (the kernel echoes record-route, timestamp and
// source-route options).
std::vector<uint8_t> IcmpUnreachV4(const std::vector<uint8_t>& pkt,
                                   uint8_t code, const core::Addr& src,
                                   unsigned mtu = 1500,
                                   uint8_t ttl = kDefaultTtl);

// WithPartialTcpChecksum returns an IPv4 TCP segment as the kernel holds it
// before a device completes its checksum (CHECKSUM_PARTIAL, as nf_send_reset
// leaves its reset): the checksum field is the folded pseudo-header sum
// (~tcp_v4_check(len, saddr, daddr, 0)). Other packets come back unchanged.
std::vector<uint8_t> WithPartialTcpChecksum(std::vector<uint8_t> d);

// IcmpErrorV4 returns the ICMP error (type, code, 32-bit info such as the
// MTU of a "fragmentation needed") that icmp_send builds about pkt, or an
// empty vector when icmp_send refuses for reasons found in the packet: a
// non-first fragment, an ICMP error or unknown ICMP type, a truncated ICMP
// header. REJECT's IcmpUnreachV4 adds nf_send_unreach's checksum check;
// the engine can use this one for its own errors (TTL exceeded, MTU).
std::vector<uint8_t> IcmpErrorV4(const std::vector<uint8_t>& pkt, uint8_t type,
                                 uint8_t code, uint32_t info,
                                 const core::Addr& src, unsigned mtu = 1500,
                                 uint8_t ttl = kDefaultTtl);

// TcpResetV6 returns the RST that nf_send_reset6 builds in reply to the
// IPv6 packet pkt, or an empty vector when the kernel sends none: a source
// or destination that is not unicast, no TCP header after the extension
// headers, RST set, or a bad TCP checksum.
std::vector<uint8_t> TcpResetV6(const std::vector<uint8_t>& pkt,
                                uint8_t hoplimit = kDefaultTtl);

// IcmpUnreachV6 returns the ICMPv6 destination unreachable (code) that
// nf_send_unreach6 / icmpv6_send build about pkt, sent from src, or an
// empty vector when the kernel sends none for reasons found in the packet:
// a non-first fragment, no transport header, a bad checksum, a multicast
// destination, an unspecified or multicast source, or an ICMPv6 error. The
// flow label is 0 (with net.ipv6.auto_flowlabels=1 the kernel puts a hash
// keyed by a boot-time secret there).
std::vector<uint8_t> IcmpUnreachV6(const std::vector<uint8_t>& pkt,
                                   uint8_t code, const core::Addr& src,
                                   uint8_t hoplimit = kDefaultTtl);

// IcmpErrorV6 returns the ICMPv6 error (type, code, info) that icmpv6_send
// builds about pkt, or an empty vector when icmpv6_send refuses for reasons
// found in the packet: a multicast destination (but for "packet too big"),
// an unspecified or multicast source, or an ICMPv6 error.
std::vector<uint8_t> IcmpErrorV6(const std::vector<uint8_t>& pkt, uint8_t type,
                                 uint8_t code, uint32_t info,
                                 const core::Addr& src,
                                 uint8_t hoplimit = kDefaultTtl);

// Ipv6SkipExthdr walks the IPv6 extension headers like the kernel's
// ipv6_skip_exthdr: from offset start with nexthdr, it returns the offset
// of the upper-layer header (nexthdr updated) or -1, and frag_off receives
// the fragment header's offset field (0 if none). It stops at a non-first
// fragment's header.
int Ipv6SkipExthdr(const std::vector<uint8_t>& pkt, int start, uint8_t& nexthdr,
                   uint16_t& frag_off);

// IcmpRateLimiter reproduces the kernel's limits on ICMP errors, for the
// engine's PacketServices::IcmpErrorAllowed: a global bucket
// (net.ipv4.icmp_msgs_per_sec = 1000, icmp_msgs_burst = 50, shared by both
// families) and one bucket per peer (inet_peer: net.ipv4.icmp_ratelimit =
// 1 s, net.ipv6.icmp.ratelimit = 1 s scaled down for wider routes, burst 6)
// applied to the types of icmp_ratemask / icmpv6_ratemask. Time is counted
// in milliseconds (HZ=1000); the kernel's global bucket spends a random 0-2
// credits per error, this one always 1.
class IcmpRateLimiter {
 public:
  // Allow decides one error of type/code to peer at time now (seconds).
  // in_loopback: the offending packet arrived on a loopback device, which
  // exempts it from both limits (so does a locally generated IPv6 packet:
  // nf_send_unreach6 hands it over as if from lo; not an IPv4 one);
  // out_loopback: the error leaves through loopback (exempt from the
  // per-peer limit); route_plen: IPv6, the prefix length of the route to
  // peer.
  bool Allow(core::Family f, const core::Addr& peer, uint8_t type, uint8_t code,
             double now, bool in_loopback, bool out_loopback,
             unsigned route_plen = 128);

 private:
  struct Bucket {
    int64_t tokens = 0;
    int64_t last = 0;
  };
  bool GlobalAllow(int64_t now_ms);

  std::mutex mu_;
  std::map<std::pair<int, std::array<uint8_t, 16>>, Bucket> peers_;
  int64_t credit_ = 0;
  bool stamped_ = false;
  int64_t stamp_ = 0;
};

}  // namespace netfence::ext
