// DSCP target: code point rewriting, ECN bits kept.
#include "ext/target_test_util.h"

namespace netfence::ext::target_test {
namespace {

TEST(DscpTarget, V4KeepsEcn) {
  Loaded l = LoadRule(Family::kIPv4, "mangle", "POSTROUTING",
                      "-j DSCP --set-dscp-class ef");
  EXPECT_EQ(l.saved, "-A POSTROUTING -j DSCP --set-dscp 0x2e");
  Runner r;
  Packet p = Tcp4("10.0.0.1", "10.0.0.2", 1, 2, 0x02, {}, {}, 0x01);
  r.Run(*l.target, p, Hook::kPostrouting);
  EXPECT_EQ(p.data[1], 0xb9);
  EXPECT_TRUE(IpChecksumOk(p));
  // Already the wanted code point: untouched.
  const auto before = p.data;
  r.Run(*l.target, p, Hook::kPostrouting);
  EXPECT_EQ(p.data, before);
}

TEST(DscpTarget, V6) {
  Loaded l = LoadRule(Family::kIPv6, "mangle", "POSTROUTING",
                      "-j DSCP --set-dscp 0x0a");
  Runner r;
  Packet p = Tcp6("2001:db8::1", "2001:db8::2", 1, 2, 0x02, {}, 0xfe);
  r.Run(*l.target, p, Hook::kPostrouting);
  EXPECT_EQ(Load32(p.data.data()), 0x62a12345u);
}

TEST(DscpTarget, ClassNames) {
  // Only the class name's length is compared, ignoring case.
  EXPECT_EQ(LoadRule(Family::kIPv4, "mangle", "INPUT",
                     "-j DSCP --set-dscp-class af41x")
                .saved,
            "-A INPUT -j DSCP --set-dscp 0x22");
  EXPECT_EQ(
      Stage(Family::kIPv4, "mangle", "INPUT", "-j DSCP --set-dscp-class AF1"),
      2);
  EXPECT_EQ(Stage(Family::kIPv4, "nat", "OUTPUT", "-j DSCP --set-dscp 1"), 1);
}

}  // namespace
}  // namespace netfence::ext::target_test
