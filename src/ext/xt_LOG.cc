// LOG target: options as iptables 1.8.9's libxt_LOG, checks as the
// kernel's xt_LOG, and the log line nf_log_syslog prints.
#include "ext/xt_LOG.h"

#include <fmt/format.h>

#include "core/host.h"
#include "core/xt.h"

namespace netfence::ext {

using namespace netfence::core;

namespace {

// LogBuf is nf_log_buf: text past S_SIZE (1024 - 5 bytes, two of which
// hold the level marker) is cut off.
class LogBuf {
 public:
  template <typename... Args>
  void Add(fmt::format_string<Args...> f, Args&&... args) {
    if (s_.size() >= kMax) return;
    s_ += fmt::format(f, std::forward<Args>(args)...);
    if (s_.size() > kMax) s_.resize(kMax);
  }
  const std::string& str() const { return s_; }

 private:
  static constexpr size_t kMax = 1024 - 5 - 1 - 2;
  std::string s_;
};

// Reader gives the bounds-checked view skb_header_pointer gives.
struct Reader {
  const std::vector<uint8_t>& d;
  const uint8_t* At(size_t off, size_t len) const {
    if (off > d.size() || len > d.size() - off) return nullptr;
    return d.data() + off;
  }
  unsigned Left(size_t off) const { return unsigned(d.size() - off); }
};

std::string Ipv4Text(const uint8_t* a) {
  return fmt::format("{}.{}.{}.{}", a[0], a[1], a[2], a[3]);
}

// Ipv6Text is %pI6: eight groups of four hex digits, never compressed.
std::string Ipv6Text(const uint8_t* a) {
  std::string s;
  for (int i = 0; i < 16; i += 2) {
    if (i) s += ':';
    s += fmt::format("{:02x}{:02x}", a[i], a[i + 1]);
  }
  return s;
}

std::string MacText(const std::array<uint8_t, 6>& m) {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1],
                     m[2], m[3], m[4], m[5]);
}

void HexBytes(LogBuf& m, const uint8_t* p, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s += fmt::format("{:02X}", p[i]);
  m.Add("{}", s);
}

// DumpTcp is nf_log_dump_tcp_header; true when the dump must stop there.
bool DumpTcp(LogBuf& m, const Reader& r, bool fragment, size_t off,
             uint8_t flags) {
  m.Add("PROTO=TCP ");
  if (fragment) return false;
  const uint8_t* th = r.At(off, 20);
  if (th == nullptr) {
    m.Add("INCOMPLETE [{} bytes] ", r.Left(off));
    return true;
  }
  m.Add("SPT={} DPT={} ", Load16(th), Load16(th + 2));
  if (flags & kLogTcpSeq)
    m.Add("SEQ={} ACK={} ", Load32(th + 4), Load32(th + 8));
  m.Add("WINDOW={} ", Load16(th + 14));
  // TCP_RESERVED_BITS leaves the AE bit out since it got a name.
  m.Add("RES=0x{:02x} ", (th[12] & 0x0e) << 2);
  if (th[12] & 0x01) m.Add("AE ");
  static const struct {
    uint8_t bit;
    const char* name;
  } kFlags[] = {{0x80, "CWR "}, {0x40, "ECE "}, {0x20, "URG "}, {0x10, "ACK "},
                {0x08, "PSH "}, {0x04, "RST "}, {0x02, "SYN "}, {0x01, "FIN "}};
  for (const auto& f : kFlags)
    if (th[13] & f.bit) m.Add("{}", f.name);
  m.Add("URGP={} ", Load16(th + 18));
  const unsigned doff = (th[12] >> 4) * 4u;
  if ((flags & kLogTcpOpt) && doff > 20) {
    const uint8_t* op = r.At(off + 20, doff - 20);
    if (op == nullptr) {
      m.Add("OPT (TRUNCATED)");
      return true;
    }
    m.Add("OPT (");
    HexBytes(m, op, doff - 20);
    m.Add(") ");
  }
  return false;
}

