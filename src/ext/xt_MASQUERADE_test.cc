// MASQUERADE target: the source address chosen on the way out.
#include "ext/target_test_util.h"

namespace netfence::ext::target_test {
namespace {

struct Rig {
  Runner r;
  Interface* in;
  Interface* out;
  Rig() {
    r.host.ifs.reserve(4);
    in = &r.host.AddIf("lan0");
    out = &r.host.AddIf("wan0");
  }
};

TEST(MasqueradeTarget, V4UsesRouteNexthop) {
  Loaded l = LoadRule(Family::kIPv4, "nat", "POSTROUTING",
                      "-p tcp -j MASQUERADE --to-ports 4000-5000 --random");
  EXPECT_EQ(
      l.saved,
      "-A POSTROUTING -p tcp -j MASQUERADE --to-ports 4000-5000 --random");
  Rig s;
  Route rt;
  rt.dev = s.out;
  rt.gateway = A("203.0.113.1");
  s.r.host.dflt = rt;
  s.r.host.sources["wan0"] = A("203.0.113.7");
  Conn ct;
  ct.tuple[kDirOriginal].src = A("10.0.0.1");
  Packet p = Tcp4("10.0.0.1", "198.51.100.9", 1, 2, 0x02);
  p.ct = &ct;
  p.ctinfo = CtInfo::kNew;
  EXPECT_EQ(s.r.Run(*l.target, p, Hook::kPostrouting, s.in, s.out),
            Verdict::kAccept);
  ASSERT_EQ(s.r.svc.nat.size(), 1u);
  const NatCall& c = s.r.svc.nat[0];
  EXPECT_EQ(c.manip, NatManip::kSrc);
  EXPECT_EQ(c.range.flags,
            unsigned(kNatMapIps | kNatProtoSpecified | kNatProtoRandom));
  EXPECT_EQ(c.range.min_addr, A("203.0.113.7"));
  EXPECT_EQ(c.range.max_addr, A("203.0.113.7"));
  EXPECT_EQ(c.range.min_proto, 4000);
  EXPECT_EQ(c.range.max_proto, 5000);
  // The source is selected towards the gateway, not the destination.
  EXPECT_EQ(s.r.host.calls.back(), "src wan0 203.0.113.1");
}

TEST(MasqueradeTarget, V4ZeroSourceAndNoAddress) {
  Loaded l = LoadRule(Family::kIPv4, "nat", "POSTROUTING", "-j MASQUERADE");
  Rig s;
  Conn ct;  // original source 0.0.0.0
  Packet p = Tcp4("0.0.0.0", "198.51.100.9", 1, 2, 0x02);
  p.ct = &ct;
  EXPECT_EQ(s.r.Run(*l.target, p, Hook::kPostrouting, nullptr, s.out),
            Verdict::kAccept);
  EXPECT_TRUE(s.r.svc.nat.empty());
  ct.tuple[kDirOriginal].src = A("10.0.0.1");
  // No address on the device: the kernel's "ate my IP address" drop.
  EXPECT_EQ(s.r.Run(*l.target, p, Hook::kPostrouting, s.in, s.out),
            Verdict::kDrop);
  EXPECT_TRUE(s.r.svc.nat.empty());
}

TEST(MasqueradeTarget, V6SelectsTowardsDestination) {
  Loaded l = LoadRule(Family::kIPv6, "nat", "POSTROUTING", "-j MASQUERADE");
  Rig s;
  s.r.host.sources["wan0"] = A("2001:db8:1::5");
  Conn ct;
  Packet p = Tcp6("fd00::1", "2001:db8:9::9", 1, 2, 0x02);
  p.ct = &ct;
  EXPECT_EQ(s.r.Run(*l.target, p, Hook::kPostrouting, s.in, s.out),
            Verdict::kAccept);
  ASSERT_EQ(s.r.svc.nat.size(), 1u);
  EXPECT_EQ(s.r.svc.nat[0].range.min_addr, A("2001:db8:1::5"));
  EXPECT_EQ(s.r.svc.nat[0].range.flags, unsigned(kNatMapIps));
  EXPECT_EQ(s.r.host.calls.back(), "src wan0 2001:db8:9::9");
}

TEST(MasqueradeTarget, Refusals) {
  const Family v4 = Family::kIPv4;
  EXPECT_EQ(Stage(v4, "nat", "OUTPUT", "-j MASQUERADE"), 1);
  EXPECT_EQ(Stage(v4, "nat", "INPUT", "-j MASQUERADE"), 1);
  EXPECT_EQ(Stage(v4, "nat", "POSTROUTING", "-j MASQUERADE --to-ports 1"), 2);
  EXPECT_EQ(
      Stage(v4, "nat", "POSTROUTING", "-p udp -j MASQUERADE --to-ports ssh"),
      0);
}

}  // namespace
}  // namespace netfence::ext::target_test
