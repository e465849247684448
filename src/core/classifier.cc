#include "core/classifier.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "core/host.h"
#include "core/pktinfo.h"
#include "core/table.h"
#include "core/xt.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace netfence::core {

namespace {

// A child reference is a node number, or (top bit set) a leaf: a run of
// slots_ given by its offset and length; a length of kBigCount means the
// offset numbers a Big record instead (leaves that long are rare).
constexpr uint32_t kLeafRef = 1u << 31;
// A node reference carries the node's field above its number, so a descent
// picks the key it compares while the node itself is still being loaded.
constexpr int kFieldShift = 28;
constexpr uint32_t kNodeMask = (1u << kFieldShift) - 1;
constexpr int kOffBits = 21;
constexpr uint32_t kOffMask = (1u << kOffBits) - 1;
constexpr uint32_t kBigCount = 1023;
constexpr uint32_t kSign = 0x80000000u;
constexpr int kFanout = 16;  // children per node: 15 thresholds

enum : uint8_t { kTcp = 6, kUdp = 17, kIcmp = 1, kIcmpv6 = 58 };

// NodeOf is the node number of a node reference; FieldOf its field.
inline uint32_t NodeOf(uint32_t ref) { return ref & kNodeMask; }
inline uint32_t FieldOf(uint32_t ref) { return (ref >> kFieldShift) & 7; }

}  // namespace

#if defined(__SSE2__)
// KeyVectors holds each field of a key sign-flipped and broadcast, ready
// for the threshold compares of ChildOf.
struct KeyVectors {
  __m128i f[8];
  KeyVectors() = default;
  explicit KeyVectors(const uint32_t* fields) {
    for (int i = 0; i < kNumClsFields; ++i)
      f[i] = _mm_set1_epi32(int(fields[i] ^ kSign));
  }
};
#else
struct KeyVectors {
  uint32_t f[8];
  KeyVectors() = default;
  explicit KeyVectors(const uint32_t* fields) {
    for (int i = 0; i < kNumClsFields; ++i) f[i] = fields[i] ^ kSign;
  }
};
#endif

