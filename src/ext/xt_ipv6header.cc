// ipv6header match (IPv6): which extension headers the packet carries,
// exactly ("hard") or at least ("--soft") (ip6t_ipv6header).
#include "core/resolver.h"
#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kHeader, kSoft };

// Header bits (MASK_*).
enum : uint8_t {
  kMaskHopopts = 128,
  kMaskDstopts = 64,
  kMaskRouting = 32,
  kMaskFragment = 16,
  kMaskAh = 8,
  kMaskEsp = 4,
  kMaskNone = 2,
  kMaskProto = 1,
};

// kChainProtos are iptables' fallback names when the protocol database
// does not know a name or number.
const struct {
  const char* name;
  uint8_t num;
} kChainProtos[] = {
    {"hop-by-hop", 0}, {"protocol", 255}, {"hop", 0},   {"dst", 60},
    {"route", 43},     {"frag", 44},      {"auth", 51}, {"esp", 50},
    {"none", 59},      {"prot", 255},     {"0", 0},     {"60", 60},
    {"43", 43},        {"44", 44},        {"51", 51},   {"50", 50},
    {"59", 59},        {"255", 255},
};

// kChainFlags maps header numbers to bits, in the order iptables prints.
const struct {
  uint8_t proto;
  uint8_t flag;
} kChainFlags[] = {
    {0, kMaskHopopts},   {60, kMaskDstopts}, {43, kMaskRouting},
    {44, kMaskFragment}, {51, kMaskAh},      {50, kMaskEsp},
    {59, kMaskNone},     {255, kMaskProto},
};

unsigned NameToProto(const Resolver& r, const std::string& s) {
  if (auto p = r.ProtocolByName(s)) return *p;
  for (const auto& c : kChainProtos)
    if (s == c.name) return c.num;
  throw ParseError("unknown header `" + s + "' specified");
}

uint8_t ProtoToMask(unsigned proto) {
  for (const auto& c : kChainFlags)
    if (proto == c.proto) return c.flag;
  throw ParseError("unknown header `" + std::to_string(proto) + "' specified");
}

std::string ProtoToName(uint8_t proto) {
  static const BuiltinResolver kNames;  // what iptables-save's libc knows
  if (proto != 0)
    if (auto n = kNames.ProtocolName(proto)) return *n;
  for (const auto& c : kChainProtos)
    if (c.num == proto) return c.name;
  return "";
}

class Ipv6headerMatch : public Match {
 public:
  void Parse(OptCall& c) override {
    if (c.id() == kSoft) {
      modeflag_ = 0xFF;
      return;
    }
    unsigned flags = 0;
    size_t pos = 0;
    while (pos <= c.arg.size()) {
      size_t comma = c.arg.find(',', pos);
      if (comma == std::string::npos) comma = c.arg.size();
      std::string item = c.arg.substr(pos, comma - pos);
      pos = comma + 1;
      if (item.empty()) continue;  // strtok skips empty fields
      flags |= ProtoToMask(NameToProto(*c.env->resolver, item));
    }
    matchflags_ = uint8_t(flags);
    if (matchflags_ == 0)
      throw ParseError("ip6t_ipv6header: cannot parse header names");
    if (c.invert) invflags_ = 0xFF;
  }

  void Check(const CheckCtx& c) override {
    if (!modeflag_ && invflags_ != 0 && invflags_ != 0xFF)
      throw CommitError("ipv6header: invalid invflags");
  }

  void Save(SaveCtx& s) const override {
    s.out += invflags_ ? " ! --header " : " --header ";
    uint8_t flags = matchflags_;
    bool have = false;
    while (flags) {
      size_t i = 0;
      while ((flags & kChainFlags[i].flag) == 0) ++i;
      if (have) s.out += ',';
      s.out += ProtoToName(kChainFlags[i].proto);
      have = true;
      flags &= ~kChainFlags[i].flag;
    }
    if (!have) s.out += "NONE";
    if (modeflag_) s.out += " --soft";
  }

  bool Matches(XtParams& p) const override {
    unsigned temp = 0;
    bool hotdrop = false;
    if (!Walk(*p.skb, temp, hotdrop)) {
      p.hotdrop = hotdrop;
      return false;
    }
    if (modeflag_) return !((temp ^ matchflags_ ^ invflags_) & matchflags_);
    return invflags_ ? temp != matchflags_ : temp == matchflags_;
  }

 private:
  static bool IsExtHdr(uint8_t nh) {
    return nh == 0 || nh == 43 || nh == 44 || nh == 50 || nh == 51 ||
           nh == 59 || nh == 60;
  }

  // Walk collects the header bits; false means "no match" (with hotdrop
  // set when a header could not be read).
  static bool Walk(const Packet& skb, unsigned& temp, bool& hotdrop) {
    uint8_t nexthdr = skb.data[6];
    unsigned ptr = 40;
    int len = int(skb.data.size()) - 40;
    while (IsExtHdr(nexthdr)) {
      if (nexthdr == 59) {
        temp |= kMaskNone;
        break;
      }
      if (len < 2) return false;
      if (nexthdr == 50) {
        temp |= kMaskEsp;
        break;
      }
      const uint8_t* hp = skb.HeaderPointer(ptr, 2);
      if (hp == nullptr) {
        hotdrop = true;
        return false;
      }
      int hdrlen = nexthdr == 44   ? 8
                   : nexthdr == 51 ? (hp[1] + 2) << 2
                                   : (hp[1] + 1) << 3;
      switch (nexthdr) {
        case 0:
          temp |= kMaskHopopts;
          break;
        case 43:
          temp |= kMaskRouting;
          break;
        case 44:
          temp |= kMaskFragment;
          break;
        case 51:
          temp |= kMaskAh;
          break;
        case 60:
          temp |= kMaskDstopts;
          break;
      }
      nexthdr = hp[0];
      len -= hdrlen;
      ptr += hdrlen;
      if (ptr > skb.data.size()) break;
    }
    if (nexthdr != 59 && nexthdr != 50) temp |= kMaskProto;
    return true;
  }

  uint8_t matchflags_ = 0, invflags_ = 0, modeflag_ = 0;
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "ipv6header",
    .family = Family::kIPv6,
    .options = {{"header", kHeader, OptType::kString, kOptMand | kOptInvert},
                {"soft", kSoft, OptType::kNone}},
    .create = [] { return std::make_unique<Ipv6headerMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
