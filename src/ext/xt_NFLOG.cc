// NFLOG target: options as iptables 1.8.9's libxt_NFLOG, checks as the
// kernel's xt_NFLOG. The kernel hands the packet to nfnetlink_log for a
// userspace listener; the simulation has none, so it records one line
// naming the group instead:
//   NFLOG group=<group> prefix="<prefix>"[ size=<bytes>]
// (size only with --nflog-size, the number of bytes that would be copied).
#include <fmt/format.h>

#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kGroup = 0, kPrefix, kRange, kSize, kThreshold };

constexpr uint16_t kDefaultThreshold = 0;  // XT_NFLOG_DEFAULT_THRESHOLD
constexpr size_t kPrefixMax = 63;          // xt_nflog_info.prefix[64]

class NflogTarget : public Target {
 public:
  void Parse(OptCall& c) override {
    switch (c.id()) {
      case kGroup:
        group_ = uint16_t(c.val.u);
        break;
      case kPrefix:
        // iptables checks the whole argument, then keeps what fits.
        if (c.arg.find('\n') != std::string::npos)
          throw ParseError("Newlines not allowed in --log-prefix");
        prefix_ = c.arg.substr(0, kPrefixMax);
        break;
      case kRange:
      case kSize:
        len_ = uint32_t(c.val.u);
        break;
      case kThreshold:
        threshold_ = uint16_t(c.val.u);
        break;
    }
  }

  // FinalCheck: only --nflog-size sets XT_NFLOG_F_COPY_LEN; --nflog-range
  // is stored but never had an effect (iptables warns about it).
  void FinalCheck(FcheckCall& c) override {
    if (c.xflags & (1u << kSize)) copy_len_ = true;
  }

  void Save(SaveCtx& s) const override {
    if (!prefix_.empty()) {
      s.out += " --nflog-prefix";
      SaveString(s.out, prefix_);
    }
    if (group_) s.out += fmt::format(" --nflog-group {}", group_);
    if (copy_len_)
      s.out += fmt::format(" --nflog-size {}", len_);
    else if (len_)
      s.out += fmt::format(" --nflog-range {}", len_);
    if (threshold_ != kDefaultThreshold)
      s.out += fmt::format(" --nflog-threshold {}", threshold_);
  }

  Verdict Run(XtParams& p) const override {
    if (p.svc != nullptr) {
      std::string line =
          fmt::format("NFLOG group={} prefix=\"{}\"", group_, prefix_);
      if (copy_len_) line += fmt::format(" size={}", len_);
      p.svc->Log(line);
    }
    return Verdict::kContinue;
  }

 private:
  uint16_t group_ = 0;
  uint16_t threshold_ = kDefaultThreshold;
  uint32_t len_ = 0;
  bool copy_len_ = false;
  std::string prefix_;
};

std::vector<OptionEntry> NflogOptions() {
  return {{"nflog-group", kGroup, OptType::kUint16},
          {"nflog-prefix", kPrefix, OptType::kString, 0, 0, 0, 1},
          {"nflog-range", kRange, OptType::kUint32, 0, 1u << kSize},
          {"nflog-size", kSize, OptType::kUint32, 0, 1u << kRange},
          {"nflog-threshold", kThreshold, OptType::kUint16}};
}

// The kernel registers NFLOG once per family; libxt_NFLOG serves both.
NETFENCE_REGISTER(RegisterTarget({
    .name = "NFLOG",
    .family = Family::kIPv4,
    .options = NflogOptions(),
    .create = [] { return std::make_unique<NflogTarget>(); },
}));

NETFENCE_REGISTER(RegisterTarget({
    .name = "NFLOG",
    .family = Family::kIPv6,
    .options = NflogOptions(),
    .create = [] { return std::make_unique<NflogTarget>(); },
}));

}  // namespace
}  // namespace netfence::ext