namespace {

#if defined(__SSE2__)
// ChildOf is the child of a node a key falls into: the number of the
// node's 15 thresholds (sign-flipped, ascending; unused ones are the
// maximum) that are <= the key. A key equal to the maximum counts past the
// used ones too, so a node repeats its last child in the unused slots (see
// SetChild).
inline unsigned ChildOf(const uint32_t* thr, __m128i k) {
  const __m128i* p = reinterpret_cast<const __m128i*>(thr);
  __m128i a = _mm_cmpgt_epi32(_mm_load_si128(p), k);
  __m128i b = _mm_cmpgt_epi32(_mm_load_si128(p + 1), k);
  __m128i c = _mm_cmpgt_epi32(_mm_load_si128(p + 2), k);
  __m128i d = _mm_cmpgt_epi32(_mm_load_si128(p + 3), k);
  __m128i packed =
      _mm_packs_epi16(_mm_packs_epi32(a, b), _mm_packs_epi32(c, d));
  // Thresholds ascend, so the ones above the key are a run of high lanes;
  // lane 15 is the node's meta word, not a threshold.
  const unsigned gt = (unsigned(_mm_movemask_epi8(packed)) & 0x7fffu) | 0x8000u;
  return unsigned(__builtin_ctz(gt));
}
#else
inline unsigned ChildOf(const uint32_t* thr, uint32_t key) {
  unsigned j = 0;
  while (j < 15 && int32_t(thr[j]) <= int32_t(key)) ++j;
  return j;
}
#endif

// ParseRange reads "a" or "a:b" (decimal).
bool ParseRange(const std::string& s, uint32_t& lo, uint32_t& hi) {
  size_t colon = s.find(':');
  try {
    lo = uint32_t(std::stoul(s.substr(0, colon)));
    hi = colon == std::string::npos ? lo
                                    : uint32_t(std::stoul(s.substr(colon + 1)));
  } catch (const std::exception&) {
    return false;
  }
  return lo <= hi;
}

std::vector<std::string> Tokens(const std::string& s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

// PortsFromSave reads the ports of a tcp / udp match from its canonical
// text. The extensions keep their fields private; their save form is their
// documented, stable description.
void PortsFromSave(const std::string& text, RuleBox& b, bool& exact) {
  std::vector<std::string> tok = Tokens(text);
  bool inv = false;
  for (size_t i = 0; i < tok.size(); ++i) {
    if (tok[i] == "!") {
      inv = true;
      continue;
    }
    const bool sport = tok[i] == "--sport", dport = tok[i] == "--dport";
    if ((sport || dport) && i + 1 < tok.size()) {
      uint32_t lo, hi;
      if (!inv && ParseRange(tok[++i], lo, hi) && hi <= 0xffff) {
        const int f = sport ? kFieldSport : kFieldDport;
        b.lo[f] = lo;
        b.hi[f] = hi;
      } else {
        exact = false;
      }
    } else {
      exact = false;  // flags, options: verified by the match
    }
    inv = false;
  }
}

// IcmpFromSave reads the type of an icmp / icmp6 match. The save form
// carries only the first code of a range, so codes are left to the match.
void IcmpFromSave(const std::string& text, bool v4, RuleBox& b, bool& exact) {
  std::vector<std::string> tok = Tokens(text);
  if (tok.size() != 2 || tok[0][0] != '-') {
    exact = false;
    return;
  }
  if (v4 && tok[1] == "any") return;
  const std::string type = tok[1].substr(0, tok[1].find('/'));
  uint32_t lo, hi;
  if (!ParseRange(type, lo, hi) || hi > 0xff) {
    exact = false;
    return;
  }
  b.lo[kFieldSport] = lo;
  b.hi[kFieldSport] = hi;
  if (tok[1].find('/') != std::string::npos) exact = false;
}

// PureMatch lists matches that only read the packet or its connection: a
// rule may be skipped on a later match's ports when these come first.
bool PureMatch(const std::string& name) {
  return name == "comment" || name == "state" || name == "conntrack" ||
         name == "mark" || name == "connmark";
}

// AddrField is the range of one 32-bit word of addresses matching
// (a & m) == v: the leading ones of the mask fix the top bits.
void AddrField(const Addr& v, const Addr& m, bool inv, int word, bool v6,
               uint32_t& lo, uint32_t& hi, bool& exact) {
  const uint32_t mv = Load32(m.b.data() + 4 * word);
  const uint32_t vv = Load32(v.b.data() + 4 * word);
  if (v6) {
    for (int w = 0; w < 4; ++w)
      if (w != word && Load32(m.b.data() + 4 * w) != 0) exact = false;
  }
  if (inv) {
    exact = false;
    return;
  }
  const int ones = std::countl_one(mv);
  const uint32_t top = ones == 0 ? 0 : ~0u << (32 - ones);
  lo = vv & top;
  hi = lo | ~top;
  if (mv != top || (vv & ~mv) != 0) exact = false;
}

}  // namespace

void PadIfName(const Interface* ifc, uint64_t out[2]) {
  out[0] = out[1] = 0;
  if (ifc == nullptr) return;
  const char* s = ifc->name.c_str();
  char* o = reinterpret_cast<char*>(out);
  for (size_t i = 0; i < kIfNameSize - 1 && s[i] != 0; ++i) o[i] = s[i];
}

bool MakePacketKey(const XtParams& p, const PktInfo& pi, int addr_word,
                   PacketKey& k) {
  const Packet& skb = *p.skb;
  const uint8_t* d = skb.data.data();
  const bool v4 = skb.family == Family::kIPv4;
  uint8_t proto;
  if (v4) {
    k.f[kFieldSrc] = Load32(d + 12);
    k.f[kFieldDst] = Load32(d + 16);
    proto = d[9];
  } else {
    if (pi.l4proto < 0) return false;
    k.f[kFieldSrc] = Load32(d + 8 + 4 * addr_word);
    k.f[kFieldDst] = Load32(d + 24 + 4 * addr_word);
    proto = uint8_t(pi.l4proto);
  }
  k.f[kFieldProto] = proto;
  k.f[kFieldSport] = k.f[kFieldDport] = 0;
  k.later_frag = pi.fragoff != 0;
  const bool icmp = v4 ? proto == kIcmp : proto == kIcmpv6;
  const unsigned need = proto == kTcp ? 20 : (proto == kUdp || icmp) ? 8 : 0;
  if (need != 0) {
    if (pi.fragoff != 0) {
      // Later fragments fail these matches quietly, except TCP at offset 1.
      if (proto == kTcp && pi.fragoff == 1) return false;
    } else {
      const uint8_t* h = skb.HeaderPointer(pi.thoff, need);
      if (h == nullptr) return false;
      k.f[kFieldSport] = icmp ? h[0] : Load16(h);
      k.f[kFieldDport] = icmp ? h[1] : Load16(h + 2);
    }
  }
  return true;
}

int ChooseAddrWord(Family f,
                   const std::vector<const std::vector<Rule>*>& chains) {
  if (f == Family::kIPv4) return 0;
  int word = 0;
  size_t best = 0;
  for (int w = 0; w < 4; ++w) {
    std::unordered_set<uint64_t> seen;
    for (const std::vector<Rule>* rules : chains) {
      for (const Rule& r : *rules) {
        for (int side = 0; side < 2; ++side) {
          const Addr& a = side ? r.ip.dst : r.ip.src;
          const Addr& m = side ? r.ip.dmsk : r.ip.smsk;
          const uint32_t mv = Load32(m.b.data() + 4 * w);
          if (mv == 0) continue;
          seen.insert((uint64_t(Load32(a.b.data() + 4 * w) & mv) << 32 | mv) ^
                      uint64_t(side) << 63);
        }
      }
    }
    if (seen.size() > best) {
      best = seen.size();
      word = w;
    }
  }
  return word;
}

ChainIndex::ChainIndex(Family f, int addr_word, ClassifierOptions o)
    : family_(f), opts_(o), addr_word_(addr_word) {
  in_pats_.resize(1);
  out_pats_.resize(1);
  // Pattern 0 matches every name: its mask is empty.
  in_pats_[0] = out_pats_[0] = Pattern{{0, 0}, {0, 0}};
}

ChainIndex::Packed ChainIndex::Pack(const RuleBox& b, int tree, uint32_t id) {
  Packed p;
  p.src_lo = b.lo[kFieldSrc];
  p.src_span = b.hi[kFieldSrc] - b.lo[kFieldSrc];
  p.dst_lo = b.lo[kFieldDst];
  p.dst_span = b.hi[kFieldDst] - b.lo[kFieldDst];
  p.sport_lo = uint16_t(b.lo[kFieldSport]);
  p.sport_span = uint16_t(b.hi[kFieldSport] - b.lo[kFieldSport]);
  p.dport_lo = uint16_t(b.lo[kFieldDport]);
  p.dport_span = uint16_t(b.hi[kFieldDport] - b.lo[kFieldDport]);
  p.proto_lo = uint8_t(b.lo[kFieldProto]);
  p.proto_span = uint8_t(b.hi[kFieldProto] - b.lo[kFieldProto]);
  p.in_pat = b.in_pat;
  p.out_pat = b.out_pat;
  p.meta = id | uint32_t(b.frag_ok & 3) << 24 | (b.exact ? kExactBit : 0) |
           uint32_t(tree) << 27 | uint32_t(b.verdict & 3) << kVerdictShift;
  return p;
}

const ChainIndex::Packed& ChainIndex::BoxOf(uint32_t id) const {
  return master_.empty() ? slots_[home_[id]] : master_[id];
}

uint32_t ChainIndex::Lo(uint32_t id, int f) const {
  const Packed& b = BoxOf(id);
  switch (f) {
    case kFieldSrc:
      return b.src_lo;
    case kFieldDst:
      return b.dst_lo;
    case kFieldSport:
      return b.sport_lo;
    case kFieldDport:
      return b.dport_lo;
    default:
      return b.proto_lo;
  }
}

uint32_t ChainIndex::Hi(uint32_t id, int f) const {
  const Packed& b = BoxOf(id);
  switch (f) {
    case kFieldSrc:
      return b.src_lo + b.src_span;
    case kFieldDst:
      return b.dst_lo + b.dst_span;
    case kFieldSport:
      return uint32_t(b.sport_lo) + b.sport_span;
    case kFieldDport:
      return uint32_t(b.dport_lo) + b.dport_span;
    default:
      return uint32_t(b.proto_lo) + b.proto_span;
  }
}

ChainIndex::Region ChainIndex::FullRegion() {
  return Region{{0, 0, 0, 0, 0}, {~0u, ~0u, 0xffff, 0xffff, 0xff}};
}

int ChainIndex::TreeOf(const RuleBox& b) const {
  if (!opts_.partition) return 0;
  auto small = [&](int f, uint32_t limit) { return b.hi[f] - b.lo[f] < limit; };
  if (small(kFieldDst, 1u << 16)) return 0;
  if (small(kFieldSrc, 1u << 16)) return 1;
  if (small(kFieldDport, 0xffff) || small(kFieldSport, 0xffff)) return 2;
  return 3;
}

uint8_t ChainIndex::PatternOf(std::vector<Pattern>& pats, const IfaceMatch& m,
                              bool inv, bool& exact) {
  Pattern p;
  std::memcpy(p.name, m.name.data(), kIfNameSize);
  std::memcpy(p.mask, m.mask.data(), kIfNameSize);
  p.name[0] &= p.mask[0];
  p.name[1] &= p.mask[1];
  const uint8_t invbit = inv ? 0x80 : 0;
  for (size_t i = 0; i < pats.size(); ++i)
    if (std::memcmp(&pats[i], &p, sizeof p) == 0) return uint8_t(i) | invbit;
  if (pats.size() < 64) {
    pats.push_back(p);
    return uint8_t(pats.size() - 1) | invbit;
  }
  exact = false;  // too many patterns: the walk checks this one
  return 0;
}

uint64_t ChainIndex::PatternMask(const std::vector<Pattern>& pats,
                                 const uint64_t name[2]) {
  uint64_t mask = 1;
  for (size_t i = 1; i < pats.size(); ++i) {
    const Pattern& p = pats[i];
    if ((((name[0] ^ p.name[0]) & p.mask[0]) |
         ((name[1] ^ p.name[1]) & p.mask[1])) == 0)
      mask |= uint64_t(1) << i;
  }
  return mask;
}

RuleBox ChainIndex::BoxFor(const Rule& r) {
  RuleBox b;
  bool exact = true;
  const IpFilter& f = r.ip;
  const bool v6 = family_ == Family::kIPv6;
  AddrField(f.src, f.smsk, f.invflags & kInvSrcIp, addr_word_, v6,
            b.lo[kFieldSrc], b.hi[kFieldSrc], exact);
  AddrField(f.dst, f.dmsk, f.invflags & kInvDstIp, addr_word_, v6,
            b.lo[kFieldDst], b.hi[kFieldDst], exact);
  b.in_pat = PatternOf(in_pats_, f.in, f.invflags & kInvViaIn, exact);
  b.out_pat = PatternOf(out_pats_, f.out, f.invflags & kInvViaOut, exact);
  // IPv4 checks a non-zero protocol; IPv6 a non-zero protocol given with
  // -p ("-p all" matches every protocol).
  const bool proto_checked = f.proto != 0 && (!v6 || f.proto_set);
  if (proto_checked) {
    if (!(f.invflags & kInvProto) && f.proto <= 0xff) {
      b.lo[kFieldProto] = b.hi[kFieldProto] = f.proto;
    } else {
      exact = false;
    }
  }
  if (!v6 && f.frag) b.frag_ok = (f.invflags & kInvFrag) ? 1 : 2;
  const bool one_proto = b.lo[kFieldProto] == b.hi[kFieldProto];
  const uint32_t proto = b.lo[kFieldProto];
  bool reachable = true;  // every match so far only reads
  bool indexed = false;   // a tcp / udp / icmp match was used
  for (const MatchEntry& me : r.matches) {
    const std::string& name = me.type->name;
    if (name == "comment") continue;
    const bool ports =
        (name == "tcp" && proto == kTcp) || (name == "udp" && proto == kUdp);
    const bool icmp = (!v6 && name == "icmp" && proto == kIcmp) ||
                      (v6 && name == "icmp6" && proto == kIcmpv6);
    if (reachable && !indexed && one_proto && (ports || icmp)) {
      std::string text;
      SaveCtx sc{text, f, family_};
      me.match->Save(sc);
      if (ports)
        PortsFromSave(text, b, exact);
      else
        IcmpFromSave(text, !v6, b, exact);
      indexed = true;
      continue;
    }
    exact = false;
    if (!PureMatch(name)) reachable = false;
  }
  // tcp, udp and icmp matches fail on later fragments: a rule with one
  // cannot match them.
  if (indexed) b.frag_ok &= 1;
  // Only IPv4 boxes are trusted as exact (see Exact()).
  b.exact = exact && !v6;
  if (b.exact && r.kind == TargetKind::kStandard) {
    if (r.verdict == Verdict::kAccept) b.verdict = 1;
    if (r.verdict == Verdict::kDrop) b.verdict = 2;
  }
  return b;
}

void ChainIndex::Build(const std::vector<Rule>& rules) {
  in_pats_.resize(1);
  out_pats_.resize(1);
  std::vector<RuleBox> boxes;
  boxes.reserve(rules.size());
  for (const Rule& r : rules) boxes.push_back(BoxFor(r));
  BuildBoxes(std::move(boxes));
}

// LeafDedup finds leaves with the same entries while building, so children
// holding the same rules share one run of ents_.
struct ChainIndex::LeafDedup {
  std::unordered_map<uint64_t, std::vector<uint32_t>> refs;  // hash -> refs
};

void ChainIndex::BuildBoxes(std::vector<RuleBox> boxes) {
  if (boxes.size() > kIdMask)
    throw std::length_error("chain too long to index");
  master_.clear();
  master_.reserve(boxes.size());
  nodes_.clear();
  slots_.clear();
  big_.clear();
  garbage_ = 0;
  home_.assign(boxes.size(), ~0u);
  std::vector<std::vector<uint32_t>> ids(ClsCursor::kMaxTrees);
  for (uint32_t i = 0; i < boxes.size(); ++i) {
    const int t = TreeOf(boxes[i]);
    master_.push_back(Pack(boxes[i], t, i));
    ids[t].push_back(i);
  }
  // Rules that replicate into too many leaves make the index give up (the
  // chain is then walked linearly) rather than grow without bound.
  budget_ = 64 * boxes.size() + (size_t(1) << 16);
  LeafDedup dedup;
  for (int t = 0; t < ClsCursor::kMaxTrees; ++t) {
    Tree& tr = trees_[t];
    tr = Tree{};
    tr.count = uint32_t(ids[t].size());
    if (!ids[t].empty()) {
      tr.min = ids[t].front();
      tr.max = ids[t].back();
    }
    tr.root = Fill(ids[t], FullRegion(), 0, &dedup);
  }
  // Every rule lands in at least one leaf (its box meets the whole space).
  for (uint32_t i = 0; i < home_.size(); ++i) {
    if (home_[i] != ~0u) continue;
    home_[i] = uint32_t(slots_.size());
    slots_.push_back(master_[i]);
    ++garbage_;
  }
  std::vector<Packed>().swap(master_);
  nodes_.shrink_to_fit();
  slots_.shrink_to_fit();
  SortTrees();
}

void ChainIndex::SortTrees() {
  // A tree whose first rule comes late in the chain (in its last eighth)
  // matters only to packets no earlier rule may match: Next descends it
  // when it gets there, and a packet decided earlier saves the descent.
  // (ClassBench: the trees of rules with neither address specific start
  // near the end.)
  lazy_ = 0;
  for (int t = 0; t < ClsCursor::kMaxTrees; ++t)
    if (!(trees_[t].root & kLeafRef) && trees_[t].min > home_.size() / 8 * 7)
      lazy_ |= uint8_t(1u << t);
  for (int i = 0; i < ClsCursor::kMaxTrees; ++i) order_[i] = uint8_t(i);
  std::sort(order_, order_ + ClsCursor::kMaxTrees, [&](uint8_t a, uint8_t b) {
    return trees_[a].min < trees_[b].min;
  });
}

uint32_t ChainIndex::MakeLeaf(const uint32_t* ids, uint32_t n,
                              LeafDedup* dedup) {
  if (n == 0) return kLeafRef;
  uint64_t h = 0;
  if (dedup != nullptr) {
    h = 1469598103934665603ull;
    for (uint32_t i = 0; i < n; ++i) h = (h ^ ids[i]) * 1099511628211ull;
    auto it = dedup->refs.find(h);
    if (it != dedup->refs.end()) {
      for (uint32_t ref : it->second) {
        const Packed* e;
        uint32_t m;
        LeafOf(ref, e, m);
        bool same = m == n;
        for (uint32_t i = 0; same && i < n; ++i)
          same = (e[i].meta & kIdMask) == ids[i];
        if (same) return ref;
      }
    }
  }
  const size_t off = slots_.size();
  if (off + n - std::min(garbage_, off) > budget_)
    throw std::length_error("rule index too large");
  if (slots_.capacity() < off + n)
    slots_.reserve(std::max(off + n, 2 * slots_.capacity()));
  for (uint32_t i = 0; i < n; ++i) {
    const Packed b = BoxOf(ids[i]);  // a copy: slots_ grows
    slots_.push_back(b);
    if (home_[ids[i]] == ~0u) home_[ids[i]] = uint32_t(off + i);
  }
  uint32_t ref;
  if (n >= kBigCount) {
    big_.push_back({uint32_t(off), n});
    ref = kLeafRef | kBigCount << kOffBits | uint32_t(big_.size() - 1);
  } else {
    if (off > kOffMask) throw std::length_error("rule index too large");
    ref = kLeafRef | n << kOffBits | uint32_t(off);
  }
  if (dedup != nullptr) dedup->refs[h].push_back(ref);
  return ref;
}

[[gnu::always_inline]] inline void ChainIndex::LeafOf(uint32_t ref,
                                                      const Packed*& boxes,
                                                      uint32_t& n) const {
  const uint32_t off = ref & kOffMask;
  n = (ref >> kOffBits) & kBigCount;
  if (n == kBigCount) {
    boxes = slots_.data() + big_[off].off;
    n = big_[off].count;
    return;
  }
  boxes = slots_.data() + off;
}

bool ChainIndex::ChooseCuts(int field, const std::vector<uint32_t>& ids,
                            const Region& r, std::vector<uint32_t>& thr) const {
  thr.clear();
  const uint32_t rlo = r.lo[field];
  if (rlo == r.hi[field]) return false;
  const size_t n = ids.size();
  std::vector<uint32_t> starts(n);
  for (size_t i = 0; i < n; ++i) starts[i] = std::max(Lo(ids[i], field), rlo);
  std::sort(starts.begin(), starts.end());
  // Equal numbers of rules start in each child (HyperSplit balances rule
  // endpoints the same way); rules wider than a child go to several.
  const size_t target = std::max<size_t>(1, (n + kFanout - 1) / kFanout);
  size_t cnt = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && starts[j] == starts[i]) ++j;
    const size_t m = j - i;
    if (starts[i] > rlo && cnt > 0 && cnt + m > target &&
        thr.size() < kFanout - 1) {
      thr.push_back(starts[i]);
      cnt = 0;
    }
    cnt += m;
    i = j;
  }
  return !thr.empty();
}

