// Packet logic of the conntrack match (revision 3).
#include <gtest/gtest.h>

#include "core/conn.h"
#include "core/restore.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

// Loaded holds a one-rule ruleset and the rule's last match.
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

Packet Ip4() {
  Packet p;
  p.data.assign(40, 0);
  p.data[0] = 0x45;
  p.data[9] = 6;
  return p;
}

// MakeConn fills a TCP connection 10.0.0.1:1000 -> 10.0.0.2:80, replied
// from 10.0.0.2:80 to 192.168.1.1:2000 (as after SNAT).
void MakeConn(Conn& c) {
  c.tuple[kDirOriginal].src = Addr::FromV4(0x0a000001);
  c.tuple[kDirOriginal].dst = Addr::FromV4(0x0a000002);
  c.tuple[kDirOriginal].sport = 1000;
  c.tuple[kDirOriginal].dport = 80;
  c.tuple[kDirOriginal].proto = 6;
  c.tuple[kDirReply].src = Addr::FromV4(0x0a000002);
  c.tuple[kDirReply].dst = Addr::FromV4(0xc0a80101);
  c.tuple[kDirReply].sport = 80;
  c.tuple[kDirReply].dport = 2000;
  c.tuple[kDirReply].proto = 6;
}

bool Eval(const Match& m, Packet& pkt, double now = 0) {
  HookState st;
  st.now = now;
  XtParams p;
  p.skb = &pkt;
  p.state = &st;
  return m.Matches(p);
}

TEST(ConntrackMatch, States) {
  auto est = Load("-m conntrack --ctstate ESTABLISHED");
  auto inv = Load("-m conntrack --ctstate INVALID");
  auto unt = Load("-m conntrack --ctstate UNTRACKED");
  Conn c;
  MakeConn(c);
  Packet pkt = Ip4();
  pkt.ct = &c;
  pkt.ctinfo = CtInfo::kEstablishedReply;  // a reply counts as ESTABLISHED
  EXPECT_TRUE(Eval(*est.m, pkt));
  EXPECT_FALSE(Eval(*inv.m, pkt));
  pkt.ctinfo = CtInfo::kNew;
  EXPECT_FALSE(Eval(*est.m, pkt));
  // No entry and not untracked: INVALID.
  pkt.ct = nullptr;
  EXPECT_TRUE(Eval(*inv.m, pkt));
  EXPECT_FALSE(Eval(*unt.m, pkt));
  pkt.ctinfo = CtInfo::kUntracked;
  EXPECT_TRUE(Eval(*unt.m, pkt));
  EXPECT_FALSE(Eval(*inv.m, pkt));
}

TEST(ConntrackMatch, InvertedStateAndNatBits) {
  auto notnew = Load("-m conntrack ! --ctstate NEW");
  auto snat = Load("-m conntrack --ctstate SNAT");
  Conn c;
  MakeConn(c);
  Packet pkt = Ip4();
  pkt.ct = &c;
  pkt.ctinfo = CtInfo::kNew;
  EXPECT_FALSE(Eval(*notnew.m, pkt));
  EXPECT_FALSE(Eval(*snat.m, pkt));
  c.status = kIpsSrcNat;
  EXPECT_TRUE(Eval(*snat.m, pkt));
  pkt.ctinfo = CtInfo::kRelated;
  EXPECT_TRUE(Eval(*notnew.m, pkt));
}

TEST(ConntrackMatch, TuplesPortsAndDirection) {
  auto r = Load(
      "-m conntrack --ctorigsrc 10.0.0.0/8 --ctrepldst 192.168.1.1 "
      "--ctproto tcp --ctorigdstport 80 --ctrepldstport 1024:65535 --ctdir "
      "REPLY");
  Conn c;
  MakeConn(c);
  Packet pkt = Ip4();
  pkt.ct = &c;
  pkt.ctinfo = CtInfo::kEstablishedReply;
  EXPECT_TRUE(Eval(*r.m, pkt));
  pkt.ctinfo = CtInfo::kEstablished;  // original direction
  EXPECT_FALSE(Eval(*r.m, pkt));
  pkt.ctinfo = CtInfo::kEstablishedReply;
  c.tuple[kDirReply].dport = 999;
  EXPECT_FALSE(Eval(*r.m, pkt));
  auto notsrc = Load("-m conntrack ! --ctorigsrc 10.0.0.0/8");
  EXPECT_FALSE(Eval(*notsrc.m, pkt));
  // Without an entry only --ctstate can match.
  pkt.ct = nullptr;
  pkt.ctinfo = CtInfo::kNew;
  EXPECT_FALSE(Eval(*notsrc.m, pkt));
}

TEST(ConntrackMatch, Status) {
  auto assured = Load("-m conntrack --ctstatus ASSURED,SEEN_REPLY");
  auto none = Load("-m conntrack ! --ctstatus NONE");
  Conn c;
  MakeConn(c);
  Packet pkt = Ip4();
  pkt.ct = &c;
  pkt.ctinfo = CtInfo::kEstablished;
  EXPECT_FALSE(Eval(*assured.m, pkt));
  // NONE is the empty mask: "! --ctstatus NONE" always matches an entry.
  EXPECT_TRUE(Eval(*none.m, pkt));
  c.status = kIpsSeenReply;
  EXPECT_TRUE(Eval(*assured.m, pkt));
}

TEST(ConntrackMatch, ExpireFollowsThePacketClock) {
  auto r = Load("-m conntrack --ctexpire 50:70");
  auto zero = Load("-m conntrack --ctexpire 0");
  Conn c;
  MakeConn(c);
  c.expires = 100;
  c.status = kIpsConfirmed;
  Packet pkt = Ip4();
  pkt.ct = &c;
  pkt.ctinfo = CtInfo::kEstablished;
  EXPECT_TRUE(Eval(*r.m, pkt, 40));    // 60 s left
  EXPECT_TRUE(Eval(*r.m, pkt, 29.5));  // 70.5 s left: whole seconds
  EXPECT_FALSE(Eval(*r.m, pkt, 29));   // 71 s left
  EXPECT_FALSE(Eval(*r.m, pkt, 95));
  EXPECT_FALSE(Eval(*zero.m, pkt, 95));
  EXPECT_TRUE(Eval(*zero.m, pkt, 120));  // overdue: never negative
  // An unconfirmed entry (a connection's first packet) reads as 0.
  c.status = 0;
  EXPECT_TRUE(Eval(*zero.m, pkt, 40));
  EXPECT_FALSE(Eval(*r.m, pkt, 40));
}

TEST(ConntrackMatch, ProtoZeroQuirk) {
  // libxt_conntrack tests IPT_INV_PROTO, which is --ctstatus' invert bit.
  EXPECT_THROW(Load("-m conntrack ! --ctstatus NONE --ctproto 0"),
               RestoreError);
  EXPECT_NO_THROW(Load("-m conntrack ! --ctproto 0"));
}

}  // namespace
}  // namespace netfence::ext
