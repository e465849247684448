// rt match (IPv6): fields of the Routing extension header and the address
// list of a type 0 routing header (ip6t_rt).
#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include "core/addr.h"
#include "core/pktinfo.h"
#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kType, kSegsleft, kLen, kRes, kAddrs, kNotStrict };

// Flags and invflags of the kernel struct (IP6T_RT_*).
enum : uint8_t {
  kFlagType = 0x01,
  kFlagSegs = 0x02,
  kFlagLen = 0x04,
  kFlagRes = 0x08,
  kFlagFst = 0x10,
  kFlagFstNstrict = 0x20,
  kFlagFstMask = 0x30,
  kInvType = 0x01,
  kInvSegs = 0x02,
  kInvLen = 0x04,
  kInvMask = 0x07,
};

constexpr unsigned kMaxHops = 16;  // IP6T_RT_HOPS
constexpr int kNextRouting = 43;

class RtMatch : public Match {
 public:
  void Parse(OptCall& c) override {
    switch (c.id()) {
      case kType:
        rt_type_ = uint32_t(c.val.u);
        if (c.invert) invflags_ |= kInvType;
        flags_ |= kFlagType;
        break;
      case kSegsleft:
        segsleft_[0] = uint32_t(c.val.range[0]);
        segsleft_[1] =
            uint32_t(c.val.nvals == 1 ? c.val.range[0] : c.val.range[1]);
        if (c.invert) invflags_ |= kInvSegs;
        flags_ |= kFlagSegs;
        break;
      case kLen:
        hdrlen_ = uint32_t(c.val.u);
        if (c.invert) invflags_ |= kInvLen;
        flags_ |= kFlagLen;
        break;
      case kRes:
        RequireType0(c, "--rt-0-res");
        flags_ |= kFlagRes;
        break;
      case kAddrs:
        RequireType0(c, "--rt-0-addrs");
        ParseAddrs(c.arg);
        flags_ |= kFlagFst;
        break;
      case kNotStrict:
        if (!(c.xflags & (1u << kAddrs)))
          throw ParseError(
              "`--rt-0-addr ...' required before `--rt-0-not-strict'");
        flags_ |= kFlagFstNstrict;
        break;
    }
  }

  void Check(const CheckCtx& c) override {
    if (invflags_ & ~kInvMask) throw CommitError("rt: unknown invflags");
    if ((flags_ & (kFlagRes | kFlagFstMask)) &&
        (!(flags_ & kFlagType) || rt_type_ != 0 || (invflags_ & kInvType)))
      throw CommitError("rt: `--rt-type 0' required before `--rt-0-*'");
  }

  void Save(SaveCtx& s) const override {
    if (flags_ & kFlagType)
      s.out += fmt::format("{} --rt-type {}",
                           (invflags_ & kInvType) ? " !" : "", rt_type_);
    if (!(segsleft_[0] == 0 && segsleft_[1] == 0xFFFFFFFF)) {
      s.out += (invflags_ & kInvSegs) ? " ! --rt-segsleft " : " --rt-segsleft ";
      if (segsleft_[0] != segsleft_[1])
        s.out += fmt::format("{}:{}", segsleft_[0], segsleft_[1]);
      else
        s.out += fmt::format("{}", segsleft_[0]);
    }
    if (flags_ & kFlagLen)
      s.out += fmt::format("{} --rt-len {}", (invflags_ & kInvLen) ? " !" : "",
                           hdrlen_);
    if (flags_ & kFlagRes) s.out += " --rt-0-res";
    if (flags_ & kFlagFst) s.out += " --rt-0-addrs";
    for (unsigned i = 0; i < addrnr_; ++i)
      s.out += (i == 0 ? " " : ",") + FormatAddr(Family::kIPv6, addrs_[i]);
    if (flags_ & kFlagFstNstrict) s.out += " --rt-0-not-strict";
  }

