// NAT range text as libxt_NAT reads and prints it ("--to-source",
// "--to-destination", "--to-ports"), shared by the SNAT, DNAT, MASQUERADE
// and REDIRECT units, and the common packet-side preconditions.
#pragma once

#include <arpa/inet.h>
#include <fmt/format.h>

#include <cerrno>
#include <cinttypes>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "core/addr.h"
#include "core/nat.h"
#include "core/resolver.h"
#include "core/xt.h"

namespace netfence::ext {

// NatPortOk says whether the rule's protocol has ports a range may name
// (libxt_NAT's list, ICMP included for its ids, ICMPv6 not).
inline bool NatPortOk(uint16_t proto) {
  return proto == 6 || proto == 17 || proto == 132 || proto == 33 || proto == 1;
}

// NatStrToUi is xtables_strtoui with an end pointer: a number at the start
// of s (base auto-detected, no minus sign) within [min, max]. end receives
// where the digits stopped, also when the value is out of range.
inline bool NatStrToUi(const std::string& s, size_t& end, uint64_t& value,
                       uint64_t min, uint64_t max) {
  const char* p = s.c_str();
  while (isspace(uint8_t(*p))) ++p;
  if (*p == '-') return false;
  errno = 0;
  char* e;
  const uintmax_t v = strtoumax(s.c_str(), &e, 0);
  if (e == s.c_str()) return false;
  end = size_t(e - s.c_str());
  if (errno == ERANGE || v < min || v > max) return false;
  value = v;
  return true;
}

// NatServiceToPort is xtables_service_to_port(name, NULL), i.e.
// getservbyname with any protocol: names only, never numbers (which the
// resolver's getaddrinfo-based lookup would accept). -1 when unknown.
inline int NatServiceToPort(const core::Resolver& r, const std::string& name) {
  if (name.empty()) return -1;
  char* e;
  strtoul(name.c_str(), &e, 10);
  if (e != name.c_str() && *e == '\0') return -1;
  if (auto port = r.Service(name, "")) return *port;
  return -1;
}

// ParseNatPorts reads "port", "min-max" or "min-max/base" (parse_ports).
inline void ParseNatPorts(const std::string& arg, bool portok,
                          core::NatRange& r, const core::Resolver& res) {
  using core::ParseError;
  if (!portok)
    throw ParseError("Need TCP, UDP, SCTP or DCCP with port specification");
  r.flags |= core::kNatProtoSpecified;
  size_t end = 0;
  uint64_t port;
  if (!NatStrToUi(arg, end, port, 0, UINT16_MAX)) {
    const int p = NatServiceToPort(res, arg);
    if (p < 0) throw ParseError("Port `" + arg + "' not valid");
    port = uint64_t(p);
    end = arg.size();
  }
  if (end == arg.size()) {
    r.min_proto = r.max_proto = uint16_t(port);
    return;
  }
  if (arg[end] == ':') throw ParseError("Invalid port:port syntax - use dash");
  if (arg[end] != '-')
    throw ParseError("Garbage after port value: `" + arg.substr(end) + "'");
  // A range: no service names here.
  const std::string hi = arg.substr(end + 1);
  uint64_t maxport;
  if (!NatStrToUi(hi, end, maxport, 0, UINT16_MAX))
    throw ParseError("Port `" + hi + "' not valid");
  if (maxport < port) throw ParseError("Port range `" + hi + "' funky");
  r.min_proto = uint16_t(port);
  r.max_proto = uint16_t(maxport);
  if (end == hi.size()) return;
  if (hi[end] != '/')
    throw ParseError("Garbage after port range: `" + hi.substr(end) + "'");
  const std::string b = hi.substr(end + 1);
  uint64_t base;
  // With an end pointer, text after the base number is ignored.
  if (!NatStrToUi(b, end, base, 1, UINT16_MAX)) {
    const int p = NatServiceToPort(res, b);
    if (p < 0) throw ParseError("Port `" + b + "' not valid");
    base = uint64_t(p);
  }
  r.flags |= core::kNatProtoOffset;
  r.base_proto = uint16_t(base);
}

// ParseNatTo reads "addr[-addr][:ports]", IPv6 in brackets when ports
// follow (parse_to). Addresses are numeric (inet_pton).
inline void ParseNatTo(const std::string& arg, bool portok, core::NatRange& r,
                       core::Family f, const core::Resolver& res) {
  using core::ParseError;
  size_t start, limit, colon;
  const size_t lb = arg.find('[');
  if (lb == std::string::npos) {
    start = 0;
    // One colon is a port separator; more make an IPv6 address.
    colon = arg.find(':');
    if (colon != std::string::npos &&
        arg.find(':', colon + 1) != std::string::npos)
      colon = std::string::npos;
    limit = colon == std::string::npos ? arg.size() : colon;
  } else {
    start = lb + 1;
    const size_t rb = arg.find(']', start);
    if (rb == std::string::npos || f == core::Family::kIPv4)
      throw ParseError("Invalid address format");
    limit = rb;
    colon = arg.find(':', rb + 1);
  }
  if (colon != std::string::npos) {
    ParseNatPorts(arg.substr(colon + 1), portok, r, res);
    // ":ports" or "[]:ports": no address part (iptables tests position 2
    // whether or not brackets were used).
    if (colon == 0 || colon == 2) return;
  }
  r.flags |= core::kNatMapIps;
  const std::string addrs = arg.substr(start, limit - start);
  const size_t dash = addrs.find('-');
  const int af = f == core::Family::kIPv4 ? AF_INET : AF_INET6;
  const std::string lo = addrs.substr(0, dash);
  if (inet_pton(af, lo.c_str(), r.min_addr.b.data()) != 1)
    throw ParseError("Bad IP address \"" + lo + "\"");
  if (dash == std::string::npos) {
    r.max_addr = r.min_addr;
    return;
  }
  const std::string hi = addrs.substr(dash + 1);
  if (inet_pton(af, hi.c_str(), r.max_addr.b.data()) != 1)
    throw ParseError("Bad IP address \"" + hi + "\"");
}

// SaveNat prints a range and its flags (sprint_range + __NAT_print):
// " OPT[addr[-addr]][:port[-port][/base]]" then --random, --random-fully,
// --persistent. skip_colon drops the leading ':' of a ports-only range.
inline void SaveNat(std::string& out, const core::NatRange& r, core::Family f,
                    const char* opt, bool skip_colon) {
  std::string buf;
  const bool brackets =
      f == core::Family::kIPv6 && (r.flags & core::kNatProtoSpecified);
  if (r.flags & core::kNatMapIps) {
    if (brackets) buf += '[';
    buf += core::FormatAddr(f, r.min_addr);
    if (!(r.min_addr == r.max_addr))
      buf += "-" + core::FormatAddr(f, r.max_addr);
    if (brackets) buf += ']';
  }
  if (r.flags & core::kNatProtoSpecified) {
    buf += fmt::format(":{}", r.min_proto);
    if (r.max_proto != r.min_proto) buf += fmt::format("-{}", r.max_proto);
    if (r.flags & core::kNatProtoOffset)
      buf += fmt::format("/{}", r.base_proto);
  }
  if (!buf.empty()) {
    if (buf[0] == ':' && skip_colon) buf.erase(0, 1);
    out += fmt::format(" {}{}", opt, buf);
  }
  if (r.flags & core::kNatProtoRandom) out += " --random";
  if (r.flags & core::kNatProtoRandomFully) out += " --random-fully";
  if (r.flags & core::kNatPersistent) out += " --persistent";
}

// NatServices returns the engine's services; NAT targets cannot run
// without the engine's NAT core.
inline core::PacketServices& NatServices(const core::XtParams& p) {
  if (p.svc == nullptr) throw std::logic_error("NAT needs the engine");
  return *p.svc;
}

}  // namespace netfence::ext
