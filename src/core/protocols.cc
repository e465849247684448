#include "core/protocols.h"

#include "core/xtopt.h"

namespace netfence::core {

namespace {

// iptables' own protocol table (xtables_chain_protos), searched first.
const struct {
  const char* name;
  uint8_t num;
} kChainProtos[] = {
    {"tcp", 6},         {"sctp", 132},     {"udp", 17},
    {"udplite", 136},   {"icmp", 1},       {"ipv6-icmp", 58},
    {"icmpv6", 58},     {"esp", 50},       {"ah", 51},
    {"mobility-header", 135}, {"ipv6-mh", 135}, {"mh", 135},
    {"all", 0},
};

}  // namespace

uint16_t ParseProtocol(const std::string& s, const Resolver& r) {
  uint64_t v;
  if (StrToU64(s, v, 0, UINT8_MAX)) return uint16_t(v);
  for (const auto& p : kChainProtos)
    if (s == p.name) return p.num;
  if (auto n = r.ProtocolByName(s)) return *n;
  throw ParseError("unknown protocol \"" + s + "\" specified");
}

std::optional<std::string> ProtoToName(uint8_t proto, const Resolver& r) {
  for (const auto& p : kChainProtos)
    if (p.num == proto) return std::string(p.name);
  if (proto != 0) return r.ProtocolName(proto);
  return std::nullopt;
}

}  // namespace netfence::core
