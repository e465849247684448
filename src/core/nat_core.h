// The NAT core (nf_nat_core.c, nf_nat_proto.c): binding a new connection
// to a mapping (nf_nat_setup_info with get_unique_tuple's choice of a free
// tuple), null bindings, and rewriting packets of bound connections in both
// directions with incremental checksum updates, including the inner header
// of ICMP errors about a NATed connection.
#pragma once

#include <cstdint>
#include <functional>

#include "core/conn.h"
#include "core/conntrack.h"
#include "core/nat.h"
#include "core/packet.h"
#include "core/xt.h"

namespace netfence::core {

// ManipForHook is HOOK2MANIP: source NAT at INPUT / POSTROUTING, destination
// NAT at PREROUTING / OUTPUT.
NatManip ManipForHook(Hook h);

// NatInitialized reports whether a connection already has its binding for a
// manip type (IPS_SRC_NAT_DONE / IPS_DST_NAT_DONE).
bool NatInitialized(const Conn& ct, NatManip m);

// NatCore binds and rewrites; random choices come from `random`.
class NatCore {
 public:
  NatCore(Conntrack& ct, std::function<uint32_t()> random)
      : ct_(ct), random_(std::move(random)) {}

  // SetupInfo is nf_nat_setup_info for an unconfirmed connection. Sets
  // *random_choice when the kernel would have picked at random.
  Verdict SetupInfo(Conn& ct, const NatRange& range, NatManip manip,
                    bool* random_choice);
  // NullBinding is nf_nat_alloc_null_binding for the hook's manip type.
  Verdict NullBinding(Conn& ct, Hook hook, bool* random_choice);
  // ManipPacket is nf_nat_packet: rewrite the packet if its direction and
  // the hook's manip type need it.
  Verdict ManipPacket(Packet& skb, Hook hook);
  // IcmpReplyTranslation is nf_nat_icmp_reply_translation (IPv4) /
  // nf_nat_icmpv6_reply_translation: false means drop.
  bool IcmpReplyTranslation(Packet& skb, Hook hook);

 private:
  void UniqueTuple(Tuple& tuple, const Tuple& orig, const NatRange& range,
                   const Conn& ct, NatManip manip, bool* random_choice);
  bool UsedTuple(const Tuple& t, const Conn& ct) const;
  void L4UniqueTuple(Tuple& tuple, const NatRange& range, NatManip manip,
                     const Conn& ct, bool* random_choice);

  Conntrack& ct_;
  std::function<uint32_t()> random_;
};

// ManipL3 rewrites the address (and the transport part) of the IP header at
// iphdroff to the target tuple's source or destination, the way
// nf_nat_ipv4_manip_pkt / nf_nat_ipv6_manip_pkt do.
bool ManipL3(Packet& skb, size_t iphdroff, const Tuple& target,
             NatManip manip);

}  // namespace netfence::core
