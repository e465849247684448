// pkttype match: the link-layer class of the packet (host, broadcast,
// multicast, other host), as skb->pkt_type records it (xt_pkttype).
#include <strings.h>

#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

// kTypes are the names iptables accepts, in its order: the first name of
// a type is the one iptables-save prints.
const struct {
  const char* name;
  uint8_t type;
} kTypes[] = {{"unicast", uint8_t(PktType::kHost)},
              {"broadcast", uint8_t(PktType::kBroadcast)},
              {"multicast", uint8_t(PktType::kMulticast)},
              {"otherhost", uint8_t(PktType::kOtherHost)},
              {"bcast", uint8_t(PktType::kBroadcast)},
              {"mcast", uint8_t(PktType::kMulticast)},
              {"host", uint8_t(PktType::kHost)}};

class PkttypeMatch : public Match {
 public:
  void Parse(OptCall& c) override {
    bool found = false;
    for (const auto& t : kTypes) {
      if (strcasecmp(c.arg.c_str(), t.name) == 0) {
        type_ = t.type;
        found = true;
        break;
      }
    }
    if (!found) throw ParseError("Bad packet type '" + c.arg + "'");
    if (c.invert) invert_ = true;
  }

  void Save(SaveCtx& s) const override {
    s.out += invert_ ? " ! --pkt-type " : " --pkt-type ";
    for (const auto& t : kTypes) {
      if (t.type == type_) {
        s.out += t.name;
        return;
      }
    }
    s.out += std::to_string(type_);
  }

  bool Matches(XtParams& p) const override {
    uint8_t type = uint8_t(p.skb->pkt_type);
    // Looped-back packets carry no link-layer class: the kernel derives
    // one from the destination (IPv6 loopback always counts as
    // multicast).
    if (p.skb->pkt_type == PktType::kLoopback) {
      const bool v4 = p.skb->family == Family::kIPv4;
      const uint8_t* iph = p.skb->HeaderPointer(0, 20);
      if (v4 && iph != nullptr && (iph[16] & 0xf0) == 0xe0)
        type = uint8_t(PktType::kMulticast);
      else if (!v4)
        type = uint8_t(PktType::kMulticast);
      else
        type = uint8_t(PktType::kBroadcast);
    }
    return (type == type_) ^ invert_;
  }

 private:
  uint8_t type_ = 0;
  bool invert_ = false;
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "pkttype",
    .options = {{"pkt-type", 0, OptType::kString, kOptMand | kOptInvert}},
    .create = [] { return std::make_unique<PkttypeMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