  bool Matches(XtParams& p) const override {
    const Packet& skb = *p.skb;
    unsigned ptr = 0;
    int err = Ipv6FindHdr(skb, ptr, kNextRouting, nullptr, nullptr);
    if (err < 0) {
      if (err != -ENOENT) p.hotdrop = true;
      return false;
    }
    const uint8_t* rh = skb.HeaderPointer(ptr, 4);
    if (rh == nullptr) {
      p.hotdrop = true;
      return false;
    }
    const unsigned hdrlen = (unsigned(rh[1]) + 1) * 8;
    // A packet shorter than its own length field never matches.
    if (skb.data.size() - ptr < hdrlen) return false;
    const uint8_t segs = rh[3];
    bool ret = ((segs >= segsleft_[0] && segs <= segsleft_[1]) ^
                bool(invflags_ & kInvSegs)) &&
               (!(flags_ & kFlagLen) ||
                ((hdrlen_ == hdrlen) ^ bool(invflags_ & kInvLen))) &&
               (!(flags_ & kFlagType) ||
                ((rt_type_ == rh[2]) ^ bool(invflags_ & kInvType)));
    if (ret && (flags_ & kFlagRes)) {
      const uint8_t* rp = skb.HeaderPointer(ptr + 4, 4);
      if (rp == nullptr) {
        p.hotdrop = true;
        return false;
      }
      ret = Load32(rp) == 0;
    }
    if (!(flags_ & kFlagFst)) return ret;
    const unsigned slots = (hdrlen - 8) / 16;
    if (addrnr_ > slots) return false;
    return (flags_ & kFlagFstNstrict) ? NotStrict(p, ptr, slots) && ret
                                      : Strict(p, ptr, slots) && ret;
  }

 private:
  // RequireType0: the type 0 options need a preceding "--rt-type 0".
  void RequireType0(const OptCall& c, const char* opt) const {
    if (!(c.xflags & (1u << kType)) || rt_type_ != 0 || (invflags_ & kInvType))
      throw ParseError(std::string("`--rt-type 0' required before `") + opt +
                       "'");
  }

  void ParseAddrs(const std::string& arg) {
    size_t pos = 0;
    unsigned i = 0;
    bool more = true;
    for (; more && i < kMaxHops; ++i) {
      size_t comma = arg.find(',', pos);
      more = comma != std::string::npos;
      std::string a = arg.substr(pos, more ? comma - pos : std::string::npos);
      pos = comma + 1;
      std::optional<Addr> addr = ParseIPv6Numeric(a);
      if (!addr) throw ParseError("bad address: " + a);
      addrs_[i] = *addr;
    }
    if (more) throw ParseError("too many addresses specified");
    addrnr_ = uint8_t(i);
  }

  const uint8_t* AddrAt(XtParams& p, unsigned ptr, unsigned i) const {
    const uint8_t* ap = p.skb->HeaderPointer(ptr + 8 + i * 16, 16);
    if (ap == nullptr) p.hotdrop = true;
    return ap;
  }

  // NotStrict: the listed addresses appear in order, gaps allowed.
  bool NotStrict(XtParams& p, unsigned ptr, unsigned slots) const {
    unsigned i = 0;
    for (unsigned t = 0; t < slots; ++t) {
      const uint8_t* ap = AddrAt(p, ptr, t);
      if (ap == nullptr) break;
      if (memcmp(ap, addrs_[i].b.data(), 16) == 0) ++i;
      if (i == addrnr_) break;
    }
    return i == addrnr_;
  }

  // Strict: the header lists exactly these addresses.
  bool Strict(XtParams& p, unsigned ptr, unsigned slots) const {
    unsigned t = 0;
    for (; t < addrnr_; ++t) {
      const uint8_t* ap = AddrAt(p, ptr, t);
      if (ap == nullptr) break;
      if (memcmp(ap, addrs_[t].b.data(), 16) != 0) break;
    }
    return t == addrnr_ && t == slots;
  }

  uint32_t rt_type_ = 0;
  uint32_t segsleft_[2] = {0, 0xFFFFFFFF};
  uint32_t hdrlen_ = 0;
  uint8_t flags_ = 0, invflags_ = 0;
  Addr addrs_[kMaxHops];
  uint8_t addrnr_ = 0;
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "rt",
    .family = Family::kIPv6,
    .options = {{"rt-type", kType, OptType::kUint32, kOptInvert},
                {"rt-segsleft", kSegsleft, OptType::kUint32Rc, kOptInvert},
                {"rt-len", kLen, OptType::kUint32, kOptInvert},
                {"rt-0-res", kRes, OptType::kNone},
                {"rt-0-addrs", kAddrs, OptType::kString},
                {"rt-0-not-strict", kNotStrict, OptType::kNone}},
    .create = [] { return std::make_unique<RtMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