void ChainIndex::Assign(int field, std::vector<uint32_t>& thr,
                        const std::vector<uint32_t>& ids, const Region& r,
                        std::vector<std::vector<uint32_t>>& children) const {
  children.assign(thr.size() + 1, {});
  const uint32_t rlo = r.lo[field], rhi = r.hi[field];
  for (uint32_t id : ids) {
    const uint32_t a = std::max(Lo(id, field), rlo);
    const uint32_t b = std::min(Hi(id, field), rhi);
    const size_t ja = std::upper_bound(thr.begin(), thr.end(), a) - thr.begin();
    const size_t jb = std::upper_bound(thr.begin(), thr.end(), b) - thr.begin();
    for (size_t j = ja; j <= jb; ++j) children[j].push_back(id);
  }
  // Neighbours holding the same rules are one child.
  size_t w = 0;
  for (size_t j = 1; j < children.size(); ++j) {
    if (children[j] == children[w]) continue;
    ++w;
    thr[w - 1] = thr[j - 1];
    if (w != j) children[w] = std::move(children[j]);
  }
  children.resize(w + 1);
  thr.resize(w);
}

uint32_t ChainIndex::Fill(std::vector<uint32_t>& ids, const Region& r,
                          int depth, LeafDedup* dedup) {
  const size_t n = ids.size();
  if (n <= size_t(opts_.leaf_size) || depth >= opts_.max_depth)
    return MakeLeaf(ids.data(), uint32_t(n), dedup);
  // Large nodes choose their cut from a sample of their rules: the shape of
  // the endpoint distribution is what matters, and it keeps builds fast.
  constexpr size_t kSample = 2048;
  std::vector<uint32_t> sample;
  const std::vector<uint32_t>* probe = &ids;
  if (n > 2 * kSample) {
    for (size_t i = 0; i < kSample; ++i) sample.push_back(ids[i * n / kSample]);
    probe = &sample;
  }
  int best_field = -1;
  double best_score = 0;
  std::vector<uint32_t> thr, best_thr;
  std::vector<std::vector<uint32_t>> children, best_children;
  for (int f = 0; f < kNumClsFields; ++f) {
    if (!ChooseCuts(f, *probe, r, thr)) continue;
    Assign(f, thr, *probe, r, children);
    if (children.size() < 2) continue;
    size_t maxc = 0, total = 0;
    double score = 0;
    for (const auto& c : children) {
      maxc = std::max(maxc, c.size());
      total += c.size();
      score += double(c.size()) * double(c.size());
    }
    if (maxc >= probe->size()) continue;  // no child is smaller
    // A cut that copies most rules into most children (they are wide in
    // this field) costs more memory than the leaf scan it saves.
    if (total > 4 * probe->size()) continue;
    if (best_field < 0 || score < best_score) {
      best_field = f;
      best_score = score;
      best_thr = thr;
      best_children.swap(children);
    }
  }
  if (best_field < 0) return MakeLeaf(ids.data(), uint32_t(n), dedup);
  if (probe != &ids)
    Assign(best_field, best_thr, ids, r, children);
  else
    children.swap(best_children);
  size_t maxc = 0;
  for (const auto& c : children) maxc = std::max(maxc, c.size());
  if (children.size() < 2 || maxc >= n)
    return MakeLeaf(ids.data(), uint32_t(n), dedup);
  std::vector<uint32_t>().swap(ids);
  const uint32_t idx = uint32_t(nodes_.size());
  if (idx > kNodeMask) throw std::length_error("rule index too large");
  nodes_.emplace_back();
  {
    Node& node = nodes_[idx];
    for (int j = 0; j < 15; ++j)
      node.thr[j] = j < int(best_thr.size()) ? best_thr[j] ^ kSign : ~kSign;
    node.meta = uint32_t(best_field) | uint32_t(best_thr.size()) << 3;
    std::fill(node.child, node.child + 16, kLeafRef);
  }
  for (size_t j = 0; j < children.size(); ++j) {
    Region cr = r;
    if (j > 0) cr.lo[best_field] = best_thr[j - 1];
    if (j < best_thr.size()) cr.hi[best_field] = best_thr[j] - 1;
    const uint32_t ref = Fill(children[j], cr, depth + 1, dedup);
    SetChild(nodes_[idx], unsigned(j), ref);  // nodes_ may have moved
  }
  return idx | uint32_t(best_field) << kFieldShift;
}

