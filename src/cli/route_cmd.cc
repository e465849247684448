// `netfence route --host HOST.json [-6] ADDR [from SRC] [iif DEV] [oif DEV]
//  [mark N] [tos N]` prints one JSON object like `ip -j route get`;
// `netfence route --host HOST.json --batch` reads such queries as JSON lines
// ({"family": 4|6, "op": "in"|"out"|"addrtype"|"source"|"member", "dst",
// "src", "iif", "oif", "dev", "mark", "tos"}) and answers each on a line.
#include "cli/route_cmd.h"

#include <cstring>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/addr.h"
#include "core/host_model.h"
#include "io/file.h"
#include "io/host_json.h"

namespace netfence::cli {
namespace {

using core::Addr;
using core::Family;
using json = nlohmann::json;

struct RouteOpts {
  std::string host;
  bool v6 = false;
  bool batch = false;
  std::vector<std::string> args;
};

const char* TypeName(core::RouteType t) {
  static const char* const kNames[] = {"unspec",    "unicast",     "local",
                                       "broadcast", "anycast",     "multicast",
                                       "blackhole", "unreachable", "prohibit",
                                       "throw",     "nat",         "xresolve"};
  const auto i = static_cast<size_t>(t);
  return i < std::size(kNames) ? kNames[i] : "unknown";
}

std::string TableName(uint32_t t) {
  switch (t) {
    case core::kTableLocal:
      return "local";
    case core::kTableMain:
      return "main";
    case core::kTableDefault:
      return "default";
    default:
      return std::to_string(t);
  }
}

// Query is one lookup.
struct Query {
  Family family = Family::kIPv4;
  std::string op = "out";
  Addr dst, src;
  std::string iif, oif, dev;
  uint32_t mark = 0;
  uint8_t tos = 0;
};

Addr ParseAddrOrThrow(Family f, const std::string& s) {
  auto a = core::ParseNumeric(f, s);
  if (!a || (f == Family::kIPv4 && std::count(s.begin(), s.end(), '.') != 3))
    throw io::InputError("bad address \"" + s + "\"");
  return *a;
}

const core::Interface* Dev(const core::HostModel& h, const std::string& name) {
  if (name.empty()) return nullptr;
  const core::Interface* d = h.FindInterface(name);
  if (d == nullptr) throw io::InputError("unknown device \"" + name + "\"");
  return d;
}

json Answer(const core::HostModel& h, const Query& q) {
  json out;
  const Family f = q.family;
  if (q.op == "addrtype") {
    out["type"] = TypeName(h.AddrType(f, q.dst, Dev(h, q.dev)));
    return out;
  }
  if (q.op == "source") {
    out["src"] = core::FormatAddr(f, h.SelectSource(f, Dev(h, q.dev), q.dst));
    return out;
  }
  if (q.op == "member") {
    out["member"] = h.IsMulticastMember(f, Dev(h, q.dev), q.dst);
    return out;
  }
  core::RouteDetail d;
  if (q.op == "in") {
    d = h.RouteInputDetail(f, q.dst, q.src, q.tos, Dev(h, q.iif), q.mark);
  } else if (q.op == "out") {
    d = h.RouteOutputDetail(f, q.dst, q.src, q.tos, Dev(h, q.oif), q.mark);
  } else {
    throw io::InputError("unknown op \"" + q.op + "\"");
  }
  const core::Route& rt = d.route;
  if (rt.err != 0) {
    out["error"] = std::strerror(-rt.err);
    return out;
  }
  out["type"] = TypeName(rt.type);
  out["dst"] = core::FormatAddr(f, q.dst);
  if (rt.dev) out["dev"] = rt.dev->name;
  if (!(rt.gateway == Addr{})) out["gateway"] = core::FormatAddr(f, rt.gateway);
  if (!(rt.prefsrc == Addr{})) out["prefsrc"] = core::FormatAddr(f, rt.prefsrc);
  if (d.table) out["table"] = TableName(d.table);
  out["mtu"] = rt.mtu;
  return out;
}

Query FromJson(const json& j) {
  Query q;
  if (!j.is_object()) throw io::InputError("expected a JSON object");
  if (j.contains("family")) {
    q.family = j["family"].get<int>() == 6 ? Family::kIPv6 : Family::kIPv4;
  } else if (j.contains("dst") &&
             j["dst"].get<std::string>().find(':') != std::string::npos) {
    q.family = Family::kIPv6;
  }
  if (j.contains("op")) q.op = j["op"].get<std::string>();
  if (j.contains("dst")) q.dst = ParseAddrOrThrow(q.family, j["dst"]);
  if (j.contains("src")) q.src = ParseAddrOrThrow(q.family, j["src"]);
  if (j.contains("iif")) {
    q.iif = j["iif"].get<std::string>();
    if (!j.contains("op")) q.op = "in";
  }
  if (j.contains("oif")) q.oif = j["oif"].get<std::string>();
  if (j.contains("dev")) q.dev = j["dev"].get<std::string>();
  if (j.contains("mark")) q.mark = j["mark"].get<uint32_t>();
  if (j.contains("tos")) q.tos = j["tos"].get<uint8_t>();
  return q;
}

Query FromArgs(const RouteOpts& o) {
  // The words of `ip route get`.
  Query q;
  q.family = o.v6 ? Family::kIPv6 : Family::kIPv4;
  const auto& a = o.args;
  if (a.empty()) throw io::InputError("route: an address is needed");
  if (!o.v6 && a[0].find(':') != std::string::npos) q.family = Family::kIPv6;
  q.dst = ParseAddrOrThrow(q.family, a[0]);
  for (size_t i = 1; i < a.size(); i += 2) {
    if (i + 1 >= a.size())
      throw io::InputError("route: \"" + a[i] + "\" needs a value");
    const std::string& k = a[i];
    const std::string& v = a[i + 1];
    if (k == "from") {
      q.src = ParseAddrOrThrow(q.family, v);
    } else if (k == "iif") {
      q.iif = v, q.op = "in";
    } else if (k == "oif") {
      q.oif = v;
    } else if (k == "mark") {
      q.mark = uint32_t(std::stoul(v, nullptr, 0));
    } else if (k == "tos") {
      q.tos = uint8_t(std::stoul(v, nullptr, 0));
    } else {
      throw io::InputError("route: unknown word \"" + k + "\"");
    }
  }
  return q;
}

int Run(const RouteOpts& o) {
  // Errors reach main() as io::InputError ("FILE: reason").
  std::unique_ptr<core::HostModel> h = io::LoadHostFile(o.host);
  if (!o.batch) {
    std::cout << Answer(*h, FromArgs(o)).dump() << "\n";
    return 0;
  }
  std::string line;
  size_t n = 0;
  while (std::getline(std::cin, line)) {
    ++n;
    if (line.empty()) continue;
    try {
      std::cout << Answer(*h, FromJson(json::parse(line))).dump() << "\n";
    } catch (const std::exception& e) {
      throw io::InputError("<stdin>:" + std::to_string(n) + ": " + e.what());
    }
  }
  return 0;
}

}  // namespace

void AddRouteCommand(CLI::App& app, Action& action) {
  auto opts = std::make_shared<RouteOpts>();
  CLI::App* cmd = app.add_subcommand(
      "route", "Answer like `ip route get` from a host file (for tests)");
  cmd->group("");  // hidden: a diagnostic, not part of the contract
  cmd->add_option("--host", opts->host, "Host file (see contract)")->required();
  cmd->add_flag("-6", opts->v6, "IPv6 lookup");
  cmd->add_flag("--batch", opts->batch, "Read JSON-line queries on stdin");
  cmd->add_option("ARGS", opts->args, "ADDR [from SRC] [iif DEV] ...");
  cmd->callback([opts, &action] { action = [opts] { return Run(*opts); }; });
}

}  // namespace netfence::cli
