// The IP header filter every rule carries (struct ipt_ip / ip6t_ip6):
// addresses with masks, interfaces with '+' wildcards, protocol, fragment
// flag, each with an invert flag.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "core/types.h"

namespace netfence::core {

// Invert flags, numbered as the kernel numbers them (IPT_INV_*).
enum InvFlag : uint8_t {
  kInvViaIn = 0x01,
  kInvViaOut = 0x02,
  kInvTos = 0x04,
  kInvSrcIp = 0x08,
  kInvDstIp = 0x10,
  kInvFrag = 0x20,
  kInvProto = 0x40,
};

inline constexpr size_t kIfNameSize = 16;  // IFNAMSIZ

// IfaceMatch is an interface name pattern: exact, or a prefix with '+'.
struct IfaceMatch {
  std::array<char, kIfNameSize> name{};
  std::array<uint8_t, kIfNameSize> mask{};
  bool empty() const { return mask[0] == 0; }
};

// IpFilter is the header part of a rule.
struct IpFilter {
  Family family = Family::kIPv4;
  Addr src, smsk, dst, dmsk;
  IfaceMatch in, out;
  uint16_t proto = 0;
  bool proto_set = false;  // ip6tables' IP6T_F_PROTO: -p was given
  bool frag = false;       // IPv4 -f
  uint8_t invflags = 0;
};

// ParseInterface fills an IfaceMatch from "eth0" or "eth+", as
// xtables_parse_interface does; throws ParseError when too long.
void ParseInterface(const std::string& arg, IfaceMatch& m);

// IfaceMatches reports whether an interface name matches the pattern (the
// kernel's ifname_compare_aligned).
bool IfaceMatches(const IfaceMatch& m, const char* ifname);

}  // namespace netfence::core
