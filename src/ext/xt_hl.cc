// hl match (IPv6): compare the IPv6 hop limit with a value (xt_hl's
// hl_mt6).
#include <fmt/format.h>

#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kEq, kLt, kGt };
constexpr unsigned kAny = 1u << kEq | 1u << kLt | 1u << kGt;

// Mode values of the kernel struct (IP6T_HL_*).
enum Mode : uint8_t { kModeEq = 0, kModeNe, kModeLt, kModeGt };

class HlMatch : public Match {
 public:
  void Parse(OptCall& c) override {
    hl_ = uint8_t(c.val.u);
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
    if (!(c.xflags & kAny))
      throw ParseError(
          "HL match: You must specify one of `--hl-eq', `--hl-lt', "
          "`--hl-gt'");
  }

  void Save(SaveCtx& s) const override {
    static const char* const kOps[] = {" --hl-eq", " ! --hl-eq", " --hl-lt",
                                       " --hl-gt"};
    if (mode_ <= kModeGt) s.out += kOps[mode_];
    s.out += fmt::format(" {}", hl_);
  }

  bool Matches(XtParams& p) const override {
    const uint8_t hl = p.skb->data[7];
    switch (mode_) {
      case kModeEq:
        return hl == hl_;
      case kModeNe:
        return hl != hl_;
      case kModeLt:
        return hl < hl_;
      case kModeGt:
        return hl > hl_;
    }
    return false;
  }

 private:
  uint8_t mode_ = kModeEq;
  uint8_t hl_ = 0;
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "hl",
    .family = Family::kIPv6,
    .options = {{"hl-lt", kLt, OptType::kUint8, 0, kAny},
                {"hl-gt", kGt, OptType::kUint8, 0, kAny},
                {"hl-eq", kEq, OptType::kUint8, kOptInvert, kAny},
                // iptables looks options up by id and so applies the
                // first entry's flags to this alias: it is invertible too.
                {"hl", kEq, OptType::kUint8, kOptInvert, kAny}},
    .create = [] { return std::make_unique<HlMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
