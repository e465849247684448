// NETMAP target: prefix mapping by hook.
#include "ext/target_test_util.h"

namespace netfence::ext::target_test {
namespace {

TEST(NetmapTarget, MapsDestinationOrSourceByHook) {
  Runner r;
  Loaded pre = LoadRule(Family::kIPv4, "nat", "PREROUTING",
                        "-j NETMAP --to 192.168.1.0/24");
  Packet p = Tcp4("10.1.2.3", "10.0.0.77", 1, 80, 0x02);
  r.Run(*pre.target, p, Hook::kPrerouting);
  Loaded post = LoadRule(Family::kIPv4, "nat", "POSTROUTING",
                         "-j NETMAP --to 192.168.1.0/24");
  r.Run(*post.target, p, Hook::kPostrouting);
  ASSERT_EQ(r.svc.nat.size(), 2u);
  EXPECT_EQ(r.svc.nat[0].manip, NatManip::kDst);
  EXPECT_EQ(r.svc.nat[0].range.min_addr, A("192.168.1.77"));
  EXPECT_EQ(r.svc.nat[0].range.max_addr, A("192.168.1.77"));
  EXPECT_EQ(r.svc.nat[0].range.flags, unsigned(kNatMapIps));
  EXPECT_EQ(r.svc.nat[1].manip, NatManip::kSrc);
  EXPECT_EQ(r.svc.nat[1].range.min_addr, A("192.168.1.3"));
}

TEST(NetmapTarget, V6) {
  Runner r;
  Loaded l = LoadRule(Family::kIPv6, "nat", "INPUT",
                      "-j NETMAP --to 2001:db8:aaaa::/48");
  EXPECT_EQ(l.saved, "-A INPUT -j NETMAP --to 2001:db8:aaaa::/48");
  Packet p = Tcp6("fd00:1:2:3::4", "2001:db8::1", 1, 80, 0x02);
  r.Run(*l.target, p, Hook::kInput);
  ASSERT_EQ(r.svc.nat.size(), 1u);
  EXPECT_EQ(r.svc.nat[0].manip, NatManip::kSrc);
  EXPECT_EQ(r.svc.nat[0].range.min_addr, A("2001:db8:aaaa:3::4"));
}

TEST(NetmapTarget, SaveForms) {
  // Host bits are cleared; a non-contiguous mask prints in full.
  EXPECT_EQ(LoadRule(Family::kIPv4, "nat", "PREROUTING",
                     "-j NETMAP --to 1.2.3.4/255.0.255.0")
                .saved,
            "-A PREROUTING -j NETMAP --to 1.0.3.0/255.0.255.0");
  EXPECT_EQ(
      LoadRule(Family::kIPv4, "nat", "PREROUTING", "-j NETMAP --to 1.2.3.4/8")
          .saved,
      "-A PREROUTING -j NETMAP --to 1.0.0.0/8");
  EXPECT_EQ(Stage(Family::kIPv4, "nat", "PREROUTING", "-j NETMAP"), 2);
  EXPECT_EQ(
      Stage(Family::kIPv4, "mangle", "PREROUTING", "-j NETMAP --to 1.0.0.0/8"),
      1);
}

}  // namespace
}  // namespace netfence::ext::target_test