// DumpUdp is nf_log_dump_udp_header.
bool DumpUdp(LogBuf& m, const Reader& r, uint8_t proto, bool fragment,
             size_t off) {
  m.Add("{}", proto == 17 ? "PROTO=UDP " : "PROTO=UDPLITE ");
  if (fragment) return false;
  const uint8_t* uh = r.At(off, 8);
  if (uh == nullptr) {
    m.Add("INCOMPLETE [{} bytes] ", r.Left(off));
    return true;
  }
  m.Add("SPT={} DPT={} LEN={} ", Load16(uh), Load16(uh + 2), Load16(uh + 4));
  return false;
}

void DumpUidMark(LogBuf& m, const Packet& skb, uint8_t flags) {
  if ((flags & kLogUid) && skb.sk)
    m.Add("UID={} GID={} ", skb.sk->uid, skb.sk->gid);
  if (skb.mark) m.Add("MARK=0x{:x} ", skb.mark);
}

// kIcmpRequiredLen is nf_log_syslog's minimum ICMP length per type (0: no
// minimum); types past NR_ICMP_TYPES have none either.
constexpr uint8_t kIcmpRequiredLen[19] = {4, 0,  0,  28, 28, 28, 0, 0,  4, 0,
                                          0, 28, 28, 20, 20, 0,  0, 12, 12};

void DumpIpv4(LogBuf& m, const Packet& skb, uint8_t flags, size_t iphoff);

void DumpIcmpv4(LogBuf& m, const Packet& skb, const Reader& r, uint8_t flags,
                size_t iphoff, size_t off) {
  m.Add("PROTO=ICMP ");
  const uint8_t* ich = r.At(off, 8);
  if (ich == nullptr) {
    m.Add("INCOMPLETE [{} bytes] ", r.Left(off));
    return;
  }
  const uint8_t type = ich[0], code = ich[1];
  m.Add("TYPE={} CODE={} ", type, code);
  if (type <= 18 && kIcmpRequiredLen[type] &&
      r.Left(off) < kIcmpRequiredLen[type]) {
    m.Add("INCOMPLETE [{} bytes] ", r.Left(off));
    return;
  }
  switch (type) {
    case 0:
    case 8:
      m.Add("ID={} SEQ={} ", Load16(ich + 4), Load16(ich + 6));
      return;
    case 12:
      m.Add("PARAMETER={} ", ich[4]);
      return;
    case 5:
      m.Add("GATEWAY={} ", Ipv4Text(ich + 4));
      [[fallthrough]];
    case 3:
    case 4:
    case 11:
      if (iphoff == 0) {  // the quoted packet, one level deep only
        m.Add("[");
        DumpIpv4(m, skb, flags, off + 8);
        m.Add("] ");
      }
      if (type == 3 && code == 4) m.Add("MTU={} ", Load16(ich + 6));
      return;
    default:
      return;
  }
}

