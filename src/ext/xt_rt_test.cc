// Packet logic of the rt match.
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

// RtPacket is IPv6 + a routing header of type `type` listing `naddr`
// addresses ::1, ::2, ...
Packet RtPacket(uint8_t type, uint8_t segs, unsigned naddr,
                uint32_t reserved = 0) {
  Packet p = V6(40 + 8 + 16 * naddr, 43);
  uint8_t* rh = &p.data[40];
  rh[0] = 59;
  rh[1] = uint8_t(naddr * 2);
  rh[2] = type;
  rh[3] = segs;
  Store32(rh + 4, reserved);
  for (unsigned i = 0; i < naddr; ++i) rh[8 + 16 * i + 15] = uint8_t(i + 1);
  return p;
}

TEST(RtMatch, TypeSegsLen) {
  auto r =
      Load(Family::kIPv6, "-m rt --rt-type 2 --rt-segsleft 1:3 --rt-len 24");
  Packet a = RtPacket(2, 1, 1), b = RtPacket(0, 1, 1), c = RtPacket(2, 4, 1),
         d = RtPacket(2, 1, 2);
  EXPECT_TRUE(Eval(*r.m, a));
  EXPECT_FALSE(Eval(*r.m, b));
  EXPECT_FALSE(Eval(*r.m, c));
  EXPECT_FALSE(Eval(*r.m, d));
}

TEST(RtMatch, Inversion) {
  auto r = Load(Family::kIPv6, "-m rt ! --rt-type 2");
  Packet a = RtPacket(2, 0, 0), b = RtPacket(0, 0, 0);
  EXPECT_FALSE(Eval(*r.m, a));
  EXPECT_TRUE(Eval(*r.m, b));
  // Without a routing header the match fails, inverted or not.
  Packet none = V6();
  bool hd = true;
  EXPECT_FALSE(Eval(*r.m, none, 0, &hd));
  EXPECT_FALSE(hd);
}

TEST(RtMatch, Type0ReservedAndAddresses) {
  auto res = Load(Family::kIPv6, "-m rt --rt-type 0 --rt-0-res");
  Packet zero = RtPacket(0, 0, 2), nz = RtPacket(0, 0, 2, 1);
  EXPECT_TRUE(Eval(*res.m, zero));
  EXPECT_FALSE(Eval(*res.m, nz));
  auto strict = Load(Family::kIPv6, "-m rt --rt-type 0 --rt-0-addrs ::1,::2");
  auto loose = Load(Family::kIPv6,
                    "-m rt --rt-type 0 --rt-0-addrs ::1,::3 --rt-0-not-strict");
  Packet two = RtPacket(0, 0, 2), three = RtPacket(0, 0, 3);
  EXPECT_TRUE(Eval(*strict.m, two));
  EXPECT_FALSE(Eval(*strict.m, three));  // strict: exactly the list
  EXPECT_FALSE(Eval(*loose.m, two));
  EXPECT_TRUE(Eval(*loose.m, three));
  EXPECT_TRUE(Refused(Family::kIPv6, "-m rt --rt-0-res"));
  EXPECT_TRUE(Refused(Family::kIPv6, "-m rt --rt-type 1 --rt-0-addrs ::1"));
}

TEST(RtMatch, TruncatedHeaderHotdrops) {
  auto r = Load(Family::kIPv6, "-m rt --rt-type 0");
  Packet p = V6(41, 43);
  bool hd = false;
  EXPECT_FALSE(Eval(*r.m, p, 0, &hd));
  EXPECT_TRUE(hd);
  // A header longer than the packet: no match, no drop.
  Packet q = RtPacket(0, 0, 1);
  q.data[41] = 8;
  hd = false;
  EXPECT_FALSE(Eval(*r.m, q, 0, &hd));
  EXPECT_FALSE(hd);
}

}  // namespace
}  // namespace netfence::ext
