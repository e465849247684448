// The netfence command line. Every failure is one line on stderr naming
// the file, the line and the reason, with a non-zero exit.
#include <iostream>

#include "cli/commands.h"
#include "cli/route_cmd.h"
#include "core/restore.h"
#include "io/file.h"

int main(int argc, char** argv) {
  using namespace netfence;
  CLI::App app{"netfence: netfilter (iptables, conntrack, NAT) in user space"};
  app.require_subcommand(1);
  cli::Action action;
  cli::AddSaveCommands(app, action);
  cli::AddSimulateCommand(app, action);
  cli::AddRouteCommand(app, action);
  cli::AddBenchCommand(app, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    return action ? action() : 0;
  } catch (const core::RestoreError& e) {
    std::cerr << "netfence: " << e.what() << "\n";
    return e.at_commit ? 1 : 2;
  } catch (const io::InputError& e) {
    std::cerr << "netfence: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "netfence: error: " << e.what() << "\n";
    return 3;
  }
}
