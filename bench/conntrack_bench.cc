// Connection tracking at 1M flows: lookups of existing tuples
// (Conntrack::Find, the hash lookup nf_conntrack_find_get does) and whole
// In() calls for packets of known flows. bytes_per_flow is what the
// allocator holds per confirmed flow (entries, hash table, bookkeeping):
// the growth of glibc's in-use heap over populating the flows: small
// chunks with their headers (uordblks) plus mmapped ones (hblkhd), which
// uordblks leaves out and which the hash table and other large arrays are.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <unordered_map>

#include "core/conntrack.h"

namespace netfence::bench {
namespace {

using namespace core;

Packet UdpPacket(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport) {
  Packet p;
  p.data.assign(28, 0);
  uint8_t* d = p.data.data();
  d[0] = 0x45;
  Store16(d + 2, 28);
  d[8] = 64;
  d[9] = 17;
  Store32(d + 12, src);
  Store32(d + 16, dst);
  Store16(d + 20, sport);
  Store16(d + 22, dport);
  Store16(d + 24, 8);
  return p;
}

// HeapInUse is the bytes glibc's malloc has handed out and not got back.
size_t HeapInUse() {
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

struct Flows {
  std::unique_ptr<Conntrack> ct;
  std::vector<Tuple> tuples;  // both directions, shuffled
  std::vector<Packet> pkts;   // one per flow, original direction, shuffled
  double bytes_per_flow = 0;
};

Flows& Populate(size_t n) {
  static std::map<size_t, std::unique_ptr<Flows>> cache;
  auto& slot = cache[n];
  if (slot) return *slot;
  slot = std::make_unique<Flows>();
  Flows& f = *slot;
  CtConfig cfg;
  cfg.max = n + 16;
  cfg.checksum = false;
  cfg.gc_budget = 0;
  const size_t before = HeapInUse();
  f.ct = std::make_unique<Conntrack>(cfg);
  for (size_t i = 0; i < n; ++i) {
    Packet p =
        UdpPacket(0x0a000000 + uint32_t(i / 7), 0xc0a80001 + uint32_t(i % 7),
                  uint16_t(1024 + i % 60000), 53);
    f.ct->In(p, Hook::kPrerouting, 0);
    f.ct->Confirm(p, 0);
  }
  const size_t after = HeapInUse();
  f.bytes_per_flow = double(after - before) / double(n);
  std::mt19937 rng(1);
  for (size_t i = 0; i < n; ++i) {
    Tuple t;
    t.src = Addr::FromV4(0x0a000000 + uint32_t(i / 7));
    t.dst = Addr::FromV4(0xc0a80001 + uint32_t(i % 7));
    t.sport = uint16_t(1024 + i % 60000);
    t.dport = 53;
    t.proto = 17;
    Tuple r;
    InvertTuple(t, r);
    f.tuples.push_back(t);
    f.tuples.push_back(r);
  }
  std::shuffle(f.tuples.begin(), f.tuples.end(), rng);
  for (size_t i = 0; i < std::min<size_t>(n, 200000); ++i) {
    const size_t k = rng() % n;
    f.pkts.push_back(UdpPacket(0x0a000000 + uint32_t(k / 7),
                               0xc0a80001 + uint32_t(k % 7),
                               uint16_t(1024 + k % 60000), 53));
  }
  return f;
}

void BM_CtFind(benchmark::State& state) {
  Flows& f = Populate(size_t(state.range(0)));
  size_t i = 0, found = 0;
  for (auto _ : state) {
    CtDir dir;
    found += f.ct->Find(f.tuples[i], 0, &dir, 1.0) != nullptr;
    if (++i == f.tuples.size()) i = 0;
  }
  if (found != size_t(state.iterations())) state.SkipWithError("lost flows");
  state.SetItemsProcessed(int64_t(state.iterations()));
  state.counters["flows"] = double(f.ct->size());
  state.counters["bytes_per_flow"] = f.bytes_per_flow;
}
BENCHMARK(BM_CtFind)->Arg(1000)->Arg(100000)->Arg(1000000);

// BM_CtFindBurst: the same lookups, 16 at a time (Conntrack::FindBurst).
void BM_CtFindBurst(benchmark::State& state) {
  Flows& f = Populate(size_t(state.range(0)));
  constexpr size_t kBurst = 16;
  std::vector<const Tuple*> ptrs;
  for (const Tuple& t : f.tuples) ptrs.push_back(&t);
  Conn* out[kBurst];
  size_t i = 0, found = 0;
  for (auto _ : state) {
    f.ct->FindBurst(&ptrs[i], 0, kBurst, out, nullptr, 1.0);
    for (Conn* c : out) found += c != nullptr;
    i += kBurst;
    if (i + kBurst > ptrs.size()) i = 0;
  }
  if (found != size_t(state.iterations()) * kBurst)
    state.SkipWithError("lost flows");
  state.SetItemsProcessed(int64_t(state.iterations()) * kBurst);
  state.counters["bytes_per_flow"] = f.bytes_per_flow;
}
BENCHMARK(BM_CtFindBurst)->Arg(1000)->Arg(1000000);

// BM_NodeMapFind is the structure Conntrack used before core/ct_hash: a
// std::unordered_map from TupleKey (with TupleKeyHash) to the connection,
// over the same flows, reading the entry's expiry as Find does.
void BM_NodeMapFind(benchmark::State& state) {
  Flows& f = Populate(size_t(state.range(0)));
  const size_t before = HeapInUse();
  std::unordered_map<TupleKey, std::pair<Conn*, CtDir>, TupleKeyHash> map;
  for (const Tuple& t : f.tuples) {
    CtDir dir;
    Conn* ct = f.ct->Find(t, 0, &dir, 1.0);
    map[TupleKey{t, 0}] = {ct, dir};
  }
  const double map_bytes = double(HeapInUse() - before);
  size_t i = 0;
  double sink = 0;
  for (auto _ : state) {
    auto it = map.find(TupleKey{f.tuples[i], 0});
    sink += it->second.first->expires;
    if (++i == f.tuples.size()) i = 0;
  }
  benchmark::DoNotOptimize(sink);
  state.SetItemsProcessed(int64_t(state.iterations()));
  state.counters["map_bytes_per_flow"] = map_bytes / double(f.ct->size());
}
BENCHMARK(BM_NodeMapFind)->Arg(1000000);

void BM_CtInEstablished(benchmark::State& state) {
  Flows& f = Populate(size_t(state.range(0)));
  size_t i = 0;
  for (auto _ : state) {
    Packet& p = f.pkts[i];
    benchmark::DoNotOptimize(f.ct->In(p, Hook::kPrerouting, 1.0));
    p.ct = nullptr;
    p.ct_ref.reset();
    if (++i == f.pkts.size()) i = 0;
  }
  state.SetItemsProcessed(int64_t(state.iterations()));
}
BENCHMARK(BM_CtInEstablished)->Arg(1000000);

}  // namespace
}  // namespace netfence::bench
