// A compiled index over one chain's rules that makes rule lookup
// sub-linear without changing what the linear walk decides.
//
// The index never decides anything itself. For a packet it answers "which is
// the next rule at or after position i that may match?", and the walk in
// do_table.cc verifies that candidate with the exact rule logic (IpMatches and
// every match, in order). A rule the index skips is one whose IP header
// filter (or whose leading tcp / udp / icmp match, reached only through pure
// matches) cannot match the packet: the linear walk would have found it false
// too, without evaluating any match with a side effect and without a hotdrop.
//
// Each rule is reduced to a RuleBox: per header field a range that contains
// every value of a packet the rule can match (addresses from prefix masks,
// ports and ICMP types from the first tcp / udp / icmp match, the protocol),
// plus fragment and interface constraints. The boxes are partitioned into a
// few decision trees by which fields are specific (the EffiCuts idea: rules
// specific in the destination, in the source, in the port, or in none do not
// replicate into each other's trees). A tree node cuts one field into up to
// 16 unequal intervals chosen from the rule endpoints (HyperSplit's
// adaptivity with the shallow depth of multi-way cuts) and is two cache
// lines; a leaf is a run of its rules' boxes in rule order in one shared
// array (children with the same rules share a run). A lookup descends every
// tree at once (their loads overlap) and merges the leaves in rule order,
// testing each box as it goes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/ipfilter.h"
#include "core/types.h"

namespace netfence::core {

struct Rule;      // core/table.h
struct XtParams;  // core/xt.h
struct PktInfo;   // core/pktinfo.h

// ClsField numbers the header fields the trees cut on.
enum ClsField : uint8_t {
  kFieldSrc,    // source address (IPv6: one 32-bit word of it)
  kFieldDst,    // destination address (IPv6: one 32-bit word of it)
  kFieldSport,  // tcp / udp source port; ICMP type
  kFieldDport,  // tcp / udp destination port; ICMP code
  kFieldProto,  // IPv4 protocol field; IPv6 transport protocol
  kNumClsFields,
};

// PacketKey is what the index reads from one packet. It is filled by
// MakePacketKey (fields) and PadIfName (names), not by construction.
struct PacketKey {
  uint32_t f[kNumClsFields];
  uint8_t later_frag;  // 1: a non-first fragment (fragoff != 0)
  // Interface names NUL-padded to IFNAMSIZ, as IfaceMatches compares them.
  uint64_t in[2], out[2];
};

struct Interface;   // core/host.h
struct KeyVectors;  // classifier.cc: a key prepared for tree descents

// PadIfName copies what IfaceMatches compares of an interface's name (up to
// the first NUL, at most IFNAMSIZ - 1 characters, NUL padded; nullptr: the
// empty name) as two words.
void PadIfName(const Interface* ifc, uint64_t out[2]);

// MakePacketKey fills k's header fields (not its names) for a packet at a
// hook. It returns false when the
// index must not be used for this packet: an IPv6 packet whose header chain
// could not be walked (IpMatches may hotdrop it), or a transport header a
// tcp / udp / icmp match would hotdrop on (first fragment too short for it,
// TCP at fragment offset 1). addr_word selects the IPv6 address word.
bool MakePacketKey(const XtParams& p, const PktInfo& pi, int addr_word,
                   PacketKey& k);

// ChooseAddrWord picks the 32-bit word of IPv6 addresses in which the
// rules' prefixes differ most (0 for IPv4): the word an index over them
// cuts on.
int ChooseAddrWord(Family f,
                   const std::vector<const std::vector<Rule>*>& chains);

// RuleBox is a superset of the packets one rule can match.
struct RuleBox {
  uint32_t lo[kNumClsFields] = {0, 0, 0, 0, 0};
  uint32_t hi[kNumClsFields] = {~0u, ~0u, 0xffff, 0xffff, 0xff};
  // Bit 0: first fragments and whole packets may match; bit 1: later
  // fragments may match.
  uint8_t frag_ok = 3;
  // Interface pattern numbers of the chain's pattern tables (0 = any); bit 7
  // inverts.
  uint8_t in_pat = 0, out_pat = 0;
  // exact: the box describes the rule completely (its header filter is
  // prefixes and plain fields, its matches at most one tcp / udp port match
  // and comments). Informational: the walk verifies every candidate anyway.
  bool exact = false;
  // An exact rule's verdict when it ends the walk: 1 ACCEPT, 2 DROP (a
  // plain -j ACCEPT / DROP), else 0. Lets a decided packet skip the rule's
  // action (a cache miss in large chains).
  uint8_t verdict = 0;
};

// ClassifierOptions tunes index construction.
struct ClassifierOptions {
  int leaf_size = 8;       // rules a leaf may hold before it is cut
  int max_depth = 24;      // tree depth limit
  bool partition = true;   // one tree per kind of specific field (EffiCuts)
  uint32_t min_rules = 8;  // chains shorter than this are walked linearly
};

// ClsBox is a RuleBox as an index stores it, laid out for the containment
// test: ranges as (low, span), so one subtraction and one compare test a
// field; meta holds the rule's position (24 bits), frag_ok (2 bits), the
// exact flag and the rule's tree.
struct ClsBox {
  uint32_t src_lo, src_span, dst_lo, dst_span;
  uint16_t sport_lo, sport_span, dport_lo, dport_span;
  uint8_t proto_lo, proto_span, in_pat, out_pat;
  uint32_t meta;
};
static_assert(sizeof(ClsBox) == 32);

// ClsCursor is the lookup state of one visit of a chain by one packet. The
// positions it asks for must not decrease; Reset it for a new visit or key.
// Only `ready` is initialised: the rest is filled when first used, which
// keeps a cursor cheap to make for every packet.
struct ClsCursor {
  static constexpr int kMaxTrees = 4;
  void Reset() { ready = false; }
  bool ready = false;
  bool exact;       // the candidate Next returned last has an exact box
  uint8_t verdict;  // and its RuleBox::verdict
  uint8_t lazy;     // trees not descended yet (ChainIndex::lazy_)
  uint64_t in_mask, out_mask;  // patterns the interfaces match
  const ClsBox* leaf[kMaxTrees];
  uint32_t pos[kMaxTrees], n[kMaxTrees];
};

// ChainIndex is the compiled index of one chain. Lookups are const and
// thread-safe; the update functions are for a private copy (copy the index,
// update the copy, publish it) so readers never see a half-made index.
class ChainIndex {
 public:
  // addr_word picks the 32-bit word of IPv6 addresses the index uses (see
  // ChooseAddrWord); it is 0 for IPv4.
  ChainIndex(Family f, int addr_word, ClassifierOptions o = {});

