// `netfence bench`: how fast one table classifies packets, with the linear
// walk or the compiled index, as one JSON line. The checksum covers the
// deciding rule of every trace packet in order, so two engines that agree
// print the same checksum. ns_per_packet is thread CPU time per lookup (a
// busy machine preempting the benchmark does not inflate it); mpps is
// lookups per second of wall time over all threads.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <iostream>
#include <latch>
#include <thread>

#include "cli/commands.h"
#include "core/do_table.h"
#include "core/host.h"
#include "core/pktinfo.h"
#include "core/restore.h"
#include "io/classbench.h"
#include "io/file.h"
#include "io/system_resolver.h"

namespace netfence::cli {

namespace {

struct BenchArgs {
  std::string rules, classbench, trace, engine = "compiled";
  std::string table = "filter", chain = "FORWARD", in = "eth0", out = "eth1";
  uint64_t packets = 1000000;
  uint64_t draw = 100000;
  int threads = 1;
  int batch = 1;
  uint64_t seed = 1;
  int leaf_size = 0;   // 0: the default
  int partition = -1;  // -1: the default
  int trust_exact = -1;
};

// NullServices lets targets with side effects run without a host.
class NullServices : public core::PacketServices {
 public:
  void Log(const std::string&) override {}
  void SendLocal(core::Packet) override {}
  core::Verdict SetupNat(core::XtParams&, const core::NatRange&,
                         core::NatManip) override {
    return core::Verdict::kAccept;
  }
  uint32_t Random() override {
    return uint32_t(state_ = state_ * 6364136223846793005ull + 1) >> 7;
  }

 private:
  uint64_t state_ = 1;
};

// Lane is one thread's packets and per-packet parameters (a walk writes to
// its XtParams and may rewrite its packet, so lanes share nothing).
struct Lane {
  std::vector<core::Packet> pkts;
  std::vector<core::PktInfo> infos;
  std::vector<core::XtParams> params;
  std::vector<core::XtParams*> ptrs;
  core::HookState st;
  NullServices svc;

  Lane(const std::vector<io::TraceHeader>& hs, const core::HookState& state)
      : st(state) {
    pkts.reserve(hs.size());
    for (const auto& h : hs) pkts.push_back(io::MakePacket(h));
    for (const auto& p : pkts) infos.push_back(core::ComputePktInfo(p));
    params.resize(pkts.size());
    for (size_t i = 0; i < pkts.size(); ++i) {
      params[i].skb = &pkts[i];
      params[i].state = &st;
      params[i].svc = &svc;
      ptrs.push_back(&params[i]);
    }
  }

