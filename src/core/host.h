// The host a ruleset runs on: interfaces, addresses and routing, as the
// kernel's ip_route_input / ip_route_output / inet_addr_type see them.
// Extensions (addrtype, rpfilter, REJECT, MASQUERADE, REDIRECT, TCPMSS) and
// the engine ask it; the implementation (core/host_model) is built from the
// contract's host file.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/types.h"

namespace netfence::core {

// RouteType mirrors the kernel's RTN_* route / address types.
enum class RouteType : uint8_t {
  kUnspec = 0,
  kUnicast = 1,
  kLocal = 2,
  kBroadcast = 3,
  kAnycast = 4,
  kMulticast = 5,
  kBlackhole = 6,
  kUnreachable = 7,
  kProhibit = 8,
  kThrow = 9,
  kNat = 10,
  kXresolve = 11,
};

// IfAddr is one address configured on an interface.
struct IfAddr {
  Family family = Family::kIPv4;
  Addr local;
  Addr peer;  // point-to-point peer (IPv4 "address"), else local
  unsigned prefixlen = 0;
  Addr broadcast;     // IPv4 broadcast address, if any
  uint8_t scope = 0;  // RT_SCOPE_*: 0 global, 253 link, 254 host
  bool secondary = false;
  uint32_t flags = 0;  // IFA_F_* (IPv6 source selection reads tentative,
                       // deprecated, optimistic, temporary, homeaddress)
};

// IFA_F_* address flags (linux/if_addr.h) kept in IfAddr::flags.
inline constexpr uint32_t kIfaSecondary = 0x01;
inline constexpr uint32_t kIfaTemporary = 0x01;  // IPv6 reuses the bit
inline constexpr uint32_t kIfaNodad = 0x02;
inline constexpr uint32_t kIfaOptimistic = 0x04;
inline constexpr uint32_t kIfaDadfailed = 0x08;
inline constexpr uint32_t kIfaHomeaddress = 0x10;
inline constexpr uint32_t kIfaDeprecated = 0x20;
inline constexpr uint32_t kIfaTentative = 0x40;
inline constexpr uint32_t kIfaPermanent = 0x80;

// Interface is one network device.
struct Interface {
  std::string name;
  int ifindex = 0;
  std::array<uint8_t, 6> mac{};
  std::array<uint8_t, 6> broadcast_mac{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  bool loopback = false;
  bool up = true;
  unsigned mtu = 1500;
  std::vector<IfAddr> addrs;
};

// Route is the result of a route lookup (the parts of a dst_entry /
// fib_result netfilter and the stack use).
struct Route {
  int err = 0;  // 0, or -ENETUNREACH, -EHOSTUNREACH, -EINVAL...
  RouteType type = RouteType::kUnspec;
  const Interface* dev = nullptr;  // output device (lo for local delivery)
  Addr gateway;                    // next hop, or zero when on-link
  Addr prefsrc;  // preferred source address, if the route has one
  // prefsrc is the route's own (RTA_PREFSRC: fib_info's fib_prefsrc,
  // rt6_get_prefsrc), not one chosen by source selection.
  bool route_prefsrc = false;
  unsigned mtu = 0;  // path MTU (route mtu or the device's)
};

// Host answers routing and address questions.
class Host {
 public:
  virtual ~Host() = default;
  // FindInterface returns the interface with this name, or nullptr.
  virtual const Interface* FindInterface(const std::string& name) const = 0;
  // Interfaces lists every interface.
  virtual const std::vector<Interface>& Interfaces() const = 0;
  // Forwarding is net.ipv4.ip_forward / net.ipv6.conf.all.forwarding.
  virtual bool Forwarding(Family f) const = 0;
  // RouteInput decides an arriving packet (ip_route_input_noref /
  // ip6_route_input): local delivery, forwarding, or an error.
  virtual Route RouteInput(Family f, const Addr& dst, const Addr& src,
                           uint8_t tos, const Interface* in,
                           uint32_t mark) const = 0;
  // RouteOutput decides a locally generated packet (ip_route_output_key /
  // ip6_route_output); oif may pin the output device.
  virtual Route RouteOutput(Family f, const Addr& dst, const Addr& src,
                            uint8_t tos, const Interface* oif,
                            uint32_t mark) const = 0;
  // RouteOutputAnySrc is RouteOutput with FLOWI_FLAG_ANYSRC: a source
  // address that is not the host's own is accepted (ip_route_me_harder
  // routing a packet whose source is a unicast address, such as a REJECT
  // reply to a forwarded packet). Hosts without the distinction inherit
  // RouteOutput.
  virtual Route RouteOutputAnySrc(Family f, const Addr& dst, const Addr& src,
                                  uint8_t tos, const Interface* oif,
                                  uint32_t mark) const {
    return RouteOutput(f, dst, src, tos, oif, mark);
  }
  // AddrType is inet_addr_type / inet_dev_addr_type (dev may be nullptr);
  // for IPv6 the equivalent classification xt_addrtype makes.
  virtual RouteType AddrType(Family f, const Addr& a,
                             const Interface* dev) const = 0;
  // SelectSource is inet_select_addr / ipv6_dev_get_saddr: the source
  // address the host would use on dev towards dst.
  virtual Addr SelectSource(Family f, const Interface* dev,
                            const Addr& dst) const = 0;
};

}  // namespace netfence::core
