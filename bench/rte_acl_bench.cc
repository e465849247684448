// netfence_rte_acl_bench: DPDK's rte_acl and netfence's classifier side by
// side, in one process, on the same ClassBench rules and the same packets.
// Built only when libdpdk-dev is installed (pkg-config libdpdk).
//
// For each set (acl1, fw1, ipc1 at 10k and, when the files exist, 100k) it
// prints rte_acl's build time, runtime memory and ns/packet (bursts of 64
// with its preferred method, and one packet per call with its fastest
// method for that), netfence's build time, index memory and
// ns/packet (Run per packet, RunBurst of 64), the linear walk at 10k, the
// ratios netfence / rte_acl, and how many packets the two classify
// differently (expected: 0).
//
// Both see the same rules: rte_acl gets the FORWARD chain netfence builds
// from the file (io::ClassBenchToRestore's expansion: a wildcard protocol
// with ports becomes a tcp rule then a udp rule, other protocols lose their
// ports), one rte_acl rule per chain rule with priority falling with chain
// position, so the highest-priority match is iptables' first match. Times
// are thread CPU time, the best of three runs of at least 0.2 s each.
//
// Usage: netfence_rte_acl_bench [--alg=NAME] [SET...]   (SET: acl1_10000)
// NAME: default (the best the CPU allows), scalar, sse, avx2, avx512x16,
// avx512x32. ClassBench files: $NETFENCE_SHARED/classbench.
#include <fmt/format.h>
#include <rte_acl.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/bench_util.h"

