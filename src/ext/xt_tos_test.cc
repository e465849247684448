// Packet logic of the tos match.
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

TEST(TosMatch, ValueUnderMask) {
  auto sym = Load(Family::kIPv4, "-m tos --tos Minimize-Delay");
  auto exact = Load(Family::kIPv4, "-m tos ! --tos 0x10");
  Packet p = V4();
  p.data[1] = 0x10 | 0xc0;  // precedence bits are outside the 0x3f mask
  EXPECT_TRUE(Eval(*sym.m, p));
  EXPECT_TRUE(Eval(*exact.m, p));
  p.data[1] = 0x10;
  EXPECT_FALSE(Eval(*exact.m, p));
}

TEST(TosMatch, Ipv6TrafficClass) {
  auto r = Load(Family::kIPv6, "-m tos --tos 0xb8/0xfc");
  Packet p = V6();
  p.data[0] = 0x6b;  // traffic class 0xb8 spans the first two bytes
  p.data[1] = 0x80;
  EXPECT_TRUE(Eval(*r.m, p));
  p.data[1] = 0x00;
  EXPECT_FALSE(Eval(*r.m, p));
}

}  // namespace
}  // namespace netfence::ext
