// owner match: the user, group and existence of the socket that sent a
// locally generated packet (xt_owner, revision 1). Only the OUTPUT and
// POSTROUTING hooks see such packets.
#include <fmt/format.h>

#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kOUser, kOGroup, kOSocketExists, kOSupplGroups = 6 };

// Match and invert bits (XT_OWNER_*).
enum : uint8_t {
  kUid = 1 << 0,
  kGid = 1 << 1,
  kSocket = 1 << 2,
  kSupplGroups = 1 << 3,
};

// ParseRange is owner_parse_range: "N", "N-M" or "N:M", each at most
// 2^32 - 2 (-1 is no id).
void ParseRange(const std::string& s, const char* opt, uint32_t& from,
                uint32_t& to) {
  auto bad = [&] {
    throw ParseError(
        fmt::format("owner: Bad value for \"{}\" option: \"{}\"", opt, s));
  };
  uint64_t v;
  size_t n = StrToU64Prefix(s, v, 0, 0xFFFFFFFEu);
  if (n == 0) bad();
  from = to = uint32_t(v);
  if (n < s.size() && (s[n] == '-' || s[n] == ':')) {
    std::string rest = s.substr(n + 1);
    size_t k = StrToU64Prefix(rest, v, 0, 0xFFFFFFFEu);
    if (k == 0) bad();
    to = uint32_t(v);
    n += 1 + k;
  }
  if (n != s.size()) bad();
}

// OwnerMatch is one -m owner: xt_owner_match_info.
class OwnerMatch : public Match {
 public:
  void Parse(OptCall& c) override {
    const Resolver& r = *c.env->resolver;
    switch (c.id()) {
      case kOUser:
        if (auto uid = r.User(c.arg))
          uid_min_ = uid_max_ = *uid;
        else
          ParseRange(c.arg, "--uid-owner", uid_min_, uid_max_);
        Set(kUid, c.invert);
        break;
      case kOGroup:
        if (auto gid = r.Group(c.arg))
          gid_min_ = gid_max_ = *gid;
        else
          ParseRange(c.arg, "--gid-owner", gid_min_, gid_max_);
        Set(kGid, c.invert);
        break;
      case kOSocketExists:
        Set(kSocket, c.invert);
        break;
      case kOSupplGroups:
        if (!(match_ & kGid))
          throw ParseError(
              "owner: Bad value for \"--suppl-groups\" option: \"you need to "
              "use --gid-owner first\"");
        match_ |= kSupplGroups;
        break;
    }
  }

  void FinalCheck(FcheckCall& c) override {
    if (c.xflags == 0)
      throw ParseError(
          "owner: At least one of --uid-owner, --gid-owner or "
          "--socket-exists is required");
  }

  void Check(const CheckCtx& c) override {
    if ((match_ & kUid) && uid_max_ < uid_min_)
      throw CommitError("owner: uid range is empty");
    if ((match_ & kGid) && gid_max_ < gid_min_)
      throw CommitError("owner: gid range is empty");
  }

  void Save(SaveCtx& s) const override {
    auto item = [&](uint8_t flag, const char* label) {
      if (!(match_ & flag)) return false;
      if (invert_ & flag) s.out += " !";
      s.out += ' ';
      s.out += label;
      return true;
    };
    item(kSocket, "--socket-exists");
    if (item(kUid, "--uid-owner")) Range(s.out, uid_min_, uid_max_);
    if (item(kGid, "--gid-owner")) Range(s.out, gid_min_, gid_max_);
    item(kSupplGroups, "--suppl-groups");
  }

  bool Matches(XtParams& p) const override {
    // Packets without a socket (forwarded, or built by the host itself)
    // match only the inverted tests.
    if (!p.skb->sk) return (match_ ^ invert_) == 0;
    if (match_ & invert_ & kSocket) return false;
    const SockOwner& sk = *p.skb->sk;
    // A kernel socket has no file and so no owner.
    if (!sk.has_file) return ((match_ ^ invert_) & (kUid | kGid)) == 0;
    if (match_ & kUid) {
      const bool in = sk.uid >= uid_min_ && sk.uid <= uid_max_;
      if (in == bool(invert_ & kUid)) return false;
    }
    if (match_ & kGid) {
      bool in = sk.gid >= gid_min_ && sk.gid <= gid_max_;
      if (!in && (match_ & kSupplGroups)) {
        for (uint32_t g : sk.groups) {
          if (g >= gid_min_ && g <= gid_max_) {
            in = true;
            break;
          }
        }
      }
      if (in == bool(invert_ & kGid)) return false;
    }
    return true;
  }

 private:
  void Set(uint8_t flag, bool invert) {
    match_ |= flag;
    if (invert) invert_ |= flag;
  }

  static void Range(std::string& out, uint32_t lo, uint32_t hi) {
    if (lo != hi)
      out += fmt::format(" {}-{}", lo, hi);
    else
      out += fmt::format(" {}", lo);
  }

  uint8_t match_ = 0, invert_ = 0;
  uint32_t uid_min_ = 0, uid_max_ = 0, gid_min_ = 0, gid_max_ = 0;
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "owner",
    .revision = 1,
    .options = {{"uid-owner", kOUser, OptType::kString, kOptInvert},
                {"gid-owner", kOGroup, OptType::kString, kOptInvert},
                {"socket-exists", kOSocketExists, OptType::kNone, kOptInvert},
                {"suppl-groups", kOSupplGroups, OptType::kNone}},
    .hooks = HookBit(Hook::kOutput) | HookBit(Hook::kPostrouting),
    .create = [] { return std::make_unique<OwnerMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
