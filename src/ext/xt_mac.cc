// mac match: the Ethernet source address of an arriving packet (xt_mac).
#include <fmt/format.h>

#include "core/host.h"
#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

class MacMatch : public Match {
 public:
  void Parse(OptCall& c) override {
    src_ = c.val.ethermac;
    if (c.invert) invert_ = true;
  }

  void Save(SaveCtx& s) const override {
    if (invert_) s.out += " !";
    s.out +=
        fmt::format(" --mac-source {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                    src_[0], src_[1], src_[2], src_[3], src_[4], src_[5]);
  }

  bool Matches(XtParams& p) const override {
    // Only a frame received on an Ethernet device has a source address to
    // compare; without one the rule fails whatever its inversion.
    if (!p.skb->has_mac) return false;
    if (p.state != nullptr && p.state->in != nullptr && p.state->in->loopback)
      return false;
    return (p.skb->src_mac == src_) ^ invert_;
  }

 private:
  std::array<uint8_t, 6> src_{};
  bool invert_ = false;
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "mac",
    .options = {{"mac-source", 0, OptType::kEtherMac, kOptMand | kOptInvert}},
    .hooks = HookBit(Hook::kPrerouting) | HookBit(Hook::kInput) |
             HookBit(Hook::kForward),
    .create = [] { return std::make_unique<MacMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
