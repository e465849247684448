// Rule evaluation: one table at one hook, as ipt_do_table / ip6t_do_table
// walk it (jump stack, goto, RETURN, policy as the underflow rule, hotdrop,
// packet and byte counters).
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "core/classifier.h"
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

// ShardCounter is a counter pair only one thread adds to: plain loads and
// stores, no atomic read-modify-write (readers may still load it).
struct ShardCounter {
  std::atomic<uint64_t> pkts{0};
  std::atomic<uint64_t> bytes{0};
  void Add(uint64_t len) {
    pkts.store(pkts.load(std::memory_order_relaxed) + 1,
               std::memory_order_relaxed);
    bytes.store(bytes.load(std::memory_order_relaxed) + len,
                std::memory_order_relaxed);
  }
};

// Decision is what a table walk ended with and where.
struct Decision {
  Verdict verdict = Verdict::kAccept;
  int chain = -1;  // chain index of the deciding rule
  int rule = -1;   // 0-based rule index, or -1 for the chain policy
};

// RuleVisitor observes rule evaluation (TRACE, tests); may be nullptr.
class RuleVisitor {
 public:
  virtual ~RuleVisitor() = default;
  // Hit is called for every rule whose matches all matched (rule -1: the
  // policy), before its target runs.
  virtual void Hit(const Table& t, int chain, int rule) = 0;
};

// RuntimeOptions chooses how a table finds the rules a packet may match.
struct RuntimeOptions {
  // compiled: chains get an index (core/classifier.h) that skips rules that
  // cannot match; every candidate is still verified by the exact rule
  // logic. false: the kernel's plain linear walk.
  bool compiled = true;
  // trust_exact: a candidate whose box the index marks exact (IPv4 prefixes
  // and plain fields, at most a tcp / udp port match or an icmp type match
  // and comments; see RuleBox::exact) is taken as matching without running
  // IpMatches and its matches, which are then known to agree. This keeps
  // large rulesets from touching every deciding rule's memory.
  bool trust_exact = true;
  ClassifierOptions classifier;
};

// TableEdit says how a table differs from the one it replaces: one rule
// inserted at (or erased from) a position of one chain, every other chain
// the same. A runtime built with it updates a copy of the old chain's index
// instead of rebuilding every index.
struct TableEdit {
  enum class Kind : uint8_t { kInsert, kErase };
  Kind kind = Kind::kInsert;
  int chain = -1;  // chain index, the same in both tables
  int rule = -1;   // position the rule was inserted at or erased from
};

// TableRuntime is a committed table ready for packets, with counters.
class TableRuntime {
 public:
  explicit TableRuntime(std::unique_ptr<Table> t, RuntimeOptions o = {});
  // This constructor reuses prev's indexes for a table that differs from
  // prev's by edit (falling back to building when it does not fit).
  TableRuntime(std::unique_ptr<Table> t, const TableRuntime& prev,
               const TableEdit& edit);
  ~TableRuntime();
  TableRuntime(const TableRuntime&) = delete;
  TableRuntime& operator=(const TableRuntime&) = delete;

  // Run walks the built-in chain of hook h (ipt_do_table).
  Decision Run(Hook h, XtParams& p, const PktInfo& pi,
               RuleVisitor* visitor) const;
  // RunBurst is Run for n packets at one hook, in order: out[i] is what
  // Run(h, *ps[i], pis[i], visitor) would return after the packets before
  // it. The packets are looked up in the hook chain's index together, so
  // their memory accesses overlap; the walks then run one after another.
  void RunBurst(Hook h, XtParams* const* ps, const PktInfo* pis, size_t n,
                Decision* out, RuleVisitor* visitor) const;

  const Table& table() const { return *table_; }
  // FoldCounters copies the live counters into the model (for saving).
  void FoldCounters();

  // compiled reports whether any chain has an index.
  bool compiled() const { return compiled_; }
  // Index returns a chain's index, or nullptr when it is walked linearly.
  const ChainIndex* Index(int chain) const { return index_[chain].get(); }
  // IndexMemoryBytes is the memory all indexes occupy.
  size_t IndexMemoryBytes() const;

 private:
  struct Start;  // a walk's key and hook-chain cursor, computed beforehand
  void InitCounters();
  void BuildIndexes();
  Decision Walk(Hook h, XtParams& p, const PktInfo& pi, RuleVisitor* visitor,
                Start* start) const;
  // IfNames are the packet's interface names as IfaceMatches compares
  // them, padded once per walk.
  struct IfNames {
    uint64_t in[2], out[2];
  };
  // Addr4 is an IPv4 rule's address test, (addr & mask) == want for source
  // and destination, as IpMatches makes it first; an inverted address is
  // all zeros (always true). A linear walk skips rules that fail it: such
  // a rule's header filter fails before anything else of it runs.
  struct Addr4 {
    uint32_t src, smsk, dst, dmsk;
  };
  static Addr4 Addr4Of(const Rule& r);
  // SkipByAddress returns the first rule at or after rule in chain whose
  // Addr4 test the IPv4 header ip passes (or the chain's length).
  int SkipByAddress(int chain, int rule, const uint8_t* ip) const;
  bool IpMatches(const Rule& r, const XtParams& p, const PktInfo& pi,
                 const IfNames& names, bool& hotdrop) const;

  std::unique_ptr<Table> table_;
  std::vector<int> hook_chain_;  // built-in chain index per hook, or -1
  // Action is what a rule does when it matches, copied out of the Rule so
  // a walk decided by the index reads only small arrays.
  struct Action {
    TargetKind kind;
    Verdict verdict;
    int32_t chain_index;
  };
  std::vector<std::vector<Action>> actions_;  // per chain, per rule
  std::vector<std::vector<Addr4>> addr4_;     // IPv4: per chain, per rule
  // uses_ifaces_: some rule names an interface; without one, a walk never
  // needs the packet's interface names.
  bool uses_ifaces_ = false;
  // Rule counters per chain; index rules.size() is the chain's tail: the
  // policy of a built-in chain, the implicit RETURN of a user chain.
  mutable std::vector<std::unique_ptr<AtomicCounters[]>> counters_;
  // Per-thread shares of the counters, as the kernel keeps per-CPU ones:
  // a thread adds to its own shard (laid out like counters_, chain after
  // chain) without contention. The true counts are counters_ plus every
  // shard. Threads beyond kShards add to counters_ atomically.
  static constexpr int kShards = 64;
  ShardCounter* MyShard() const;
  mutable std::atomic<ShardCounter*> shards_[kShards] = {};
  std::vector<size_t> chain_off_;  // a chain's first counter in a shard
  size_t shard_size_ = 0;
  RuntimeOptions opts_;
  int addr_word_ = 0;  // the IPv6 address word the indexes use
  bool compiled_ = false;
  // Per chain: its index, or nullptr (linear). Shared between runtimes
  // built from one another by TableEdit; never modified once published.
  std::vector<std::shared_ptr<const ChainIndex>> index_;
};

}  // namespace netfence::core
