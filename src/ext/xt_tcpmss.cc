// tcpmss match: the MSS option of a TCP header, as a range (xt_tcpmss).
#include <fmt/format.h>

#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

class TcpmssMatch : public Match {
 public:
  void Parse(OptCall& c) override {
    min_ = uint16_t(c.val.range[0]);
    max_ = min_;
    if (c.val.nvals == 2) {
      max_ = uint16_t(c.val.range[1]);
      if (max_ < min_) throw ParseError("tcpmss: invalid range given");
    }
    if (c.invert) invert_ = true;
  }

  void Save(SaveCtx& s) const override {
    s.out += invert_ ? " ! --mss " : " --mss ";
    if (min_ == max_)
      s.out += fmt::format("{}", min_);
    else
      s.out += fmt::format("{}:{}", min_, max_);
  }

  bool Matches(XtParams& p) const override {
    const uint8_t* th = p.skb->HeaderPointer(p.thoff, 20);
    // A missing or malformed header, or truncated options: drop.
    if (th == nullptr || (th[12] >> 4) * 4 < 20) return Drop(p);
    const unsigned optlen = (th[12] >> 4) * 4 - 20;
    if (optlen == 0) return invert_;
    const uint8_t* op = p.skb->HeaderPointer(p.thoff + 20, optlen);
    if (op == nullptr) return Drop(p);
    for (unsigned i = 0; i < optlen;) {
      if (op[i] == 2 && optlen - i >= 4 && op[i + 1] == 4) {
        const uint16_t mss = Load16(op + i + 2);
        return (mss >= min_ && mss <= max_) ^ invert_;
      }
      if (op[i] < 2 || i + 1 >= optlen)
        ++i;  // the length byte past the options ends the walk either way
      else
        i += op[i + 1] ? op[i + 1] : 1;
    }
    return invert_;
  }

 private:
  static bool Drop(XtParams& p) {
    p.hotdrop = true;
    return false;
  }

  uint16_t min_ = 0, max_ = 0;
  bool invert_ = false;
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "tcpmss",
    .options = {{"mss", 0, OptType::kUint16Rc, kOptMand | kOptInvert}},
    .proto = 6,
    .create = [] { return std::make_unique<TcpmssMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
