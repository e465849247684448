// Connection counting of the connlimit match, against a fake tracker.
#include <gtest/gtest.h>

#include <deque>

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

// Tracker is a fake conntrack table: the connections it still holds.
class Tracker : public PacketServices {
 public:
  Conn& Add(uint32_t src, uint16_t sport) {
    Conn& c = conns_.emplace_back();
    Tuple& t = c.tuple[kDirOriginal];
    t.src = Addr::FromV4(src);
    t.dst = Addr::FromV4(0x0a000001);
    t.sport = sport;
    t.dport = 80;
    t.proto = 6;
    c.tuple[kDirReply] = t;
    std::swap(c.tuple[kDirReply].src, c.tuple[kDirReply].dst);
    std::swap(c.tuple[kDirReply].sport, c.tuple[kDirReply].dport);
    alive_.push_back(true);
    return c;
  }
  void Kill(size_t i) { alive_[i] = false; }

  void Log(const std::string&) override {}
  void SendLocal(Packet) override {}
  Verdict SetupNat(XtParams&, const NatRange&, NatManip) override {
    return Verdict::kAccept;
  }
  uint32_t Random() override { return 0; }
  const Conn* FindConn(const Tuple& t, uint16_t zone) override {
    for (size_t i = 0; i < conns_.size(); ++i)
      if (alive_[i] && conns_[i].tuple[kDirOriginal] == t &&
          conns_[i].zone == zone)
        return &conns_[i];
    return nullptr;
  }

 private:
  std::deque<Conn> conns_;
  std::vector<bool> alive_;
};

// Hit runs the match on a packet of connection c with the given ctinfo;
// hotdrop (if given) says whether the match hot-dropped it.
bool Hit(const Match& m, Tracker& tr, Conn& c, double now, CtInfo ctinfo,
         bool* hotdrop = nullptr) {
  Packet pkt;
  pkt.data.assign(40, 0);
  pkt.data[0] = 0x45;
  pkt.data[9] = 6;
  Store32(&pkt.data[12], c.tuple[kDirOriginal].src.v4());
  Store32(&pkt.data[16], c.tuple[kDirOriginal].dst.v4());
  pkt.ct = &c;
  pkt.ctinfo = ctinfo;
  HookState st;
  st.now = now;
  XtParams p;
  p.skb = &pkt;
  p.state = &st;
  p.svc = &tr;
  p.thoff = 20;
  const bool r = m.Matches(p);
  if (hotdrop != nullptr) *hotdrop = p.hotdrop;
  return r;
}

// Syn is the first packet of connection c (a NEW packet).
bool Syn(const Match& m, Tracker& tr, Conn& c, double now) {
  return Hit(m, tr, c, now, CtInfo::kNew);
}

TEST(ConnlimitMatch, CountsPerNetwork) {
  auto r = Load("-p tcp -m connlimit --connlimit-above 2 --connlimit-mask 24");
  Tracker tr;
  Conn& a = tr.Add(0x01020301, 1);
  Conn& b = tr.Add(0x01020302, 2);
  Conn& c = tr.Add(0x01020303, 3);
  Conn& other = tr.Add(0x01020401, 4);
  EXPECT_FALSE(Syn(*r.m, tr, a, 0));
  EXPECT_FALSE(Syn(*r.m, tr, b, 1));
  EXPECT_TRUE(Syn(*r.m, tr, c, 2));  // a third one in 1.2.3.0/24
  EXPECT_FALSE(Syn(*r.m, tr, other, 3));
  // A packet of an existing connection is not counted twice.
  EXPECT_TRUE(Syn(*r.m, tr, a, 4));
}

TEST(ConnlimitMatch, GoneAndClosedConnectionsStopCounting) {
  auto r = Load("-p tcp -m connlimit --connlimit-upto 1");
  Tracker tr;
  Conn& a = tr.Add(0x01020301, 1);
  Conn& b = tr.Add(0x01020301, 2);
  Conn& c = tr.Add(0x01020301, 3);
  EXPECT_TRUE(Syn(*r.m, tr, a, 0));   // 1 <= 1
  EXPECT_FALSE(Syn(*r.m, tr, b, 1));  // 2 > 1
  tr.Kill(0);
  b.tcp().state = 7;  // TIME_WAIT
  EXPECT_TRUE(Syn(*r.m, tr, c, 2));
}

TEST(ConnlimitMatch, SameJiffyAddsWithoutLooking) {
  // The kernel skips its list walk when it already walked it this jiffy.
  auto r = Load("-p tcp -m connlimit --connlimit-above 1");
  Tracker tr;
  Conn& a = tr.Add(0x01020301, 1);
  EXPECT_FALSE(Syn(*r.m, tr, a, 0));
  EXPECT_TRUE(Syn(*r.m, tr, a, 0));  // counted again
}

