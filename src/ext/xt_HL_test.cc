// HL target: IPv6 hop limit set / increment / decrement.
#include "ext/target_test_util.h"

namespace netfence::ext::target_test {
namespace {

uint8_t Apply(const std::string& opt, uint8_t hl) {
  Loaded l = LoadRule(Family::kIPv6, "mangle", "FORWARD", "-j HL " + opt);
  Runner r;
  Packet p = Tcp6("2001:db8::1", "2001:db8::2", 1, 2, 0x02, {}, 0, hl);
  EXPECT_EQ(r.Run(*l.target, p, Hook::kForward), Verdict::kContinue);
  EXPECT_TRUE(TcpChecksumOk(p, 40));
  return p.data[7];
}

TEST(HlTarget, Modes) {
  EXPECT_EQ(Apply("--hl-set 1", 64), 1);
  EXPECT_EQ(Apply("--hl-inc 100", 200), 255);
  EXPECT_EQ(Apply("--hl-dec 100", 64), 0);
  EXPECT_EQ(Apply("--hl-dec 4", 64), 60);
}

TEST(HlTarget, Checks) {
  EXPECT_EQ(
      LoadRule(Family::kIPv6, "mangle", "INPUT", "-j HL --hl-inc 3").saved,
      "-A INPUT -j HL --hl-inc 3");
  EXPECT_EQ(Stage(Family::kIPv6, "raw", "OUTPUT", "-j HL --hl-set 1"), 1);
  EXPECT_EQ(Stage(Family::kIPv4, "mangle", "INPUT", "-j HL --hl-set 1"), 2);
}

}  // namespace
}  // namespace netfence::ext::target_test
