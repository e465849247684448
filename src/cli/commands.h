// Each CLI subcommand lives in its own file and registers itself on the
// app: Add*Command adds the subcommand and, when it is chosen, stores the
// function to run in `action`. main() runs it and turns exceptions into one
// clear error line and an exit status.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace netfence::cli {

using Action = std::function<int()>;

void AddSaveCommands(CLI::App& app, Action& action);
void AddSimulateCommand(CLI::App& app, Action& action);
// AddBenchCommand adds `netfence bench` (src/cli/bench_cmd.cc).
void AddBenchCommand(CLI::App& app, Action& action);

}  // namespace netfence::cli
