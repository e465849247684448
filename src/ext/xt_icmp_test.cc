// Packet logic of the icmp (IPv4) and icmp6 matches.
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

Rule1 Load(Family f, const std::string& rule) {
  static const BuiltinResolver kResolver;
  RestoreOptions o{f, &kResolver, "test"};
  Rule1 r;
  r.rs = Restore("*filter\n-A INPUT " + rule + "\nCOMMIT\n", o);
  r.m = r.rs->FindTable("filter")
            ->FindChain("INPUT")
            ->rules[0]
            .matches.back()
            .match.get();
  return r;
}

// IcmpPacket is a network header of hlen bytes plus an ICMP header.
Packet IcmpPacket(unsigned hlen, uint8_t type, uint8_t code) {
  Packet p;
  p.data.assign(hlen + 8, 0);
  p.data[hlen] = type;
  p.data[hlen + 1] = code;
  return p;
}

bool Eval(const Match& m, Packet& pkt, unsigned thoff, bool* hotdrop = nullptr,
          int fragoff = 0) {
  XtParams p;
  p.skb = &pkt;
  p.thoff = thoff;
  p.fragoff = fragoff;
  bool r = m.Matches(p);
  if (hotdrop) *hotdrop = p.hotdrop;
  return r;
}

TEST(IcmpMatch, TypeAndCode) {
  auto r = Load(Family::kIPv4, "-p icmp -m icmp --icmp-type port-unreachable");
  Packet a = IcmpPacket(20, 3, 3), b = IcmpPacket(20, 3, 1);
  EXPECT_TRUE(Eval(*r.m, a, 20));
  EXPECT_FALSE(Eval(*r.m, b, 20));
}

TEST(IcmpMatch, TypeWithAnyCode) {
  auto r = Load(Family::kIPv4, "-p icmp -m icmp --icmp-type 8");
  Packet a = IcmpPacket(20, 8, 7), b = IcmpPacket(20, 0, 0);
  EXPECT_TRUE(Eval(*r.m, a, 20));
  EXPECT_FALSE(Eval(*r.m, b, 20));
}

TEST(IcmpMatch, AnyAndInversion) {
  auto any = Load(Family::kIPv4, "-p icmp -m icmp --icmp-type any");
  auto inv = Load(Family::kIPv4, "-p icmp -m icmp ! --icmp-type echo-request");
  Packet a = IcmpPacket(20, 8, 0), b = IcmpPacket(20, 0, 0);
  EXPECT_TRUE(Eval(*any.m, a, 20));
  EXPECT_FALSE(Eval(*inv.m, a, 20));
  EXPECT_TRUE(Eval(*inv.m, b, 20));
}

TEST(IcmpMatch, FragmentAndTruncation) {
  auto r = Load(Family::kIPv4, "-p icmp -m icmp ! --icmp-type 8");
  Packet a = IcmpPacket(20, 0, 0);
  EXPECT_FALSE(Eval(*r.m, a, 20, nullptr, 2));
  a.data.resize(27);
  bool hd = false;
  EXPECT_FALSE(Eval(*r.m, a, 20, &hd));
  EXPECT_TRUE(hd);
}

TEST(IcmpMatch, AmbiguousPrefixRefused) {
  static const BuiltinResolver kResolver;
  RestoreOptions o{Family::kIPv4, &kResolver, "test"};
  EXPECT_THROW(
      Restore("*filter\n-A INPUT -p icmp -m icmp --icmp-type echo\nCOMMIT\n",
              o),
      RestoreError);
  auto r = Load(Family::kIPv4, "-p icmp -m icmp --icmp-type echo-req");
  Packet a = IcmpPacket(20, 8, 0);
  EXPECT_TRUE(Eval(*r.m, a, 20));
}

TEST(Icmp6Match, TypeCodeAndInversion) {
  auto r = Load(Family::kIPv6, "-p ipv6-icmp -m icmp6 --icmpv6-type 1/3");
  auto inv = Load(Family::kIPv6, "-p ipv6-icmp -m icmp6 ! --icmpv6-type ping");
  Packet a = IcmpPacket(40, 1, 3), b = IcmpPacket(40, 1, 4),
         c = IcmpPacket(40, 128, 0);
  EXPECT_TRUE(Eval(*r.m, a, 40));
  EXPECT_FALSE(Eval(*r.m, b, 40));
  EXPECT_FALSE(Eval(*inv.m, c, 40));
  EXPECT_TRUE(Eval(*inv.m, a, 40));
}

TEST(Icmp6Match, Type255IsNoWildcard) {
  auto r = Load(Family::kIPv6, "-p ipv6-icmp -m icmp6 --icmpv6-type 255");
  Packet a = IcmpPacket(40, 128, 0), b = IcmpPacket(40, 255, 9);
  EXPECT_FALSE(Eval(*r.m, a, 40));
  EXPECT_TRUE(Eval(*r.m, b, 40));
}

TEST(Icmp6Match, TruncationHotdrops) {
  auto r = Load(Family::kIPv6, "-p ipv6-icmp -m icmp6 --icmpv6-type 128");
  Packet a = IcmpPacket(40, 128, 0);
  a.data.resize(44);
  bool hd = false;
  EXPECT_FALSE(Eval(*r.m, a, 40, &hd));
  EXPECT_TRUE(hd);
}

}  // namespace
}  // namespace netfence::ext
