// DiffServ class names shared by the dscp match and the DSCP target
// (iptables' dscp_helper.c).
#pragma once

#include <strings.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "core/xt.h"

namespace netfence::ext {

// ClassToDscp resolves a class name (CS0..CS7, BE, AFxy, EF). Like iptables
// it compares only the class name's length, ignoring case, so any text that
// starts with a class name ("ef-anything") is that class; throws ParseError
// for anything else.
inline uint8_t ClassToDscp(const std::string& name) {
  static const struct {
    const char* name;
    uint8_t dscp;
  } kClasses[] = {
      {"CS0", 0x00},  {"CS1", 0x08},  {"CS2", 0x10},  {"CS3", 0x18},
      {"CS4", 0x20},  {"CS5", 0x28},  {"CS6", 0x30},  {"CS7", 0x38},
      {"BE", 0x00},   {"AF11", 0x0a}, {"AF12", 0x0c}, {"AF13", 0x0e},
      {"AF21", 0x12}, {"AF22", 0x14}, {"AF23", 0x16}, {"AF31", 0x1a},
      {"AF32", 0x1c}, {"AF33", 0x1e}, {"AF41", 0x22}, {"AF42", 0x24},
      {"AF43", 0x26}, {"EF", 0x2e},
  };
  for (const auto& c : kClasses)
    if (strncasecmp(name.c_str(), c.name, std::strlen(c.name)) == 0)
      return c.dscp;
  throw core::ParseError("Invalid DSCP value `" + name + "'");
}

}  // namespace netfence::ext
