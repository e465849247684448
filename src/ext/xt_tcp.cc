// tcp match: ports, flags and options of a TCP header (xt_tcpudp).
#include <fmt/format.h>

#include <cstring>

#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum : uint8_t {
  kInvSrcPt = 0x01,
  kInvDstPt = 0x02,
  kInvFlags = 0x04,
  kInvOption = 0x08,
};

enum OptId : unsigned { kSport = 1, kDport, kSyn, kFlags, kOption };

const struct {
  const char* name;
  uint8_t flag;
} kFlagNames[] = {{"FIN", 0x01}, {"SYN", 0x02}, {"RST", 0x04},
                  {"PSH", 0x08}, {"ACK", 0x10}, {"URG", 0x20},
                  {"ALL", 0x3f}, {"NONE", 0}};

uint8_t ParseFlags(const std::string& s) {
  uint8_t ret = 0;
  size_t p = 0;
  while (p <= s.size()) {
    size_t e = s.find(',', p);
    std::string tok = s.substr(p, e == std::string::npos ? e : e - p);
    p = e == std::string::npos ? s.size() + 1 : e + 1;
    if (tok.empty()) continue;  // strtok skips empty fields
    bool found = false;
    for (const auto& f : kFlagNames) {
      if (strcasecmp(f.name, tok.c_str()) == 0) {
        ret |= f.flag;
        found = true;
        break;
      }
    }
    if (!found) throw ParseError("Unknown TCP flag `" + tok + "'");
  }
  return ret;
}

void PrintFlags(std::string& out, uint8_t flags) {
  bool have = false;
  while (flags) {
    size_t i = 0;
    while ((flags & kFlagNames[i].flag) == 0) ++i;
    if (have) out += ',';
    out += kFlagNames[i].name;
    have = true;
    flags &= ~kFlagNames[i].flag;
  }
  if (!have) out += "NONE";
}

// ParsePorts reads "a", "a:b", ":b", "a:" with service names for proto.
void ParsePorts(const Resolver& r, const std::string& s, const char* proto,
                uint16_t ports[2]) {
  size_t colon = s.find(':');
  if (colon == std::string::npos) {
    ports[0] = ports[1] = ParsePortFor(r, s, proto);
    return;
  }
  std::string lo = s.substr(0, colon), hi = s.substr(colon + 1);
  ports[0] = lo.empty() ? 0 : ParsePortFor(r, lo, proto);
  ports[1] = hi.empty() ? 0xffff : ParsePortFor(r, hi, proto);
  if (ports[0] > ports[1]) throw ParseError("invalid portrange (min > max)");
}

void SavePorts(std::string& out, const char* opt, const uint16_t p[2],
               bool inv) {
  if (p[0] == 0 && p[1] == 0xffff) return;
  if (inv) out += " !";
  if (p[0] != p[1])
    out += fmt::format(" {} {}:{}", opt, p[0], p[1]);
  else
    out += fmt::format(" {} {}", opt, p[0]);
}

bool PortInRange(uint16_t lo, uint16_t hi, uint16_t port, bool inv) {
  return (port >= lo && port <= hi) ^ inv;
}

// FindOption scans the TCP options for kind `want` (tcp_find_option).
bool FindOption(const Packet& skb, unsigned thoff, unsigned optlen,
                uint8_t want, bool& hotdrop) {
  if (optlen == 0) return false;
  const uint8_t* op = skb.HeaderPointer(thoff + 20, optlen);
  if (op == nullptr) {
    hotdrop = true;
    return false;
  }
  for (unsigned i = 0; i < optlen;) {
    if (op[i] == want) return true;
    if (op[i] < 2 || i + 1 >= optlen)
      ++i;
    else
      i += op[i + 1] ? op[i + 1] : 1;
  }
  return false;
}