void ChainIndex::SetChild(Node& n, unsigned j, uint32_t ref) {
  const unsigned nthr = n.meta >> 3;
  if (j < nthr)
    n.child[j] = ref;
  else
    std::fill(n.child + nthr, n.child + 16, ref);
}

// Descend follows one tree from ref to its leaf. The loop keeps the node
// reference in a register; the CPU runs the descents of different trees
// (independent load chains) side by side.
[[gnu::always_inline]] inline uint32_t ChainIndex::Descend(
    uint32_t ref, const KeyVectors& kv) const {
  while (!(ref & kLeafRef)) {
    const Node& n = nodes_[NodeOf(ref)];
    ref = n.child[ChildOf(n.thr, kv.f[FieldOf(ref)])];
  }
  return ref;
}

void ChainIndex::InitCursor(const PacketKey& k, ClsCursor& c) const {
  c.ready = true;
  c.in_mask = in_pats_.size() > 1 ? PatternMask(in_pats_, k.in) : 1;
  c.out_mask = out_pats_.size() > 1 ? PatternMask(out_pats_, k.out) : 1;
  c.lazy = lazy_;
  for (int t = 0; t < ClsCursor::kMaxTrees; ++t) c.pos[t] = c.n[t] = 0;
}

void ChainIndex::PrepareCursor(const PacketKey& k, ClsCursor& c) const {
  InitCursor(k, c);
  const KeyVectors kv(k.f);
  for (int t = 0; t < ClsCursor::kMaxTrees; ++t)
    if (!(lazy_ >> t & 1))
      LeafOf(Descend(trees_[t].root, kv), c.leaf[t], c.n[t]);
}

