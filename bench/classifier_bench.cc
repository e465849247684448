// The classifier on the ClassBench sets acl1, fw1 and ipc1 at 1k, 10k and
// 100k rules: the index alone (ChainIndex::Next), the whole table walk
// (TableRuntime::Run, every candidate verified by the exact rule logic), the
// burst API, and the linear walk for comparison.
#include <benchmark/benchmark.h>

#include "bench/bench_util.h"
#include "core/classifier.h"

namespace netfence::bench {
namespace {

void Sizes(benchmark::internal::Benchmark* b) {
  for (int seed = 0; seed < 3; ++seed)
    for (int size : {1000, 10000, 100000}) b->Args({seed, size});
}

void SmallSizes(benchmark::internal::Benchmark* b) {
  for (int seed = 0; seed < 3; ++seed)
    for (int size : {1000, 10000}) b->Args({seed, size});
}

void Label(benchmark::State& state, const ClassBenchSet& s) {
  state.SetLabel(SeedName(int(state.range(0))) + "_" +
                 std::to_string(state.range(1)) + " (" +
                 std::to_string(s.rules) + " rules)");
  state.SetItemsProcessed(int64_t(state.iterations()));
}

// Keys are the index's keys of a set's packets.
std::vector<core::PacketKey> Keys(const ClassBenchSet& s,
                                  const core::ChainIndex& ix) {
  std::vector<core::PacketKey> keys(s.pkts.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    core::MakePacketKey(s.params[i], s.infos[i], ix.addr_word(), keys[i]);
    core::PadIfName(s.st.in, keys[i].in);
    core::PadIfName(s.st.out, keys[i].out);
  }
  return keys;
}

// BM_Index: the index's first candidate for each trace packet.
void BM_Index(benchmark::State& state) {
  ClassBenchSet& s =
      LoadSet(SeedName(int(state.range(0))), int(state.range(1)), true);
  const core::ChainIndex* ix = s.table->Index(s.chain);
  const std::vector<core::PacketKey> keys = Keys(s, *ix);
  size_t i = 0;
  core::ClsCursor c;
  for (auto _ : state) {
    c.Reset();
    benchmark::DoNotOptimize(ix->Next(0, keys[i], c));
    if (++i == keys.size()) i = 0;
  }
  Label(state, s);
  state.counters["bytes_per_rule"] =
      double(ix->MemoryBytes()) / double(s.rules);
}
BENCHMARK(BM_Index)->Apply(Sizes);

// BM_IndexBurst: the index's first candidates for bursts of 32 trace
// packets (ChainIndex::NextBurst); time per packet.
void BM_IndexBurst(benchmark::State& state) {
  ClassBenchSet& s =
      LoadSet(SeedName(int(state.range(0))), int(state.range(1)), true);
  const core::ChainIndex* ix = s.table->Index(s.chain);
  const std::vector<core::PacketKey> keys = Keys(s, *ix);
  constexpr size_t kBurst = 32;
  std::vector<core::ClsCursor> cursors(kBurst);
  const core::PacketKey* kp[kBurst];
  core::ClsCursor* cp[kBurst];
  uint32_t out[kBurst];
  for (size_t j = 0; j < kBurst; ++j) cp[j] = &cursors[j];
  size_t i = 0;
  for (auto _ : state) {
    if (i + kBurst > keys.size()) i = 0;
    for (size_t j = 0; j < kBurst; ++j) kp[j] = &keys[i + j];
    ix->NextBurst(kp, cp, kBurst, out);
    benchmark::DoNotOptimize(out[kBurst - 1]);
    i += kBurst;
  }
  Label(state, s);
  state.SetItemsProcessed(int64_t(state.iterations()) * kBurst);
}
BENCHMARK(BM_IndexBurst)->Apply(Sizes);

// BM_Run: the whole table walk, one packet per call.
void RunWalk(benchmark::State& state, bool compiled) {
  ClassBenchSet& s =
      LoadSet(SeedName(int(state.range(0))), int(state.range(1)), compiled);
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        s.table->Run(core::Hook::kForward, s.params[i], s.infos[i], nullptr));
    if (++i == s.pkts.size()) i = 0;
  }
  Label(state, s);
}
void BM_RunCompiled(benchmark::State& state) { RunWalk(state, true); }
void BM_RunLinear(benchmark::State& state) { RunWalk(state, false); }
BENCHMARK(BM_RunCompiled)->Apply(Sizes);
BENCHMARK(BM_RunLinear)->Apply(SmallSizes);

