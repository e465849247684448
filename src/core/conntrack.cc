#include "core/conntrack.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "core/addr.h"
#include "core/checksum.h"
#include "core/pktinfo.h"

namespace netfence::core {

namespace {

enum : uint8_t {
  kProtoIcmp = 1,
  kProtoTcp = 6,
  kProtoUdp = 17,
  kProtoDccp = 33,
  kProtoGre = 47,
  kProtoIcmpv6 = 58,
  kProtoSctp = 132,
  kProtoUdplite = 136,
};

bool HasPorts(uint8_t p) {
  return p == kProtoTcp || p == kProtoUdp || p == kProtoUdplite ||
         p == kProtoSctp || p == kProtoDccp;
}

bool IsIcmp(const Tuple& t) {
  return (t.family == Family::kIPv4 && t.proto == kProtoIcmp) ||
         (t.family == Family::kIPv6 && t.proto == kProtoIcmpv6);
}

// The request/reply pairs ICMP tracks (invmap in the kernel's trackers).
int IcmpInverse(Family f, uint8_t type) {
  if (f == Family::kIPv4) {
    switch (type) {
      case 8: return 0;
      case 0: return 8;
      case 13: return 14;
      case 14: return 13;
      case 15: return 16;
      case 16: return 15;
      case 17: return 18;
      case 18: return 17;
      default: return -1;
    }
  }
  switch (type) {
    case 128: return 129;
    case 129: return 128;
    case 139: return 140;
    case 140: return 139;
    default: return -1;
  }
}

bool IcmpValidNew(Family f, uint8_t type) {
  if (f == Family::kIPv4)
    return type == 8 || type == 13 || type == 15 || type == 17;
  return type == 128 || type == 139;
}

bool IcmpIsError(Family f, uint8_t type) {
  if (f == Family::kIPv4)
    return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
  return type < 128;
}

Addr LoadAddr(const uint8_t* p, Family f) {
  Addr a;
  std::memcpy(a.b.data(), p, f == Family::kIPv4 ? 4 : 16);
  return a;
}

// L4Offset finds the transport header the way get_l4proto does for
// conntrack: -1 for non-first fragments and bogus headers.
int L4Offset(const Packet& skb, size_t base, uint8_t& proto) {
  if (skb.family == Family::kIPv4) {
    const uint8_t* iph = skb.HeaderPointer(base, 20);
    if (iph == nullptr) return -1;
    if (Load16(iph + 6) & 0x1fff) return -1;
    int off = int(base) + (iph[0] & 0x0f) * 4;
    proto = iph[9];
    if (size_t(off) > skb.data.size()) return -1;
    return off;
  }
  if (base != 0) {
    // An inner IPv6 header quoted in an ICMPv6 error: walk from there.
    Packet inner;
    inner.family = Family::kIPv6;
    inner.data.assign(skb.data.begin() + base, skb.data.end());
    int off = L4Offset(inner, 0, proto);
    return off < 0 ? -1 : off + int(base);
  }
  // ipv6_get_l4proto: ipv6_skip_exthdr, so a chain that ends in "no next
  // header" (59) has no transport header and the packet is not tracked.
  const uint8_t* ip6 = skb.HeaderPointer(0, 40);
  if (ip6 == nullptr) return -1;
  uint8_t nh = ip6[6];
  uint16_t frag_off = 0;
  const int off = Ipv6SkipExthdr(skb, 40, nh, frag_off);
  if (off < 0 || (frag_off & ~0x7) != 0) return -1;
  proto = nh;
  return off;
}

bool L4ChecksumOk(const Packet& skb, unsigned dataoff, uint8_t proto) {
  const auto& d = skb.data;
  const uint32_t len = uint32_t(d.size() - dataoff);
  uint32_t sum;
  if (skb.family == Family::kIPv4) {
    sum = proto == kProtoIcmp
              ? 0
              : PseudoHeaderV4(d.data() + 12, d.data() + 16, proto, len);
    return NfIpChecksumOk(d.data() + dataoff, len, sum);
  } else {
    sum = PseudoHeaderV6(d.data() + 8, d.data() + 24, proto, len);
  }
  return CsumFold(CsumPartial(d.data() + dataoff, len, sum)) == 0;
}

const char* ProtoName(uint8_t p) {
  switch (p) {
    case kProtoTcp: return "tcp";
    case kProtoUdp: return "udp";
    case kProtoIcmp: return "icmp";
    case kProtoIcmpv6: return "icmpv6";
    case kProtoSctp: return "sctp";
    case kProtoGre: return "gre";
    case kProtoUdplite: return "udplite";
    case kProtoDccp: return "dccp";
    default: return "unknown";
  }
}

const char* TcpStateName(uint8_t s) {
  static const char* kNames[] = {"NONE",     "SYN_SENT",   "SYN_RECV",
                                 "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT",
                                 "LAST_ACK", "TIME_WAIT",  "CLOSE",
                                 "SYN_SENT2"};
  return s < 10 ? kNames[s] : "UNKNOWN";
}

std::string FormatTuple(const Tuple& t) {
  std::string s = fmt::format("src={} dst={} ", FormatAddr(t.family, t.src),
                              FormatAddr(t.family, t.dst));
  if (IsIcmp(t))
    s += fmt::format("type={} code={} id={} ", t.dport >> 8, t.dport & 0xff,
                     t.sport);
  else if (HasPorts(t.proto))
    s += fmt::format("sport={} dport={} ", t.sport, t.dport);
  return s;
}

// Jiffies snaps a time to the kernel's clock tick (HZ=250 on these
// machines): timeouts start and end on ticks, as nfct_time_stamp does.
double Jiffies(double t) { return std::floor(t * 250 + 1e-7) / 250; }

}  // namespace

size_t TupleKeyHash::operator()(const TupleKey& k) const {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](const uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  };
  mix(k.t.src.b.data(), 16);
  mix(k.t.dst.b.data(), 16);
  uint8_t rest[8] = {uint8_t(k.t.sport >> 8), uint8_t(k.t.sport),
                     uint8_t(k.t.dport >> 8), uint8_t(k.t.dport),
                     k.t.proto, uint8_t(k.t.family), uint8_t(k.zone >> 8),
                     uint8_t(k.zone)};
  mix(rest, 8);
  return size_t(h);
}

