// tos match (revision 1): the IPv4 TOS byte or the IPv6 traffic class
// under a mask (xt_dscp's tos_mt).
#include <fmt/format.h>

#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

// DsField is the IPv4 TOS byte or the IPv6 traffic class.
uint8_t DsField(const Packet& skb) {
  if (skb.family == Family::kIPv4) return skb.data[1];
  return uint8_t((Load16(skb.data.data()) >> 4) & 0xff);
}

class TosMatch : public Match {
 public:
  void Parse(OptCall& c) override {
    value_ = c.val.tos_value;
    mask_ = c.val.tos_mask;
    if (c.invert) invert_ = true;
  }

  void Save(SaveCtx& s) const override {
    if (invert_) s.out += " !";
    s.out += fmt::format(" --tos {:#04x}/{:#04x}", value_, mask_);
  }

  bool Matches(XtParams& p) const override {
    return ((DsField(*p.skb) & mask_) == value_) ^ invert_;
  }

 private:
  uint8_t value_ = 0, mask_ = 0;
  bool invert_ = false;
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "tos",
    .revision = 1,
    // A symbolic name stands for its value under the mask 0x3f.
    .options = {{.name = "tos",
                 .id = 1,
                 .type = OptType::kTosMask,
                 .flags = kOptInvert | kOptMand,
                 .max = 0x3F}},
    .create = [] { return std::make_unique<TosMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
