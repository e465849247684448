// DNAT target: rewrites the destination of a new connection to an address
// / port range, optionally with a shifted port map ("/base"); xt_nat
// revision 2 for both families.
#include "core/xt.h"
#include "ext/nat_util.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kToDest = 0, kRandom = 3, kPersistent = 5 };

class DnatTarget : public Target {
 public:
  explicit DnatTarget(Family f) : family_(f) {}

  void Parse(OptCall& c) override {
    switch (c.id()) {
      case kToDest:
        ParseNatTo(c.arg, NatPortOk(c.env->ip->proto), range_, family_,
                   *c.env->resolver);
        break;
      case kRandom:
        range_.flags |= kNatProtoRandom;
        break;
      case kPersistent:
        range_.flags |= kNatPersistent;
        break;
    }
  }

  void Save(SaveCtx& s) const override {
    SaveNat(s.out, range_, family_, "--to-destination ", false);
  }

  Verdict Run(XtParams& p) const override {
    return NatServices(p).SetupNat(p, range_, NatManip::kDst);
  }

 private:
  Family family_;
  NatRange range_;
};

std::vector<OptionEntry> Options() {
  return {{"to-destination", kToDest, OptType::kString, kOptMand},
          {"random", kRandom, OptType::kNone},
          {"persistent", kPersistent, OptType::kNone}};
}

const HookMask kHooks = HookBit(Hook::kPrerouting) | HookBit(Hook::kOutput);

NETFENCE_REGISTER(RegisterTarget({
    .name = "DNAT",
    .revision = 2,
    .family = Family::kIPv4,
    .options = Options(),
    .hooks = kHooks,
    .table = "nat",
    .create = [] { return std::make_unique<DnatTarget>(Family::kIPv4); },
}));

NETFENCE_REGISTER(RegisterTarget({
    .name = "DNAT",
    .revision = 2,
    .family = Family::kIPv6,
    .options = Options(),
    .hooks = kHooks,
    .table = "nat",
    .create = [] { return std::make_unique<DnatTarget>(Family::kIPv6); },
}));

}  // namespace
}  // namespace netfence::ext
