#include "core/ct_helper.h"

#include <arpa/inet.h>

#include <cstring>
#include <stdexcept>

#include "core/ct_hash.h"
#include "core/pktinfo.h"

namespace netfence::core {

namespace {

constexpr uint8_t kTcp = 6, kUdp = 17;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
char Lower(char c) { return c >= 'A' && c <= 'Z' ? char(c + 32) : c; }

// CaseEq compares n characters ignoring ASCII case, stopping at a NUL as
// strncasecmp does.
bool CaseEq(const char* a, const char* b, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
    if (a[i] == '\0') return true;
  }
  return true;
}

// Numbers reads count decimal numbers separated by sep and ended by term
// (or, with term 0, by any other character): the characters read up to
// the terminator, or 0 when they do not have that shape. Numbers wrap as
// the kernel's 32-bit ones do.
size_t Numbers(const char* d, size_t n, uint32_t* out, int count, char sep,
               char term) {
  for (int k = 0; k < count; ++k) out[k] = 0;
  int i = 0;
  for (size_t len = 0; len < n && i < count; ++len) {
    const char c = d[len];
    if (IsDigit(c)) {
      out[i] = out[i] * 10 + uint32_t(c - '0');
    } else if (c == sep) {
      ++i;
    } else {
      return ((c == term || term == 0) && i == count - 1) ? len : 0;
    }
  }
  return 0;
}

Addr V4(uint32_t a) {
  Addr r;
  r.b[0] = uint8_t(a >> 24);
  r.b[1] = uint8_t(a >> 16);
  r.b[2] = uint8_t(a >> 8);
  r.b[3] = uint8_t(a);
  return r;
}

// Rfc959 reads "h1,h2,h3,h4,p1,p2".
size_t Rfc959(const char* d, size_t n, FtpCommand& cmd, char term) {
  uint32_t a[6];
  const size_t len = Numbers(d, n, a, 6, ',', term);
  if (len == 0) return 0;
  cmd.addr = V4(a[0] << 24 | a[1] << 16 | a[2] << 8 | a[3]);
  cmd.port = uint16_t(a[4] << 8 | a[5]);
  return len;
}

// Rfc1123 finds the first digit of a 227 reply, then reads as Rfc959 with
// any terminator.
size_t Rfc1123(const char* d, size_t n, FtpCommand& cmd) {
  size_t i = 0;
  while (i < n && !IsDigit(d[i])) ++i;
  if (i == n) return 0;
  return Rfc959(d + i, n - i, cmd, 0);
}

// Port reads a nonzero port from start up to delim: the index after the
// delimiter, or 0.
size_t Port(const char* d, size_t start, size_t n, char delim, uint16_t& port) {
  uint16_t p = 0;
  for (size_t i = start; i < n; ++i) {
    if (d[i] == delim) {
      if (p == 0) return 0;
      port = p;
      return i + 1;
    }
    if (!IsDigit(d[i])) return 0;
    p = uint16_t(p * 10 + (d[i] - '0'));
  }
  return 0;
}

bool BadDelim(char c) { return IsDigit(c) || c < 33 || c > 126; }

// Eprt reads "|1|a.b.c.d|port|" or "|2|v6addr|port|".
size_t Eprt(const char* d, size_t n, FtpCommand& cmd, Family f) {
  if (n <= 3) return 0;
  const char delim = d[0];
  if (BadDelim(delim) || d[2] != delim) return 0;
  if (d[1] != (f == Family::kIPv4 ? '1' : '2')) return 0;
  size_t len = 0;
  if (d[1] == '1') {
    uint32_t a[4];
    len = Numbers(d + 3, n - 3, a, 4, '.', delim);
    if (len != 0) cmd.addr = V4(a[0] << 24 | a[1] << 16 | a[2] << 8 | a[3]);
  } else {
    // The address runs to the delimiter (in6_pton with it as terminator).
    size_t end = 3;
    while (end < n && d[end] != delim) ++end;
    if (end == n || end - 3 > 45) return 0;
    const std::string text(d + 3, end - 3);
    Addr a;
    if (inet_pton(AF_INET6, text.c_str(), a.b.data()) != 1) return 0;
    cmd.addr = a;
    len = end - 3;
  }
  if (len == 0) return 0;
  return Port(d, 3 + len + 1, n, delim, cmd.port);
}

// Epsv reads "|||port|".
size_t Epsv(const char* d, size_t n, FtpCommand& cmd) {
  if (n <= 3) return 0;
  const char delim = d[0];
  if (BadDelim(delim) || d[1] != delim || d[2] != delim) return 0;
  return Port(d, 3, n, delim, cmd.port);
}

enum class FtpParse { kRfc959, kEprt, kRfc1123, kEpsv };

struct FtpPattern {
  const char* text;
  size_t len;
  char skip;  // skipped up to and over before the numbers (0: none)
  char term;
  FtpParse parse;
};

const FtpPattern kPatterns[2][2] = {
    {{"PORT", 4, ' ', '\r', FtpParse::kRfc959},
     {"EPRT", 4, ' ', '\r', FtpParse::kEprt}},
    {{"227 ", 4, 0, 0, FtpParse::kRfc1123},
     {"229 ", 4, '(', ')', FtpParse::kEpsv}},
};

// FindPattern is one pattern on a payload: 1 parsed, 0 absent, -1 partial.
int FindPattern(const char* d, size_t n, const FtpPattern& p, Family f,
                FtpCommand& cmd) {
  if (n <= p.len) return CaseEq(d, p.text, n) ? -1 : 0;
  if (!CaseEq(d, p.text, p.len)) return 0;
  size_t i = p.len;
  if (p.skip) {
    for (; d[i] != p.skip; ++i)
      if (i == n - 1) return -1;
    ++i;
  }
  size_t got = 0;
  switch (p.parse) {
    case FtpParse::kRfc959:
      got = Rfc959(d + i, n - i, cmd, p.term);
      break;
    case FtpParse::kEprt:
      got = Eprt(d + i, n - i, cmd, f);
      break;
    case FtpParse::kRfc1123:
      got = Rfc1123(d + i, n - i, cmd);
      break;
    case FtpParse::kEpsv:
      got = Epsv(d + i, n - i, cmd);
      break;
  }
  return got ? 1 : -1;
}

bool SeqBefore(uint32_t a, uint32_t b) { return int32_t(a - b) < 0; }

// TransportOffset is where nf_confirm finds the transport header; false
// for an IPv6 packet whose header chain cannot be walked or a non-first
// fragment.
bool TransportOffset(const Packet& skb, unsigned& off) {
  if (skb.family == Family::kIPv4) {
    if (skb.data.empty()) return false;
    off = (skb.data[0] & 0x0f) * 4u;
    return true;
  }
  off = 0;
  int frag = 0;
  if (Ipv6FindHdr(skb, off, -1, &frag, nullptr) < 0 || frag != 0) return false;
  return true;
}

[[noreturn]] void NotModelled(const Conn& ct, const std::string& what) {
  throw std::runtime_error("conntrack helper \"" + ct.helper.str() +
                           "\": " + what + " is not modelled");
}

void RefuseNat(const Conn& ct, const char* nat_helper) {
  if (ct.status & (kIpsSrcNat | kIpsDstNat))
    NotModelled(ct, std::string("a NATed connection announcing another (") +
                        nat_helper + " rewrites the payload and expectation)");
}

// The expectation policies of the modelled helpers (max_expected, timeout).
constexpr CtExpectPolicy kFtpPolicy{1, 300};
constexpr CtExpectPolicy kTftpPolicy{1, 300};
constexpr CtExpectPolicy kSanePolicy{1, 300};
constexpr CtExpectPolicy kAmandaPolicy{3, 180};
// nf_conntrack_amanda's master_timeout: a reply refreshes the entry to it.
constexpr double kAmandaMasterTimeout = 300;

// FullMask is an exact source address of the family.
Addr FullMask(Family f) {
  Addr m;
  for (size_t i = 0; i < (f == Family::kIPv4 ? 4u : 16u); ++i) m.b[i] = 0xff;
  return m;
}

}  // namespace

