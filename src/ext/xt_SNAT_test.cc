// SNAT target: parsed ranges, save forms, the mapping asked of the engine.
#include "ext/target_test_util.h"

namespace netfence::ext::target_test {
namespace {

TEST(SnatTarget, RangeHandedToEngine) {
  Loaded l = LoadRule(Family::kIPv4, "nat", "POSTROUTING",
                      "-p tcp -j SNAT --to-source 1.2.3.4-1.2.3.10:1000-2000 "
                      "--random --persistent");
  Runner r;
  Packet p = Tcp4("10.0.0.1", "10.0.0.2", 1, 2, 0x02);
  r.svc.nat_verdict = Verdict::kAccept;
  EXPECT_EQ(r.Run(*l.target, p, Hook::kPostrouting), Verdict::kAccept);
  ASSERT_EQ(r.svc.nat.size(), 1u);
  const NatCall& c = r.svc.nat[0];
  EXPECT_EQ(c.manip, NatManip::kSrc);
  EXPECT_EQ(c.range.flags, unsigned(kNatMapIps | kNatProtoSpecified |
                                    kNatProtoRandom | kNatPersistent));
  EXPECT_EQ(c.range.min_addr, A("1.2.3.4"));
  EXPECT_EQ(c.range.max_addr, A("1.2.3.10"));
  EXPECT_EQ(c.range.min_proto, 1000);
  EXPECT_EQ(c.range.max_proto, 2000);
}

TEST(SnatTarget, NeedsTheEngine) {
  Loaded l = LoadRule(Family::kIPv4, "nat", "POSTROUTING",
                      "-j SNAT --to-source 1.2.3.4");
  Packet p = Tcp4("10.0.0.1", "10.0.0.2", 1, 2, 0x02);
  XtParams xp;
  xp.skb = &p;
  EXPECT_THROW(l.target->Run(xp), std::logic_error);
}

TEST(SnatTarget, V6AndSaveForms) {
  Loaded l =
      LoadRule(Family::kIPv6, "nat", "INPUT",
               "-p udp -j SNAT --to-source [2001:db8::1-2001:db8::9]:53");
  EXPECT_EQ(l.saved,
            "-A INPUT -p udp -j SNAT --to-source "
            "[2001:db8::1-2001:db8::9]:53");
  Runner r;
  Packet p = Tcp6("2001:db8::2", "2001:db8::3", 1, 2, 0x02);
  r.Run(*l.target, p, Hook::kInput);
  ASSERT_EQ(r.svc.nat.size(), 1u);
  EXPECT_EQ(r.svc.nat[0].range.max_addr, A("2001:db8::9"));
  // A port base has no place in SNAT's kernel structure: flag only.
  EXPECT_EQ(LoadRule(Family::kIPv4, "nat", "POSTROUTING",
                     "-p tcp -j SNAT --to-source 1.1.1.1:1000-2000/3000")
                .saved,
            "-A POSTROUTING -p tcp -j SNAT --to-source 1.1.1.1:1000-2000/0");
}

TEST(SnatTarget, Refusals) {
  const Family v4 = Family::kIPv4, v6 = Family::kIPv6;
  EXPECT_EQ(Stage(v4, "nat", "PREROUTING", "-j SNAT --to-source 1.1.1.1"), 1);
  EXPECT_EQ(Stage(v4, "filter", "INPUT", "-j SNAT --to-source 1.1.1.1"), 1);
  EXPECT_EQ(Stage(v4, "nat", "INPUT", "-j SNAT --to-source 1.1.1.1"), 0);
  // Ports need a protocol with ports, given before the target.
  EXPECT_EQ(
      Stage(v4, "nat", "POSTROUTING", "-j SNAT --to-source 1.1.1.1:80 -p tcp"),
      2);
  EXPECT_EQ(
      Stage(v4, "nat", "POSTROUTING", "-p icmp -j SNAT --to-source 1.1.1.1:80"),
      0);
  EXPECT_EQ(Stage(v6, "nat", "POSTROUTING",
                  "-p ipv6-icmp -j SNAT --to-source [::1]:80"),
            2);
  EXPECT_EQ(Stage(v4, "nat", "POSTROUTING", "-j SNAT --to-source [1.1.1.1]"),
            2);
  EXPECT_EQ(Stage(v4, "nat", "POSTROUTING",
                  "-p tcp -j SNAT --to-source 1.1.1.1:80:90"),
            2);
  EXPECT_EQ(Stage(v4, "nat", "POSTROUTING",
                  "-p tcp -j SNAT --to-source 1.1.1.1:90-80"),
            2);
  EXPECT_EQ(Stage(v4, "nat", "POSTROUTING", "-j SNAT --to-source 1.1.1"), 2);
}

}  // namespace
}  // namespace netfence::ext::target_test