bool InvertTuple(const Tuple& in, Tuple& out) {
  out = in;
  out.src = in.dst;
  out.dst = in.src;
  if (IsIcmp(in)) {
    int inv = IcmpInverse(in.family, uint8_t(in.dport >> 8));
    if (inv < 0) return false;
    out.sport = in.sport;
    out.dport = uint16_t(inv << 8 | (in.dport & 0xff));
    return true;
  }
  out.sport = in.dport;
  out.dport = in.sport;
  return true;
}

const char* CtStateName(const Packet& skb) {
  if (skb.ctinfo == CtInfo::kUntracked && skb.ct == nullptr) return "untracked";
  if (skb.ct == nullptr) return "invalid";
  switch (skb.ctinfo) {
    case CtInfo::kNew:
      return "new";
    case CtInfo::kRelated:
    case CtInfo::kRelatedReply:
      return "related";
    default:
      return "established";
  }
}

const TcpConnState Conn::kNoTcp{};

namespace {

// The helper names CtHelperName ids stand for: id 0 is "", names are
// added, never removed. Readers index chunks without the lock (a name is
// published before its id is).
struct HelperNames {
  static constexpr size_t kChunk = 256;
  std::mutex mu;
  std::unordered_map<std::string, uint16_t> ids;
  std::atomic<std::string*> chunks[65536 / kChunk] = {};
  size_t count = 0;
};

HelperNames& Helpers() {
  static HelperNames* h = [] {
    auto* n = new HelperNames;  // never destroyed, like the entries
    auto* first = new std::string[HelperNames::kChunk];
    n->chunks[0].store(first, std::memory_order_release);
    n->ids.emplace("", 0);
    n->count = 1;
    return n;
  }();
  return *h;
}

}  // namespace

