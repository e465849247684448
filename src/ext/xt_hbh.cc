// hbh and dst matches (IPv6): length and option list of the Hop-by-Hop or
// Destination Options extension header. The kernel serves both from one
// module (ip6t_hbh) and so does this unit: they differ only in the header
// they look for and in their option names.
#include <fmt/format.h>

#include <cerrno>
#include <climits>
#include <cstdlib>

#include "core/pktinfo.h"
#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kLen, kOpts };

// Flags of the kernel struct (IP6T_OPTS_*).
enum : uint8_t { kFlagLen = 0x01, kFlagOpts = 0x02, kInvLen = 0x01 };

constexpr unsigned kMaxOpts = 16;  // IP6T_OPTS_OPTSNR

// ParseNum reads one number with strtoul (base auto-detected), as
// libip6t_hbh / libip6t_dst do; only the low 8 bits are kept by callers.
unsigned long ParseNum(const char* ext, const std::string& s,
                       const char* what) {
  const char* str = s.c_str();
  char* end;
  errno = 0;
  unsigned long v = strtoul(str, &end, 0);
  if (end == str)
    throw ParseError(
        fmt::format("{}: no valid digits in {} `{}'", ext, what, s));
  if (v == ULONG_MAX && errno == ERANGE)
    throw ParseError(
        fmt::format("{} `{}' specified too big: would overflow", what, s));
  if (*str != '\0' && *end != '\0')
    throw ParseError(fmt::format("{}: error parsing {} `{}'", ext, what, s));
  return v;
}

// OptsMatch serves both names; `nexthdr` is the header it looks for.
class OptsMatch : public Match {
 public:
  OptsMatch(const char* name, int nexthdr) : name_(name), nexthdr_(nexthdr) {}

  void Parse(OptCall& c) override {
    if (c.id() == kLen) {
      hdrlen_ = uint32_t(c.val.u);
      if (c.invert) invflags_ |= kInvLen;
      flags_ |= kFlagLen;
    } else {
      ParseOptions(c.arg);
      flags_ |= kFlagOpts;
    }
  }

  void Check(const CheckCtx& c) override {
    if (invflags_ & ~kInvLen)
      throw CommitError(std::string(name_) + ": unknown invflags");
  }

  void Save(SaveCtx& s) const override {
    if (flags_ & kFlagLen)
      s.out += fmt::format("{} --{}-len {}", (invflags_ & kInvLen) ? " !" : "",
                           name_, hdrlen_);
    if (flags_ & kFlagOpts) s.out += fmt::format(" --{}-opts", name_);
    for (unsigned i = 0; i < optsnr_; ++i) {
      s.out += fmt::format("{}{}", i == 0 ? ' ' : ',', opts_[i] >> 8);
      if ((opts_[i] & 0xFF) != 0xFF)
        s.out += fmt::format(":{}", opts_[i] & 0xFF);
    }
  }

  bool Matches(XtParams& p) const override {
    const Packet& skb = *p.skb;
    unsigned ptr = 0;
    int err = Ipv6FindHdr(skb, ptr, nexthdr_, nullptr, nullptr);
    if (err < 0) {
      if (err != -ENOENT) p.hotdrop = true;
      return false;
    }
    const uint8_t* oh = skb.HeaderPointer(ptr, 2);
    if (oh == nullptr) {
      p.hotdrop = true;
      return false;
    }
    unsigned hdrlen = (unsigned(oh[1]) + 1) * 8;
    // A packet shorter than its own length field never matches.
    if (skb.data.size() - ptr < hdrlen) return false;
    const bool ret = !(flags_ & kFlagLen) ||
                     ((hdrlen_ == hdrlen) ^ bool(invflags_ & kInvLen));
    if (!(flags_ & kFlagOpts)) return ret;
    return OptionsMatch(skb, ptr + 2, hdrlen - 2) && ret;
  }

 private:
  void ParseOptions(const std::string& arg) {
    size_t pos = 0;
    unsigned i = 0;
    bool more = true;
    for (; more && i < kMaxOpts; ++i) {
      size_t comma = arg.find(',', pos);
      more = comma != std::string::npos;
      std::string item =
          arg.substr(pos, more ? comma - pos : std::string::npos);
      pos = comma + 1;
      size_t colon = item.find(':');
      if (colon != std::string::npos && i == kMaxOpts - 1)
        throw ParseError("too many ports specified");
      opts_[i] =
          uint16_t((ParseNum(name_, item.substr(0, colon), "opt") & 0xFF) << 8);
      if (colon != std::string::npos) {
        if (opts_[i] == 0)
          throw ParseError(nexthdr_ == 0 ? "PAD0 has not got length"
                                         : "PAD0 hasn't got length");
        opts_[i] |= ParseNum(name_, item.substr(colon + 1), "length") & 0xFF;
      } else {
        opts_[i] |= 0xFF;
      }
    }
    if (more) throw ParseError("too many addresses specified");
    optsnr_ = uint8_t(i);
  }

  // OptionsMatch walks the options in order ("strict" mode): each listed
  // type (and length, unless 0xFF) must appear in turn.
  bool OptionsMatch(const Packet& skb, unsigned ptr, unsigned hdrlen) const {
    const unsigned len = unsigned(skb.data.size());
    unsigned temp = 0;
    for (; temp < optsnr_; ++temp) {
      if (hdrlen < 1) break;
      const uint8_t* tp = skb.HeaderPointer(ptr, 1);
      if (tp == nullptr) break;
      if (*tp != opts_[temp] >> 8) return false;
      unsigned optlen;
      if (*tp) {
        if (hdrlen < 2) break;
        const uint8_t* lp = skb.HeaderPointer(ptr + 1, 1);
        if (lp == nullptr) break;
        const unsigned spec_len = opts_[temp] & 0xFF;
        if (spec_len != 0xFF && spec_len != *lp) return false;
        optlen = *lp + 2u;
      } else {
        optlen = 1;  // Pad1
      }
      if ((ptr > len - optlen || hdrlen < optlen) && temp < optsnr_ - 1u) break;
      ptr += optlen;
      hdrlen -= optlen;
    }
    return temp == optsnr_;
  }

  const char* name_;
  int nexthdr_;
  uint32_t hdrlen_ = 0;
  uint8_t flags_ = 0, invflags_ = 0;
  uint16_t opts_[kMaxOpts] = {};
  uint8_t optsnr_ = 0;
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "hbh",
    .family = Family::kIPv6,
    .options = {{"hbh-len", kLen, OptType::kUint32, kOptInvert},
                {"hbh-opts", kOpts, OptType::kString}},
    .create = [] { return std::make_unique<OptsMatch>("hbh", 0); },
}));

NETFENCE_REGISTER(RegisterMatch({
    .name = "dst",
    .family = Family::kIPv6,
    .options = {{"dst-len", kLen, OptType::kUint32, kOptInvert},
                {"dst-opts", kOpts, OptType::kString}},
    .create = [] { return std::make_unique<OptsMatch>("dst", 60); },
}));

}  // namespace
}  // namespace netfence::ext
