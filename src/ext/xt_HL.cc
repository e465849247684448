// TTL (IPv4) and HL (IPv6) targets: set, increment or decrement the TTL /
// hop limit (xt_HL's ttl_tg and hl_tg6, one module in the kernel too). The
// IPv4 TTL shares a checksummed word with the protocol; IPv6 has no header
// checksum.
#include <fmt/format.h>

#include <algorithm>

#include "core/checksum.h"
#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kSet = 0, kInc, kDec };
constexpr unsigned kAnyOp = (1u << kSet) | (1u << kInc) | (1u << kDec);

// Modes as the kernel numbers them (IPT_TTL_SET / _INC / _DEC, and the
// same for IP6T_HL_*).
enum Mode : uint8_t { kModeSet = 0, kModeInc, kModeDec };

// HopTarget is TTL for IPv4 and HL for IPv6.
class HopTarget : public Target {
 public:
  explicit HopTarget(Family f) : v4_(f == Family::kIPv4) {}

  void Parse(OptCall& c) override {
    value_ = uint8_t(c.val.u);
    mode_ = c.id() == kSet ? kModeSet : c.id() == kInc ? kModeInc : kModeDec;
  }

  void FinalCheck(FcheckCall& c) override {
    if (!(c.xflags & kAnyOp))
      throw ParseError(Name() + ": You must specify an action");
  }

  void Check(const CheckCtx&) override {
    if (mode_ > kModeDec)
      throw CommitError(Name() + ": invalid or unknown mode");
    if (mode_ != kModeSet && value_ == 0)
      throw CommitError(Name() + ": increment/decrement by zero");
  }

  void Save(SaveCtx& s) const override {
    static const char* kNames[] = {"set", "inc", "dec"};
    s.out +=
        fmt::format(" --{}-{} {}", v4_ ? "ttl" : "hl", kNames[mode_], value_);
  }

  Verdict Run(XtParams& p) const override {
    uint8_t* iph = p.skb->data.data();
    uint8_t& field = iph[v4_ ? 8 : 7];
    int hop = field;
    switch (mode_) {
      case kModeSet:
        hop = value_;
        break;
      case kModeInc:
        hop = std::min(hop + value_, 255);
        break;
      case kModeDec:
        hop = std::max(hop - value_, 0);
        break;
    }
    if (v4_ && hop != field) {
      // TTL is the high byte of the 16-bit word it shares with protocol.
      CsumReplace2(iph + 10, uint16_t(field << 8), uint16_t(hop << 8));
    }
    field = uint8_t(hop);
    return Verdict::kContinue;
  }

 private:
  std::string Name() const { return v4_ ? "TTL" : "HL"; }

  bool v4_;
  uint8_t value_ = 0;
  uint8_t mode_ = kModeSet;
};

std::vector<OptionEntry> Options(const std::string& prefix) {
  return {{prefix + "-set", kSet, OptType::kUint8, 0, kAnyOp},
          {prefix + "-dec", kDec, OptType::kUint8, 0, kAnyOp, 0, 1},
          {prefix + "-inc", kInc, OptType::kUint8, 0, kAnyOp, 0, 1}};
}

NETFENCE_REGISTER(RegisterTarget({
    .name = "TTL",
    .family = Family::kIPv4,
    .options = Options("ttl"),
    .table = "mangle",
    .create = [] { return std::make_unique<HopTarget>(Family::kIPv4); },
}));

NETFENCE_REGISTER(RegisterTarget({
    .name = "HL",
    .family = Family::kIPv6,
    .options = Options("hl"),
    .table = "mangle",
    .create = [] { return std::make_unique<HopTarget>(Family::kIPv6); },
}));

}  // namespace
}  // namespace netfence::ext
