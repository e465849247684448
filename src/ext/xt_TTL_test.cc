// TTL target: set / increment / decrement with checksum update.
#include "ext/target_test_util.h"

namespace netfence::ext::target_test {
namespace {

uint8_t Apply(const std::string& opt, uint8_t ttl) {
  Loaded l = LoadRule(Family::kIPv4, "mangle", "PREROUTING", "-j TTL " + opt);
  Runner r;
  Packet p = Tcp4("10.0.0.1", "10.0.0.2", 1, 2, 0x02, {}, {}, 0, ttl);
  EXPECT_EQ(r.Run(*l.target, p, Hook::kPrerouting), Verdict::kContinue);
  EXPECT_TRUE(IpChecksumOk(p));
  return p.data[8];
}

TEST(TtlTarget, Modes) {
  EXPECT_EQ(Apply("--ttl-set 7", 64), 7);
  EXPECT_EQ(Apply("--ttl-inc 10", 250), 255);
  EXPECT_EQ(Apply("--ttl-inc 10", 64), 74);
  EXPECT_EQ(Apply("--ttl-dec 10", 5), 0);
  EXPECT_EQ(Apply("--ttl-dec 1", 64), 63);
}

TEST(TtlTarget, SaveAndChecks) {
  EXPECT_EQ(
      LoadRule(Family::kIPv4, "mangle", "INPUT", "-j TTL --ttl-dec 2").saved,
      "-A INPUT -j TTL --ttl-dec 2");
  EXPECT_EQ(Stage(Family::kIPv4, "filter", "INPUT", "-j TTL --ttl-set 1"), 1);
  EXPECT_EQ(Stage(Family::kIPv4, "mangle", "INPUT", "-j TTL"), 2);
}

}  // namespace
}  // namespace netfence::ext::target_test
