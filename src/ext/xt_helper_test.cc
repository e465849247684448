// Packet logic of the helper match.
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

TEST(HelperMatch, HelperOfTheMaster) {
  auto ftp = Load("-m helper --helper ftp");
  auto ftp21 = Load("-m helper --helper ftp-21");
  auto sip = Load("-m helper --helper sip");
  Conn master, data;
  master.helper = "ftp";
  data.master = &master;
  Packet pkt;
  pkt.ct = &data;
  pkt.ctinfo = CtInfo::kRelated;
  EXPECT_TRUE(Eval(*ftp.m, pkt));
  // Compared over the helper's name length only.
  EXPECT_TRUE(Eval(*ftp21.m, pkt));
  EXPECT_FALSE(Eval(*sip.m, pkt));
  // The control connection itself has no master.
  pkt.ct = &master;
  EXPECT_FALSE(Eval(*ftp.m, pkt));
}

TEST(HelperMatch, Inversion) {
  auto r = Load("-m helper ! --helper ftp");
  Conn master, data;
  data.master = &master;
  Packet pkt;
  pkt.ct = &data;
  pkt.ctinfo = CtInfo::kRelated;
  EXPECT_TRUE(Eval(*r.m, pkt));  // master without helper
  master.helper = "ftp";
  EXPECT_FALSE(Eval(*r.m, pkt));
  pkt.ct = nullptr;
  EXPECT_TRUE(Eval(*r.m, pkt));
}

}  // namespace
}  // namespace netfence::ext
