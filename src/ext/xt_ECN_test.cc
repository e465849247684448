// ECN target: IP ECT codepoint and TCP ECE / CWR flags.
#include "ext/target_test_util.h"

namespace netfence::ext::target_test {
namespace {

TEST(EcnTarget, RemovesTcpEcnFlags) {
  Loaded l = LoadRule(Family::kIPv4, "mangle", "FORWARD",
                      "-p tcp -j ECN --ecn-tcp-remove");
  Runner r;
  Packet p = Tcp4("10.0.0.1", "10.0.0.2", 1, 2, 0xc2);  // SYN+ECE+CWR
  r.Run(*l.target, p, Hook::kForward);
  EXPECT_EQ(p.data[33], 0x02);
  EXPECT_TRUE(TcpChecksumOk(p, 20));
}

TEST(EcnTarget, SetsFlagsAndCodepoint) {
  Loaded l = LoadRule(Family::kIPv4, "mangle", "FORWARD",
                      "-p tcp -j ECN --ecn-tcp-ece 1 --ecn-ip-ect 2");
  EXPECT_EQ(l.saved, "-A FORWARD -p tcp -j ECN --ecn-tcp-ece 1 --ecn-ip-ect 2");
  Runner r;
  Packet p = Tcp4("10.0.0.1", "10.0.0.2", 1, 2, 0x10, {}, {}, 0xb9);
  r.Run(*l.target, p, Hook::kForward);
  EXPECT_EQ(p.data[33], 0x50);
  EXPECT_EQ(p.data[1], 0xba);
  EXPECT_TRUE(IpChecksumOk(p));
  EXPECT_TRUE(TcpChecksumOk(p, 20));
}

TEST(EcnTarget, TruncatedTcpIsDropped) {
  Loaded l = LoadRule(Family::kIPv4, "mangle", "FORWARD",
                      "-p tcp -j ECN --ecn-tcp-cwr 1");
  Runner r;
  Packet p = Tcp4("10.0.0.1", "10.0.0.2", 1, 2, 0x02);
  p.data.resize(30);
  EXPECT_EQ(r.Run(*l.target, p, Hook::kForward), Verdict::kDrop);
}

TEST(EcnTarget, Checks) {
  const Family v4 = Family::kIPv4;
  EXPECT_EQ(Stage(v4, "mangle", "INPUT", "-j ECN --ecn-tcp-cwr 1"), 1);
  EXPECT_EQ(Stage(v4, "mangle", "INPUT", "! -p tcp -j ECN --ecn-tcp-cwr 1"), 1);
  EXPECT_EQ(Stage(v4, "mangle", "INPUT", "-j ECN --ecn-ip-ect 3"), 0);
  EXPECT_EQ(Stage(v4, "mangle", "INPUT", "-j ECN --ecn-ip-ect 4"), 2);
  EXPECT_EQ(Stage(v4, "mangle", "INPUT",
                  "-p tcp -j ECN --ecn-tcp-remove --ecn-tcp-ece 1"),
            2);
  EXPECT_EQ(Stage(Family::kIPv6, "mangle", "INPUT", "-j ECN --ecn-ip-ect 1"),
            2);
}

}  // namespace
}  // namespace netfence::ext::target_test