void ChainIndex::DescendLazy(int t, const PacketKey& k, ClsCursor& c) const {
  c.lazy &= uint8_t(~(1u << t));
  LeafOf(Descend(trees_[t].root, KeyVectors(k.f)), c.leaf[t], c.n[t]);
}

inline bool ChainIndex::Contains(const Packed& b, const PacketKey& k,
                                 const ClsCursor& c) const {
  return ((k.f[kFieldSrc] - b.src_lo) <= b.src_span) &
         ((k.f[kFieldDst] - b.dst_lo) <= b.dst_span) &
         (uint16_t(k.f[kFieldSport] - b.sport_lo) <= b.sport_span) &
         (uint16_t(k.f[kFieldDport] - b.dport_lo) <= b.dport_span) &
         (uint8_t(k.f[kFieldProto] - b.proto_lo) <= b.proto_span) &
         ((b.meta >> (24 + k.later_frag)) & 1) &
         (((c.in_mask >> (b.in_pat & 63)) ^ (b.in_pat >> 7)) & 1) &
         (((c.out_mask >> (b.out_pat & 63)) ^ (b.out_pat >> 7)) & 1);
}

uint32_t ChainIndex::Next(uint32_t i, const PacketKey& k, ClsCursor& c) const {
  if (!c.ready) PrepareCursor(k, c);
  uint32_t best = size();
  for (int oi = 0; oi < ClsCursor::kMaxTrees; ++oi) {
    const int t = order_[oi];
    const Tree& tr = trees_[t];
    if (tr.min >= best) break;  // trees are in order of their first rule
    if (tr.max < i) continue;
    if (c.lazy >> t & 1) DescendLazy(t, k, c);
    const Packed* boxes = c.leaf[t];
    uint32_t p = c.pos[t];
    const uint32_t e = c.n[t];
    for (; p < e; ++p) {
      const Packed& b = boxes[p];
      const uint32_t id = b.meta & kIdMask;
      if (id >= best) break;
      if (id >= i && Contains(b, k, c)) {
        best = id;
        c.exact = b.meta & kExactBit;
        c.verdict = uint8_t(b.meta >> kVerdictShift);
        break;
      }
    }
    c.pos[t] = p;
  }
  return best;
}