int FtpSearch(std::string_view data, CtDir dir, Family f, FtpCommand& cmd) {
  int found = 0;
  for (const FtpPattern& p : kPatterns[dir]) {
    found = FindPattern(data.data(), data.size(), p, f, cmd);
    if (found) break;
  }
  return found;
}

bool CtHelpers::Adopt(Conn& ct, double now) {
  if (exp_.empty()) return false;
  CtExpectation e;
  if (!exp_.Find(ct.tuple[kDirOriginal], ct.zone, now, &e)) return false;
  ct.status |= kIpsExpected;
  ConnSlab::Hold(e.master);  // released when ct is destroyed (~Conn)
  ct.master = e.master;
  ct.mark = e.master->mark.load();
  ct.secmark = e.master->secmark;
  return true;
}

void CtHelpers::Forget(const Conn* ct) {
  if (!exp_.empty()) exp_.RemoveMaster(ct);
  if (!ftp_.empty()) ftp_.erase(ct);
  if (!sane_.empty()) sane_.erase(ct);
}

Verdict CtHelpers::Help(const CtHelperPacket& p) {
  const Conn& ct = *p.ct;
  const std::string& name = ct.helper;
  if (name.empty() || p.ctinfo == CtInfo::kRelatedReply)
    return Verdict::kAccept;
  unsigned protoff = 0;
  if (!TransportOffset(*p.skb, protoff)) return Verdict::kAccept;
  if (name == "ftp") return Ftp(p, protoff);
  if (name == "tftp") return Tftp(p, protoff);
  if (name == "netbios-ns") return Broadcast(p, netbios_timeout);
  if (name == "snmp") {
    RefuseNat(ct, "nf_nat_snmp_basic");
    return Broadcast(p, snmp_timeout);
  }
  if (name == "pptp" || name == "irc") return GateTcp(p, protoff);
  if (name == "sane") return Sane(p, protoff);
  if (name == "amanda") return Amanda(p, protoff);
  // Any other helper parses payloads in ways not modelled here; a packet
  // without one (a bare TCP segment) cannot make it do anything.
  const uint8_t proto = ct.tuple[kDirOriginal].proto;
  size_t hdr = proto == kTcp ? 20 : 8;
  if (proto == kTcp && p.skb->HeaderPointer(protoff, 20) != nullptr)
    hdr = (p.skb->data[protoff + 12] >> 4) * 4u;
  if (p.skb->data.size() > protoff + hdr)
    NotModelled(ct, "its payload parsing");
  return Verdict::kAccept;
}

