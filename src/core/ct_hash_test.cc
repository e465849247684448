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
  std::vector<std::unique_ptr<Conn>> conns;
  for (int step = 0; step < 20000; ++step) {
    const int op = int(rng() % 10);
    if (op < 5 || conns.empty()) {
      auto c = std::make_unique<Conn>();
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

}  // namespace
}  // namespace netfence::core