void ChainIndex::NextBurst(const PacketKey* const* keys,
                           ClsCursor* const* cursors, size_t n,
                           uint32_t* out) const {
  constexpr size_t kChunk = 32;
  constexpr int kT = ClsCursor::kMaxTrees;
  for (size_t base = 0; base < n; base += kChunk) {
    const size_t m = std::min(kChunk, n - base);
    uint32_t leaf[kT][kChunk];
    KeyVectors kv[kChunk];
    for (size_t j = 0; j < m; ++j) kv[j] = KeyVectors(keys[base + j]->f);
    for (size_t j = 0; j < m; ++j)
      InitCursor(*keys[base + j], *cursors[base + j]);
    // Tree by tree, every packet still descending moves down one level per
    // round, so the loads of a round are independent and their cache misses
    // overlap; packets that reached their leaf leave the round's list.
    const uintptr_t base_addr = reinterpret_cast<uintptr_t>(nodes_.data());
    for (int t = 0; t < kT; ++t) {
      uint32_t* r = leaf[t];
      const uint32_t root = trees_[t].root;
      for (size_t j = 0; j < m; ++j) r[j] = root;
      if ((root & kLeafRef) || (lazy_ >> t & 1)) continue;
      uint8_t act[kChunk];
      for (size_t j = 0; j < m; ++j) act[j] = uint8_t(j);
      for (size_t na = m; na > 0;) {
        size_t w = 0;
        for (size_t a = 0; a < na; ++a) {
          const size_t j = act[a];
          const Node& nd = nodes_[NodeOf(r[j])];
          const uint32_t next =
              nd.child[ChildOf(nd.thr, kv[j].f[FieldOf(r[j])])];
          // Both lines of the next node (for a leaf, a harmless address:
          // a prefetch does not fault).
          const uintptr_t nn =
              base_addr + uintptr_t(NodeOf(next)) * sizeof(Node);
          __builtin_prefetch(reinterpret_cast<const void*>(nn));
          __builtin_prefetch(reinterpret_cast<const void*>(nn + 64));
          r[j] = next;
          act[w] = uint8_t(j);
          w += !(next & kLeafRef);
        }
        na = w;
      }
    }
    // Then each stage touches what the previous one prefetched: the leaf
    // runs, then the answers.
    for (size_t j = 0; j < m; ++j) {
      ClsCursor& c = *cursors[base + j];
      for (int t = 0; t < kT; ++t) {
        if (lazy_ >> t & 1) continue;
        LeafOf(leaf[t][j], c.leaf[t], c.n[t]);
        if (c.n[t] != 0) __builtin_prefetch(c.leaf[t]);
      }
    }
    for (size_t j = 0; j < m; ++j)
      out[base + j] = Next(0, *keys[base + j], *cursors[base + j]);
  }
}

