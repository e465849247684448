// CONNMARK target: sets the connection mark, or copies marks between the
// packet and its connection (xt_connmark revision 2, with mark shifts).
#include <fmt/format.h>

#include "core/conn.h"
#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned {
  kSetMark = 0,
  kSaveMark,
  kRestoreMark,
  kAndMark,
  kOrMark,
  kXorMark,
  kLeftShift,
  kRightShift,
  kSetXmark,
  kCtMask,
  kNfMask,
  kMask,
};
constexpr unsigned kOpAny =
    (1u << kSetMark) | (1u << kSaveMark) | (1u << kRestoreMark) |
    (1u << kAndMark) | (1u << kOrMark) | (1u << kXorMark) | (1u << kSetXmark);

// Modes as the kernel numbers them (XT_CONNMARK_*).
enum Mode : uint8_t { kModeSet = 0, kModeSave, kModeRestore };
enum ShiftDir : uint8_t { kShiftLeft = 0, kShiftRight };

class ConnmarkTarget : public Target {
 public:
  void Parse(OptCall& c) override {
    const uint32_t v = uint32_t(c.val.u);
    switch (c.id()) {
      case kSetXmark:
        SetOp(c.val.mark, c.val.mask);
        break;
      case kSetMark:
        SetOp(c.val.mark, c.val.mark | c.val.mask);
        break;
      case kAndMark:
        SetOp(0, ~v);
        break;
      case kOrMark:
        SetOp(v, v);
        break;
      case kXorMark:
        SetOp(v, 0);
        break;
      case kSaveMark:
        mode_ = kModeSave;
        break;
      case kRestoreMark:
        mode_ = kModeRestore;
        break;
      case kMask:
        nfmask_ = ctmask_ = v;
        break;
      case kCtMask:
        ctmask_ = v;
        break;
      case kNfMask:
        nfmask_ = v;
        break;
      case kLeftShift:
        shift_dir_ = kShiftLeft;
        shift_bits_ = uint8_t(c.val.u);
        break;
      case kRightShift:
        shift_dir_ = kShiftRight;
        shift_bits_ = uint8_t(c.val.u);
        break;
    }
  }

  void FinalCheck(FcheckCall& c) override {
    if (!(c.xflags & kOpAny))
      throw ParseError("CONNMARK target: No operation specified");
  }

  void Save(SaveCtx& s) const override {
    switch (mode_) {
      case kModeSet:
        s.out += fmt::format(" --set-xmark {:#x}/{:#x}", ctmark_, ctmask_);
        break;
      case kModeSave:
        s.out += fmt::format(" --save-mark --nfmask {:#x} --ctmask {:#x}",
                             nfmask_, ctmask_);
        break;
      case kModeRestore:
        s.out += fmt::format(" --restore-mark --nfmask {:#x} --ctmask {:#x}",
                             nfmask_, ctmask_);
        break;
    }
    if (shift_bits_ != 0)
      s.out += fmt::format(" --{}-shift-mark {}",
                           shift_dir_ == kShiftRight ? "right" : "left",
                           shift_bits_);
  }

  Verdict Run(XtParams& p) const override {
    Conn* ct = p.skb->ct;
    if (ct == nullptr) return Verdict::kContinue;  // untracked
    switch (mode_) {
      case kModeSet:
        ct->mark.store(Shift((ct->mark.load() & ~ctmask_) ^ ctmark_));
        break;
      case kModeSave:
        ct->mark.store((ct->mark.load() & ~ctmask_) ^
                       Shift(p.skb->mark & nfmask_));
        break;
      case kModeRestore:
        p.skb->mark =
            (p.skb->mark & ~nfmask_) ^ Shift(ct->mark.load() & ctmask_);
        break;
    }
    return Verdict::kContinue;
  }

 private:
  void SetOp(uint32_t mark, uint32_t mask) {
    mode_ = kModeSet;
    ctmark_ = mark;
    ctmask_ = mask;
  }

  // Shift applies the configured shift. The kernel shifts a u32 by up to
  // 32 bits; x86 masks the count to 5 bits, so 32 leaves the value as is.
  uint32_t Shift(uint32_t v) const {
    const unsigned n = shift_bits_ & 31;
    return shift_dir_ == kShiftRight ? v >> n : v << n;
  }

  uint32_t ctmark_ = 0;
  uint32_t ctmask_ = ~0u;  // defaults for --save-mark / --restore-mark
  uint32_t nfmask_ = ~0u;
  uint8_t mode_ = kModeSet;
  uint8_t shift_dir_ = kShiftLeft;
  uint8_t shift_bits_ = 0;
};

NETFENCE_REGISTER(RegisterTarget({
    .name = "CONNMARK",
    .revision = 2,
    .options =
        {{"set-xmark", kSetXmark, OptType::kMarkMask32, 0, kOpAny},
         {"set-mark", kSetMark, OptType::kMarkMask32, 0, kOpAny},
         {"and-mark", kAndMark, OptType::kUint32, 0, kOpAny},
         {"or-mark", kOrMark, OptType::kUint32, 0, kOpAny},
         {"xor-mark", kXorMark, OptType::kUint32, 0, kOpAny},
         {"save-mark", kSaveMark, OptType::kNone, 0, kOpAny},
         {"restore-mark", kRestoreMark, OptType::kNone, 0, kOpAny},
         {"left-shift-mark", kLeftShift, OptType::kUint8, 0, 0, 0, 0, 32},
         {"right-shift-mark", kRightShift, OptType::kUint8, 0, 0, 0, 0, 32},
         {"ctmask", kCtMask, OptType::kUint32, 0, 1u << kMask},
         {"nfmask", kNfMask, OptType::kUint32, 0, 1u << kMask},
         {"mask", kMask, OptType::kUint32, 0,
          (1u << kCtMask) | (1u << kNfMask)}},
    .create = [] { return std::make_unique<ConnmarkTarget>(); },
}));

}  // namespace
}  // namespace netfence::ext
