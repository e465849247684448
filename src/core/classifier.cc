#include "core/classifier.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <string>
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

constexpr uint32_t kLeafBit = 1u << 31;
constexpr uint32_t kExtBit = 1u << 30;
constexpr uint32_t kCountMask = kExtBit - 1;
constexpr uint32_t kSign = 0x80000000u;
constexpr int kFanout = 16;  // children per node: 15 thresholds

enum : uint8_t { kTcp = 6, kUdp = 17, kIcmp = 1, kIcmpv6 = 58 };

// CountLE counts the thresholds (sign-flipped, ascending) among the first
// nthr that are <= key (sign-flipped): the child a key falls into.
inline unsigned CountLE(const uint32_t* thr, uint32_t key, unsigned nthr) {
#if defined(__SSE2__)
  const __m128i k = _mm_set1_epi32(int(key));
  const __m128i* p = reinterpret_cast<const __m128i*>(thr);
  __m128i a = _mm_cmpgt_epi32(_mm_load_si128(p), k);
  __m128i b = _mm_cmpgt_epi32(_mm_load_si128(p + 1), k);
  __m128i c = _mm_cmpgt_epi32(_mm_load_si128(p + 2), k);
  __m128i d = _mm_cmpgt_epi32(_mm_load_si128(p + 3), k);
  __m128i packed =
      _mm_packs_epi16(_mm_packs_epi32(a, b), _mm_packs_epi32(c, d));
  // Thresholds ascend, so the ones above the key are a run of high lanes.
  const unsigned gt = unsigned(_mm_movemask_epi8(packed)) | (1u << nthr);
  return unsigned(__builtin_ctz(gt));
#else
  unsigned j = 0;
  while (j < nthr && int32_t(thr[j]) <= int32_t(key)) ++j;
  return j;
#endif
}

