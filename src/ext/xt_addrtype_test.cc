// Address type tests of the addrtype match against a fake host.
#include <gtest/gtest.h>

#include "core/host.h"
#include "core/restore.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

// Types answers 10.0.0.1 as local (only on eth0 when asked per device),
// 10.0.0.255 as broadcast, 224/4 as multicast, the rest as unicast; for
// IPv6, ::1 is local and 2001:db8::/32 unreachable.
class Types : public Host {
 public:
  Types() {
    ifs_.resize(2);
    ifs_[0].name = "eth0";
    ifs_[1].name = "eth1";
  }
  const Interface* FindInterface(const std::string& n) const override {
    for (const auto& i : ifs_)
      if (i.name == n) return &i;
    return nullptr;
  }
  const std::vector<Interface>& Interfaces() const override { return ifs_; }
  bool Forwarding(Family) const override { return true; }
  Route RouteInput(Family, const Addr&, const Addr&, uint8_t, const Interface*,
                   uint32_t) const override {
    return {};
  }
  Route RouteOutput(Family, const Addr&, const Addr&, uint8_t, const Interface*,
                    uint32_t) const override {
    return {};
  }
  RouteType AddrType(Family f, const Addr& a,
                     const Interface* dev) const override {
    if (f == Family::kIPv6) {
      Addr one;
      one.b[15] = 1;
      if (a == one) return RouteType::kLocal;
      if (a.b[0] == 0x20 && a.b[1] == 0x01 && a.b[2] == 0x0d && a.b[3] == 0xb8)
        return RouteType::kUnreachable;
      return RouteType::kUnicast;
    }
    const uint32_t v = a.v4();
    if (v == 0x0a000001 && (dev == nullptr || dev == &ifs_[0]))
      return RouteType::kLocal;
    if (v == 0x0a0000ff) return RouteType::kBroadcast;
    if ((v & 0xf0000000) == 0xe0000000) return RouteType::kMulticast;
    return RouteType::kUnicast;
  }
  Addr SelectSource(Family, const Interface*, const Addr&) const override {
    return Addr{};
  }

  std::vector<Interface> ifs_;
};

struct Loaded {
  std::unique_ptr<Ruleset> rs;
  const Match* m = nullptr;
};

Loaded Load(const std::string& rule, Family f = Family::kIPv4) {
  static const BuiltinResolver kResolver;
  RestoreOptions o{f, &kResolver, "test"};
  Loaded r;
  r.rs = Restore("*filter\n-A INPUT " + rule + "\nCOMMIT\n", o);
  r.m = r.rs->FindTable("filter")
            ->FindChain("INPUT")
            ->rules[0]
            .matches.back()
            .match.get();
  return r;
}

bool Eval(const Match& m, const Types& h, uint32_t src, uint32_t dst,
          const char* in = "eth0") {
  Packet pkt;
  pkt.data.assign(20, 0);
  pkt.data[0] = 0x45;
  Store32(&pkt.data[12], src);
  Store32(&pkt.data[16], dst);
  HookState st;
  st.in = h.FindInterface(in);
  st.host = &h;
  XtParams p;
  p.skb = &pkt;
  p.state = &st;
  return m.Matches(p);
}

TEST(AddrtypeMatch, SourceAndDestinationTypes) {
  Types h;
  auto local = Load("-m addrtype --dst-type LOCAL");
  auto bcast = Load("-m addrtype ! --dst-type BROADCAST,MULTICAST");
  auto both = Load("-m addrtype --src-type UNICAST --dst-type LOCAL");
  EXPECT_TRUE(Eval(*local.m, h, 0x01020304, 0x0a000001));
  EXPECT_FALSE(Eval(*local.m, h, 0x01020304, 0x0a000002));
  EXPECT_FALSE(Eval(*bcast.m, h, 0x01020304, 0x0a0000ff));
  EXPECT_FALSE(Eval(*bcast.m, h, 0x01020304, 0xe0000001));
  EXPECT_TRUE(Eval(*bcast.m, h, 0x01020304, 0x0a000001));
  EXPECT_TRUE(Eval(*both.m, h, 0x01020304, 0x0a000001));
  EXPECT_FALSE(Eval(*both.m, h, 0x0a000001, 0x0a000001));
}

TEST(AddrtypeMatch, LimitToTheInputInterface) {
  Types h;
  auto r = Load("-m addrtype --dst-type LOCAL --limit-iface-in");
  EXPECT_TRUE(Eval(*r.m, h, 0x01020304, 0x0a000001, "eth0"));
  EXPECT_FALSE(Eval(*r.m, h, 0x01020304, 0x0a000001, "eth1"));
}

TEST(AddrtypeMatch, Ipv6Classes) {
  Types h;
  auto r = Load("-m addrtype --dst-type LOCAL", Family::kIPv6);
  auto unr = Load("-m addrtype --dst-type UNREACHABLE", Family::kIPv6);
  auto mc = Load("-m addrtype --src-type MULTICAST", Family::kIPv6);
  Packet pkt;
  pkt.family = Family::kIPv6;
  pkt.data.assign(40, 0);
  pkt.data[0] = 0x60;
  pkt.data[39] = 1;  // destination ::1
  HookState st;
  st.host = &h;
  XtParams p;
  p.skb = &pkt;
  p.state = &st;
  EXPECT_TRUE(r.m->Matches(p));
  EXPECT_FALSE(unr.m->Matches(p));
  EXPECT_FALSE(mc.m->Matches(p));
  pkt.data[24] = 0x20;
  pkt.data[25] = 0x01;
  pkt.data[26] = 0x0d;
  pkt.data[27] = 0xb8;
  EXPECT_TRUE(unr.m->Matches(p));
  pkt.data[8] = 0xff;  // multicast source
  EXPECT_TRUE(mc.m->Matches(p));
}

TEST(AddrtypeMatch, KernelChecks) {
  EXPECT_THROW(Load("-m addrtype --dst-type LOCAL --limit-iface-out"),
               RestoreError);
  EXPECT_THROW(Load("-m addrtype --dst-type BROADCAST", Family::kIPv6),
               RestoreError);
  EXPECT_THROW(Load("-m addrtype --dst-type NAT", Family::kIPv6), RestoreError);
  auto r = Load("-m addrtype --src-type loc,U");
  EXPECT_NE(Save(*r.rs, false).find("--src-type UNSPEC,LOCAL\n"),
            std::string::npos);
}

}  // namespace
}  // namespace netfence::ext
