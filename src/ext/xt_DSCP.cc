// DSCP target: sets the DiffServ code point (the upper six bits of the
// IPv4 TOS byte / IPv6 traffic class), keeping the ECN bits (xt_DSCP).
#include <fmt/format.h>

#include <cstring>

#include "core/xt.h"
#include "ext/mangle_util.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kSetDscp = 0, kSetDscpClass };

constexpr uint8_t kDscpMax = 0x3f;  // XT_DSCP_MAX
constexpr uint8_t kEcnMask = 0x03;  // ~XT_DSCP_MASK: the bits kept

// DiffServ class names (dscp_helper.c), in iptables' lookup order.
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

// ClassToDscp resolves a class name; like iptables it compares only the
// class name's length, ignoring case, so "ef-anything" is EF.
uint8_t ClassToDscp(const std::string& name) {
  for (const auto& c : kClasses)
    if (strncasecmp(name.c_str(), c.name, strlen(c.name)) == 0) return c.dscp;
  throw ParseError("Invalid DSCP value `" + name + "'");
}

class DscpTarget : public Target {
 public:
  void Parse(OptCall& c) override {
    dscp_ = c.id() == kSetDscpClass ? ClassToDscp(c.arg) : uint8_t(c.val.u);
  }

  void FinalCheck(FcheckCall& c) override {
    if (c.xflags == 0)
      throw ParseError("DSCP target: Parameter --set-dscp is required");
  }

  void Check(const CheckCtx&) override {
    if (dscp_ > kDscpMax)
      throw CommitError(fmt::format("DSCP: dscp {:x} out of range", dscp_));
  }

  void Save(SaveCtx& s) const override {
    s.out += fmt::format(" --set-dscp {:#04x}", dscp_);
  }

  Verdict Run(XtParams& p) const override {
    uint8_t* d = p.skb->data.data();
    if ((PktTos(*p.skb) >> 2) == dscp_) return Verdict::kContinue;
    if (p.skb->family == Family::kIPv4)
      ChangeDsfieldV4(d, kEcnMask, uint8_t(dscp_ << 2));
    else
      ChangeDsfieldV6(d, kEcnMask, uint8_t(dscp_ << 2));
    return Verdict::kContinue;
  }

 private:
  uint8_t dscp_ = 0;
};

NETFENCE_REGISTER(RegisterTarget({
    .name = "DSCP",
    .options = {{"set-dscp", kSetDscp, OptType::kUint8, 0, 1u << kSetDscpClass,
                 0, 0, kDscpMax},
                {"set-dscp-class", kSetDscpClass, OptType::kString, 0,
                 1u << kSetDscp}},
    .table = "mangle",
    .create = [] { return std::make_unique<DscpTarget>(); },
}));

}  // namespace
}  // namespace netfence::ext
