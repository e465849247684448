// Buckets, shared tables and garbage collection of the hashlimit match.
#include <gtest/gtest.h>

#include "core/restore.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

struct Loaded {
  std::unique_ptr<Ruleset> rs;
  std::vector<const Match*> m;  // the last match of each rule
};

Loaded Load(const std::vector<std::string>& rules) {
  static const BuiltinResolver kResolver;
  RestoreOptions o{Family::kIPv4, &kResolver, "test"};
  std::string text = "*filter\n";
  for (const auto& r : rules) text += "-A INPUT " + r + "\n";
  Loaded l;
  l.rs = Restore(text + "COMMIT\n", o);
  for (const Rule& r : l.rs->FindTable("filter")->FindChain("INPUT")->rules)
    l.m.push_back(r.matches.back().match.get());
  return l;
}

// Udp4 is a UDP packet from src:sport to 10.0.0.1:dport.
Packet Udp4(uint32_t src, uint16_t sport = 1000, uint16_t dport = 53) {
  Packet p;
  p.data.assign(28, 0);
  p.data[0] = 0x45;
  p.data[9] = 17;
  Store32(&p.data[12], src);
  Store32(&p.data[16], 0x0a000001);
  Store16(&p.data[20], sport);
  Store16(&p.data[22], dport);
  return p;
}

bool At(const Match& m, Packet pkt, double now, bool* hotdrop = nullptr) {
  HookState st;
  st.now = now;
  XtParams p;
  p.skb = &pkt;
  p.state = &st;
  p.thoff = 20;
  p.l4proto = 17;
  bool r = m.Matches(p);
  if (hotdrop) *hotdrop = p.hotdrop;
  return r;
}

TEST(HashlimitMatch, OneBucketPerSource) {
  auto l =
      Load({"-m hashlimit --hashlimit-upto 1/sec --hashlimit-burst 2 "
            "--hashlimit-mode srcip --hashlimit-name t"});
  const Match& m = *l.m[0];
  EXPECT_TRUE(At(m, Udp4(0x01020304), 0));
  EXPECT_TRUE(At(m, Udp4(0x01020304), 0));
  EXPECT_FALSE(At(m, Udp4(0x01020304), 0));
  EXPECT_TRUE(At(m, Udp4(0x05060708), 0));  // its own bucket
  EXPECT_FALSE(At(m, Udp4(0x01020304), 0.5));
  EXPECT_TRUE(At(m, Udp4(0x01020304), 1.0));
}

TEST(HashlimitMatch, AboveInvertsAndMasksGroup) {
  auto l =
      Load({"-m hashlimit --hashlimit-above 1/min --hashlimit-burst 1 "
            "--hashlimit-mode srcip --hashlimit-srcmask 24 "
            "--hashlimit-name a"});
  const Match& m = *l.m[0];
  EXPECT_FALSE(At(m, Udp4(0x01020304), 0));  // under the limit
  EXPECT_TRUE(At(m, Udp4(0x010203fe), 1));   // same /24: over it
  EXPECT_FALSE(At(m, Udp4(0x01020404), 1));  // another /24
}

TEST(HashlimitMatch, RulesShareATableByName) {
  auto l =
      Load({"-m hashlimit --hashlimit-upto 1/hour --hashlimit-burst 1 "
            "--hashlimit-name shared",
            "-m hashlimit --hashlimit-upto 1/hour --hashlimit-burst 1 "
            "--hashlimit-name shared",
            "-m hashlimit --hashlimit-upto 1/hour --hashlimit-burst 1 "
            "--hashlimit-name other"});
  EXPECT_TRUE(At(*l.m[0], Udp4(1), 0));
  EXPECT_FALSE(At(*l.m[1], Udp4(1), 0));  // the same (mode-less) bucket
  EXPECT_TRUE(At(*l.m[2], Udp4(1), 0));
}

TEST(HashlimitMatch, IdleBucketsExpire) {
  auto l =
      Load({"-m hashlimit --hashlimit-upto 1/hour --hashlimit-burst 1 "
            "--hashlimit-mode srcip --hashlimit-name e "
            "--hashlimit-htable-expire 2000"});
  const Match& m = *l.m[0];
  EXPECT_TRUE(At(m, Udp4(1), 0));
  EXPECT_FALSE(At(m, Udp4(1), 1.5));  // seen again: expiry moves on
  // 2 s idle and a collector run (every second) forget the bucket, which
  // comes back full.
  EXPECT_TRUE(At(m, Udp4(1), 4.0));
}

TEST(HashlimitMatch, FullTableDropsNewFlows) {
  auto l =
      Load({"-m hashlimit --hashlimit-upto 100/sec --hashlimit-mode "
            "srcip --hashlimit-name f --hashlimit-htable-size 1 "
            "--hashlimit-htable-max 2"});
  const Match& m = *l.m[0];
  bool hd = false;
  EXPECT_TRUE(At(m, Udp4(1), 0, &hd));
  EXPECT_TRUE(At(m, Udp4(2), 0, &hd));
  EXPECT_FALSE(At(m, Udp4(3), 0, &hd));
  EXPECT_TRUE(hd);
}

TEST(HashlimitMatch, PortsAndBytes) {
  auto l =
      Load({"-m hashlimit --hashlimit-upto 1/hour --hashlimit-burst 1 "
            "--hashlimit-mode dstport --hashlimit-name p",
            "-m hashlimit --hashlimit-upto 1kb/s --hashlimit-burst 2kb "
            "--hashlimit-name b"});
  EXPECT_TRUE(At(*l.m[0], Udp4(1, 1, 53), 0));
  EXPECT_FALSE(At(*l.m[0], Udp4(2, 2, 53), 0));
  EXPECT_TRUE(At(*l.m[0], Udp4(1, 1, 54), 0));
  // 28-byte packets against 1 KiB/s with a 2 KiB burst.
  int passed = 0;
  for (int i = 0; i < 200; ++i) passed += At(*l.m[1], Udp4(1), 0);
  EXPECT_GT(passed, 30);
  EXPECT_LT(passed, 200);
}

TEST(HashlimitMatch, KernelChecks) {
  EXPECT_THROW(Load({"-m hashlimit --hashlimit-upto 1/sec "
                     "--hashlimit-name a/b"}),
               RestoreError);
  EXPECT_THROW(Load({"-m hashlimit --hashlimit-upto 1/sec --hashlimit-name a "
                     "--hashlimit-htable-gcinterval 0"}),
               RestoreError);
  auto l =
      Load({"-m hashlimit --hashlimit-upto 1/sec --hashlimit-name big "
            "--hashlimit-htable-size 2000000"});
  EXPECT_NE(Save(*l.rs, false).find("--hashlimit-htable-size 1048576"),
            std::string::npos);
}

}  // namespace
}  // namespace netfence::ext
