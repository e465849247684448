// TCPMSS target: MSS rewriting and insertion, checksums, path MTU, kernel
// checks on the rule's matches.
#include "ext/target_test_util.h"

namespace netfence::ext::target_test {
namespace {

const std::string kSyn = "-p tcp -m tcp --tcp-flags SYN,RST SYN ";

Loaded Load(Family f, const std::string& opts,
            const std::string& chain = "FORWARD") {
  return LoadRule(f, "mangle", chain, kSyn + "-j TCPMSS " + opts);
}

const Bytes kMss1460 = {2, 4, 0x05, 0xb4};

TEST(TcpmssTarget, LowersExistingOption) {
  Loaded l = Load(Family::kIPv4, "--set-mss 1400");
  Runner r;
  Packet p = Tcp4("10.0.0.1", "10.0.0.2", 1000, 80, 0x02, kMss1460);
  EXPECT_EQ(r.Run(*l.target, p, Hook::kForward), Verdict::kContinue);
  EXPECT_EQ(Load16(p.data.data() + 42), 1400);
  EXPECT_TRUE(TcpChecksumOk(p, 20));
  EXPECT_EQ(p.data.size(), 44u);
}

TEST(TcpmssTarget, NeverRaises) {
  Loaded l = Load(Family::kIPv4, "--set-mss 1500");
  Runner r;
  Packet p = Tcp4("10.0.0.1", "10.0.0.2", 1000, 80, 0x02, kMss1460);
  const auto before = p.data;
  r.Run(*l.target, p, Hook::kForward);
  EXPECT_EQ(p.data, before);
}

TEST(TcpmssTarget, FindsOptionAfterOthers) {
  Loaded l = Load(Family::kIPv4, "--set-mss 1000");
  Runner r;
  // SACK-permitted, NOP, NOP, then MSS at an aligned offset.
  Packet p = Tcp4("10.0.0.1", "10.0.0.2", 1000, 80, 0x02,
                  {4, 2, 1, 1, 2, 4, 0x05, 0xb4});
  r.Run(*l.target, p, Hook::kForward);
  EXPECT_EQ(Load16(p.data.data() + 46), 1000);
  EXPECT_TRUE(TcpChecksumOk(p, 20));
}

TEST(TcpmssTarget, InsertsMissingOptionV4) {
  Loaded l = Load(Family::kIPv4, "--set-mss 1400");
  Runner r;
  Packet p = Tcp4("10.0.0.1", "10.0.0.2", 1000, 80, 0x02);
  r.Run(*l.target, p, Hook::kForward);
  ASSERT_EQ(p.data.size(), 44u);
  EXPECT_EQ(Load16(p.data.data() + 2), 44);  // total length
  EXPECT_EQ(p.data[32] >> 4, 6);             // data offset
  // Without an option the peer assumes 536: the new one never says more.
  EXPECT_EQ(Bytes(p.data.begin() + 40, p.data.end()),
            (Bytes{2, 4, 0x02, 0x18}));
  EXPECT_TRUE(IpChecksumOk(p));
  EXPECT_TRUE(TcpChecksumOk(p, 20));
}

TEST(TcpmssTarget, InsertsMissingOptionV6) {
  Loaded l = Load(Family::kIPv6, "--set-mss 1300");
  Runner r;
  Packet p = Tcp6("2001:db8::1", "2001:db8::2", 1000, 80, 0x02, {1, 1, 1, 0});
  r.Run(*l.target, p, Hook::kForward);
  ASSERT_EQ(p.data.size(), 68u);
  EXPECT_EQ(Load16(p.data.data() + 4), 28);  // payload length
  EXPECT_EQ(p.data[52] >> 4, 7);
  // The option goes first, the old options follow; capped at 1220.
  EXPECT_EQ(Bytes(p.data.begin() + 60, p.data.end()),
            (Bytes{2, 4, 0x04, 0xc4, 1, 1, 1, 0}));
  EXPECT_TRUE(TcpChecksumOk(p, 40));
}

TEST(TcpmssTarget, NoInsertWithPayload) {
  Loaded l = Load(Family::kIPv4, "--set-mss 1400");
  Runner r;
  Packet p = Tcp4("10.0.0.1", "10.0.0.2", 1000, 80, 0x02, {}, {1, 2, 3});
  const auto before = p.data;
  EXPECT_EQ(r.Run(*l.target, p, Hook::kForward), Verdict::kContinue);
  EXPECT_EQ(p.data, before);
}

TEST(TcpmssTarget, FragmentsAndTruncation) {
  Loaded l = Load(Family::kIPv4, "--set-mss 1400");
  Runner r;
  Packet p = Tcp4("10.0.0.1", "10.0.0.2", 1000, 80, 0x02, kMss1460);
  const auto before = p.data;
  EXPECT_EQ(r.Run(*l.target, p, Hook::kForward, nullptr, nullptr, 185),
            Verdict::kContinue);
  EXPECT_EQ(p.data, before);
  Packet cut = Tcp4("10.0.0.1", "10.0.0.2", 1000, 80, 0x02, kMss1460);
  cut.data.resize(30);
  EXPECT_EQ(r.Run(*l.target, cut, Hook::kForward), Verdict::kDrop);
}

TEST(TcpmssTarget, ClampToPathMtu) {
  Loaded l = Load(Family::kIPv4, "--clamp-mss-to-pmtu");
  Runner r;
  r.host.ifs.reserve(2);
  Interface& in = r.host.AddIf("lan0");
  Interface& out = r.host.AddIf("wan0", 1400);
  Route fwd;
  fwd.dev = &out;
  fwd.type = RouteType::kUnicast;
  r.host.dflt = fwd;  // both directions: the forward route is the smaller
  Packet p = Tcp4("10.0.0.1", "10.0.0.2", 1000, 80, 0x02, kMss1460);
  r.Run(*l.target, p, Hook::kForward, &in, &out);
  EXPECT_EQ(Load16(p.data.data() + 42), 1360);
  EXPECT_TRUE(TcpChecksumOk(p, 20));
  // The route back to the source can be the narrower one.
  Route back = fwd;
  back.mtu = 1280;
  r.host.routes["10.0.0.1"] = back;
  Packet q = Tcp4("10.0.0.1", "10.0.0.2", 1000, 80, 0x02, kMss1460);
  r.Run(*l.target, q, Hook::kForward, &in, &out);
  EXPECT_EQ(Load16(q.data.data() + 42), 1240);
  // An MTU that leaves no room drops the packet.
  back.mtu = 40;
  r.host.routes["10.0.0.1"] = back;
  Packet z = Tcp4("10.0.0.1", "10.0.0.2", 1000, 80, 0x02, kMss1460);
  EXPECT_EQ(r.Run(*l.target, z, Hook::kForward, &in, &out), Verdict::kDrop);
}

TEST(TcpmssTarget, KernelChecks) {
  const Family v4 = Family::kIPv4, v6 = Family::kIPv6;
  EXPECT_EQ(Stage(v4, "mangle", "FORWARD", "-p tcp -j TCPMSS --set-mss 1"), 1);
  EXPECT_EQ(Stage(v4, "mangle", "FORWARD", "-j TCPMSS --set-mss 1"), 1);
  EXPECT_EQ(Stage(v4, "mangle", "FORWARD",
                  "-p tcp -m tcp ! --syn -j TCPMSS --set-mss 1"),
            1);
  EXPECT_EQ(Stage(v4, "mangle", "FORWARD",
                  "-p tcp -m tcp --syn -j TCPMSS --set-mss 1"),
            0);
  EXPECT_EQ(Stage(v6, "mangle", "POSTROUTING",
                  "-p tcp --tcp-flags SYN,ACK SYN,ACK -j TCPMSS "
                  "--clamp-mss-to-pmtu"),
            0);
  EXPECT_EQ(Stage(v4, "mangle", "PREROUTING",
                  "-p tcp --syn -j TCPMSS --clamp-mss-to-pmtu"),
            1);
  EXPECT_EQ(Stage(v4, "mangle", "PREROUTING",
                  "-p tcp --syn -j TCPMSS --set-mss 1000"),
            0);
  EXPECT_EQ(
      Stage(v4, "mangle", "FORWARD", "-p tcp --syn -j TCPMSS --set-mss 65516"),
      2);
  EXPECT_EQ(
      Stage(v6, "mangle", "FORWARD", "-p tcp --syn -j TCPMSS --set-mss 65496"),
      2);
}

TEST(TcpmssTarget, LastOptionWins) {
  EXPECT_EQ(Load(Family::kIPv4, "--set-mss 100 --clamp-mss-to-pmtu").saved,
            "-A FORWARD " +
                std::string("-p tcp -m tcp --tcp-flags SYN,RST SYN") +
                " -j TCPMSS --clamp-mss-to-pmtu");
  EXPECT_EQ(Load(Family::kIPv4, "--clamp-mss-to-pmtu --set-mss 100").saved,
            "-A FORWARD -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS "
            "--set-mss 100");
}

}  // namespace
}  // namespace netfence::ext::target_test
