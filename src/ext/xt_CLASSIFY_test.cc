// CLASSIFY target: skb priority.
#include "ext/target_test_util.h"

namespace netfence::ext::target_test {
namespace {

TEST(ClassifyTarget, SetsPriority) {
  Loaded l = LoadRule(Family::kIPv4, "mangle", "POSTROUTING",
                      "-j CLASSIFY --set-class 1:10");
  EXPECT_EQ(l.saved, "-A POSTROUTING -j CLASSIFY --set-class 0001:0010");
  Runner r;
  Packet p = Tcp4("10.0.0.1", "10.0.0.2", 1, 2, 0x02);
  EXPECT_EQ(r.Run(*l.target, p, Hook::kPostrouting), Verdict::kContinue);
  EXPECT_EQ(p.priority, 0x00010010u);
}

TEST(ClassifyTarget, ParsingAndHooks) {
  const Family v6 = Family::kIPv6;
  // sscanf reads the two numbers and ignores the rest.
  EXPECT_EQ(LoadRule(v6, "filter", "OUTPUT",
                     "-j CLASSIFY --set-class "
                     "0x12345:ffff:9")
                .saved,
            "-A OUTPUT -j CLASSIFY --set-class 2345:ffff");
  EXPECT_EQ(Stage(v6, "filter", "OUTPUT", "-j CLASSIFY --set-class 12"), 2);
  EXPECT_EQ(Stage(v6, "mangle", "PREROUTING", "-j CLASSIFY --set-class 1:1"),
            1);
  EXPECT_EQ(Stage(v6, "filter", "INPUT", "-j CLASSIFY --set-class 1:1"), 1);
}

}  // namespace
}  // namespace netfence::ext::target_test