void ChainIndex::Renumber(uint32_t from, int delta) {
  // Every slot (garbage included: homes may point there) holds a position.
  for (Packed& b : slots_) {
    const uint32_t id = b.meta & kIdMask;
    if (id >= from)
      b.meta = (b.meta & ~kIdMask) | uint32_t(int64_t(id) + delta);
  }
  for (Tree& t : trees_) {
    if (t.count == 0) continue;
    if (t.min >= from) t.min = uint32_t(int64_t(t.min) + delta);
    if (t.max >= from) t.max = uint32_t(int64_t(t.max) + delta);
  }
}

uint32_t ChainIndex::ReplaceLeaf(uint32_t old, std::vector<uint32_t>& v) {
  const Packed* e;
  uint32_t n;
  LeafOf(old, e, n);
  garbage_ += n;
  return MakeLeaf(v.data(), uint32_t(v.size()), nullptr);
}

// LeafIds lists the rule positions of a leaf.
static std::vector<uint32_t> LeafIds(const ClsBox* e, uint32_t n,
                                     uint32_t mask) {
  std::vector<uint32_t> v(n);
  for (uint32_t i = 0; i < n; ++i) v[i] = e[i].meta & mask;
  return v;
}

uint32_t ChainIndex::AddTo(uint32_t ref, const Region& r, int depth,
                           uint32_t id) {
  if (ref & kLeafRef) {
    const Packed* e;
    uint32_t n;
    LeafOf(ref, e, n);
    std::vector<uint32_t> v = LeafIds(e, n, kIdMask);
    v.insert(std::upper_bound(v.begin(), v.end(), id), id);
    // A leaf that keeps growing is cut again, at doubling sizes so that a
    // leaf that cannot be cut is not retried on every insertion.
    const size_t ls = size_t(opts_.leaf_size);
    if (v.size() > ls && v.size() % ls == 0 &&
        std::has_single_bit(v.size() / ls) && depth < opts_.max_depth) {
      garbage_ += n;
      return Fill(v, r, depth, nullptr);
    }
    return ReplaceLeaf(ref, v);
  }
  const uint32_t idx = NodeOf(ref);
  const int f = int(nodes_[idx].meta & 7);
  const unsigned nthr = nodes_[idx].meta >> 3;
  uint32_t thr[15];
  for (unsigned j = 0; j < nthr; ++j) thr[j] = nodes_[idx].thr[j] ^ kSign;
  const uint32_t a = Lo(id, f), b = Hi(id, f);
  for (unsigned j = 0; j <= nthr; ++j) {
    Region cr = r;
    if (j > 0) cr.lo[f] = thr[j - 1];
    if (j < nthr) cr.hi[f] = thr[j] - 1;
    if (b < cr.lo[f] || a > cr.hi[f]) continue;
    const uint32_t child = AddTo(nodes_[idx].child[j], cr, depth + 1, id);
    SetChild(nodes_[idx], j, child);
  }
  return ref;
}

uint32_t ChainIndex::RemoveFrom(uint32_t ref, const Region& r, uint32_t id) {
  if (ref & kLeafRef) {
    const Packed* e;
    uint32_t n;
    LeafOf(ref, e, n);
    std::vector<uint32_t> v = LeafIds(e, n, kIdMask);
    auto it = std::lower_bound(v.begin(), v.end(), id);
    if (it == v.end() || *it != id) return ref;
    v.erase(it);
    return ReplaceLeaf(ref, v);
  }
  const uint32_t idx = NodeOf(ref);
  const int f = int(nodes_[idx].meta & 7);
  const unsigned nthr = nodes_[idx].meta >> 3;
  const uint32_t a = Lo(id, f), b = Hi(id, f);
  for (unsigned j = 0; j <= nthr; ++j) {
    Region cr = r;
    if (j > 0) cr.lo[f] = nodes_[idx].thr[j - 1] ^ kSign;
    if (j < nthr) cr.hi[f] = (nodes_[idx].thr[j] ^ kSign) - 1;
    if (b < cr.lo[f] || a > cr.hi[f]) continue;
    SetChild(nodes_[idx], j, RemoveFrom(nodes_[idx].child[j], cr, id));
  }
  return ref;
}

