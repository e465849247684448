// CtHash against a node-based map doing the same operations (the structure
// it replaced), and Conntrack::FindBurst against Find.
#include "core/ct_hash.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>

#include "core/conntrack.h"

namespace netfence::core {
namespace {

Tuple RandomTuple(std::mt19937& rng) {
  Tuple t;
  // Few distinct values, so keys repeat and probe runs get long.
  t.src = Addr::FromV4(0x0a000000 | (rng() % 64));
  t.dst = Addr::FromV4(0xc0a80000 | (rng() % 8));
  t.sport = uint16_t(rng() % 16);
  t.dport = 53;
  t.proto = rng() % 2 ? 6 : 17;
  if (rng() % 8 == 0) t.family = Family::kIPv6;
  return t;
}

using Key = std::pair<std::vector<uint8_t>, uint16_t>;

Key KeyOf(const Tuple& t, uint16_t zone) {
  std::vector<uint8_t> b(t.src.b.begin(), t.src.b.end());
  b.insert(b.end(), t.dst.b.begin(), t.dst.b.end());
  b.push_back(uint8_t(t.sport >> 8));
  b.push_back(uint8_t(t.sport));
  b.push_back(uint8_t(t.dport >> 8));
  b.push_back(uint8_t(t.dport));
  b.push_back(t.proto);
  b.push_back(uint8_t(t.family));
  return {b, zone};
}

TEST(CtHash, BehavesLikeAMap) {
  std::mt19937 rng(5);
  CtHash h;
  std::map<Key, std::pair<Conn*, CtDir>> model;
  std::vector<std::shared_ptr<Conn>> conns;  // slab entries
  for (int step = 0; step < 20000; ++step) {
    const int op = int(rng() % 10);
    if (op < 5 || conns.empty()) {
      std::shared_ptr<Conn> c = ConnSlab::Ref(ConnSlab::New());
      c->tuple[0] = RandomTuple(rng);
      InvertTuple(c->tuple[0], c->tuple[1]);
      c->zone = uint16_t(rng() % 2);
      for (int d = 0; d < 2; ++d) {
        h.Set(c.get(), CtDir(d));
        model[KeyOf(c->tuple[d], c->zone)] = {c.get(), CtDir(d)};
      }
      conns.push_back(std::move(c));
    } else if (op < 8) {
      Conn* c = conns[rng() % conns.size()].get();
      const CtDir d = CtDir(rng() % 2);
      h.EraseIf(c, d);
      auto it = model.find(KeyOf(c->tuple[d], c->zone));
      if (it != model.end() && it->second.first == c) model.erase(it);
    }
    Tuple t = RandomTuple(rng);
    const uint16_t zone = uint16_t(rng() % 2);
    const CtHash::Hit hit = h.Find(t, zone);
    auto it = model.find(KeyOf(t, zone));
    if (it == model.end()) {
      ASSERT_EQ(hit.ct, nullptr) << step;
    } else {
      ASSERT_EQ(hit.ct, it->second.first) << step;
      ASSERT_EQ(hit.dir, it->second.second) << step;
    }
    ASSERT_EQ(h.size(), model.size()) << step;
  }
  // Every key still maps where the model says, including after growth.
  for (const auto& [k, v] : model) {
    const Tuple& t = v.first->tuple[v.second];
    EXPECT_EQ(h.Find(t, v.first->zone).ct, v.first);
  }
}

Packet Udp(uint32_t src, uint16_t sport) {
  Packet p;
  p.data.assign(28, 0);
  uint8_t* d = p.data.data();
  d[0] = 0x45;
  Store16(d + 2, 28);
  d[8] = 64;
  d[9] = 17;
  Store32(d + 12, src);
  Store32(d + 16, 0xc0a80001);
  Store16(d + 20, sport);
  Store16(d + 22, 53);
  Store16(d + 24, 8);
  return p;
}

TEST(CtHash, ConntrackFindBurstEqualsFind) {
  CtConfig cfg;
  cfg.checksum = false;
  cfg.gc_budget = 0;
  Conntrack a(cfg), b(cfg);
  for (uint32_t i = 0; i < 500; ++i) {
    // Flows created at different times expire at different times.
    for (Conntrack* ct : {&a, &b}) {
      Packet p = Udp(0x0a000000 + i, uint16_t(1000 + i));
      ct->In(p, Hook::kPrerouting, double(i % 5) * 10);
      ct->Confirm(p, double(i % 5) * 10);
    }
  }
  std::vector<Tuple> tuples;
  for (uint32_t i = 0; i < 600; ++i) {
    Tuple t;
    t.src = Addr::FromV4(0x0a000000 + i);
    t.dst = Addr::FromV4(0xc0a80001);
    t.sport = uint16_t(1000 + i);
    t.dport = 53;
    t.proto = 17;
    Tuple r;
    InvertTuple(t, r);
    tuples.push_back(t);
    tuples.push_back(i % 3 ? r : t);  // repeats, as a burst may hold
  }
  std::vector<const Tuple*> ptrs;
  for (const Tuple& t : tuples) ptrs.push_back(&t);
  const double now = 55;  // some flows have expired by now
  std::vector<Conn*> got(tuples.size());
  std::vector<CtDir> dirs(tuples.size());
  b.FindBurst(ptrs.data(), 0, ptrs.size(), got.data(), dirs.data(), now);
  for (size_t i = 0; i < tuples.size(); ++i) {
    CtDir d;
    Conn* want = a.Find(tuples[i], 0, &d, now);
    ASSERT_EQ(want == nullptr, got[i] == nullptr) << i;
    if (want != nullptr) {
      EXPECT_EQ(want->tuple[0], got[i]->tuple[0]) << i;
      EXPECT_EQ(d, dirs[i]) << i;
    }
  }
  EXPECT_EQ(a.size(), b.size());
}

// An entry lives while the table or a packet holds it: a packet keeps its
// connection past the table's end, and the slab reuses the entry after.
TEST(ConnSlab, PacketKeepsItsEntryAlive) {
  CtConfig cfg;
  cfg.checksum = false;
  Packet p = Udp(0x0a000001, 4000);
  uint32_t id;
  {
    Conntrack ct(cfg);
    ct.In(p, Hook::kPrerouting, 0);
    ct.Confirm(p, 0);
    ASSERT_NE(p.ct, nullptr);
    EXPECT_EQ(p.ct->refs.load(), 2u);  // the table's and the packet's
    id = p.ct->slab_id;
    EXPECT_EQ(ConnSlab::At(id), p.ct);
  }
  EXPECT_EQ(p.ct->refs.load(), 1u);
  EXPECT_EQ(p.ct->tuple[kDirOriginal].sport, 4000);
  p.ct = nullptr;
  p.ct_ref.reset();  // the last reference: the entry goes back
  Conn* again = ConnSlab::New();
  EXPECT_EQ(again->slab_id, id);  // freed entries are reused first
  EXPECT_EQ(again->tuple[kDirOriginal].sport, 0);  // constructed afresh
  ConnSlab::Ref(again).reset();
}

// An entry removed from the table (expired) while its packet is still in
// flight stays valid until the packet lets go.
TEST(ConnSlab, RemovedEntryHeldByPacket) {
  CtConfig cfg;
  cfg.checksum = false;
  Conntrack ct(cfg);
  Packet first = Udp(0x0a000002, 4001);
  ct.In(first, Hook::kPrerouting, 0);
  ct.Confirm(first, 0);
  Conn* c = first.ct;
  CtDir d;
  EXPECT_EQ(ct.Find(c->tuple[kDirOriginal], 0, &d, 1000), nullptr);  // reaped
  EXPECT_EQ(ct.size(), 0u);
  EXPECT_EQ(c->refs.load(), 1u);
  EXPECT_EQ(c->tuple[kDirReply].dport, 4001);
}

TEST(CtHelperName, InternsNames) {
  CtHelperName none;
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(none.str(), "");
  CtHelperName a(std::string("ftp")), b;
  b = "ftp";
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, "ftp");
  EXPECT_FALSE(a == "sip");
  const std::string& s = b;
  EXPECT_EQ(s, "ftp");
  b = "";
  EXPECT_TRUE(b.empty());
}

// TCP's state and UDP's stream time share storage: a connection reads
// zero TCP state until it gets some.
TEST(Conn, ProtocolStateStorage) {
  Conn c;
  EXPECT_EQ(static_cast<const Conn&>(c).tcp().state, 0);
  c.set_udp_stream_ts(12.5);
  EXPECT_EQ(c.udp_stream_ts(), 12.5);
  c.tcp().state = 3;
  c.tcp().seen[1].td_end = 7;
  EXPECT_EQ(static_cast<const Conn&>(c).tcp().seen[1].td_end, 7u);
  c.set_udp_stream_ts(1);
  EXPECT_EQ(static_cast<const Conn&>(c).tcp().state, 0);
}

}  // namespace
}  // namespace netfence::core
