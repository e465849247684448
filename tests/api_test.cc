// The embedding API: verdicts, NAT across hooks, concurrency, atomic swap.
#include <gtest/gtest.h>

#include <netfence/firewall.h>

#include <atomic>
#include <thread>

#include "core/hook_engine.h"
#include "core/resolver.h"
#include "core/restore.h"

namespace netfence {
namespace {

std::vector<uint8_t> Udp(std::array<uint8_t, 4> src, std::array<uint8_t, 4> dst,
                         uint16_t sport, uint16_t dport) {
  std::vector<uint8_t> p(28, 0);
  p[0] = 0x45;
  p[3] = 28;
  p[8] = 64;
  p[9] = 17;
  std::copy(src.begin(), src.end(), p.begin() + 12);
  std::copy(dst.begin(), dst.end(), p.begin() + 16);
  uint32_t s = 0;
  for (int i = 0; i < 20; i += 2) s += uint32_t(p[i] << 8 | p[i + 1]);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  p[10] = uint8_t(~s >> 8);
  p[11] = uint8_t(~s);
  p[20] = uint8_t(sport >> 8);
  p[21] = uint8_t(sport);
  p[22] = uint8_t(dport >> 8);
  p[23] = uint8_t(dport);
  p[25] = 8;  // UDP length; checksum 0 (none)
  return p;
}

TEST(Firewall, EmptyAcceptsEverything) {
  Firewall fw;
  PacketContext p(Family::kIPv4, Udp({1, 1, 1, 1}, {2, 2, 2, 2}, 1, 2));
  HookVerdict v = fw.Check(Hook::kInput, p, "eth0", "");
  EXPECT_TRUE(v.accept);
  EXPECT_EQ(p.ConntrackState(), "");
}

TEST(Firewall, LoadErrorKeepsOldRules) {
  Firewall fw;
  ASSERT_FALSE(fw.Load(Family::kIPv4,
                       "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n"
                       ":OUTPUT ACCEPT [0:0]\nCOMMIT\n"));
  auto err = fw.Load(Family::kIPv4, "*filter\n-A INPUT --bogus\nCOMMIT\n", "x.rules");
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("x.rules:2:"), std::string::npos) << *err;
  PacketContext p(Family::kIPv4, Udp({1, 1, 1, 1}, {2, 2, 2, 2}, 1, 2));
  HookVerdict v = fw.Check(Hook::kInput, p, "eth0", "");
  EXPECT_FALSE(v.accept);
  EXPECT_EQ(v.where, "filter/INPUT/policy");
}

TEST(Firewall, DnatRewritesBothDirectionsAndReportsOriginalDestination) {
  Firewall fw;
  ASSERT_FALSE(fw.Load(Family::kIPv4,
                       "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n"
                       ":OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
                       "-A PREROUTING -p udp --dport 53 -j DNAT --to-destination "
                       "10.0.0.53:5353\nCOMMIT\n"));
  PacketContext q(Family::kIPv4, Udp({192, 0, 2, 1}, {198, 51, 100, 1}, 4000, 53));
  ASSERT_TRUE(fw.Check(Hook::kPrerouting, q, "eth0", "").accept);
  EXPECT_EQ(q.Bytes()[16], 10);
  EXPECT_EQ(q.Bytes()[19], 53);
  EXPECT_EQ(q.Bytes()[22] << 8 | q.Bytes()[23], 5353);
  ASSERT_TRUE(fw.Check(Hook::kForward, q, "eth0", "eth1").accept);
  ASSERT_TRUE(fw.Check(Hook::kPostrouting, q, "", "eth1").accept);
  EXPECT_EQ(q.ConntrackState(), "new");
  auto od = fw.OriginalDestinationOf(q);
  ASSERT_TRUE(od);
  EXPECT_EQ(od->addr[0], 198);
  EXPECT_EQ(od->port, 53);

  PacketContext r(Family::kIPv4, Udp({10, 0, 0, 53}, {192, 0, 2, 1}, 5353, 4000));
  ASSERT_TRUE(fw.Check(Hook::kPrerouting, r, "eth1", "").accept);
  ASSERT_TRUE(fw.Check(Hook::kPostrouting, r, "", "eth0").accept);
  EXPECT_EQ(r.ConntrackState(), "established");
  EXPECT_EQ(r.Bytes()[12], 198);  // source restored to the original target
  EXPECT_EQ(r.Bytes()[20] << 8 | r.Bytes()[21], 53);
}

// Readers never see half a ruleset and no counter increment is lost: every
// packet is counted by exactly one of the rulesets that were in place.
TEST(HookEngine, AtomicSwapLosesNoCounters) {
  core::BuiltinResolver res;
  auto load = [&] {
    core::RestoreOptions o{core::Family::kIPv4, &res, "t"};
    return core::Restore("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n"
                         ":OUTPUT ACCEPT [0:0]\n-A INPUT -p udp\nCOMMIT\n", o);
  };
  core::HookEngine engine;
  engine.SetRules(core::Family::kIPv4, load());
  struct NoSink : core::HookSink {
    void Log(const std::string&) override {}
    void SendLocal(core::Packet) override {}
  };
  constexpr int kThreads = 4, kPackets = 2000;
  std::atomic<bool> go{false};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&] {
      NoSink sink;
      while (!go) std::this_thread::yield();
      for (int i = 0; i < kPackets; ++i) {
        core::Packet p;
        p.data = Udp({1, 1, 1, 1}, {2, 2, 2, 2}, 1, 2);
        engine.Run(core::Hook::kInput, p, nullptr, nullptr, nullptr, 0, sink);
      }
    });
  }
  go = true;
  std::vector<std::shared_ptr<const core::FamilyTables>> old;
  for (int i = 0; i < 20; ++i) old.push_back(engine.SetRules(core::Family::kIPv4, load()));
  for (auto& t : ts) t.join();
  old.push_back(engine.Rules(core::Family::kIPv4));
  uint64_t total = 0;
  for (auto& ft : old) {
    auto* t = const_cast<core::TableRuntime*>(ft->Find("filter"));
    t->FoldCounters();
    total += t->table().chains[0].rules[0].counters.pkts;
  }
  EXPECT_EQ(total, uint64_t(kThreads) * kPackets);
}

}  // namespace
}  // namespace netfence
