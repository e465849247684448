// MARK target: option reduction to mark/mask, save form, packet mark.
#include "ext/target_test_util.h"

namespace netfence::ext::target_test {
namespace {

uint32_t Apply(const std::string& rule, uint32_t mark) {
  Loaded l = LoadRule(Family::kIPv4, "mangle", "PREROUTING", "-j MARK " + rule);
  Runner r;
  Packet p = Tcp4("10.0.0.1", "10.0.0.2", 1, 2, 0x02);
  p.mark = mark;
  EXPECT_EQ(r.Run(*l.target, p, Hook::kPrerouting), Verdict::kContinue);
  return p.mark;
}

TEST(MarkTarget, Operations) {
  EXPECT_EQ(Apply("--set-xmark 0x12/0xf0", 0xff00), 0xff12u);
  EXPECT_EQ(Apply("--set-mark 0x1/0xf", 0xffff), 0xfff1u);
  EXPECT_EQ(Apply("--set-mark 0x5", 0xffff), 0x5u);
  EXPECT_EQ(Apply("--and-mark 0x0f", 0xff), 0x0fu);
  EXPECT_EQ(Apply("--or-mark 0x100", 0x1), 0x101u);
  EXPECT_EQ(Apply("--xor-mark 0x3", 0x1), 0x2u);
}

TEST(MarkTarget, SavesAsXmark) {
  auto save = [](const std::string& opts) {
    return LoadRule(Family::kIPv6, "filter", "INPUT", "-j MARK " + opts).saved;
  };
  EXPECT_EQ(save("--set-mark 0x1/0xf"), "-A INPUT -j MARK --set-xmark 0x1/0xf");
  EXPECT_EQ(save("--and-mark 0xf"),
            "-A INPUT -j MARK --set-xmark 0x0/0xfffffff0");
  EXPECT_EQ(save("--or-mark 7"), "-A INPUT -j MARK --set-xmark 0x7/0x7");
  EXPECT_EQ(save("--xor-mark 7"), "-A INPUT -j MARK --set-xmark 0x7/0x0");
}

TEST(MarkTarget, Refusals) {
  EXPECT_EQ(Stage(Family::kIPv4, "mangle", "INPUT", "-j MARK"), 2);
  EXPECT_EQ(Stage(Family::kIPv4, "mangle", "INPUT",
                  "-j MARK --set-mark 1 --and-mark 2"),
            2);
  EXPECT_EQ(Stage(Family::kIPv4, "mangle", "INPUT",
                  "-j MARK --set-xmark 1 --set-xmark 2"),
            2);
  EXPECT_EQ(Stage(Family::kIPv4, "raw", "OUTPUT", "-j MARK --set-mark 1"), 0);
}

}  // namespace
}  // namespace netfence::ext::target_test
