// connmark match: the mark of the packet's connection, under a mask
// (xt_connmark, revision 1).
#include <fmt/format.h>

#include "core/conn.h"
#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kOMark };

// ConnmarkMatch is one -m connmark: xt_connmark_mtinfo1.
class ConnmarkMatch : public Match {
 public:
  void Parse(OptCall& c) override {
    mark_ = c.val.mark;
    mask_ = c.val.mask;
    if (c.invert) invert_ = true;
  }

  void Save(SaveCtx& s) const override {
    if (invert_) s.out += " !";
    // xtables_print_mark_mask: the mask only when it is not all ones.
    if (mask_ != 0xffffffffu)
      s.out += fmt::format(" --mark 0x{:x}/0x{:x}", mark_, mask_);
    else
      s.out += fmt::format(" --mark 0x{:x}", mark_);
  }

  bool Matches(XtParams& p) const override {
    const Packet& skb = *p.skb;
    const Conn* ct = skb.ctinfo == CtInfo::kUntracked ? nullptr : skb.ct;
    if (ct == nullptr) return false;
    return ((ct->mark.load() & mask_) == mark_) != invert_;
  }

 private:
  uint32_t mark_ = 0, mask_ = 0;
  bool invert_ = false;
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "connmark",
    .revision = 1,
    .options = {{"mark", kOMark, OptType::kMarkMask32, kOptMand | kOptInvert}},
    .create = [] { return std::make_unique<ConnmarkMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
