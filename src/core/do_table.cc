#include "core/do_table.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <stdexcept>

#include "core/host.h"

namespace netfence::core {

TableRuntime::TableRuntime(std::unique_ptr<Table> t, RuntimeOptions o)
    : table_(std::move(t)), opts_(o) {
  InitCounters();
  BuildIndexes();
}

TableRuntime::TableRuntime(std::unique_ptr<Table> t, const TableRuntime& prev,
                           const TableEdit& edit)
    : table_(std::move(t)), opts_(prev.opts_) {
  InitCounters();
  const auto& chains = table_->chains;
  bool fits = prev.compiled_ && edit.chain >= 0 &&
              prev.table_->chains.size() == chains.size() &&
              size_t(edit.chain) < chains.size() && edit.rule >= 0;
  if (fits) {
    const size_t before = prev.table_->chains[edit.chain].rules.size();
    const size_t after = chains[edit.chain].rules.size();
    fits = edit.kind == TableEdit::Kind::kInsert
               ? after == before + 1 && size_t(edit.rule) < after
               : after + 1 == before && size_t(edit.rule) < before;
  }
  if (!fits) {
    BuildIndexes();
    return;
  }
  // Every other chain keeps its index; the edited one gets an updated copy.
  addr_word_ = prev.addr_word_;
  index_ = prev.index_;
  compiled_ = true;
  const ChainIndex* old = prev.index_[edit.chain].get();
  const std::vector<Rule>& rules = chains[edit.chain].rules;
  try {
    if (old == nullptr) {
      if (rules.size() >= opts_.classifier.min_rules) {
        auto ix = std::make_shared<ChainIndex>(table_->family, addr_word_,
                                               opts_.classifier);
        ix->Build(rules);
        index_[edit.chain] = std::move(ix);
      }
      return;
    }
    auto ix = std::make_shared<ChainIndex>(*old);
    if (edit.kind == TableEdit::Kind::kInsert)
      ix->Insert(uint32_t(edit.rule), rules[edit.rule]);
    else
      ix->Erase(uint32_t(edit.rule));
    index_[edit.chain] = std::move(ix);
  } catch (const std::length_error&) {
    index_[edit.chain] = nullptr;  // too large to index: walked linearly
  }
}

void TableRuntime::BuildIndexes() {
  index_.assign(table_->chains.size(), nullptr);
  compiled_ = false;
  if (!opts_.compiled) return;
  std::vector<const std::vector<Rule>*> chains;
  for (const Chain& c : table_->chains) chains.push_back(&c.rules);
  addr_word_ = ChooseAddrWord(table_->family, chains);
  for (size_t i = 0; i < table_->chains.size(); ++i) {
    const std::vector<Rule>& rules = table_->chains[i].rules;
    if (rules.size() < opts_.classifier.min_rules) continue;
    auto ix = std::make_shared<ChainIndex>(table_->family, addr_word_,
                                           opts_.classifier);
    try {
      ix->Build(rules);
    } catch (const std::length_error&) {
      continue;  // too large to index (see ChainIndex): walked linearly
    }
    index_[i] = std::move(ix);
  }
  // Tables whose chains are all short keep the plain walk.
  for (const auto& ix : index_) compiled_ = compiled_ || ix != nullptr;
}

size_t TableRuntime::IndexMemoryBytes() const {
  size_t n = 0;
  for (const auto& ix : index_)
    if (ix) n += ix->MemoryBytes();
  return n;
}

namespace {

// SlotPool gives each live thread a distinct counter shard number while
// there are free ones, and takes it back when the thread ends.
class SlotPool {
 public:
  int Acquire() {
    std::lock_guard<std::mutex> lock(mu_);
    for (int i = 0; i < 64; ++i) {
      if (!(used_ >> i & 1)) {
        used_ |= uint64_t(1) << i;
        return i;
      }
    }
    return -1;
  }
  void Release(int i) {
    std::lock_guard<std::mutex> lock(mu_);
    used_ &= ~(uint64_t(1) << i);
  }

