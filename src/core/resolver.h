// Name lookups the iptables parser performs (users, groups, services,
// protocols, host names). The core never reads system files itself: the
// embedding program supplies a Resolver (the CLI uses the system's databases,
// as iptables does through libc).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/types.h"

namespace netfence::core {

// Resolver answers the name-to-number questions of rule parsing.
class Resolver {
 public:
  virtual ~Resolver() = default;
  // User returns the uid of a user name (getpwnam).
  virtual std::optional<uint32_t> User(const std::string& name) const = 0;
  // Group returns the gid of a group name (getgrnam).
  virtual std::optional<uint32_t> Group(const std::string& name) const = 0;
  // Service returns the port of a service name for any protocol
  // (getaddrinfo(NULL, name), as xtables_getportbyname does), or for one
  // protocol ("tcp", "udp", ...) when proto is not empty (getservbyname).
  virtual std::optional<uint16_t> Service(const std::string& name,
                                          const std::string& proto) const = 0;
  // ProtocolByName returns the number of a protocol name (getprotobyname).
  virtual std::optional<uint8_t> ProtocolByName(
      const std::string& name) const = 0;
  // ProtocolName returns the name of a protocol number (getprotobynumber).
  virtual std::optional<std::string> ProtocolName(uint8_t proto) const = 0;
  // Host resolves a host name to its addresses in one family
  // (getaddrinfo); empty when the name does not resolve.
  virtual std::vector<Addr> Host(const std::string& name, Family f) const = 0;
};

// BuiltinResolver knows the Debian 12 netbase tables (protocols, services),
// the users and groups of a fresh Debian 12 system, and "localhost". It makes
// parsing deterministic for tests and embedders without system databases.
class BuiltinResolver : public Resolver {
 public:
  std::optional<uint32_t> User(const std::string& name) const override;
  std::optional<uint32_t> Group(const std::string& name) const override;
  std::optional<uint16_t> Service(const std::string& name,
                                  const std::string& proto) const override;
  std::optional<uint8_t> ProtocolByName(const std::string& name) const override;
  std::optional<std::string> ProtocolName(uint8_t proto) const override;
  std::vector<Addr> Host(const std::string& name, Family f) const override;
};

}  // namespace netfence::core
