// esp match: the SPI of an ESP header, as a range (xt_esp).
#include <fmt/format.h>

#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

constexpr uint8_t kInvSpi = 0x01;  // XT_ESP_INV_SPI

class EspMatch : public Match {
 public:
  void Parse(OptCall& c) override {
    // XTTYPE_UINT32RC stores both bounds; a single value is a point.
    spis_[0] = uint32_t(c.val.range[0]);
    spis_[1] = uint32_t(c.val.nvals == 1 ? c.val.range[0] : c.val.range[1]);
    if (c.invert) invflags_ |= kInvSpi;
  }

  void Check(const CheckCtx& c) override {
    if (invflags_ & ~kInvSpi) throw CommitError("esp: unknown invflags");
  }

  void Save(SaveCtx& s) const override {
    if (spis_[0] == 0 && spis_[1] == 0xFFFFFFFF) return;
    s.out += (invflags_ & kInvSpi) ? " ! --espspi " : " --espspi ";
    if (spis_[0] != spis_[1])
      s.out += fmt::format("{}:{}", spis_[0], spis_[1]);
    else
      s.out += fmt::format("{}", spis_[0]);
  }

  bool Matches(XtParams& p) const override {
    if (p.fragoff != 0) return false;
    const uint8_t* eh = p.skb->HeaderPointer(p.thoff, 8);
    if (eh == nullptr) {
      // A header we were asked to examine but cannot: drop.
      p.hotdrop = true;
      return false;
    }
    const uint32_t spi = Load32(eh);
    return (spi >= spis_[0] && spi <= spis_[1]) ^ bool(invflags_ & kInvSpi);
  }

 private:
  uint32_t spis_[2] = {0, 0xFFFFFFFF};
  uint8_t invflags_ = 0;
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "esp",
    .options = {{"espspi", 0, OptType::kUint32Rc, kOptInvert}},
    .proto = 50,
    .create = [] { return std::make_unique<EspMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
