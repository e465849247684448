// Plain vocabulary types shared by the whole core: address families, hooks,
// addresses, and the errors a ruleset load can raise.
#pragma once

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace netfence::core {

// Family is the protocol family a ruleset applies to (NFPROTO_IPV4/IPV6).
enum class Family : uint8_t { kIPv4 = 4, kIPv6 = 6 };

// Hook is one of netfilter's five IP hooks, numbered as the kernel numbers
// them (NF_INET_PRE_ROUTING = 0 ...).
enum class Hook : uint8_t {
  kPrerouting = 0,
  kInput = 1,
  kForward = 2,
  kOutput = 3,
  kPostrouting = 4,
};
inline constexpr int kNumHooks = 5;

// HookMask is a bit set of hooks (1 << Hook).
using HookMask = uint32_t;
inline constexpr HookMask HookBit(Hook h) { return 1u << static_cast<int>(h); }

// HookName returns the built-in chain name of a hook ("PREROUTING", ...).
const char* HookName(Hook h);

// Addr holds an IPv4 (first 4 bytes) or IPv6 address in network byte order,
// like the kernel's union nf_inet_addr.
struct Addr {
  std::array<uint8_t, 16> b{};
  bool operator==(const Addr&) const = default;
  uint32_t v4() const {
    return (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) |
           (uint32_t(b[2]) << 8) | b[3];
  }
  static Addr FromV4(uint32_t host_order) {
    Addr a;
    a.b[0] = host_order >> 24;
    a.b[1] = host_order >> 16;
    a.b[2] = host_order >> 8;
    a.b[3] = host_order;
    return a;
  }
};

// ParseError is a rule the iptables command parser refuses (iptables exits
// with status 2, "PARAMETER_PROBLEM").
struct ParseError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// CommitError is a rule the kernel refuses when the table is committed
// (iptables-restore: "line N failed", status 1).
struct CommitError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace netfence::core
