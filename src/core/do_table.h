// Rule evaluation: one table at one hook, as ipt_do_table / ip6t_do_table
// walk it (jump stack, goto, RETURN, policy as the underflow rule, hotdrop,
// packet and byte counters).
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "core/pktinfo.h"
#include "core/table.h"
#include "core/xt.h"

namespace netfence::core {

// AtomicCounters is a counter pair many threads add to.
struct AtomicCounters {
  std::atomic<uint64_t> pkts{0};
  std::atomic<uint64_t> bytes{0};
  void Add(uint64_t len) {
    pkts.fetch_add(1, std::memory_order_relaxed);
    bytes.fetch_add(len, std::memory_order_relaxed);
  }
};

// Decision is what a table walk ended with and where.
struct Decision {
  Verdict verdict = Verdict::kAccept;
  int chain = -1;   // chain index of the deciding rule
  int rule = -1;    // 0-based rule index, or -1 for the chain policy
};

// RuleVisitor observes rule evaluation (TRACE, tests); may be nullptr.
class RuleVisitor {
 public:
  virtual ~RuleVisitor() = default;
  // Hit is called for every rule whose matches all matched (rule -1: the
  // policy), before its target runs.
  virtual void Hit(const Table& t, int chain, int rule) = 0;
};

// TableRuntime is a committed table ready for packets, with counters.
class TableRuntime {
 public:
  explicit TableRuntime(std::unique_ptr<Table> t);

  // Run walks the built-in chain of hook h (ipt_do_table).
  Decision Run(Hook h, XtParams& p, const PktInfo& pi,
               RuleVisitor* visitor) const;

  const Table& table() const { return *table_; }
  // FoldCounters copies the live counters into the model (for saving).
  void FoldCounters();

 private:
  bool IpMatches(const Rule& r, const XtParams& p, const PktInfo& pi,
                 bool& hotdrop) const;

  std::unique_ptr<Table> table_;
  std::vector<int> hook_chain_;  // built-in chain index per hook, or -1
  // Rule counters per chain; index rules.size() is the chain's tail: the
  // policy of a built-in chain, the implicit RETURN of a user chain.
  mutable std::vector<std::unique_ptr<AtomicCounters[]>> counters_;
};

}  // namespace netfence::core
