// The host model: interfaces, addresses, routing tables, policy rules and
// the routing sysctls of one network namespace, answering the Host questions
// (core/host.h) the way the Linux kernel (6.x) answers them from the same
// tables. Every decision follows a named kernel function; host_model.cc says
// which at each step. It is built from plain data (io/host_json builds it
// from `ip -j` output) and holds no I/O.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/host.h"
#include "core/types.h"

namespace netfence::core {

// Route scopes (RT_SCOPE_*), as routes and IPv4 addresses carry them.
inline constexpr uint8_t kScopeUniverse = 0;
inline constexpr uint8_t kScopeSite = 200;
inline constexpr uint8_t kScopeLink = 253;
inline constexpr uint8_t kScopeHost = 254;
inline constexpr uint8_t kScopeNowhere = 255;

// Routing table ids (RT_TABLE_*).
inline constexpr uint32_t kTableUnspec = 0;
inline constexpr uint32_t kTableDefault = 253;
inline constexpr uint32_t kTableMain = 254;
inline constexpr uint32_t kTableLocal = 255;

// Neighbour states (NUD_*), the bits `ip neigh` prints by name.
inline constexpr uint16_t kNudIncomplete = 0x01;
inline constexpr uint16_t kNudReachable = 0x02;
inline constexpr uint16_t kNudStale = 0x04;
inline constexpr uint16_t kNudDelay = 0x08;
inline constexpr uint16_t kNudProbe = 0x10;
inline constexpr uint16_t kNudFailed = 0x20;
inline constexpr uint16_t kNudNoarp = 0x40;
inline constexpr uint16_t kNudPermanent = 0x80;

// Kernel error numbers the lookups return (negated, as the kernel does).
inline constexpr int kEINVAL = -22;
inline constexpr int kEACCES = -13;
inline constexpr int kENETUNREACH = -101;
inline constexpr int kEHOSTUNREACH = -113;
inline constexpr int kEXDEV = -18;
inline constexpr int kENODEV = -19;
inline constexpr int kEAGAIN = -11;
inline constexpr int kEADDRNOTAVAIL = -99;

// NextHop is one path of a route (struct fib_nh / fib6_nh).
struct NextHop {
  bool has_gateway = false;
  Addr gateway;
  int ifindex = 0;  // output device; 0 for reject routes
  int weight = 1;
  bool onlink = false;
  bool dead = false;  // RTNH_F_DEAD: never used
  // RTNH_F_LINKDOWN: still used (ignore_routes_with_linkdown is off).
  bool linkdown = false;
  // The gateway is reached on link (fib_nh_scope RT_SCOPE_LINK), so
  // packets go to it; false for an IPv4 gateway that is one of this host's
  // own addresses (computed by HostModel).
  bool gw_on_link = true;
};

// RouteEntry is one route of any table, as `ip -j route show table all`
// prints it.
struct RouteEntry {
  Family family = Family::kIPv4;
  uint32_t table = kTableMain;
  RouteType type = RouteType::kUnicast;
  Addr dst;
  unsigned dst_len = 0;
  Addr src;  // IPv6 source-specific route ("from"), else unused
  unsigned src_len = 0;
  uint8_t tos = 0;      // IPv4 "tos" selector (0: any)
  uint32_t metric = 0;  // priority; IPv4 routes default to 0
  uint8_t scope = kScopeUniverse;
  bool has_prefsrc = false;
  Addr prefsrc;
  std::vector<NextHop> nexthops;
  unsigned mtu = 0;     // RTAX_MTU metric, 0 when unset
  int pref = 0;         // IPv6 router preference: 1 high, 0 medium, -1 low
  bool kernel = false;  // "proto kernel": made by the kernel from an address
};

// RuleAction is what a policy rule does when it matches (FR_ACT_*).
enum class RuleAction : uint8_t {
  kToTable,
  kGoto,
  kNop,
  kBlackhole,
  kUnreachable,
  kProhibit,
};

// RuleEntry is one policy routing rule (`ip -j rule`).
struct RuleEntry {
  uint32_t priority = 0;
  bool invert = false;  // "not"
  Addr src;
  unsigned src_len = 0;
  Addr dst;
  unsigned dst_len = 0;
  std::string iif, oif;  // device names; "" matches any
  uint32_t mark = 0, mark_mask = 0;
  uint8_t tos = 0;
  uint8_t ipproto = 0;     // only matches flows of that protocol (see .cc)
  bool has_ports = false;  // sport/dport selectors (never match, see .cc)
  uint32_t uid_start = 0, uid_end = 0xffffffff;
  RuleAction action = RuleAction::kToTable;
  uint32_t table = kTableMain;
  uint32_t goto_target = 0;
  int suppress_prefixlen = -1;
  int suppress_ifgroup = -1;
};

// Neighbour is one neighbour cache entry (`ip -j neigh`).
struct Neighbour {
  Family family = Family::kIPv4;
  Addr addr;
  int ifindex = 0;
  uint16_t state = kNudPermanent;
};

// HostData is the plain description a HostModel is built from.
struct HostData {
  // Interfaces in the kernel's device list order (ifindex order, as
  // `ip addr` prints them); addresses in each device's list order.
  std::vector<Interface> interfaces;
  std::vector<RouteEntry> routes;  // both families, all tables
  // Policy rules; when a family's list is absent the kernel's defaults
  // apply (IPv4: local 0, main 32766, default 32767; IPv6: local, main).
  bool has_rules4 = false, has_rules6 = false;
  std::vector<RuleEntry> rules4, rules6;
  std::vector<Neighbour> neighbours;
  bool forwarding4 = false;  // net.ipv4.ip_forward
  bool forwarding6 = false;  // net.ipv6.conf.all.forwarding
  // Sysctl overrides by full name, e.g. "net.ipv4.conf.all.rp_filter" or
  // "net.ipv4.conf.eth0.accept_local"; see HostModel::Conf4.
  std::map<std::string, int> sysctl;
};

// FibResult is the outcome of one fib lookup (struct fib_result /
// fib6_result plus the error the lookup returned).
struct FibResult {
  int err = 0;                        // 0 or a negative errno (kE*)
  const RouteEntry* route = nullptr;  // the route found, if any
  const NextHop* nh = nullptr;        // its path used
  RouteType type = RouteType::kUnspec;
  unsigned prefixlen = 0;  // of the route found (suppress_prefixlength)
};

// RouteDetail is a Route plus what `ip route get` prints beside it; the CLI
// and the tests use it to compare with the kernel.
struct RouteDetail {
  Route route;
  uint32_t table = 0;  // table of the route found (0: none)
  const RouteEntry* entry = nullptr;
};

// HostModel implements Host from HostData.
//
// What the answers mean (beyond host.h):
// - RouteInput is ip_route_input_noref / ip6_route_input. Local, broadcast
//   and multicast deliveries come back with dev = lo (the kernel's dst
//   device); a forward with the output device and gateway. IPv4 refusals
//   (martians, rp_filter, forwarding off: -EHOSTUNREACH) are errors as the
//   kernel's; IPv6 has no martian checks in routing (ipv6_rcv makes them
//   before PREROUTING) and its forwarding switch is ip6_forward's, so a
//   forward route comes back even when forwarding is off. IPv6 multicast to
//   a group the input device has not joined is -EINVAL here (ip6_mc_input's
//   drop, after PREROUTING like IPv4's routing refusal).
// - RouteOutput is ip_route_output_key / ip6_route_output; prefsrc is the
//   source a sender that left it unset gets (fl4->saddr after the lookup /
//   ip6_route_get_saddr), or the given source.
// - AddrType for IPv6 folds xt_addrtype's match_lookup_rt6 into one type.
// Not modelled (documented where it matters): multipath hashing (the first
// live path is taken), the default-route choice by neighbour state among
// default routes of equal metric (the first is taken, as the kernel does
// while the first gateway has no neighbour entry), the route cache (for
// instance a multicast rtable cached on a next hop shared with a route
// covering 224.0.0.0/4), rule selectors on protocol, ports and uid (the
// lookups carry neither: such rules never match, uid is 0), VRF (l3mdev),
// suppress_ifgroup, and multicast routing daemons.
class HostModel : public Host {
 public:
  // Builds the model; the data is taken as is (nothing is synthesised:
  // local and broadcast routes must be in `routes`, as the kernel has them).
  explicit HostModel(HostData data);
  // The model points into its own data: it stays where it was built.
  HostModel(const HostModel&) = delete;
  HostModel& operator=(const HostModel&) = delete;

