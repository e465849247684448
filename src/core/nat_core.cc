#include "core/nat_core.h"

#include <cstring>

#include "core/checksum.h"
#include "core/ct_proto_sctp.h"
#include "core/pktinfo.h"

namespace netfence::core {

namespace {

enum : uint8_t {
  kIcmp = 1,
  kTcp = 6,
  kUdp = 17,
  kDccp = 33,
  kIcmpv6 = 58,
  kSctp = 132,
  kUdplite = 136,
};

constexpr unsigned kRandomAll = kNatProtoRandom | kNatProtoRandomFully;
constexpr unsigned kMaxAttempts = 128;  // NF_NAT_MAX_ATTEMPTS

bool IsIcmpProto(const Tuple& t) {
  return t.proto == kIcmp || t.proto == kIcmpv6;
}

bool PortProto(uint8_t p) {
  return p == kTcp || p == kUdp || p == kUdplite || p == kSctp || p == kDccp;
}

int AddrLen(Family f) { return f == Family::kIPv4 ? 4 : 16; }

int AddrCmp(const Addr& a, const Addr& b, Family f) {
  return std::memcmp(a.b.data(), b.b.data(), AddrLen(f));
}

bool AddrInRange(const Tuple& t, const NatRange& r, NatManip m) {
  const Addr& a = m == NatManip::kSrc ? t.src : t.dst;
  return AddrCmp(a, r.min_addr, t.family) >= 0 &&
         AddrCmp(a, r.max_addr, t.family) <= 0;
}

bool L4InRange(const Tuple& t, NatManip m, uint16_t min, uint16_t max) {
  if (IsIcmpProto(t)) return t.sport >= min && t.sport <= max;
  if (PortProto(t.proto)) {
    uint16_t port = m == NatManip::kSrc ? t.sport : t.dport;
    return port >= min && port <= max;
  }
  return true;
}

// InRange is nf_in_range (used for source manips).
bool InRange(const Tuple& t, const NatRange& r) {
  if ((r.flags & kNatMapIps) && !AddrInRange(t, r, NatManip::kSrc))
    return false;
  if (!(r.flags & kNatProtoSpecified)) return true;
  return L4InRange(t, NatManip::kSrc, r.min_proto, r.max_proto);
}

uint32_t Be32(const Addr& a) { return a.v4(); }

}  // namespace

NatManip ManipForHook(Hook h) {
  return (h == Hook::kPostrouting || h == Hook::kInput) ? NatManip::kSrc
                                                        : NatManip::kDst;
}

bool NatInitialized(const Conn& ct, NatManip m) {
  return ct.status & (m == NatManip::kSrc ? kIpsSrcNatDone : kIpsDstNatDone);
}

bool NatCore::UsedTuple(const Tuple& t, const Conn& ct) const {
  Tuple reply;
  InvertTuple(t, reply);
  return ct_.TupleTaken(reply, ct.zone, &ct);
}

void NatCore::L4UniqueTuple(Tuple& tuple, const NatRange& range, NatManip manip,
                            const Conn& ct, bool* random_choice) {
  uint16_t* key;
  unsigned min, range_size;
  if (IsIcmpProto(tuple)) {
    key = &tuple.sport;
    if (!(range.flags & kNatProtoSpecified)) {
      min = 0;
      range_size = 65536;
    } else {
      min = range.min_proto;
      range_size = unsigned(range.max_proto) - range.min_proto + 1;
    }
  } else if (PortProto(tuple.proto)) {
    key = manip == NatManip::kSrc ? &tuple.sport : &tuple.dport;
    if (!(range.flags & kNatProtoSpecified)) {
      // A destination port is never changed without a range.
      if (manip == NatManip::kDst) return;
      if (*key < 1024) {
        // Ports below 512 stay below 512 (credential passing convention).
        if (*key < 512) {
          min = 1;
          range_size = 511;
        } else {
          min = 600;
          range_size = 1023 - 600 + 1;
        }
      } else {
        min = 1024;
        range_size = 65535 - 1024 + 1;
      }
    } else {
      unsigned lo = range.min_proto, hi = range.max_proto;
      if (hi < lo) std::swap(lo, hi);
      min = lo;
      range_size = hi - lo + 1;
    }
  } else {
    return;
  }
  uint16_t off;
  if (range.flags & kNatProtoOffset) {
    off = uint16_t(*key - range.base_proto);
  } else if ((range.flags & kRandomAll) || manip != NatManip::kDst) {
    off = uint16_t(random_());
    *random_choice = true;
  } else {
    off = 0;
  }
  unsigned attempts = std::min(range_size, kMaxAttempts);
  while (true) {
    for (unsigned i = 0; i < attempts; ++i, ++off) {
      *key = uint16_t(min + off % range_size);
      if (!UsedTuple(tuple, ct)) return;
    }
    if (attempts >= range_size || attempts < 16) return;
    attempts /= 2;
    off = uint16_t(random_());
    *random_choice = true;
  }
}

void NatCore::UniqueTuple(Tuple& tuple, const Tuple& orig,
                          const NatRange& range, const Conn& ct, NatManip manip,
                          bool* random_choice) {
  if (manip == NatManip::kSrc && !(range.flags & kRandomAll)) {
    if (InRange(orig, range)) {
      if (!UsedTuple(orig, ct)) {
        tuple = orig;
        return;
      }
    } else {
      // Reuse the mapping another connection from this source has.
      for (const Conn* other : ct_.SameSource(orig, ct.zone)) {
        Tuple r;
        InvertTuple(other->tuple[kDirReply], r);
        r.dst = orig.dst;
        if (IsIcmpProto(orig)) {
          r.dport = orig.dport;
        } else {
          r.dport = orig.dport;
        }
        if (InRange(r, range)) {
          tuple = r;
          if (!UsedTuple(tuple, ct)) return;
          break;
        }
      }
    }
  }
  tuple = orig;
  if (range.flags & kNatMapIps) {
    Addr& var = manip == NatManip::kSrc ? tuple.src : tuple.dst;
    if (AddrCmp(range.min_addr, range.max_addr, tuple.family) == 0) {
      var = range.min_addr;
    } else {
      // The kernel hashes the addresses with a per-boot secret: any address
      // of the range is a choice it could make.
      *random_choice = true;
      var = range.min_addr;
    }
  }
  if (!(range.flags & kRandomAll)) {
    if (range.flags & kNatProtoSpecified) {
      if (!(range.flags & kNatProtoOffset) &&
          L4InRange(tuple, manip, range.min_proto, range.max_proto) &&
          (range.min_proto == range.max_proto || !UsedTuple(tuple, ct)))
        return;
    } else if (!UsedTuple(tuple, ct)) {
      return;
    }
  }
  L4UniqueTuple(tuple, range, manip, ct, random_choice);
}

Verdict NatCore::SetupInfo(Conn& ct, const NatRange& range, NatManip manip,
                           bool* random_choice) {
  bool dummy = false;
  if (random_choice == nullptr) random_choice = &dummy;
  if (NatInitialized(ct, manip)) return Verdict::kAccept;
  Tuple curr, next;
  InvertTuple(ct.tuple[kDirReply], curr);
  UniqueTuple(next, curr, range, ct, manip, random_choice);
  if (!(next == curr)) {
    Tuple reply;
    InvertTuple(next, reply);
    ct_.AlterReply(ct, reply);
    ct.status |= manip == NatManip::kSrc ? kIpsSrcNat : kIpsDstNat;
  }
  ct.status |= manip == NatManip::kSrc ? kIpsSrcNatDone : kIpsDstNatDone;
  return Verdict::kAccept;
}

Verdict NatCore::NullBinding(Conn& ct, Hook hook, bool* random_choice) {
  const NatManip m = ManipForHook(hook);
  NatRange r;
  r.flags = kNatMapIps;
  r.min_addr = r.max_addr =
      m == NatManip::kSrc ? ct.tuple[kDirReply].dst : ct.tuple[kDirReply].src;
  return SetupInfo(ct, r, m, random_choice);
}

namespace {

// UpdateL4Csum applies an address change to a transport checksum that
// covers the pseudo header.
void PseudoCsum(uint8_t* check, Family f, const uint8_t* from,
                const uint8_t* to) {
  for (int i = 0; i < AddrLen(f); i += 4)
    CsumReplace4(check, Load32(from + i), Load32(to + i));
}

bool ManipL4(Packet& skb, size_t iphdroff, size_t hdroff, const Tuple& t,
             NatManip m) {
  auto& d = skb.data;
  const Family f = skb.family;
  const size_t aoff = f == Family::kIPv4 ? (m == NatManip::kSrc ? 12 : 16)
                                         : (m == NatManip::kSrc ? 8 : 24);
  const uint8_t* old_addr = d.data() + iphdroff + aoff;
  const Addr& na = m == NatManip::kSrc ? t.src : t.dst;
  switch (t.proto) {
    case kTcp: {
      if (d.size() < hdroff + 8) return false;
      // Only 8 bytes are guaranteed inside an ICMP error: the checksum is
      // left alone when the packet is too short to hold it.
      const bool full = d.size() >= hdroff + 20;
      uint8_t* port = d.data() + hdroff + (m == NatManip::kSrc ? 0 : 2);
      const uint16_t oldp = Load16(port);
      const uint16_t newp = m == NatManip::kSrc ? t.sport : t.dport;
      Store16(port, newp);
      if (!full) return true;
      uint8_t* check = d.data() + hdroff + 16;
      PseudoCsum(check, f, old_addr, na.b.data());
      CsumReplace2(check, oldp, newp);
      return true;
    }
    case kUdp:
    case kUdplite: {
      if (d.size() < hdroff + 8) return false;
      uint8_t* port = d.data() + hdroff + (m == NatManip::kSrc ? 0 : 2);
      uint8_t* check = d.data() + hdroff + 6;
      const uint16_t newp = m == NatManip::kSrc ? t.sport : t.dport;
      if (Load16(check) != 0 || t.proto == kUdplite) {
        PseudoCsum(check, f, old_addr, na.b.data());
        CsumReplace2(check, Load16(port), newp);
        if (Load16(check) == 0) Store16(check, 0xffff);
      }
      Store16(port, newp);
      return true;
    }
    case kIcmp: {
      if (d.size() < hdroff + 8) return false;
      const uint8_t type = d[hdroff];
      const bool query = type == 0 || type == 8 || type == 13 || type == 14 ||
                         type == 15 || type == 16 || type == 17 || type == 18;
      if (!query) return true;
      uint8_t* id = d.data() + hdroff + 4;
      CsumReplace2(d.data() + hdroff + 2, Load16(id), t.sport);
      Store16(id, t.sport);
      return true;
    }
    case kIcmpv6: {
      if (d.size() < hdroff + 8) return false;
      uint8_t* check = d.data() + hdroff + 2;
      PseudoCsum(check, f, old_addr, na.b.data());
      const uint8_t type = d[hdroff];
      if (type == 128 || type == 129) {
        uint8_t* id = d.data() + hdroff + 4;
        CsumReplace2(check, Load16(id), t.sport);
        Store16(id, t.sport);
      }
      return true;
    }
    case kSctp: {
      // sctp_manip_pkt: the port, then the CRC32c over the rest of the
      // packet, recomputed whenever the common header is all there (an
      // ICMP error quotes only 8 bytes for sure), whether or not the port
      // changed.
      if (d.size() < hdroff + 8) return false;
      uint8_t* port = d.data() + hdroff + (m == NatManip::kSrc ? 0 : 2);
      Store16(port, m == NatManip::kSrc ? t.sport : t.dport);
      if (d.size() < hdroff + 12) return true;
      const uint32_t crc = SctpChecksum(skb, unsigned(hdroff));
      for (int i = 0; i < 4; ++i) d[hdroff + 8 + i] = uint8_t(crc >> (8 * i));
      return true;
    }
    default:
      // Other protocols (GRE, DCCP) keep their transport header; only the
      // addresses change.
      return true;
  }
}

}  // namespace

bool ManipL3(Packet& skb, size_t iphdroff, const Tuple& target,
             NatManip manip) {
  auto& d = skb.data;
  if (skb.family == Family::kIPv4) {
    if (d.size() < iphdroff + 20) return false;
    const size_t hdroff = iphdroff + (d[iphdroff] & 0x0f) * 4;
    if (!ManipL4(skb, iphdroff, hdroff, target, manip)) return false;
    uint8_t* iph = d.data() + iphdroff;
    uint8_t* field = iph + (manip == NatManip::kSrc ? 12 : 16);
    const Addr& na = manip == NatManip::kSrc ? target.src : target.dst;
    CsumReplace4(iph + 10, Load32(field), Be32(na));
    std::memcpy(field, na.b.data(), 4);
    return true;
  }
  if (d.size() < iphdroff + 40) return false;
  Packet view;
  view.family = Family::kIPv6;
  view.data.assign(d.begin() + iphdroff, d.end());
  unsigned off = 0;
  int frag = 0;
  int nh = Ipv6FindHdr(view, off, -1, &frag, nullptr);
  if (nh >= 0 && frag == 0 &&
      !ManipL4(skb, iphdroff, iphdroff + off, target, manip))
    return false;
  uint8_t* field = d.data() + iphdroff + (manip == NatManip::kSrc ? 8 : 24);
  const Addr& na = manip == NatManip::kSrc ? target.src : target.dst;
  std::memcpy(field, na.b.data(), 16);
  return true;
}

Verdict NatCore::ManipPacket(Packet& skb, Hook hook) {
  Conn* ct = skb.ct;
  if (ct == nullptr) return Verdict::kAccept;
  const NatManip m = ManipForHook(hook);
  const bool reply = skb.ctinfo == CtInfo::kEstablishedReply ||
                     skb.ctinfo == CtInfo::kRelatedReply;
  uint32_t bit = m == NatManip::kSrc ? kIpsSrcNat : kIpsDstNat;
  if (reply) bit ^= (kIpsSrcNat | kIpsDstNat);
  if (!(ct->status & bit)) return Verdict::kAccept;
  Tuple target;
  InvertTuple(ct->tuple[reply ? kDirOriginal : kDirReply], target);
  return ManipL3(skb, 0, target, m) ? Verdict::kAccept : Verdict::kDrop;
}

bool NatCore::IcmpReplyTranslation(Packet& skb, Hook hook) {
  Conn* ct = skb.ct;
  const bool reply = skb.ctinfo == CtInfo::kRelatedReply;
  const CtDir dir = reply ? kDirReply : kDirOriginal;
  const NatManip m = ManipForHook(hook);
  auto& d = skb.data;
  const Family f = skb.family;
  size_t hdrlen;
  if (f == Family::kIPv4) {
    hdrlen = (d[0] & 0x0f) * 4;
  } else {
    unsigned off = 0;
    int frag = 0;
    if (Ipv6FindHdr(skb, off, -1, &frag, nullptr) < 0) return false;
    hdrlen = off;
  }
  if (d.size() < hdrlen + 8 + (f == Family::kIPv4 ? 20 : 40)) return false;
  const uint8_t type = d[hdrlen];
  const bool redirect = f == Family::kIPv4 ? type == 5 : type == 137;
  if (redirect) {
    if ((ct->status & (kIpsSrcNatDone | kIpsDstNatDone)) !=
        (kIpsSrcNatDone | kIpsDstNatDone))
      return false;
    if (ct->status & (kIpsSrcNat | kIpsDstNat)) return false;
  }
  uint32_t bit = m == NatManip::kSrc ? kIpsSrcNat : kIpsDstNat;
  if (reply) bit ^= (kIpsSrcNat | kIpsDstNat);
  if (!(ct->status & bit)) return true;
  // The quoted packet travelled the other way: rewrite it with the other
  // direction's tuple and the opposite manip.
  const NatManip inner_m =
      m == NatManip::kSrc ? NatManip::kDst : NatManip::kSrc;
  if (!ManipL3(skb, hdrlen + 8, ct->tuple[!dir], inner_m)) return false;
  uint8_t* check = d.data() + hdrlen + 2;
  Store16(check, 0);
  uint32_t sum = 0;
  if (f == Family::kIPv6)
    sum = PseudoHeaderV6(d.data() + 8, d.data() + 24, kIcmpv6,
                         uint32_t(d.size() - hdrlen));
  Store16(check,
          CsumFold(CsumPartial(d.data() + hdrlen, d.size() - hdrlen, sum)));
  Tuple target;
  InvertTuple(ct->tuple[!dir], target);
  target.proto = f == Family::kIPv4 ? kIcmp : kIcmpv6;
  return ManipL3(skb, 0, target, m);
}

}  // namespace netfence::core
