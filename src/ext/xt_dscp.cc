// dscp match: the DiffServ code point, the upper six bits of the IPv4 TOS
// byte or IPv6 traffic class (xt_dscp).
#include <fmt/format.h>
#include <strings.h>

#include <cstring>

#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kDscp, kClass };

constexpr uint8_t kDscpMax = 0x3f;  // XT_DSCP_MAX

const struct {
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

// ClassToDscp accepts any text that starts with a class name, as
// iptables' dscp_helper does.
uint8_t ClassToDscp(const std::string& name) {
  for (const auto& c : kClasses)
    if (strncasecmp(name.c_str(), c.name, strlen(c.name)) == 0) return c.dscp;
  throw ParseError("Invalid DSCP value `" + name + "'");
}

class DscpMatch : public Match {
 public:
  void Parse(OptCall& c) override {
    dscp_ = c.id() == kDscp ? uint8_t(c.val.u) : ClassToDscp(c.arg);
    if (c.invert) invert_ = true;
  }

  void FinalCheck(FcheckCall& c) override {
    if (c.xflags == 0)
      throw ParseError("DSCP match: Parameter --dscp is required");
  }

  void Check(const CheckCtx& c) override {
    if (dscp_ > kDscpMax) throw CommitError("dscp: value out of range");
  }

  void Save(SaveCtx& s) const override {
    s.out += fmt::format("{} --dscp {:#04x}", invert_ ? " !" : "", dscp_);
  }

  bool Matches(XtParams& p) const override {
    const Packet& skb = *p.skb;
    const uint8_t ds = skb.family == Family::kIPv4
                           ? skb.data[1]
                           : uint8_t((Load16(skb.data.data()) >> 4) & 0xff);
    return ((ds >> 2) == dscp_) ^ invert_;
  }

 private:
  uint8_t dscp_ = 0;
  bool invert_ = false;
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "dscp",
    .options = {{.name = "dscp",
                 .id = kDscp,
                 .type = OptType::kUint8,
                 .flags = kOptInvert,
                 .excl = 1u << kClass,
                 .min = 0,
                 .max = kDscpMax},
                {.name = "dscp-class",
                 .id = kClass,
                 .type = OptType::kString,
                 .flags = kOptInvert,
                 .excl = 1u << kDscp}},
    .create = [] { return std::make_unique<DscpMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
