// rpfilter match: reverse path filtering, i.e. would the host route a reply
// to the packet's source back out of the interface it arrived on
// (ipt_rpfilter / ip6t_rpfilter). The route is asked of the host model.
#include "core/addr.h"
#include "core/host.h"
#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kOLoose, kOValidMark, kOAcceptLocal, kOInvert };

// Flags (XT_RPFILTER_*).
enum : uint8_t {
  kLoose = 1 << 0,
  kValidMark = 1 << 1,
  kAcceptLocal = 1 << 2,
  kInvert = 1 << 3,
};

bool IsZeronet4(uint32_t a) { return (a & 0xff000000u) == 0; }
bool IsLbcast4(uint32_t a) { return a == 0xffffffffu; }
bool IsLocalMulticast4(uint32_t a) { return (a & 0xffffff00u) == 0xe0000000u; }

// OwnsAddress tells whether dev has the address configured (the device of
// a local route's next hop).
bool OwnsAddress(const Interface* dev, Family f, const Addr& a) {
  if (dev == nullptr) return false;
  for (const IfAddr& ia : dev->addrs)
    if (ia.family == f && ia.local == a) return true;
  return false;
}

// RpfilterMatch is one -m rpfilter: its flags.
class RpfilterMatch : public Match {
 public:
  void Parse(OptCall& c) override { flags_ |= uint8_t(1u << c.id()); }

  void Check(const CheckCtx& c) override {
    if (c.table != "mangle" && c.table != "raw")
      throw CommitError(
          "rpfilter: only valid in 'raw' or 'mangle' table, not '" + c.table +
          "'");
  }

  void Save(SaveCtx& s) const override {
    if (flags_ & kLoose) s.out += " --loose";
    if (flags_ & kValidMark) s.out += " --validmark";
    if (flags_ & kAcceptLocal) s.out += " --accept-local";
    if (flags_ & kInvert) s.out += " --invert";
  }

  bool Matches(XtParams& p) const override {
    const bool invert = flags_ & kInvert;
    const Interface* in = p.state ? p.state->in : nullptr;
    if (p.skb->pkt_type == PktType::kLoopback || (in && in->loopback))
      return !invert;
    const bool ok =
        p.skb->family == Family::kIPv4 ? Reverse4(p, in) : Reverse6(p, in);
    return ok != invert;
  }

 private:
  bool Reverse4(const XtParams& p, const Interface* in) const {
    const uint8_t* h = p.skb->HeaderPointer(0, 20);
    if (h == nullptr) return false;
    const uint32_t saddr = Load32(h + 12), daddr = Load32(h + 16);
    if (IsZeronet4(saddr) && (IsLbcast4(daddr) || IsLocalMulticast4(daddr)))
      return true;
    const Host* host = p.state ? p.state->host : nullptr;
    if (host == nullptr) return false;
    // The lookup is fib_lookup from the loopback device towards the
    // source: an output route without source validation.
    const uint32_t mark = (flags_ & kValidMark) ? p.skb->mark : 0;
    const Addr src = Addr::FromV4(saddr);
    const Route rt = host->RouteOutput(Family::kIPv4, src, Addr{},
                                       uint8_t(h[1] & 0x1c), nullptr, mark);
    if (rt.err != 0) return false;
    if (rt.type != RouteType::kUnicast) {
      if (rt.type != RouteType::kLocal || !(flags_ & kAcceptLocal))
        return false;
      // A local route's next hop is the device holding the address.
      return OwnsAddress(in, Family::kIPv4, src) || (flags_ & kLoose);
    }
    return (in != nullptr && rt.dev == in) || (flags_ & kLoose);
  }

  bool Reverse6(const XtParams& p, const Interface* in) const {
    const uint8_t* h = p.skb->HeaderPointer(0, 40);
    if (h == nullptr) return false;
    Addr saddr;
    std::copy(h + 8, h + 24, saddr.b.begin());
    if (saddr == Addr{}) return true;  // unroutable: forwarding drops it
    const Host* host = p.state ? p.state->host : nullptr;
    if (host == nullptr) return false;
    const uint32_t mark = (flags_ & kValidMark) ? p.skb->mark : 0;
    // A link-local source can only be reached on the arrival link.
    const bool linklocal = saddr.b[0] == 0xfe && (saddr.b[1] & 0xc0) == 0x80;
    const Route rt = host->RouteOutput(Family::kIPv6, saddr, Addr{}, 0,
                                       linklocal ? in : nullptr, mark);
    if (rt.err != 0) return false;
    if (rt.type == RouteType::kUnreachable || rt.type == RouteType::kProhibit ||
        rt.type == RouteType::kBlackhole || rt.type == RouteType::kAnycast)
      return false;
    if (rt.type == RouteType::kLocal) return flags_ & kAcceptLocal;
    return (in != nullptr && rt.dev == in) || (flags_ & kLoose);
  }

  uint8_t flags_ = 0;
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "rpfilter",
    .options = {{"loose", kOLoose, OptType::kNone},
                {"validmark", kOValidMark, OptType::kNone},
                {"accept-local", kOAcceptLocal, OptType::kNone},
                {"invert", kOInvert, OptType::kNone}},
    .hooks = HookBit(Hook::kPrerouting),
    .create = [] { return std::make_unique<RpfilterMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
