#include "io/system_resolver.h"

#include <arpa/inet.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>

#include <cstring>

namespace netfence::io {

using core::Addr;
using core::Family;

std::optional<uint32_t> SystemResolver::User(const std::string& n) const {
  if (const passwd* pw = getpwnam(n.c_str())) return pw->pw_uid;
  return std::nullopt;
}

std::optional<uint32_t> SystemResolver::Group(const std::string& n) const {
  if (const group* gr = getgrnam(n.c_str())) return gr->gr_gid;
  return std::nullopt;
}

std::optional<uint16_t> SystemResolver::Service(
    const std::string& name, const std::string& proto) const {
  if (!proto.empty()) {
    if (const servent* s = getservbyname(name.c_str(), proto.c_str()))
      return ntohs(uint16_t(s->s_port));
    return std::nullopt;
  }
  addrinfo* res = nullptr;
  if (getaddrinfo(nullptr, name.c_str(), nullptr, &res) != 0)
    return std::nullopt;
  std::optional<uint16_t> port;
  for (addrinfo* p = res; p; p = p->ai_next) {
    if (p->ai_family == AF_INET6) {
      port = ntohs(reinterpret_cast<sockaddr_in6*>(p->ai_addr)->sin6_port);
      break;
    }
    if (p->ai_family == AF_INET) {
      port = ntohs(reinterpret_cast<sockaddr_in*>(p->ai_addr)->sin_port);
      break;
    }
  }
  freeaddrinfo(res);
  return port;
}

std::optional<uint8_t> SystemResolver::ProtocolByName(
    const std::string& name) const {
  if (const protoent* p = getprotobyname(name.c_str()))
    return uint8_t(p->p_proto);
  return std::nullopt;
}

std::optional<std::string> SystemResolver::ProtocolName(uint8_t proto) const {
  if (const protoent* p = getprotobynumber(proto)) return std::string(p->p_name);
  return std::nullopt;
}

std::vector<Addr> SystemResolver::Host(const std::string& name,
                                       Family f) const {
  addrinfo hints{};
  hints.ai_family = f == Family::kIPv4 ? AF_INET : AF_INET6;
  hints.ai_socktype = SOCK_RAW;
  addrinfo* res = nullptr;
  std::vector<Addr> out;
  if (getaddrinfo(name.c_str(), nullptr, &hints, &res) != 0) return out;
  for (addrinfo* p = res; p; p = p->ai_next) {
    Addr a;
    if (p->ai_family == AF_INET)
      std::memcpy(a.b.data(),
                  &reinterpret_cast<sockaddr_in*>(p->ai_addr)->sin_addr, 4);
    else
      std::memcpy(a.b.data(),
                  &reinterpret_cast<sockaddr_in6*>(p->ai_addr)->sin6_addr, 16);
    out.push_back(a);
  }
  freeaddrinfo(res);
  return out;
}

}  // namespace netfence::io
