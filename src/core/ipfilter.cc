#include "core/ipfilter.h"

#include <cstring>

namespace netfence::core {

void ParseInterface(const std::string& arg, IfaceMatch& m) {
  m = IfaceMatch{};
  if (arg.size() + 1 > kIfNameSize)
    throw ParseError("interface name `" + arg +
                     "' must be shorter than IFNAMSIZ (15)");
  std::memcpy(m.name.data(), arg.data(), arg.size());
  if (arg.empty()) return;
  if (arg.back() == '+') {
    // The '+' stays in the name; only the prefix is compared.
    std::memset(m.mask.data(), 0xff, arg.size() - 1);
  } else {
    // The terminating NUL is part of the comparison.
    std::memset(m.mask.data(), 0xff, arg.size() + 1);
  }
}

bool IfaceMatches(const IfaceMatch& m, const char* ifname) {
  char name[kIfNameSize] = {};
  std::strncpy(name, ifname, kIfNameSize - 1);
  for (size_t i = 0; i < kIfNameSize; ++i)
    if ((name[i] ^ m.name[i]) & m.mask[i]) return false;
  return true;
}

}  // namespace netfence::core