  // Build indexes a chain's rules (replacing what was there).
  void Build(const std::vector<Rule>& rules);
  // BuildBoxes indexes boxes directly (benchmarks, tests); the boxes' pattern
  // numbers must be 0.
  void BuildBoxes(std::vector<RuleBox> boxes);

  // Insert indexes rule r, now at position pos; the rules at pos and after
  // move up by one. Erase forgets the rule at pos; later ones move down.
  void Insert(uint32_t pos, const Rule& r);
  void Erase(uint32_t pos);
  // InsertBox is Insert for a box (pattern numbers 0).
  void InsertBox(uint32_t pos, const RuleBox& b);

  // Next returns the first position >= i whose rule may match the packet,
  // or size() when none may. Successive calls with one cursor must not
  // decrease i.
  uint32_t Next(uint32_t i, const PacketKey& k, ClsCursor& c) const;
  // NextBurst is Next(0, ...) for n packets at once, with the trees walked
  // level by level across the burst so the memory accesses overlap. Each
  // cursor is reset first.
  void NextBurst(const PacketKey* const* keys, ClsCursor* const* cursors,
                 size_t n, uint32_t* out) const;

  // BoxFor computes a rule's box with this chain's address word and
  // interface patterns (adding patterns as needed).
  RuleBox BoxFor(const Rule& r);

  uint32_t size() const { return uint32_t(home_.size()); }
  int addr_word() const { return addr_word_; }
  // Exact reports whether rule i's box describes it completely.
  bool Exact(uint32_t i) const { return slots_[home_[i]].meta & kExactBit; }
  // MemoryBytes is the heap the index occupies.
  size_t MemoryBytes() const;
  // Stats describe the index shape (for tuning and reports).
  struct Stats {
    size_t trees = 0, nodes = 0, leaves = 0, leaf_entries = 0;
    size_t max_leaf = 0, max_depth = 0;
  };
  Stats GetStats() const;