// ParseRange reads "a" or "a:b" (decimal).
bool ParseRange(const std::string& s, uint32_t& lo, uint32_t& hi) {
  size_t colon = s.find(':');
  try {
    lo = uint32_t(std::stoul(s.substr(0, colon)));
    hi = colon == std::string::npos ? lo : uint32_t(std::stoul(s.substr(colon + 1)));
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
void IcmpFromSave(const std::string& text, bool v4, RuleBox& b,
                  bool& exact) {
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

ChainIndex::Packed ChainIndex::Pack(const RuleBox& b, uint16_t tree) {
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
  p.frag_ok = b.frag_ok;
  p.flags = b.exact ? kExactFlag : 0;
  p.in_pat = b.in_pat;
  p.out_pat = b.out_pat;
  p.tree = tree;
  return p;
}

uint32_t ChainIndex::Lo(uint32_t id, int f) const {
  const Packed& b = boxes_[id];
  switch (f) {
    case kFieldSrc: return b.src_lo;
    case kFieldDst: return b.dst_lo;
    case kFieldSport: return b.sport_lo;
    case kFieldDport: return b.dport_lo;
    default: return b.proto_lo;
  }
}

uint32_t ChainIndex::Hi(uint32_t id, int f) const {
  const Packed& b = boxes_[id];
  switch (f) {
    case kFieldSrc: return b.src_lo + b.src_span;
    case kFieldDst: return b.dst_lo + b.dst_span;
    case kFieldSport: return uint32_t(b.sport_lo) + b.sport_span;
    case kFieldDport: return uint32_t(b.dport_lo) + b.dport_span;
    default: return uint32_t(b.proto_lo) + b.proto_span;
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
    const bool ports = (name == "tcp" && proto == kTcp) ||
                       (name == "udp" && proto == kUdp);
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
  b.exact = exact;
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

void ChainIndex::BuildBoxes(std::vector<RuleBox> boxes) {
  boxes_.clear();
  boxes_.reserve(boxes.size());
  slots_.clear();
  ext_.clear();
  std::vector<std::vector<uint32_t>> ids(ClsCursor::kMaxTrees);
  for (uint32_t i = 0; i < boxes.size(); ++i) {
    const int t = TreeOf(boxes[i]);
    boxes_.push_back(Pack(boxes[i], uint16_t(t)));
    ids[t].push_back(i);
  }
  slots_.reserve(boxes.size() / 2 + ClsCursor::kMaxTrees);
  for (int t = 0; t < ClsCursor::kMaxTrees; ++t) {
    Tree& tr = trees_[t];
    tr = Tree{};
    tr.root = AllocSlots(1);
    tr.count = uint32_t(ids[t].size());
    if (!ids[t].empty()) {
      tr.min = ids[t].front();
      tr.max = ids[t].back();
    }
    Fill(tr.root, ids[t], FullRegion(), 0);
  }
  SortTrees();
}

void ChainIndex::SortTrees() {
  for (int i = 0; i < ClsCursor::kMaxTrees; ++i) order_[i] = uint8_t(i);
  std::sort(order_, order_ + ClsCursor::kMaxTrees, [&](uint8_t a, uint8_t b) {
    return trees_[a].min < trees_[b].min;
  });
}

uint32_t ChainIndex::AllocSlots(uint32_t n) {
  const uint32_t base = uint32_t(slots_.size());
  Slot empty{};
  empty.meta = kLeafBit;
  slots_.resize(base + n, empty);
  return base;
}

void ChainIndex::WriteLeaf(uint32_t s, const uint32_t* ids, uint32_t n) {
  Slot& sl = slots_[s];
  const bool was_ext = (sl.meta & kLeafBit) && (sl.meta & kExtBit);
  if (n <= 15) {
    // Copy first: ids may point into this slot.
    uint32_t tmp[15];
    std::copy(ids, ids + n, tmp);
    std::copy(tmp, tmp + n, sl.v);
    std::fill(sl.v + n, sl.v + 15, 0);
    sl.meta = kLeafBit | n;
    return;
  }
  uint32_t off, cap;
  if (was_ext && sl.v[1] >= n) {
    off = sl.v[0];
    cap = sl.v[1];
  } else {
    cap = std::max<uint32_t>(n, was_ext ? 2 * sl.v[1] : 32);
    off = uint32_t(ext_.size());
    ext_.resize(ext_.size() + cap);
  }
  std::memmove(ext_.data() + off, ids, n * sizeof(uint32_t));
  Slot& sl2 = slots_[s];
  sl2.v[0] = off;
  sl2.v[1] = cap;
  sl2.meta = kLeafBit | kExtBit | n;
}

void ChainIndex::LeafOf(uint32_t s, const uint32_t*& ids, uint32_t& n) const {
  const Slot& sl = slots_[s];
  n = sl.meta & kCountMask;
  ids = (sl.meta & kExtBit) ? ext_.data() + sl.v[0] : sl.v;
}

// Split is one way to cut a node: the field, the thresholds and the rules of
// each child.
struct ChainIndex::Split {
  int field = 0;
  std::vector<uint32_t> thr;
  std::vector<std::vector<uint32_t>> children;
  double score = 0;
};

bool ChainIndex::TrySplit(int field, const std::vector<uint32_t>& ids,
                          const Region& r, Split& out) const {
  const uint32_t rlo = r.lo[field], rhi = r.hi[field];
  if (rlo == rhi) return false;
  const size_t n = ids.size();
  std::vector<uint32_t> starts(n);
  for (size_t i = 0; i < n; ++i) starts[i] = std::max(Lo(ids[i], field), rlo);
  std::sort(starts.begin(), starts.end());
  // Equal numbers of rules start in each child (HyperSplit balances rule
  // endpoints the same way); rules wider than a child go to several.
  const size_t target = std::max<size_t>(1, (n + kFanout - 1) / kFanout);
  std::vector<uint32_t> thr;
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
  if (thr.empty()) return false;
  std::vector<std::vector<uint32_t>> children(thr.size() + 1);
  for (uint32_t id : ids) {
    const uint32_t a = std::max(Lo(id, field), rlo);
    const uint32_t b = std::min(Hi(id, field), rhi);
    const size_t ja = std::upper_bound(thr.begin(), thr.end(), a) - thr.begin();
    const size_t jb = std::upper_bound(thr.begin(), thr.end(), b) - thr.begin();
    for (size_t j = ja; j <= jb; ++j) children[j].push_back(id);
  }
  // Neighbours holding the same rules are one child.
  std::vector<uint32_t> mthr;
  std::vector<std::vector<uint32_t>> mchildren;
  mchildren.push_back(std::move(children[0]));
  for (size_t j = 1; j < children.size(); ++j) {
    if (children[j] == mchildren.back()) continue;
    mthr.push_back(thr[j - 1]);
    mchildren.push_back(std::move(children[j]));
  }
  if (mchildren.size() < 2) return false;
  size_t maxc = 0;
  double score = 0;
  for (const auto& c : mchildren) {
    maxc = std::max(maxc, c.size());
    score += double(c.size()) * double(c.size());
  }
  if (maxc >= n) return false;  // no child is smaller than the node
  out.field = field;
  out.thr = std::move(mthr);
  out.children = std::move(mchildren);
  out.score = score;
  return true;
}

void ChainIndex::Fill(uint32_t s, std::vector<uint32_t>& ids, const Region& r,
                      int depth) {
  if (ids.size() <= size_t(opts_.leaf_size) || depth >= opts_.max_depth) {
    WriteLeaf(s, ids.data(), uint32_t(ids.size()));
    return;
  }
  Split best, cand;
  bool have = false;
  for (int f = 0; f < kNumClsFields; ++f) {
    if (TrySplit(f, ids, r, cand) && (!have || cand.score < best.score)) {
      std::swap(best, cand);
      have = true;
    }
  }
  if (!have) {
    WriteLeaf(s, ids.data(), uint32_t(ids.size()));
    return;
  }
  std::vector<uint32_t>().swap(ids);
  const uint32_t nchild = uint32_t(best.children.size());
  if (slots_.size() + nchild >= (1u << 24)) {
    // Child numbers have 24 bits; an index that large stays a big leaf.
    for (auto& c : best.children) ids.insert(ids.end(), c.begin(), c.end());
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    WriteLeaf(s, ids.data(), uint32_t(ids.size()));
    return;
  }
  const uint32_t base = AllocSlots(nchild);
  Slot node;
  for (int j = 0; j < 15; ++j)
    node.v[j] = j < int(best.thr.size()) ? best.thr[j] ^ kSign : ~kSign;
  node.meta = uint32_t(best.field) | uint32_t(best.thr.size()) << 3 | base << 7;
  slots_[s] = node;
  for (uint32_t j = 0; j < nchild; ++j) {
    Region cr = r;
    if (j > 0) cr.lo[best.field] = best.thr[j - 1];
    if (j < best.thr.size()) cr.hi[best.field] = best.thr[j] - 1;
    Fill(base + j, best.children[j], cr, depth + 1);
  }
}

void ChainIndex::PrepareCursor(const PacketKey& k, ClsCursor& c) const {
  c.ready = true;
  c.in_mask = in_pats_.size() > 1 ? PatternMask(in_pats_, k.in) : 1;
  c.out_mask = out_pats_.size() > 1 ? PatternMask(out_pats_, k.out) : 1;
  // All trees are descended at once: the chains of dependent loads of
  // different trees overlap, so this costs about one tree's latency.
  uint32_t cur[ClsCursor::kMaxTrees];
  for (int t = 0; t < ClsCursor::kMaxTrees; ++t) cur[t] = trees_[t].root;
  bool more = true;
  while (more) {
    more = false;
    for (int t = 0; t < ClsCursor::kMaxTrees; ++t) {
      const Slot& n = slots_[cur[t]];
      const uint32_t m = n.meta;
      if (m & kLeafBit) continue;
      cur[t] = (m >> 7) + CountLE(n.v, k.f[m & 7] ^ kSign, (m >> 3) & 15);
      more = true;
    }
  }
  for (int t = 0; t < ClsCursor::kMaxTrees; ++t) {
    LeafOf(cur[t], c.leaf[t], c.n[t]);
    c.pos[t] = 0;
  }
}

inline bool ChainIndex::Contains(const Packed& b, const PacketKey& k,
                                 const ClsCursor& c) const {
  return ((k.f[kFieldSrc] - b.src_lo) <= b.src_span) &
         ((k.f[kFieldDst] - b.dst_lo) <= b.dst_span) &
         (uint16_t(k.f[kFieldSport] - b.sport_lo) <= b.sport_span) &
         (uint16_t(k.f[kFieldDport] - b.dport_lo) <= b.dport_span) &
         (uint8_t(k.f[kFieldProto] - b.proto_lo) <= b.proto_span) &
         ((b.frag_ok >> k.later_frag) & 1) &
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
    const uint32_t* ids = c.leaf[t];
    uint32_t p = c.pos[t];
    const uint32_t e = c.n[t];
    for (; p < e; ++p) {
      const uint32_t id = ids[p];
      if (id >= best) break;
      if (id >= i && Contains(boxes_[id], k, c)) {
        best = id;
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
    uint32_t cur[kChunk][kT];
    for (size_t j = 0; j < m; ++j) {
      ClsCursor& c = *cursors[base + j];
      const PacketKey& k = *keys[base + j];
      c.ready = true;
      c.in_mask = in_pats_.size() > 1 ? PatternMask(in_pats_, k.in) : 1;
      c.out_mask = out_pats_.size() > 1 ? PatternMask(out_pats_, k.out) : 1;
      for (int t = 0; t < kT; ++t) cur[j][t] = trees_[t].root;
    }
    // Every packet moves down one level of every tree per round, so the
    // loads of a round are independent and their cache misses overlap.
    bool more = true;
    while (more) {
      more = false;
      for (size_t j = 0; j < m; ++j) {
        const PacketKey& k = *keys[base + j];
        for (int t = 0; t < kT; ++t) {
          const Slot& sl = slots_[cur[j][t]];
          const uint32_t meta = sl.meta;
          if (meta & kLeafBit) continue;
          const uint32_t next = (meta >> 7) + CountLE(sl.v, k.f[meta & 7] ^ kSign,
                                                      (meta >> 3) & 15);
          __builtin_prefetch(&slots_[next]);
          cur[j][t] = next;
          more = true;
        }
      }
    }
    for (size_t j = 0; j < m; ++j) {
      ClsCursor& c = *cursors[base + j];
      for (int t = 0; t < kT; ++t) {
        LeafOf(cur[j][t], c.leaf[t], c.n[t]);
        c.pos[t] = 0;
        if (c.n[t] != 0) __builtin_prefetch(&boxes_[c.leaf[t][0]]);
      }
    }
    for (size_t j = 0; j < m; ++j)
      out[base + j] = Next(0, *keys[base + j], *cursors[base + j]);
  }
}

void ChainIndex::Renumber(uint32_t from, int delta) {
  for (Slot& sl : slots_) {
    if (!(sl.meta & kLeafBit)) continue;
    const uint32_t n = sl.meta & kCountMask;
    uint32_t* ids = (sl.meta & kExtBit) ? ext_.data() + sl.v[0] : sl.v;
    // Entries are sorted: only a tail moves.
    uint32_t* p = std::lower_bound(ids, ids + n, from);
    for (; p < ids + n; ++p) *p = uint32_t(int64_t(*p) + delta);
  }
  for (Tree& t : trees_) {
    if (t.count == 0) continue;
    if (t.min >= from) t.min = uint32_t(int64_t(t.min) + delta);
    if (t.max >= from) t.max = uint32_t(int64_t(t.max) + delta);
  }
}

void ChainIndex::AddTo(uint32_t s, const Region& r, int depth, uint32_t id) {
  const uint32_t meta = slots_[s].meta;
  if (meta & kLeafBit) {
    const uint32_t* ids;
    uint32_t n;
    LeafOf(s, ids, n);
    std::vector<uint32_t> v(ids, ids + n);
    v.insert(std::upper_bound(v.begin(), v.end(), id), id);
    // A leaf that keeps growing is cut again, at doubling sizes so that a
    // leaf that cannot be cut is not retried on every insertion.
    const size_t ls = size_t(opts_.leaf_size);
    if (v.size() > ls && std::has_single_bit(v.size() / ls) &&
        v.size() % ls == 0 && depth < opts_.max_depth) {
      Fill(s, v, r, depth);
    } else {
      WriteLeaf(s, v.data(), uint32_t(v.size()));
    }
    return;
  }
  const int f = int(meta & 7);
  const unsigned nthr = (meta >> 3) & 15;
  const uint32_t base = meta >> 7;
  uint32_t thr[15];
  for (unsigned j = 0; j < nthr; ++j) thr[j] = slots_[s].v[j] ^ kSign;
  const uint32_t a = Lo(id, f), b = Hi(id, f);
  for (unsigned j = 0; j <= nthr; ++j) {
    Region cr = r;
    if (j > 0) cr.lo[f] = thr[j - 1];
    if (j < nthr) cr.hi[f] = thr[j] - 1;
    if (b < cr.lo[f] || a > cr.hi[f]) continue;
    AddTo(base + j, cr, depth + 1, id);
  }
}

void ChainIndex::RemoveFrom(uint32_t s, const Region& r, uint32_t id) {
  const uint32_t meta = slots_[s].meta;
  if (meta & kLeafBit) {
    const uint32_t* ids;
    uint32_t n;
    LeafOf(s, ids, n);
    std::vector<uint32_t> v(ids, ids + n);
    auto it = std::lower_bound(v.begin(), v.end(), id);
    if (it != v.end() && *it == id) {
      v.erase(it);
      WriteLeaf(s, v.data(), uint32_t(v.size()));
    }
    return;
  }
  const int f = int(meta & 7);
  const unsigned nthr = (meta >> 3) & 15;
  const uint32_t base = meta >> 7;
  const uint32_t a = Lo(id, f), b = Hi(id, f);
  for (unsigned j = 0; j <= nthr; ++j) {
    Region cr = r;
    if (j > 0) cr.lo[f] = slots_[s].v[j - 1] ^ kSign;
    if (j < nthr) cr.hi[f] = (slots_[s].v[j] ^ kSign) - 1;
    if (b < cr.lo[f] || a > cr.hi[f]) continue;
    RemoveFrom(base + j, cr, id);
  }
}

void ChainIndex::InsertPacked(uint32_t pos, const RuleBox& b) {
  Renumber(pos, +1);
  const int t = TreeOf(b);
  boxes_.insert(boxes_.begin() + pos, Pack(b, uint16_t(t)));
  Tree& tr = trees_[t];
  AddTo(tr.root, FullRegion(), 0, pos);
  if (tr.count++ == 0) {
    tr.min = tr.max = pos;
  } else {
    tr.min = std::min(tr.min, pos);
    tr.max = std::max(tr.max, pos);
  }
  SortTrees();
}

void ChainIndex::InsertBox(uint32_t pos, const RuleBox& b) {
  InsertPacked(pos, b);
}

void ChainIndex::Insert(uint32_t pos, const Rule& r) {
  InsertPacked(pos, BoxFor(r));
}

void ChainIndex::Erase(uint32_t pos) {
  const int t = boxes_[pos].tree;
  Tree& tr = trees_[t];
  RemoveFrom(tr.root, FullRegion(), pos);
  boxes_.erase(boxes_.begin() + pos);
  // The tree bounds stay bounds: a removed minimum leaves a lower one.
  Renumber(pos + 1, -1);
  if (--tr.count == 0) {
    tr.min = ~0u;
    tr.max = 0;
  }
  SortTrees();
}

size_t ChainIndex::MemoryBytes() const {
  return sizeof(*this) + boxes_.capacity() * sizeof(Packed) +
         slots_.capacity() * sizeof(Slot) + ext_.capacity() * sizeof(uint32_t) +
         (in_pats_.capacity() + out_pats_.capacity()) * sizeof(Pattern);
}

ChainIndex::Stats ChainIndex::GetStats() const {
  Stats st;
  struct Item {
    uint32_t s;
    size_t depth;
  };
  for (const Tree& t : trees_) {
    if (t.count == 0) continue;
    ++st.trees;
    std::vector<Item> stack{{t.root, 0}};
    while (!stack.empty()) {
      Item it = stack.back();
      stack.pop_back();
      const Slot& sl = slots_[it.s];
      st.max_depth = std::max(st.max_depth, it.depth);
      if (sl.meta & kLeafBit) {
        ++st.leaves;
        const size_t n = sl.meta & kCountMask;
        st.leaf_entries += n;
        st.max_leaf = std::max(st.max_leaf, n);
        continue;
      }
      ++st.nodes;
      const unsigned nthr = (sl.meta >> 3) & 15;
      for (unsigned j = 0; j <= nthr; ++j)
        stack.push_back({(sl.meta >> 7) + j, it.depth + 1});
    }
  }
  return st;
}

}  // namespace netfence::core