uint16_t CtHelperName::Intern(std::string_view name) {
  if (name.empty()) return 0;
  HelperNames& h = Helpers();
  std::lock_guard<std::mutex> lock(h.mu);
  auto it = h.ids.find(std::string(name));
  if (it != h.ids.end()) return it->second;
  if (h.count == 65536) throw std::length_error("too many helper names");
  const size_t id = h.count++;
  const size_t c = id / HelperNames::kChunk;
  if (h.chunks[c].load(std::memory_order_relaxed) == nullptr)
    h.chunks[c].store(new std::string[HelperNames::kChunk],
                      std::memory_order_release);
  h.chunks[c].load()[id % HelperNames::kChunk] = std::string(name);
  h.ids.emplace(std::string(name), uint16_t(id));
  return uint16_t(id);
}

const std::string& CtHelperName::Name(uint16_t id) {
  const HelperNames& h = Helpers();
  return h.chunks[id / HelperNames::kChunk].load(
      std::memory_order_acquire)[id % HelperNames::kChunk];
}

Conntrack::Conntrack(CtConfig cfg) : cfg_(std::move(cfg)) {}
Conntrack::~Conntrack() {
  for (uint32_t id : conns_) ConnSlab::Release(ConnSlab::At(id));
}

bool Conntrack::GetTuple(const Packet& skb, unsigned dataoff, uint8_t proto,
                         Tuple& t) const {
  t = Tuple{};
  t.family = skb.family;
  t.proto = proto;
  // The addresses come from the IP header that precedes dataoff: for a
  // quoted inner packet the caller passes a packet view starting there.
  const size_t l3 = 0;
  if (skb.family == Family::kIPv4) {
    t.src = LoadAddr(skb.data.data() + l3 + 12, Family::kIPv4);
    t.dst = LoadAddr(skb.data.data() + l3 + 16, Family::kIPv4);
  } else {
    t.src = LoadAddr(skb.data.data() + l3 + 8, Family::kIPv6);
    t.dst = LoadAddr(skb.data.data() + l3 + 24, Family::kIPv6);
  }
  if (IsIcmp(t)) {
    const uint8_t* h = skb.HeaderPointer(dataoff, 8);
    if (h == nullptr) return false;
    t.dport = uint16_t(h[0] << 8 | h[1]);
    t.sport = Load16(h + 4);
    return true;
  }
  if (HasPorts(proto)) {
    const uint8_t* h = skb.HeaderPointer(dataoff, 4);
    if (h == nullptr) return false;
    t.sport = Load16(h);
    t.dport = Load16(h + 2);
  }
  return true;
}

Conn* Conntrack::Find(const Tuple& t, uint16_t zone, CtDir* dir, double now) {
  const CtHash::Hit hit = hash_.Find(t, zone);
  Conn* ct = hit.ct;
  if (ct == nullptr) return nullptr;
  if (Expired(ct, now)) {
    // Found dead: the kernel reaps it on the spot (nf_ct_gc_expired).
    Remove(ct);
    return nullptr;
  }
  if (dir) *dir = hit.dir;
  return ct;
}

void Conntrack::FindBurst(const Tuple* const* ts, uint16_t zone, size_t n,
                          Conn** out, CtDir* dirs, double now) {
  constexpr size_t kChunk = 16;
  CtHash::Hit hits[kChunk];
  for (size_t base = 0; base < n; base += kChunk) {
    const size_t m = std::min(kChunk, n - base);
    hash_.FindBurst(ts + base, zone, m, hits);
    for (size_t i = 0; i < m; ++i) {
      Conn* ct = hits[i].ct;
      if (ct != nullptr && Expired(ct, now)) {
        // As Find: reaped on the spot; a later tuple of the burst that
        // belonged to it is looked up again.
        Remove(ct);
        for (size_t j = i + 1; j < m; ++j)
          if (hits[j].ct == ct) hits[j] = hash_.Find(*ts[base + j], zone);
        ct = nullptr;
      }
      out[base + i] = ct;
      if (dirs != nullptr && ct != nullptr) dirs[base + i] = hits[i].dir;
    }
  }
}

