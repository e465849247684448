// ttl match (IPv4): compare the IP time-to-live with a value (xt_hl's
// ttl_mt).
#include <fmt/format.h>

#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kEq, kLt, kGt };
constexpr unsigned kAny = 1u << kEq | 1u << kLt | 1u << kGt;

// Mode values of the kernel struct (IPT_TTL_*).
enum Mode : uint8_t { kModeEq = 0, kModeNe, kModeLt, kModeGt };

class TtlMatch : public Match {
 public:
  void Parse(OptCall& c) override {
    ttl_ = uint8_t(c.val.u);
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
          "TTL match: You must specify one of `--ttl-eq', `--ttl-lt', "
          "`--ttl-gt");
  }

  void Save(SaveCtx& s) const override {
    static const char* const kOps[] = {" --ttl-eq", " ! --ttl-eq", " --ttl-lt",
                                       " --ttl-gt"};
    if (mode_ <= kModeGt) s.out += kOps[mode_];
    s.out += fmt::format(" {}", ttl_);
  }

  bool Matches(XtParams& p) const override {
    const uint8_t ttl = p.skb->data[8];
    switch (mode_) {
      case kModeEq:
        return ttl == ttl_;
      case kModeNe:
        return ttl != ttl_;
      case kModeLt:
        return ttl < ttl_;
      case kModeGt:
        return ttl > ttl_;
    }
    return false;
  }

 private:
  uint8_t mode_ = kModeEq;
  uint8_t ttl_ = 0;
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "ttl",
    .family = Family::kIPv4,
    .options = {{"ttl-lt", kLt, OptType::kUint8, 0, kAny},
                {"ttl-gt", kGt, OptType::kUint8, 0, kAny},
                {"ttl-eq", kEq, OptType::kUint8, kOptInvert, kAny},
                // iptables looks options up by id and so applies the
                // first entry's flags to this alias: it is invertible too.
                {"ttl", kEq, OptType::kUint8, kOptInvert, kAny}},
    .create = [] { return std::make_unique<TtlMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
