// icmp6 match (IPv6): ICMPv6 type and code range (ip6_tables' built-in
// icmp6_match).
#include <fmt/format.h>
#include <strings.h>

#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

constexpr uint8_t kInvIcmp = 0x01;  // IP6T_ICMP_INV

// IcmpName is one symbolic ICMPv6 type of iptables' table, with the code
// range it stands for.
struct IcmpName {
  const char* name;
  uint8_t type, code_min, code_max;
};

const IcmpName kIcmpNames[] = {
    {"destination-unreachable", 1, 0, 0xFF},
    {"no-route", 1, 0, 0},
    {"communication-prohibited", 1, 1, 1},
    {"beyond-scope", 1, 2, 2},
    {"address-unreachable", 1, 3, 3},
    {"port-unreachable", 1, 4, 4},
    {"failed-policy", 1, 5, 5},
    {"reject-route", 1, 6, 6},
    {"packet-too-big", 2, 0, 0xFF},
    {"time-exceeded", 3, 0, 0xFF},
    {"ttl-exceeded", 3, 0, 0xFF},
    {"ttl-zero-during-transit", 3, 0, 0},
    {"ttl-zero-during-reassembly", 3, 1, 1},
    {"parameter-problem", 4, 0, 0xFF},
    {"bad-header", 4, 0, 0},
    {"unknown-header-type", 4, 1, 1},
    {"unknown-option", 4, 2, 2},
    {"echo-request", 128, 0, 0xFF},
    {"ping", 128, 0, 0xFF},
    {"echo-reply", 129, 0, 0xFF},
    {"pong", 129, 0, 0xFF},
    {"router-solicitation", 133, 0, 0xFF},
    {"router-advertisement", 134, 0, 0xFF},
    {"neighbour-solicitation", 135, 0, 0xFF},
    {"neighbor-solicitation", 135, 0, 0xFF},
    {"neighbour-advertisement", 136, 0, 0xFF},
    {"neighbor-advertisement", 136, 0, 0xFF},
    {"redirect", 137, 0, 0xFF},
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
      throw ParseError("Ambiguous ICMPv6 type `" + arg + "': `" + match->name +
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
  if (n == 0) throw ParseError("Unknown ICMPv6 type `" + arg + "'");
  if (num[0] != num[1]) throw ParseError("ICMPv6 type range not supported");
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
  if (k == 0) throw ParseError("Unknown ICMPv6 code `" + arg + "'");
  code[0] = uint8_t(num[0]);
  code[1] = uint8_t(num[1]);
  if (k != rest.size())
    throw ParseError(std::string("unknown character ") + rest[k]);
}

class Icmp6Match : public Match {
 public:
  void Parse(OptCall& c) override {
    ParseIcmpType(c.arg, type_, code_);
    if (c.invert) invflags_ |= kInvIcmp;
  }

  void Check(const CheckCtx& c) override {
    if (invflags_ & ~kInvIcmp) throw CommitError("icmp6: unknown invflags");
  }

  void Save(SaveCtx& s) const override {
    if (invflags_ & kInvIcmp) s.out += " !";
    s.out += fmt::format(" --icmpv6-type {}", type_);
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
    // Unlike IPv4, type 255 is no wildcard here.
    bool m = ic[0] == type_ && ic[1] >= code_[0] && ic[1] <= code_[1];
    return m ^ bool(invflags_ & kInvIcmp);
  }

 private:
  uint8_t type_ = 0;
  uint8_t code_[2] = {0, 0xFF};
  uint8_t invflags_ = 0;
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "icmp6",
    .family = Family::kIPv6,
    .options = {{"icmpv6-type", 0, OptType::kString, kOptMand | kOptInvert}},
    .proto = 58,
    .create = [] { return std::make_unique<Icmp6Match>(); },
}));

}  // namespace
}  // namespace netfence::ext