bool Conntrack::TupleTaken(const Tuple& t, uint16_t zone,
                           const Conn* ignored) const {
  const Conn* ct = hash_.Find(t, zone).ct;
  return ct != nullptr && ct != ignored;
}

void Conntrack::AlterReply(Conn& ct, const Tuple& reply) {
  ct.tuple[kDirReply] = reply;
}

std::vector<const Conn*> Conntrack::SameSource(const Tuple& orig,
                                               uint16_t zone) const {
  std::vector<const Conn*> out;
  for (uint32_t id : conns_) {
    const Conn* c = ConnSlab::At(id);
    const Tuple& o = c->tuple[kDirOriginal];
    if ((c->status & kIpsSrcNat) && c->zone == zone && o.proto == orig.proto &&
        o.family == orig.family && o.src == orig.src && o.sport == orig.sport)
      out.push_back(c);
  }
  return out;
}

Conn* Conntrack::NewConn(const Tuple& orig, const Tuple& reply, uint16_t zone,
                         Packet& skb) {
  Conn* c = ConnSlab::New();
  c->tuple[kDirOriginal] = orig;
  c->tuple[kDirReply] = reply;
  c->zone = zone;
  skb.ct_ref = ConnSlab::Ref(c);
  return c;
}

void Conntrack::Insert(Conn* ct) {
  hash_.Set(ct, kDirOriginal);
  hash_.Set(ct, kDirReply);
}

void Conntrack::Remove(Conn* ct) {
  helpers_.Forget(ct);  // its expectations die with it
  for (int d = 0; d < 2; ++d) hash_.EraseIf(ct, CtDir(d));
  const uint32_t slot = ct->table_slot;
  if (slot < conns_.size() && conns_[slot] == ct->slab_id) {
    std::swap(conns_[slot], conns_.back());
    ConnSlab::At(conns_[slot])->table_slot = slot;
    conns_.pop_back();
    ConnSlab::Release(ct);  // the table's reference
  }
}

void Conntrack::Gc(double now) {
  for (size_t i = 0; i < cfg_.gc_budget && !conns_.empty(); ++i) {
    if (gc_cursor_ >= conns_.size()) gc_cursor_ = 0;
    Conn* ct = ConnSlab::At(conns_[gc_cursor_]);
    if (Expired(ct, now))
      Remove(ct);  // the last entry moved into the cursor's slot
    else
      ++gc_cursor_;
  }
}

bool Conntrack::EarlyDrop(double now) {
  // early_drop: evict an entry that is not ASSURED (the kernel scans a few
  // buckets; scanning from the oldest keeps this deterministic).
  for (size_t i = 0; i < conns_.size(); ++i) {
    Conn* ct = ConnSlab::At(conns_[i]);
    if (!(ct->status & kIpsAssured) || Expired(ct, now)) {
      Remove(ct);
      return true;
    }
  }
  return false;
}