// DumpIpv4 is dump_ipv4_packet for the header at iphoff (0: the packet,
// else the datagram an ICMP error quotes).
void DumpIpv4(LogBuf& m, const Packet& skb, uint8_t flags, size_t iphoff) {
  const Reader r{skb.data};
  const uint8_t* ih = r.At(iphoff, 20);
  if (ih == nullptr) {
    m.Add("TRUNCATED");
    return;
  }
  m.Add("SRC={} DST={} ", Ipv4Text(ih + 12), Ipv4Text(ih + 16));
  m.Add("LEN={} TOS=0x{:02X} PREC=0x{:02X} TTL={} ID={} ", Load16(ih + 2),
        ih[1] & 0x1e, ih[1] & 0xe0, ih[8], Load16(ih + 4));
  const uint16_t frag = Load16(ih + 6);
  if (frag & 0x8000) m.Add("CE ");
  if (frag & 0x4000) m.Add("DF ");
  if (frag & 0x2000) m.Add("MF ");
  if (frag & 0x1fff) m.Add("FRAG:{} ", frag & 0x1fff);
  const unsigned ihl = (ih[0] & 0x0f) * 4u;
  if ((flags & kLogIpOpt) && ihl > 20) {
    const uint8_t* op = r.At(iphoff + 20, ihl - 20);
    if (op == nullptr) {
      m.Add("TRUNCATED");
      return;
    }
    m.Add("OPT (");
    HexBytes(m, op, ihl - 20);
    m.Add(") ");
  }
  const bool fragment = frag & 0x1fff;
  const size_t off = iphoff + ihl;
  switch (ih[9]) {
    case 6:
      if (DumpTcp(m, r, fragment, off, flags)) return;
      break;
    case 17:
    case 136:
      if (DumpUdp(m, r, ih[9], fragment, off)) return;
      break;
    case 1:
      if (!fragment)
        DumpIcmpv4(m, skb, r, flags, iphoff, off);
      else
        m.Add("PROTO=ICMP ");
      break;
    case 51: {
      if (fragment) break;  // the kernel names no protocol here
      m.Add("PROTO=AH ");
      const uint8_t* ah = r.At(off, 12);
      if (ah == nullptr)
        m.Add("INCOMPLETE [{} bytes] ", r.Left(off));
      else
        m.Add("SPI=0x{:x} ", Load32(ah + 4));
      break;
    }
    case 50: {
      m.Add("PROTO=ESP ");
      if (fragment) break;
      const uint8_t* eh = r.At(off, 8);
      if (eh == nullptr)
        m.Add("INCOMPLETE [{} bytes] ", r.Left(off));
      else
        m.Add("SPI=0x{:x} ", Load32(eh));
      break;
    }
    default:
      m.Add("PROTO={} ", ih[9]);
  }
  if (iphoff == 0) DumpUidMark(m, skb, flags);
}

// IsIpv6ExtHeader is nf_ip6_ext_hdr: the headers dump_ipv6_packet walks.
bool IsIpv6ExtHeader(uint8_t h) {
  return h == 0 || h == 43 || h == 44 || h == 50 || h == 51 || h == 59 ||
         h == 60;
}

