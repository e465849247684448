#include "io/host_json.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "io/file.h"

namespace netfence::io {
namespace {

using core::Addr;
using core::Family;
using core::RouteType;
using json = nlohmann::json;

// Parser carries the file name for messages, the interfaces seen so far
// (routes name devices) and the table names (`ip` prints the names of
// /etc/iproute2/rt_tables of the machine that dumped the file; only their
// identity matters, so unknown names get ids of their own).
class Parser {
 public:
  explicit Parser(const std::string& filename) : file_(filename) {}

  core::HostData Parse(const std::string& text);

 private:
  [[noreturn]] void Fail(const std::string& where,
                         const std::string& why) const {
    throw InputError(file_ + ": " + (where.empty() ? "" : where + ": ") + why);
  }

  const json& Need(const json& obj, const char* key,
                   const std::string& where) const;
  std::string Str(const json& v, const std::string& where) const;
  long long Int(const json& v, const std::string& where, long long lo,
                long long hi) const;
  bool Bool(const json& v, const std::string& where) const;
  Addr ParseAddr(const std::string& s, Family f,
                 const std::string& where) const;
  Family FamilyOf(const std::string& s) const;
  void ParsePrefix(const std::string& s, Family f, Addr* a, unsigned* len,
                   const std::string& where) const;
  uint32_t Table(const json& v, const std::string& where);
  uint8_t Scope(const json& v, const std::string& where) const;
  int Ifindex(const json& v, const std::string& where) const;
  std::array<uint8_t, 6> Mac(const json& v) const;

  void ParseLinks(const json& a, core::HostData* d);
  void ParseAddr(const json& ai, core::Interface* i, const std::string& where);
  void ParseRoutes(const json& a, const std::string& key, bool only6,
                   bool skip6, core::HostData* d);
  core::RouteEntry ParseRoute(const json& r, Family f,
                              const std::string& where);
  core::NextHop ParseNextHop(const json& n, Family f, const std::string& where);
  void ParseRules(const json& a, Family f, const std::string& key,
                  std::vector<core::RuleEntry>* out);
  void ParseNeigh(const json& a, core::HostData* d);
  void ParseSysctl(const json& o, core::HostData* d);

