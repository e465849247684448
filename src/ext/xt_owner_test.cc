// Socket owner tests of the owner match.
#include <gtest/gtest.h>

#include "core/restore.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

struct Loaded {
  std::unique_ptr<Ruleset> rs;
  const Match* m = nullptr;
};

Loaded Load(const std::string& rule, const std::string& chain = "OUTPUT") {
  static const BuiltinResolver kResolver;
  RestoreOptions o{Family::kIPv4, &kResolver, "test"};
  Loaded r;
  r.rs = Restore("*filter\n-A " + chain + " " + rule + "\nCOMMIT\n", o);
  r.m = r.rs->FindTable("filter")
            ->FindChain(chain)
            ->rules[0]
            .matches.back()
            .match.get();
  return r;
}

bool Eval(const Match& m, std::optional<SockOwner> sk) {
  Packet pkt;
  pkt.sk = std::move(sk);
  XtParams p;
  p.skb = &pkt;
  return m.Matches(p);
}

TEST(OwnerMatch, UidRange) {
  auto r = Load("-m owner --uid-owner 1000-1999");
  EXPECT_TRUE(Eval(*r.m, SockOwner{1500, 0, {}}));
  EXPECT_FALSE(Eval(*r.m, SockOwner{2000, 0, {}}));
  EXPECT_FALSE(Eval(*r.m, std::nullopt));  // no socket
  auto inv = Load("-m owner ! --uid-owner root");
  EXPECT_FALSE(Eval(*inv.m, SockOwner{0, 0, {}}));
  EXPECT_TRUE(Eval(*inv.m, SockOwner{33, 0, {}}));
  // Without a socket only fully inverted tests match.
  EXPECT_TRUE(Eval(*inv.m, std::nullopt));
}

TEST(OwnerMatch, SupplementaryGroups) {
  auto plain = Load("-m owner --gid-owner 100");
  auto suppl = Load("-m owner --gid-owner 100 --suppl-groups");
  SockOwner sk{1000, 1000, {27, 100}};
  EXPECT_FALSE(Eval(*plain.m, sk));
  EXPECT_TRUE(Eval(*suppl.m, sk));
}

TEST(OwnerMatch, SocketExists) {
  auto r = Load("-m owner --socket-exists");
  auto inv = Load("-m owner ! --socket-exists");
  EXPECT_TRUE(Eval(*r.m, SockOwner{}));
  EXPECT_FALSE(Eval(*r.m, std::nullopt));
  EXPECT_FALSE(Eval(*inv.m, SockOwner{}));
  EXPECT_TRUE(Eval(*inv.m, std::nullopt));
}

TEST(OwnerMatch, OnlyLocallyGeneratedHooks) {
  EXPECT_THROW(Load("-m owner --uid-owner 0", "INPUT"), RestoreError);
  EXPECT_THROW(Load("-m owner --uid-owner 10-5"), RestoreError);  // kernel
  EXPECT_THROW(Load("-m owner --uid-owner nosuchuser"), RestoreError);
}

}  // namespace
}  // namespace netfence::ext
