// `netfence simulate`: replay packets through a host running iptables /
// ip6tables rulesets, per ../shared/contract.md.
#include "cli/commands.h"

#include <fstream>
#include <iostream>

#include "core/restore.h"
#include "core/stack.h"
#include "io/file.h"
#include "io/host_json.h"
#include "io/packets_json.h"
#include "io/system_resolver.h"

namespace netfence::cli {

namespace {

struct SimulateArgs {
  std::string host, rules, rules6, packets, counters, counters6, conntrack;
  std::string expect;
  uint64_t seed = 1;
};

std::unique_ptr<core::Ruleset> LoadRules(const std::string& path,
                                         core::Family f,
                                         const core::Resolver& r) {
  if (path.empty()) return nullptr;
  core::RestoreOptions o;
  o.family = f;
  o.resolver = &r;
  o.filename = path;
  return core::Restore(io::ReadFile(path), o);
}

void WriteFile(const std::string& path, const std::string& text) {
  // Standard output is appended to, never truncated.
  if (path == "-" || path == "/dev/stdout") {
    std::cout << text << std::flush;
    return;
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw io::InputError(path + ": cannot write");
  out << text;
  if (!out) throw io::InputError(path + ": write error");
}

int Run(const SimulateArgs& a) {
  io::SystemResolver resolver;
  std::unique_ptr<core::Host> host = io::LoadHostFile(a.host);
  // Everything is read and checked before the first packet runs, so a bad
  // input never produces a partial answer.
  auto rs4 = LoadRules(a.rules, core::Family::kIPv4, resolver);
  auto rs6 = LoadRules(a.rules6, core::Family::kIPv6, resolver);
  std::vector<io::InputPacket> packets =
      io::ReadPackets(a.packets, io::ReadFile(a.packets), *host);
  core::StackOptions so;
  so.seed = a.seed;
  core::NetStack stack(*host, so);
  stack.SetRules(core::Family::kIPv4, std::move(rs4));
  stack.SetRules(core::Family::kIPv6, std::move(rs6));
  std::string out;
  int n = 0;
  for (io::InputPacket& ip : packets) {
    core::Outcome o = ip.local ? stack.Send(std::move(ip.pkt))
                               : stack.Receive(std::move(ip.pkt), ip.iface);
    out += io::FormatOutcome(++n, o);
    out += '\n';
  }
  std::cout << out << std::flush;
  if (!a.counters.empty())
    WriteFile(a.counters, stack.SaveWithCounters(core::Family::kIPv4));
  if (!a.counters6.empty())
    WriteFile(a.counters6, stack.SaveWithCounters(core::Family::kIPv6));
  if (!a.conntrack.empty()) {
    std::string text;
    for (const std::string& l : stack.ListConntrack()) text += l + "\n";
    WriteFile(a.conntrack, text);
  }
  if (!a.expect.empty()) {
    std::string text;
    for (const std::string& l : stack.ListExpect()) text += l + "\n";
    WriteFile(a.expect, text);
  }
  return 0;
}

}  // namespace

void AddSimulateCommand(CLI::App& app, Action& action) {
  auto args = std::make_shared<SimulateArgs>();
  CLI::App* sim = app.add_subcommand(
      "simulate", "Replay packets through a host running the rulesets");
  sim->add_option("--host", args->host, "Host file (ip -j addr/route)")
      ->required();
  sim->add_option("--rules", args->rules, "IPv4 ruleset (iptables-save form)");
  sim->add_option("--rules6", args->rules6,
                  "IPv6 ruleset (ip6tables-save form)");
  sim->add_option("--packets", args->packets, "Packets, JSON lines")
      ->required();
  sim->add_option("--counters", args->counters,
                  "Write iptables-save -c output here after the last packet");
  sim->add_option("--counters6", args->counters6,
                  "Write ip6tables-save -c output here after the last packet");
  sim->add_option("--conntrack", args->conntrack,
                  "Write the connection table as conntrack -L prints it");
  sim->add_option("--expect", args->expect,
                  "Write the expectation table as "
                  "/proc/net/nf_conntrack_expect prints it");
  sim->add_option("--seed", args->seed,
                  "Seed for random choices (statistic, NAT port picks)");
  sim->callback([args, &action] { action = [args] { return Run(*args); }; });
}

}  // namespace netfence::cli