 private:
  static constexpr uint32_t kIdMask = (1u << 24) - 1;
  static constexpr uint32_t kExactBit = 1u << 26;
  static constexpr int kVerdictShift = 29;
  using Packed = ClsBox;
  // Node is an inner node: up to 15 thresholds (sign bit flipped for
  // signed SIMD compares; unused ones are the maximum) cut one field into
  // up to 16 intervals, child j covering [thr[j-1], thr[j]). Two cache
  // lines: thresholds, then child references (see classifier.cc).
  struct alignas(64) Node {
    uint32_t thr[15];
    uint32_t meta;  // field | thresholds << 3
    uint32_t child[16];
  };
  static_assert(sizeof(Node) == 128);
  struct Big {
    uint32_t off, count;
  };
  struct Tree {
    uint32_t root = 0x80000000u;  // an empty leaf
    uint32_t min = ~0u, max = 0;  // bounds of the positions it holds
    uint32_t count = 0;           // rules in the tree
  };
  struct Region {
    uint32_t lo[kNumClsFields], hi[kNumClsFields];
  };
  struct LeafDedup;
  struct Pattern {
    uint64_t name[2], mask[2];
  };

  static Packed Pack(const RuleBox& b, int tree, uint32_t id);
  const Packed& BoxOf(uint32_t id) const;
  uint32_t Lo(uint32_t id, int f) const;
  uint32_t Hi(uint32_t id, int f) const;
  static Region FullRegion();
  int TreeOf(const RuleBox& b) const;
  bool Contains(const Packed& b, const PacketKey& k, const ClsCursor& c) const;
  uint32_t Descend(uint32_t ref, const KeyVectors& kv) const;
  static void SetChild(Node& n, unsigned j, uint32_t ref);
  void PrepareCursor(const PacketKey& k, ClsCursor& c) const;
  void InitCursor(const PacketKey& k, ClsCursor& c) const;
  void DescendLazy(int t, const PacketKey& k, ClsCursor& c) const;
  void LeafOf(uint32_t ref, const Packed*& boxes, uint32_t& n) const;
  uint32_t MakeLeaf(const uint32_t* ids, uint32_t n, LeafDedup* dedup);
  uint32_t ReplaceLeaf(uint32_t old, std::vector<uint32_t>& v);
  uint32_t Fill(std::vector<uint32_t>& ids, const Region& r, int depth,
                LeafDedup* dedup);
  bool ChooseCuts(int field, const std::vector<uint32_t>& ids, const Region& r,
                  std::vector<uint32_t>& thr) const;
  void Assign(int field, std::vector<uint32_t>& thr,
              const std::vector<uint32_t>& ids, const Region& r,
              std::vector<std::vector<uint32_t>>& children) const;
  uint32_t AddTo(uint32_t ref, const Region& r, int depth, uint32_t id);
  uint32_t RemoveFrom(uint32_t ref, const Region& r, uint32_t id);
  void Renumber(uint32_t from, int delta);
  void Compact();
  void SortTrees();
  void InsertPacked(uint32_t pos, const RuleBox& b);
  uint8_t PatternOf(std::vector<Pattern>& pats, const IfaceMatch& m, bool inv,
                    bool& exact);
  static uint64_t PatternMask(const std::vector<Pattern>& pats,
                              const uint64_t name[2]);

  Family family_;
  ClassifierOptions opts_;
  int addr_word_ = 0;  // IPv6: the address word the trees use
  std::vector<Node> nodes_;
  // Leaves are runs of slots_: the boxes of their rules, in rule order, so
  // a lookup reads a leaf's boxes in one sequential sweep (rules in several
  // leaves have a copy in each).
  std::vector<Packed> slots_;
  std::vector<uint32_t> home_;  // per rule position: a slot with its box
  std::vector<Packed> master_;  // per rule position, while building
  std::vector<Big> big_;
  size_t garbage_ = 0;  // slots no leaf refers to any more (after updates)
  size_t budget_ = 0;   // slots a build may use (see BuildBoxes)
  Tree trees_[ClsCursor::kMaxTrees];
  uint8_t order_[ClsCursor::kMaxTrees] = {0, 1, 2, 3};  // by Tree::min
  // Trees a cursor descends only when Next reaches them (see SortTrees).
  uint8_t lazy_ = 0;
  // Interface patterns seen in the chain; entry 0 is "any interface".
  std::vector<Pattern> in_pats_, out_pats_;
};

}  // namespace netfence::core