TEST(ConnlimitMatch, EstablishedPacketAddsNothing) {
  // nf_conncount_add_skb: a confirmed connection seen as ESTABLISHED (or
  // assured) is not added; the list is only cleaned.
  auto r = Load("-p tcp -m connlimit --connlimit-upto 1");
  Tracker tr;
  Conn& a = tr.Add(0x01020301, 1);
  Conn& b = tr.Add(0x01020301, 2);
  EXPECT_TRUE(Syn(*r.m, tr, a, 0));
  b.status |= kIpsConfirmed;
  EXPECT_TRUE(Hit(*r.m, tr, b, 1, CtInfo::kEstablished));  // still 1
  b.status |= kIpsAssured;
  EXPECT_TRUE(Hit(*r.m, tr, b, 2, CtInfo::kEstablishedReply));
}

TEST(ConnlimitMatch, ConfirmedSetupPacketIsCounted) {
  // A retransmitted SYN of a confirmed connection that is neither assured
  // nor ESTABLISHED is added after a list walk (kernel 6.18.44, "prevent
  // connlimit drops for early confirmed ct"; checked in a namespace).
  auto r = Load("-p tcp -m connlimit --connlimit-upto 1");
  Tracker tr;
  Conn& a = tr.Add(0x01020301, 1);
  Conn& b = tr.Add(0x01020301, 2);
  EXPECT_TRUE(Syn(*r.m, tr, a, 0));
  b.status |= kIpsConfirmed;
  EXPECT_FALSE(Hit(*r.m, tr, b, 0, CtInfo::kNew));  // same jiffy: walked, 2
  EXPECT_FALSE(Hit(*r.m, tr, b, 1, CtInfo::kNew));  // not added twice
}

TEST(ConnlimitMatch, EmptiedListHotDropsConfirmedPackets) {
  // The key's node outlives its emptied list; a packet that adds nothing
  // then counts 0, which xt_connlimit hot-drops. A new connection is
  // counted again.
  auto r = Load("-p tcp -m connlimit --connlimit-upto 1");
  Tracker tr;
  Conn& a = tr.Add(0x01020301, 1);
  Conn& b = tr.Add(0x01020301, 2);
  EXPECT_TRUE(Syn(*r.m, tr, a, 0));
  a.status |= kIpsConfirmed | kIpsAssured;
  a.tcp().state = 8;  // CLOSE (an RST)
  bool hotdrop = false;
  EXPECT_FALSE(Hit(*r.m, tr, a, 1, CtInfo::kEstablished, &hotdrop));
  EXPECT_TRUE(hotdrop);
  hotdrop = false;
  EXPECT_FALSE(Hit(*r.m, tr, a, 2, CtInfo::kEstablished, &hotdrop));
  EXPECT_TRUE(hotdrop);
  EXPECT_TRUE(Hit(*r.m, tr, b, 3, CtInfo::kNew, &hotdrop));
  EXPECT_FALSE(hotdrop);
}

TEST(ConnlimitMatch, PacketWithoutEntryOrTupleIsHotDropped) {
  // An INVALID non-first fragment: nf_ct_get_tuplepr finds no transport
  // header (get_l4proto), so nf_conncount counts 0.
  auto r = Load("-m connlimit --connlimit-upto 1");
  Tracker tr;
  Packet pkt;
  pkt.data.assign(40, 0);
  pkt.data[0] = 0x45;
  pkt.data[6] = 0x00;
  pkt.data[7] = 0x10;  // fragment offset 16 * 8
  pkt.data[9] = 6;
  Store32(&pkt.data[12], 0x01020301);
  Store32(&pkt.data[16], 0x0a000001);
  HookState st;
  XtParams p;
  p.skb = &pkt;
  p.state = &st;
  p.svc = &tr;
  p.thoff = 20;
  EXPECT_FALSE(r.m->Matches(p));
  EXPECT_TRUE(p.hotdrop);
}

TEST(ConnlimitMatch, Saves) {
  auto r = Load(
      "-m connlimit --connlimit-upto 5 --connlimit-mask 255.255.0.0 "
      "--connlimit-daddr");
  EXPECT_NE(Save(*r.rs, false)
                .find("-m connlimit --connlimit-upto 5 "
                      "--connlimit-mask 16 --connlimit-daddr\n"),
            std::string::npos);
}

}  // namespace
}  // namespace netfence::ext
