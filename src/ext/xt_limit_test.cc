// Token bucket of the limit match, in jiffies at HZ=250.
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

bool At(const Match& m, double now) {
  Packet pkt;
  pkt.data.assign(20, 0);
  HookState st;
  st.now = now;
  XtParams p;
  p.skb = &pkt;
  p.state = &st;
  return m.Matches(p);
}

TEST(LimitMatch, BurstThenRefill) {
  auto r = Load("-m limit --limit 1/sec --limit-burst 2");
  EXPECT_TRUE(At(*r.m, 0));
  EXPECT_TRUE(At(*r.m, 0));
  EXPECT_FALSE(At(*r.m, 0));
  // 249 jiffies give 249/250 of a token: not enough.
  EXPECT_FALSE(At(*r.m, 0.996));
  EXPECT_TRUE(At(*r.m, 1.0));
  EXPECT_FALSE(At(*r.m, 1.0));
  // Idle time refills up to the burst, not beyond.
  EXPECT_TRUE(At(*r.m, 100));
  EXPECT_TRUE(At(*r.m, 100));
  EXPECT_FALSE(At(*r.m, 100));
}

TEST(LimitMatch, SlowRates) {
  auto r = Load("-m limit --limit 3/hour --limit-burst 1");
  EXPECT_TRUE(At(*r.m, 0));
  EXPECT_FALSE(At(*r.m, 1199));
  EXPECT_TRUE(At(*r.m, 1200));
}

TEST(LimitMatch, KernelOverflowCheck) {
  // 1/day times the default burst of 5 wraps the kernel's 32-bit product.
  try {
    Load("-m limit --limit 1/day");
    FAIL() << "accepted";
  } catch (const RestoreError& e) {
    EXPECT_TRUE(e.at_commit) << e.what();
  }
  EXPECT_NO_THROW(Load("-m limit --limit 1/day --limit-burst 1"));
  EXPECT_NO_THROW(Load("-m limit --limit 1000/day"));
}

TEST(LimitMatch, SaveForms) {
  auto r = Load("-m limit --limit 25/minute --limit-burst 5");
  EXPECT_NE(Save(*r.rs, false).find("-m limit --limit 25/min\n"),
            std::string::npos);
  auto d = Load("-m limit");
  EXPECT_NE(Save(*d.rs, false).find("-m limit --limit 3/hour\n"),
            std::string::npos);
  EXPECT_THROW(Load("-m limit --limit 0/sec"), RestoreError);
  EXPECT_THROW(Load("-m limit --limit 20000/sec"), RestoreError);
}

}  // namespace
}  // namespace netfence::ext
