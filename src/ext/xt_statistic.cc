// statistic match: every nth packet, or packets at random with a given
// probability (xt_statistic). Random draws come from the engine's seeded
// generator so that a simulation is reproducible.
#include <fmt/format.h>

#include <cmath>
#include <mutex>

#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kOMode, kOProbability, kOEvery, kOPacket };

enum Mode : uint16_t { kRandom = 0, kNth = 1 };

constexpr uint16_t kInvert = 1;  // XT_STATISTIC_INVERT

// StatisticMatch is one -m statistic: xt_statistic_info and its nth
// counter.
class StatisticMatch : public Match {
 public:
  void Parse(OptCall& c) override {
    if (c.invert) flags_ |= kInvert;
    switch (c.id()) {
      case kOMode:
        if (c.arg == "random")
          mode_ = kRandom;
        else if (c.arg == "nth")
          mode_ = kNth;
        else
          throw ParseError("Bad mode \"" + c.arg + "\"");
        break;
      case kOProbability:
        probability_ = uint32_t(std::lround(0x80000000 * c.val.dbl));
        break;
      case kOEvery:
        every_ = uint32_t(c.val.u) - 1;
        break;
      case kOPacket:
        packet_ = uint32_t(c.val.u);
        break;
    }
  }

  void FinalCheck(FcheckCall& c) override {
    if (mode_ == kRandom && !(c.xflags & (1u << kOProbability)))
      throw ParseError(
          "--probability must be specified when using random mode");
    if (mode_ == kNth && !(c.xflags & ((1u << kOEvery) | (1u << kOPacket))))
      throw ParseError(
          "--every and --packet must be specified when using nth mode");
    if (packet_ > every_)
      throw ParseError("the --packet p must be 0 <= p <= n-1");
    count_ = every_ - packet_;
  }

  void Save(SaveCtx& s) const override {
    const char* bang = (flags_ & kInvert) ? " !" : "";
    if (mode_ == kRandom)
      s.out += fmt::format(" --mode random{} --probability {:.11f}", bang,
                           1.0 * probability_ / 0x80000000);
    else
      s.out += fmt::format(" --mode nth{} --every {} --packet {}", bang,
                           uint64_t(every_) + 1, packet_);
  }

  bool Matches(XtParams& p) const override {
    bool ret = flags_ & kInvert;
    if (mode_ == kRandom) {
      if ((Draw(p) & 0x7FFFFFFF) < probability_) ret = !ret;
      return ret;
    }
    std::lock_guard<std::mutex> lock(mu_);
    count_ = count_ == every_ ? 0 : count_ + 1;
    if (count_ == 0) ret = !ret;
    return ret;
  }

 private:
  // Draw takes the engine's generator; without one (unit tests) a fixed
  // xorshift keeps results reproducible.
  uint32_t Draw(XtParams& p) const {
    if (p.svc) return p.svc->Random();
    std::lock_guard<std::mutex> lock(mu_);
    seed_ ^= seed_ << 13;
    seed_ ^= seed_ >> 17;
    seed_ ^= seed_ << 5;
    return seed_;
  }

  uint16_t mode_ = kRandom;
  uint16_t flags_ = 0;
  uint32_t probability_ = 0;
  uint32_t every_ = 0, packet_ = 0;
  mutable std::mutex mu_;
  mutable uint32_t count_ = 0;
  mutable uint32_t seed_ = 2463534242u;
};

std::vector<OptionEntry> Options() {
  const unsigned fprob = 1u << kOProbability, fevery = 1u << kOEvery,
                 fpacket = 1u << kOPacket;
  return {
      {"mode", kOMode, OptType::kString, kOptMand},
      {.name = "probability",
       .id = kOProbability,
       .type = OptType::kDouble,
       .flags = kOptInvert,
       .excl = fevery | fpacket,
       .min = 0,
       .max = 1},
      {.name = "every",
       .id = kOEvery,
       .type = OptType::kUint32,
       .flags = kOptInvert,
       .excl = fprob,
       .also = fpacket,
       .min = 1},
      {.name = "packet",
       .id = kOPacket,
       .type = OptType::kUint32,
       .excl = fprob,
       .also = fevery},
  };
}

NETFENCE_REGISTER(RegisterMatch({
    .name = "statistic",
    .options = Options(),
    .create = [] { return std::make_unique<StatisticMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
