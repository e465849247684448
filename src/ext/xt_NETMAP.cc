// NETMAP target: 1:1 NAT of a whole prefix, keeping the host bits
// (xt_NETMAP): the destination in PREROUTING / OUTPUT, the source in
// POSTROUTING / INPUT.
#include "core/addr.h"
#include "core/xt.h"
#include "ext/mangle_util.h"
#include "ext/nat_util.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kTo = 0 };

class NetmapTarget : public Target {
 public:
  explicit NetmapTarget(Family f) : family_(f) {}

  void Parse(OptCall& c) override {
    range_.flags |= kNatMapIps;
    const size_t n = family_ == Family::kIPv4 ? 4 : 16;
    for (size_t i = 0; i < n; ++i) {
      range_.min_addr.b[i] = c.val.haddr.b[i] & c.val.hmask.b[i];
      range_.max_addr.b[i] = range_.min_addr.b[i] | uint8_t(~c.val.hmask.b[i]);
    }
  }

  void Check(const CheckCtx&) override {
    if (!(range_.flags & kNatMapIps)) throw CommitError("NETMAP: bad MAP_IPS");
  }

  void Save(SaveCtx& s) const override {
    const Addr mask = Netmask();
    s.out += " --to " + FormatAddr(family_, range_.min_addr) + "/";
    const int bits = MaskToCidr(family_, mask);
    s.out += bits < 0 ? FormatAddr(family_, mask) : std::to_string(bits);
  }

  Verdict Run(XtParams& p) const override {
    PacketServices& svc = NatServices(p);
    const Hook h = p.state->hook;
    const bool dst = h == Hook::kPrerouting || h == Hook::kOutput;
    const Addr orig = dst ? PktDst(*p.skb) : PktSrc(*p.skb);
    const Addr mask = Netmask();
    Addr mapped;
    for (size_t i = 0; i < 16; ++i)
      mapped.b[i] = uint8_t((orig.b[i] & ~mask.b[i]) |
                            (range_.min_addr.b[i] & mask.b[i]));
    if (family_ == Family::kIPv4)
      for (size_t i = 4; i < 16; ++i) mapped.b[i] = 0;
    NatRange r;
    r.flags = range_.flags | kNatMapIps;
    r.min_addr = r.max_addr = mapped;
    r.min_proto = range_.min_proto;
    r.max_proto = range_.max_proto;
    return svc.SetupNat(p, r, dst ? NatManip::kDst : NatManip::kSrc);
  }

 private:
  // Netmask is the prefix the range covers: the bits min and max share.
  Addr Netmask() const {
    Addr m;
    const size_t n = family_ == Family::kIPv4 ? 4 : 16;
    for (size_t i = 0; i < n; ++i)
      m.b[i] = uint8_t(~(range_.min_addr.b[i] ^ range_.max_addr.b[i]));
    return m;
  }

  Family family_;
  NatRange range_;
};

const HookMask kHooks = HookBit(Hook::kPrerouting) |
                        HookBit(Hook::kPostrouting) | HookBit(Hook::kOutput) |
                        HookBit(Hook::kInput);

NETFENCE_REGISTER(RegisterTarget({
    .name = "NETMAP",
    .family = Family::kIPv4,
    .options = {{"to", kTo, OptType::kHostMask, kOptMand}},
    .hooks = kHooks,
    .table = "nat",
    .create = [] { return std::make_unique<NetmapTarget>(Family::kIPv4); },
}));

NETFENCE_REGISTER(RegisterTarget({
    .name = "NETMAP",
    .family = Family::kIPv6,
    .options = {{"to", kTo, OptType::kHostMask, kOptMand}},
    .hooks = kHooks,
    .table = "nat",
    .create = [] { return std::make_unique<NetmapTarget>(Family::kIPv6); },
}));

}  // namespace
}  // namespace netfence::ext
