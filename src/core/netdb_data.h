// Tables of a Debian 12 netbase installation (/etc/protocols,
// /etc/services), for the builtin resolver.
#pragma once

#include <cstddef>
#include <cstdint>

namespace netfence::core {

// NetdbProtocol is one /etc/protocols entry.
struct NetdbProtocol {
  const char* name;
  int number;
  const char* aliases[2];
};

// NetdbService is one /etc/services entry.
struct NetdbService {
  const char* name;
  int port;
  const char* proto;
  const char* aliases[3];
};

extern const NetdbProtocol kNetdbProtocols[];
extern const size_t kNetdbProtocolCount;
extern const NetdbService kNetdbServices[];
extern const size_t kNetdbServiceCount;

}  // namespace netfence::core
