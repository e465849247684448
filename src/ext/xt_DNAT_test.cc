// DNAT target: ranges with port offsets, save forms, engine requests.
#include "ext/target_test_util.h"

namespace netfence::ext::target_test {
namespace {

TEST(DnatTarget, PortMapWithBase) {
  Loaded l = LoadRule(Family::kIPv4, "nat", "PREROUTING",
                      "-p tcp -j DNAT --to-destination 10.9.9.9:1000-2000/ssh");
  EXPECT_EQ(l.saved,
            "-A PREROUTING -p tcp -j DNAT --to-destination "
            "10.9.9.9:1000-2000/22");
  Runner r;
  Packet p = Tcp4("10.0.0.1", "10.0.0.2", 1, 2, 0x02);
  r.Run(*l.target, p, Hook::kPrerouting);
  ASSERT_EQ(r.svc.nat.size(), 1u);
  const NatCall& c = r.svc.nat[0];
  EXPECT_EQ(c.manip, NatManip::kDst);
  EXPECT_EQ(c.range.flags,
            unsigned(kNatMapIps | kNatProtoSpecified | kNatProtoOffset));
  EXPECT_EQ(c.range.min_addr, A("10.9.9.9"));
  EXPECT_EQ(c.range.max_addr, A("10.9.9.9"));
  EXPECT_EQ(c.range.base_proto, 22);
}

TEST(DnatTarget, PortOnly) {
  // ":port" alone maps the port and keeps the address.
  Loaded l = LoadRule(Family::kIPv6, "nat", "OUTPUT",
                      "-p tcp -j DNAT --to-destination []:8080");
  EXPECT_EQ(l.saved, "-A OUTPUT -p tcp -j DNAT --to-destination :8080");
  Runner r;
  Packet p = Tcp6("2001:db8::1", "2001:db8::2", 1, 80, 0x02);
  r.Run(*l.target, p, Hook::kOutput);
  ASSERT_EQ(r.svc.nat.size(), 1u);
  EXPECT_EQ(r.svc.nat[0].range.flags, unsigned(kNatProtoSpecified));
  EXPECT_EQ(r.svc.nat[0].range.min_proto, 8080);
}

TEST(DnatTarget, Refusals) {
  const Family v4 = Family::kIPv4;
  EXPECT_EQ(Stage(v4, "nat", "POSTROUTING", "-j DNAT --to-destination 1.1.1.1"),
            1);
  EXPECT_EQ(Stage(v4, "nat", "OUTPUT", "-j DNAT --to-destination 1.1.1.1"), 0);
  EXPECT_EQ(Stage(v4, "nat", "PREROUTING",
                  "-j DNAT --to-destination 1.1.1.1 --random-fully"),
            2);
  EXPECT_EQ(Stage(v4, "nat", "PREROUTING",
                  "-p tcp -j DNAT --to-destination 1.1.1.1:80x"),
            2);
}

}  // namespace
}  // namespace netfence::ext::target_test
