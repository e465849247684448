// Packet logic of the udp match.
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

Rule1 Load(const std::string& rule) {
  static const BuiltinResolver kResolver;
  RestoreOptions o{Family::kIPv4, &kResolver, "test"};
  Rule1 r;
  r.rs = Restore("*filter\n-A INPUT " + rule + "\nCOMMIT\n", o);
  r.m = r.rs->FindTable("filter")
            ->FindChain("INPUT")
            ->rules[0]
            .matches.back()
            .match.get();
  return r;
}

// UdpPacket is an IPv4 header plus a UDP header.
Packet UdpPacket(uint16_t sport, uint16_t dport) {
  Packet p;
  p.data.assign(28, 0);
  p.data[0] = 0x45;
  p.data[9] = 17;
  Store16(&p.data[20], sport);
  Store16(&p.data[22], dport);
  return p;
}

bool Eval(const Match& m, Packet& pkt, bool* hotdrop = nullptr,
          int fragoff = 0) {
  XtParams p;
  p.skb = &pkt;
  p.thoff = 20;
  p.fragoff = fragoff;
  p.l4proto = 17;
  bool r = m.Matches(p);
  if (hotdrop) *hotdrop = p.hotdrop;
  return r;
}

TEST(UdpMatch, Ports) {
  auto r = Load("-p udp -m udp --sport 1000:2000 --dport 53");
  Packet a = UdpPacket(1500, 53), b = UdpPacket(999, 53),
         c = UdpPacket(1500, 54);
  EXPECT_TRUE(Eval(*r.m, a));
  EXPECT_FALSE(Eval(*r.m, b));
  EXPECT_FALSE(Eval(*r.m, c));
}

TEST(UdpMatch, Inversion) {
  auto r = Load("-p udp -m udp ! --dport 53");
  Packet a = UdpPacket(1, 53), b = UdpPacket(1, 54);
  EXPECT_FALSE(Eval(*r.m, a));
  EXPECT_TRUE(Eval(*r.m, b));
}

TEST(UdpMatch, ReversedRangeNeverMatches) {
  auto r = Load("-p udp -m udp --sport 4:3");
  Packet a = UdpPacket(3, 1), b = UdpPacket(4, 1);
  EXPECT_FALSE(Eval(*r.m, a));
  EXPECT_FALSE(Eval(*r.m, b));
}

TEST(UdpMatch, FragmentsDoNotMatch) {
  auto r = Load("-p udp -m udp");
  Packet a = UdpPacket(1, 2);
  bool hd = true;
  EXPECT_FALSE(Eval(*r.m, a, &hd, 5));
  EXPECT_FALSE(hd);
}

TEST(UdpMatch, TruncatedHeaderHotdrops) {
  auto r = Load("-p udp -m udp");
  Packet a = UdpPacket(1, 2);
  a.data.resize(26);
  bool hd = false;
  EXPECT_FALSE(Eval(*r.m, a, &hd));
  EXPECT_TRUE(hd);
}

}  // namespace
}  // namespace netfence::ext