namespace netfence::bench {
namespace {

// rte_acl.h names both the enum and a function rte_acl_classify_alg.
using AclAlg = enum rte_acl_classify_alg;

constexpr size_t kBurst = 64;
constexpr double kMinRunNs = 2e8;

// AclInput is what rte_acl reads for one packet: the protocol byte first
// (rte_acl requires a 1-byte first field), then 4-byte groups, all in
// network byte order.
struct AclInput {
  uint8_t proto;
  uint8_t pad[3];
  uint32_t src, dst;
  uint16_t sport, dport;
};

enum AclField { kProto, kSrc, kDst, kSport, kDport, kNumFields };

RTE_ACL_RULE_DEF(AclRule, kNumFields);

rte_acl_config AclConfig() {
  rte_acl_config c;
  std::memset(&c, 0, sizeof(c));
  c.num_categories = 1;
  c.num_fields = kNumFields;
  auto def = [&](AclField f, uint8_t type, uint8_t size, uint8_t input,
                 uint32_t offset) {
    c.defs[f] = {type, size, uint8_t(f), input, offset};
  };
  def(kProto, RTE_ACL_FIELD_TYPE_BITMASK, 1, 0, offsetof(AclInput, proto));
  def(kSrc, RTE_ACL_FIELD_TYPE_MASK, 4, 1, offsetof(AclInput, src));
  def(kDst, RTE_ACL_FIELD_TYPE_MASK, 4, 2, offsetof(AclInput, dst));
  // The two ports share one 4-byte input group.
  def(kSport, RTE_ACL_FIELD_TYPE_RANGE, 2, 3, offsetof(AclInput, sport));
  def(kDport, RTE_ACL_FIELD_TYPE_RANGE, 2, 3, offsetof(AclInput, dport));
  return c;
}

// AclRules mirrors the chain io::ClassBenchToRestore builds: one rule per
// FORWARD rule, userdata = chain position + 1. Throws if the expansion does
// not line up with the chain's origin map.
std::vector<AclRule> AclRules(const ClassBenchSet& s) {
  std::vector<AclRule> out;
  for (size_t i = 0; i < s.filters.size(); ++i) {
    const io::ClassBenchRule& f = s.filters[i];
    const bool ports = !(f.sport_lo == 0 && f.sport_hi == 0xffff &&
                         f.dport_lo == 0 && f.dport_hi == 0xffff);
    auto emit = [&](uint8_t proto, uint8_t mask, bool with_ports) {
      AclRule r;
      std::memset(&r, 0, sizeof(r));
      const uint32_t pos = uint32_t(out.size());
      r.data.category_mask = 1;
      r.data.priority = int32_t(RTE_ACL_MAX_PRIORITY - pos);
      r.data.userdata = pos + 1;
      r.field[kProto].value.u8 = proto;
      r.field[kProto].mask_range.u8 = mask;
      r.field[kSrc].value.u32 = f.src;
      r.field[kSrc].mask_range.u32 = uint32_t(f.src_len);
      r.field[kDst].value.u32 = f.dst;
      r.field[kDst].mask_range.u32 = uint32_t(f.dst_len);
      r.field[kSport].value.u16 = with_ports ? f.sport_lo : 0;
      r.field[kSport].mask_range.u16 = with_ports ? f.sport_hi : 0xffff;
      r.field[kDport].value.u16 = with_ports ? f.dport_lo : 0;
      r.field[kDport].mask_range.u16 = with_ports ? f.dport_hi : 0xffff;
      out.push_back(r);
      if (out.size() > s.origin.size() || s.origin[pos] != i + 1)
        throw std::runtime_error("rte_acl rules do not follow the chain");
    };
    if (f.proto_mask != 0xff) {
      if (!ports) {
        emit(0, 0, false);
      } else {
        emit(6, 0xff, true);
        emit(17, 0xff, true);
      }
    } else if (f.proto == 6 || f.proto == 17) {
      emit(f.proto, 0xff, ports);
    } else {
      // "-p 0" is any protocol; other protocols have no ports to match.
      emit(f.proto, f.proto == 0 ? 0 : 0xff, false);
    }
  }
  if (out.size() != s.origin.size())
    throw std::runtime_error("rte_acl rules do not follow the chain");
  return out;
}

double ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e9 + double(ts.tv_nsec);
}

// NsPerPacket times pass (which classifies packets packets), the best of
// three runs of whole passes lasting at least kMinRunNs, after one warm-up.
template <class F>
double NsPerPacket(F&& pass, size_t packets) {
  pass();
  double best = std::numeric_limits<double>::infinity();
  for (int run = 0; run < 3; ++run) {
    size_t n = 0;
    const double t0 = ThreadCpuNs();
    double t = 0;
    do {
      pass();
      n += packets;
      t = ThreadCpuNs() - t0;
    } while (t < kMinRunNs);
    best = std::min(best, t / double(n));
  }
  return best;
}

size_t HeapBytes() {
  rte_malloc_socket_stats st;
  if (rte_malloc_get_socket_stats(int(rte_socket_id()), &st) != 0) return 0;
  return st.heap_allocsz_bytes;
}

const char* AlgName(AclAlg a) {
  switch (a) {
    case RTE_ACL_CLASSIFY_SCALAR:
      return "scalar";
    case RTE_ACL_CLASSIFY_SSE:
      return "sse";
    case RTE_ACL_CLASSIFY_AVX2:
      return "avx2";
    case RTE_ACL_CLASSIFY_AVX512X16:
      return "avx512x16";
    case RTE_ACL_CLASSIFY_AVX512X32:
      return "avx512x32";
    default:
      return "default";
  }
}

// kAlgs are rte_acl's x86 classify methods in the order rte_acl itself
// prefers them.
constexpr AclAlg kAlgs[] = {RTE_ACL_CLASSIFY_AVX512X32,
                            RTE_ACL_CLASSIFY_AVX512X16, RTE_ACL_CLASSIFY_AVX2,
                            RTE_ACL_CLASSIFY_SSE, RTE_ACL_CLASSIFY_SCALAR};

// BestAlg selects the first method this CPU and the EAL allow.
AclAlg BestAlg(rte_acl_ctx* ctx) {
  for (AclAlg a : kAlgs)
    if (rte_acl_set_ctx_classify(ctx, a) == 0) return a;
  throw std::runtime_error("rte_acl: no classify method");
}

struct Row {
  std::string name;
  size_t rules = 0, packets = 0, mismatches = 0, linear_mismatches = 0;
  std::string alg, alg1;  // classify methods: bursts, one packet per call
  double acl_build_ms = 0, acl_burst = 0, acl_single = 0;
  size_t acl_bytes = 0;
  double nf_build_ms = 0, nf_single = 0, nf_burst = 0, linear = 0;
  size_t nf_bytes = 0;
};

int RuleOf(const ClassBenchSet& s, const core::Decision& d) {
  return d.chain == s.chain ? d.rule : -1;
}

Row Measure(const std::string& seed, int size, const std::string& alg) {
  Row row;
  row.name = seed + "_" + std::to_string(size);
  ClassBenchSet& s = LoadSet(seed, size, true);
  row.rules = s.rules;
  row.packets = s.pkts.size();
  row.nf_build_ms = s.build_ms;
  row.nf_bytes = s.table->IndexMemoryBytes();

  // rte_acl: the same chain, built and measured.
  const std::vector<AclRule> rules = AclRules(s);
  rte_acl_param prm;
  std::memset(&prm, 0, sizeof(prm));
  const std::string ctx_name = "nf_" + row.name;
  prm.name = ctx_name.c_str();
  prm.socket_id = int(rte_socket_id());
  prm.rule_size = RTE_ACL_RULE_SZ(kNumFields);
  prm.max_rule_num = uint32_t(rules.size());
  rte_acl_ctx* ctx = rte_acl_create(&prm);
  if (!ctx)
    throw std::runtime_error(
        fmt::format("rte_acl_create: {}", rte_strerror(rte_errno)));
  int rc = rte_acl_add_rules(
      ctx, reinterpret_cast<const rte_acl_rule*>(rules.data()),
      uint32_t(rules.size()));
  if (rc != 0)
    throw std::runtime_error(fmt::format("rte_acl_add_rules: {}", rc));
  const rte_acl_config cfg = AclConfig();
  const size_t heap1 = HeapBytes();
  const auto b0 = std::chrono::steady_clock::now();
  rc = rte_acl_build(ctx, &cfg);
  row.acl_build_ms = std::chrono::duration<double, std::milli>(
                         std::chrono::steady_clock::now() - b0)
                         .count();
  if (rc != 0) throw std::runtime_error(fmt::format("rte_acl_build: {}", rc));
  row.acl_bytes = HeapBytes() - heap1;  // the runtime tries (not the rules)
  if (alg == "default") {
    row.alg = AlgName(BestAlg(ctx));
  } else {
    AclAlg a = RTE_ACL_CLASSIFY_DEFAULT;
    for (AclAlg c : kAlgs)
      if (alg == AlgName(c)) a = c;
    if (a == RTE_ACL_CLASSIFY_DEFAULT || rte_acl_set_ctx_classify(ctx, a) != 0)
      throw std::runtime_error("rte_acl: method " + alg + " not available");
    row.alg = row.alg1 = alg;
  }

  std::vector<AclInput> in(s.headers.size());
  std::vector<const uint8_t*> data(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const io::TraceHeader& h = s.headers[i];
    in[i] = {h.proto,
             {0, 0, 0},
             rte_cpu_to_be_32(h.src),
             rte_cpu_to_be_32(h.dst),
             rte_cpu_to_be_16(h.sport),
             rte_cpu_to_be_16(h.dport)};
    data[i] = reinterpret_cast<const uint8_t*>(&in[i]);
  }
  std::vector<uint32_t> res(in.size());
  auto acl_pass = [&](size_t batch) {
    for (size_t i = 0; i < in.size(); i += batch)
      rte_acl_classify(ctx, &data[i], &res[i],
                       uint32_t(std::min(batch, in.size() - i)), 1);
  };

  // Agreement: every packet's deciding rule, rte_acl against netfence.
  acl_pass(kBurst);
  for (size_t i = 0; i < in.size(); ++i) {
    const int nf = RuleOf(s, s.table->Run(core::Hook::kForward, s.params[i],
                                          s.infos[i], nullptr));
    if (int(res[i]) - 1 != nf) ++row.mismatches;
  }

  row.acl_burst = NsPerPacket([&] { acl_pass(kBurst); }, in.size());
  // One packet per call: the wide methods waste their lanes, so (unless a
  // method was forced) the fastest available method is taken.
  if (alg != "default") {
    row.acl_single = NsPerPacket([&] { acl_pass(1); }, in.size());
  } else {
    row.acl_single = std::numeric_limits<double>::infinity();
    for (AclAlg a : kAlgs) {
      if (rte_acl_set_ctx_classify(ctx, a) != 0) continue;
      const double ns = NsPerPacket([&] { acl_pass(1); }, in.size());
      if (ns < row.acl_single) {
        row.acl_single = ns;
        row.alg1 = AlgName(a);
      }
    }
  }
  rte_acl_free(ctx);

  // netfence: one Run per packet, then RunBurst.
  volatile int sink = 0;
  row.nf_single = NsPerPacket(
      [&] {
        int x = 0;
        for (size_t i = 0; i < s.pkts.size(); ++i)
          x += s.table
                   ->Run(core::Hook::kForward, s.params[i], s.infos[i], nullptr)
                   .rule;
        sink = sink + x;
      },
      s.pkts.size());
  std::vector<core::XtParams*> ptrs;
  for (auto& p : s.params) ptrs.push_back(&p);
  core::Decision out[kBurst];
  row.nf_burst = NsPerPacket(
      [&] {
        for (size_t i = 0; i < s.pkts.size(); i += kBurst) {
          const size_t n = std::min(kBurst, s.pkts.size() - i);
          s.table->RunBurst(core::Hook::kForward, &ptrs[i], &s.infos[i], n, out,
                            nullptr);
          sink = sink + out[0].rule;
        }
      },
      s.pkts.size());

  if (size <= 10000) {
    ClassBenchSet& l = LoadSet(seed, size, false);
    for (size_t i = 0; i < l.pkts.size(); ++i) {
      const int lin = RuleOf(l, l.table->Run(core::Hook::kForward, l.params[i],
                                             l.infos[i], nullptr));
      if (lin != int(res[i]) - 1) ++row.linear_mismatches;
    }
    row.linear = NsPerPacket(
        [&] {
          int x = 0;
          for (size_t i = 0; i < l.pkts.size(); ++i)
            x += l.table
                     ->Run(core::Hook::kForward, l.params[i], l.infos[i],
                           nullptr)
                     .rule;
          sink = sink + x;
        },
        l.pkts.size());
  }
  return row;
}

void PrintRow(const Row& r) {
  const std::string linear =
      r.linear > 0 ? fmt::format("{:.0f}", r.linear) : std::string("-");
  fmt::print(
      "| {} | {} | {} / {} | {:.1f} | {:.1f} | {:.0f} | {:.1f} | {:.1f} | "
      "{:.1f} | "
      "{:.1f} | {:.1f} | {} | {:.2f} | {:.2f} | {} |\n",
      r.name, r.rules, r.alg, r.alg1, r.acl_burst, r.acl_single, r.acl_build_ms,
      double(r.acl_bytes) / 1048576.0, r.nf_burst, r.nf_single, r.nf_build_ms,
      double(r.nf_bytes) / 1048576.0, linear, r.nf_burst / r.acl_burst,
      r.nf_single / r.acl_single,
      r.linear > 0 ? fmt::format("{}+{}", r.mismatches, r.linear_mismatches)
                   : fmt::format("{}", r.mismatches));
  std::fflush(stdout);
}

int Main(int argc, char** argv) {
  // EAL without hugepages, PCI, shared config or telemetry; a 512-bit SIMD
  // limit so rte_acl may use its AVX-512 methods where the CPU has them.
  std::vector<std::string> eal = {argv[0],
                                  "--no-huge",
                                  "--no-pci",
                                  "--no-shconf",
                                  "--no-telemetry",
                                  "-l",
                                  "0",
                                  "-m",
                                  "2048",
                                  "--log-level=error",
                                  "--force-max-simd-bitwidth=512"};
  std::string alg = "default";
  std::vector<std::string> sets;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--alg=", 0) == 0)
      alg = a.substr(6);
    else
      sets.push_back(a);
  }
  std::vector<char*> eal_argv;
  for (auto& e : eal) eal_argv.push_back(e.data());
  if (rte_eal_init(int(eal_argv.size()), eal_argv.data()) < 0) {
    fmt::print(stderr, "rte_eal_init: {}\n", rte_strerror(rte_errno));
    return 1;
  }
  if (sets.empty()) {
    for (int size : {10000, 100000})
      for (int seed = 0; seed < 3; ++seed) {
        const std::string n = SeedName(seed) + "_" + std::to_string(size);
        if (std::filesystem::exists(SharedDir() + "/classbench/" + n +
                                    ".rules"))
          sets.push_back(n);
      }
  }
  fmt::print(
      "ns/packet = thread CPU time per lookup; burst = {} packets per call; "
      "ratio = netfence / rte_acl; mismatches = packets whose deciding rule "
      "differs (rte_acl vs compiled [+ vs linear])\n\n",
      kBurst);
  fmt::print(
      "| set | rules | rte_acl method (burst / 1-pkt) | rte_acl burst ns | "
      "rte_acl 1-pkt ns | "
      "rte_acl build ms | rte_acl MB | netfence burst ns | netfence 1-pkt ns "
      "| netfence build ms | netfence MB | linear ns | ratio burst | ratio "
      "1-pkt | mismatches |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  int bad = 0;
  for (const std::string& n : sets) {
    const size_t us = n.rfind('_');
    if (us == std::string::npos) {
      fmt::print(stderr, "not a set name: {}\n", n);
      return 2;
    }
    Row r = Measure(n.substr(0, us), std::stoi(n.substr(us + 1)), alg);
    PrintRow(r);
    if (r.mismatches || r.linear_mismatches) bad = 1;
  }
  rte_eal_cleanup();
  return bad;
}

}  // namespace
}  // namespace netfence::bench

int main(int argc, char** argv) {
  try {
    return netfence::bench::Main(argc, argv);
  } catch (const std::exception& e) {
    fmt::print(stderr, "netfence_rte_acl_bench: {}\n", e.what());
    return 1;
  }
}