// BM_RunThreads: the walk on one shared table from several threads, each
// with its own packets (per-thread counter shards keep them apart).
void BM_RunThreads(benchmark::State& state) {
  ClassBenchSet& s =
      LoadSet(SeedName(int(state.range(0))), int(state.range(1)), true);
  std::vector<core::Packet> pkts = s.pkts;
  std::vector<core::XtParams> params(pkts.size());
  for (size_t i = 0; i < pkts.size(); ++i) {
    params[i].skb = &pkts[i];
    params[i].state = &s.st;
  }
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        s.table->Run(core::Hook::kForward, params[i], s.infos[i], nullptr));
    if (++i == pkts.size()) i = 0;
  }
  state.SetItemsProcessed(int64_t(state.iterations()));
}
BENCHMARK(BM_RunThreads)
    ->Args({0, 10000})
    ->Args({1, 10000})
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

// BM_RunBurst: the walk in bursts of 32 packets (TableRuntime::RunBurst).
void BM_RunBurst(benchmark::State& state) {
  ClassBenchSet& s =
      LoadSet(SeedName(int(state.range(0))), int(state.range(1)), true);
  constexpr size_t kBurst = 32;
  std::vector<core::XtParams*> ptrs;
  for (auto& p : s.params) ptrs.push_back(&p);
  core::Decision out[kBurst];
  size_t i = 0;
  for (auto _ : state) {
    const size_t n = std::min(kBurst, s.pkts.size() - i);
    s.table->RunBurst(core::Hook::kForward, &ptrs[i], &s.infos[i], n, out,
                      nullptr);
    benchmark::DoNotOptimize(out[0]);
    i += n;
    if (i == s.pkts.size()) i = 0;
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * kBurst);
  state.SetLabel(SeedName(int(state.range(0))) + "_" +
                 std::to_string(state.range(1)));
}
BENCHMARK(BM_RunBurst)->Apply(Sizes);

// BM_Build: indexing a whole chain (boxes from the rules, then the trees).
void BM_Build(benchmark::State& state) {
  ClassBenchSet& s =
      LoadSet(SeedName(int(state.range(0))), int(state.range(1)), true);
  const auto& rules = s.table->table().chains[s.chain].rules;
  size_t bytes = 0;
  for (auto _ : state) {
    core::ChainIndex ix(core::Family::kIPv4, 0);
    ix.Build(rules);
    bytes = ix.MemoryBytes();
  }
  state.SetLabel(SeedName(int(state.range(0))) + "_" +
                 std::to_string(state.range(1)));
  state.counters["bytes_per_rule"] = double(bytes) / double(s.rules);
}
BENCHMARK(BM_Build)->Apply(Sizes)->Unit(benchmark::kMillisecond);

// BM_InsertErase: one rule inserted at a random position of the chain's
// index and erased again, in place.
void BM_InsertErase(benchmark::State& state) {
  ClassBenchSet& s =
      LoadSet(SeedName(int(state.range(0))), int(state.range(1)), true);
  const auto& rules = s.table->table().chains[s.chain].rules;
  core::ChainIndex ix = *s.table->Index(s.chain);
  std::vector<core::RuleBox> boxes;
  for (size_t i = 0; i < 256; ++i)
    boxes.push_back(ix.BoxFor(rules[i * 37 % rules.size()]));
  uint32_t k = 0;
  for (auto _ : state) {
    const uint32_t pos = (k * 7919u) % ix.size();
    ix.InsertBox(pos, boxes[k % boxes.size()]);
    ix.Erase(pos);
    ++k;
  }
  state.SetLabel(SeedName(int(state.range(0))) + "_" +
                 std::to_string(state.range(1)));
}
BENCHMARK(BM_InsertErase)->Apply(Sizes)->Unit(benchmark::kMicrosecond);

// BM_CopyInsert: what a TableEdit runtime costs over its table: a copy of
// the old chain index (readers keep the old one) plus one insertion.
void BM_CopyInsert(benchmark::State& state) {
  ClassBenchSet& s =
      LoadSet(SeedName(int(state.range(0))), int(state.range(1)), true);
  const auto& rules = s.table->table().chains[s.chain].rules;
  const core::ChainIndex& ix = *s.table->Index(s.chain);
  uint32_t k = 0;
  for (auto _ : state) {
    core::ChainIndex copy = ix;
    copy.Insert((k * 7919u) % copy.size(), rules[k % rules.size()]);
    benchmark::DoNotOptimize(copy.size());
    ++k;
  }
  state.SetLabel(SeedName(int(state.range(0))) + "_" +
                 std::to_string(state.range(1)));
}
BENCHMARK(BM_CopyInsert)->Apply(Sizes)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace netfence::bench
