// REDIRECT target: destination NAT to the host itself, the incoming
// interface's first address (or loopback for local packets), keeping or
// remapping the port (xt_REDIRECT, nf_nat_redirect_ipv4 / _ipv6).
#include "core/host.h"
#include "core/xt.h"
#include "ext/mangle_util.h"
#include "ext/nat_util.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kToPorts = 2, kRandom = 3 };

// RedirectAddrV6 picks the first usable address of the incoming device in
// the scope of the packet's destination (nf_nat_redirect_ipv6): not
// v4-mapped, not tentative unless optimistic.
bool RedirectAddrV6(const Interface* in, const Addr& daddr, Addr& out) {
  if (in == nullptr) return false;
  const unsigned scope = Ipv6AddrType(daddr) & kV6ScopeMask;
  for (const IfAddr& a : in->addrs) {
    if (a.family != Family::kIPv6) continue;
    const unsigned type = Ipv6AddrType(a.local);
    if (type & kV6Mapped) continue;
    if ((a.flags & kIfaTentative) && !(a.flags & kIfaOptimistic)) continue;
    if (scope && !(scope & type & kV6ScopeMask)) continue;
    out = a.local;
    return true;
  }
  return false;
}

// RedirectAddrV4 is the primary address of the incoming device: the head
// of its address list, which the host file lists in the kernel's order.
bool RedirectAddrV4(const Interface* in, Addr& out) {
  if (in == nullptr) return false;
  for (const IfAddr& a : in->addrs) {
    if (a.family != Family::kIPv4) continue;
    out = a.local;
    return !(out == Addr{});
  }
  return false;
}

class RedirectTarget : public Target {
 public:
  explicit RedirectTarget(Family f) : family_(f) {}

  void Parse(OptCall& c) override {
    switch (c.id()) {
      case kToPorts:
        ParseNatPorts(c.arg, NatPortOk(c.env->ip->proto), range_,
                      *c.env->resolver);
        break;
      case kRandom:
        range_.flags |= kNatProtoRandom;
        break;
    }
  }

  void FinalCheck(FcheckCall&) override {
    if (range_.flags & kNatProtoOffset)
      throw ParseError("Shifted portmap ranges not supported with this kernel");
  }

  void Check(const CheckCtx&) override {
    if (range_.flags & kNatMapIps) throw CommitError("REDIRECT: bad MAP_IPS");
  }

  void Save(SaveCtx& s) const override {
    SaveNat(s.out, range_, family_, "--to-ports ", true);
  }

  Verdict Run(XtParams& p) const override {
    PacketServices& svc = NatServices(p);
    const HookState& st = *p.state;
    Addr dst;
    if (st.hook == Hook::kOutput) {
      // Local packets go to loopback.
      dst = p.skb->family == Family::kIPv4 ? Addr::FromV4(0x7f000001) : Addr{};
      if (p.skb->family == Family::kIPv6) dst.b[15] = 1;
    } else if (p.skb->family == Family::kIPv4) {
      if (!RedirectAddrV4(st.in, dst)) return Verdict::kDrop;
    } else {
      if (!RedirectAddrV6(st.in, PktDst(*p.skb), dst)) return Verdict::kDrop;
    }
    NatRange r;
    r.flags = range_.flags | kNatMapIps;
    r.min_addr = r.max_addr = dst;
    r.min_proto = range_.min_proto;
    r.max_proto = range_.max_proto;
    return svc.SetupNat(p, r, NatManip::kDst);
  }

 private:
  Family family_;
  NatRange range_;
};

std::vector<OptionEntry> Options() {
  return {{"to-ports", kToPorts, OptType::kString},
          {"random", kRandom, OptType::kNone}};
}

const HookMask kHooks = HookBit(Hook::kPrerouting) | HookBit(Hook::kOutput);

NETFENCE_REGISTER(RegisterTarget({
    .name = "REDIRECT",
    .family = Family::kIPv4,
    .options = Options(),
    .hooks = kHooks,
    .table = "nat",
    .create = [] { return std::make_unique<RedirectTarget>(Family::kIPv4); },
}));

NETFENCE_REGISTER(RegisterTarget({
    .name = "REDIRECT",
    .family = Family::kIPv6,
    .options = Options(),
    .hooks = kHooks,
    .table = "nat",
    .create = [] { return std::make_unique<RedirectTarget>(Family::kIPv6); },
}));

}  // namespace
}  // namespace netfence::ext