 private:
  std::mutex mu_;
  uint64_t used_ = 0;
};

SlotPool& Pool() {
  static SlotPool* pool = new SlotPool;  // outlives every thread's release
  return *pool;
}

thread_local int tls_slot = -2;  // -2: not asked yet; -1: none free

struct SlotReleaser {
  ~SlotReleaser() {
    if (tls_slot >= 0) Pool().Release(tls_slot);
    tls_slot = -1;
  }
};

int ThreadSlot() {
  if (tls_slot != -2) return tls_slot;
  tls_slot = Pool().Acquire();
  thread_local SlotReleaser releaser;
  return tls_slot;
}

}  // namespace

TableRuntime::~TableRuntime() {
  for (auto& s : shards_) delete[] s.load();
}

ShardCounter* TableRuntime::MyShard() const {
  const int slot = ThreadSlot();
  static_assert(kShards == 64);
  if (slot < 0) return nullptr;
  ShardCounter* sh = shards_[slot].load(std::memory_order_acquire);
  if (sh != nullptr) return sh;
  // Only this thread owns the slot, so only it can fill it.
  sh = new ShardCounter[shard_size_];
  shards_[slot].store(sh, std::memory_order_release);
  return sh;
}

namespace {

uint32_t Word(const Addr& a) {
  uint32_t w;
  std::memcpy(&w, a.b.data(), 4);
  return w;
}

}  // namespace

TableRuntime::Addr4 TableRuntime::Addr4Of(const Rule& r) {
  const IpFilter& f = r.ip;
  Addr4 a{Word(f.src), Word(f.smsk), Word(f.dst), Word(f.dmsk)};
  if (f.invflags & kInvSrcIp) a.src = a.smsk = 0;
  if (f.invflags & kInvDstIp) a.dst = a.dmsk = 0;
  return a;
}

void TableRuntime::InitCounters() {
  hook_chain_.assign(kNumHooks, -1);
  for (size_t i = 0; i < table_->chains.size(); ++i) {
    const Chain& c = table_->chains[i];
    chain_off_.push_back(shard_size_);
    shard_size_ += c.rules.size() + 1;
    actions_.emplace_back();
    if (table_->family == Family::kIPv4) addr4_.emplace_back();
    for (const Rule& r : c.rules) {
      actions_.back().push_back({r.kind, r.verdict, int32_t(r.chain_index)});
      if (table_->family == Family::kIPv4) addr4_.back().push_back(Addr4Of(r));
      for (size_t b = 0; b < kIfNameSize; ++b)
        if (r.ip.in.mask[b] != 0 || r.ip.out.mask[b] != 0) uses_ifaces_ = true;
    }
    if (c.builtin) hook_chain_[static_cast<int>(c.hook)] = int(i);
    // Counters start from what the ruleset carried (iptables-restore -c).
    auto* ctrs = new AtomicCounters[c.rules.size() + 1];
    counters_.emplace_back(ctrs);
    for (size_t r = 0; r < c.rules.size(); ++r) {
      ctrs[r].pkts = c.rules[r].counters.pkts;
      ctrs[r].bytes = c.rules[r].counters.bytes;
    }
    ctrs[c.rules.size()].pkts = c.policy_counters.pkts;
    ctrs[c.rules.size()].bytes = c.policy_counters.bytes;
  }
}

void TableRuntime::FoldCounters() {
  for (size_t i = 0; i < table_->chains.size(); ++i) {
    Chain& c = table_->chains[i];
    for (size_t r = 0; r <= c.rules.size(); ++r) {
      uint64_t pkts = counters_[i][r].pkts.load();
      uint64_t bytes = counters_[i][r].bytes.load();
      for (const auto& s : shards_) {
        const ShardCounter* sh = s.load(std::memory_order_acquire);
        if (sh == nullptr) continue;
        pkts += sh[chain_off_[i] + r].pkts.load(std::memory_order_relaxed);
        bytes += sh[chain_off_[i] + r].bytes.load(std::memory_order_relaxed);
      }
      Counters& to =
          r < c.rules.size() ? c.rules[r].counters : c.policy_counters;
      to.pkts = pkts;
      to.bytes = bytes;
    }
  }
}

namespace {

// The header filter compares whole words; byte for byte this is the
// kernel's (addr & mask) != want and ifname_compare_aligned.
bool Addr4Matches(const uint8_t* a, const Addr& want, const Addr& mask) {
  uint32_t x, w, m;
  std::memcpy(&x, a, 4);
  std::memcpy(&w, want.b.data(), 4);
  std::memcpy(&m, mask.b.data(), 4);
  return (x & m) == w;
}

bool Addr6Matches(const uint8_t* a, const Addr& want, const Addr& mask) {
  uint64_t x[2], w[2], m[2];
  std::memcpy(x, a, 16);
  std::memcpy(w, want.b.data(), 16);
  std::memcpy(m, mask.b.data(), 16);
  return ((x[0] & m[0]) == w[0]) & ((x[1] & m[1]) == w[1]);
}

bool NameMatches(const IfaceMatch& m, const uint64_t name[2]) {
  uint64_t n[2], k[2];
  std::memcpy(n, m.name.data(), kIfNameSize);
  std::memcpy(k, m.mask.data(), kIfNameSize);
  return (((name[0] ^ n[0]) & k[0]) | ((name[1] ^ n[1]) & k[1])) == 0;
}

}  // namespace

bool TableRuntime::IpMatches(const Rule& r, const XtParams& p,
                             const PktInfo& pi, const IfNames& names,
                             bool& hotdrop) const {
  const IpFilter& f = r.ip;
  const uint8_t* d = p.skb->data.data();
  const bool v4 = p.skb->family == Family::kIPv4;
  if (v4) {
    if (Addr4Matches(d + 12, f.src, f.smsk) == bool(f.invflags & kInvSrcIp))
      return false;
    if (Addr4Matches(d + 16, f.dst, f.dmsk) == bool(f.invflags & kInvDstIp))
      return false;
  } else {
    if (Addr6Matches(d + 8, f.src, f.smsk) == bool(f.invflags & kInvSrcIp))
      return false;
    if (Addr6Matches(d + 24, f.dst, f.dmsk) == bool(f.invflags & kInvDstIp))
      return false;
  }
  if (NameMatches(f.in, names.in) == bool(f.invflags & kInvViaIn)) return false;
  if (NameMatches(f.out, names.out) == bool(f.invflags & kInvViaOut))
    return false;
  if (v4) {
    if (f.proto && ((d[9] == f.proto) == bool(f.invflags & kInvProto)))
      return false;
    // -f matches second and further fragments only.
    if (f.frag && ((pi.fragoff != 0) == bool(f.invflags & kInvFrag)))
      return false;
    return true;
  }
  if (!f.proto_set) return true;
  if (pi.l4proto < 0) {
    if (pi.fragoff == 0) hotdrop = true;
    return false;
  }
  if (f.proto == pi.l4proto) return !(f.invflags & kInvProto);
  // A different protocol still matches "-p all" and any "! -p X".
  return f.proto == 0 || (f.invflags & kInvProto);
}

// Start carries what RunBurst computed for a packet before its walk.
struct TableRuntime::Start {
  PacketKey key;
  ClsCursor cursor;
  bool use_index = false;
  int first = -1;  // the hook chain's first candidate, when known
};

Decision TableRuntime::Run(Hook h, XtParams& p, const PktInfo& pi,
                           RuleVisitor* visitor) const {
  return Walk(h, p, pi, visitor, nullptr);
}

void TableRuntime::RunBurst(Hook h, XtParams* const* ps, const PktInfo* pis,
                            size_t n, Decision* out,
                            RuleVisitor* visitor) const {
  const int chain = hook_chain_[static_cast<int>(h)];
  const ChainIndex* ix = chain < 0 ? nullptr : index_[chain].get();
  if (ix == nullptr) {
    for (size_t i = 0; i < n; ++i)
      out[i] = Walk(h, *ps[i], pis[i], visitor, nullptr);
    return;
  }
  constexpr size_t kChunk = 32;
  Start starts[kChunk];
  const PacketKey* keys[kChunk];
  ClsCursor* cursors[kChunk];
  uint32_t first[kChunk];
  const std::vector<Rule>& rules = table_->chains[chain].rules;
  for (size_t base = 0; base < n; base += kChunk) {
    const size_t m = std::min(kChunk, n - base);
    // The packets' headers are read through three pointers (parameters,
    // packet, bytes): prefetch each level for the whole burst before the
    // next, so the misses of different packets overlap.
    for (size_t i = 0; i < m; ++i) __builtin_prefetch(ps[base + i]);
    for (size_t i = 0; i < m; ++i) {
      __builtin_prefetch(ps[base + i]->skb);
      __builtin_prefetch(&pis[base + i]);
    }
    for (size_t i = 0; i < m; ++i)
      __builtin_prefetch(ps[base + i]->skb->data.data());
    size_t k = 0;
    for (size_t i = 0; i < m; ++i) {
      Start& s = starts[i];
      s.use_index =
          MakePacketKey(*ps[base + i], pis[base + i], addr_word_, s.key);
      std::memset(s.key.in, 0, sizeof s.key.in);
      std::memset(s.key.out, 0, sizeof s.key.out);
      if (uses_ifaces_) {
        PadIfName(ps[base + i]->state->in, s.key.in);
        PadIfName(ps[base + i]->state->out, s.key.out);
      }
      s.cursor.Reset();
      s.first = -1;
      if (!s.use_index) continue;
      keys[k] = &s.key;
      cursors[k] = &s.cursor;
      ++k;
    }
    ix->NextBurst(keys, cursors, k, first);
    for (size_t i = 0, j = 0; i < m; ++i)
      if (starts[i].use_index) starts[i].first = int(first[j++]);
    // What each walk reads next: the first candidate's counter and action,
    // and its rule when the index cannot vouch for it.
    ShardCounter* sh = MyShard();
    for (size_t i = 0; i < k; ++i) {
      if (first[i] >= rules.size()) continue;
      if (sh != nullptr) __builtin_prefetch(&sh[chain_off_[chain] + first[i]]);
      if (opts_.trust_exact && cursors[i]->exact) {
        if (cursors[i]->verdict == 0)
          __builtin_prefetch(&actions_[chain][first[i]]);
        continue;
      }
      __builtin_prefetch(&actions_[chain][first[i]]);
      const char* r = reinterpret_cast<const char*>(&rules[first[i]]);
      for (size_t off = 0; off < sizeof(Rule); off += 64)
        __builtin_prefetch(r + off);
    }
    for (size_t i = 0; i < m; ++i)
      out[base + i] =
          Walk(h, *ps[base + i], pis[base + i], visitor, &starts[i]);
  }
}

int TableRuntime::SkipByAddress(int chain, int rule, const uint8_t* ip) const {
  uint32_t src, dst;
  std::memcpy(&src, ip + 12, 4);
  std::memcpy(&dst, ip + 16, 4);
  const std::vector<Addr4>& a = addr4_[chain];
  const int n = int(a.size());
  while (rule < n && (((src & a[rule].smsk) != a[rule].src) |
                      ((dst & a[rule].dmsk) != a[rule].dst)))
    ++rule;
  return rule;
}

Decision TableRuntime::Walk(Hook h, XtParams& p, const PktInfo& pi,
                            RuleVisitor* visitor, Start* start) const {
  Decision d;
  int chain = hook_chain_[static_cast<int>(h)];
  if (chain < 0) return d;
  p.thoff = pi.thoff;
  p.fragoff = pi.fragoff;
  p.l4proto = uint8_t(pi.l4proto < 0 ? 0 : pi.l4proto);
  p.hotdrop = false;
  p.table = table_->name.c_str();
  // With an index, the rules it rules out are skipped: for each of them the
  // walk below would find IpMatches (or a port match reached through pure
  // matches) false, with no side effect. Everything else is unchanged.
  // Masks of rules without interfaces are empty: then any names compare
  // equal, and zeros stand in for them.
  IfNames names{};
  if (uses_ifaces_) {
    PadIfName(p.state->in, names.in);
    PadIfName(p.state->out, names.out);
  }
  PacketKey own_key;
  const PacketKey* key = &own_key;
  ClsCursor cur;
  bool use_index = false;
  int known_first = -1;  // Next(0) of the hook chain, already asked
  if (start != nullptr) {
    key = &start->key;
    cur = start->cursor;
    use_index = start->use_index;
    known_first = start->first;
  } else if (compiled_) {
    use_index = MakePacketKey(p, pi, addr_word_, own_key);
    std::memcpy(own_key.in, names.in, sizeof names.in);
    std::memcpy(own_key.out, names.out, sizeof names.out);
  }
  ShardCounter* const shard = MyShard();
  uint32_t key_gen = 0;  // bumped when a target may have changed the key
  struct Frame {
    int chain, rule;
    ClsCursor cur;
    uint32_t key_gen;
  };
  std::vector<Frame> stack;
  int rule = 0;
  const int base_chain = chain;
  while (true) {
    const Chain& c = table_->chains[chain];
    if (rule >= int(c.rules.size())) {
      // The chain's tail entry: a built-in chain's policy, or a user
      // chain's implicit RETURN. Both count the packet.
      if (shard != nullptr)
        shard[chain_off_[chain] + c.rules.size()].Add(p.skb->data.size());
      else
        counters_[chain][c.rules.size()].Add(p.skb->data.size());
      if (visitor) visitor->Hit(*table_, chain, -1);
      if (c.builtin) {
        d.verdict = c.policy;
        d.chain = chain;
        d.rule = -1;
        return d;
      }
      if (stack.empty()) {
        chain = base_chain;
        rule = int(table_->chains[chain].rules.size());
        continue;
      }
      chain = stack.back().chain;
      rule = stack.back().rule + 1;
      cur = stack.back().cur;
      if (stack.back().key_gen != key_gen) cur.Reset();
      stack.pop_back();
      continue;
    }
    const ChainIndex* ix = use_index ? index_[chain].get() : nullptr;
    if (ix != nullptr) {
      const int next = known_first >= 0 && rule == 0 && chain == base_chain
                           ? known_first
                           : int(ix->Next(uint32_t(rule), *key, cur));
      known_first = -1;
      // Next(i) >= i: the rules between are ruled out. Past the end, the
      // chain's tail entry is next.
      rule = next;
      if (rule >= int(c.rules.size())) continue;
    } else if (!addr4_.empty()) {
      rule = SkipByAddress(chain, rule, p.skb->data.data());
      if (rule >= int(c.rules.size())) continue;
    }
    const Rule& r = c.rules[rule];
    if (shard != nullptr) __builtin_prefetch(&shard[chain_off_[chain] + rule]);
    bool matched;
    // Next just returned this rule: cur.exact is its box's.
    if (ix != nullptr && opts_.trust_exact && cur.exact) {
      matched = true;  // its box, which holds the packet, is the rule
    } else {
      matched = IpMatches(r, p, pi, names, p.hotdrop);
      for (size_t m = 0; matched && m < r.matches.size(); ++m)
        matched = r.matches[m].match->Matches(p);
    }
    if (!matched) {
      if (p.hotdrop) {
        d.verdict = Verdict::kDrop;
        d.chain = chain;
        d.rule = rule;
        return d;
      }
      ++rule;
      continue;
    }
    if (shard != nullptr)
      shard[chain_off_[chain] + rule].Add(p.skb->data.size());
    else
      counters_[chain][rule].Add(p.skb->data.size());
    if (visitor) visitor->Hit(*table_, chain, rule);
    if (ix != nullptr && opts_.trust_exact && cur.exact && cur.verdict != 0) {
      // The box carries the rule's plain ACCEPT / DROP: its action (a
      // cache miss in a large chain) need not be read.
      d.verdict = cur.verdict == 1 ? Verdict::kAccept : Verdict::kDrop;
      d.chain = chain;
      d.rule = rule;
      return d;
    }
    const Action& act = actions_[chain][rule];
    switch (act.kind) {
      case TargetKind::kNone:
        ++rule;
        continue;
      case TargetKind::kStandard:
        if (act.verdict != Verdict::kReturn) {
          d.verdict = act.verdict;
          d.chain = chain;
          d.rule = rule;
          return d;
        }
        if (stack.empty()) {
          // RETURN from a built-in chain: its policy decides.
          chain = base_chain;
          rule = int(table_->chains[chain].rules.size());
        } else {
          chain = stack.back().chain;
          rule = stack.back().rule + 1;
          cur = stack.back().cur;
          if (stack.back().key_gen != key_gen) cur.Reset();
          stack.pop_back();
        }
        continue;
      case TargetKind::kJump:
        stack.push_back({chain, rule, cur, key_gen});
        chain = act.chain_index;
        rule = 0;
        cur.Reset();
        continue;
      case TargetKind::kGoto:
        chain = act.chain_index;
        rule = 0;
        cur.Reset();
        continue;
      case TargetKind::kExtension: {
        p.rule_tag = &r;
        Verdict v = r.target->Run(p);
        if (v == Verdict::kContinue) {
          if (use_index) {
            // The target may have rewritten the header: read it again.
            use_index = MakePacketKey(p, pi, addr_word_, own_key);
            std::memcpy(own_key.in, names.in, sizeof names.in);
            std::memcpy(own_key.out, names.out, sizeof names.out);
            key = &own_key;
            cur.Reset();
            ++key_gen;
          }
          ++rule;
          continue;
        }
        d.verdict = v;
        d.chain = chain;
        d.rule = rule;
        return d;
      }
    }
  }
}

}  // namespace netfence::core
