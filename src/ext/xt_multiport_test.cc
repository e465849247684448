// Packet logic of the multiport match.
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

// PortsPacket is an IPv4 header followed by a header's two port fields.
Packet PortsPacket(uint16_t sport, uint16_t dport) {
  Packet p;
  p.data.assign(40, 0);
  p.data[0] = 0x45;
  p.data[9] = 6;
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
  p.l4proto = 6;
  bool r = m.Matches(p);
  if (hotdrop) *hotdrop = p.hotdrop;
  return r;
}

TEST(MultiportMatch, DestinationListAndRange) {
  auto r = Load("-p tcp -m multiport --dports 22,80,8000:8080");
  Packet a = PortsPacket(1, 22), b = PortsPacket(1, 8042),
         c = PortsPacket(22, 81), d = PortsPacket(1, 8081);
  EXPECT_TRUE(Eval(*r.m, a));
  EXPECT_TRUE(Eval(*r.m, b));
  EXPECT_FALSE(Eval(*r.m, c));
  EXPECT_FALSE(Eval(*r.m, d));
}

TEST(MultiportMatch, SourceAndEither) {
  auto s = Load("-p udp -m multiport --sports 53");
  auto e = Load("-p udp -m multiport --ports 53");
  Packet a = PortsPacket(53, 1), b = PortsPacket(1, 53);
  EXPECT_TRUE(Eval(*s.m, a));
  EXPECT_FALSE(Eval(*s.m, b));
  EXPECT_TRUE(Eval(*e.m, a));
  EXPECT_TRUE(Eval(*e.m, b));
}

TEST(MultiportMatch, Inversion) {
  auto r = Load("-p tcp -m multiport ! --dports 22,80");
  Packet a = PortsPacket(1, 22), b = PortsPacket(1, 23);
  EXPECT_FALSE(Eval(*r.m, a));
  EXPECT_TRUE(Eval(*r.m, b));
}

TEST(MultiportMatch, FragmentNeverMatches) {
  auto r = Load("-p tcp -m multiport ! --dports 22");
  Packet a = PortsPacket(1, 23);
  EXPECT_FALSE(Eval(*r.m, a, nullptr, 3));
}

TEST(MultiportMatch, TruncatedHotdrops) {
  auto r = Load("-p tcp -m multiport --dports 22");
  Packet a = PortsPacket(1, 22);
  a.data.resize(23);
  bool hd = false;
  EXPECT_FALSE(Eval(*r.m, a, &hd));
  EXPECT_TRUE(hd);
}

TEST(MultiportMatch, ProtocolMustPrecede) {
  static const BuiltinResolver kResolver;
  RestoreOptions o{Family::kIPv4, &kResolver, "test"};
  EXPECT_THROW(
      Restore("*filter\n-A INPUT -m multiport --dports 22 -p tcp\nCOMMIT\n", o),
      RestoreError);
  EXPECT_THROW(
      Restore("*filter\n-A INPUT -p tcp -m multiport --dports 9:8\nCOMMIT\n",
              o),
      RestoreError);
}

}  // namespace
}  // namespace netfence::ext
