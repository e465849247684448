// mh match (IPv6): the type of a Mobility Header, as a range (ip6t_mh).
#include <fmt/format.h>
#include <strings.h>

#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

constexpr uint8_t kInvType = 0x01;  // IP6T_MH_INV_TYPE

const struct {
  const char* name;
  uint8_t type;
} kMhNames[] = {
    {"binding-refresh-request", 0},
    {"brr", 0},
    {"home-test-init", 1},
    {"hoti", 1},
    {"careof-test-init", 2},
    {"coti", 2},
    {"home-test", 3},
    {"hot", 3},
    {"careof-test", 4},
    {"cot", 4},
    {"binding-update", 5},
    {"bu", 5},
    {"binding-acknowledgement", 6},
    {"ba", 6},
    {"binding-error", 7},
    {"be", 7},
};

// NameToType takes the first name the text abbreviates, unless a later
// name is spelled out in full; otherwise a number 0-255.
uint8_t NameToType(const std::string& name) {
  int match = -1;
  for (size_t i = 0; i < std::size(kMhNames); ++i) {
    if (strncasecmp(kMhNames[i].name, name.c_str(), name.size()) != 0) continue;
    if (match < 0 || strlen(kMhNames[i].name) == name.size()) match = int(i);
  }
  if (match >= 0) return kMhNames[match].type;
  uint64_t v;
  if (!StrToU64(name, v, 0, UINT8_MAX))
    throw ParseError("Invalid MH type `" + name + "'");
  return uint8_t(v);
}

class MhMatch : public Match {
 public:
  void Parse(OptCall& c) override {
    size_t colon = c.arg.find(':');
    if (colon == std::string::npos) {
      types_[0] = types_[1] = NameToType(c.arg);
    } else {
      std::string lo = c.arg.substr(0, colon), hi = c.arg.substr(colon + 1);
      types_[0] = lo.empty() ? 0 : NameToType(lo);
      types_[1] = hi.empty() ? 0xFF : NameToType(hi);
      if (types_[0] > types_[1])
        throw ParseError("Invalid MH type range (min > max)");
    }
    if (c.invert) invflags_ |= kInvType;
  }

  void Check(const CheckCtx& c) override {
    if (invflags_ & ~kInvType) throw CommitError("mh: unknown invflags");
  }

  void Save(SaveCtx& s) const override {
    if (types_[0] == 0 && types_[1] == 0xFF) return;
    if (invflags_ & kInvType) s.out += " !";
    if (types_[0] != types_[1])
      s.out += fmt::format(" --mh-type {}:{}", types_[0], types_[1]);
    else
      s.out += fmt::format(" --mh-type {}", types_[0]);
  }

  bool Matches(XtParams& p) const override {
    if (p.fragoff != 0) return false;
    const uint8_t* mh = p.skb->HeaderPointer(p.thoff, 6);
    if (mh == nullptr) {
      // A header we were asked to examine but cannot: drop.
      p.hotdrop = true;
      return false;
    }
    // A Mobility Header must carry no payload (IPPROTO_NONE).
    if (mh[0] != 59) {
      p.hotdrop = true;
      return false;
    }
    return (mh[2] >= types_[0] && mh[2] <= types_[1]) ^
           bool(invflags_ & kInvType);
  }

 private:
  uint8_t types_[2] = {0, 0xFF};
  uint8_t invflags_ = 0;
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "mh",
    .family = Family::kIPv6,
    .options = {{"mh-type", 0, OptType::kString, kOptInvert}},
    .proto = 135,
    .create = [] { return std::make_unique<MhMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
