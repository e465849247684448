// Packet logic of the hbh and dst matches.
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

// OptsPacket is IPv6 + one options header (8 bytes) of type `nh` holding
// a Router Alert option (5, len 2) and a Pad1... padded with PadN.
Packet OptsPacket(uint8_t nh) {
  Packet p = V6(48, nh);
  uint8_t* h = &p.data[40];
  h[0] = 59;
  h[1] = 0;  // 8 bytes
  h[2] = 5;  // Router Alert
  h[3] = 2;
  h[4] = 0;
  h[5] = 0;
  h[6] = 0;  // Pad1
  h[7] = 0;  // Pad1
  return p;
}

TEST(HbhMatch, LengthAndOptions) {
  auto len = Load(Family::kIPv6, "-m hbh --hbh-len 8");
  auto notlen = Load(Family::kIPv6, "-m hbh ! --hbh-len 8");
  auto opts = Load(Family::kIPv6, "-m hbh --hbh-opts 5:2,0,0");
  auto wrong = Load(Family::kIPv6, "-m hbh --hbh-opts 5:3");
  Packet p = OptsPacket(0);
  EXPECT_TRUE(Eval(*len.m, p));
  EXPECT_FALSE(Eval(*notlen.m, p));
  EXPECT_TRUE(Eval(*opts.m, p));
  EXPECT_FALSE(Eval(*wrong.m, p));
}

TEST(HbhMatch, DstLooksForDestinationOptions) {
  auto dst = Load(Family::kIPv6, "-m dst --dst-opts 5");
  auto hbh = Load(Family::kIPv6, "-m hbh --hbh-opts 5");
  Packet d = OptsPacket(60);
  EXPECT_TRUE(Eval(*dst.m, d));
  EXPECT_FALSE(Eval(*hbh.m, d));
}

TEST(HbhMatch, TruncationAndShortPacket) {
  auto r = Load(Family::kIPv6, "-m hbh");
  Packet p = OptsPacket(0);
  p.data[41] = 1;  // claims 16 bytes, the packet has 8
  bool hd = false;
  EXPECT_FALSE(Eval(*r.m, p, 0, &hd));
  EXPECT_FALSE(hd);
  Packet cut = V6(41, 0);
  EXPECT_FALSE(Eval(*r.m, cut, 0, &hd));
  EXPECT_TRUE(hd);
  EXPECT_TRUE(Refused(Family::kIPv6, "-m hbh --hbh-opts 0:2"));
  EXPECT_TRUE(Refused(Family::kIPv6, "-m dst --dst-opts x"));
}

}  // namespace
}  // namespace netfence::ext