  std::string file_;
  std::map<std::string, int> ifindex_by_name_;
  std::map<std::string, uint32_t> table_names_;
  uint32_t next_table_ = 0x100000;
};

std::string At(const std::string& key, size_t i) {
  return key + "[" + std::to_string(i) + "]";
}

const json& Parser::Need(const json& obj, const char* key,
                         const std::string& where) const {
  auto it = obj.find(key);
  if (it == obj.end()) Fail(where, std::string("missing \"") + key + "\"");
  return *it;
}

std::string Parser::Str(const json& v, const std::string& where) const {
  if (!v.is_string()) Fail(where, "expected a string, got " + v.dump());
  return v.get<std::string>();
}

long long Parser::Int(const json& v, const std::string& where, long long lo,
                      long long hi) const {
  long long n = 0;
  if (v.is_number_integer()) {
    n = v.get<long long>();
  } else if (v.is_string()) {
    // `ip` prints marks, tos and the like as hex strings.
    const std::string s = v.get<std::string>();
    char* end = nullptr;
    errno = 0;
    n = std::strtoll(s.c_str(), &end, 0);
    if (s.empty() || *end != '\0' || errno != 0)
      Fail(where, "expected a number, got \"" + s + "\"");
  } else {
    Fail(where, "expected a number, got " + v.dump());
  }
  if (n < lo || n > hi)
    Fail(where, "value " + std::to_string(n) + " out of range");
  return n;
}

bool Parser::Bool(const json& v, const std::string& where) const {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number_integer()) return v.get<long long>() != 0;
  Fail(where, "expected true or false, got " + v.dump());
}

Family Parser::FamilyOf(const std::string& s) const {
  return s.find(':') != std::string::npos ? Family::kIPv6 : Family::kIPv4;
}

Addr Parser::ParseAddr(const std::string& s, Family f,
                       const std::string& where) const {
  Addr a;
  const int af = f == Family::kIPv4 ? AF_INET : AF_INET6;
  if (inet_pton(af, s.c_str(), a.b.data()) != 1)
    Fail(where, std::string("bad IPv") + (f == Family::kIPv4 ? "4" : "6") +
                    " address \"" + s + "\"");
  return a;
}

void Parser::ParsePrefix(const std::string& s, Family f, Addr* a, unsigned* len,
                         const std::string& where) const {
  const unsigned max = f == Family::kIPv4 ? 32 : 128;
  if (s == "default") {
    *a = Addr{};
    *len = 0;
    return;
  }
  const size_t slash = s.find('/');
  *a = ParseAddr(s.substr(0, slash), f, where);
  *len = max;
  if (slash != std::string::npos) {
    const std::string l = s.substr(slash + 1);
    char* end = nullptr;
    const long v = std::strtol(l.c_str(), &end, 10);
    if (l.empty() || *end != '\0' || v < 0 || v > long(max))
      Fail(where, "bad prefix \"" + s + "\"");
    *len = unsigned(v);
  }
}

uint32_t Parser::Table(const json& v, const std::string& where) {
  if (v.is_number_integer()) return uint32_t(Int(v, where, 0, 0xffffffff));
  const std::string s = Str(v, where);
  if (s == "local") return core::kTableLocal;
  if (s == "main") return core::kTableMain;
  if (s == "default") return core::kTableDefault;
  if (s == "unspec") return core::kTableUnspec;
  if (!s.empty() && s.find_first_not_of("0123456789") == std::string::npos)
    return uint32_t(Int(v, where, 0, 0xffffffff));
  auto it = table_names_.find(s);
  if (it != table_names_.end()) return it->second;
  return table_names_[s] = next_table_++;
}

uint8_t Parser::Scope(const json& v, const std::string& where) const {
  if (v.is_number_integer()) return uint8_t(Int(v, where, 0, 255));
  const std::string s = Str(v, where);
  if (s == "global" || s == "universe") return core::kScopeUniverse;
  if (s == "site") return core::kScopeSite;
  if (s == "link") return core::kScopeLink;
  if (s == "host") return core::kScopeHost;
  if (s == "nowhere") return core::kScopeNowhere;
  return uint8_t(Int(v, where, 0, 255));
}

int Parser::Ifindex(const json& v, const std::string& where) const {
  const std::string name = Str(v, where);
  auto it = ifindex_by_name_.find(name);
  if (it == ifindex_by_name_.end())
    Fail(where, "unknown device \"" + name + "\" (not in \"addrs\")");
  return it->second;
}

std::array<uint8_t, 6> Parser::Mac(const json& v) const {
  // Only Ethernet-style addresses are kept; others (tunnels) stay zero.
  std::array<uint8_t, 6> m{};
  if (!v.is_string()) return m;
  unsigned b[6];
  char tail;
  if (std::sscanf(v.get<std::string>().c_str(), "%x:%x:%x:%x:%x:%x%c", &b[0],
                  &b[1], &b[2], &b[3], &b[4], &b[5], &tail) == 6)
    for (int i = 0; i < 6; ++i) m[i] = uint8_t(b[i]);
  return m;
}

void Parser::ParseAddr(const json& ai, core::Interface* i,
                       const std::string& where) {
  if (!ai.is_object()) Fail(where, "expected an object");
  const std::string fam = Str(Need(ai, "family", where), where + ".family");
  if (fam != "inet" && fam != "inet6") return;  // other families: not routed
  core::IfAddr x;
  x.family = fam == "inet" ? Family::kIPv4 : Family::kIPv6;
  x.local = ParseAddr(Str(Need(ai, "local", where), where + ".local"), x.family,
                      where + ".local");
  x.prefixlen = unsigned(Int(Need(ai, "prefixlen", where), where + ".prefixlen",
                             0, x.family == Family::kIPv4 ? 32 : 128));
  x.peer = x.local;
  if (ai.contains("address"))
    x.peer = ParseAddr(Str(ai["address"], where + ".address"), x.family,
                       where + ".address");
  if (ai.contains("broadcast"))
    x.broadcast = ParseAddr(Str(ai["broadcast"], where + ".broadcast"),
                            x.family, where + ".broadcast");
  if (ai.contains("scope")) x.scope = Scope(ai["scope"], where + ".scope");
  static const std::pair<const char*, uint32_t> kFlags[] = {
      {"secondary", core::kIfaSecondary},
      {"temporary", core::kIfaTemporary},
      {"nodad", core::kIfaNodad},
      {"optimistic", core::kIfaOptimistic},
      {"dadfailed", core::kIfaDadfailed},
      {"home", core::kIfaHomeaddress},
      {"deprecated", core::kIfaDeprecated},
      {"tentative", core::kIfaTentative},
      {"permanent", core::kIfaPermanent},
  };
  for (const auto& [name, bit] : kFlags)
    if (ai.contains(name) && Bool(ai[name], where + "." + name)) x.flags |= bit;
  // `ip` shows an address with no preferred lifetime left as deprecated.
  if (ai.contains("preferred_life_time") &&
      ai["preferred_life_time"].is_number_integer() &&
      ai["preferred_life_time"].get<long long>() == 0)
    x.flags |= core::kIfaDeprecated;
  x.secondary = x.family == Family::kIPv4 && (x.flags & core::kIfaSecondary);
  i->addrs.push_back(x);
}

void Parser::ParseLinks(const json& a, core::HostData* d) {
  if (!a.is_array()) Fail("addrs", "expected an array (ip -j addr show)");
  std::set<int> seen;
  for (size_t k = 0; k < a.size(); ++k) {
    const std::string where = At("addrs", k);
    const json& l = a[k];
    if (!l.is_object()) Fail(where, "expected an object");
    core::Interface i;
    i.ifindex =
        int(Int(Need(l, "ifindex", where), where + ".ifindex", 1, 0x7fffffff));
    i.name = Str(Need(l, "ifname", where), where + ".ifname");
    if (i.name.empty()) Fail(where + ".ifname", "empty name");
    if (!seen.insert(i.ifindex).second)
      Fail(where, "ifindex " + std::to_string(i.ifindex) + " appears twice");
    if (ifindex_by_name_.count(i.name))
      Fail(where, "device \"" + i.name + "\" appears twice");
    if (l.contains("flags")) {
      if (!l["flags"].is_array()) Fail(where + ".flags", "expected an array");
      for (const json& f : l["flags"]) {
        const std::string s = Str(f, where + ".flags");
        if (s == "UP") i.up = true;
        if (s == "LOOPBACK") i.loopback = true;
      }
      if (std::find(l["flags"].begin(), l["flags"].end(), "UP") ==
          l["flags"].end())
        i.up = false;
    }
    if (l.contains("link_type") && l["link_type"] == "loopback")
      i.loopback = true;
    if (l.contains("mtu"))
      i.mtu = unsigned(Int(l["mtu"], where + ".mtu", 0, 0x7fffffff));
    if (l.contains("address")) i.mac = Mac(l["address"]);
    if (l.contains("broadcast")) i.broadcast_mac = Mac(l["broadcast"]);
    if (l.contains("addr_info")) {
      const json& ais = l["addr_info"];
      if (!ais.is_array()) Fail(where + ".addr_info", "expected an array");
      for (size_t n = 0; n < ais.size(); ++n)
        ParseAddr(ais[n], &i, where + "." + At("addr_info", n));
    }
    ifindex_by_name_[i.name] = i.ifindex;
    d->interfaces.push_back(std::move(i));
  }
  // The kernel's device list (for_each_netdev, which source selection
  // walks) is in ifindex order here, as `ip addr` prints it.
  std::stable_sort(d->interfaces.begin(), d->interfaces.end(),
                   [](const core::Interface& x, const core::Interface& y) {
                     return x.ifindex < y.ifindex;
                   });
}

core::NextHop Parser::ParseNextHop(const json& n, Family f,
                                   const std::string& where) {
  core::NextHop nh;
  if (n.contains("gateway")) {
    const std::string g = Str(n["gateway"], where + ".gateway");
    nh.gateway = ParseAddr(g, FamilyOf(g), where + ".gateway");
    nh.has_gateway = true;
  } else if (n.contains("via")) {
    // An IPv4 route through an IPv6 gateway (RTA_VIA): {"family","host"}.
    const json& v = n["via"];
    if (!v.is_object()) Fail(where + ".via", "expected an object");
    const std::string g = Str(Need(v, "host", where + ".via"), where + ".via");
    nh.gateway = ParseAddr(g, FamilyOf(g), where + ".via");
    nh.has_gateway = true;
  }
  if (n.contains("dev")) nh.ifindex = Ifindex(n["dev"], where + ".dev");
  if (n.contains("weight"))
    nh.weight = int(Int(n["weight"], where + ".weight", 1, 256));
  if (n.contains("flags")) {
    if (!n["flags"].is_array()) Fail(where + ".flags", "expected an array");
    for (const json& fl : n["flags"]) {
      const std::string s = Str(fl, where + ".flags");
      if (s == "onlink") nh.onlink = true;
      if (s == "dead") nh.dead = true;
      if (s == "linkdown") nh.linkdown = true;
    }
  }
  (void)f;
  return nh;
}

core::RouteEntry Parser::ParseRoute(const json& r, Family f,
                                    const std::string& where) {
  if (!r.is_object()) Fail(where, "expected an object");
  core::RouteEntry e;
  e.family = f;
  if (r.contains("type")) {
    static const std::map<std::string, RouteType> kTypes = {
        {"unicast", RouteType::kUnicast},
        {"local", RouteType::kLocal},
        {"broadcast", RouteType::kBroadcast},
        {"anycast", RouteType::kAnycast},
        {"multicast", RouteType::kMulticast},
        {"blackhole", RouteType::kBlackhole},
        {"unreachable", RouteType::kUnreachable},
        {"prohibit", RouteType::kProhibit},
        {"throw", RouteType::kThrow},
        {"nat", RouteType::kNat},
        {"xresolve", RouteType::kXresolve},
    };
    const std::string t = Str(r["type"], where + ".type");
    auto it = kTypes.find(t);
    if (it == kTypes.end())
      Fail(where + ".type", "unknown route type \"" + t + "\"");
    e.type = it->second;
  }
  ParsePrefix(Str(Need(r, "dst", where), where + ".dst"), f, &e.dst, &e.dst_len,
              where + ".dst");
  if (r.contains("from")) {
    if (f != Family::kIPv6)
      Fail(where + ".from", "only IPv6 routes have a source");
    ParsePrefix(Str(r["from"], where + ".from"), f, &e.src, &e.src_len,
                where + ".from");
  }
  if (r.contains("table")) e.table = Table(r["table"], where + ".table");
  if (r.contains("protocol") && r["protocol"] == "kernel") e.kernel = true;
  if (r.contains("scope")) e.scope = Scope(r["scope"], where + ".scope");
  if (r.contains("metric"))
    e.metric = uint32_t(Int(r["metric"], where + ".metric", 0, 0xffffffff));
  if (r.contains("tos")) e.tos = uint8_t(Int(r["tos"], where + ".tos", 0, 255));
  if (r.contains("prefsrc")) {
    e.prefsrc =
        ParseAddr(Str(r["prefsrc"], where + ".prefsrc"), f, where + ".prefsrc");
    e.has_prefsrc = true;
  }
  if (r.contains("pref")) {
    const std::string p = Str(r["pref"], where + ".pref");
    e.pref = p == "high" ? 1 : (p == "low" ? -1 : 0);
  }
  if (r.contains("metrics")) {
    // [{"mtu": 1400}] (a locked metric may print as ["lock", 1400]).
    const json& m = r["metrics"];
    auto take = [&](const json& o) {
      if (!o.is_object()) Fail(where + ".metrics", "expected objects");
      if (!o.contains("mtu")) return;
      const json& v = o["mtu"];
      const json& num = v.is_array() && !v.empty() ? v.back() : v;
      e.mtu = unsigned(Int(num, where + ".metrics.mtu", 0, 0x7fffffff));
    };
    if (m.is_array()) {
      for (const json& o : m) take(o);
    } else {
      take(m);
    }
  }
  if (r.contains("nexthops")) {
    const json& ns = r["nexthops"];
    if (!ns.is_array()) Fail(where + ".nexthops", "expected an array");
    for (size_t k = 0; k < ns.size(); ++k)
      e.nexthops.push_back(
          ParseNextHop(ns[k], f, where + "." + At("nexthops", k)));
  } else if (r.contains("dev")) {
    e.nexthops.push_back(ParseNextHop(r, f, where));
  }
  const bool reject =
      e.type == RouteType::kBlackhole || e.type == RouteType::kUnreachable ||
      e.type == RouteType::kProhibit || e.type == RouteType::kThrow;
  if (!reject && e.nexthops.empty()) Fail(where, "route without a device");
  for (const core::NextHop& nh : e.nexthops)
    if (!reject && nh.ifindex == 0) Fail(where, "next hop without a device");
  return e;
}

void Parser::ParseRoutes(const json& a, const std::string& key, bool only6,
                         bool skip6, core::HostData* d) {
  if (!a.is_array()) Fail(key, "expected an array");
  for (size_t k = 0; k < a.size(); ++k) {
    const std::string where = At(key, k);
    const json& r = a[k];
    if (!r.is_object()) Fail(where, "expected an object");
    // Family: by the destination, else by the gateway; IPv6 routes always
    // carry "pref".
    Family f = Family::kIPv4;
    const json* dst = r.contains("dst") ? &r["dst"] : nullptr;
    if (only6) {
      f = Family::kIPv6;
    } else if (dst && dst->is_string() && *dst != "default") {
      f = FamilyOf(dst->get<std::string>());
    } else if (r.contains("gateway") && r["gateway"].is_string()) {
      f = FamilyOf(r["gateway"].get<std::string>());
    } else if (r.contains("pref")) {
      f = Family::kIPv6;
    }
    if (f == Family::kIPv6 && skip6) continue;
    d->routes.push_back(ParseRoute(r, f, where));
  }
}

void Parser::ParseRules(const json& a, Family f, const std::string& key,
                        std::vector<core::RuleEntry>* out) {
  if (!a.is_array()) Fail(key, "expected an array (ip -j rule show)");
  const unsigned max = f == Family::kIPv4 ? 32 : 128;
  for (size_t k = 0; k < a.size(); ++k) {
    const std::string where = At(key, k);
    const json& j = a[k];
    if (!j.is_object()) Fail(where, "expected an object");
    core::RuleEntry r;
    r.priority = uint32_t(
        Int(Need(j, "priority", where), where + ".priority", 0, 0xffffffff));
    r.invert = j.contains("not");
    auto prefix = [&](const char* k1, const char* k2, Addr* addr,
                      unsigned* len) {
      if (!j.contains(k1)) return;
      const std::string s = Str(j[k1], where + "." + k1);
      if (s == "all") return;
      *addr = ParseAddr(s, f, where + "." + k1);
      *len =
          j.contains(k2) ? unsigned(Int(j[k2], where + "." + k2, 0, max)) : max;
    };
    prefix("src", "srclen", &r.src, &r.src_len);
    prefix("dst", "dstlen", &r.dst, &r.dst_len);
    if (j.contains("iif")) r.iif = Str(j["iif"], where + ".iif");
    if (j.contains("oif")) r.oif = Str(j["oif"], where + ".oif");
    if (j.contains("fwmark")) {
      r.mark = uint32_t(Int(j["fwmark"], where + ".fwmark", 0, 0xffffffff));
      r.mark_mask = 0xffffffff;
      if (j.contains("fwmask"))
        r.mark_mask =
            uint32_t(Int(j["fwmask"], where + ".fwmask", 0, 0xffffffff));
    }
    if (j.contains("tos"))
      r.tos = uint8_t(Int(j["tos"], where + ".tos", 0, 255));
    if (j.contains("dsfield"))
      r.tos = uint8_t(Int(j["dsfield"], where + ".dsfield", 0, 255));
    if (j.contains("ipproto")) {
      const json& p = j["ipproto"];
      r.ipproto = p.is_number_integer()
                      ? uint8_t(Int(p, where + ".ipproto", 0, 255))
                      : uint8_t(255);
    }
    r.has_ports = j.contains("sport") || j.contains("dport");
    if (j.contains("uid_start"))
      r.uid_start =
          uint32_t(Int(j["uid_start"], where + ".uid_start", 0, 0xffffffff));
    if (j.contains("uid_end"))
      r.uid_end =
          uint32_t(Int(j["uid_end"], where + ".uid_end", 0, 0xffffffff));
    if (j.contains("suppress_prefixlen"))
      r.suppress_prefixlen = int(
          Int(j["suppress_prefixlen"], where + ".suppress_prefixlen", -1, 128));
    if (j.contains("suppress_ifgroup")) r.suppress_ifgroup = 0;
    if (j.contains("l3mdev"))
      Fail(where, "l3mdev rules (VRF) are not supported");
    if (j.contains("goto")) {
      r.action = core::RuleAction::kGoto;
      r.goto_target = uint32_t(Int(j["goto"], where + ".goto", 0, 0xffffffff));
    } else if (j.contains("nop")) {
      r.action = core::RuleAction::kNop;
    } else if (j.contains("action")) {
      const std::string s = Str(j["action"], where + ".action");
      if (s == "unreachable") {
        r.action = core::RuleAction::kUnreachable;
      } else if (s == "prohibit") {
        r.action = core::RuleAction::kProhibit;
      } else if (s == "blackhole") {
        r.action = core::RuleAction::kBlackhole;
      } else {
        Fail(where + ".action", "unknown rule action \"" + s + "\"");
      }
    } else {
      r.action = core::RuleAction::kToTable;
      r.table = j.contains("table") ? Table(j["table"], where + ".table")
                                    : core::kTableUnspec;
    }
    out->push_back(r);
  }
}

void Parser::ParseNeigh(const json& a, core::HostData* d) {
  if (!a.is_array()) Fail("neigh", "expected an array (ip -j neigh show)");
  static const std::map<std::string, uint16_t> kStates = {
      {"INCOMPLETE", core::kNudIncomplete}, {"REACHABLE", core::kNudReachable},
      {"STALE", core::kNudStale},           {"DELAY", core::kNudDelay},
      {"PROBE", core::kNudProbe},           {"FAILED", core::kNudFailed},
      {"NOARP", core::kNudNoarp},           {"PERMANENT", core::kNudPermanent},
  };
  for (size_t k = 0; k < a.size(); ++k) {
    const std::string where = At("neigh", k);
    const json& n = a[k];
    if (!n.is_object()) Fail(where, "expected an object");
    core::Neighbour e;
    const std::string dst = Str(Need(n, "dst", where), where + ".dst");
    e.family = FamilyOf(dst);
    e.addr = ParseAddr(dst, e.family, where + ".dst");
    e.ifindex = Ifindex(Need(n, "dev", where), where + ".dev");
    if (n.contains("state")) {
      e.state = 0;
      const json& st = n["state"];
      auto add = [&](const json& s) {
        auto it = kStates.find(Str(s, where + ".state"));
        if (it != kStates.end()) e.state |= it->second;
      };
      if (st.is_array()) {
        for (const json& s : st) add(s);
      } else {
        add(st);
      }
    }
    d->neighbours.push_back(e);
  }
}

void Parser::ParseSysctl(const json& o, core::HostData* d) {
  if (!o.is_object()) Fail("sysctl", "expected an object");
  for (auto it = o.begin(); it != o.end(); ++it) {
    if (!core::IsModelledSysctl(it.key())) continue;
    const int v =
        int(Int(it.value(), "sysctl." + it.key(), -0x7fffffff, 0x7fffffff));
    if (it.key() == "net.ipv4.ip_forward") d->forwarding4 = v != 0;
    if (it.key() == "net.ipv6.conf.all.forwarding") d->forwarding6 = v != 0;
    d->sysctl[it.key()] = v;
  }
}

core::HostData Parser::Parse(const std::string& text) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::parse_error& e) {
    Fail("", std::string("not valid JSON (") + e.what() + ")");
  }
  if (!root.is_object()) Fail("", "expected a JSON object");
  core::HostData d;
  ParseLinks(Need(root, "addrs", ""), &d);
  const bool have6 = root.contains("routes6");
  ParseRoutes(Need(root, "routes", ""), "routes", false, have6, &d);
  ParseRoutes(Need(root, "routes6", ""), "routes6", true, false, &d);
  d.forwarding4 = d.forwarding6 =
      Bool(Need(root, "forwarding", ""), "forwarding");
  if (root.contains("forwarding6"))
    d.forwarding6 = Bool(root["forwarding6"], "forwarding6");
  if (root.contains("neigh") && !root["neigh"].is_null())
    ParseNeigh(root["neigh"], &d);
  if (root.contains("rules")) {
    d.has_rules4 = true;
    ParseRules(root["rules"], Family::kIPv4, "rules", &d.rules4);
  }
  if (root.contains("rules6")) {
    d.has_rules6 = true;
    ParseRules(root["rules6"], Family::kIPv6, "rules6", &d.rules6);
  }
  if (root.contains("sysctl")) ParseSysctl(root["sysctl"], &d);
  return d;
}

}  // namespace

core::HostData ParseHostJson(const std::string& text,
                             const std::string& filename) {
  return Parser(filename).Parse(text);
}

std::unique_ptr<core::HostModel> LoadHostFile(const std::string& path) {
  return std::make_unique<core::HostModel>(ParseHostJson(ReadFile(path), path));
}

}  // namespace netfence::io
