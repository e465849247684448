// multiport match (revision 1): a list of up to 15 ports or port ranges,
// matched against the source, the destination, or either port of any
// protocol whose header starts with the two ports (xt_multiport).
#include <fmt/format.h>

#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kSports, kDports, kPorts };
constexpr unsigned kAny = 1u << kSports | 1u << kDports | 1u << kPorts;

// Direction values of the kernel struct (enum xt_multiport_flags).
enum : uint8_t { kSource = 0, kDestination = 1, kEither = 2 };

constexpr unsigned kMaxPorts = 15;  // XT_MULTI_PORTS

const char* ProtoName(uint16_t proto) {
  switch (proto) {
    case 6:
      return "tcp";
    case 17:
      return "udp";
    case 136:
      return "udplite";
    case 132:
      return "sctp";
    case 33:
      return "dccp";
    default:
      return nullptr;
  }
}

// CheckProto is what iptables requires of the rule's -p at the time the
// option is parsed: it names the protocol for service names.
const char* CheckProto(const IpFilter& ip) {
  if (ip.invflags & kInvProto)
    throw ParseError(
        "multiport only works with TCP, UDP, UDPLITE, SCTP and DCCP");
  if (const char* name = ProtoName(ip.proto)) return name;
  if (ip.proto == 0)
    throw ParseError(
        "multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or "
        "`-p dccp'");
  throw ParseError(
      "multiport only works with TCP, UDP, UDPLITE, SCTP and DCCP");
}

class MultiportMatch : public Match {
 public:
  void Parse(OptCall& c) override {
    const char* proto = CheckProto(*c.env->ip);
    ParseList(*c.env->resolver, c.arg, proto);
    flags_ = c.id() == kSports   ? kSource
             : c.id() == kDports ? kDestination
                                 : kEither;
    if (c.invert) invert_ = true;
  }

  void FinalCheck(FcheckCall& c) override {
    if (c.xflags == 0) throw ParseError("multiport expection an option");
  }

  void Check(const CheckCtx& c) override {
    const uint16_t p = c.ip->proto;
    const bool proto_ok = p == 6 || p == 17 || p == 136 || p == 132 || p == 33;
    if (!proto_ok || (c.ip->invflags & kInvProto) || flags_ > kEither ||
        count_ > kMaxPorts)
      throw CommitError("multiport: invalid protocol or flags");
  }

  void Save(SaveCtx& s) const override {
    if (invert_) s.out += " !";
    switch (flags_) {
      case kSource:
        s.out += " --sports ";
        break;
      case kDestination:
        s.out += " --dports ";
        break;
      case kEither:
        s.out += " --ports ";
        break;
    }
    for (unsigned i = 0; i < count_; ++i) {
      if (i) s.out += ',';
      s.out += std::to_string(ports_[i]);
      if (pflags_[i]) s.out += fmt::format(":{}", ports_[++i]);
    }
  }

  bool Matches(XtParams& p) const override {
    if (p.fragoff != 0) return false;
    const uint8_t* pp = p.skb->HeaderPointer(p.thoff, 4);
    if (pp == nullptr) {
      // A header we were asked to examine but cannot: drop.
      p.hotdrop = true;
      return false;
    }
    return PortsMatch(Load16(pp), Load16(pp + 2));
  }

 private:
  // ParseList reads "p[,p:q,...]"; a range takes two of the 15 slots.
  void ParseList(const Resolver& r, const std::string& arg, const char* proto) {
    pflags_.fill(0);
    size_t pos = 0;
    unsigned i = 0;
    bool more = true;
    for (; more && i < kMaxPorts; ++i) {
      size_t comma = arg.find(',', pos);
      std::string item = arg.substr(
          pos, comma == std::string::npos ? std::string::npos : comma - pos);
      more = comma != std::string::npos;
      pos = comma + 1;
      size_t colon = item.find(':');
      if (colon != std::string::npos && i == kMaxPorts - 1)
        throw ParseError("too many ports specified");
      ports_[i] = ParsePortFor(r, item.substr(0, colon), proto);
      if (colon != std::string::npos) {
        pflags_[i] = 1;
        ports_[++i] = ParsePortFor(r, item.substr(colon + 1), proto);
        if (ports_[i - 1] >= ports_[i])
          throw ParseError("invalid portrange specified");
      }
    }
    count_ = i;
    if (more) throw ParseError("too many ports specified");
  }

  bool PortsMatch(uint16_t src, uint16_t dst) const {
    for (unsigned i = 0; i < count_; ++i) {
      uint16_t s = ports_[i], e = s;
      if (pflags_[i]) e = ports_[++i];
      const bool src_in = src >= s && src <= e;
      const bool dst_in = dst >= s && dst <= e;
      if ((flags_ == kSource && src_in) || (flags_ == kDestination && dst_in) ||
          (flags_ == kEither && (src_in || dst_in)))
        return !invert_;
    }
    return invert_;
  }

  uint8_t flags_ = 0;
  uint8_t count_ = 0;
  std::array<uint16_t, kMaxPorts> ports_{};
  std::array<uint8_t, kMaxPorts> pflags_{};
  bool invert_ = false;
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "multiport",
    .revision = 1,
    .options = {{"source-ports", kSports, OptType::kString, kOptInvert, kAny},
                {"sports", kSports, OptType::kString, kOptInvert, kAny},
                {"destination-ports", kDports, OptType::kString, kOptInvert,
                 kAny},
                {"dports", kDports, OptType::kString, kOptInvert, kAny},
                {"ports", kPorts, OptType::kString, kOptInvert, kAny}},
    .create = [] { return std::make_unique<MultiportMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
