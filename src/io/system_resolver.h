// A Resolver backed by the system's databases (passwd, group, services,
// protocols, hosts), as iptables resolves names through libc.
#pragma once

#include "core/resolver.h"

namespace netfence::io {

// SystemResolver asks libc (getpwnam, getgrnam, getaddrinfo, ...).
class SystemResolver : public core::Resolver {
 public:
  std::optional<uint32_t> User(const std::string& name) const override;
  std::optional<uint32_t> Group(const std::string& name) const override;
  std::optional<uint16_t> Service(const std::string& name,
                                  const std::string& proto) const override;
  std::optional<uint8_t> ProtocolByName(const std::string& name) const override;
  std::optional<std::string> ProtocolName(uint8_t proto) const override;
  std::vector<core::Addr> Host(const std::string& name,
                               core::Family f) const override;
};

}  // namespace netfence::io