class TcpMatch : public Match {
 public:
  void Parse(OptCall& c) override {
    const Resolver& r = *c.env->resolver;
    switch (c.id()) {
      case kSport:
        if (flags_ & 1) throw ParseError("Only one `--source-port' allowed");
        ParsePorts(r, c.arg, "tcp", spts_);
        if (c.invert) invflags_ |= kInvSrcPt;
        flags_ |= 1;
        break;
      case kDport:
        if (flags_ & 2)
          throw ParseError("Only one `--destination-port' allowed");
        ParsePorts(r, c.arg, "tcp", dpts_);
        if (c.invert) invflags_ |= kInvDstPt;
        flags_ |= 2;
        break;
      case kSyn:
      case kFlags:
        if (flags_ & 4)
          throw ParseError("Only one of `--syn' or `--tcp-flags'  allowed");
        if (c.id() == kSyn) {
          flg_mask_ = ParseFlags("SYN,RST,ACK,FIN");
          flg_cmp_ = ParseFlags("SYN");
        } else {
          const auto& argv = *c.argv;
          int& optind = *c.optind;
          if (optind >= int(argv.size()) || argv[optind].empty() ||
              argv[optind][0] == '-' || argv[optind][0] == '!')
            throw ParseError("--tcp-flags requires two args.");
          flg_mask_ = ParseFlags(c.arg);
          flg_cmp_ = ParseFlags(argv[optind]);
          ++optind;
        }
        if (c.invert) invflags_ |= kInvFlags;
        flags_ |= 4;
        break;
      case kOption: {
        if (flags_ & 8) throw ParseError("Only one `--tcp-option' allowed");
        uint64_t v;
        if (!StrToU64(c.arg, v, 1, UINT8_MAX))
          throw ParseError("Bad TCP option \"" + c.arg + "\"");
        option_ = v;
        if (c.invert) invflags_ |= kInvOption;
        flags_ |= 8;
        break;
      }
    }
  }

  void Save(SaveCtx& s) const override {
    SavePorts(s.out, "--sport", spts_, invflags_ & kInvSrcPt);
    SavePorts(s.out, "--dport", dpts_, invflags_ & kInvDstPt);
    if (option_ || (invflags_ & kInvOption)) {
      if (invflags_ & kInvOption) s.out += " !";
      s.out += fmt::format(" --tcp-option {}", option_);
    }
    if (flg_mask_ || (invflags_ & kInvFlags)) {
      if (invflags_ & kInvFlags) s.out += " !";
      s.out += " --tcp-flags ";
      PrintFlags(s.out, flg_mask_);
      s.out += ' ';
      PrintFlags(s.out, flg_cmp_);
    }
  }

  bool Matches(XtParams& p) const override {
    if (p.fragoff != 0) {
      // A non-first fragment at offset 1 would let a scanner rewrite the
      // flags of the first one: the kernel drops it.
      if (p.fragoff == 1) p.hotdrop = true;
      return false;
    }
    const uint8_t* th = p.skb->HeaderPointer(p.thoff, 20);
    if (th == nullptr) {
      p.hotdrop = true;
      return false;
    }
    if (!PortInRange(spts_[0], spts_[1], Load16(th), invflags_ & kInvSrcPt))
      return false;
    if (!PortInRange(dpts_[0], dpts_[1], Load16(th + 2),
                     invflags_ & kInvDstPt))
      return false;
    if ((((th[13] & flg_mask_) == flg_cmp_) ^ bool(invflags_ & kInvFlags)) ==
        0)
      return false;
    if (option_) {
      unsigned doff = th[12] >> 4;
      if (doff * 4 < 20) {
        p.hotdrop = true;
        return false;
      }
      bool found = FindOption(*p.skb, p.thoff, doff * 4 - 20, option_,
                              p.hotdrop);
      if ((found ^ bool(invflags_ & kInvOption)) == 0) return false;
    }
    return true;
  }

 private:
  uint16_t spts_[2] = {0, 0xffff};
  uint16_t dpts_[2] = {0, 0xffff};
  uint8_t option_ = 0;
  uint8_t flg_mask_ = 0, flg_cmp_ = 0;
  uint8_t invflags_ = 0;
  unsigned flags_ = 0;
};

const unsigned kRaw = kOptRaw;

NETFENCE_REGISTER(RegisterMatch({
    .name = "tcp",
    .options = {{"source-port", kSport, OptType::kString, kRaw},
                {"sport", kSport, OptType::kString, kRaw},
                {"destination-port", kDport, OptType::kString, kRaw},
                {"dport", kDport, OptType::kString, kRaw},
                {"syn", kSyn, OptType::kNone, kRaw},
                {"tcp-flags", kFlags, OptType::kString, kRaw},
                {"tcp-option", kOption, OptType::kString, kRaw}},
    .proto = 6,
    .create = [] { return std::make_unique<TcpMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