// TcpPayload is the payload of a TCP segment (empty when there is none or
// the header cannot be read).
std::string_view TcpPayload(const Packet& skb, unsigned protoff) {
  const uint8_t* th = skb.HeaderPointer(protoff, 20);
  if (th == nullptr) return {};
  const size_t dataoff = protoff + (th[12] >> 4) * 4u;
  if (dataoff >= skb.data.size()) return {};
  return {reinterpret_cast<const char*>(skb.data.data()) + dataoff,
          skb.data.size() - dataoff};
}

// GateTcp takes the pptp and irc helpers as far as their first test of the
// payload. Most packets stop there with nothing done (no PPTP control
// header, no DCC request), which is what the kernel does too; a packet that
// gets past it would be parsed in ways not modelled, and is refused.
Verdict CtHelpers::GateTcp(const CtHelperPacket& p, unsigned protoff) {
  const Conn& ct = *p.ct;
  // Both look only once traffic went both ways; irc only at the client's.
  if (p.ctinfo != CtInfo::kEstablished && p.ctinfo != CtInfo::kEstablishedReply)
    return Verdict::kAccept;
  if (ct.helper == "irc" && p.ctinfo == CtInfo::kEstablishedReply)
    return Verdict::kAccept;
  const std::string_view data = TcpPayload(*p.skb, protoff);
  if (ct.helper == "pptp") {
    // conntrack_pptp_help: a PPTP header (length, type, magic cookie) of
    // a control message (type 1, cookie 0x1a2b3c4d), or nothing happens.
    const auto* h = reinterpret_cast<const uint8_t*>(data.data());
    if (data.size() < 8 || Load16(h + 2) != 1 || Load32(h + 4) != 0x1a2b3c4d)
      return Verdict::kAccept;
    NotModelled(ct, "a PPTP control message (call tracking, GRE expectations)");
  }
  // irc's help: a DCC request ("\1DCC ") starting before the last 24 bytes
  // of the payload, or nothing happens.
  const size_t at = data.find("\1DCC ");
  if (at == std::string_view::npos || at + 24 >= data.size())
    return Verdict::kAccept;
  NotModelled(ct, "an IRC DCC request (its expectation)");
}

// Expect is an expectation of master ct for a connection of proto from
// t's source address (any port) to t's destination address and dport.
CtExpectation Expect(Conn& ct, const Tuple& t, uint8_t proto, uint16_t dport) {
  CtExpectation e;
  e.tuple.family = t.family;
  e.tuple.proto = proto;
  e.tuple.src = t.src;
  e.tuple.dst = t.dst;
  e.tuple.dport = dport;
  e.src_mask = FullMask(t.family);
  e.master = &ct;
  e.zone = ct.zone;
  return e;
}

// DataExpectation is what sane and amanda expect: a TCP connection from the
// client's address (any port) to the server's address and port.
CtExpectation DataExpectation(Conn& ct, uint16_t port) {
  return Expect(ct, ct.tuple[kDirOriginal], kTcp, port);
}

