// The host model. Each step cites the Linux (6.18) function whose decision
// it reproduces; the kernel-differential test (tests/kernel/route_diff.py)
// compares the answers with `ip route get` in network namespaces.
#include "core/host_model.h"

#include <algorithm>
#include <cstring>

namespace netfence::core {
namespace {

constexpr int kLoopbackIfindex = 1;  // LOOPBACK_IFINDEX

// RT6_LOOKUP_F_* flags of the IPv6 lookups.
constexpr int kF6Iface = 0x1;
constexpr int kF6Reachable = 0x2;
constexpr int kF6HasSaddr = 0x4;

// rt6_nud_state values (route.c).
constexpr int kNudFailHard = -3;
constexpr int kNudFailProbe = -2;

// ---- address classification (include/linux/in.h, include/net/ipv6.h) ----

// ipv4_is_zeronet: only 0.0.0.0 since Linux 5.3 made the rest of 0.0.0.0/8
// ordinary unicast space (measured: 0.1.2.3 routes like any address).
bool Zeronet4(const Addr& a) { return a.v4() == 0; }
bool Loopback4(const Addr& a) { return a.b[0] == 127; }
bool Multicast4(const Addr& a) { return (a.b[0] & 0xf0) == 0xe0; }
bool Lbcast4(const Addr& a) { return a.v4() == 0xffffffffu; }
bool LocalMulticast4(const Addr& a) {
  return (a.v4() & 0xffffff00u) == 0xe0000000u;
}
bool IsZero(const Addr& a) { return a == Addr{}; }

// PrefixMatch compares the first len bits.
bool PrefixMatch(const Addr& a, const Addr& p, unsigned len) {
  unsigned i = 0;
  for (; i + 8 <= len; i += 8)
    if (a.b[i / 8] != p.b[i / 8]) return false;
  if (i < len) {
    const uint8_t m = uint8_t(0xff << (8 - (len - i)));
    if ((a.b[i / 8] & m) != (p.b[i / 8] & m)) return false;
  }
  return true;
}

// MaskPrefix keeps the first len bits.
Addr MaskPrefix(const Addr& a, unsigned len) {
  Addr r;
  for (unsigned i = 0; i < 16 && i * 8 < len; ++i)
    r.b[i] = len >= i * 8 + 8 ? a.b[i]
                              : uint8_t(a.b[i] & (0xff << (8 - (len - i * 8))));
  return r;
}

// IPv6 address type bits and scopes (include/net/ipv6.h).
constexpr int kA6Any = 0x0000;
constexpr int kA6Unicast = 0x0001;
constexpr int kA6Multicast = 0x0002;
constexpr int kA6Loopback = 0x0010;
constexpr int kA6Linklocal = 0x0020;
constexpr int kA6Sitelocal = 0x0040;
constexpr int kA6Compatv4 = 0x0080;
constexpr int kA6Mapped = 0x1000;
constexpr int kScope6Nodelocal = 0x01;
constexpr int kScope6Linklocal = 0x02;
constexpr int kScope6Sitelocal = 0x05;
constexpr int kScope6Global = 0x0e;

uint32_t Word(const Addr& a, int i) {
  return uint32_t(a.b[4 * i]) << 24 | uint32_t(a.b[4 * i + 1]) << 16 |
         uint32_t(a.b[4 * i + 2]) << 8 | a.b[4 * i + 3];
}

int ScopeType(int scope) { return scope << 16; }

// AddrType6Bits is __ipv6_addr_type (net/ipv6/addrconf_core.c): type bits
// in the low half, the address's scope in the high half.
int AddrType6Bits(const Addr& a) {
  const uint32_t st = Word(a, 0);
  if ((st & 0xE0000000u) != 0 && (st & 0xE0000000u) != 0xE0000000u)
    return kA6Unicast | ScopeType(kScope6Global);
  if ((st & 0xFF000000u) == 0xFF000000u) {
    // ipv6_addr_scope2type
    const int scope = a.b[1] & 0x0f;
    switch (scope) {
      case kScope6Nodelocal:
        return kA6Multicast | ScopeType(scope) | kA6Loopback;
      case kScope6Linklocal:
        return kA6Multicast | ScopeType(scope) | kA6Linklocal;
      case kScope6Sitelocal:
        return kA6Multicast | ScopeType(scope) | kA6Sitelocal;
      default:
        return kA6Multicast | ScopeType(scope);
    }
  }
  if ((st & 0xFFC00000u) == 0xFE800000u)
    return kA6Linklocal | kA6Unicast | ScopeType(kScope6Linklocal);
  if ((st & 0xFFC00000u) == 0xFEC00000u)
    return kA6Sitelocal | kA6Unicast | ScopeType(kScope6Sitelocal);
  if ((st & 0xFE000000u) == 0xFC000000u)
    return kA6Unicast | ScopeType(kScope6Global);
  if ((Word(a, 0) | Word(a, 1)) == 0) {
    if (Word(a, 2) == 0) {
      if (Word(a, 3) == 0) return kA6Any;
      if (Word(a, 3) == 1)
        return kA6Loopback | kA6Unicast | ScopeType(kScope6Linklocal);
      return kA6Compatv4 | kA6Unicast | ScopeType(kScope6Global);
    }
    if (Word(a, 2) == 0x0000ffffu) return kA6Mapped | ScopeType(kScope6Global);
  }
  return kA6Unicast | ScopeType(kScope6Global);
}

// SrcScope6 is __ipv6_addr_src_scope.
int SrcScope6(int type) { return type == kA6Any ? -1 : type >> 16; }

// NeedStrict6 is rt6_need_strict: such destinations must route through the
// device the flow is bound to (or arrived on).
bool NeedStrict6(const Addr& a) {
  return (AddrType6Bits(a) & 0xffff) &
         (kA6Multicast | kA6Linklocal | kA6Loopback);
}

// AddrDiff6 is ipv6_addr_diff: the number of leading bits in common.
unsigned AddrDiff6(const Addr& a, const Addr& b) {
  for (unsigned i = 0; i < 16; ++i) {
    const uint8_t x = a.b[i] ^ b.b[i];
    if (x) return i * 8 + __builtin_clz(x) - 24;
  }
  return 128;
}

bool Orchid6(const Addr& a) {
  return (Word(a, 0) & 0xfffffff0u) == 0x20010010u;
}

// Label6 is ipv6_addr_label with the default policy table of
// net/ipv6/addrlabel.c (checked against `ip addrlabel` on 6.18); entries are
// tried longest prefix first.
uint32_t Label6(const Addr& a) {
  struct Entry {
    uint8_t prefix[4];
    unsigned len;
    uint32_t label;
  };
  if (Word(a, 0) == 0 && Word(a, 1) == 0 && Word(a, 2) == 0 && Word(a, 3) == 1)
    return 0;  // ::1/128
  if (Word(a, 0) == 0 && Word(a, 1) == 0) {
    if (Word(a, 2) == 0) return 3;            // ::/96
    if (Word(a, 2) == 0x0000ffffu) return 4;  // ::ffff:0:0/96
  }
  static const Entry kTable[] = {
      {{0x20, 0x01, 0x00, 0x00}, 32, 6},   // 2001::/32
      {{0x20, 0x01, 0x00, 0x10}, 28, 7},   // 2001:10::/28
      {{0x3f, 0xfe, 0x00, 0x00}, 16, 12},  // 3ffe::/16
      {{0x20, 0x02, 0x00, 0x00}, 16, 2},   // 2002::/16
      {{0xfe, 0xc0, 0x00, 0x00}, 10, 11},  // fec0::/10
      {{0xfc, 0x00, 0x00, 0x00}, 7, 5},    // fc00::/7
  };
  for (const Entry& e : kTable) {
    Addr p;
    std::memcpy(p.b.data(), e.prefix, 4);
    if (PrefixMatch(a, p, e.len)) return e.label;
  }
  return 1;  // ::/0
}

// SolicitedNode is addrconf_addr_solict_mult: ff02::1:ffXX:XXXX.
Addr SolicitedNode(const Addr& a) {
  Addr m;
  m.b[0] = 0xff;
  m.b[1] = 0x02;
  m.b[11] = 0x01;
  m.b[12] = 0xff;
  m.b[13] = a.b[13];
  m.b[14] = a.b[14];
  m.b[15] = a.b[15];
  return m;
}

Addr Mcast6(uint8_t scope, uint8_t last) {
  Addr m;
  m.b[0] = 0xff;
  m.b[1] = scope;
  m.b[15] = last;
  return m;
}

// TypeError is fib_props[type].error (IPv4) and fib6_prop (IPv6): what a
// lookup returns when it lands on a route of this type.
int TypeError(RouteType t) {
  switch (t) {
    case RouteType::kBlackhole:
    case RouteType::kNat:
    case RouteType::kXresolve:
      return kEINVAL;
    case RouteType::kUnreachable:
      return kEHOSTUNREACH;
    case RouteType::kProhibit:
      return kEACCES;
    case RouteType::kThrow:
      return kEAGAIN;
    default:
      return 0;
  }
}

Route ErrorRoute(int err) {
  Route r;
  r.err = err;
  r.type = RouteType::kUnreachable;
  return r;
}

RouteDetail ErrorDetail(int err) {
  RouteDetail d;
  d.route = ErrorRoute(err);
  return d;
}

// Sysctl defaults of a fresh network namespace on kernel 6.18 (measured
// with `ip netns add x; ip netns exec x sysctl -a`).
int DefaultConf4(const std::string& name) {
  if (name == "send_redirects") return 1;
  return 0;
}

const char* const kConf4Names[] = {
    "rp_filter",      "accept_local",  "route_localnet", "src_valid_mark",
    "send_redirects", "bc_forwarding", "forwarding"};

}  // namespace

bool IsModelledSysctl(const std::string& key) {
  if (key == "net.ipv4.ip_forward" || key == "net.ipv6.conf.all.forwarding")
    return true;
  const std::string pre = "net.ipv4.conf.";
  if (key.rfind(pre, 0) != 0) return false;
  const size_t dot = key.rfind('.');
  if (dot < pre.size()) return false;
  const std::string name = key.substr(dot + 1);
  for (const char* n : kConf4Names)
    if (name == n) return true;
  return false;
}

HostModel::HostModel(HostData data) : data_(std::move(data)) {
  for (const Interface& i : data_.interfaces)
    if (i.loopback && lo_ == nullptr) lo_ = &i;
  // Every IPv6 route has a path; reject routes hang on lo, as the kernel
  // makes them (ip6_route_info_create).
  for (RouteEntry& r : data_.routes)
    if (r.family == Family::kIPv6 && r.nexthops.empty()) {
      NextHop nh;
      nh.ifindex = lo_ ? lo_->ifindex : kLoopbackIfindex;
      r.nexthops.push_back(nh);
    }
  for (const RouteEntry& r : data_.routes) {
    (r.family == Family::kIPv4 ? sorted4_ : sorted6_).push_back(&r);
    auto& tables = r.family == Family::kIPv4 ? tables4_ : tables6_;
    if (std::find(tables.begin(), tables.end(), r.table) == tables.end())
      tables.push_back(r.table);
    // inet_rtm_newroute sets fib_has_custom_local_routes for any local
    // route a user adds; the kernel's own (proto kernel) do not.
    if (r.family == Family::kIPv4 && r.type == RouteType::kLocal && !r.kernel)
      custom_local_routes4_ = true;
  }
  // Longest prefix first. Within one prefix the fib_trie alias order: table
  // id descending (local before main when the two are merged), tos
  // descending, priority ascending, then the order of the dump.
  std::stable_sort(sorted4_.begin(), sorted4_.end(),
                   [](const RouteEntry* a, const RouteEntry* b) {
                     if (a->dst_len != b->dst_len)
                       return a->dst_len > b->dst_len;
                     if (a->table != b->table) return a->table > b->table;
                     if (a->tos != b->tos) return a->tos > b->tos;
                     return a->metric < b->metric;
                   });
  // IPv6 fib6 nodes keep their routes by metric (fib6_add_rt2node).
  std::stable_sort(sorted6_.begin(), sorted6_.end(),
                   [](const RouteEntry* a, const RouteEntry* b) {
                     if (a->dst_len != b->dst_len)
                       return a->dst_len > b->dst_len;
                     if (a->src_len != b->src_len)
                       return a->src_len > b->src_len;
                     return a->metric < b->metric;
                   });
  auto by_prio = [](const RuleEntry& a, const RuleEntry& b) {
    return a.priority < b.priority;
  };
  // The kernel's default rules (fib4_rules_init / fib6_rules_net_init).
  if (data_.has_rules4) {
    rules4_ = data_.rules4;
  } else {
    RuleEntry r;
    r.priority = 0, r.table = kTableLocal, rules4_.push_back(r);
    r.priority = 32766, r.table = kTableMain, rules4_.push_back(r);
    r.priority = 32767, r.table = kTableDefault, rules4_.push_back(r);
  }
  if (data_.has_rules6) {
    rules6_ = data_.rules6;
  } else {
    RuleEntry r;
    r.priority = 0, r.table = kTableLocal, rules6_.push_back(r);
    r.priority = 32766, r.table = kTableMain, rules6_.push_back(r);
  }
  std::stable_sort(rules4_.begin(), rules4_.end(), by_prio);
  std::stable_sort(rules6_.begin(), rules6_.end(), by_prio);
  // fib_has_custom_rules / fib6_has_custom_rules: set by any rule a user
  // adds. Rule sets equal to the defaults are taken as never touched.
  auto is_default = [](const std::vector<RuleEntry>& rs,
                       const std::vector<uint32_t>& tables,
                       const std::vector<uint32_t>& prios) {
    if (rs.size() != tables.size()) return false;
    for (size_t i = 0; i < rs.size(); ++i) {
      const RuleEntry& r = rs[i];
      RuleEntry plain;
      plain.priority = prios[i];
      plain.table = tables[i];
      if (r.priority != plain.priority || r.table != plain.table ||
          r.action != RuleAction::kToTable || r.invert || r.src_len ||
          r.dst_len || !r.iif.empty() || !r.oif.empty() || r.mark_mask ||
          r.tos || r.ipproto || r.has_ports || r.uid_start != 0 ||
          r.uid_end != 0xffffffff || r.suppress_prefixlen != -1 ||
          r.suppress_ifgroup != -1)
        return false;
    }
    return true;
  };
  custom_rules4_ = !is_default(
      rules4_, {kTableLocal, kTableMain, kTableDefault}, {0, 32766, 32767});
  custom_rules6_ = !is_default(rules6_, {kTableLocal, kTableMain}, {0, 32766});
  ResolveGateways();
}

void HostModel::ResolveGateways() {
  // fib_check_nh_v4_gw: a gateway is resolved by a lookup of scope one
  // above the route's (so through link or host routes), in the route's
  // table (main: the full lookup). The scope of the route found becomes the
  // path's; rt_set_nexthop sends to the gateway only when that is link.
  for (RouteEntry& r : data_.routes) {
    if (r.family != Family::kIPv4) continue;
    for (NextHop& nh : r.nexthops) {
      if (!nh.has_gateway || nh.onlink) continue;
      Flow4 fl;
      fl.dst = nh.gateway;
      fl.oif = nh.ifindex;
      fl.scope = uint8_t(r.scope + 1);
      FibResult res;
      int err = kEAGAIN;
      if (r.table != kTableMain && TableExists(Family::kIPv4, r.table))
        err = TableLookup4(r.table, fl, &res);
      if (err != 0) {
        res = FibLookup4(fl);
        err = res.err;
      }
      if (err == 0 && res.route->scope != kScopeLink) nh.gw_on_link = false;
    }
  }
}

// ---------------------------------------------------------------- basics

const Interface* HostModel::FindInterface(const std::string& name) const {
  for (const Interface& i : data_.interfaces)
    if (i.name == name) return &i;
  return nullptr;
}

const Interface* HostModel::FindIfindex(int ifindex) const {
  for (const Interface& i : data_.interfaces)
    if (i.ifindex == ifindex) return &i;
  return nullptr;
}

bool HostModel::Forwarding(Family f) const {
  return f == Family::kIPv4 ? data_.forwarding4 : data_.forwarding6;
}

void HostModel::SetSysctl(const std::string& key, int value) {
  if (key == "net.ipv4.ip_forward") data_.forwarding4 = value != 0;
  if (key == "net.ipv6.conf.all.forwarding") data_.forwarding6 = value != 0;
  data_.sysctl[key] = value;
}

int HostModel::Conf4(const Interface* dev, const std::string& name) const {
  auto get = [&](const std::string& which, int dflt) {
    auto it = data_.sysctl.find("net.ipv4.conf." + which + "." + name);
    return it == data_.sysctl.end() ? dflt : it->second;
  };
  // ip_forward writes every device's forwarding (devinet_forward_change).
  const int base =
      name == "forwarding" ? int(data_.forwarding4) : DefaultConf4(name);
  const int all = get("all", base);
  const int devval =
      dev ? get(dev->name, get("default", base)) : get("default", base);
  // include/linux/inetdevice.h: IN_DEV_RPFILTER is IN_DEV_MAXCONF,
  // ACCEPT_LOCAL / ROUTE_LOCALNET / TX_REDIRECTS / SRC_VMARK are
  // IN_DEV_ORCONF; FORWARD and BFORWARD read the device's own value.
  if (name == "rp_filter") return std::max(all, devval);
  if (name == "forwarding" || name == "bc_forwarding") return devval;
  return (all || devval) ? 1 : 0;
}

uint32_t HostModel::RouteMtu(const RouteEntry* r, const Interface* dev) const {
  // ipv4_mtu / ip6_mtu: the route's mtu metric, else the device's.
  unsigned mtu = r && r->mtu ? r->mtu : (dev ? dev->mtu : 0);
  return std::min(mtu, 65535u);
}

bool HostModel::TableExists(Family f, uint32_t table) const {
  // fib_get_table / fib6_get_table: local and main always exist (IPv4 from
  // the first address on), other tables once a route was added to them.
  if (table == kTableMain || table == kTableLocal) return true;
  const auto& t = f == Family::kIPv4 ? tables4_ : tables6_;
  return std::find(t.begin(), t.end(), table) != t.end();
}

// ------------------------------------------------------------ IPv4 fib

int HostModel::TableLookup4(uint32_t table, const Flow4& fl,
                            FibResult* res) const {
  // fib_table_lookup (fib_trie.c). While no policy rule was ever added the
  // local table is an alias of the main one (fib_new_table: "merged"), so
  // a lookup in either sees the routes of both.
  const bool merged =
      !custom_rules4_ && (table == kTableMain || table == kTableLocal);
  const uint8_t tos = fl.tos & 0x1c;  // IPTOS_RT_MASK / legacy DSCP mask
  for (const RouteEntry* r : sorted4_) {
    if (merged ? (r->table != kTableMain && r->table != kTableLocal)
               : r->table != table)
      continue;
    if (!PrefixMatch(fl.dst, r->dst, r->dst_len)) continue;
    if (r->tos && r->tos != tos) continue;
    if (r->scope < fl.scope) continue;
    const int err = TypeError(r->type);
    if (err < 0) {
      res->err = err;
      res->route = r;
      res->type = r->type;
      res->prefixlen = r->dst_len;
      return err;
    }
    // fib_lookup_good_nhc: dead paths and paths off the requested oif are
    // skipped (linkdown ones too, but only with ignore_routes_with_linkdown,
    // off by default). Several good paths: fib_select_multipath picks one
    // by a hash seeded at boot; the model takes the first.
    for (const NextHop& nh : r->nexthops) {
      if (nh.dead) continue;
      if (fl.oif && fl.oif != nh.ifindex) continue;
      res->err = 0;
      res->route = r;
      res->nh = &nh;
      res->type = r->type;
      res->prefixlen = r->dst_len;
      return 0;
    }
  }
  return kEAGAIN;
}

bool HostModel::Rule4Matches(const RuleEntry& r, const Flow4& fl) const {
  // fib_rule_match + fib4_rule_match. A rule naming a device that does not
  // exist is "detached": its ifindex never equals a flow's.
  auto dev_ok = [&](const std::string& name, int ifindex) {
    if (name.empty()) return true;
    const Interface* d = FindInterface(name);
    return d != nullptr && d->ifindex == ifindex;
  };
  bool m = dev_ok(r.iif, fl.iif) && dev_ok(r.oif, fl.oif) &&
           ((r.mark ^ fl.mark) & r.mark_mask) == 0 && fl.uid >= r.uid_start &&
           fl.uid <= r.uid_end;
  if (m) {
    m = PrefixMatch(fl.src, r.src, r.src_len) &&
        PrefixMatch(fl.dst, r.dst, r.dst_len) &&
        (!r.tos || r.tos == (fl.tos & 0x1c)) &&
        // The model's flows carry no protocol or ports (the lookups the
        // kernel makes for `ip route get` without ipproto/sport/dport have
        // none either), so such selectors never match.
        !r.ipproto && !r.has_ports;
  }
  return r.invert ? !m : m;
}

FibResult HostModel::FibLookup4(const Flow4& fl) const {
  FibResult res;
  if (!custom_rules4_) {
    // fib_lookup (ip_fib.h) without custom rules: main (merged with local),
    // then the default table if it exists; -EAGAIN (throw) becomes
    // -ENETUNREACH.
    int err = TableLookup4(kTableMain, fl, &res);
    if (err != 0 && TableExists(Family::kIPv4, kTableDefault)) {
      res = FibResult{};
      err = TableLookup4(kTableDefault, fl, &res);
    }
    if (err == kEAGAIN) err = kENETUNREACH;
    res.err = err;
    return res;
  }
  // __fib_lookup -> fib_rules_lookup with fib4_rule_action and
  // fib4_rule_suppress; no rule deciding gives -ESRCH, reported as
  // -ENETUNREACH.
  for (size_t i = 0; i < rules4_.size(); ++i) {
    const RuleEntry& r = rules4_[i];
    if (!Rule4Matches(r, fl)) continue;
    int err = kEAGAIN;
    switch (r.action) {
      case RuleAction::kGoto: {
        // The goto target is the first rule with exactly that priority; an
        // unresolved goto is skipped.
        size_t j = i + 1;
        while (j < rules4_.size() && rules4_[j].priority != r.goto_target) ++j;
        if (j < rules4_.size()) i = j - 1;
        continue;
      }
      case RuleAction::kNop:
        continue;
      case RuleAction::kUnreachable:
        err = kENETUNREACH;
        break;
      case RuleAction::kProhibit:
        err = kEACCES;
        break;
      case RuleAction::kBlackhole:
        err = kEINVAL;
        break;
      case RuleAction::kToTable: {
        if (!TableExists(Family::kIPv4, r.table)) continue;
        FibResult t;
        err = TableLookup4(r.table, fl, &t);
        if (err == 0 && ((r.suppress_prefixlen >= 0 &&
                          int(t.prefixlen) <= r.suppress_prefixlen)))
          continue;
        if (err != kEAGAIN) {
          t.err = err;
          return t;
        }
        continue;
      }
    }
    res.err = err;
    return res;
  }
  res.err = kENETUNREACH;
  return res;
}

// ------------------------------------------------------- IPv4 addresses

bool HostModel::IsConfiguredAddr4(const Addr& a) const {
  // inet_lookup_ifaddr_rcu: any device's ifa_local.
  for (const Interface& i : data_.interfaces)
    for (const IfAddr& x : i.addrs)
      if (x.family == Family::kIPv4 && x.local == a) return true;
  return false;
}

const Interface* HostModel::IpDevFind(const Addr& a) const {
  // __ip_dev_find: a configured address, else a local route for it in the
  // local table (so that 127.0.0.2 counts as ours).
  for (const Interface& i : data_.interfaces)
    for (const IfAddr& x : i.addrs)
      if (x.family == Family::kIPv4 && x.local == a) return &i;
  Flow4 fl;
  fl.dst = a;
  FibResult res;
  if (TableLookup4(kTableLocal, fl, &res) == 0 &&
      res.type == RouteType::kLocal && res.nh)
    return FindIfindex(res.nh->ifindex);
  return nullptr;
}

Addr HostModel::InetSelectAddr(const Interface* dev, const Addr& dst,
                               uint8_t scope) const {
  // inet_select_addr (devinet.c): the first primary address of dev within
  // scope, preferring one whose subnet (or peer) holds dst; host-scope
  // addresses count as link scope with route_localnet.
  if (dev != nullptr) {
    const uint8_t localnet_scope =
        Conf4(dev, "route_localnet") ? kScopeLink : kScopeHost;
    Addr addr;
    bool have = false;
    for (const IfAddr& x : dev->addrs) {
      if (x.family != Family::kIPv4 || x.secondary) continue;
      if (std::min(x.scope, localnet_scope) > scope) continue;
      const Addr net = x.peer == Addr{} ? x.local : x.peer;
      if (IsZero(dst) || PrefixMatch(dst, net, x.prefixlen)) return x.local;
      if (!have) addr = x.local, have = true;
    }
    if (have) return addr;
  }
  // Otherwise any device's primary address of small enough scope, link
  // scope excluded (in_dev_select_addr), in device order: lo first.
  for (const Interface& i : data_.interfaces)
    for (const IfAddr& x : i.addrs)
      if (x.family == Family::kIPv4 && !x.secondary && x.scope != kScopeLink &&
          x.scope <= scope)
        return x.local;
  return Addr{};
}

Addr HostModel::ResultPrefsrc(const FibResult& res) const {
  // fib_result_prefsrc: the route's prefsrc, else inet_select_addr on the
  // path's device towards its gateway within the route's scope.
  if (res.route->has_prefsrc) return res.route->prefsrc;
  const Interface* dev = res.nh ? FindIfindex(res.nh->ifindex) : nullptr;
  return InetSelectAddr(
      dev, res.nh && res.nh->has_gateway ? res.nh->gateway : Addr{},
      res.route->scope);
}

int HostModel::ValidateSource(const Addr& src, const Addr& dst, uint8_t tos,
                              int oif, const Interface* dev,
                              uint32_t mark) const {
  // fib_validate_source (fib_frontend.c). Without rp_filter (and unless the
  // packet would leave where it came in with send_redirects on) the only
  // check is that src is none of this host's addresses, made in full when
  // custom local routes or rules make the shortcut unreliable.
  const int rpf = Conf4(dev, "rp_filter");
  if (!rpf && (dev->ifindex != oif || !Conf4(dev, "send_redirects"))) {
    if (Conf4(dev, "accept_local")) return 0;
    if (!custom_local_routes4_ && !custom_rules4_)
      return IsConfiguredAddr4(src) ? kEINVAL : 0;
  }
  return FullValidateSource(src, dst, tos, oif, dev, mark, rpf);
}

int HostModel::FullValidateSource(const Addr& src, const Addr& dst, uint8_t tos,
                                  int oif, const Interface* dev, uint32_t mark,
                                  int rpf) const {
  // __fib_validate_source: route the reply (dst and src swapped, as if it
  // came from the output device or lo) and require a unicast route; with
  // rp_filter 1 it must leave through dev, with 2 it must just exist.
  Flow4 fl;
  fl.dst = src;
  fl.src = dst;
  fl.iif = oif ? oif : (lo_ ? lo_->ifindex : kLoopbackIfindex);
  fl.tos = tos;
  fl.mark = Conf4(dev, "src_valid_mark") ? mark : 0;
  bool no_addr = true;
  for (const IfAddr& x : dev->addrs)
    if (x.family == Family::kIPv4) no_addr = false;
  const FibResult res = FibLookup4(fl);
  if (res.err != 0) return rpf ? kEXDEV : 0;  // last_resort
  if (res.type != RouteType::kUnicast &&
      (res.type != RouteType::kLocal || !Conf4(dev, "accept_local")))
    return kEINVAL;
  bool dev_match = false;
  for (const NextHop& nh : res.route->nexthops)
    if (nh.ifindex == dev->ifindex) dev_match = true;
  if (res.type == RouteType::kLocal && dev->loopback) dev_match = true;
  if (dev_match) return 0;
  if (no_addr) return rpf ? kEXDEV : 0;
  if (rpf == 1) return kEXDEV;
  return 0;
}

// ------------------------------------------------------------ IPv4 input

RouteDetail HostModel::Input4(const Addr& dst, const Addr& src, uint8_t tos,
                              const Interface* in, uint32_t mark) const {
  RouteDetail d;
  Route& rt = d.route;
  auto local = [&](RouteType type) {
    // local_input: delivered through lo (ip_rt_get_dev without VRF).
    rt.type = type;
    rt.dev = lo_;
    rt.mtu = RouteMtu(nullptr, lo_);
    return d;
  };
  // ip_route_input_rcu: multicast is decided by membership (ip_check_mc_rcu;
  // no multicast routing daemon), then ip_mc_validate_source.
  if (Multicast4(dst)) {
    if (!IsMulticastMember(Family::kIPv4, in, dst)) return ErrorDetail(kEINVAL);
    if (Multicast4(src) || Lbcast4(src)) return ErrorDetail(kEINVAL);
    if (Loopback4(src) && !Conf4(in, "route_localnet"))
      return ErrorDetail(kEINVAL);
    if (Zeronet4(src)) {
      // Allowed to link-local groups only (or for IGMP, which the model
      // cannot see: it has no protocol).
      if (!LocalMulticast4(dst)) return ErrorDetail(kEINVAL);
    } else if (ValidateSource(src, Addr{}, tos, 0, in, mark) < 0) {
      return ErrorDetail(kEINVAL);
    }
    return local(RouteType::kMulticast);
  }
  // ip_route_input_slow: the martian checks, in the kernel's order.
  auto brd_input = [&]() {
    if (!Zeronet4(src) && ValidateSource(src, Addr{}, tos, 0, in, mark) < 0)
      return ErrorDetail(kEINVAL);  // martian source
    return local(RouteType::kBroadcast);
  };
  if (Multicast4(src) || Lbcast4(src)) return ErrorDetail(kEINVAL);
  if (Lbcast4(dst) || (IsZero(src) && IsZero(dst))) return brd_input();
  if (Zeronet4(src)) return ErrorDetail(kEINVAL);
  if (Zeronet4(dst)) return ErrorDetail(kEINVAL);
  if (Loopback4(dst)) {
    if (!Conf4(in, "route_localnet")) return ErrorDetail(kEINVAL);
  } else if (Loopback4(src)) {
    if (!Conf4(in, "route_localnet")) return ErrorDetail(kEINVAL);
  }
  Flow4 fl;
  fl.dst = dst;
  fl.src = src;
  fl.iif = in->ifindex;
  fl.mark = mark;
  fl.tos = tos;
  const FibResult res = FibLookup4(fl);
  const bool forward = Conf4(in, "forwarding") != 0;
  if (res.err != 0) {
    // no_route: an unreachable dst whose error ip_error reports; when not
    // forwarding it is always -EHOSTUNREACH.
    d = ErrorDetail(forward ? res.err : kEHOSTUNREACH);
    if (res.route) d.table = res.route->table;
    return d;
  }
  d.table = res.route->table;
  d.entry = res.route;
  if (res.type == RouteType::kBroadcast) {
    if (!Conf4(in, "bc_forwarding")) return brd_input();
  } else if (res.type == RouteType::kLocal) {
    if (ValidateSource(src, dst, tos, 0, in, mark) < 0)
      return ErrorDetail(kEINVAL);
    return local(RouteType::kLocal);
  } else {
    if (!forward) return ErrorDetail(kEHOSTUNREACH);
    if (res.type != RouteType::kUnicast) return ErrorDetail(kEINVAL);
  }
  // ip_mkroute_input -> __mkroute_input: validate the source against the
  // output device, then forward.
  const Interface* out = FindIfindex(res.nh->ifindex);
  if (out == nullptr) return ErrorDetail(kEINVAL);
  if (ValidateSource(src, dst, tos, out->ifindex, in, mark) < 0)
    return ErrorDetail(kEINVAL);
  rt.type = res.type;
  rt.dev = out;
  // rt_set_nexthop: a gateway is used when the path has one on link.
  if (res.nh->has_gateway && res.nh->gw_on_link) rt.gateway = res.nh->gateway;
  rt.mtu = RouteMtu(res.route, out);
  return d;
}

// ----------------------------------------------------------- IPv4 output

RouteDetail HostModel::MakeOutput4(const FibResult& res, const Addr& dst,
                                   const Addr& src,
                                   const Interface* dev_out) const {
  // __mkroute_output.
  if (dev_out == nullptr) return ErrorDetail(kEINVAL);
  if (!Conf4(dev_out, "route_localnet") && Loopback4(src) && !dev_out->loopback)
    return ErrorDetail(kEINVAL);
  RouteType type = res.type;
  bool use_fi = res.route != nullptr;
  if (Lbcast4(dst)) {
    type = RouteType::kBroadcast;
  } else if (Multicast4(dst)) {
    type = RouteType::kMulticast;
  } else if (Zeronet4(dst)) {
    return ErrorDetail(kEINVAL);
  }
  if (type == RouteType::kBroadcast) use_fi = false;
  // A multicast destination routed by a short (default) route: the route's
  // device is used but not its gateway.
  if (type == RouteType::kMulticast && use_fi && res.prefixlen < 4)
    use_fi = false;
  RouteDetail d;
  d.route.type = type;
  d.route.dev = dev_out;
  d.route.prefsrc = src;
  d.route.route_prefsrc =
      use_fi && res.route->has_prefsrc && src == res.route->prefsrc;
  if (use_fi && res.nh && res.nh->has_gateway && res.nh->gw_on_link &&
      type != RouteType::kLocal)
    d.route.gateway = res.nh->gateway;
  d.route.mtu = RouteMtu(use_fi ? res.route : nullptr, dev_out);
  if (res.route) {
    d.table = res.route->table;
    d.entry = res.route;
  }
  return d;
}

RouteDetail HostModel::Output4(const Addr& dst_in, const Addr& src_in,
                               uint8_t tos, const Interface* oif, uint32_t mark,
                               bool anysrc) const {
  // ip_route_output_key_hash_rcu (route.c).
  Addr dst = dst_in, src = src_in;
  Flow4 fl;
  fl.dst = dst;
  fl.src = src;
  fl.oif = oif ? oif->ifindex : 0;
  fl.iif = lo_ ? lo_->ifindex : kLoopbackIfindex;
  fl.mark = mark;
  fl.tos = tos;
  FibResult res;
  const Interface* dev_out = nullptr;
  if (!IsZero(src)) {
    if (Multicast4(src) || Lbcast4(src) || Zeronet4(src))
      return ErrorDetail(kEINVAL);
    if (!oif && (Multicast4(dst) || Lbcast4(dst))) {
      // Multicast / limited broadcast leave by the device owning src.
      dev_out = IpDevFind(src);
      if (dev_out == nullptr) return ErrorDetail(kENETUNREACH);
      return MakeOutput4(res, dst, src, dev_out);
    }
    if (!anysrc && IpDevFind(src) == nullptr) return ErrorDetail(kENETUNREACH);
  }
  if (oif) {
    dev_out = oif;
    if (!oif->up) return ErrorDetail(kENETUNREACH);
    if (LocalMulticast4(dst) || Lbcast4(dst)) {
      if (IsZero(src)) src = InetSelectAddr(dev_out, Addr{}, kScopeLink);
      return MakeOutput4(res, dst, src, dev_out);
    }
    if (IsZero(src)) {
      if (Multicast4(dst))
        src = InetSelectAddr(dev_out, Addr{}, fl.scope);
      else if (IsZero(dst))
        src = InetSelectAddr(dev_out, Addr{}, kScopeHost);
    }
    fl.src = src;
  }
  if (IsZero(dst)) {
    // No destination: the packet goes to this host (src, or 127.0.0.1).
    dst = src;
    if (IsZero(dst)) dst = src = Addr::FromV4(0x7f000001);
    res.type = RouteType::kLocal;
    return MakeOutput4(res, dst, src, lo_);
  }
  res = FibLookup4(fl);
  if (res.err != 0) {
    if (oif) {
      // With an output device and no route, the destination is assumed
      // on link ("Apparently, routing tables are wrong").
      if (IsZero(src)) src = InetSelectAddr(dev_out, Addr{}, kScopeLink);
      FibResult on_link;
      on_link.type = RouteType::kUnicast;
      return MakeOutput4(on_link, dst, src, dev_out);
    }
    RouteDetail d = ErrorDetail(res.err);
    if (res.route) d.table = res.route->table;
    return d;
  }
  if (res.type == RouteType::kLocal) {
    if (IsZero(src)) src = res.route->has_prefsrc ? res.route->prefsrc : dst;
    return MakeOutput4(res, dst, src, lo_);
  }
  // fib_select_path: multipath and default-route selection (the model
  // keeps the lookup's path, see TableLookup4), then the source.
  if (IsZero(src)) src = ResultPrefsrc(res);
  dev_out = FindIfindex(res.nh->ifindex);
  return MakeOutput4(res, dst, src, dev_out);
}

RouteType HostModel::AddrType4(const Addr& a, const Interface* dev) const {
  // __inet_dev_addr_type with the local table (merged with main while no
  // rule was added): the type of the route found, if its first path uses
  // dev (when a dev is given); unicast otherwise.
  if (Zeronet4(a) || Lbcast4(a)) return RouteType::kBroadcast;
  if (Multicast4(a)) return RouteType::kMulticast;
  Flow4 fl;
  fl.dst = a;
  FibResult res;
  if (TableLookup4(kTableLocal, fl, &res) == 0) {
    const NextHop& nh0 = res.route->nexthops.front();
    if (dev == nullptr || dev->ifindex == nh0.ifindex) return res.type;
  }
  return RouteType::kUnicast;
}

// --------------------------------------------------------- IPv6 lookups

int HostModel::Score6(const RouteEntry& r, int oif, int strict) const {
  // rt6_score_route: 2 for the wanted device (or any when none is wanted),
  // a hard failure off it when strict; router preference above that; and
  // with RT6_LOOKUP_F_REACHABLE a gateway whose neighbour entry FAILED is
  // put last (rt6_check_neigh; no entry at all is fine with ROUTER_PREF).
  const NextHop& nh = r.nexthops.front();
  int m = 0;
  if (!oif || nh.ifindex == oif) m = 2;
  if (!m && (strict & kF6Iface)) return kNudFailHard;
  const int pref_bits = r.pref > 0 ? 1 : (r.pref < 0 ? 3 : 0);  // ICMPV6_*
  m |= (pref_bits ^ 2) << 2;  // IPV6_DECODE_PREF
  if ((strict & kF6Reachable) && nh.has_gateway) {
    for (const Neighbour& n : data_.neighbours) {
      if (n.family != Family::kIPv6 || n.ifindex != nh.ifindex ||
          !(n.addr == nh.gateway))
        continue;
      const uint16_t valid = kNudPermanent | kNudNoarp | kNudReachable |
                             kNudProbe | kNudStale | kNudDelay;
      if (!(n.state & valid) && (n.state & kNudFailed)) return kNudFailProbe;
      break;
    }
  }
  return m;
}

bool HostModel::SelectAtNode6(const std::vector<const RouteEntry*>& node,
                              int oif, int strict, FibResult* res) const {
  // rt6_select / find_rr_leaf / find_match: among the routes of the lowest
  // metric the best score wins (the first on ties); if none qualifies, the
  // best of all the others.
  if (node.empty()) return false;
  const uint32_t metric = node.front()->metric;
  const RouteEntry* best = nullptr;
  int mpri = -1;
  auto consider = [&](const RouteEntry* r) {
    const NextHop& nh = r->nexthops.front();
    if (nh.dead) return;
    const int m = Score6(*r, oif, strict);
    if (m == kNudFailHard) return;
    if (m > mpri) mpri = m, best = r;
  };
  size_t i = 0;
  for (; i < node.size() && node[i]->metric == metric; ++i) consider(node[i]);
  if (best == nullptr)
    for (; i < node.size(); ++i) consider(node[i]);
  if (best == nullptr) return false;
  res->route = best;
  res->nh = &best->nexthops.front();
  res->type = best->type;
  res->prefixlen = best->dst_len;
  res->err = TypeError(best->type);
  return true;
}

FibResult HostModel::PolRoute6(uint32_t table, const Flow6& fl, int oif,
                               int flags) const {
  // ip6_pol_route -> fib6_table_lookup: rt6_select on the node
  // fib6_node_lookup finds, then on the nodes fib6_backtrack climbs to,
  // until one yields a route; when not forwarding, a first pass wants
  // reachable gateways and a second takes any.
  //
  // With CONFIG_IPV6_SUBTREES a destination prefix that has source-specific
  // routes ("from") keeps them in a subtree. fib6_node_lookup_1 descends
  // into it and, when no source prefix matches, goes on to the shorter
  // destinations: the prefix's plain routes are skipped. Backtracking
  // (from a node found) visits, for each shorter destination, its matching
  // source nodes (longest first) and then its plain routes.
  std::vector<std::vector<const RouteEntry*>> nodes;
  bool started = false;
  for (size_t i = 0; i < sorted6_.size();) {
    // One destination prefix: the routes of equal dst_len that match.
    const RouteEntry* r = sorted6_[i];
    if (r->table != table || !PrefixMatch(fl.dst, r->dst, r->dst_len)) {
      ++i;
      continue;
    }
    const unsigned len = r->dst_len;
    std::vector<std::vector<const RouteEntry*>> src_nodes;
    std::vector<const RouteEntry*> plain;
    bool subtree = false;
    for (; i < sorted6_.size() && sorted6_[i]->dst_len == len; ++i) {
      const RouteEntry* x = sorted6_[i];
      if (x->table != table || !PrefixMatch(fl.dst, x->dst, x->dst_len))
        continue;
      if (x->src_len == 0) {
        plain.push_back(x);
        continue;
      }
      subtree = true;
      if (!PrefixMatch(fl.src, x->src, x->src_len)) continue;
      if (src_nodes.empty() || src_nodes.back().front()->src_len != x->src_len)
        src_nodes.emplace_back();
      src_nodes.back().push_back(x);
    }
    if (!started && subtree && src_nodes.empty()) continue;
    if (!started && !subtree && plain.empty()) continue;
    started = true;
    for (auto& n : src_nodes) nodes.push_back(std::move(n));
    if (!plain.empty()) nodes.push_back(std::move(plain));
  }
  if (!started) {
    // Nothing found: fib6_node_lookup falls back to the table's root, whose
    // plain routes are the default ones.
    std::vector<const RouteEntry*> root;
    for (const RouteEntry* r : sorted6_)
      if (r->table == table && r->dst_len == 0 && r->src_len == 0)
        root.push_back(r);
    if (!root.empty()) nodes.push_back(std::move(root));
  }
  int strict = flags & (kF6Iface | kF6Reachable);
  if (!data_.forwarding6) strict |= kF6Reachable;
  FibResult res;
  for (;;) {
    for (const auto& node : nodes)
      if (SelectAtNode6(node, oif, strict, &res)) return res;
    if (!(strict & kF6Reachable)) break;
    strict &= ~kF6Reachable;
  }
  res = FibResult{};
  res.err = kENETUNREACH;  // ip6_null_entry
  return res;
}

bool HostModel::Rule6Matches(const RuleEntry& r, const Flow6& fl,
                             int flags) const {
  // fib_rule_match + fib6_rule_match. A source selector needs a source
  // (RT6_LOOKUP_F_HAS_SADDR).
  auto dev_ok = [&](const std::string& name, int ifindex) {
    if (name.empty()) return true;
    const Interface* d = FindInterface(name);
    return d != nullptr && d->ifindex == ifindex;
  };
  bool m = dev_ok(r.iif, fl.iif) && dev_ok(r.oif, fl.oif) &&
           ((r.mark ^ fl.mark) & r.mark_mask) == 0 && fl.uid >= r.uid_start &&
           fl.uid <= r.uid_end;
  if (m) {
    m = PrefixMatch(fl.dst, r.dst, r.dst_len) &&
        (!r.src_len ||
         ((flags & kF6HasSaddr) && PrefixMatch(fl.src, r.src, r.src_len))) &&
        (!r.tos || r.tos == (fl.tclass & 0xfc)) && !r.ipproto && !r.has_ports;
  }
  return r.invert ? !m : m;
}

FibResult HostModel::RuleLookup6(const Flow6& fl, int oif, int flags) const {
  // fib6_rule_lookup.
  if (!custom_rules6_) {
    // Local table, then main; a throw (-EAGAIN) falls through.
    FibResult r = PolRoute6(kTableLocal, fl, oif, flags);
    if (r.route && r.err != kEAGAIN) return r;
    r = PolRoute6(kTableMain, fl, oif, flags);
    if (r.err != kEAGAIN) return r;
    r = FibResult{};
    r.err = kENETUNREACH;
    return r;
  }
  // fib_rules_lookup with __fib6_rule_action and fib6_rule_suppress.
  FibResult res;
  for (size_t i = 0; i < rules6_.size(); ++i) {
    const RuleEntry& r = rules6_[i];
    if (!Rule6Matches(r, fl, flags)) continue;
    switch (r.action) {
      case RuleAction::kGoto: {
        size_t j = i + 1;
        while (j < rules6_.size() && rules6_[j].priority != r.goto_target) ++j;
        if (j < rules6_.size()) i = j - 1;
        continue;
      }
      case RuleAction::kNop:
        continue;
      case RuleAction::kUnreachable:
        res.err = kENETUNREACH;
        return res;
      case RuleAction::kProhibit:
        res.err = kEACCES;
        return res;
      case RuleAction::kBlackhole:
        res.err = kEINVAL;
        return res;
      case RuleAction::kToTable: {
        if (!TableExists(Family::kIPv6, r.table)) continue;
        FibResult t = PolRoute6(r.table, fl, oif, flags);
        if (t.route == nullptr || t.err == kEAGAIN) continue;
        if (t.err == 0 && r.suppress_prefixlen >= 0 &&
            int(t.prefixlen) <= r.suppress_prefixlen)
          continue;
        return t;
      }
    }
  }
  res.err = kENETUNREACH;
  return res;
}

bool HostModel::Ipv6RouteGetSaddr(const FibResult& res, const Addr& dst,
                                  Addr* out) const {
  // ip6_route_get_saddr: the route's prefsrc, else source selection on the
  // route's device (the real one, also for local routes).
  if (res.route && res.route->has_prefsrc) {
    *out = res.route->prefsrc;
    return true;
  }
  const Interface* dev = res.nh ? FindIfindex(res.nh->ifindex) : nullptr;
  return Ipv6DevGetSaddr(dev, dst, out);
}

RouteDetail HostModel::Finish(const FibResult& res, Route rt) const {
  RouteDetail d;
  d.route = rt;
  if (res.route) {
    d.table = res.route->table;
    d.entry = res.route;
  }
  return d;
}

RouteDetail HostModel::Input6(const Addr& dst, const Addr& src, uint8_t tclass,
                              const Interface* in, uint32_t mark) const {
  // ip6_route_input -> ip6_route_input_lookup: the flow's oif is the input
  // device, strict for link-local, loopback and multicast destinations.
  Flow6 fl;
  fl.dst = dst;
  fl.src = src;
  fl.iif = in->ifindex;
  fl.mark = mark;
  fl.tclass = tclass;
  int flags = kF6HasSaddr;
  if (NeedStrict6(dst)) flags |= kF6Iface;
  const FibResult res = RuleLookup6(fl, in->ifindex, flags);
  Route rt;
  if (res.err != 0) return Finish(res, ErrorRoute(res.err));
  rt.type = res.type;
  const Interface* dev = FindIfindex(res.nh->ifindex);
  if (res.type == RouteType::kLocal || res.type == RouteType::kAnycast) {
    // ip6_rt_get_dev_rcu: local and anycast routes deliver through lo.
    rt.dev = lo_;
  } else {
    rt.dev = dev;
    if (res.nh->has_gateway) rt.gateway = res.nh->gateway;
  }
  if (res.type == RouteType::kMulticast &&
      !IsMulticastMember(Family::kIPv6, in, dst)) {
    // ip6_mc_input drops what the input device has not joined (after
    // PREROUTING, like IPv4's routing refusal).
    return Finish(res, ErrorRoute(kEINVAL));
  }
  rt.mtu = RouteMtu(res.route, rt.dev);
  return Finish(res, rt);
}

RouteDetail HostModel::Output6(const Addr& dst, const Addr& src, uint8_t tclass,
                               const Interface* oif, uint32_t mark) const {
  // ip6_route_output_flags_noref.
  Flow6 fl;
  fl.dst = dst;
  fl.src = src;
  fl.iif = lo_ ? lo_->ifindex : kLoopbackIfindex;
  fl.oif = oif ? oif->ifindex : 0;
  fl.mark = mark;
  fl.tclass = tclass;
  int flags = 0;
  const bool any_src = IsZero(src);
  if (NeedStrict6(dst) || (oif && any_src)) flags |= kF6Iface;
  if (!any_src) flags |= kF6HasSaddr;
  const FibResult res = RuleLookup6(fl, fl.oif, flags);
  if (res.err != 0) return Finish(res, ErrorRoute(res.err));
  Route rt;
  rt.type = res.type;
  if (res.type == RouteType::kLocal || res.type == RouteType::kAnycast) {
    rt.dev = lo_;
  } else {
    rt.dev = FindIfindex(res.nh->ifindex);
    if (res.nh->has_gateway) rt.gateway = res.nh->gateway;
  }
  // The source a local sender with an unspecified one gets
  // (ip6_dst_lookup_tail -> ip6_route_get_saddr).
  if (!any_src) {
    rt.prefsrc = src;
  } else {
    Addr s;
    if (Ipv6RouteGetSaddr(res, dst, &s)) rt.prefsrc = s;
    rt.route_prefsrc = res.route != nullptr && res.route->has_prefsrc;
  }
  rt.mtu = RouteMtu(res.route, rt.dev);
  return Finish(res, rt);
}

RouteType HostModel::AddrType6(const Addr& a, const Interface* dev) const {
  // xt_addrtype's match_type6 / match_lookup_rt6 as one type: multicast
  // and unspecified by the address; an address configured on dev is local
  // (nf_ipv6_chk_addr, strict); otherwise the route to it (looked up with
  // oif dev): an error or reject route is unreachable, a local route local,
  // an anycast route (or a connected prefix's own address) anycast.
  const int type = AddrType6Bits(a) & 0xffff;
  if (type == kA6Any) return RouteType::kUnspec;
  if (type & kA6Multicast) return RouteType::kMulticast;
  if (dev != nullptr) {
    for (const IfAddr& x : dev->addrs)
      if (x.family == Family::kIPv6 && x.local == a &&
          (!(x.flags & kIfaTentative) ||
           ((x.flags & kIfaOptimistic) && !(x.flags & kIfaDadfailed))))
        return RouteType::kLocal;
  }
  const RouteDetail d = Output6(a, Addr{}, 0, dev, 0);
  if (d.route.err != 0) return RouteType::kUnreachable;
  if (d.route.type == RouteType::kLocal) return RouteType::kLocal;
  if (d.route.type == RouteType::kAnycast) return RouteType::kAnycast;
  if (d.entry && d.entry->dst_len < 127 && !d.entry->nexthops.empty() &&
      !d.entry->nexthops.front().has_gateway && d.entry->dst == a)
    return RouteType::kAnycast;
  return RouteType::kUnicast;
}

bool HostModel::Ipv6DevGetSaddr(const Interface* dev, const Addr& daddr,
                                Addr* out) const {
  // ipv6_dev_get_saddr (addrconf.c), RFC 6724 source selection: candidates
  // are dev's addresses for multicast and link-local (or narrower)
  // destinations, every device's otherwise; each candidate is compared
  // with the best so far rule by rule until one differs.
  const int dst_type = AddrType6Bits(daddr);
  const int dst_scope = SrcScope6(dst_type);
  const int dst_ifindex = dev ? dev->ifindex : 0;
  const uint32_t dst_label = Label6(daddr);
  const bool use_oif = dev != nullptr && ((dst_type & kA6Multicast) ||
                                          dst_scope <= kScope6Linklocal);
  constexpr int kRules = 10;  // INIT .. NOT_OPTIMISTIC without MIP6's HOA
  auto eval = [&](const IfAddr& x, int ifindex, int rule) -> int {
    const int t = AddrType6Bits(x.local);
    switch (rule) {
      case 0:  // INIT
        return 1;
      case 1:  // LOCAL: the destination itself
        return x.local == daddr;
      case 2: {  // SCOPE: the smallest scope that reaches dst
        const int s = SrcScope6(t);
        return s >= dst_scope ? -s : s - 128;
      }
      case 3:  // PREFERRED: not deprecated (nor optimistic: use_optimistic 0)
        return ((t & 0xffff) & (kA6Mapped | kA6Compatv4 | kA6Loopback)) ||
               !(x.flags & (kIfaDeprecated | kIfaOptimistic));
      case 4:  // OIF
        return !dst_ifindex || dst_ifindex == ifindex;
      case 5:  // LABEL
        return Label6(x.local) == dst_label;
      case 6:  // PRIVACY: public before temporary (use_tempaddr 0)
        return !(x.flags & kIfaTemporary);
      case 7:  // ORCHID
        return !(Orchid6(x.local) ^ Orchid6(daddr));
      case 8: {  // PREFIX: longest match, up to the address's prefix
        const unsigned d = AddrDiff6(x.local, daddr);
        return int(std::min(d, x.prefixlen));
      }
      default:  // NOT_OPTIMISTIC
        return !(x.flags & kIfaOptimistic);
    }
  };
  const IfAddr* best = nullptr;
  int best_ifindex = 0;
  auto scan = [&](const Interface& d) {
    if (!Ipv6Enabled(&d)) return;
    for (const IfAddr& x : d.addrs) {
      if (x.family != Family::kIPv6) continue;
      if ((x.flags & kIfaTentative) && !(x.flags & kIfaOptimistic)) continue;
      const int t = AddrType6Bits(x.local);
      if (t == kA6Any || (t & kA6Multicast)) continue;
      if (best == nullptr) {
        best = &x, best_ifindex = d.ifindex;
        continue;
      }
      for (int i = 1; i <= kRules; ++i) {
        const int hi = eval(*best, best_ifindex, i);
        const int me = eval(x, d.ifindex, i);
        if (hi > me) break;
        if (hi < me) {
          best = &x, best_ifindex = d.ifindex;
          break;
        }
      }
    }
  };
  if (use_oif) {
    scan(*dev);
  } else {
    for (const Interface& d : data_.interfaces) scan(d);
  }
  if (best == nullptr) return false;
  *out = best->local;
  return true;
}

// ---------------------------------------------------------- membership

bool HostModel::Ipv6Enabled(const Interface* dev) const {
  if (dev == nullptr) return false;
  for (const IfAddr& x : dev->addrs)
    if (x.family == Family::kIPv6) return true;
  return false;
}

bool HostModel::IsMulticastMember(Family f, const Interface* dev,
                                  const Addr& group) const {
  if (dev == nullptr || !dev->up) return false;
  if (f == Family::kIPv4) {
    // ip_mc_up joins 224.0.0.1 (IGMP_ALL_HOSTS) on every device.
    return group == Addr::FromV4(0xe0000001u);
  }
  if (!Ipv6Enabled(dev)) return false;
  // ipv6_add_dev / ipv6_mc_up: all-nodes on every device.
  if (group == Mcast6(0x01, 1) || group == Mcast6(0x02, 1)) return true;
  // Loopback (no IFF_MULTICAST, IFF_LOOPBACK) joins nothing else.
  if (dev->loopback) return false;
  // dev_forward_change / ipv6_add_dev: all-routers while forwarding.
  if (data_.forwarding6 &&
      (group == Mcast6(0x01, 2) || group == Mcast6(0x02, 2) ||
       group == Mcast6(0x05, 2)))
    return true;
  // addrconf_join_solict for each address, and while forwarding for the
  // subnet-router anycast address of each prefix (addrconf_join_anycast).
  for (const IfAddr& x : dev->addrs) {
    if (x.family != Family::kIPv6) continue;
    if (group == SolicitedNode(x.local)) return true;
    if (data_.forwarding6 && x.prefixlen < 127) {
      const Addr anycast = MaskPrefix(x.local, x.prefixlen);
      if (!IsZero(anycast) && group == SolicitedNode(anycast)) return true;
    }
  }
  return false;
}

// ------------------------------------------------------ Host interface

RouteDetail HostModel::RouteInputDetail(Family f, const Addr& dst,
                                        const Addr& src, uint8_t tos,
                                        const Interface* in,
                                        uint32_t mark) const {
  if (in == nullptr) return ErrorDetail(kENODEV);
  return f == Family::kIPv4 ? Input4(dst, src, tos, in, mark)
                            : Input6(dst, src, tos, in, mark);
}

RouteDetail HostModel::RouteOutputDetail(Family f, const Addr& dst,
                                         const Addr& src, uint8_t tos,
                                         const Interface* oif,
                                         uint32_t mark) const {
  return f == Family::kIPv4 ? Output4(dst, src, tos, oif, mark)
                            : Output6(dst, src, tos, oif, mark);
}

Route HostModel::RouteInput(Family f, const Addr& dst, const Addr& src,
                            uint8_t tos, const Interface* in,
                            uint32_t mark) const {
  return RouteInputDetail(f, dst, src, tos, in, mark).route;
}

Route HostModel::RouteOutput(Family f, const Addr& dst, const Addr& src,
                             uint8_t tos, const Interface* oif,
                             uint32_t mark) const {
  return RouteOutputDetail(f, dst, src, tos, oif, mark).route;
}

Route HostModel::RouteOutputAnySrc(Family f, const Addr& dst, const Addr& src,
                                   uint8_t tos, const Interface* oif,
                                   uint32_t mark) const {
  // IPv6 output routes never insist on an own source address.
  return f == Family::kIPv4 ? Output4(dst, src, tos, oif, mark, true).route
                            : RouteOutput(f, dst, src, tos, oif, mark);
}

RouteType HostModel::AddrType(Family f, const Addr& a,
                              const Interface* dev) const {
  return f == Family::kIPv4 ? AddrType4(a, dev) : AddrType6(a, dev);
}

Addr HostModel::SelectSource(Family f, const Interface* dev,
                             const Addr& dst) const {
  // MASQUERADE and the stack ask for a source towards a next hop:
  // inet_select_addr(dev, nh, RT_SCOPE_UNIVERSE) / ipv6_dev_get_saddr.
  if (f == Family::kIPv4) return InetSelectAddr(dev, dst, kScopeUniverse);
  Addr a;
  if (!Ipv6DevGetSaddr(dev, dst, &a)) return Addr{};
  return a;
}

}  // namespace netfence::core
