// The iptables-restore input language: tables, chains, policies, and the
// commands iptables accepts inside a table, parsed exactly as
// iptables-restore 1.8.9 (legacy) parses them, with the kernel's commit-time
// checks. A load is all-or-nothing.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/resolver.h"
#include "core/table.h"

namespace netfence::core {

// RestoreOptions controls a load.
struct RestoreOptions {
  Family family = Family::kIPv4;
  const Resolver* resolver = nullptr;  // required
  std::string filename = "-";          // named in errors
  bool counters = false;               // like iptables-restore -c
  // Named extension state (recent, hashlimit) to share with other loads,
  // as the kernel shares it within a network namespace; nullptr: a fresh
  // scope for this load.
  std::shared_ptr<ExtScope> scope;
};

// RestoreError is a refused load: "FILE:LINE: reason".
struct RestoreError : std::runtime_error {
  RestoreError(const std::string& file, int line, const std::string& reason,
               bool at_commit);
  std::string file;
  int line;
  std::string reason;
  bool at_commit;  // refused by the kernel's checks when the table committed
};

// Restore parses a whole iptables-restore input on a fresh host.
std::unique_ptr<Ruleset> Restore(std::string_view text,
                                 const RestoreOptions& opts);

// Save prints a ruleset the way iptables-save / ip6tables-save 1.8.9
// (legacy) does, without the "#" header and footer lines.
std::string Save(const Ruleset& rs, bool counters);

// SaveTables prints the given tables in order (iptables-save's body).
std::string SaveTables(const std::vector<const Table*>& tables, bool counters);

// SaveRule prints one rule ("-A CHAIN ..." with optional counters).
std::string SaveRule(const Table& t, const Chain& c, const Rule& r,
                     bool counters);

}  // namespace netfence::core
