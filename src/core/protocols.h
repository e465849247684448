// Protocol names and numbers as iptables reads and prints them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/resolver.h"

namespace netfence::core {

// ParseProtocol maps "-p" text to a number (xtables_parse_protocol): a
// number 0-255, one of iptables' own names, or a /etc/protocols name.
// Throws ParseError for unknown names.
uint16_t ParseProtocol(const std::string& s, const Resolver& r);

// ProtoToName returns the name iptables-save prints for a protocol number
// (iptables' own table first, then /etc/protocols), if any.
std::optional<std::string> ProtoToName(uint8_t proto, const Resolver& r);

}  // namespace netfence::core