int Conntrack::HandleIcmpError(Packet& skb, unsigned dataoff, uint8_t proto,
                               Hook hook, double now, uint16_t zone) {
  const Family f = skb.family;
  const uint8_t* ih = skb.HeaderPointer(dataoff, f == Family::kIPv4 ? 4 : 4);
  if (ih == nullptr) return -int(Verdict::kAccept);
  if (cfg_.checksum && hook == Hook::kPrerouting &&
      !L4ChecksumOk(skb, dataoff, proto))
    return -int(Verdict::kAccept);
  const uint8_t type = ih[0];
  if (f == Family::kIPv4 && type > 18) return -int(Verdict::kAccept);
  if (f == Family::kIPv6) {
    // Neighbour discovery and MLD are never tracked.
    static const bool kNoCt[] = {true, true, true, true, true, true, true,
                                 false, false, false, false, false, false,
                                 true};
    int idx = int(type) - 130;
    if (idx >= 0 && idx < 14 && kNoCt[idx]) {
      skb.ct = nullptr;
      skb.ctinfo = CtInfo::kUntracked;
      return int(Verdict::kAccept);
    }
  }
  if (!IcmpIsError(f, type)) return int(Verdict::kAccept);
  // Inner packet: the quoted header after the 8-byte ICMP header.
  const size_t inner = dataoff + 8;
  if (inner >= skb.data.size()) return -int(Verdict::kAccept);
  Packet in;
  in.family = f;
  in.data.assign(skb.data.begin() + inner, skb.data.end());
  if (in.data.size() < (f == Family::kIPv4 ? 20u : 40u))
    return -int(Verdict::kAccept);
  uint8_t iproto = 0;
  int ioff = L4Offset(in, 0, iproto);
  if (ioff < 0) return -int(Verdict::kAccept);
  Tuple orig, inv;
  if (!GetTuple(in, unsigned(ioff), iproto, orig)) return -int(Verdict::kAccept);
  if (!InvertTuple(orig, inv)) return -int(Verdict::kAccept);
  CtDir dir;
  Conn* ct = Find(inv, zone, &dir, now);
  if (ct == nullptr) return -int(Verdict::kAccept);
  Addr outer_dst = LoadAddr(skb.data.data() + (f == Family::kIPv4 ? 16 : 24), f);
  if (!(outer_dst == ct->tuple[dir].dst)) return -int(Verdict::kAccept);
  skb.ct = ct;
  skb.ct_ref = ConnSlab::Ref(ct);
  skb.ctinfo = dir == kDirReply ? CtInfo::kRelatedReply : CtInfo::kRelated;
  return int(Verdict::kAccept);
}

int Conntrack::TrackPacket(Conn& ct, Packet& skb, unsigned dataoff,
                           CtInfo ctinfo, Hook hook, double now) {
  const Tuple& ot = ct.tuple[kDirOriginal];
  const bool confirmed = ct.status & kIpsConfirmed;
  const CtDir dir =
      (ctinfo == CtInfo::kEstablishedReply || ctinfo == CtInfo::kRelatedReply)
          ? kDirReply
          : kDirOriginal;
  double timeout;
  if (ot.proto == kProtoTcp) {
    TcpCtPacketCtx c{&skb, dataoff, dir, ctinfo, hook, now};
    if (!confirmed && !TcpCtNew(ct, c, cfg_.tcp))
      return -int(Verdict::kAccept);
    TcpCtResult r = TcpCtPacket(ct, c, cfg_.tcp);
    if (r.verdict <= 0) return r.verdict;
    // The tracker sets the timeout itself; ignored packets and SYN
    // retransmissions neither renew it nor count (nf_ct_refresh_acct).
    if (r.kill) {
      // nf_ct_kill_acct: a RST before any reply ends the entry at once.
      if (ct.status & kIpsConfirmed) Remove(&ct);
      ct.status |= kIpsDying;
      return int(Verdict::kAccept);
    }
    return int(Verdict::kAccept);
  } else if (ot.proto == kProtoUdp || ot.proto == kProtoUdplite) {
    const uint8_t* uh = skb.HeaderPointer(dataoff, 8);
    if (uh == nullptr) return -int(Verdict::kAccept);
    const unsigned udplen = unsigned(skb.data.size() - dataoff);
    if (Load16(uh + 4) > udplen || Load16(uh + 4) < 8)
      return -int(Verdict::kAccept);
    if (Load16(uh + 6) != 0 && hook == Hook::kPrerouting && cfg_.checksum &&
        !L4ChecksumOk(skb, dataoff, ot.proto))
      return -int(Verdict::kAccept);
    // A stream (and ASSURED) only once replies keep coming more than two
    // seconds after the first packet.
    if (!confirmed) ct.set_udp_stream_ts(now + 2);
    if (ct.status & kIpsSeenReply) {
      timeout = cfg_.udp_unreplied;
      if (now > ct.udp_stream_ts()) {
        timeout = cfg_.udp_replied;
        ct.status |= kIpsAssured;
      }
    } else {
      timeout = cfg_.udp_unreplied;
    }
  } else if (ot.proto == kProtoSctp) {
    SctpConnState st = SctpConnState::Unpack(ct.l4state, ct.sctp_tags());
    SctpCtPacketCtx c{&skb, dataoff, dir, hook, confirmed};
    SctpCtResult r = SctpCtPacket(st, c, cfg_.sctp);
    ct.l4state = st.Small();
    ct.set_sctp_tags(st.Tags());
    if (r.assured) ct.status |= kIpsAssured;
    if (r.verdict <= 0) return r.verdict;
    // A retransmitted INIT or a HEARTBEAT with a new tag does not renew it.
    if (!r.refresh) return int(Verdict::kAccept);
    timeout = r.timeout;
  } else if (IsIcmp(ot)) {
    if (!IcmpValidNew(ot.family, uint8_t(ot.dport >> 8)))
      return -int(Verdict::kAccept);
    timeout = ot.family == Family::kIPv4 ? cfg_.icmp : cfg_.icmpv6;
  } else if (ot.proto == kProtoGre) {
    timeout = (ct.status & kIpsSeenReply) ? cfg_.gre_replied : cfg_.gre_unreplied;
    if (ct.status & kIpsSeenReply) ct.status |= kIpsAssured;
  } else {
    timeout = cfg_.generic;
  }
  if (!(ct.status & kIpsFixedTimeout)) ct.expires = now + timeout;
  return int(Verdict::kAccept);
}