// Sane is nf_conntrack_sane: a client's SANE_NET_START request (an 8-byte
// RPC, code 7) makes the server's next reply, when it reports success,
// announce the data port.
Verdict CtHelpers::Sane(const CtHelperPacket& p, unsigned protoff) {
  if (p.ctinfo != CtInfo::kEstablished && p.ctinfo != CtInfo::kEstablishedReply)
    return Verdict::kAccept;
  const std::string_view data = TcpPayload(*p.skb, protoff);
  if (data.empty()) return Verdict::kAccept;
  const auto* d = reinterpret_cast<const uint8_t*>(data.data());
  Conn& ct = *p.ct;
  if (p.ctinfo == CtInfo::kEstablished) {
    if (data.size() == 8) sane_[&ct] = Load32(d) == 7;
    return Verdict::kAccept;
  }
  auto it = sane_.find(&ct);
  if (it == sane_.end() || !it->second) return Verdict::kAccept;
  it->second = false;
  // status (4 bytes, 0 = success), zero (2), port (2).
  if (data.size() < 8 || Load32(d) != 0 || Load16(d + 4) != 0)
    return Verdict::kAccept;
  const int r =
      exp_.Related(DataExpectation(ct, Load16(d + 6)), kSanePolicy, p.now);
  return r == 0 ? Verdict::kAccept : Verdict::kDrop;
}

// Amanda is nf_conntrack_amanda: any packet in the reply direction
// refreshes the entry to the master timeout; a "CONNECT " line in it
// announces up to three ports (DATA, MESG, INDEX), each expected from the
// original direction's source to its destination.
Verdict CtHelpers::Amanda(const CtHelperPacket& p, unsigned protoff) {
  if (p.ctinfo != CtInfo::kEstablishedReply) return Verdict::kAccept;
  Conn& ct = *p.ct;
  if (!(ct.status & kIpsFixedTimeout))
    ct.expires = p.now + kAmandaMasterTimeout;
  const Packet& skb = *p.skb;
  const size_t dataoff = protoff + 8;
  if (dataoff >= skb.data.size()) return Verdict::kAccept;
  const std::string_view data(
      reinterpret_cast<const char*>(skb.data.data()) + dataoff,
      skb.data.size() - dataoff);
  size_t start = data.find("CONNECT ");
  if (start == std::string_view::npos) return Verdict::kAccept;
  start += 8;
  const size_t nl = data.find('\n', start);
  if (nl == std::string_view::npos) return Verdict::kAccept;
  const std::string_view line = data.substr(start, nl - start);
  Verdict ret = Verdict::kAccept;
  for (const std::string_view key : {"DATA ", "MESG ", "INDEX "}) {
    size_t off = line.find(key);
    if (off == std::string_view::npos) continue;
    off += key.size();
    // simple_strtoul over at most 5 characters, the value cut to 16 bits.
    unsigned long v = 0;
    size_t n = 0;
    while (off + n < line.size() && n < 5 && line[off + n] >= '0' &&
           line[off + n] <= '9')
      v = v * 10 + unsigned(line[off + n++] - '0');
    const uint16_t port = uint16_t(v);
    if (port == 0) break;
    if (ct.tuple[kDirOriginal].family == Family::kIPv4)
      RefuseNat(ct, "nf_nat_amanda");
    if (exp_.Related(DataExpectation(ct, port), kAmandaPolicy, p.now) != 0)
      ret = Verdict::kDrop;
  }
  return ret;
}

