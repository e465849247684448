// Packet logic of the connmark match.
#include <gtest/gtest.h>

#include "core/conn.h"
#include "core/restore.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

struct Loaded {
  std::unique_ptr<Ruleset> rs;
  const Match* m = nullptr;
};

Loaded Load(const std::string& rule) {
  static const BuiltinResolver kResolver;
  RestoreOptions o{Family::kIPv4, &kResolver, "test"};
  Loaded r;
  r.rs = Restore("*mangle\n-A PREROUTING " + rule + "\nCOMMIT\n", o);
  r.m = r.rs->FindTable("mangle")
            ->FindChain("PREROUTING")
            ->rules[0]
            .matches.back()
            .match.get();
  return r;
}

bool Eval(const Match& m, Packet& pkt) {
  XtParams p;
  p.skb = &pkt;
  return m.Matches(p);
}

TEST(ConnmarkMatch, MarkUnderMask) {
  auto r = Load("-m connmark --mark 0x10/0xf0");
  Conn c;
  Packet pkt;
  pkt.ct = &c;
  pkt.ctinfo = CtInfo::kEstablished;
  c.mark = 0x1f;
  EXPECT_TRUE(Eval(*r.m, pkt));
  c.mark = 0x2f;
  EXPECT_FALSE(Eval(*r.m, pkt));
}

TEST(ConnmarkMatch, InversionAndNoEntry) {
  auto r = Load("-m connmark ! --mark 1");
  Conn c;
  Packet pkt;
  pkt.ct = &c;
  pkt.ctinfo = CtInfo::kEstablished;
  c.mark = 1;
  EXPECT_FALSE(Eval(*r.m, pkt));
  c.mark = 2;
  EXPECT_TRUE(Eval(*r.m, pkt));
  // Without an entry the match fails, inverted or not.
  pkt.ct = nullptr;
  EXPECT_FALSE(Eval(*r.m, pkt));
}

}  // namespace
}  // namespace netfence::ext
