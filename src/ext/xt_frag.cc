// frag match (IPv6): fields of the Fragment extension header (ip6t_frag).
#include <fmt/format.h>

#include <cerrno>

#include "core/pktinfo.h"
#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kId, kLen, kRes, kFirst, kMore, kLast };

// Flags and invflags of the kernel struct (IP6T_FRAG_*).
enum : uint8_t {
  kFlagIds = 0x01,
  kFlagLen = 0x02,
  kFlagRes = 0x04,
  kFlagFirst = 0x08,
  kFlagMore = 0x10,
  kFlagLast = 0x20,
  kInvIds = 0x01,
  kInvLen = 0x02,
  kInvMask = 0x03,
};

constexpr int kNextFragment = 44;

class FragMatch : public Match {
 public:
  void Parse(OptCall& c) override {
    switch (c.id()) {
      case kId:
        ids_[0] = uint32_t(c.val.range[0]);
        ids_[1] = uint32_t(c.val.nvals == 1 ? c.val.range[0] : c.val.range[1]);
        if (c.invert) invflags_ |= kInvIds;
        flags_ |= kFlagIds;
        break;
      case kLen:
        // Stored and printed, but the kernel never checks it.
        hdrlen_ = uint32_t(c.val.u);
        if (c.invert) invflags_ |= kInvLen;
        flags_ |= kFlagLen;
        break;
      case kRes:
        flags_ |= kFlagRes;
        break;
      case kFirst:
        flags_ |= kFlagFirst;
        break;
      case kMore:
        flags_ |= kFlagMore;
        break;
      case kLast:
        flags_ |= kFlagLast;
        break;
    }
  }

  void Check(const CheckCtx& c) override {
    if (invflags_ & ~kInvMask) throw CommitError("frag: unknown invflags");
  }

  void Save(SaveCtx& s) const override {
    if (!(ids_[0] == 0 && ids_[1] == 0xFFFFFFFF)) {
      s.out += (invflags_ & kInvIds) ? " ! --fragid " : " --fragid ";
      if (ids_[0] != ids_[1])
        s.out += fmt::format("{}:{}", ids_[0], ids_[1]);
      else
        s.out += fmt::format("{}", ids_[0]);
    }
    if (flags_ & kFlagLen)
      s.out += fmt::format("{} --fraglen {}", (invflags_ & kInvLen) ? " !" : "",
                           hdrlen_);
    if (flags_ & kFlagRes) s.out += " --fragres";
    if (flags_ & kFlagFirst) s.out += " --fragfirst";
    if (flags_ & kFlagMore) s.out += " --fragmore";
    if (flags_ & kFlagLast) s.out += " --fraglast";
  }

  bool Matches(XtParams& p) const override {
    unsigned ptr = 0;
    int err = Ipv6FindHdr(*p.skb, ptr, kNextFragment, nullptr, nullptr);
    if (err < 0) {
      if (err != -ENOENT) p.hotdrop = true;
      return false;
    }
    const uint8_t* fh = p.skb->HeaderPointer(ptr, 8);
    if (fh == nullptr) {
      p.hotdrop = true;
      return false;
    }
    const uint16_t frag_off = Load16(fh + 2);
    const uint32_t id = Load32(fh + 4);
    const bool more = frag_off & 0x0001;  // IP6_MF
    return ((id >= ids_[0] && id <= ids_[1]) ^ bool(invflags_ & kInvIds)) &&
           !((flags_ & kFlagRes) && (fh[1] != 0 || (frag_off & 0x6))) &&
           !((flags_ & kFlagFirst) && (frag_off & ~0x7)) &&
           !((flags_ & kFlagMore) && !more) && !((flags_ & kFlagLast) && more);
  }

 private:
  uint32_t ids_[2] = {0, 0xFFFFFFFF};
  uint32_t hdrlen_ = 0;
  uint8_t flags_ = 0, invflags_ = 0;
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "frag",
    .family = Family::kIPv6,
    .options = {{"fragid", kId, OptType::kUint32Rc, kOptInvert},
                {"fraglen", kLen, OptType::kUint32, kOptInvert},
                {"fragres", kRes, OptType::kNone},
                {"fragfirst", kFirst, OptType::kNone},
                {"fragmore", kMore, OptType::kNone, 0, 1u << kLast},
                {"fraglast", kLast, OptType::kNone, 0, 1u << kMore}},
    .create = [] { return std::make_unique<FragMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
