// physdev match: the bridge ports a bridged packet entered or leaves by
// (xt_physdev). Our model has no bridge: no packet ever carries bridge
// port information, so only the kernel's logic for such packets applies.
#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kIn, kOut, kIsIn, kIsOut, kIsBridged };

// Bits of the kernel struct's bitmask and invert (XT_PHYSDEV_OP_*).
enum : uint8_t {
  kOpIn = 0x01,
  kOpOut = 0x02,
  kOpBridged = 0x04,
  kOpIsIn = 0x08,
  kOpIsOut = 0x10,
  kOpMask = 0x1f,
};

class PhysdevMatch : public Match {
 public:
  void Parse(OptCall& c) override {
    static const uint8_t kBits[] = {kOpIn, kOpOut, kOpIsIn, kOpIsOut,
                                    kOpBridged};
    const uint8_t bit = kBits[c.id()];
    if (c.id() == kIn) {
      ParseInterface(c.arg, in_);
      in_name_ = c.arg;
    } else if (c.id() == kOut) {
      ParseInterface(c.arg, out_);
      out_name_ = c.arg;
    }
    bitmask_ |= bit;
    if (c.invert) invert_ |= bit;
  }

  void FinalCheck(FcheckCall& c) override {
    if (c.xflags == 0) throw ParseError("PHYSDEV: no physdev option specified");
  }

  void Check(const CheckCtx& c) override {
    if (!(bitmask_ & kOpMask) || (bitmask_ & ~kOpMask))
      throw CommitError("physdev: invalid options");
    // Locally generated packets cannot know their bridge port yet.
    if ((bitmask_ & (kOpOut | kOpIsOut)) &&
        (!(bitmask_ & kOpBridged) || (invert_ & kOpBridged)) &&
        (c.hook_mask & HookBit(Hook::kOutput)))
      throw CommitError(
          "--physdev-out and --physdev-is-out only supported in the FORWARD "
          "and POSTROUTING chains with bridged traffic");
  }

  void Save(SaveCtx& s) const override {
    auto inv = [&](uint8_t bit) { return (invert_ & bit) ? " !" : ""; };
    if (bitmask_ & kOpIsIn)
      s.out += std::string(inv(kOpIsIn)) + " --physdev-is-in";
    if (bitmask_ & kOpIn)
      s.out += std::string(inv(kOpIn)) + " --physdev-in " + in_name_;
    if (bitmask_ & kOpIsOut)
      s.out += std::string(inv(kOpIsOut)) + " --physdev-is-out";
    if (bitmask_ & kOpOut)
      s.out += std::string(inv(kOpOut)) + " --physdev-out " + out_name_;
    if (bitmask_ & kOpBridged)
      s.out += std::string(inv(kOpBridged)) + " --physdev-is-bridged";
  }

  bool Matches(XtParams& p) const override {
    // Not a bridged packet: every requested property is absent, so the
    // rule matches only if each option used is inverted.
    for (uint8_t bit : {kOpBridged, kOpIsIn, kOpIsOut, kOpIn, kOpOut})
      if ((bitmask_ & bit) && !(invert_ & bit)) return false;
    return true;
  }

 private:
  IfaceMatch in_, out_;
  std::string in_name_, out_name_;
  uint8_t bitmask_ = 0, invert_ = 0;
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "physdev",
    .options = {{"physdev-in", kIn, OptType::kString, kOptInvert},
                {"physdev-out", kOut, OptType::kString, kOptInvert},
                {"physdev-is-in", kIsIn, OptType::kNone, kOptInvert},
                {"physdev-is-out", kIsOut, OptType::kNone, kOptInvert},
                {"physdev-is-bridged", kIsBridged, OptType::kNone, kOptInvert}},
    .create = [] { return std::make_unique<PhysdevMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