  const Interface* FindInterface(const std::string& name) const override;
  const std::vector<Interface>& Interfaces() const override {
    return data_.interfaces;
  }
  bool Forwarding(Family f) const override;
  Route RouteInput(Family f, const Addr& dst, const Addr& src, uint8_t tos,
                   const Interface* in, uint32_t mark) const override;
  Route RouteOutput(Family f, const Addr& dst, const Addr& src, uint8_t tos,
                    const Interface* oif, uint32_t mark) const override;
  Route RouteOutputAnySrc(Family f, const Addr& dst, const Addr& src,
                          uint8_t tos, const Interface* oif,
                          uint32_t mark) const override;
  RouteType AddrType(Family f, const Addr& a,
                     const Interface* dev) const override;
  Addr SelectSource(Family f, const Interface* dev,
                    const Addr& dst) const override;

  // The same lookups with the table and route entry found (for the CLI's
  // `route` command and the kernel-differential test).
  RouteDetail RouteInputDetail(Family f, const Addr& dst, const Addr& src,
                               uint8_t tos, const Interface* in,
                               uint32_t mark) const;
  RouteDetail RouteOutputDetail(Family f, const Addr& dst, const Addr& src,
                                uint8_t tos, const Interface* oif,
                                uint32_t mark) const;

  // FindIfindex returns the interface with this ifindex, or nullptr.
  const Interface* FindIfindex(int ifindex) const;
  // Loopback returns the loopback device (nullptr if the file has none).
  const Interface* Loopback() const { return lo_; }

