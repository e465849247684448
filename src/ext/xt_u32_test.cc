// Packet logic of the u32 match.
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

TEST(U32Match, IpVersionAndProtocol) {
  // IPv4 header length 5 and protocol UDP or TCP.
  auto r = Load(Family::kIPv4, "-m u32 --u32 \"0>>24&0xf=5 && 6&0xff=6,17\"");
  Packet p = V4(20, 17);
  EXPECT_TRUE(Eval(*r.m, p));
  p.data[9] = 1;
  EXPECT_FALSE(Eval(*r.m, p));
}

TEST(U32Match, AtOperatorFollowsHeaderLength) {
  // Destination port of TCP/UDP: skip the IP header with @.
  auto r = Load(Family::kIPv4, "-m u32 --u32 \"0>>22&0x3C@0>>16=53\"");
  auto inv = Load(Family::kIPv4, "-m u32 ! --u32 \"0>>22&0x3C@0>>16=53\"");
  Packet p = V4(28, 17);
  Store16(&p.data[20], 53);
  EXPECT_TRUE(Eval(*r.m, p));
  EXPECT_FALSE(Eval(*inv.m, p));
  p.data.resize(23);  // the read at 20 runs past the end: no match
  EXPECT_FALSE(Eval(*r.m, p));
  EXPECT_TRUE(Eval(*inv.m, p));
}

TEST(U32Match, ParseErrorsAndSave) {
  EXPECT_TRUE(Refused(Family::kIPv4, "-m u32 --u32 \"0\""));
  EXPECT_TRUE(Refused(Family::kIPv4, "-m u32 --u32 \"0=\""));
  EXPECT_TRUE(Refused(Family::kIPv4, "-m u32 --u32 \"0<1=1\""));
  auto r = Load(Family::kIPv4, "-m u32 --u32 \"4 & 0x1FFF = 0:10, 20\"");
  EXPECT_NE(Save(*r.rs, false).find("--u32 \"0x4&0x1fff=0x0:0xa,0x14\""),
            std::string::npos);
}

}  // namespace
}  // namespace netfence::ext
