// The netfence command line: save, check (and, as they land, simulate and
// bench). Every failure is one line on stderr naming the file, the line and
// the reason, with a non-zero exit.
#include <CLI/CLI.hpp>
#include <iostream>

#include "core/restore.h"
#include "io/file.h"
#include "io/system_resolver.h"

namespace {

using namespace netfence;

int LoadAndMaybePrint(const std::string& file, bool v6, bool counters,
                      bool print) {
  io::SystemResolver resolver;
  core::RestoreOptions opts;
  opts.family = v6 ? core::Family::kIPv6 : core::Family::kIPv4;
  opts.resolver = &resolver;
  opts.filename = file;
  std::string text = io::ReadFile(file);
  std::unique_ptr<core::Ruleset> rs = core::Restore(text, opts);
  if (print) std::cout << core::Save(*rs, counters);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"netfence: netfilter (iptables, conntrack, NAT) in user space"};
  app.require_subcommand(1);

  bool v6 = false, counters = false;
  std::string file;
  auto* save = app.add_subcommand(
      "save", "Print what iptables-save would print after iptables-restore FILE");
  save->add_flag("-6,--ipv6", v6, "The file is an ip6tables ruleset");
  save->add_flag("-c,--counters", counters, "Print packet and byte counters");
  save->add_option("FILE", file, "Ruleset in iptables-restore format")->required();

  auto* check = app.add_subcommand(
      "check", "Validate FILE like iptables-restore --test (and the kernel's commit checks)");
  check->add_flag("-6,--ipv6", v6, "The file is an ip6tables ruleset");
  check->add_option("FILE", file, "Ruleset in iptables-restore format")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (*save) return LoadAndMaybePrint(file, v6, counters, true);
    if (*check) return LoadAndMaybePrint(file, v6, false, false);
  } catch (const core::RestoreError& e) {
    std::cerr << "netfence: " << e.what() << "\n";
    return e.at_commit ? 1 : 2;
  } catch (const io::InputError& e) {
    std::cerr << "netfence: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "netfence: internal error: " << e.what() << "\n";
    return 3;
  }
  return 0;
}
