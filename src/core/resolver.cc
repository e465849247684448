#include <cstring>

#include "core/addr.h"
#include "core/netdb_data.h"
#include "core/resolver.h"

namespace netfence::core {

namespace {

struct IdName {
  const char* name;
  uint32_t id;
};

// The accounts of a fresh Debian 12 installation (base-passwd).
const IdName kUsers[] = {
    {"root", 0},    {"daemon", 1}, {"bin", 2},       {"sys", 3},
    {"sync", 4},    {"games", 5},  {"man", 6},       {"lp", 7},
    {"mail", 8},    {"news", 9},   {"uucp", 10},     {"proxy", 13},
    {"www-data", 33}, {"backup", 34}, {"list", 38},  {"irc", 39},
    {"_apt", 42},   {"nobody", 65534},
};

const IdName kGroups[] = {
    {"root", 0},     {"daemon", 1},   {"bin", 2},       {"sys", 3},
    {"adm", 4},      {"tty", 5},      {"disk", 6},      {"lp", 7},
    {"mail", 8},     {"news", 9},     {"uucp", 10},     {"man", 12},
    {"proxy", 13},   {"kmem", 15},    {"dialout", 20},  {"fax", 21},
    {"voice", 22},   {"cdrom", 24},   {"floppy", 25},   {"tape", 26},
    {"sudo", 27},    {"audio", 29},   {"dip", 30},      {"www-data", 33},
    {"backup", 34},  {"operator", 37}, {"list", 38},    {"irc", 39},
    {"src", 40},     {"shadow", 42},  {"utmp", 43},     {"video", 44},
    {"sasl", 45},    {"plugdev", 46}, {"staff", 50},    {"games", 60},
    {"users", 100},  {"nogroup", 65534},
};

template <size_t N>
std::optional<uint32_t> Lookup(const IdName (&table)[N],
                               const std::string& name) {
  for (const auto& e : table)
    if (name == e.name) return e.id;
  return std::nullopt;
}

}  // namespace

std::optional<uint32_t> BuiltinResolver::User(const std::string& n) const {
  return Lookup(kUsers, n);
}

std::optional<uint32_t> BuiltinResolver::Group(const std::string& n) const {
  return Lookup(kGroups, n);
}

std::optional<uint16_t> BuiltinResolver::Service(
    const std::string& name, const std::string& proto) const {
  for (size_t i = 0; i < kNetdbServiceCount; ++i) {
    const NetdbService& s = kNetdbServices[i];
    if (!proto.empty() && proto != s.proto) continue;
    bool hit = name == s.name;
    for (const char* a : s.aliases)
      if (a && name == a) hit = true;
    if (hit) return uint16_t(s.port);
  }
  return std::nullopt;
}

std::optional<uint8_t> BuiltinResolver::ProtocolByName(
    const std::string& name) const {
  for (size_t i = 0; i < kNetdbProtocolCount; ++i) {
    const NetdbProtocol& p = kNetdbProtocols[i];
    bool hit = name == p.name;
    for (const char* a : p.aliases)
      if (a && name == a) hit = true;
    if (hit) return uint8_t(p.number);
  }
  return std::nullopt;
}

std::optional<std::string> BuiltinResolver::ProtocolName(uint8_t proto) const {
  for (size_t i = 0; i < kNetdbProtocolCount; ++i)
    if (kNetdbProtocols[i].number == proto) return kNetdbProtocols[i].name;
  return std::nullopt;
}

std::vector<Addr> BuiltinResolver::Host(const std::string& name,
                                        Family f) const {
  if (auto a = ParseNumeric(f, name)) return {*a};
  if (f == Family::kIPv4 && name == "localhost")
    return {Addr::FromV4(0x7f000001)};
  if (f == Family::kIPv6 &&
      (name == "localhost" || name == "ip6-localhost" ||
       name == "ip6-loopback"))
    return {*ParseIPv6Numeric("::1")};
  return {};
}

}  // namespace netfence::core
