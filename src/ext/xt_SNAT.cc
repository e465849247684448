// SNAT target: rewrites the source of a new connection to an address /
// port range (xt_nat; iptables uses revision 0 for IPv4 and revision 1 for
// IPv6). Neither revision has room for a port-offset base, so a "/base"
// survives only as a flag and prints back as "/0", as on the kernel.
#include "core/xt.h"
#include "ext/nat_util.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kToSrc = 1, kRandom = 3, kRandomFully, kPersistent };

class SnatTarget : public Target {
 public:
  explicit SnatTarget(Family f) : family_(f) {}

  void Parse(OptCall& c) override {
    switch (c.id()) {
      case kToSrc:
        ParseNatTo(c.arg, NatPortOk(c.env->ip->proto), range_, family_,
                   *c.env->resolver);
        range_.base_proto = 0;  // the kernel struct has no field for it
        break;
      case kRandom:
        range_.flags |= kNatProtoRandom;
        break;
      case kRandomFully:
        range_.flags |= kNatProtoRandomFully;
        break;
      case kPersistent:
        range_.flags |= kNatPersistent;
        break;
    }
  }

  void Save(SaveCtx& s) const override {
    SaveNat(s.out, range_, family_, "--to-source ", false);
  }

  Verdict Run(XtParams& p) const override {
    return NatServices(p).SetupNat(p, range_, NatManip::kSrc);
  }

 private:
  Family family_;
  NatRange range_;
};

std::vector<OptionEntry> Options() {
  return {{"to-source", kToSrc, OptType::kString, kOptMand},
          {"random", kRandom, OptType::kNone},
          {"random-fully", kRandomFully, OptType::kNone},
          {"persistent", kPersistent, OptType::kNone}};
}

const HookMask kHooks = HookBit(Hook::kPostrouting) | HookBit(Hook::kInput);

NETFENCE_REGISTER(RegisterTarget({
    .name = "SNAT",
    .revision = 0,
    .family = Family::kIPv4,
    .options = Options(),
    .hooks = kHooks,
    .table = "nat",
    .create = [] { return std::make_unique<SnatTarget>(Family::kIPv4); },
}));

NETFENCE_REGISTER(RegisterTarget({
    .name = "SNAT",
    .revision = 1,
    .family = Family::kIPv6,
    .options = Options(),
    .hooks = kHooks,
    .table = "nat",
    .create = [] { return std::make_unique<SnatTarget>(Family::kIPv6); },
}));

}  // namespace
}  // namespace netfence::ext
