// CLASSIFY target: sets skb->priority, the class a qdisc files the packet
// under (xt_CLASSIFY). Only where packets leave: OUTPUT, FORWARD,
// POSTROUTING.
#include <fmt/format.h>

#include <cstdio>

#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kSetClass = 0 };

class ClassifyTarget : public Target {
 public:
  void Parse(OptCall& c) override {
    // "MAJOR:MINOR" in hex, read with sscanf as iptables does (so signs,
    // 0x prefixes and trailing text behave the same).
    unsigned major, minor;
    if (std::sscanf(c.arg.c_str(), "%x:%x", &major, &minor) != 2)
      throw ParseError("Bad class value \"" + c.arg + "\"");
    priority_ = ((major << 16) & 0xffff0000u) | (minor & 0xffffu);
  }

  void Save(SaveCtx& s) const override {
    s.out += fmt::format(" --set-class {:04x}:{:04x}", priority_ >> 16,
                         priority_ & 0xffff);
  }

  Verdict Run(XtParams& p) const override {
    p.skb->priority = priority_;
    return Verdict::kContinue;
  }

 private:
  uint32_t priority_ = 0;
};

NETFENCE_REGISTER(RegisterTarget({
    .name = "CLASSIFY",
    .options = {{"set-class", kSetClass, OptType::kString, kOptMand}},
    .hooks = HookBit(Hook::kOutput) | HookBit(Hook::kForward) |
             HookBit(Hook::kPostrouting),
    .create = [] { return std::make_unique<ClassifyTarget>(); },
}));

}  // namespace
}  // namespace netfence::ext
