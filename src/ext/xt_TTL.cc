// TTL target (IPv4): sets, increments or decrements the TTL with an
// incremental header checksum update (xt_HL's ttl_tg).
#include <fmt/format.h>

#include <algorithm>

#include "core/checksum.h"
#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kSet = 0, kInc, kDec };
constexpr unsigned kAnyOp = (1u << kSet) | (1u << kInc) | (1u << kDec);

// Modes as the kernel numbers them (IPT_TTL_SET / _INC / _DEC).
enum Mode : uint8_t { kModeSet = 0, kModeInc, kModeDec };

class TtlTarget : public Target {
 public:
  void Parse(OptCall& c) override {
    ttl_ = uint8_t(c.val.u);
    mode_ = c.id() == kSet ? kModeSet : c.id() == kInc ? kModeInc : kModeDec;
  }

  void FinalCheck(FcheckCall& c) override {
    if (!(c.xflags & kAnyOp))
      throw ParseError("TTL: You must specify an action");
  }

  void Check(const CheckCtx&) override {
    if (mode_ > kModeDec) throw CommitError("TTL: invalid or unknown mode");
    if (mode_ != kModeSet && ttl_ == 0)
      throw CommitError("TTL: increment/decrement by zero");
  }

  void Save(SaveCtx& s) const override {
    static const char* kNames[] = {"set", "inc", "dec"};
    s.out += fmt::format(" --ttl-{} {}", kNames[mode_], ttl_);
  }

  Verdict Run(XtParams& p) const override {
    uint8_t* iph = p.skb->data.data();
    int ttl = iph[8];
    switch (mode_) {
      case kModeSet:
        ttl = ttl_;
        break;
      case kModeInc:
        ttl = std::min(ttl + ttl_, 255);
        break;
      case kModeDec:
        ttl = std::max(ttl - ttl_, 0);
        break;
    }
    if (ttl != iph[8]) {
      // TTL is the high byte of the 16-bit word it shares with protocol.
      CsumReplace2(iph + 10, uint16_t(iph[8] << 8), uint16_t(ttl << 8));
      iph[8] = uint8_t(ttl);
    }
    return Verdict::kContinue;
  }

 private:
  uint8_t ttl_ = 0;
  uint8_t mode_ = kModeSet;
};

NETFENCE_REGISTER(RegisterTarget({
    .name = "TTL",
    .family = Family::kIPv4,
    .options = {{"ttl-set", kSet, OptType::kUint8, 0, kAnyOp},
                {"ttl-dec", kDec, OptType::kUint8, 0, kAnyOp, 0, 1},
                {"ttl-inc", kInc, OptType::kUint8, 0, kAnyOp, 0, 1}},
    .table = "mangle",
    .create = [] { return std::make_unique<TtlTarget>(); },
}));

}  // namespace
}  // namespace netfence::ext
