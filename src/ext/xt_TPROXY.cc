// TPROXY target (revision 1): in mangle PREROUTING, hands a TCP / UDP
// packet to a local transparent socket and marks it. The kernel looks the
// socket up twice (an established one on the packet's addresses, then a
// listener on --on-ip / --on-port) and drops the packet when neither
// exists. The simulated host runs no sockets, so every packet that reaches
// the target is dropped with its mark unchanged, exactly the kernel's
// "no socket" path.
#include <fmt/format.h>

#include "core/addr.h"
#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kPort = 0, kAddr, kMark };

class TproxyTarget : public Target {
 public:
  explicit TproxyTarget(Family f) : family_(f) {}

  void Parse(OptCall& c) override {
    switch (c.id()) {
      case kPort:
        lport_ = c.val.port;
        break;
      case kAddr:
        laddr_ = c.val.haddr;
        break;
      case kMark:
        mark_value_ = c.val.mark;
        mark_mask_ = c.val.mask;
        break;
    }
  }

  void Check(const CheckCtx& c) override {
    const bool ok = (c.ip->proto == 6 || c.ip->proto == 17) &&
                    !(c.ip->invflags & kInvProto);
    if (!ok)
      throw CommitError(
          "TPROXY: Can be used only in combination with either -p tcp or -p "
          "udp");
  }

  void Save(SaveCtx& s) const override {
    s.out += fmt::format(" --on-port {} --on-ip {} --tproxy-mark {:#x}/{:#x}",
                         lport_, FormatAddr(family_, laddr_), mark_value_,
                         mark_mask_);
  }

  Verdict Run(XtParams&) const override { return Verdict::kDrop; }

 private:
  Family family_;
  uint16_t lport_ = 0;
  Addr laddr_;
  uint32_t mark_value_ = 0, mark_mask_ = 0;
};

std::vector<OptionEntry> Options() {
  return {{"on-port", kPort, OptType::kPort, kOptMand},
          {"on-ip", kAddr, OptType::kHost},
          {"tproxy-mark", kMark, OptType::kMarkMask32}};
}

NETFENCE_REGISTER(RegisterTarget({
    .name = "TPROXY",
    .revision = 1,
    .family = Family::kIPv4,
    .options = Options(),
    .hooks = HookBit(Hook::kPrerouting),
    .table = "mangle",
    .create = [] { return std::make_unique<TproxyTarget>(Family::kIPv4); },
}));

NETFENCE_REGISTER(RegisterTarget({
    .name = "TPROXY",
    .revision = 1,
    .family = Family::kIPv6,
    .options = Options(),
    .hooks = HookBit(Hook::kPrerouting),
    .table = "mangle",
    .create = [] { return std::make_unique<TproxyTarget>(Family::kIPv6); },
}));

}  // namespace
}  // namespace netfence::ext
