// icmp match (IPv4): ICMP type and code range (ip_tables' built-in
// icmp_match).
#include <fmt/format.h>
#include <strings.h>

#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

constexpr uint8_t kInvIcmp = 0x01;  // IPT_ICMP_INV

// IcmpName is one symbolic ICMP type of iptables' table, with the code
// range it stands for.
struct IcmpName {
  const char* name;
  uint8_t type, code_min, code_max;
};

const IcmpName kIcmpNames[] = {
    {"any", 0xFF, 0, 0xFF},
    {"echo-reply", 0, 0, 0xFF},
    {"pong", 0, 0, 0xFF},
    {"destination-unreachable", 3, 0, 0xFF},
    {"network-unreachable", 3, 0, 0},
    {"host-unreachable", 3, 1, 1},
    {"protocol-unreachable", 3, 2, 2},
    {"port-unreachable", 3, 3, 3},
    {"fragmentation-needed", 3, 4, 4},
    {"source-route-failed", 3, 5, 5},
    {"network-unknown", 3, 6, 6},
    {"host-unknown", 3, 7, 7},
    {"network-prohibited", 3, 9, 9},
    {"host-prohibited", 3, 10, 10},
    {"TOS-network-unreachable", 3, 11, 11},
    {"TOS-host-unreachable", 3, 12, 12},
    {"communication-prohibited", 3, 13, 13},
    {"host-precedence-violation", 3, 14, 14},
    {"precedence-cutoff", 3, 15, 15},
    {"source-quench", 4, 0, 0xFF},
    {"redirect", 5, 0, 0xFF},
    {"network-redirect", 5, 0, 0},
    {"host-redirect", 5, 1, 1},
    {"TOS-network-redirect", 5, 2, 2},
    {"TOS-host-redirect", 5, 3, 3},
    {"echo-request", 8, 0, 0xFF},
    {"ping", 8, 0, 0xFF},
    {"router-advertisement", 9, 0, 0xFF},
    {"router-solicitation", 10, 0, 0xFF},
    {"time-exceeded", 11, 0, 0xFF},
    {"ttl-exceeded", 11, 0, 0xFF},
    {"ttl-zero-during-transit", 11, 0, 0},
    {"ttl-zero-during-reassembly", 11, 1, 1},
    {"parameter-problem", 12, 0, 0xFF},
    {"ip-header-bad", 12, 0, 0},
    {"required-option-missing", 12, 1, 1},
    {"timestamp-request", 13, 0, 0xFF},
    {"timestamp-reply", 14, 0, 0xFF},
    {"address-mask-request", 17, 0, 0xFF},
    {"address-mask-reply", 18, 0, 0xFF},
};

// ParseRange reads "n" or "n:m" (each 0-255) at the start of s and returns
// the characters used, 0 when there is no number.
size_t ParseRange(const std::string& s, unsigned res[2]) {
  uint64_t v;
  size_t n = StrToU64Prefix(s, v, 0, 255);
  if (n == 0) return 0;
  res[0] = res[1] = unsigned(v);
  if (n < s.size() && s[n] == ':') {
    size_t k = StrToU64Prefix(s.substr(n + 1), v, 0, 255);
    if (k == 0) return 0;
    res[1] = unsigned(v);
    n += 1 + k;
  }
  return n;
}

// ParseIcmpType reads a type name (any unambiguous prefix, case-blind) or
// "type[/code[:code]]", as libxt_icmp.h's parser does.
void ParseIcmpType(const std::string& arg, uint8_t& type, uint8_t code[2]) {
  const IcmpName* match = nullptr;
  for (const IcmpName& n : kIcmpNames) {
    if (strncasecmp(n.name, arg.c_str(), arg.size()) != 0) continue;
    if (match != nullptr)
      throw ParseError("Ambiguous ICMP type `" + arg + "': `" + match->name +
                       "' or `" + n.name + "'?");
    match = &n;
  }
  if (match != nullptr) {
    type = match->type;
    code[0] = match->code_min;
    code[1] = match->code_max;
    return;
  }
  unsigned num[2];
  size_t n = ParseRange(arg, num);
  if (n == 0) throw ParseError("Unknown ICMP type `" + arg + "'");
  if (num[0] != num[1]) throw ParseError("ICMP type range not supported");
  type = uint8_t(num[0]);
  if (n == arg.size()) {
    code[0] = 0;
    code[1] = 255;
    return;
  }
  if (arg[n] != '/')
    throw ParseError(std::string("unknown character ") + arg[n]);
  std::string rest = arg.substr(n + 1);
  size_t k = ParseRange(rest, num);
  if (k == 0) throw ParseError("Unknown ICMP code `" + arg + "'");
  code[0] = uint8_t(num[0]);
  code[1] = uint8_t(num[1]);
  if (k != rest.size())
    throw ParseError(std::string("unknown character ") + rest[k]);
}

class IcmpMatch : public Match {
 public:
  void Parse(OptCall& c) override {
    ParseIcmpType(c.arg, type_, code_);
    if (c.invert) invflags_ |= kInvIcmp;
  }

  void Check(const CheckCtx& c) override {
    if (invflags_ & ~kInvIcmp) throw CommitError("icmp: unknown invflags");
  }

  void Save(SaveCtx& s) const override {
    if (invflags_ & kInvIcmp) s.out += " !";
    // Type 255 is iptables' "any" (the struct's initial value).
    if (type_ == 0xFF) {
      s.out += " --icmp-type any";
      return;
    }
    s.out += fmt::format(" --icmp-type {}", type_);
    if (code_[0] != 0 || code_[1] != 0xFF)
      s.out += fmt::format("/{}", code_[0]);
  }

  bool Matches(XtParams& p) const override {
    if (p.fragoff != 0) return false;
    const uint8_t* ic = p.skb->HeaderPointer(p.thoff, 8);
    if (ic == nullptr) {
      // A header we were asked to examine but cannot: drop.
      p.hotdrop = true;
      return false;
    }
    bool m = type_ == 0xFF ||
             (ic[0] == type_ && ic[1] >= code_[0] && ic[1] <= code_[1]);
    return m ^ bool(invflags_ & kInvIcmp);
  }

 private:
  uint8_t type_ = 0xFF;
  uint8_t code_[2] = {0, 0xFF};
  uint8_t invflags_ = 0;
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "icmp",
    .family = Family::kIPv4,
    .options = {{"icmp-type", 0, OptType::kString, kOptMand | kOptInvert}},
    .proto = 1,
    .create = [] { return std::make_unique<IcmpMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