Verdict Conntrack::In(Packet& skb, Hook hook, double now) {
  now = Jiffies(now);
  std::lock_guard<std::mutex> lock(mu_);
  // A packet that already carries an entry (looped back) or was marked
  // untracked in raw is left alone; a CT template only supplies the zone.
  uint16_t zone = 0;
  CtHelperName helper;
  if (skb.ct != nullptr || skb.ctinfo == CtInfo::kUntracked) {
    if (skb.ct == nullptr || !(skb.ct->status & kIpsTemplate))
      return Verdict::kAccept;
    // A CT template (-j CT in raw) gives the zone (or takes it from the
    // mark) and the helper of the connection about to be created. Zones
    // limited to one direction are applied to both (not modelled).
    const Conn& tmpl = *skb.ct;
    zone = tmpl.zone_from_mark ? uint16_t(skb.mark) : tmpl.zone;
    helper = tmpl.helper;
    skb.ct = nullptr;
    skb.ct_ref.reset();
  }
  skb.ctinfo = CtInfo::kEstablished;  // no entry (yet): INVALID
  Gc(now);
  uint8_t proto = 0;
  int dataoff = L4Offset(skb, 0, proto);
  if (dataoff <= 0) return Verdict::kAccept;
  const bool icmp = (skb.family == Family::kIPv4 && proto == kProtoIcmp) ||
                    (skb.family == Family::kIPv6 && proto == kProtoIcmpv6);
  if (icmp) {
    int r = HandleIcmpError(skb, unsigned(dataoff), proto, hook, now, zone);
    if (r <= 0) return static_cast<Verdict>(-r);
    if (skb.ct != nullptr || skb.ctinfo == CtInfo::kUntracked)
      return Verdict::kAccept;
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    Tuple t;
    if (!GetTuple(skb, unsigned(dataoff), proto, t)) return Verdict::kAccept;
    CtDir dir = kDirOriginal;
    Conn* ct = Find(t, zone, &dir, now);
    CtInfo info;
    if (ct == nullptr) {
      Tuple reply;
      if (!InvertTuple(t, reply)) return Verdict::kAccept;
      if (conns_.size() >= cfg_.max && !EarlyDrop(now)) return Verdict::kDrop;
      ct = NewConn(t, reply, zone, skb);
      if (helpers_.Adopt(*ct, now)) {
        info = CtInfo::kRelated;  // expected by a helper: no helper of its own
      } else {
        ct->helper = helper;
        info = CtInfo::kNew;
      }
    } else if (dir == kDirReply) {
      info = CtInfo::kEstablishedReply;
    } else if (ct->status & kIpsSeenReply) {
      info = CtInfo::kEstablished;
    } else if (ct->status & kIpsExpected) {
      info = CtInfo::kRelated;
    } else {
      info = CtInfo::kNew;
    }
    skb.ct = ct;
    skb.ctinfo = info;
    if (ct->status & kIpsConfirmed) skb.ct_ref = ConnSlab::Ref(ct);
    int r = TrackPacket(*ct, skb, unsigned(dataoff), info, hook, now);
    if (r > 0) {
      if (info == CtInfo::kEstablishedReply) ct->status |= kIpsSeenReply;
      return Verdict::kAccept;
    }
    skb.ct = nullptr;
    skb.ctinfo = CtInfo::kEstablished;
    std::shared_ptr<Conn> hold = std::move(skb.ct_ref);
    if (r == kTcpCtRepeat) {
      // The tracker closed the old entry: look up again to open a new one.
      if (ct->status & kIpsConfirmed) Remove(ct);
      continue;
    }
    return static_cast<Verdict>(-r);
  }
  return Verdict::kAccept;
}

