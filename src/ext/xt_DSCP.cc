// DSCP target: sets the DiffServ code point (the upper six bits of the
// IPv4 TOS byte / IPv6 traffic class), keeping the ECN bits (xt_DSCP).
#include <fmt/format.h>

#include "core/xt.h"
#include "ext/dscp_class.h"
#include "ext/mangle_util.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kSetDscp = 0, kSetDscpClass };

constexpr uint8_t kDscpMax = 0x3f;  // XT_DSCP_MAX
constexpr uint8_t kEcnMask = 0x03;  // ~XT_DSCP_MASK: the bits kept

class DscpTarget : public Target {
 public:
  void Parse(OptCall& c) override {
    dscp_ = c.id() == kSetDscpClass ? ClassToDscp(c.arg) : uint8_t(c.val.u);
  }

  void FinalCheck(FcheckCall& c) override {
    if (c.xflags == 0)
      throw ParseError("DSCP target: Parameter --set-dscp is required");
  }

  void Check(const CheckCtx&) override {
    if (dscp_ > kDscpMax)
      throw CommitError(fmt::format("DSCP: dscp {:x} out of range", dscp_));
  }

  void Save(SaveCtx& s) const override {
    s.out += fmt::format(" --set-dscp {:#04x}", dscp_);
  }

  Verdict Run(XtParams& p) const override {
    uint8_t* d = p.skb->data.data();
    if ((PktTos(*p.skb) >> 2) == dscp_) return Verdict::kContinue;
    if (p.skb->family == Family::kIPv4)
      ChangeDsfieldV4(d, kEcnMask, uint8_t(dscp_ << 2));
    else
      ChangeDsfieldV6(d, kEcnMask, uint8_t(dscp_ << 2));
    return Verdict::kContinue;
  }

 private:
  uint8_t dscp_ = 0;
};

NETFENCE_REGISTER(RegisterTarget({
    .name = "DSCP",
    .options = {{"set-dscp", kSetDscp, OptType::kUint8, 0, 1u << kSetDscpClass,
                 0, 0, kDscpMax},
                {"set-dscp-class", kSetDscpClass, OptType::kString, 0,
                 1u << kSetDscp}},
    .table = "mangle",
    .create = [] { return std::make_unique<DscpTarget>(); },
}));

}  // namespace
}  // namespace netfence::ext
