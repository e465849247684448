// Packet logic and printing of the state match.
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
  r.rs = Restore("*filter\n-A INPUT " + rule + "\nCOMMIT\n", o);
  r.m = r.rs->FindTable("filter")
            ->FindChain("INPUT")
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

TEST(StateMatch, Matches) {
  auto r = Load("-m state --state RELATED,ESTABLISHED");
  Conn c;
  Packet pkt;
  pkt.data.assign(20, 0);
  pkt.ct = &c;
  pkt.ctinfo = CtInfo::kRelatedReply;
  EXPECT_TRUE(Eval(*r.m, pkt));
  pkt.ctinfo = CtInfo::kNew;
  EXPECT_FALSE(Eval(*r.m, pkt));
  pkt.ct = nullptr;  // INVALID
  EXPECT_FALSE(Eval(*r.m, pkt));
}

TEST(StateMatch, Inversion) {
  auto r = Load("-m state ! --state INVALID");
  Packet pkt;
  pkt.data.assign(20, 0);
  pkt.ctinfo = CtInfo::kNew;  // no entry: INVALID
  EXPECT_FALSE(Eval(*r.m, pkt));
  pkt.ctinfo = CtInfo::kUntracked;
  EXPECT_TRUE(Eval(*r.m, pkt));
}

TEST(StateMatch, PrefixesAndCanonicalOrder) {
  auto r = Load("-m state --state est,INV,n");
  std::string saved = Save(*r.rs, false);
  EXPECT_NE(saved.find("-A INPUT -m state --state INVALID,NEW,ESTABLISHED\n"),
            std::string::npos)
      << saved;
  EXPECT_THROW(Load("-m state --state NEW,"), RestoreError);
  EXPECT_THROW(Load("-m state --state SNAT"), RestoreError);
}

}  // namespace
}  // namespace netfence::ext
