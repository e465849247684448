// MASQUERADE target: source NAT to the address the host would use on the
// outgoing interface (xt_MASQUERADE, nf_nat_masquerade_ipv4 / _ipv6),
// looked up when each connection starts.
#include "core/conn.h"
#include "core/host.h"
#include "core/xt.h"
#include "ext/mangle_util.h"
#include "ext/nat_util.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kToPorts = 2, kRandom = 3, kRandomFully = 4 };

class MasqueradeTarget : public Target {
 public:
  explicit MasqueradeTarget(Family f) : family_(f) {}

  void Parse(OptCall& c) override {
    switch (c.id()) {
      case kToPorts:
        ParseNatPorts(c.arg, NatPortOk(c.env->ip->proto), range_,
                      *c.env->resolver);
        range_.base_proto = 0;  // no room for it in the kernel struct
        break;
      case kRandom:
        range_.flags |= kNatProtoRandom;
        break;
      case kRandomFully:
        range_.flags |= kNatProtoRandomFully;
        break;
    }
  }

  void Check(const CheckCtx&) override {
    if (range_.flags & kNatMapIps) throw CommitError("MASQUERADE: bad MAP_IPS");
  }

  void Save(SaveCtx& s) const override {
    SaveNat(s.out, range_, family_, "--to-ports ", true);
  }

  Verdict Run(XtParams& p) const override {
    PacketServices& svc = NatServices(p);
    const HookState& st = *p.state;
    Addr src;
    if (p.skb->family == Family::kIPv4) {
      const Conn* ct = p.skb->ct;
      if (ct == nullptr) throw std::logic_error("NAT needs a connection");
      // Source 0.0.0.0: a local packet not meant to be masqueraded.
      if (ct->tuple[kDirOriginal].src == Addr{}) return Verdict::kAccept;
      // inet_select_addr towards the route's next hop.
      const Route rt = PacketRoute(p);
      const Addr nh =
          rt.err == 0 && !(rt.gateway == Addr{}) ? rt.gateway : PktDst(*p.skb);
      src = st.host->SelectSource(Family::kIPv4, st.out, nh);
    } else {
      src = st.host->SelectSource(Family::kIPv6, st.out, PktDst(*p.skb));
    }
    if (src == Addr{}) return Verdict::kDrop;  // "ate my IP address"
    NatRange r;
    r.flags = range_.flags | kNatMapIps;
    r.min_addr = r.max_addr = src;
    r.min_proto = range_.min_proto;
    r.max_proto = range_.max_proto;
    return svc.SetupNat(p, r, NatManip::kSrc);
  }

 private:
  Family family_;
  NatRange range_;
};

std::vector<OptionEntry> Options() {
  return {{"to-ports", kToPorts, OptType::kString},
          {"random", kRandom, OptType::kNone},
          {"random-fully", kRandomFully, OptType::kNone}};
}

NETFENCE_REGISTER(RegisterTarget({
    .name = "MASQUERADE",
    .family = Family::kIPv4,
    .options = Options(),
    .hooks = HookBit(Hook::kPostrouting),
    .table = "nat",
    .create = [] { return std::make_unique<MasqueradeTarget>(Family::kIPv4); },
}));

NETFENCE_REGISTER(RegisterTarget({
    .name = "MASQUERADE",
    .family = Family::kIPv6,
    .options = Options(),
    .hooks = HookBit(Hook::kPostrouting),
    .table = "nat",
    .create = [] { return std::make_unique<MasqueradeTarget>(Family::kIPv6); },
}));

}  // namespace
}  // namespace netfence::ext
