// TOS target (revision 1, in the kernel's xt_DSCP module): rewrites the
// IPv4 TOS byte or the IPv6 traffic class as "clear the mask bits, xor the
// value", with the IPv4 header checksum updated the way the kernel's
// ipv4_change_dsfield does it.
#include <fmt/format.h>

#include "core/xt.h"
#include "ext/mangle_util.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kSetTos = 0, kAndTos, kOrTos, kXorTos };
constexpr unsigned kAnyOp =
    (1u << kSetTos) | (1u << kAndTos) | (1u << kOrTos) | (1u << kXorTos);

class TosTarget : public Target {
 public:
  void Parse(OptCall& c) override {
    const uint8_t v = uint8_t(c.val.u);
    switch (c.id()) {
      case kSetTos:
        value_ = c.val.tos_value;
        mask_ = c.val.tos_mask;
        break;
      case kAndTos:
        value_ = 0;
        mask_ = uint8_t(~v);
        break;
      case kOrTos:
        value_ = mask_ = v;
        break;
      case kXorTos:
        value_ = v;
        mask_ = 0;
        break;
    }
  }

  void FinalCheck(FcheckCall& c) override {
    if (!(c.xflags & kAnyOp)) throw ParseError("TOS: An action is required");
  }

  void Save(SaveCtx& s) const override {
    s.out += fmt::format(" --set-tos {:#04x}/{:#04x}", value_, mask_);
  }

  Verdict Run(XtParams& p) const override {
    uint8_t* d = p.skb->data.data();
    const uint8_t orig = PktTos(*p.skb);
    const uint8_t nv = uint8_t((orig & ~mask_) ^ value_);
    if (orig == nv) return Verdict::kContinue;
    if (p.skb->family == Family::kIPv4)
      ChangeDsfieldV4(d, 0, nv);
    else
      ChangeDsfieldV6(d, 0, nv);
    return Verdict::kContinue;
  }

 private:
  uint8_t value_ = 0, mask_ = 0;
};

NETFENCE_REGISTER(RegisterTarget({
    .name = "TOS",
    .revision = 1,
    // Symbolic names (Minimize-Delay ...) keep the DSCP bits: mask 0x3f.
    .options = {{"set-tos", kSetTos, OptType::kTosMask, 0, kAnyOp, 0, 0, 0x3f},
                {"and-tos", kAndTos, OptType::kUint8, 0, kAnyOp},
                {"or-tos", kOrTos, OptType::kUint8, 0, kAnyOp},
                {"xor-tos", kXorTos, OptType::kUint8, 0, kAnyOp}},
    .table = "mangle",
    .create = [] { return std::make_unique<TosTarget>(); },
}));

}  // namespace
}  // namespace netfence::ext
