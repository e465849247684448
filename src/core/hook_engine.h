// The functions netfilter runs at each hook, in the kernel's priority order:
// defragmentation (-400), the raw (-300), mangle (-150), nat (-100 / +100),
// filter (0) and security (50) tables, connection tracking (-200) and its
// confirmation (last), with NAT consulting the nat table only for a
// connection's first packet. It knows nothing of routing: the simulated host
// (core/stack) and embedders (include/netfence) call it at each hook.
//
// Rulesets are swapped atomically: a hook in progress keeps the ruleset it
// started with, and the counters it adds are never lost.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "core/conntrack.h"
#include "core/defrag.h"
#include "core/do_table.h"
#include "core/host.h"
#include "core/nat_core.h"
#include "core/table.h"

namespace netfence::core {

// FamilyTables holds the committed tables of one family.
struct FamilyTables {
  std::vector<std::unique_ptr<TableRuntime>> tables;  // in iptables-save order
  bool conntrack = false;  // the rules load connection tracking
  const TableRuntime* Find(const std::string& name) const;
};

// HookSink receives what targets produce besides a verdict.
class HookSink {
 public:
  virtual ~HookSink() = default;
  // Log receives a LOG / NFLOG line.
  virtual void Log(const std::string& line) = 0;
  // SendLocal receives a packet the host must send (REJECT's reply); it
  // already carries the connection it belongs to.
  virtual void SendLocal(Packet pkt) = 0;
  // IcmpErrorAllowed applies the host's ICMP error rate limit.
  virtual bool IcmpErrorAllowed(Family f, const Addr& dst, uint8_t type,
                                uint8_t code, const Interface* in) {
    return true;
  }
};

// HookResult is the outcome of one hook.
struct HookResult {
  bool accepted = true;
  std::string where;        // why it was dropped ("filter/INPUT/3", ...)
  bool nat_random = false;  // NAT chose at random, as the kernel would
};

// EngineOptions tunes the engine.
struct EngineOptions {
  uint64_t seed = 1;   // for statistic and random NAT choices
  CtConfig conntrack;  // nf_conntrack sysctls
  // Rule lookup: the compiled index or the linear walk.
  RuntimeOptions tables;
};

// HookEngine runs hooks for one network namespace. Safe for concurrent use.
class HookEngine {
 public:
  explicit HookEngine(EngineOptions opts = {});
  ~HookEngine();

  // SetRules replaces a family's ruleset atomically (nullptr: no tables)
  // and returns the previous one, whose counters are final once released.
  std::shared_ptr<const FamilyTables> SetRules(Family f,
                                               std::unique_ptr<Ruleset> rs);
  // Rules returns the current ruleset of a family.
  std::shared_ptr<const FamilyTables> Rules(Family f) const;
  // ConntrackActive reports whether a family's rules load conntrack.
  bool ConntrackActive(Family f) const;

  // Run runs everything registered at hook h on pkt. host may be nullptr
  // for embedders without one (extensions that need it then see none).
  HookResult Run(Hook h, Packet& pkt, const Interface* in,
                 const Interface* out, const Host* host, double now,
                 HookSink& sink);

  // Defragment reassembles outside the hooks (ip_local_deliver).
  DefragResult Defragment(Packet& pkt, double now) {
    std::lock_guard<std::mutex> lock(defrag_mu_);
    return defrag_.Process(pkt, now);
  }

  // Save prints a family's tables as iptables-save [-c] does.
  std::string Save(Family f, bool counters) const;
  Conntrack& conntrack() { return ct_; }

 private:
  friend class EngineServices;
  struct Hooking;  // one Run's state
  bool RunTable(Hooking& h, const FamilyTables& ft, const char* name);
  bool NatHook(Hooking& h, const FamilyTables& ft);
  bool Reassemble(Hooking& h);

  EngineOptions opts_;
  std::atomic<std::shared_ptr<const FamilyTables>> v4_, v6_;
  std::mutex rng_mu_;
  std::mt19937_64 rng_;
  Conntrack ct_;
  NatCore nat_;
  std::mutex defrag_mu_;
  Defrag defrag_;
};

}  // namespace netfence::core