Verdict Conntrack::Confirm(Packet& skb, double now, const Interface* out) {
  now = Jiffies(now);
  Conn* ct = skb.ct;
  if (ct != nullptr && !ct->helper.empty() && !(ct->status & kIpsTemplate)) {
    std::lock_guard<std::mutex> lock(mu_);
    if (helpers_.Help({&skb, ct, skb.ctinfo, out, now}) != Verdict::kAccept)
      return Verdict::kDrop;
  }
  if (ct == nullptr || (ct->status & kIpsConfirmed) ||
      (ct->status & kIpsTemplate))
    return Verdict::kAccept;
  if (skb.ctinfo == CtInfo::kEstablishedReply ||
      skb.ctinfo == CtInfo::kRelatedReply)
    return Verdict::kAccept;
  std::lock_guard<std::mutex> lock(mu_);
  if (skb.ct_ref.get() != ct) return Verdict::kAccept;
  // A clash with an entry confirmed meanwhile drops the packet.
  if (hash_.Find(ct->tuple[kDirOriginal], ct->zone).ct != nullptr ||
      hash_.Find(ct->tuple[kDirReply], ct->zone).ct != nullptr) {
    helpers_.Forget(ct);
    return Verdict::kDrop;
  }
  ct->status |= kIpsConfirmed;
  ct->table_slot = uint32_t(conns_.size());
  conns_.push_back(ct->slab_id);
  ConnSlab::Hold(ct);
  Insert(ct);
  return Verdict::kAccept;
}

std::vector<std::string> Conntrack::ListExpect(double now) const {
  now = Jiffies(now);
  std::lock_guard<std::mutex> lock(mu_);
  return helpers_.ListExpectations(now);
}

std::vector<std::string> Conntrack::List(double now) const {
  now = Jiffies(now);
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (uint32_t id : conns_) {
    const Conn* c = ConnSlab::At(id);
    if (Expired(c, now)) continue;
    const Tuple& o = c->tuple[kDirOriginal];
    std::string line = fmt::format(
        "{:<8} {} {} ", ProtoName(o.proto), o.proto,
        int64_t(std::floor(c->expires - now + 1e-7)));
    if (o.proto == kProtoTcp) line += std::string(TcpStateName(c->tcp().state)) + " ";
    if (o.proto == kProtoSctp)
      line += std::string(SctpCtStateName(
                  SctpConnState::Unpack(c->l4state, 0).state)) + " ";
    line += FormatTuple(o);
    if (!(c->status & kIpsSeenReply)) line += "[UNREPLIED] ";
    line += FormatTuple(c->tuple[kDirReply]);
    if (c->status & kIpsAssured) line += "[ASSURED] ";
    line += fmt::format("mark={} ", c->mark.load());
    if (c->zone) line += fmt::format("zone={} ", c->zone);
    line += "use=1";
    out.push_back(line);
  }
  return out;
}

}  // namespace netfence::core
