// socket match: whether a local socket would receive the packet (xt_socket,
// revision 3). The simulated host runs no processes, so no socket ever
// exists and the match never matches; the options, checks and printing are
// the kernel's and iptables'.
#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kOTransparent, kONowildcard, kORestoreSkmark };

enum : uint8_t {
  kTransparent = 1 << 0,
  kNowildcard = 1 << 1,
  kRestoreSkmark = 1 << 2,
};

// SocketMatch is one -m socket: its flags (revision 3).
class SocketMatch : public Match {
 public:
  void Parse(OptCall& c) override { flags_ |= uint8_t(1u << c.id()); }

  void Save(SaveCtx& s) const override {
    if (flags_ & kTransparent) s.out += " --transparent";
    if (flags_ & kNowildcard) s.out += " --nowildcard";
    if (flags_ & kRestoreSkmark) s.out += " --restore-skmark";
  }

  // Every socket lookup finds nothing: no packet belongs to a socket.
  bool Matches(XtParams& p) const override { return false; }

 private:
  uint8_t flags_ = 0;
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "socket",
    .revision = 3,
    .options = {{"transparent", kOTransparent, OptType::kNone},
                {"nowildcard", kONowildcard, OptType::kNone},
                {"restore-skmark", kORestoreSkmark, OptType::kNone}},
    .hooks = HookBit(Hook::kPrerouting) | HookBit(Hook::kInput),
    .create = [] { return std::make_unique<SocketMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
