// The whole simulated path (NetStack::Receive / Send: defragmentation,
// conntrack, NAT, routing, every table at every hook) on the realistic
// router scenarios, with the compiled index and with the linear walk. The
// scenario's packets are replayed in a loop; after the first round most
// belong to known connections, as in a router's steady state.
#include <benchmark/benchmark.h>

#include "bench/bench_util.h"
#include "core/restore.h"
#include "core/stack.h"
#include "io/file.h"
#include "io/host_json.h"
#include "io/packets_json.h"
#include "io/system_resolver.h"

namespace netfence::bench {
namespace {

void Simulate(benchmark::State& state, const std::string& scenario,
              bool compiled) {
  const std::string dir =
      SharedDir() + "/scenarios/realistic/" + scenario + "/";
  io::SystemResolver resolver;
  auto host = io::LoadHostFile(dir + "host.json");
  core::RestoreOptions ro;
  ro.resolver = &resolver;
  ro.filename = dir + "rules.v4";
  auto rules = core::Restore(io::ReadFile(dir + "rules.v4"), ro);
  auto packets = io::ReadPackets(dir + "packets.jsonl",
                                 io::ReadFile(dir + "packets.jsonl"), *host);
  core::StackOptions so;
  so.tables.compiled = compiled;
  so.tables.classifier.min_rules = 1;
  core::NetStack stack(*host, so);
  stack.SetRules(core::Family::kIPv4, std::move(rules));
  size_t i = 0, accepted = 0;
  double t0 = packets.empty() ? 0 : packets[0].pkt.tstamp;
  double shift = 0;
  for (auto _ : state) {
    const io::InputPacket& ip = packets[i];
    core::Packet p = ip.pkt;
    p.tstamp = ip.pkt.tstamp + shift;
    core::Outcome o = ip.local ? stack.Send(std::move(p))
                               : stack.Receive(std::move(p), ip.iface);
    accepted += o.accepted;
    if (++i == packets.size()) {
      // Replay with time moving on, so connections stay in their states.
      i = 0;
      shift += packets.back().pkt.tstamp - t0 + 1;
    }
  }
  state.SetItemsProcessed(int64_t(state.iterations()));
  state.counters["accepted"] =
      benchmark::Counter(double(accepted), benchmark::Counter::kAvgIterations);
}

void BM_SimulateUniversity(benchmark::State& s) {
  Simulate(s, "university", s.range(0));
}
void BM_SimulateDslRouter(benchmark::State& s) {
  Simulate(s, "dsl_router", s.range(0));
}
void BM_SimulateKube(benchmark::State& s) { Simulate(s, "kube", s.range(0)); }
BENCHMARK(BM_SimulateUniversity)->Arg(1)->Arg(0);
BENCHMARK(BM_SimulateDslRouter)->Arg(1)->Arg(0);
BENCHMARK(BM_SimulateKube)->Arg(1)->Arg(0);

}  // namespace
}  // namespace netfence::bench