// DumpIpv6 is dump_ipv6_packet for the header at ip6hoff; recurse is
// false inside a quoted packet.
void DumpIpv6(LogBuf& m, const Packet& skb, uint8_t flags, size_t ip6hoff,
              bool recurse) {
  const Reader r{skb.data};
  const uint8_t* ih = r.At(ip6hoff, 40);
  if (ih == nullptr) {
    m.Add("TRUNCATED");
    return;
  }
  const uint32_t w = Load32(ih);
  m.Add("SRC={} DST={} ", Ipv6Text(ih + 8), Ipv6Text(ih + 24));
  m.Add("LEN={} TC={} HOPLIMIT={} FLOWLBL={} ", Load16(ih + 4) + 40,
        (w & 0x0ff00000) >> 20, ih[7], w & 0x000fffff);
  const bool ipopt = flags & kLogIpOpt;
  bool fragment = false;
  size_t ptr = ip6hoff + 40;
  uint8_t cur = ih[6];
  while (cur != 59 && IsIpv6ExtHeader(cur)) {
    const uint8_t* hp = r.At(ptr, 2);
    if (hp == nullptr) {
      m.Add("TRUNCATED");
      return;
    }
    if (ipopt) m.Add("OPT ( ");
    size_t hdrlen = 0;
    switch (cur) {
      case 44: {
        m.Add("FRAG:");
        const uint8_t* fh = r.At(ptr, 8);
        if (fh == nullptr) {
          m.Add("TRUNCATED ");
          return;
        }
        const uint16_t fo = Load16(fh + 2);
        m.Add("{} ", fo & 0xfff8);
        if (fo & 1) m.Add("INCOMPLETE ");
        m.Add("ID:{:08x} ", Load32(fh + 4));
        if (fo & 0xfff8) fragment = true;
        hdrlen = 8;
        break;
      }
      case 60:
      case 43:
      case 0:
        if (fragment) {
          if (ipopt) m.Add(")");
          return;
        }
        hdrlen = (hp[1] + 1) * 8u;
        break;
      case 51:
        if (ipopt) {
          m.Add("AH ");
          if (fragment) {
            m.Add(")");
            return;
          }
          const uint8_t* ah = r.At(ptr, 12);
          if (ah == nullptr) {
            m.Add("INCOMPLETE [{} bytes] )", r.Left(ptr));
            return;
          }
          m.Add("SPI=0x{:x} ", Load32(ah + 4));
        }
        hdrlen = (hp[1] + 2) * 4u;
        break;
      case 50:
        if (ipopt) {
          m.Add("ESP ");
          if (fragment) {
            m.Add(")");
            return;
          }
          const uint8_t* eh = r.At(ptr, 8);
          if (eh == nullptr) {
            m.Add("INCOMPLETE [{} bytes] )", r.Left(ptr));
            return;
          }
          m.Add("SPI=0x{:x} )", Load32(eh));
        }
        return;
      default:
        m.Add("Unknown Ext Hdr {}", cur);
        return;
    }
    if (ipopt) m.Add(") ");
    cur = hp[0];
    ptr += hdrlen;
  }
  switch (cur) {
    case 6:
      if (DumpTcp(m, r, fragment, ptr, flags)) return;
      break;
    case 17:
    case 136:
      if (DumpUdp(m, r, cur, fragment, ptr)) return;
      break;
    case 58: {
      m.Add("PROTO=ICMPv6 ");
      if (fragment) break;
      const uint8_t* ic = r.At(ptr, 8);
      if (ic == nullptr) {
        m.Add("INCOMPLETE [{} bytes] ", r.Left(ptr));
        return;
      }
      m.Add("TYPE={} CODE={} ", ic[0], ic[1]);
      switch (ic[0]) {
        case 128:
        case 129:
          m.Add("ID={} SEQ={} ", Load16(ic + 4), Load16(ic + 6));
          break;
        case 130:
        case 131:
        case 132:
          break;
        case 4:
          m.Add("POINTER={:08x} ", Load32(ic + 4));
          [[fallthrough]];
        case 1:
        case 2:
        case 3:
          if (recurse) {
            m.Add("[");
            DumpIpv6(m, skb, flags, ptr + 8, false);
            m.Add("] ");
          }
          if (ic[0] == 2) m.Add("MTU={} ", Load32(ic + 4));
          break;
      }
      break;
    }
    default:
      m.Add("PROTO={} ", cur);
  }
  if (recurse) DumpUidMark(m, skb, flags);
}

// DumpMac is dump_mac_header for the device the packet is on: the input
// device, except after routing (POSTROUTING), where skb->dev is the output
// device while the link-layer header is still the one it arrived with.
void DumpMac(LogBuf& m, const Packet& skb, const Interface* dev,
             uint8_t flags) {
  const std::array<uint8_t, 6> kNoMac{};
  const bool loopback = dev != nullptr && dev->loopback;
  const bool ether = dev != nullptr && !loopback && dev->mac != kNoMac;
  const uint16_t proto = skb.family == Family::kIPv4 ? 0x0800 : 0x86dd;
  if ((flags & kLogMacDecode) && ether) {
    if (!skb.has_mac) return;
    m.Add("MACSRC={} MACDST={} ", MacText(skb.src_mac), MacText(skb.dst_mac));
    m.Add("MACPROTO={:04x} ", proto);
    return;
  }
  m.Add("MAC=");
  // Loopback carries an all-zero Ethernet header; a device without a
  // hardware address (tun, ppp) carries none.
  if (loopback || (ether && skb.has_mac)) {
    const auto& dst = skb.has_mac ? skb.dst_mac : kNoMac;
    const auto& src = skb.has_mac ? skb.src_mac : kNoMac;
    m.Add("{}:{}:{:02x}:{:02x}", MacText(dst), MacText(src), proto >> 8,
          proto & 0xff);
  }
  m.Add(" ");
}

}  // namespace

