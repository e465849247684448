// CONNMARK target: set / save / restore with masks and shifts.
#include "ext/target_test_util.h"

namespace netfence::ext::target_test {
namespace {

struct Result {
  uint32_t pkt, conn;
};

Result Apply(const std::string& rule, uint32_t pkt_mark, uint32_t ct_mark) {
  Loaded l =
      LoadRule(Family::kIPv4, "mangle", "PREROUTING", "-j CONNMARK " + rule);
  Runner r;
  Conn ct;
  ct.mark = ct_mark;
  Packet p = Tcp4("10.0.0.1", "10.0.0.2", 1, 2, 0x02);
  p.mark = pkt_mark;
  p.ct = &ct;
  p.ctinfo = CtInfo::kNew;
  EXPECT_EQ(r.Run(*l.target, p, Hook::kPrerouting), Verdict::kContinue);
  return {p.mark, ct.mark.load()};
}

TEST(ConnmarkTarget, SetSaveRestore) {
  Result s = Apply("--set-xmark 0x3/0xf", 0, 0xf5);
  EXPECT_EQ(s.conn, 0xf3u);
  EXPECT_EQ(s.pkt, 0u);
  s = Apply("--save-mark --nfmask 0xff --ctmask 0xf0", 0x1234, 0xabcd);
  EXPECT_EQ(s.conn, (0xabcdu & ~0xf0u) ^ 0x34u);
  s = Apply("--restore-mark --mask 0xff", 0x1200, 0xabcd);
  EXPECT_EQ(s.pkt, 0x12cdu);
  EXPECT_EQ(s.conn, 0xabcdu);
}

TEST(ConnmarkTarget, Shifts) {
  // Save: the packet bits are shifted before they are merged.
  Result s = Apply("--save-mark --mask 0xff --left-shift-mark 8", 0x12, 0);
  EXPECT_EQ(s.conn, 0x1200u);
  s = Apply(
      "--restore-mark --ctmask 0xff00 --nfmask 0xff "
      "--right-shift-mark 8",
      0xab00, 0x3400);
  EXPECT_EQ(s.pkt, 0xab34u);
  // Set: the whole new mark is shifted.
  s = Apply("--set-xmark 0x1/0xffffffff --left-shift-mark 4", 0, 0);
  EXPECT_EQ(s.conn, 0x10u);
}

TEST(ConnmarkTarget, UntrackedPacketIsLeftAlone) {
  Loaded l = LoadRule(Family::kIPv4, "mangle", "PREROUTING",
                      "-j CONNMARK --restore-mark");
  Runner r;
  Packet p = Tcp4("10.0.0.1", "10.0.0.2", 1, 2, 0x02);
  p.mark = 7;
  p.ctinfo = CtInfo::kUntracked;
  EXPECT_EQ(r.Run(*l.target, p, Hook::kPrerouting), Verdict::kContinue);
  EXPECT_EQ(p.mark, 7u);
}

TEST(ConnmarkTarget, Save) {
  auto save = [](const std::string& opts) {
    return LoadRule(Family::kIPv4, "mangle", "FORWARD", "-j CONNMARK " + opts)
        .saved;
  };
  EXPECT_EQ(save("--set-mark 0x1/0xf"),
            "-A FORWARD -j CONNMARK --set-xmark 0x1/0xf");
  EXPECT_EQ(save("--save-mark --mask 0xff --right-shift-mark 3"),
            "-A FORWARD -j CONNMARK --save-mark --nfmask 0xff --ctmask 0xff "
            "--right-shift-mark 3");
  // --ctmask after --set-xmark overrides the mask it set.
  EXPECT_EQ(save("--set-xmark 0x1/0x2 --ctmask 0x5"),
            "-A FORWARD -j CONNMARK --set-xmark 0x1/0x5");
}

TEST(ConnmarkTarget, Refusals) {
  const Family f = Family::kIPv4;
  EXPECT_EQ(Stage(f, "mangle", "INPUT", "-j CONNMARK --mask 1"), 2);
  EXPECT_EQ(Stage(f, "mangle", "INPUT",
                  "-j CONNMARK --save-mark --mask 1 --ctmask 2"),
            2);
  EXPECT_EQ(
      Stage(f, "mangle", "INPUT", "-j CONNMARK --save-mark --restore-mark"), 2);
  EXPECT_EQ(Stage(f, "mangle", "INPUT",
                  "-j CONNMARK --save-mark --left-shift-mark 33"),
            2);
}

}  // namespace
}  // namespace netfence::ext::target_test