  // Run classifies count packets, cycling through the lane, in bursts of
  // batch (1: one Run per packet); returns a sum of the decisions so the
  // work cannot be optimised away.
  uint64_t Run(const core::TableRuntime& rt, core::Hook h, uint64_t count,
               size_t batch) {
    uint64_t sink = 0;
    size_t i = 0;
    std::vector<core::Decision> out(batch);
    while (count > 0) {
      if (batch <= 1) {
        sink += uint64_t(rt.Run(h, params[i], infos[i], nullptr).rule);
        if (++i == pkts.size()) i = 0;
        --count;
        continue;
      }
      const size_t n = std::min<uint64_t>({batch, count, pkts.size() - i});
      rt.RunBurst(h, &ptrs[i], &infos[i], n, out.data(), nullptr);
      for (size_t j = 0; j < n; ++j) sink += uint64_t(out[j].rule);
      i += n;
      if (i == pkts.size()) i = 0;
      count -= n;
    }
    return sink;
  }
};

// ThreadCpuNs is the calling thread's CPU time: per-packet costs measured
// with it do not include time the thread spent preempted on a busy machine.
double ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e9 + double(ts.tv_nsec);
}

int Run(const BenchArgs& a) {
  if (a.rules.empty() == a.classbench.empty())
    throw io::InputError("bench: give one of --rules and --classbench");
  if (a.engine != "linear" && a.engine != "compiled")
    throw io::InputError("bench: --engine is linear or compiled");
  if (a.threads < 1 || a.batch < 1 || a.packets == 0)
    throw io::InputError(
        "bench: --threads, --batch and --packets must be >= 1");
  io::SystemResolver resolver;
  core::RestoreOptions ro;
  ro.resolver = &resolver;
  std::string text;
  std::vector<uint32_t> origin;  // ClassBench: chain position -> filter line
  size_t filters = 0;
  if (!a.classbench.empty()) {
    auto cb = io::ParseClassBench(io::ReadFile(a.classbench), a.classbench);
    filters = cb.size();
    io::ClassBenchRuleset rs = io::ClassBenchToRestore(cb);
    text = std::move(rs.restore);
    origin = std::move(rs.origin);
    ro.filename = a.classbench;
  } else {
    text = io::ReadFile(a.rules);
    ro.filename = a.rules;
  }
  std::unique_ptr<core::Ruleset> rs = core::Restore(text, ro);
  std::unique_ptr<core::Table> table;
  for (auto& t : rs->tables)
    if (t->name == a.table) table = std::move(t);
  if (!table) throw io::InputError("bench: no table " + a.table);
  const int chain = table->ChainIndex(a.chain);
  if (chain < 0 || !table->chains[chain].builtin)
    throw io::InputError("bench: no built-in chain " + a.chain);
  const core::Hook hook = table->chains[chain].hook;

  core::RuntimeOptions opts;
  opts.compiled = a.engine == "compiled";
  if (a.leaf_size > 0) opts.classifier.leaf_size = a.leaf_size;
  if (a.partition >= 0) opts.classifier.partition = a.partition != 0;
  if (a.trust_exact >= 0) opts.trust_exact = a.trust_exact != 0;
  const auto t0 = std::chrono::steady_clock::now();
  core::TableRuntime rt(std::move(table), opts);
  const auto t1 = std::chrono::steady_clock::now();
  const double build_ms =
      std::chrono::duration<double, std::milli>(t1 - t0).count();
  const core::Chain& c = rt.table().chains[chain];

  std::vector<io::TraceHeader> headers =
      a.trace.empty() ? io::DrawHeaders(rt.table(), c, a.draw, a.seed)
                      : io::ReadTrace(a.trace);
  if (headers.empty()) throw io::InputError("bench: no packets");

  core::Interface in, out;
  in.name = a.in;
  out.name = a.out;
  core::HookState st;
  st.hook = hook;
  st.in = a.in.empty() ? nullptr : &in;
  st.out = a.out.empty() ? nullptr : &out;

  // The checksum: every trace packet once, in order, one Run each.
  uint64_t checksum = 1469598103934665603ull;
  {
    Lane lane(headers, st);
    for (size_t i = 0; i < lane.pkts.size(); ++i) {
      core::Decision d = rt.Run(hook, lane.params[i], lane.infos[i], nullptr);
      uint64_t num;
      if (!origin.empty())
        num = d.chain == chain && d.rule >= 0 ? origin[d.rule] : 0;
      else
        num = uint64_t(d.chain + 1) << 32 | uint32_t(d.rule + 1);
      for (int b = 0; b < 8; ++b)
        checksum = (checksum ^ ((num >> (8 * b)) & 0xff)) * 1099511628211ull;
    }
  }

  std::vector<std::unique_ptr<Lane>> lanes;
  for (int i = 0; i < a.threads; ++i)
    lanes.push_back(std::make_unique<Lane>(headers, st));
  const uint64_t per_thread = (a.packets + a.threads - 1) / a.threads;
  std::vector<double> thread_ns(a.threads);
  std::latch ready(a.threads + 1);
  std::vector<std::thread> workers;
  std::chrono::steady_clock::time_point start;
  for (int i = 0; i < a.threads; ++i) {
    workers.emplace_back([&, i] {
      Lane& lane = *lanes[i];
      // Warm the caches with one pass (at most the timed count).
      volatile uint64_t sink = lane.Run(
          rt, hook, std::min<uint64_t>(per_thread, lane.pkts.size()), a.batch);
      ready.arrive_and_wait();
      const double s = ThreadCpuNs();
      sink = sink + lane.Run(rt, hook, per_thread, a.batch);
      thread_ns[i] = ThreadCpuNs() - s;
    });
  }
  ready.arrive_and_wait();
  start = std::chrono::steady_clock::now();
  for (auto& w : workers) w.join();
  const double wall_ns = std::chrono::duration<double, std::nano>(
                             std::chrono::steady_clock::now() - start)
                             .count();
  const uint64_t total = per_thread * uint64_t(a.threads);
  double busy_ns = 0;
  for (double t : thread_ns) busy_ns += t;
  const size_t rules = rt.table().chains[chain].rules.size();
  std::string shape;
  if (const core::ChainIndex* ix = rt.Index(chain)) {
    const core::ChainIndex::Stats s = ix->GetStats();
    shape = fmt::format(
        ",\"index\":{{\"trees\":{},\"nodes\":{},\"leaves\":{},"
        "\"leaf_entries\":{},\"max_leaf\":{},\"max_depth\":{}}}",
        s.trees, s.nodes, s.leaves, s.leaf_entries, s.max_leaf, s.max_depth);
  }
  std::cout << fmt::format(
      "{{\"engine\":\"{}\",\"rules\":{},\"filters\":{},\"packets\":{},"
      "\"trace_packets\":{},\"threads\":{},\"batch\":{},"
      "\"ns_per_packet\":{:.2f},\"mpps\":{:.3f},\"build_ms\":{:.2f},"
      "\"memory_bytes\":{},\"bytes_per_rule\":{:.1f},"
      "\"checksum\":\"{:016x}\"{}}}\n",
      a.engine, rules, filters, total, headers.size(), a.threads, a.batch,
      busy_ns / double(total), double(total) / wall_ns * 1e3, build_ms,
      rt.IndexMemoryBytes(),
      rules ? double(rt.IndexMemoryBytes()) / double(rules) : 0.0, checksum,
      shape);
  return 0;
}

}  // namespace

