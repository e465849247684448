// NFQUEUE target: no queue listener in the simulation.
#include "ext/target_test_util.h"

namespace netfence::ext::target_test {
namespace {

Verdict Apply(const std::string& rule) {
  Loaded l = LoadRule(Family::kIPv4, "filter", "FORWARD", "-j NFQUEUE " + rule);
  Runner r;
  Packet p = Tcp4("10.0.0.1", "10.0.0.2", 1, 2, 0x02);
  return r.Run(*l.target, p, Hook::kForward);
}

TEST(NfqueueTarget, DropsWithoutListenerUnlessBypass) {
  EXPECT_EQ(Apply("--queue-num 3"), Verdict::kDrop);
  EXPECT_EQ(Apply("--queue-balance 2:5"), Verdict::kDrop);
  EXPECT_EQ(Apply("--queue-num 3 --queue-bypass"), Verdict::kAccept);
  EXPECT_EQ(Apply("--queue-balance 2:5 --queue-cpu-fanout --queue-bypass"),
            Verdict::kAccept);
}

TEST(NfqueueTarget, RangesAndChecks) {
  const Family v6 = Family::kIPv6;
  EXPECT_EQ(
      LoadRule(v6, "mangle", "OUTPUT", "-j NFQUEUE --queue-balance :9").saved,
      "-A OUTPUT -j NFQUEUE --queue-balance 0:9");
  EXPECT_EQ(Stage(v6, "mangle", "OUTPUT", "-j NFQUEUE --queue-balance 1:65535"),
            0);
  // 65536 queues wrap the 16-bit count to 0, which the kernel refuses.
  EXPECT_EQ(Stage(v6, "mangle", "OUTPUT", "-j NFQUEUE --queue-balance 0:65535"),
            1);
  EXPECT_EQ(Stage(v6, "mangle", "OUTPUT", "-j NFQUEUE --queue-cpu-fanout"), 2);
  EXPECT_EQ(Stage(v6, "mangle", "OUTPUT",
                  "-j NFQUEUE --queue-num 1 --queue-balance 1:2"),
            2);
}

}  // namespace
}  // namespace netfence::ext::target_test
