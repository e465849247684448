// The policy match without IPsec state.
#include <gtest/gtest.h>

#include "core/restore.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

struct Loaded {
  std::unique_ptr<Ruleset> rs;
  const Match* m = nullptr;
};

Loaded Load(const std::string& rule, const std::string& chain = "INPUT",
            Family f = Family::kIPv4) {
  static const BuiltinResolver kResolver;
  RestoreOptions o{f, &kResolver, "test"};
  Loaded r;
  r.rs = Restore("*filter\n-A " + chain + " " + rule + "\nCOMMIT\n", o);
  r.m = r.rs->FindTable("filter")
            ->FindChain(chain)
            ->rules[0]
            .matches.back()
            .match.get();
  return r;
}

bool Eval(const Match& m) {
  Packet pkt;
  XtParams p;
  p.skb = &pkt;
  return m.Matches(p);
}

TEST(PolicyMatch, NoPolicyOnAnyPacket) {
  EXPECT_TRUE(Eval(*Load("-m policy --dir in --pol none").m));
  EXPECT_FALSE(Eval(*Load("-m policy --dir in --pol ipsec").m));
  EXPECT_FALSE(
      Eval(*Load("-m policy --dir out --pol ipsec --proto esp", "OUTPUT").m));
  EXPECT_TRUE(Eval(*Load("-m policy --dir out --pol none", "FORWARD").m));
}

TEST(PolicyMatch, DirectionMustFitTheHook) {
  EXPECT_THROW(Load("-m policy --dir out --pol none", "INPUT"), RestoreError);
  EXPECT_THROW(Load("-m policy --dir in --pol none", "OUTPUT"), RestoreError);
}

TEST(PolicyMatch, SavesElements) {
  auto r = Load(
      "-m policy --dir in --pol ipsec --strict --mode tunnel --tunnel-src "
      "10.1.0.0/16 ! --spi 256 --next --proto ah",
      "FORWARD");
  EXPECT_NE(
      Save(*r.rs, false)
          .find("-m policy --dir in --pol ipsec --strict ! --spi 0x100 --mode "
                "tunnel --tunnel-src 10.1.0.0/16 --next --proto ah\n"),
      std::string::npos)
      << Save(*r.rs, false);
}

}  // namespace
}  // namespace netfence::ext