void AddBenchCommand(CLI::App& app, Action& action) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* b = app.add_subcommand(
      "bench", "Measure rule lookup speed (linear walk or compiled index)");
  b->add_option("--rules", args->rules, "Ruleset (iptables-save form)");
  b->add_option("--classbench", args->classbench,
                "ClassBench filter file (FORWARD rules, policy DROP)");
  b->add_option("--trace", args->trace,
                "ClassBench header trace (.gz read with zlib); default: "
                "headers drawn from the rules");
  b->add_option("--engine", args->engine, "linear or compiled")
      ->check(CLI::IsMember({"linear", "compiled"}));
  b->add_option("--packets", args->packets, "Lookups to time (all threads)");
  b->add_option("--threads", args->threads, "Threads sharing the table");
  b->add_option("--batch", args->batch,
                "Packets per RunBurst call (1: one Run per packet)");
  b->add_option("--draw", args->draw,
                "Headers to draw from the rules when there is no trace");
  b->add_option("--table", args->table, "Table of --rules (default filter)");
  b->add_option("--chain", args->chain,
                "Built-in chain to enter (default FORWARD)");
  b->add_option("--in", args->in, "Input interface name (\"\": none)");
  b->add_option("--out", args->out, "Output interface name (\"\": none)");
  b->add_option("--seed", args->seed, "Seed for drawn headers");
  b->add_option("--leaf-size", args->leaf_size,
                "Tuning: rules per index leaf before it is cut");
  b->add_option("--partition", args->partition,
                "Tuning: 1 one tree per kind of specific field, 0 one tree");
  b->add_option("--trust-exact", args->trust_exact,
                "Tuning: 1 exact boxes skip verification, 0 verify all");
  b->callback([args, &action] { action = [args] { return Run(*args); }; });
}

}  // namespace netfence::cli
