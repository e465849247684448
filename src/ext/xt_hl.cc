// ttl (IPv4) and hl (IPv6) matches: compare the TTL / hop limit with a
// value (xt_hl's ttl_mt and hl_mt6, one module in the kernel too).
#include <fmt/format.h>

#include <string>

#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kEq, kLt, kGt };
constexpr unsigned kAny = 1u << kEq | 1u << kLt | 1u << kGt;

// Mode values of the kernel struct (IPT_TTL_*, IP6T_HL_*).
enum Mode : uint8_t { kModeEq = 0, kModeNe, kModeLt, kModeGt };

// HopMatch is ttl for IPv4 and hl for IPv6.
class HopMatch : public Match {
 public:
  explicit HopMatch(Family f) : v4_(f == Family::kIPv4) {}

  void Parse(OptCall& c) override {
    value_ = uint8_t(c.val.u);
    switch (c.id()) {
      case kEq:
        mode_ = c.invert ? kModeNe : kModeEq;
        break;
      case kLt:
        mode_ = kModeLt;
        break;
      case kGt:
        mode_ = kModeGt;
        break;
    }
  }

  void FinalCheck(FcheckCall& c) override {
    if (c.xflags & kAny) return;
    // iptables' own texts (the ttl one lacks its closing quote).
    throw ParseError(v4_ ? "TTL match: You must specify one of `--ttl-eq', "
                           "`--ttl-lt', `--ttl-gt"
                         : "HL match: You must specify one of `--hl-eq', "
                           "`--hl-lt', `--hl-gt'");
  }

  void Save(SaveCtx& s) const override {
    static const char* const kOps[] = {"-eq", "-eq", "-lt", "-gt"};
    if (mode_ <= kModeGt)
      s.out += fmt::format(" {}--{}{}", mode_ == kModeNe ? "! " : "",
                           v4_ ? "ttl" : "hl", kOps[mode_]);
    s.out += fmt::format(" {}", value_);
  }

  bool Matches(XtParams& p) const override {
    const uint8_t hop = p.skb->data[v4_ ? 8 : 7];
    switch (mode_) {
      case kModeEq:
        return hop == value_;
      case kModeNe:
        return hop != value_;
      case kModeLt:
        return hop < value_;
      case kModeGt:
        return hop > value_;
    }
    return false;
  }

 private:
  bool v4_;
  uint8_t mode_ = kModeEq;
  uint8_t value_ = 0;
};

std::vector<OptionEntry> Options(const std::string& name) {
  return {{name + "-lt", kLt, OptType::kUint8, 0, kAny},
          {name + "-gt", kGt, OptType::kUint8, 0, kAny},
          {name + "-eq", kEq, OptType::kUint8, kOptInvert, kAny},
          // iptables looks options up by id and so applies the first
          // entry's flags to this alias: it is invertible too.
          {name, kEq, OptType::kUint8, kOptInvert, kAny}};
}

NETFENCE_REGISTER(RegisterMatch({
    .name = "ttl",
    .family = Family::kIPv4,
    .options = Options("ttl"),
    .create = [] { return std::make_unique<HopMatch>(Family::kIPv4); },
}));

NETFENCE_REGISTER(RegisterMatch({
    .name = "hl",
    .family = Family::kIPv6,
    .options = Options("hl"),
    .create = [] { return std::make_unique<HopMatch>(Family::kIPv6); },
}));

}  // namespace
}  // namespace netfence::ext