  // InetSelectAddr is inet_select_addr(dev, dst, scope) (dev may be null).
  Addr InetSelectAddr(const Interface* dev, const Addr& dst,
                      uint8_t scope) const;
  // Ipv6DevGetSaddr is ipv6_dev_get_saddr(dev, daddr, 0); false when no
  // address qualifies (-EADDRNOTAVAIL).
  bool Ipv6DevGetSaddr(const Interface* dev, const Addr& daddr,
                       Addr* out) const;
  // IsMulticastMember tells whether dev has joined group: the groups the
  // kernel joins by itself (IPv4 224.0.0.1 on every device that is up;
  // IPv6 ff01::1, ff02::1, the solicited-node groups of the device's
  // addresses, and the all-routers groups when forwarding).
  bool IsMulticastMember(Family f, const Interface* dev,
                         const Addr& group) const;
  // Ipv6Enabled is false for a device without any IPv6 address: the kernel
  // gives every IPv6-enabled device that is up a link-local address, so such
  // a device has disable_ipv6 set (ipv6_rcv drops what it receives).
  bool Ipv6Enabled(const Interface* dev) const;

  // Conf4 reads net.ipv4.conf.<dev>.<name> the way the kernel's IN_DEV_*
  // macros combine it with net.ipv4.conf.all: rp_filter takes the maximum;
  // accept_local, route_localnet, send_redirects and src_valid_mark are on
  // when either is on; forwarding and bc_forwarding are the device's own.
  // Unset values take the defaults of a fresh namespace on kernel 6.18
  // (everything 0 except send_redirects 1, forwarding = ip_forward); a
  // device value falls back to net.ipv4.conf.default.<name>.
  int Conf4(const Interface* dev, const std::string& name) const;
  // SetSysctl changes one sysctl (same names as HostData::sysctl).
  void SetSysctl(const std::string& key, int value);