std::string FormatLogLine(const Packet& skb, Hook hook, const Interface* in,
                          const Interface* out, const std::string& prefix,
                          uint8_t logflags) {
  LogBuf m;
  m.Add("{}IN={} OUT={} ", prefix, in ? in->name : "", out ? out->name : "");
  if (in != nullptr)
    DumpMac(m, skb, hook == Hook::kPostrouting && out ? out : in, logflags);
  if (skb.family == Family::kIPv4)
    DumpIpv4(m, skb, logflags, 0);
  else
    DumpIpv6(m, skb, logflags, 0, true);
  return m.str();
}

namespace {

// The option ids are the XT_LOG_* bit positions, as libxt_LOG numbers them.
enum OptId : unsigned {
  kTcpSeq = 0,
  kTcpOpts = 1,
  kIpOpts = 2,
  kUid = 3,
  kMacDecode = 5,
  kLevel = 6,
  kPrefix = 7,
};

constexpr uint8_t kDefaultLevel = 4;  // LOG_WARNING
constexpr size_t kPrefixMax = 29;     // xt_log_info.prefix[30]

class LogTarget : public Target {
 public:
  void Parse(OptCall& c) override {
    switch (c.id()) {
      case kLevel:
        level_ = c.val.syslog_level;
        break;
      case kPrefix:
        // iptables checks the whole argument, then keeps what fits.
        if (c.arg.find('\n') != std::string::npos)
          throw ParseError("Newlines not allowed in --log-prefix");
        prefix_ = c.arg.substr(0, kPrefixMax);
        break;
      default:
        flags_ |= 1u << c.id();
    }
  }

  void Check(const CheckCtx& c) override {
    if (level_ >= 8)
      throw CommitError("x_tables: LOG target: level " +
                        std::to_string(level_) + " >= 8");
  }

  void Save(SaveCtx& s) const override {
    if (!prefix_.empty()) {
      s.out += " --log-prefix";
      SaveString(s.out, prefix_);
    }
    if (level_ != kDefaultLevel)
      s.out += fmt::format(" --log-level {}", level_);
    if (flags_ & kLogTcpSeq) s.out += " --log-tcp-sequence";
    if (flags_ & kLogTcpOpt) s.out += " --log-tcp-options";
    if (flags_ & kLogIpOpt) s.out += " --log-ip-options";
    if (flags_ & kLogUid) s.out += " --log-uid";
    if (flags_ & kLogMacDecode) s.out += " --log-macdecode";
  }

  Verdict Run(XtParams& p) const override {
    if (p.svc != nullptr && p.skb != nullptr) {
      const HookState* st = p.state;
      p.svc->Log(FormatLogLine(*p.skb, st ? st->hook : Hook::kPrerouting,
                               st ? st->in : nullptr, st ? st->out : nullptr,
                               prefix_, flags_));
    }
    return Verdict::kContinue;
  }

 private:
  uint8_t level_ = kDefaultLevel;
  uint8_t flags_ = 0;
  std::string prefix_;
};

std::vector<OptionEntry> LogOptions() {
  return {{"log-level", kLevel, OptType::kSyslogLevel},
          {"log-prefix", kPrefix, OptType::kString, 0, 0, 0, 1},
          {"log-tcp-sequence", kTcpSeq, OptType::kNone},
          {"log-tcp-options", kTcpOpts, OptType::kNone},
          {"log-ip-options", kIpOpts, OptType::kNone},
          {"log-uid", kUid, OptType::kNone},
          {"log-macdecode", kMacDecode, OptType::kNone}};
}

// The kernel registers LOG once per family; iptables' libxt_LOG serves both.
NETFENCE_REGISTER(RegisterTarget({
    .name = "LOG",
    .family = Family::kIPv4,
    .options = LogOptions(),
    .create = [] { return std::make_unique<LogTarget>(); },
}));

NETFENCE_REGISTER(RegisterTarget({
    .name = "LOG",
    .family = Family::kIPv6,
    .options = LogOptions(),
    .create = [] { return std::make_unique<LogTarget>(); },
}));

}  // namespace
}  // namespace netfence::ext

// TRACE lines print the same packet dump as LOG.
NETFENCE_REGISTER(
    netfence::core::RegisterPacketDump(&netfence::ext::FormatLogLine));
