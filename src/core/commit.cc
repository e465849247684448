#include "core/commit.h"

#include <functional>

namespace netfence::core {

namespace {

bool IsChainJump(const Rule& r) {
  return r.kind == TargetKind::kJump || r.kind == TargetKind::kGoto;
}

void ResolveJumps(Table& t) {
  for (Chain& c : t.chains) {
    c.references = 0;
  }
  for (Chain& c : t.chains) {
    for (Rule& r : c.rules) {
      if (!IsChainJump(r)) continue;
      r.chain_index = t.ChainIndex(r.chain_target);
      if (r.chain_index < 0)
        throw CommitError("line " + std::to_string(r.line) + ": chain `" +
                          r.chain_target + "' does not exist");
      t.chains[r.chain_index].references++;
    }
  }
}

}  // namespace

namespace {

}  // namespace

bool Unconditional(const Rule& r) {
  static const IpFilter kEmpty;
  const IpFilter& f = r.ip;
  return r.matches.empty() && f.src == kEmpty.src && f.smsk == kEmpty.smsk &&
         f.dst == kEmpty.dst && f.dmsk == kEmpty.dmsk &&
         f.in.name == kEmpty.in.name && f.in.mask == kEmpty.in.mask &&
         f.out.name == kEmpty.out.name && f.out.mask == kEmpty.out.mask &&
         f.proto == 0 && !f.proto_set && !f.frag && f.invflags == 0;
}

namespace {

// HookWalk follows mark_source_chains for one hook: it walks entries in
// order, chases jumps and gotos, stops at an unconditional verdict (or the
// chain's tail) and at entries this hook already visited, and refuses a
// jump back onto the path being walked (a loop).
class HookWalk {
 public:
  HookWalk(const Table& t, std::vector<std::vector<HookMask>>& seen)
      : t_(t), seen_(seen) {
    for (const Chain& c : t.chains) onpath_.emplace_back(c.rules.size() + 1, false);
  }

  void Walk(int chain, HookMask h) {
    const Chain& c = t_.chains[chain];
    std::vector<int> pushed;
    for (size_t i = 0;; ++i) {
      if (onpath_[chain][i])
        throw CommitError("Too many levels of symbolic links (a loop of "
                          "jumps through chain `" + c.name + "')");
      const bool was = seen_[chain][i] & h;
      seen_[chain][i] |= h;
      onpath_[chain][i] = true;
      pushed.push_back(int(i));
      if (i == c.rules.size() || was) break;  // tail: policy or RETURN
      const Rule& r = c.rules[i];
      if (r.kind == TargetKind::kStandard && Unconditional(r)) break;
      if (r.kind == TargetKind::kJump || r.kind == TargetKind::kGoto) {
        const int target =
            r.chain_index >= 0 ? r.chain_index : t_.ChainIndex(r.chain_target);
        if (target >= 0) Walk(target, h);
      }
    }
    for (int i : pushed) onpath_[chain][i] = false;
  }

 private:
  const Table& t_;
  std::vector<std::vector<HookMask>>& seen_;
  std::vector<std::vector<bool>> onpath_;
};

}  // namespace

std::vector<std::vector<HookMask>> RuleHookMasks(const Table& t) {
  std::vector<std::vector<HookMask>> seen;
  for (const Chain& c : t.chains) seen.emplace_back(c.rules.size() + 1, 0);
  for (size_t i = 0; i < t.chains.size(); ++i) {
    if (!t.chains[i].builtin) continue;
    HookWalk(t, seen).Walk(int(i), HookBit(t.chains[i].hook));
  }
  return seen;
}

void CommitTable(Table& t) {
  ResolveJumps(t);
  // Each rule is checked against the hooks it can actually be reached from.
  std::vector<std::vector<HookMask>> masks = RuleHookMasks(t);
  for (size_t ci = 0; ci < t.chains.size(); ++ci) {
    for (size_t ri = 0; ri < t.chains[ci].rules.size(); ++ri) {
      Rule& r = t.chains[ci].rules[ri];
      CheckCtx ctx{t.name, &r.ip, masks[ci][ri], t.family};
      ctx.matches = &r.matches;
      ctx.scope = t.scope.get();
      try {
        for (MatchEntry& m : r.matches) {
          CheckGeneric("match", m.type->name, m.type->table, m.type->hooks,
                       m.type->proto, ctx);
          m.match->Check(ctx);
        }
        if (r.kind == TargetKind::kExtension) {
          const TargetType& tt = *r.target_type;
          CheckGeneric("target", tt.name, tt.table, tt.hooks, tt.proto, ctx);
          r.target->Check(ctx);
        }
      } catch (const CommitError& e) {
        throw CommitError("rule at line " + std::to_string(r.line) + " (" +
                          t.chains[ci].name + "): " + e.what());
      }
    }
  }
}

}  // namespace netfence::core
