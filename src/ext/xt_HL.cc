// HL target (IPv6): sets, increments or decrements the hop limit
// (xt_HL's hl_tg6). IPv6 has no header checksum to update.
#include <fmt/format.h>

#include <algorithm>

#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kSet = 0, kInc, kDec };
constexpr unsigned kAnyOp = (1u << kSet) | (1u << kInc) | (1u << kDec);

// Modes as the kernel numbers them (IP6T_HL_SET / _INC / _DEC).
enum Mode : uint8_t { kModeSet = 0, kModeInc, kModeDec };

class HlTarget : public Target {
 public:
  void Parse(OptCall& c) override {
    hl_ = uint8_t(c.val.u);
    mode_ = c.id() == kSet ? kModeSet : c.id() == kInc ? kModeInc : kModeDec;
  }

  void FinalCheck(FcheckCall& c) override {
    if (!(c.xflags & kAnyOp))
      throw ParseError("HL: You must specify an action");
  }

  void Check(const CheckCtx&) override {
    if (mode_ > kModeDec) throw CommitError("HL: invalid or unknown mode");
    if (mode_ != kModeSet && hl_ == 0)
      throw CommitError("HL: increment/decrement by zero");
  }

  void Save(SaveCtx& s) const override {
    static const char* kNames[] = {"set", "inc", "dec"};
    s.out += fmt::format(" --hl-{} {}", kNames[mode_], hl_);
  }

  Verdict Run(XtParams& p) const override {
    uint8_t& hop = p.skb->data[7];
    switch (mode_) {
      case kModeSet:
        hop = hl_;
        break;
      case kModeInc:
        hop = uint8_t(std::min(hop + hl_, 255));
        break;
      case kModeDec:
        hop = uint8_t(std::max(hop - hl_, 0));
        break;
    }
    return Verdict::kContinue;
  }

 private:
  uint8_t hl_ = 0;
  uint8_t mode_ = kModeSet;
};

NETFENCE_REGISTER(RegisterTarget({
    .name = "HL",
    .family = Family::kIPv6,
    .options = {{"hl-set", kSet, OptType::kUint8, 0, kAnyOp},
                {"hl-dec", kDec, OptType::kUint8, 0, kAnyOp, 0, 1},
                {"hl-inc", kInc, OptType::kUint8, 0, kAnyOp, 0, 1}},
    .table = "mangle",
    .create = [] { return std::make_unique<HlTarget>(); },
}));

}  // namespace
}  // namespace netfence::ext
