// TPROXY target: no sockets in the simulation, so the kernel's drop.
#include "ext/target_test_util.h"

namespace netfence::ext::target_test {
namespace {

TEST(TproxyTarget, NoSocketDrops) {
  Loaded l = LoadRule(Family::kIPv4, "mangle", "PREROUTING",
                      "-p tcp -j TPROXY --on-port 3129 --tproxy-mark 0x1/0x1");
  EXPECT_EQ(l.saved,
            "-A PREROUTING -p tcp -j TPROXY --on-port 3129 --on-ip 0.0.0.0 "
            "--tproxy-mark 0x1/0x1");
  Runner r;
  Packet p = Tcp4("10.0.0.1", "10.0.0.2", 1000, 80, 0x02);
  p.mark = 0x10;
  EXPECT_EQ(r.Run(*l.target, p, Hook::kPrerouting), Verdict::kDrop);
  EXPECT_EQ(p.mark, 0x10u);  // marked only when a socket takes it
}

TEST(TproxyTarget, Checks) {
  const Family v4 = Family::kIPv4, v6 = Family::kIPv6;
  EXPECT_EQ(Stage(v6, "mangle", "PREROUTING", "-p udp -j TPROXY --on-port 1"),
            0);
  EXPECT_EQ(Stage(v4, "mangle", "PREROUTING", "-p icmp -j TPROXY --on-port 1"),
            1);
  EXPECT_EQ(Stage(v4, "mangle", "PREROUTING", "! -p tcp -j TPROXY --on-port 1"),
            1);
  EXPECT_EQ(Stage(v4, "mangle", "INPUT", "-p tcp -j TPROXY --on-port 1"), 1);
  EXPECT_EQ(Stage(v4, "mangle", "PREROUTING", "-p tcp -j TPROXY"), 2);
  EXPECT_EQ(LoadRule(v6, "mangle", "PREROUTING",
                     "-p tcp -j TPROXY --on-port http --on-ip 2001:db8::1")
                .saved,
            "-A PREROUTING -p tcp -j TPROXY --on-port 80 --on-ip 2001:db8::1 "
            "--tproxy-mark 0x0/0x0");
}

}  // namespace
}  // namespace netfence::ext::target_test
