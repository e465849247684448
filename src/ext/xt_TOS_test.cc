// TOS target: TOS / traffic class rewriting and the IPv4 checksum update.
#include "ext/mangle_util.h"
#include "ext/target_test_util.h"

namespace netfence::ext::target_test {
namespace {

TEST(TosTarget, V4KeepsUnmaskedBits) {
  Loaded l = LoadRule(Family::kIPv4, "mangle", "OUTPUT",
                      "-j TOS --set-tos Minimize-Delay");
  EXPECT_EQ(l.saved, "-A OUTPUT -j TOS --set-tos 0x10/0x3f");
  Runner r;
  Packet p = Tcp4("10.0.0.1", "10.0.0.2", 1, 2, 0x02, {}, {}, 0xcb);
  r.Run(*l.target, p, Hook::kOutput);
  EXPECT_EQ(p.data[1], 0xd0);  // 0xcb & ~0x3f ^ 0x10
  EXPECT_TRUE(IpChecksumOk(p));
}

TEST(TosTarget, V4AndOrXor) {
  auto apply = [](const std::string& opt, uint8_t tos) {
    Loaded l = LoadRule(Family::kIPv4, "mangle", "OUTPUT", "-j TOS " + opt);
    Runner r;
    Packet p = Tcp4("10.0.0.1", "10.0.0.2", 1, 2, 0x02, {}, {}, tos);
    r.Run(*l.target, p, Hook::kOutput);
    EXPECT_TRUE(IpChecksumOk(p));
    return p.data[1];
  };
  EXPECT_EQ(apply("--and-tos 0x0f", 0xff), 0x0f);
  EXPECT_EQ(apply("--or-tos 0x80", 0x01), 0x81);
  EXPECT_EQ(apply("--xor-tos 0x03", 0x01), 0x02);
  EXPECT_EQ(apply("--set-tos 0x28", 0x01), 0x28);
}

TEST(TosTarget, KernelChecksumArithmetic) {
  // ipv4_change_dsfield's own carry handling, pinned on a header whose
  // checksum field wraps: check 0xffff, TOS 0 -> 0x10 gives 0xffef.
  uint8_t h[20] = {0x45, 0x00};
  h[10] = 0xff;
  h[11] = 0xff;
  ChangeDsfieldV4(h, 0, 0x10);
  EXPECT_EQ(h[1], 0x10);
  EXPECT_EQ(Load16(h + 10), 0xffef);
  h[10] = 0x12;
  h[11] = 0x34;
  h[1] = 0;
  ChangeDsfieldV4(h, 0, 0x10);
  EXPECT_EQ(Load16(h + 10), 0x1224);
}

TEST(TosTarget, V6TrafficClass) {
  Loaded l = LoadRule(Family::kIPv6, "mangle", "FORWARD",
                      "-j TOS --set-tos 0xb8/0xfc");
  Runner r;
  Packet p = Tcp6("2001:db8::1", "2001:db8::2", 1, 2, 0x02, {}, 0x03);
  r.Run(*l.target, p, Hook::kForward);
  EXPECT_EQ(Load32(p.data.data()), 0x6bb12345u);  // flow label kept
}

TEST(TosTarget, Refusals) {
  EXPECT_EQ(Stage(Family::kIPv4, "filter", "INPUT", "-j TOS --set-tos 1"), 1);
  EXPECT_EQ(Stage(Family::kIPv4, "mangle", "INPUT", "-j TOS --set-tos bogus"),
            2);
  EXPECT_EQ(
      Stage(Family::kIPv4, "mangle", "INPUT", "-j TOS --and-tos 1 --or-tos 2"),
      2);
}

}  // namespace
}  // namespace netfence::ext::target_test
