// Packet logic of the iprange match.
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

TEST(IprangeMatch, SourceRangeV4) {
  auto r = Load(Family::kIPv4, "-m iprange --src-range 10.0.0.5-10.0.1.4");
  auto inv = Load(Family::kIPv4, "-m iprange ! --src-range 10.0.0.5-10.0.1.4");
  Packet p = V4();
  p.data[12] = 10;
  p.data[14] = 0;
  p.data[15] = 200;
  EXPECT_TRUE(Eval(*r.m, p));
  EXPECT_FALSE(Eval(*inv.m, p));
  p.data[15] = 4;
  EXPECT_FALSE(Eval(*r.m, p));
  EXPECT_TRUE(Eval(*inv.m, p));
  p.data[14] = 1;
  EXPECT_TRUE(Eval(*r.m, p));
  p.data[15] = 5;
  EXPECT_FALSE(Eval(*r.m, p));
}

TEST(IprangeMatch, BothRangesV6) {
  auto r = Load(Family::kIPv6,
                "-m iprange --src-range 2001:db8::1-2001:db8::10 "
                "--dst-range ::1");
  Packet p = V6();
  p.data[8] = 0x20;
  p.data[9] = 0x01;
  p.data[10] = 0x0d;
  p.data[11] = 0xb8;
  p.data[23] = 0x10;
  p.data[39] = 1;
  EXPECT_TRUE(Eval(*r.m, p));
  p.data[39] = 2;
  EXPECT_FALSE(Eval(*r.m, p));
  p.data[39] = 1;
  p.data[22] = 1;
  EXPECT_FALSE(Eval(*r.m, p));
}

TEST(IprangeMatch, NeedsAnOption) {
  EXPECT_TRUE(Refused(Family::kIPv4, "-m iprange"));
  EXPECT_TRUE(Refused(Family::kIPv4, "-m iprange --src-range 1.2.3.4-x"));
}

}  // namespace
}  // namespace netfence::ext
