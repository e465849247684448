// dscp match: the DiffServ code point, the upper six bits of the IPv4 TOS
// byte or IPv6 traffic class (xt_dscp).
#include <fmt/format.h>

#include "core/xt.h"
#include "ext/dscp_class.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kDscp, kClass };

constexpr uint8_t kDscpMax = 0x3f;  // XT_DSCP_MAX

class DscpMatch : public Match {
 public:
  void Parse(OptCall& c) override {
    dscp_ = c.id() == kDscp ? uint8_t(c.val.u) : ClassToDscp(c.arg);
    if (c.invert) invert_ = true;
  }

  void FinalCheck(FcheckCall& c) override {
    if (c.xflags == 0)
      throw ParseError("DSCP match: Parameter --dscp is required");
  }

  void Check(const CheckCtx& c) override {
    if (dscp_ > kDscpMax) throw CommitError("dscp: value out of range");
  }

  void Save(SaveCtx& s) const override {
    s.out += fmt::format("{} --dscp {:#04x}", invert_ ? " !" : "", dscp_);
  }

  bool Matches(XtParams& p) const override {
    const Packet& skb = *p.skb;
    const uint8_t ds = skb.family == Family::kIPv4
                           ? skb.data[1]
                           : uint8_t((Load16(skb.data.data()) >> 4) & 0xff);
    return ((ds >> 2) == dscp_) ^ invert_;
  }

 private:
  uint8_t dscp_ = 0;
  bool invert_ = false;
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "dscp",
    .options = {{.name = "dscp",
                 .id = kDscp,
                 .type = OptType::kUint8,
                 .flags = kOptInvert,
                 .excl = 1u << kClass,
                 .min = 0,
                 .max = kDscpMax},
                {.name = "dscp-class",
                 .id = kClass,
                 .type = OptType::kString,
                 .flags = kOptInvert,
                 .excl = 1u << kDscp}},
    .create = [] { return std::make_unique<DscpMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
