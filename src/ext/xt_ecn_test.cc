// Packet logic of the ecn match.
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

Packet TcpWithFlags(uint8_t tos, uint8_t flags) {
  Packet p = V4(40, 6);
  p.data[1] = tos;
  p.data[32] = 0x50;
  p.data[33] = flags;
  return p;
}

TEST(EcnMatch, TcpBits) {
  auto ece = Load(Family::kIPv4, "-p tcp -m ecn --ecn-tcp-ece");
  auto not_cwr = Load(Family::kIPv4, "-p tcp -m ecn ! --ecn-tcp-cwr");
  Packet a = TcpWithFlags(0, 0x40), b = TcpWithFlags(0, 0x80);
  EXPECT_TRUE(Eval(*ece.m, a, 20));
  EXPECT_FALSE(Eval(*ece.m, b, 20));
  EXPECT_TRUE(Eval(*not_cwr.m, a, 20));
  EXPECT_FALSE(Eval(*not_cwr.m, b, 20));
  Packet cut = TcpWithFlags(0, 0x40);
  cut.data.resize(30);
  bool hd = false;
  EXPECT_FALSE(Eval(*ece.m, cut, 20, &hd));
  EXPECT_FALSE(hd);
}

TEST(EcnMatch, IpCodepoint) {
  auto r = Load(Family::kIPv4, "-m ecn --ecn-ip-ect 3");
  auto inv = Load(Family::kIPv6, "-m ecn ! --ecn-ip-ect 1");
  Packet p = TcpWithFlags(3, 0);
  EXPECT_TRUE(Eval(*r.m, p, 20));
  Packet q = V6();
  q.data[1] = 0x10;  // ECT(1)
  EXPECT_FALSE(Eval(*inv.m, q));
  q.data[1] = 0x20;
  EXPECT_TRUE(Eval(*inv.m, q));
  EXPECT_TRUE(Refused(Family::kIPv4, "-m ecn --ecn-tcp-ece"));
}

}  // namespace
}  // namespace netfence::ext
