// MARK target: rewrites the packet mark (xt_MARK revision 2, the one
// iptables 1.8.9 picks on a 6.x kernel). Every option is reduced to one
// "clear these bits, then xor these" pair, which is also what it saves.
#include <fmt/format.h>

#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kSetMark = 0, kAndMark, kOrMark, kXorMark, kSetXmark };
constexpr unsigned kAnyOp = (1u << kSetMark) | (1u << kAndMark) |
                            (1u << kOrMark) | (1u << kXorMark) |
                            (1u << kSetXmark);

class MarkTarget : public Target {
 public:
  void Parse(OptCall& c) override {
    const uint32_t v = uint32_t(c.val.u);
    switch (c.id()) {
      case kSetXmark:
        mark_ = c.val.mark;
        mask_ = c.val.mask;
        break;
      case kSetMark:
        // Setting within a mask clears the mask bits and the value bits.
        mark_ = c.val.mark;
        mask_ = c.val.mark | c.val.mask;
        break;
      case kAndMark:
        mark_ = 0;
        mask_ = ~v;
        break;
      case kOrMark:
        mark_ = mask_ = v;
        break;
      case kXorMark:
        mark_ = v;
        mask_ = 0;
        break;
    }
  }

  void FinalCheck(FcheckCall& c) override {
    if (c.xflags == 0)
      throw ParseError(
          "MARK: One of the --set-xmark, --{and,or,xor,set}-mark options is "
          "required");
  }

  void Save(SaveCtx& s) const override {
    s.out += fmt::format(" --set-xmark {:#x}/{:#x}", mark_, mask_);
  }

  Verdict Run(XtParams& p) const override {
    p.skb->mark = (p.skb->mark & ~mask_) ^ mark_;
    return Verdict::kContinue;
  }

 private:
  uint32_t mark_ = 0, mask_ = 0;
};

NETFENCE_REGISTER(RegisterTarget({
    .name = "MARK",
    .revision = 2,
    .options = {{"set-xmark", kSetXmark, OptType::kMarkMask32, 0, kAnyOp},
                {"set-mark", kSetMark, OptType::kMarkMask32, 0, kAnyOp},
                {"and-mark", kAndMark, OptType::kUint32, 0, kAnyOp},
                {"or-mark", kOrMark, OptType::kUint32, 0, kAnyOp},
                {"xor-mark", kXorMark, OptType::kUint32, 0, kAnyOp}},
    .create = [] { return std::make_unique<MarkTarget>(); },
}));

}  // namespace
}  // namespace netfence::ext
