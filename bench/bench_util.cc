#include "bench/bench_util.h"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "core/restore.h"
#include "io/file.h"
#include "io/system_resolver.h"

namespace netfence::bench {

std::string SharedDir() {
  if (const char* e = std::getenv("NETFENCE_SHARED")) return e;
  return NETFENCE_SHARED_DIR;
}

std::string SeedName(int index) {
  static const char* kSeeds[] = {"acl1", "fw1", "ipc1"};
  return kSeeds[index];
}

ClassBenchSet& LoadSet(const std::string& seed, int size, bool compiled) {
  static std::map<std::string, std::unique_ptr<ClassBenchSet>> cache;
  const std::string name = seed + "_" + std::to_string(size);
  const std::string key = name + (compiled ? "/c" : "/l");
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  const std::string dir = SharedDir() + "/classbench/";
  auto filters =
      io::ParseClassBench(io::ReadFile(dir + name + ".rules"), name + ".rules");
  io::ClassBenchRuleset cb = io::ClassBenchToRestore(filters);
  io::SystemResolver resolver;
  core::RestoreOptions ro;
  ro.resolver = &resolver;
  ro.filename = name;
  auto rs = core::Restore(cb.restore, ro);
  auto set = std::make_unique<ClassBenchSet>();
  core::RuntimeOptions opts;
  opts.compiled = compiled;
  const auto t0 = std::chrono::steady_clock::now();
  set->table =
      std::make_unique<core::TableRuntime>(std::move(rs->tables[0]), opts);
  set->build_ms = std::chrono::duration<double, std::milli>(
                      std::chrono::steady_clock::now() - t0)
                      .count();
  set->origin = std::move(cb.origin);
  set->filters = std::move(filters);
  set->chain = set->table->table().ChainIndex("FORWARD");
  set->rules = set->table->table().chains[set->chain].rules.size();
  std::vector<io::TraceHeader> hs;
  std::ifstream probe(dir + name + ".trace.gz");
  if (probe) {
    hs = io::ReadTrace(dir + name + ".trace.gz");
  } else {
    hs = io::DrawHeaders(set->table->table(),
                         set->table->table().chains[set->chain], 100000, 1);
  }
  for (const auto& h : hs) set->pkts.push_back(io::MakePacket(h));
  set->headers = std::move(hs);
  for (const auto& p : set->pkts) set->infos.push_back(core::ComputePktInfo(p));
  set->in.name = "eth0";
  set->out.name = "eth1";
  set->st.hook = core::Hook::kForward;
  set->st.in = &set->in;
  set->st.out = &set->out;
  set->params.resize(set->pkts.size());
  for (size_t i = 0; i < set->pkts.size(); ++i) {
    set->params[i].skb = &set->pkts[i];
    set->params[i].state = &set->st;
  }
  return *cache.emplace(key, std::move(set)).first->second;
}

}  // namespace netfence::bench