  // Flow4 is the part of a struct flowi4 the IPv4 lookups read.
  struct Flow4 {
    Addr dst, src;
    int iif = 0, oif = 0;
    uint32_t mark = 0;
    uint8_t tos = 0;
    uint8_t scope = kScopeUniverse;
    uint32_t uid = 0;
  };
  // FibLookup4 is fib_lookup() for an IPv4 flow.
  FibResult FibLookup4(const Flow4& fl) const;

  // data is what the model was built from (with IPv6 reject routes given a
  // path on lo and gateways resolved).
  const HostData& data() const { return data_; }

 private:
  struct Flow6 {
    Addr dst, src;
    int iif = 0, oif = 0;
    uint32_t mark = 0;
    uint8_t tclass = 0;
    uint32_t uid = 0;
  };

  // IPv4 (route.c, fib_frontend.c, fib_trie.c, fib_rules.c, devinet.c).
  int TableLookup4(uint32_t table, const Flow4& fl, FibResult* res) const;
  bool TableExists(Family f, uint32_t table) const;
  void ResolveGateways();
  bool Rule4Matches(const RuleEntry& r, const Flow4& fl) const;
  int ValidateSource(const Addr& src, const Addr& dst, uint8_t tos, int oif,
                     const Interface* dev, uint32_t mark) const;
  int FullValidateSource(const Addr& src, const Addr& dst, uint8_t tos, int oif,
                         const Interface* dev, uint32_t mark, int rpf) const;
  const Interface* IpDevFind(const Addr& a) const;
  bool IsConfiguredAddr4(const Addr& a) const;
  Addr ResultPrefsrc(const FibResult& res) const;
  RouteDetail Input4(const Addr& dst, const Addr& src, uint8_t tos,
                     const Interface* in, uint32_t mark) const;
  // anysrc: FLOWI_FLAG_ANYSRC (src need not be the host's).
  RouteDetail Output4(const Addr& dst, const Addr& src, uint8_t tos,
                      const Interface* oif, uint32_t mark,
                      bool anysrc = false) const;
  RouteDetail MakeOutput4(const FibResult& res, const Addr& dst,
                          const Addr& src, const Interface* dev_out) const;
  RouteType AddrType4(const Addr& a, const Interface* dev) const;

  // IPv6 (ip6_fib.c, route.c, fib6_rules.c, addrconf.c).
  FibResult RuleLookup6(const Flow6& fl, int oif, int flags) const;
  FibResult PolRoute6(uint32_t table, const Flow6& fl, int oif,
                      int flags) const;
  bool SelectAtNode6(const std::vector<const RouteEntry*>& node, int oif,
                     int strict, FibResult* res) const;
  int Score6(const RouteEntry& r, int oif, int strict) const;
  bool Rule6Matches(const RuleEntry& r, const Flow6& fl, int flags) const;
  RouteDetail Input6(const Addr& dst, const Addr& src, uint8_t tclass,
                     const Interface* in, uint32_t mark) const;
  RouteDetail Output6(const Addr& dst, const Addr& src, uint8_t tclass,
                      const Interface* oif, uint32_t mark) const;
  RouteType AddrType6(const Addr& a, const Interface* dev) const;
  bool Ipv6RouteGetSaddr(const FibResult& res, const Addr& dst,
                         Addr* out) const;

  RouteDetail Finish(const FibResult& res, Route rt) const;
  uint32_t RouteMtu(const RouteEntry* r, const Interface* dev) const;

  HostData data_;
  const Interface* lo_ = nullptr;
  // Routes per family sorted for longest-prefix lookups (see .cc).
  std::vector<const RouteEntry*> sorted4_, sorted6_;
  std::vector<RuleEntry> rules4_, rules6_;
  bool custom_rules4_ = false, custom_rules6_ = false;
  bool custom_local_routes4_ = false;
  std::vector<uint32_t> tables4_, tables6_;  // tables that have routes
};

// IsModelledSysctl tells whether HostModel reads this sysctl key.
bool IsModelledSysctl(const std::string& key);

}  // namespace netfence::core
