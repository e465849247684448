// ah match: the SPI of an Authentication Header. IPv4 (ipt_ah) looks at
// the transport header and needs "-p ah"; IPv6 (ip6t_ah) finds the header
// in the extension chain and can also check its length and reserved field.
#include <fmt/format.h>

#include <cerrno>

#include "core/pktinfo.h"
#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kSpi, kLen, kRes };

// Invert flags (IPT_AH_INV_* / IP6T_AH_INV_*).
enum : uint8_t { kInvSpi = 0x01, kInvLen = 0x02 };

constexpr int kNextAuth = 51;

// SaveSpis prints the SPI range unless it is the full one.
void SaveSpis(std::string& out, const uint32_t spis[2], bool inv) {
  if (spis[0] == 0 && spis[1] == 0xFFFFFFFF) return;
  out += inv ? " ! --ahspi " : " --ahspi ";
  if (spis[0] != spis[1])
    out += fmt::format("{}:{}", spis[0], spis[1]);
  else
    out += fmt::format("{}", spis[0]);
}

bool SpiMatch(const uint32_t spis[2], uint32_t spi, bool inv) {
  return (spi >= spis[0] && spi <= spis[1]) ^ inv;
}

class Ah4Match : public Match {
 public:
  void Parse(OptCall& c) override {
    spis_[0] = uint32_t(c.val.range[0]);
    spis_[1] = uint32_t(c.val.nvals == 1 ? c.val.range[0] : c.val.range[1]);
    if (c.invert) invflags_ |= kInvSpi;
  }

  void Check(const CheckCtx& c) override {
    if (invflags_ & ~kInvSpi) throw CommitError("ah: unknown invflags");
  }

  void Save(SaveCtx& s) const override {
    SaveSpis(s.out, spis_, invflags_ & kInvSpi);
  }

  bool Matches(XtParams& p) const override {
    if (p.fragoff != 0) return false;
    const uint8_t* ah = p.skb->HeaderPointer(p.thoff, 12);
    if (ah == nullptr) {
      // A header we were asked to examine but cannot: drop.
      p.hotdrop = true;
      return false;
    }
    return SpiMatch(spis_, Load32(ah + 4), invflags_ & kInvSpi);
  }

 private:
  uint32_t spis_[2] = {0, 0xFFFFFFFF};
  uint8_t invflags_ = 0;
};

class Ah6Match : public Match {
 public:
  void Parse(OptCall& c) override {
    switch (c.id()) {
      case kSpi:
        spis_[0] = uint32_t(c.val.range[0]);
        spis_[1] = uint32_t(c.val.nvals == 1 ? c.val.range[0] : c.val.range[1]);
        if (c.invert) invflags_ |= kInvSpi;
        break;
      case kLen:
        hdrlen_ = uint32_t(c.val.u);
        if (c.invert) invflags_ |= kInvLen;
        break;
      case kRes:
        hdrres_ = true;
        break;
    }
  }

  void Check(const CheckCtx& c) override {
    if (invflags_ & ~(kInvSpi | kInvLen))
      throw CommitError("ah: unknown invflags");
  }

  void Save(SaveCtx& s) const override {
    SaveSpis(s.out, spis_, invflags_ & kInvSpi);
    if (hdrlen_ != 0 || (invflags_ & kInvLen))
      s.out += fmt::format("{} --ahlen {}", (invflags_ & kInvLen) ? " !" : "",
                           hdrlen_);
    if (hdrres_) s.out += " --ahres";
  }

  bool Matches(XtParams& p) const override {
    unsigned ptr = 0;
    int err = Ipv6FindHdr(*p.skb, ptr, kNextAuth, nullptr, nullptr);
    if (err < 0) {
      if (err != -ENOENT) p.hotdrop = true;
      return false;
    }
    const uint8_t* ah = p.skb->HeaderPointer(ptr, 12);
    if (ah == nullptr) {
      p.hotdrop = true;
      return false;
    }
    const uint32_t hdrlen = (uint32_t(ah[1]) + 2) << 2;
    // A zero --ahlen means "not given", even when inverted.
    return SpiMatch(spis_, Load32(ah + 4), invflags_ & kInvSpi) &&
           (hdrlen_ == 0 ||
            ((hdrlen_ == hdrlen) ^ bool(invflags_ & kInvLen))) &&
           !(hdrres_ && Load16(ah + 2) != 0);
  }

 private:
  uint32_t spis_[2] = {0, 0xFFFFFFFF};
  uint32_t hdrlen_ = 0;
  bool hdrres_ = false;
  uint8_t invflags_ = 0;
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "ah",
    .family = Family::kIPv4,
    .options = {{"ahspi", kSpi, OptType::kUint32Rc, kOptInvert}},
    .proto = 51,
    .create = [] { return std::make_unique<Ah4Match>(); },
}));

NETFENCE_REGISTER(RegisterMatch({
    .name = "ah",
    .family = Family::kIPv6,
    .options = {{"ahspi", kSpi, OptType::kUint32Rc, kOptInvert},
                {"ahlen", kLen, OptType::kUint32, kOptInvert},
                {"ahres", kRes, OptType::kNone}},
    .create = [] { return std::make_unique<Ah6Match>(); },
}));

}  // namespace
}  // namespace netfence::ext
