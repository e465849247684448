// CHECKSUM target: nothing to fill in the simulation.
#include "ext/target_test_util.h"

namespace netfence::ext::target_test {
namespace {

TEST(ChecksumTarget, LeavesCompletePacketsAlone) {
  Loaded l = LoadRule(Family::kIPv4, "mangle", "POSTROUTING",
                      "-p udp -j CHECKSUM --checksum-fill");
  EXPECT_EQ(l.saved, "-A POSTROUTING -p udp -j CHECKSUM --checksum-fill");
  Runner r;
  Packet p = Tcp4("10.0.0.1", "10.0.0.2", 1, 2, 0x02);
  const auto before = p.data;
  EXPECT_EQ(r.Run(*l.target, p, Hook::kPostrouting), Verdict::kContinue);
  EXPECT_EQ(p.data, before);
}

TEST(ChecksumTarget, Checks) {
  EXPECT_EQ(Stage(Family::kIPv6, "mangle", "OUTPUT", "-j CHECKSUM"), 2);
  EXPECT_EQ(
      Stage(Family::kIPv6, "mangle", "OUTPUT", "-j CHECKSUM --checksum-fill"),
      0);
  EXPECT_EQ(
      Stage(Family::kIPv4, "filter", "OUTPUT", "-j CHECKSUM --checksum-fill"),
      1);
}

}  // namespace
}  // namespace netfence::ext::target_test
