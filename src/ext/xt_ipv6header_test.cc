// Packet logic of the ipv6header match.
#include <gtest/gtest.h>

#include "core/restore.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

// Rule1 holds a one-rule ruleset and the rule's last match.
struct Rule1 {
  std::unique_ptr<Ruleset> rs;
  const Match* m = nullptr;
};

[[maybe_unused]] Rule1 Load(Family f, const std::string& rule,
                            const std::string& chain = "INPUT") {
  static const BuiltinResolver kResolver;
  RestoreOptions o{f, &kResolver, "test"};
  Rule1 r;
  r.rs = Restore("*filter\n-A " + chain + " " + rule + "\nCOMMIT\n", o);
  r.m = r.rs->FindTable("filter")
            ->FindChain(chain)
            ->rules[0]
            .matches.back()
            .match.get();
  return r;
}

// Refused reports whether a rule fails to load.
[[maybe_unused]] bool Refused(Family f, const std::string& rule) {
  try {
    Load(f, rule);
  } catch (const RestoreError&) {
    return true;
  }
  return false;
}

// V4 and V6 are bare headers (version, addresses zero) of len bytes.
[[maybe_unused]] Packet V4(size_t len = 20, uint8_t proto = 0) {
  Packet p;
  p.family = Family::kIPv4;
  p.data.assign(len, 0);
  p.data[0] = 0x45;
  p.data[9] = proto;
  return p;
}
[[maybe_unused]] Packet V6(size_t len = 40, uint8_t nexthdr = 59) {
  Packet p;
  p.family = Family::kIPv6;
  p.data.assign(len, 0);
  p.data[0] = 0x60;
  p.data[6] = nexthdr;
  return p;
}

// Eval runs the match on a packet; thoff and fragoff as the engine sets.
[[maybe_unused]] bool Eval(const Match& m, Packet& pkt, unsigned thoff = 0,
                           bool* hotdrop = nullptr, int fragoff = 0,
                           uint8_t l4proto = 0,
                           const HookState* state = nullptr) {
  XtParams p;
  p.skb = &pkt;
  p.state = state;
  p.thoff = thoff;
  p.fragoff = fragoff;
  p.l4proto = l4proto;
  bool r = m.Matches(p);
  if (hotdrop) *hotdrop = p.hotdrop;
  return r;
}

// HopThenUdp is IPv6 + Hop-by-Hop (8 bytes) + UDP.
Packet HopThenUdp() {
  Packet p = V6(56, 0);
  p.data[40] = 17;
  return p;
}

TEST(Ipv6headerMatch, HardMode) {
  auto exact = Load(Family::kIPv6, "-m ipv6header --header hop,prot");
  auto hop = Load(Family::kIPv6, "-m ipv6header --header hop");
  auto inv = Load(Family::kIPv6, "-m ipv6header ! --header hop");
  Packet p = HopThenUdp();
  EXPECT_TRUE(Eval(*exact.m, p));
  EXPECT_FALSE(Eval(*hop.m, p));
  EXPECT_TRUE(Eval(*inv.m, p));
}

TEST(Ipv6headerMatch, SoftModeAndNone) {
  auto soft = Load(Family::kIPv6, "-m ipv6header --header hop --soft");
  auto soft_inv = Load(Family::kIPv6, "-m ipv6header ! --header frag --soft");
  auto none = Load(Family::kIPv6, "-m ipv6header --header none");
  Packet p = HopThenUdp();
  EXPECT_TRUE(Eval(*soft.m, p));
  EXPECT_TRUE(Eval(*soft_inv.m, p));
  Packet empty = V6(40, 59);
  EXPECT_TRUE(Eval(*none.m, empty));
  EXPECT_FALSE(Eval(*soft.m, empty));
}

TEST(Ipv6headerMatch, ShortHeaderNeverMatches) {
  auto inv = Load(Family::kIPv6, "-m ipv6header ! --header hop");
  Packet p = V6(41, 0);
  EXPECT_FALSE(Eval(*inv.m, p));
  EXPECT_TRUE(Refused(Family::kIPv6, "-m ipv6header --header tcp"));
}

TEST(Ipv6headerMatch, SavesProtocolNames) {
  auto r = Load(Family::kIPv6, "-m ipv6header --header 60,auth,route");
  EXPECT_NE(Save(*r.rs, false).find("--header ipv6-opts,ipv6-route,ah"),
            std::string::npos);
}

}  // namespace
}  // namespace netfence::ext
