// `netfence save` and `netfence check`: the ruleset language on its own.
#include <iostream>

#include "cli/commands.h"
#include "core/restore.h"
#include "io/file.h"
#include "io/system_resolver.h"

namespace netfence::cli {

namespace {

struct RestoreArgs {
  std::string file;
  bool v6 = false;
  bool counters = false;
};

int LoadAndMaybePrint(const RestoreArgs& a, bool print) {
  io::SystemResolver resolver;
  core::RestoreOptions opts;
  opts.family = a.v6 ? core::Family::kIPv6 : core::Family::kIPv4;
  opts.resolver = &resolver;
  opts.filename = a.file;
  std::unique_ptr<core::Ruleset> rs = core::Restore(io::ReadFile(a.file), opts);
  if (print) std::cout << core::Save(*rs, a.counters);
  return 0;
}

}  // namespace

void AddSaveCommands(CLI::App& app, Action& action) {
  auto save_args = std::make_shared<RestoreArgs>();
  CLI::App* save = app.add_subcommand(
      "save", "Print what iptables-save prints after iptables-restore FILE");
  save->add_flag("-6,--ipv6", save_args->v6, "The file is an ip6tables ruleset");
  save->add_flag("-c,--counters", save_args->counters,
                 "Print packet and byte counters");
  save->add_option("FILE", save_args->file, "Ruleset (iptables-restore input)")
      ->required();
  save->callback([save_args, &action] {
    action = [save_args] { return LoadAndMaybePrint(*save_args, true); };
  });

  auto check_args = std::make_shared<RestoreArgs>();
  CLI::App* check = app.add_subcommand(
      "check",
      "Validate FILE like iptables-restore --test plus the kernel's commit "
      "checks");
  check->add_flag("-6,--ipv6", check_args->v6, "The file is an ip6tables ruleset");
  check->add_option("FILE", check_args->file, "Ruleset (iptables-restore input)")
      ->required();
  check->callback([check_args, &action] {
    action = [check_args] { return LoadAndMaybePrint(*check_args, false); };
  });
}

}  // namespace netfence::cli
