// limit match: a token bucket per rule (xt_limit), with the kernel's
// jiffy-based credit arithmetic at CONFIG_HZ=250 (the reference kernel's),
// driven by the packets' timestamps.
#include <fmt/format.h>
#include <strings.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kOLimit, kOBurst };

constexpr uint32_t kScale = 10000;  // XT_LIMIT_SCALE
constexpr uint32_t kDefaultBurst = 5;
constexpr uint64_t kHz = 250;
// CREDITS_PER_JIFFY: the power of two below 0xFFFFFFFF / (HZ * 86400), so
// that one credit per jiffy at 1/day still fits 32 bits.
constexpr uint32_t PowerOfTwoBelow(uint32_t x) {
  uint32_t p = 1;
  while (p * 2 <= x) p *= 2;
  return p;
}
constexpr uint32_t kCreditsPerJiffy =
    PowerOfTwoBelow(uint32_t(0xFFFFFFFFu / (kHz * 60 * 60 * 24)));

// Jiffies converts the simulation clock to kernel ticks.
uint64_t Jiffies(double t) {
  return uint64_t(int64_t(std::floor(t * kHz + 1e-6)));
}

// UserToCredits is the kernel's user2credits, in its 32-bit arithmetic
// (the divide-first branch may wrap, as it does there).
uint32_t UserToCredits(uint32_t user) {
  const uint32_t hz_cpj = uint32_t(kHz) * kCreditsPerJiffy;
  if (user > 0xFFFFFFFFu / hz_cpj) return (user / kScale) * hz_cpj;
  return (user * hz_cpj) / kScale;
}

// ParseRate is libxt_limit's parse_rate: "N[/second|/minute|/hour|/day]"
// with any prefix of the unit; false when it does not parse.
bool ParseRate(const std::string& rate, uint32_t& val) {
  uint32_t mult = 1;
  size_t slash = rate.find('/');
  if (slash != std::string::npos) {
    const std::string unit = rate.substr(slash + 1);
    if (unit.empty()) return false;
    auto is = [&](const char* name) {
      return strncasecmp(unit.c_str(), name, unit.size()) == 0;
    };
    if (is("second"))
      mult = 1;
    else if (is("minute"))
      mult = 60;
    else if (is("hour"))
      mult = 60 * 60;
    else if (is("day"))
      mult = 24 * 60 * 60;
    else
      return false;
  }
  const uint32_t r = uint32_t(atoi(rate.c_str()));
  if (r == 0) return false;
  val = kScale * mult / r;
  if (val == 0) throw ParseError("Rate too fast \"" + rate + "\"");
  return true;
}

// PrintRate is print_rate: the largest unit that shows the period exactly
// enough.
std::string PrintRate(uint32_t period) {
  static const struct {
    const char* name;
    uint32_t mult;
  } kRates[] = {{"day", kScale * 24 * 60 * 60},
                {"hour", kScale * 60 * 60},
                {"min", kScale * 60},
                {"sec", kScale}};
  if (period == 0) return " inf";
  size_t i = 1;
  for (; i < std::size(kRates); ++i)
    if (period > kRates[i].mult ||
        kRates[i].mult / period < kRates[i].mult % period)
      break;
  return fmt::format(" {}/{}", kRates[i - 1].mult / period, kRates[i - 1].name);
}

// LimitMatch is one -m limit: the rate and burst, and the rule's own
// bucket (xt_limit_priv).
class LimitMatch : public Match {
 public:
  LimitMatch() { ParseRate("3/hour", avg_); }

  void Parse(OptCall& c) override {
    switch (c.id()) {
      case kOLimit:
        if (!ParseRate(c.arg, avg_))
          throw ParseError("bad rate \"" + c.arg + "\"'");
        break;
      case kOBurst:
        burst_ = uint32_t(c.val.u);
        break;
    }
  }

  void Check(const CheckCtx& c) override {
    // The product wraps in 32 bits, as in the kernel: "1/day" with the
    // default burst overflows and is refused.
    if (burst_ == 0 || UserToCredits(avg_ * burst_) < UserToCredits(avg_))
      throw CommitError(
          fmt::format("limit: Overflow, try lower: {}/{}", avg_, burst_));
    std::lock_guard<std::mutex> lock(mu_);
    credit_ = UserToCredits(avg_ * burst_);
    credit_cap_ = credit_;
    cost_ = UserToCredits(avg_);
    // Rules are loaded when the simulation starts (t = 0).
    prev_ = Jiffies(0);
  }

  void Save(SaveCtx& s) const override {
    s.out += " --limit" + PrintRate(avg_);
    if (burst_ != kDefaultBurst)
      s.out += fmt::format(" --limit-burst {}", burst_);
  }

  bool Matches(XtParams& p) const override {
    const uint64_t now = Jiffies(p.state ? p.state->now : p.skb->tstamp);
    std::lock_guard<std::mutex> lock(mu_);
    if (credit_ < cost_ && prev_ == now) return false;
    // The increase and the sum are 32-bit in the kernel and wrap alike.
    const uint32_t increase = uint32_t((now - prev_) * kCreditsPerJiffy);
    prev_ = now;
    uint32_t credit = credit_ + increase;
    if (credit > credit_cap_) credit = credit_cap_;
    bool ret = false;
    if (credit >= cost_) {
      ret = true;
      credit -= cost_;
    }
    credit_ = credit;
    return ret;
  }

 private:
  uint32_t avg_ = 0;
  uint32_t burst_ = kDefaultBurst;
  mutable std::mutex mu_;
  mutable uint64_t prev_ = 0;
  mutable uint32_t credit_ = 0;
  uint32_t credit_cap_ = 0, cost_ = 0;
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "limit",
    .options = {{"limit", kOLimit, OptType::kString, 0},
                {.name = "limit-burst",
                 .id = kOBurst,
                 .type = OptType::kUint32,
                 .min = 0,
                 .max = 10000}},
    .create = [] { return std::make_unique<LimitMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
