// The ruleset model, in the shape of the kernel's xtables: a table is a list
// of chains; built-in chains are entry points for hooks and carry a policy
// (the underflow); a rule is an IP header filter, matches and a target.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/ipfilter.h"
#include "core/types.h"
#include "core/xt.h"

namespace netfence::core {

// Counters is a packet / byte counter pair.
struct Counters {
  uint64_t pkts = 0;
  uint64_t bytes = 0;
};

// MatchEntry is one "-m name" of a rule.
struct MatchEntry {
  const MatchType* type = nullptr;
  std::unique_ptr<Match> match;
};

// TargetKind says how a rule ends.
enum class TargetKind : uint8_t {
  kNone,      // no -j: fall through to the next rule (counts only)
  kStandard,  // ACCEPT, DROP, QUEUE, RETURN
  kJump,      // -j user chain
  kGoto,      // -g user chain
  kExtension, // a target extension
};

// Rule is one entry of a chain.
struct Rule {
  IpFilter ip;
  std::vector<MatchEntry> matches;
  TargetKind kind = TargetKind::kNone;
  Verdict verdict = Verdict::kContinue;  // for kStandard
  std::string chain_target;              // for kJump / kGoto
  int chain_index = -1;                  // resolved index into Table::chains
  const TargetType* target_type = nullptr;
  std::unique_ptr<Target> target;
  Counters counters;
  int line = 0;  // source line, for errors

  // TargetName is what iptables-save prints after -j / -g.
  std::string TargetName() const;
};

// Chain is a built-in or user-defined chain.
struct Chain {
  std::string name;
  bool builtin = false;
  Hook hook = Hook::kPrerouting;     // for built-in chains
  Verdict policy = Verdict::kAccept; // for built-in chains
  Counters policy_counters;
  std::vector<Rule> rules;
  int references = 0;
};

// Table is one of raw, mangle, nat, filter for one family.
struct Table {
  std::string name;
  Family family = Family::kIPv4;
  // Built-in chains first in hook order, then user chains sorted by name
  // (strcmp), the order libiptc keeps and iptables-save prints.
  std::vector<Chain> chains;
  // Where the rules' named extension state lives (shared by the tables of
  // one load); nullptr: a process-wide scope.
  std::shared_ptr<ExtScope> scope;

  Chain* FindChain(const std::string& name);
  const Chain* FindChain(const std::string& name) const;
  int ChainIndex(const std::string& name) const;
  // ValidHooks returns the hooks this table attaches to.
  HookMask ValidHooks() const;
};

// Ruleset is every table of one family, in the order iptables-save prints
// them (the reverse of the order in which they were first used).
struct Ruleset {
  Family family = Family::kIPv4;
  std::vector<std::unique_ptr<Table>> tables;

  Table* FindTable(const std::string& name);
  const Table* FindTable(const std::string& name) const;
};

// TableHooks returns the built-in hooks of a table name, or 0 when the
// table does not exist.
HookMask TableHooks(const std::string& table);

// MakeTable returns a fresh table with its built-in chains (policy ACCEPT).
std::unique_ptr<Table> MakeTable(const std::string& name, Family f);

}  // namespace netfence::core
