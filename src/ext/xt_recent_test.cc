// Lists, hit counts and time windows of the recent match.
#include <gtest/gtest.h>

#include "core/restore.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

struct Loaded {
  std::unique_ptr<Ruleset> rs;
  std::vector<const Match*> m;
};

Loaded Load(const std::vector<std::string>& rules, Family f = Family::kIPv4) {
  static const BuiltinResolver kResolver;
  RestoreOptions o{f, &kResolver, "test"};
  std::string text = "*filter\n";
  for (const auto& r : rules) text += "-A INPUT " + r + "\n";
  Loaded l;
  l.rs = Restore(text + "COMMIT\n", o);
  for (const Rule& r : l.rs->FindTable("filter")->FindChain("INPUT")->rules)
    l.m.push_back(r.matches.back().match.get());
  return l;
}

Packet From(uint32_t src, uint8_t ttl = 64) {
  Packet p;
  p.data.assign(20, 0);
  p.data[0] = 0x45;
  p.data[8] = ttl;
  Store32(&p.data[12], src);
  Store32(&p.data[16], 0x0a000001);
  return p;
}

bool At(const Match& m, Packet pkt, double now) {
  HookState st;
  st.now = now;
  XtParams p;
  p.skb = &pkt;
  p.state = &st;
  return m.Matches(p);
}

TEST(RecentMatch, SetThenCheckWithinSeconds) {
  auto l = Load({"-m recent --set --name ssh",
                 "-m recent --rcheck --seconds 60 --hitcount 2 --name ssh"});
  const Match& set = *l.m[0];
  const Match& check = *l.m[1];
  EXPECT_FALSE(At(check, From(1), 0));  // unknown address
  EXPECT_TRUE(At(set, From(1), 0));     // --set always matches
  EXPECT_FALSE(At(check, From(1), 1));  // one hit
  EXPECT_TRUE(At(set, From(1), 30));
  EXPECT_TRUE(At(check, From(1), 31));   // two hits in 60 s
  EXPECT_FALSE(At(check, From(1), 61));  // the first one aged out
  EXPECT_FALSE(At(check, From(2), 31));
}

TEST(RecentMatch, UpdateRefreshesOnlyWhenMatching) {
  auto l = Load(
      {"-m recent --set --name u", "-m recent --update --seconds 10 --name u"});
  EXPECT_TRUE(At(*l.m[0], From(1), 0));
  EXPECT_TRUE(At(*l.m[1], From(1), 9));    // refreshed at 9
  EXPECT_TRUE(At(*l.m[1], From(1), 18));   // within 10 s of 9
  EXPECT_FALSE(At(*l.m[1], From(1), 40));  // stale: not refreshed
  EXPECT_FALSE(At(*l.m[1], From(1), 41));
}

TEST(RecentMatch, RemoveInvertAndRdest) {
  auto l = Load({"-m recent --set --name r --rdest",
                 "-m recent ! --rcheck --name r --rdest",
                 "-m recent --remove --name r --rdest"});
  EXPECT_TRUE(At(*l.m[1], From(1), 0));  // destination not listed yet
  EXPECT_TRUE(At(*l.m[0], From(1), 0));  // lists 10.0.0.1
  EXPECT_FALSE(At(*l.m[1], From(2), 0));
  EXPECT_TRUE(At(*l.m[2], From(3), 1));
  EXPECT_FALSE(At(*l.m[2], From(3), 1));  // already removed
  EXPECT_TRUE(At(*l.m[1], From(1), 2));
}

TEST(RecentMatch, TtlMustMatchWithRttl) {
  auto l =
      Load({"-m recent --set --name t", "-m recent --rcheck --rttl --name t"});
  EXPECT_TRUE(At(*l.m[0], From(1, 64), 0));
  EXPECT_TRUE(At(*l.m[1], From(1, 64), 0));
  EXPECT_FALSE(At(*l.m[1], From(1, 63), 0));
}

TEST(RecentMatch, KernelChecks) {
  EXPECT_THROW(Load({"-m recent --set --seconds 5"}), RestoreError);
  EXPECT_THROW(Load({"-m recent --rcheck --hitcount 65536"}), RestoreError);
  EXPECT_THROW(Load({"-m recent --rcheck --name .."}), RestoreError);
  EXPECT_NO_THROW(Load({"-m recent --rcheck --hitcount 65535"}));
}

}  // namespace
}  // namespace netfence::ext
