// The kernel's checks when a table is replaced (translate_table): jumps
// resolved, loops refused, every match and target checked against the table
// and the hooks its chain is reachable from.
#pragma once

#include "core/table.h"

namespace netfence::core {

// CommitTable resolves chain indices and runs the kernel's checks; throws
// CommitError naming the offending rule's line.
void CommitTable(Table& t);

// ChainHookMasks returns, per chain index, the hooks it is reachable from.
std::vector<HookMask> ChainHookMasks(const Table& t);

}  // namespace netfence::core
