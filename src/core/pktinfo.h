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

// Ipv6SkipExthdr walks the IPv6 extension headers from offset start, whose
// type is nexthdr, like the kernel's ipv6_skip_exthdr: it returns the offset
// of the first header that is not an extension header (nexthdr updated), or
// of a non-first fragment's data; -1 when the chain ends in "no next header"
// (59) or is truncated. frag_off receives the last fragment header's offset
// field (host order; 0 without one).
int Ipv6SkipExthdr(const Packet& skb, unsigned start, uint8_t& nexthdr,
                   uint16_t& frag_off);

}  // namespace netfence::core
