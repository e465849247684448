// Packet logic of the sctp match.
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

// SctpPacket is IPv4 + SCTP common header + chunks {type, flags, length}.
Packet SctpPacket(uint16_t sport, uint16_t dport,
                  std::vector<std::array<uint16_t, 3>> chunks) {
  Packet p = V4(32, 132);
  Store16(&p.data[20], sport);
  Store16(&p.data[22], dport);
  for (auto [type, flags, len] : chunks) {
    size_t at = p.data.size();
    p.data.resize(at + std::max(4u, (len + 3u) & ~3u), 0);
    p.data[at] = uint8_t(type);
    p.data[at + 1] = uint8_t(flags);
    Store16(&p.data[at + 2], len);
  }
  return p;
}

TEST(SctpMatch, Ports) {
  auto r = Load(Family::kIPv4, "-p sctp -m sctp --sport 5:6 ! --dport 80");
  Packet a = SctpPacket(5, 81, {{0, 0, 4}}), b = SctpPacket(5, 80, {{0, 0, 4}}),
         c = SctpPacket(7, 81, {{0, 0, 4}});
  EXPECT_TRUE(Eval(*r.m, a, 20));
  EXPECT_FALSE(Eval(*r.m, b, 20));
  EXPECT_FALSE(Eval(*r.m, c, 20));
}

TEST(SctpMatch, ChunkTypesAnyAllOnly) {
  auto any =
      Load(Family::kIPv4, "-p sctp -m sctp --chunk-types any INIT,ABORT");
  auto all =
      Load(Family::kIPv4, "-p sctp -m sctp --chunk-types all INIT,ABORT");
  auto only =
      Load(Family::kIPv4, "-p sctp -m sctp --chunk-types only INIT,ABORT");
  Packet init = SctpPacket(1, 2, {{1, 0, 20}});
  Packet both = SctpPacket(1, 2, {{1, 0, 20}, {6, 0, 4}});
  Packet data = SctpPacket(1, 2, {{1, 0, 20}, {0, 0, 17}});
  EXPECT_TRUE(Eval(*any.m, init, 20));
  EXPECT_FALSE(Eval(*all.m, init, 20));
  EXPECT_TRUE(Eval(*all.m, both, 20));
  EXPECT_TRUE(Eval(*only.m, both, 20));
  EXPECT_FALSE(Eval(*only.m, data, 20));
  EXPECT_TRUE(Eval(*any.m, data, 20));
}

TEST(SctpMatch, ChunkFlagsAndInversion) {
  auto r = Load(Family::kIPv4, "-p sctp -m sctp --chunk-types any ABORT:T");
  auto inv = Load(Family::kIPv4, "-p sctp -m sctp ! --chunk-types any ABORT:t");
  Packet t = SctpPacket(1, 2, {{6, 1, 4}}),
         not_t = SctpPacket(1, 2, {{6, 0, 4}});
  EXPECT_TRUE(Eval(*r.m, t, 20));
  EXPECT_FALSE(Eval(*r.m, not_t, 20));
  EXPECT_TRUE(Eval(*inv.m, t, 20));
  EXPECT_FALSE(Eval(*inv.m, not_t, 20));
  EXPECT_NE(Save(*r.rs, false).find("--chunk-types any ABORT:T"),
            std::string::npos);
}

TEST(SctpMatch, ZeroLengthChunkHotdrops) {
  auto r = Load(Family::kIPv4, "-p sctp -m sctp --chunk-types any INIT");
  Packet p = SctpPacket(1, 2, {{0, 0, 4}, {1, 0, 0}});
  bool hd = false;
  EXPECT_FALSE(Eval(*r.m, p, 20, &hd));
  EXPECT_TRUE(hd);
}

TEST(SctpMatch, TruncatedHeaderHotdrops) {
  auto r = Load(Family::kIPv4, "-p sctp -m sctp --dport 1");
  Packet p = V4(30, 132);
  bool hd = false;
  EXPECT_FALSE(Eval(*r.m, p, 20, &hd));
  EXPECT_TRUE(hd);
  EXPECT_FALSE(Eval(*r.m, p, 20, &hd, 4));
}

TEST(SctpMatch, ParseErrors) {
  EXPECT_TRUE(Refused(Family::kIPv4, "-p sctp -m sctp --chunk-types any"));
  EXPECT_TRUE(
      Refused(Family::kIPv4, "-p sctp -m sctp --chunk-types some INIT"));
  EXPECT_TRUE(
      Refused(Family::kIPv4, "-p sctp -m sctp --chunk-types any INIT:X"));
  EXPECT_TRUE(Refused(Family::kIPv4, "-m sctp --dport 1"));
}

}  // namespace
}  // namespace netfence::ext
