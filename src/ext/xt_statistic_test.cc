// nth and random modes of the statistic match.
#include <gtest/gtest.h>

#include "core/restore.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

struct Loaded {
  std::unique_ptr<Ruleset> rs;
  const Match* m = nullptr;
};

Loaded Load(const std::string& rule) {
  static const BuiltinResolver kResolver;
  RestoreOptions o{Family::kIPv4, &kResolver, "test"};
  Loaded r;
  r.rs = Restore("*filter\n-A INPUT " + rule + "\nCOMMIT\n", o);
  r.m = r.rs->FindTable("filter")
            ->FindChain("INPUT")
            ->rules[0]
            .matches.back()
            .match.get();
  return r;
}

// Dice returns the values it is given, as the engine's generator would.
class Dice : public PacketServices {
 public:
  uint32_t next = 0;
  void Log(const std::string&) override {}
  void SendLocal(Packet) override {}
  Verdict SetupNat(XtParams&, const NatRange&, NatManip) override {
    return Verdict::kAccept;
  }
  uint32_t Random() override { return next; }
};

bool Eval(const Match& m, PacketServices* svc = nullptr) {
  Packet pkt;
  XtParams p;
  p.skb = &pkt;
  p.svc = svc;
  return m.Matches(p);
}

TEST(StatisticMatch, EveryNth) {
  auto r = Load("-m statistic --mode nth --every 3 --packet 1");
  // The counter starts at every - packet, so the second packet is first.
  std::string seen;
  for (int i = 0; i < 7; ++i) seen += Eval(*r.m) ? '1' : '0';
  EXPECT_EQ(seen, "0100100");
  auto inv = Load("-m statistic --mode nth ! --every 2 --packet 0");
  seen.clear();
  for (int i = 0; i < 4; ++i) seen += Eval(*inv.m) ? '1' : '0';
  EXPECT_EQ(seen, "0101");
}

TEST(StatisticMatch, RandomUsesTheEngineGenerator) {
  auto r = Load("-m statistic --mode random --probability 0.25");
  Dice d;
  d.next = 0x1FFFFFFF;  // just below 0.25 * 2^31
  EXPECT_TRUE(Eval(*r.m, &d));
  d.next = 0x20000000;
  EXPECT_FALSE(Eval(*r.m, &d));
  d.next = 0x80000000u | 0x1000;  // the top bit is ignored
  EXPECT_TRUE(Eval(*r.m, &d));
  auto inv = Load("-m statistic --mode random ! --probability 0.25");
  EXPECT_FALSE(Eval(*inv.m, &d));
}

}  // namespace
}  // namespace netfence::ext
