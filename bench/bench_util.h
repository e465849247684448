// Shared fixtures of the benchmark suite: ClassBench sets loaded once per
// process, as compiled and linear tables with their packets.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/do_table.h"
#include "core/host.h"
#include "core/pktinfo.h"
#include "io/classbench.h"

namespace netfence::bench {

// SharedDir is where the ClassBench files live ($NETFENCE_SHARED or the
// directory beside the checkout).
std::string SharedDir();

// ClassBenchSet is one filter set as a FORWARD chain, with packets from its
// trace (or drawn from the rules when it has none).
struct ClassBenchSet {
  std::unique_ptr<core::TableRuntime> table;
  int chain = -1;
  size_t rules = 0;
  double build_ms = 0;                      // the TableRuntime's construction
  std::vector<io::ClassBenchRule> filters;  // the file's lines
  std::vector<uint32_t> origin;  // per FORWARD rule: its filter's line (1-)
  std::vector<io::TraceHeader> headers;  // the packets' headers
  std::vector<core::Packet> pkts;
  std::vector<core::PktInfo> infos;
  std::vector<core::XtParams> params;
  core::Interface in, out;
  core::HookState st;
};

// LoadSet loads "<seed>_<size>" with the compiled or linear engine; sets
// are cached, so a second call is free.
ClassBenchSet& LoadSet(const std::string& seed, int size, bool compiled);

// SetName is the name of a benchmark argument pair (seed index, size).
std::string SeedName(int index);

}  // namespace netfence::bench
