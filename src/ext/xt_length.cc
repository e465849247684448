// length match: the packet's length against a range (xt_length). IPv4
// reads the header's total length; IPv6 the buffer length, so jumbograms
// count too.
#include <fmt/format.h>

#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

class LengthMatch : public Match {
 public:
  void Parse(OptCall& c) override {
    min_ = uint16_t(c.val.range[0]);
    max_ = c.val.nvals >= 2 ? uint16_t(c.val.range[1]) : min_;
    if (c.invert) invert_ = true;
  }

  void Save(SaveCtx& s) const override {
    s.out += invert_ ? " ! --length " : " --length ";
    if (min_ == max_)
      s.out += fmt::format("{}", min_);
    else
      s.out += fmt::format("{}:{}", min_, max_);
  }

  bool Matches(XtParams& p) const override {
    const uint32_t len = p.skb->family == Family::kIPv4
                             ? Load16(&p.skb->data[2])
                             : uint32_t(p.skb->data.size());
    return (len >= min_ && len <= max_) ^ invert_;
  }

 private:
  uint16_t min_ = 0, max_ = 0;
  bool invert_ = false;
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "length",
    .options = {{"length", 0, OptType::kUint16Rc, kOptMand | kOptInvert}},
    .create = [] { return std::make_unique<LengthMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
