// iprange match (revision 1): source and/or destination address inside an
// inclusive range (xt_iprange).
#include <cstring>

#include "core/addr.h"
#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kSrc, kDst };

// Flags of the kernel struct (IPRANGE_*).
enum : uint8_t {
  kFlagSrc = 1 << 0,
  kFlagDst = 1 << 1,
  kFlagSrcInv = 1 << 4,
  kFlagDstInv = 1 << 5,
};

Addr ParseOne(Family f, const std::string& s, const std::string& opt) {
  std::optional<Addr> a =
      f == Family::kIPv4 ? ParseIPv4Numeric(s, false) : ParseIPv6Numeric(s);
  if (!a)
    throw ParseError("iprange: Bad value for option \"" + opt + "\" \"" + s +
                     "\"");
  return *a;
}

// ParseRange reads "addr" or "addr-addr" (numeric only).
void ParseRange(Family f, const std::string& arg, const std::string& opt,
                Addr range[2]) {
  size_t dash = arg.find('-');
  if (dash == std::string::npos) {
    range[0] = range[1] = ParseOne(f, arg, opt);
    return;
  }
  range[0] = ParseOne(f, arg.substr(0, dash), opt);
  range[1] = ParseOne(f, arg.substr(dash + 1), opt);
}

class IprangeMatch : public Match {
 public:
  void Parse(OptCall& c) override {
    const Family f = c.env->family;
    if (c.id() == kSrc) {
      ParseRange(f, c.arg, "--src-range", src_);
      flags_ |= kFlagSrc;
      if (c.invert) flags_ |= kFlagSrcInv;
    } else {
      ParseRange(f, c.arg, "--dst-range", dst_);
      flags_ |= kFlagDst;
      if (c.invert) flags_ |= kFlagDstInv;
    }
  }

  void FinalCheck(FcheckCall& c) override {
    if (c.xflags == 0)
      throw ParseError(
          "iprange match: You must specify `--src-range' or `--dst-range'");
  }

  void Save(SaveCtx& s) const override {
    if (flags_ & kFlagSrc) {
      if (flags_ & kFlagSrcInv) s.out += " !";
      s.out += " --src-range " + FormatAddr(s.family, src_[0]) + "-" +
               FormatAddr(s.family, src_[1]);
    }
    if (flags_ & kFlagDst) {
      if (flags_ & kFlagDstInv) s.out += " !";
      s.out += " --dst-range " + FormatAddr(s.family, dst_[0]) + "-" +
               FormatAddr(s.family, dst_[1]);
    }
  }

  bool Matches(XtParams& p) const override {
    const bool v4 = p.skb->family == Family::kIPv4;
    const size_t len = v4 ? 4 : 16;
    const uint8_t* h = p.skb->data.data();
    const uint8_t* saddr = h + (v4 ? 12 : 8);
    const uint8_t* daddr = h + (v4 ? 16 : 24);
    if ((flags_ & kFlagSrc) &&
        Outside(saddr, src_, len) != bool(flags_ & kFlagSrcInv))
      return false;
    if ((flags_ & kFlagDst) &&
        Outside(daddr, dst_, len) != bool(flags_ & kFlagDstInv))
      return false;
    return true;
  }

 private:
  // Outside compares in network byte order, which orders addresses
  // numerically.
  static bool Outside(const uint8_t* a, const Addr r[2], size_t len) {
    return memcmp(a, r[0].b.data(), len) < 0 ||
           memcmp(a, r[1].b.data(), len) > 0;
  }

  Addr src_[2], dst_[2];
  uint8_t flags_ = 0;
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "iprange",
    .revision = 1,
    .options = {{"src-range", kSrc, OptType::kString, kOptInvert},
                {"dst-range", kDst, OptType::kString, kOptInvert}},
    .create = [] { return std::make_unique<IprangeMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
