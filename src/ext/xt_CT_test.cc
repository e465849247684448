// CT / NOTRACK targets: templates, untracking, kernel checks, save forms.
#include "ext/target_test_util.h"

namespace netfence::ext::target_test {
namespace {

TEST(CtTarget, NotrackMarksUntracked) {
  for (const char* rule : {"-j NOTRACK", "-j CT --notrack"}) {
    Loaded l = LoadRule(Family::kIPv4, "raw", "PREROUTING", rule);
    Runner r;
    Packet p = Tcp4("10.0.0.1", "10.0.0.2", 1, 2, 0x02);
    EXPECT_EQ(r.Run(*l.target, p, Hook::kPrerouting), Verdict::kContinue);
    EXPECT_EQ(p.ct, nullptr);
    EXPECT_EQ(p.ctinfo, CtInfo::kUntracked) << rule;
  }
  EXPECT_EQ(LoadRule(Family::kIPv6, "raw", "OUTPUT", "-j NOTRACK").saved,
            "-A OUTPUT -j NOTRACK");
}

TEST(CtTarget, TemplateCarriesZoneAndHelper) {
  Loaded l = LoadRule(Family::kIPv4, "raw", "PREROUTING",
                      "-p tcp -j CT --helper ftp --zone-orig 7");
  Runner r;
  Packet p = Tcp4("10.0.0.1", "10.0.0.2", 1, 21, 0x02);
  EXPECT_EQ(r.Run(*l.target, p, Hook::kPrerouting), Verdict::kContinue);
  ASSERT_NE(p.ct, nullptr);
  EXPECT_EQ(p.ctinfo, CtInfo::kNew);
  EXPECT_TRUE(p.ct->status.load() & kIpsTemplate);
  EXPECT_EQ(p.ct->zone, 7);
  EXPECT_EQ(p.ct->zone_dir, 1);
  EXPECT_EQ(p.ct->helper, "ftp");
  // Every packet of the rule gets the same template.
  Packet q = Tcp4("10.0.0.3", "10.0.0.2", 1, 21, 0x02);
  r.Run(*l.target, q, Hook::kPrerouting);
  EXPECT_EQ(q.ct, p.ct);
}

TEST(CtTarget, AlreadyAttachedPacketIsLeftAlone) {
  Loaded l = LoadRule(Family::kIPv4, "raw", "OUTPUT", "-j CT --zone 3");
  Runner r;
  Conn existing;
  Packet p = Tcp4("10.0.0.1", "10.0.0.2", 1, 2, 0x10);
  p.ct = &existing;
  p.ctinfo = CtInfo::kEstablished;
  r.Run(*l.target, p, Hook::kOutput);
  EXPECT_EQ(p.ct, &existing);
  Packet u = Tcp4("10.0.0.1", "10.0.0.2", 1, 2, 0x10);
  u.ctinfo = CtInfo::kUntracked;
  r.Run(*l.target, u, Hook::kOutput);
  EXPECT_EQ(u.ct, nullptr);
  EXPECT_EQ(u.ctinfo, CtInfo::kUntracked);
}

TEST(CtTarget, ZoneFromMark) {
  Loaded l =
      LoadRule(Family::kIPv4, "raw", "PREROUTING", "-j CT --zone-reply mark");
  EXPECT_EQ(l.saved, "-A PREROUTING -j CT --zone-reply mark");
  Runner r;
  Packet p = Tcp4("10.0.0.1", "10.0.0.2", 1, 2, 0x02);
  r.Run(*l.target, p, Hook::kPrerouting);
  ASSERT_NE(p.ct, nullptr);
  EXPECT_TRUE(p.ct->zone_from_mark);
  EXPECT_EQ(p.ct->zone_dir, 2);
}

TEST(CtTarget, SaveOrder) {
  EXPECT_EQ(LoadRule(Family::kIPv4, "raw", "PREROUTING",
                     "-p udp -j CT --zone 2 --expevents new --ctevents "
                     "mark,new --helper tftp")
                .saved,
            "-A PREROUTING -p udp -j CT --helper tftp --ctevents new,mark "
            "--expevents new --zone 2");
  // Zone 0 is the default and is not printed.
  EXPECT_EQ(
      LoadRule(Family::kIPv4, "raw", "PREROUTING", "-j CT --zone 0").saved,
      "-A PREROUTING -j CT");
}

TEST(CtTarget, KernelChecks) {
  const Family v4 = Family::kIPv4, v6 = Family::kIPv6;
  EXPECT_EQ(Stage(v4, "mangle", "PREROUTING", "-j CT --notrack"), 1);
  EXPECT_EQ(Stage(v4, "raw", "PREROUTING", "-j CT --helper ftp"), 1);
  EXPECT_EQ(Stage(v4, "raw", "PREROUTING", "! -p tcp -j CT --helper ftp"), 1);
  EXPECT_EQ(Stage(v4, "raw", "PREROUTING", "-p udp -j CT --helper ftp"), 1);
  EXPECT_EQ(Stage(v4, "raw", "PREROUTING", "-p tcp -j CT --helper irc"), 0);
  EXPECT_EQ(Stage(v6, "raw", "PREROUTING", "-p tcp -j CT --helper irc"), 1);
  EXPECT_EQ(Stage(v6, "raw", "PREROUTING", "-p udp -j CT --helper H.245"), 0);
  EXPECT_EQ(Stage(v4, "raw", "PREROUTING", "-p tcp -j CT --timeout t1"), 1);
  // --notrack wins: nothing else is looked at.
  EXPECT_EQ(Stage(v4, "raw", "PREROUTING", "-j CT --notrack --helper nope"), 0);
}

TEST(CtTarget, ParseErrors) {
  const Family v4 = Family::kIPv4;
  EXPECT_EQ(Stage(v4, "raw", "OUTPUT", "-j CT --ctevents new,"), 2);
  EXPECT_EQ(Stage(v4, "raw", "OUTPUT", "-j CT --expevents related"), 2);
  EXPECT_EQ(Stage(v4, "raw", "OUTPUT", "-j CT --zone 0x10000"), 2);
  EXPECT_EQ(Stage(v4, "raw", "OUTPUT", "-j NOTRACK --notrack"), 2);
  EXPECT_EQ(Stage(v4, "raw", "OUTPUT", "-j CT --zone 0x10"), 0);
}

}  // namespace
}  // namespace netfence::ext::target_test
