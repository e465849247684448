// Packet logic of the ah match (IPv4 and IPv6).
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

TEST(AhMatch, Ipv4Spi) {
  auto r = Load(Family::kIPv4, "-p ah -m ah --ahspi 7");
  auto inv = Load(Family::kIPv4, "-p ah -m ah ! --ahspi 7");
  Packet p = V4(32, 51);
  Store32(&p.data[24], 7);
  EXPECT_TRUE(Eval(*r.m, p, 20));
  EXPECT_FALSE(Eval(*inv.m, p, 20));
  Store32(&p.data[24], 8);
  EXPECT_FALSE(Eval(*r.m, p, 20));
  EXPECT_TRUE(Eval(*inv.m, p, 20));
  bool hd = false;
  p.data.resize(31);
  EXPECT_FALSE(Eval(*r.m, p, 20, &hd));
  EXPECT_TRUE(hd);
}

// Ah6Packet is IPv6 + AH (hdrlen field 4: 24 bytes) + nothing.
Packet Ah6Packet(uint32_t spi, uint16_t reserved = 0) {
  Packet p = V6(40 + 24, 51);
  p.data[40] = 59;
  p.data[41] = 4;
  Store16(&p.data[42], reserved);
  Store32(&p.data[44], spi);
  return p;
}

TEST(AhMatch, Ipv6SpiLenRes) {
  auto r = Load(Family::kIPv6, "-m ah --ahspi 5:6 --ahlen 24 --ahres");
  auto badlen = Load(Family::kIPv6, "-m ah ! --ahlen 24");
  Packet a = Ah6Packet(5), b = Ah6Packet(7), c = Ah6Packet(6, 1);
  EXPECT_TRUE(Eval(*r.m, a));
  EXPECT_FALSE(Eval(*r.m, b));
  EXPECT_FALSE(Eval(*r.m, c));
  EXPECT_FALSE(Eval(*badlen.m, a));
}

TEST(AhMatch, Ipv6NoHeaderOrTruncated) {
  auto r = Load(Family::kIPv6, "-m ah ! --ahspi 5");
  Packet none = V6();
  bool hd = true;
  EXPECT_FALSE(Eval(*r.m, none, 0, &hd));
  EXPECT_FALSE(hd);
  Packet cut = Ah6Packet(1);
  cut.data.resize(50);
  EXPECT_FALSE(Eval(*r.m, cut, 0, &hd));
  EXPECT_TRUE(hd);
}

}  // namespace
}  // namespace netfence::ext
