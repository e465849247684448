// mark match (revision 1): the packet's netfilter mark under a mask
// (xt_mark).
#include <fmt/format.h>

#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

class MarkMatch : public Match {
 public:
  void Parse(OptCall& c) override {
    mark_ = c.val.mark;
    mask_ = c.val.mask;
    if (c.invert) invert_ = true;
  }

  void Save(SaveCtx& s) const override {
    if (invert_) s.out += " !";
    s.out += " --mark";
    if (mask_ != 0xffffffffu)
      s.out += fmt::format(" {:#x}/{:#x}", mark_, mask_);
    else
      s.out += fmt::format(" {:#x}", mark_);
  }

  bool Matches(XtParams& p) const override {
    return ((p.skb->mark & mask_) == mark_) ^ invert_;
  }

 private:
  uint32_t mark_ = 0, mask_ = 0;
  bool invert_ = false;
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "mark",
    .revision = 1,
    .options = {{"mark", 0, OptType::kMarkMask32, kOptMand | kOptInvert}},
    .create = [] { return std::make_unique<MarkMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
