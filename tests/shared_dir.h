// Where the shared corpus lives: $NETFENCE_SHARED, else ../shared beside
// the checkout.
#pragma once

#include <cstdlib>
#include <string>

namespace netfence {

inline std::string SharedDir() {
  if (const char* e = std::getenv("NETFENCE_SHARED")) return e;
  return NETFENCE_SHARED_DIR;
}

}  // namespace netfence
