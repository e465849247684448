// The host's IP stack around netfilter: what happens to a packet that
// arrives on an interface (ip_rcv, PREROUTING, routing, INPUT or
// FORWARD, POSTROUTING) or that a local process sends (routing, OUTPUT,
// POSTROUTING), with the tables visited at each hook in the kernel's
// priority order. Conntrack and NAT plug in at their priorities.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/conntrack.h"
#include "core/defrag.h"
#include "core/do_table.h"
#include "core/host.h"
#include "core/packet.h"
#include "core/table.h"

namespace netfence::core {

class NatCore;

// Emitted is a packet the host sent because of another packet (a REJECT
// reply), as it left (or was delivered: oif "lo").
struct Emitted {
  std::string oif;
  std::vector<uint8_t> data;
  std::vector<size_t> unstable;  // byte offsets the kernel randomises
};

// Outcome is what happened to one input packet (the contract's output line).
struct Outcome {
  bool accepted = false;
  bool to_local = false;       // delivered locally ("to": "local")
  std::string oif;             // output interface when forwarded / sent
  std::vector<uint8_t> data;   // the packet as delivered or sent
  std::vector<size_t> unstable;  // byte offsets of data the kernel randomises
  std::string where;           // why it was dropped
  std::string ct;              // conntrack state name, empty if not tracked
  std::vector<Emitted> emitted;
  std::vector<std::string> log;
  bool nat_random = false;     // a NAT choice the kernel makes at random
};

// FamilyTables holds the committed tables of one family.
struct FamilyTables {
  std::vector<std::unique_ptr<TableRuntime>> tables;  // any of raw, mangle, nat, filter
  const TableRuntime* Find(const std::string& name) const;
};

// StackOptions tunes the simulation.
struct StackOptions {
  uint64_t seed = 1;  // for statistic and other random choices
  CtConfig conntrack;  // nf_conntrack sysctls
};

// NetStack simulates one host.
class NetStack {
 public:
  NetStack(const Host& host, StackOptions opts);
  ~NetStack();

  // SetRules installs the ruleset of a family (nullptr: empty tables).
  void SetRules(Family f, std::unique_ptr<Ruleset> rs);

  // Receive processes a packet arriving on interface in.
  Outcome Receive(Packet pkt, const Interface* in);
  // Send processes a packet a local process sends with a raw socket
  // (IP_HDRINCL).
  Outcome Send(Packet pkt);

  // Tables returns a family's tables (for counters).
  FamilyTables& Tables(Family f) { return f == Family::kIPv4 ? v4_ : v6_; }
  // SaveCounters folds live counters and prints iptables-save -c output.
  std::string SaveWithCounters(Family f);
  // ConntrackActive reports whether a family's rules load conntrack.
  bool ConntrackActive(Family f) const {
    return f == Family::kIPv4 ? ct_active4_ : ct_active6_;
  }
  // ConntrackTable is the connection table (conntrack -L at the last
  // packet's time).
  std::vector<std::string> ListConntrack() const { return ct_.List(now_); }

  const Host& host() const { return host_; }

 private:
  friend class StackServices;
  struct Run;  // per-packet state
  bool RunHook(Run& run, Packet& pkt, Hook h, const Interface* in,
               const Interface* out);
  bool RunTable(Run& run, Packet& pkt, const char* name, const HookState& st);
  bool NatHook(Run& run, Packet& pkt, const HookState& st);
  void Finish(Run& run, const Packet& pkt);
  bool Reassemble(Run& run, Packet& pkt);
  bool PreHookChecks(const Packet& pkt) const;
  void LocalOut(Run& run, Packet pkt, bool emitted);
  void Input(Run& run, Packet pkt, const Interface* in, bool emitted,
             const Route* looped);
  void Forward(Run& run, Packet pkt, const Interface* in, const Route& rt);
  void PostRouting(Run& run, Packet pkt, const Interface* in,
                   const Route& rt, bool emitted);

  const Host& host_;
  StackOptions opts_;
  FamilyTables v4_, v6_;
  std::unique_ptr<Ruleset> rs4_, rs6_;
  std::mt19937_64 rng_;
  double now_ = 0;
  Conntrack ct_;
  Defrag defrag_;
  std::unique_ptr<NatCore> nat_;
  bool ct_active4_ = false, ct_active6_ = false;
};

}  // namespace netfence::core