void ChainIndex::Compact() {
  // Rewrites every live leaf into fresh slots (shared leaves stay shared)
  // and points each rule's home at one of its copies.
  std::vector<Packed> fresh;
  std::vector<Big> big;
  std::unordered_map<uint32_t, uint32_t> moved;
  fresh.reserve(slots_.size() - std::min(garbage_, slots_.size()));
  std::vector<uint32_t> home(home_.size(), ~0u);
  auto move = [&](uint32_t ref) {
    if (!(ref & kLeafRef) || ref == kLeafRef) return ref;
    auto it = moved.find(ref);
    if (it != moved.end()) return it->second;
    const Packed* e;
    uint32_t n;
    LeafOf(ref, e, n);
    const size_t off = fresh.size();
    for (uint32_t i = 0; i < n; ++i) {
      fresh.push_back(e[i]);
      uint32_t& h = home[e[i].meta & kIdMask];
      if (h == ~0u) h = uint32_t(off + i);
    }
    uint32_t nref;
    if (n >= kBigCount) {
      big.push_back({uint32_t(off), n});
      nref = kLeafRef | kBigCount << kOffBits | uint32_t(big.size() - 1);
    } else {
      nref = kLeafRef | n << kOffBits | uint32_t(off);
    }
    moved[ref] = nref;
    return nref;
  };
  for (Node& nd : nodes_)
    for (uint32_t& c : nd.child) c = move(c);
  for (Tree& t : trees_) t.root = move(t.root);
  for (uint32_t i = 0; i < home.size(); ++i) {
    if (home[i] != ~0u) continue;
    home[i] = uint32_t(fresh.size());
    fresh.push_back(slots_[home_[i]]);
  }
  slots_ = std::move(fresh);
  big_ = std::move(big);
  home_ = std::move(home);
  garbage_ = 0;
}

void ChainIndex::InsertPacked(uint32_t pos, const RuleBox& b) {
  if (home_.size() >= kIdMask)
    throw std::length_error("chain too long to index");
  Renumber(pos, +1);
  const int t = TreeOf(b);
  // The new rule's box waits in a slot of its own until leaves copy it.
  slots_.push_back(Pack(b, t, pos));
  ++garbage_;
  home_.insert(home_.begin() + pos, uint32_t(slots_.size() - 1));
  budget_ = 64 * home_.size() + (size_t(1) << 16);
  Tree& tr = trees_[t];
  tr.root = AddTo(tr.root, FullRegion(), 0, pos);
  if (tr.count++ == 0) {
    tr.min = tr.max = pos;
  } else {
    tr.min = std::min(tr.min, pos);
    tr.max = std::max(tr.max, pos);
  }
  SortTrees();
  if (garbage_ > slots_.size() / 2 + 1024 || slots_.size() > kOffMask / 2)
    Compact();
}

void ChainIndex::InsertBox(uint32_t pos, const RuleBox& b) {
  InsertPacked(pos, b);
}

void ChainIndex::Insert(uint32_t pos, const Rule& r) {
  InsertPacked(pos, BoxFor(r));
}

void ChainIndex::Erase(uint32_t pos) {
  const int t = int(BoxOf(pos).meta >> 27 & 3);
  Tree& tr = trees_[t];
  tr.root = RemoveFrom(tr.root, FullRegion(), pos);
  home_.erase(home_.begin() + pos);
  ++garbage_;
  // The tree bounds stay bounds: a removed minimum leaves a lower one.
  Renumber(pos + 1, -1);
  if (--tr.count == 0) {
    tr.min = ~0u;
    tr.max = 0;
  }
  SortTrees();
  if (garbage_ > slots_.size() / 2 + 1024) Compact();
}

size_t ChainIndex::MemoryBytes() const {
  return sizeof(*this) + slots_.capacity() * sizeof(Packed) +
         home_.capacity() * sizeof(uint32_t) +
         nodes_.capacity() * sizeof(Node) + big_.capacity() * sizeof(Big) +
         (in_pats_.capacity() + out_pats_.capacity()) * sizeof(Pattern);
}

ChainIndex::Stats ChainIndex::GetStats() const {
  Stats st;
  struct Item {
    uint32_t ref;
    size_t depth;
  };
  std::unordered_set<uint32_t> seen;
  for (const Tree& t : trees_) {
    if (t.count == 0) continue;
    ++st.trees;
    std::vector<Item> stack{{t.root, 0}};
    while (!stack.empty()) {
      Item it = stack.back();
      stack.pop_back();
      st.max_depth = std::max(st.max_depth, it.depth);
      if (it.ref & kLeafRef) {
        const Packed* e;
        uint32_t n;
        LeafOf(it.ref, e, n);
        ++st.leaves;
        if (n != 0 && seen.insert(it.ref).second) st.leaf_entries += n;
        st.max_leaf = std::max(st.max_leaf, size_t(n));
        continue;
      }
      ++st.nodes;
      const Node& nd = nodes_[NodeOf(it.ref)];
      for (unsigned j = 0; j <= (nd.meta >> 3); ++j)
        stack.push_back({nd.child[j], it.depth + 1});
    }
  }
  return st;
}

}  // namespace netfence::core
