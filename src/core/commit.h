// The kernel's checks when a table is replaced (translate_table): jumps
// resolved, loops refused, every match and target checked against the table
// and the hooks its chain is reachable from.
#pragma once

#include "core/table.h"

namespace netfence::core {

// CommitTable resolves chain indices and runs the kernel's checks; throws
// CommitError naming the offending rule's line.
void CommitTable(Table& t);

// Unconditional is the kernel's test for an entry with an all-wildcard
// header (nothing set, not even "-i +") and no matches.
bool Unconditional(const Rule& r);

// RuleHookMasks returns, per chain and rule (plus the chain's tail), the
// hooks that rule is reachable from (mark_source_chains). Throws
// CommitError on a loop.
std::vector<std::vector<HookMask>> RuleHookMasks(const Table& t);

}  // namespace netfence::core
