// The hidden `netfence route` command: ask the host model what the kernel's
// `ip route get` would answer (for people checking a host file, and for the
// kernel-differential test tests/kernel/route_diff.py).
#pragma once

#include "cli/commands.h"

namespace netfence::cli {

// AddRouteCommand adds the hidden `route` subcommand (see commands.h).
void AddRouteCommand(CLI::App& app, Action& action);

}  // namespace netfence::cli
