// REDIRECT target: the local address a connection is redirected to.
#include "ext/target_test_util.h"

namespace netfence::ext::target_test {
namespace {

IfAddr Addr4(const std::string& a, bool secondary = false) {
  IfAddr x;
  x.family = Family::kIPv4;
  x.local = x.peer = A(a);
  x.secondary = secondary;
  return x;
}
IfAddr Addr6(const std::string& a) {
  IfAddr x;
  x.family = Family::kIPv6;
  x.local = x.peer = A(a);
  return x;
}

TEST(RedirectTarget, V4FirstAddressOfInDevice) {
  Loaded l = LoadRule(Family::kIPv4, "nat", "PREROUTING",
                      "-p tcp -j REDIRECT --to-ports 3128");
  Runner r;
  Interface& in = r.host.AddIf("lan0");
  in.addrs = {Addr6("fe80::1"), Addr4("192.168.1.1"),
              Addr4("192.168.1.2", true)};
  Packet p = Tcp4("192.168.1.50", "93.184.216.34", 1, 80, 0x02);
  r.Run(*l.target, p, Hook::kPrerouting, &in);
  ASSERT_EQ(r.svc.nat.size(), 1u);
  const NatCall& c = r.svc.nat[0];
  EXPECT_EQ(c.manip, NatManip::kDst);
  EXPECT_EQ(c.range.min_addr, A("192.168.1.1"));
  EXPECT_EQ(c.range.flags, unsigned(kNatMapIps | kNatProtoSpecified));
  EXPECT_EQ(c.range.min_proto, 3128);
  EXPECT_EQ(c.range.max_proto, 3128);
}

TEST(RedirectTarget, LocalPacketsGoToLoopback) {
  Loaded v4 = LoadRule(Family::kIPv4, "nat", "OUTPUT", "-j REDIRECT");
  Runner r;
  Packet p = Tcp4("10.0.0.1", "10.0.0.2", 1, 80, 0x02);
  r.Run(*v4.target, p, Hook::kOutput);
  ASSERT_EQ(r.svc.nat.size(), 1u);
  EXPECT_EQ(r.svc.nat[0].range.min_addr, A("127.0.0.1"));
  EXPECT_EQ(r.svc.nat[0].range.flags, unsigned(kNatMapIps));
  Loaded v6 = LoadRule(Family::kIPv6, "nat", "OUTPUT", "-j REDIRECT");
  Packet q = Tcp6("2001:db8::1", "2001:db8::2", 1, 80, 0x02);
  r.Run(*v6.target, q, Hook::kOutput);
  ASSERT_EQ(r.svc.nat.size(), 2u);
  EXPECT_EQ(r.svc.nat[1].range.min_addr, A("::1"));
}

TEST(RedirectTarget, V6AddressInDestinationScope) {
  Loaded l = LoadRule(Family::kIPv6, "nat", "PREROUTING", "-j REDIRECT");
  Runner r;
  Interface& in = r.host.AddIf("lan0");
  in.addrs = {Addr6("2001:db8::1"), Addr6("fe80::1")};
  Packet global = Tcp6("2001:db8::9", "2001:db8::2", 1, 80, 0x02);
  r.Run(*l.target, global, Hook::kPrerouting, &in);
  Packet link = Tcp6("fe80::9", "fe80::2", 1, 80, 0x02);
  r.Run(*l.target, link, Hook::kPrerouting, &in);
  ASSERT_EQ(r.svc.nat.size(), 2u);
  EXPECT_EQ(r.svc.nat[0].range.min_addr, A("2001:db8::1"));
  EXPECT_EQ(r.svc.nat[1].range.min_addr, A("fe80::1"));
}

TEST(RedirectTarget, V6SkipsTentativeAddresses) {
  Loaded l = LoadRule(Family::kIPv6, "nat", "PREROUTING", "-j REDIRECT");
  Runner r;
  Interface& in = r.host.AddIf("lan0");
  in.addrs = {Addr6("2001:db8::1"), Addr6("2001:db8::2"), Addr6("2001:db8::3")};
  in.addrs[0].flags = kIfaTentative;
  in.addrs[1].flags = kIfaTentative | kIfaOptimistic;
  Packet p = Tcp6("2001:db8::9", "2001:db8::7", 1, 80, 0x02);
  r.Run(*l.target, p, Hook::kPrerouting, &in);
  ASSERT_EQ(r.svc.nat.size(), 1u);
  EXPECT_EQ(r.svc.nat[0].range.min_addr, A("2001:db8::2"));
}

TEST(RedirectTarget, NoAddressDrops) {
  Loaded l = LoadRule(Family::kIPv4, "nat", "PREROUTING", "-j REDIRECT");
  Runner r;
  Interface& in = r.host.AddIf("lan0");
  Packet p = Tcp4("10.0.0.1", "10.0.0.2", 1, 80, 0x02);
  EXPECT_EQ(r.Run(*l.target, p, Hook::kPrerouting, &in), Verdict::kDrop);
  EXPECT_TRUE(r.svc.nat.empty());
}

TEST(RedirectTarget, Refusals) {
  const Family v6 = Family::kIPv6;
  EXPECT_EQ(Stage(v6, "nat", "POSTROUTING", "-j REDIRECT"), 1);
  EXPECT_EQ(
      Stage(v6, "nat", "PREROUTING", "-p tcp -j REDIRECT --to-ports 1-2/3"), 2);
  EXPECT_EQ(Stage(v6, "nat", "PREROUTING", "-p tcp -j REDIRECT --to-ports 80"),
            0);
}

}  // namespace
}  // namespace netfence::ext::target_test