Verdict CtHelpers::Ftp(const CtHelperPacket& p, unsigned protoff) {
  // Until traffic went both ways nothing is parsed.
  if (p.ctinfo != CtInfo::kEstablished && p.ctinfo != CtInfo::kEstablishedReply)
    return Verdict::kAccept;
  const Packet& skb = *p.skb;
  const uint8_t* th = skb.HeaderPointer(protoff, 20);
  if (th == nullptr) return Verdict::kAccept;
  const size_t dataoff = protoff + (th[12] >> 4) * 4u;
  if (dataoff >= skb.data.size()) return Verdict::kAccept;
  Conn& ct = *p.ct;
  const CtDir dir =
      p.ctinfo == CtInfo::kEstablishedReply ? kDirReply : kDirOriginal;
  const CtDir other = dir == kDirOriginal ? kDirReply : kDirOriginal;
  const std::string_view data(
      reinterpret_cast<const char*>(skb.data.data()) + dataoff,
      skb.data.size() - dataoff);
  const bool ends_in_nl = data.back() == '\n';
  const uint32_t start = Load32(th + 4);
  const uint32_t seq = start + uint32_t(data.size());
  FtpState& st = ftp_[&ct];
  Verdict ret = Verdict::kAccept;
  // Commands are only looked for at the start of a line: where an earlier
  // packet of this direction ended with a newline.
  bool at_line = false;
  for (unsigned i = 0; i < st.num[dir]; ++i)
    at_line = at_line || st.seq_aft_nl[dir][i] == start;
  if (at_line) {
    FtpCommand cmd;
    cmd.addr = ct.tuple[dir].src;
    const Family f = ct.tuple[dir].family;
    const int found = FtpSearch(data, dir, f, cmd);
    if (found < 0) return Verdict::kDrop;  // partial: dropped, no line kept
    if (found > 0) {
      Addr daddr = ct.tuple[other].dst;
      bool record = true;
      if (!(cmd.addr == ct.tuple[dir].src)) {
        // An address other than the sender's is only believed with loose=1.
        record = ftp_loose;
        daddr = cmd.addr;
      }
      if (record) {
        RefuseNat(ct, "nf_nat_ftp");
        CtExpectation e;
        e.tuple.family = f;
        e.tuple.proto = kTcp;
        e.tuple.src = ct.tuple[other].src;
        e.tuple.dst = daddr;
        e.tuple.dport = cmd.port;
        e.src_mask = FullMask(f);
        e.master = &ct;
        e.zone = ct.zone;
        if (exp_.Related(e, kFtpPolicy, p.now) != 0) ret = Verdict::kDrop;
      }
    }
  }
  if (ends_in_nl) {
    for (unsigned i = 0; i < st.num[dir]; ++i)
      if (st.seq_aft_nl[dir][i] == seq) return ret;
    if (st.num[dir] < 2) {
      st.seq_aft_nl[dir][st.num[dir]++] = seq;
    } else {
      const int oldest =
          SeqBefore(st.seq_aft_nl[dir][0], st.seq_aft_nl[dir][1]) ? 0 : 1;
      if (SeqBefore(st.seq_aft_nl[dir][oldest], seq))
        st.seq_aft_nl[dir][oldest] = seq;
    }
  }
  return ret;
}

Verdict CtHelpers::Tftp(const CtHelperPacket& p, unsigned protoff) {
  const uint8_t* op = p.skb->HeaderPointer(protoff + 8, 2);
  if (op == nullptr) return Verdict::kAccept;
  const uint16_t opcode = Load16(op);
  if (opcode != 1 && opcode != 2) return Verdict::kAccept;  // RRQ, WRQ
  Conn& ct = *p.ct;
  const Tuple& r = ct.tuple[kDirReply];
  // The transfer comes back from the server's address, any port, to the
  // client's port.
  const CtExpectation e = Expect(ct, r, kUdp, r.dport);
  RefuseNat(ct, "nf_nat_tftp");
  return exp_.Related(e, kTftpPolicy, p.now) == 0 ? Verdict::kAccept
                                                  : Verdict::kDrop;
}

Verdict CtHelpers::Broadcast(const CtHelperPacket& p, double timeout) {
  const Packet& skb = *p.skb;
  Conn& ct = *p.ct;
  // Only a local process's query to a subnet's broadcast address, in the
  // original direction.
  if (!skb.sk.has_value() || p.out == nullptr || skb.family != Family::kIPv4 ||
      skb.data.size() < 20)
    return Verdict::kAccept;
  if (p.ctinfo == CtInfo::kEstablishedReply) return Verdict::kAccept;
  Addr daddr;
  std::memcpy(daddr.b.data(), skb.data.data() + 16, 4);
  unsigned prefix = 0;
  for (const IfAddr& a : p.out->addrs) {
    if (a.family != Family::kIPv4 || a.secondary) continue;
    if (a.broadcast == daddr) {
      prefix = a.prefixlen;
      break;
    }
  }
  if (prefix == 0) return Verdict::kAccept;
  CtExpectation e;
  e.tuple = ct.tuple[kDirReply];
  for (unsigned i = 0; i < prefix; ++i) e.src_mask.b[i / 8] |= 0x80 >> (i % 8);
  e.sport_mask = 0xffff;
  e.permanent = true;
  e.master = &ct;
  e.zone = ct.zone;
  exp_.Related(e, CtExpectPolicy{1, timeout}, p.now);
  if (!(ct.status & kIpsFixedTimeout)) ct.expires = p.now + timeout;
  return Verdict::kAccept;
}

}  // namespace netfence::core
