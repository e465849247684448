// Where the transport header is and whether a packet is a fragment: what
// ipt_do_table / ip6t_do_table compute before walking the rules.
#pragma once

#include <cstdint>

#include "core/packet.h"

namespace netfence::core {

// PktInfo is the per-packet header summary for rule evaluation.
struct PktInfo {
  unsigned thoff = 0;    // transport header offset
  int fragoff = 0;       // IPv4: fragment offset field; IPv6: offset of a
                         // non-first fragment (0 for first / unfragmented)
  int l4proto = -1;      // transport protocol, or -1 when the IPv6 chain of
                         // extension headers could not be walked
  bool v6_frag = false;  // IPv6: a fragment header was seen
};

// ComputePktInfo fills PktInfo for an IPv4 or IPv6 packet; the packet must
// already have passed the stack's pre-hook checks (version, lengths).
PktInfo ComputePktInfo(const Packet& skb);

// Ipv6FindHdr walks the IPv6 extension header chain like the kernel's
// ipv6_find_hdr(skb, &offset, target, &fragoff, &flags). Returns the header
// type found (>= 0) or a negative errno; offset receives its position.
int Ipv6FindHdr(const Packet& skb, unsigned& offset, int target, int* fragoff,
                bool* is_frag);

}  // namespace netfence::core
