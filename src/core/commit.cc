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

std::vector<HookMask> ChainHookMasks(const Table& t) {
  std::vector<HookMask> masks(t.chains.size(), 0);
  std::vector<int> state(t.chains.size(), 0);  // 0 new, 1 on stack, 2 done
  std::function<void(int, HookMask)> visit = [&](int ci, HookMask h) {
    if (state[ci] == 1)
      throw CommitError("Too many levels of symbolic links (a loop of "
                        "jumps through chain `" + t.chains[ci].name + "')");
    if ((masks[ci] & h) == h && state[ci] == 2) return;
    masks[ci] |= h;
    state[ci] = 1;
    for (const Rule& r : t.chains[ci].rules) {
      if (!IsChainJump(r)) continue;
      int target = r.chain_index >= 0 ? r.chain_index
                                      : t.ChainIndex(r.chain_target);
      if (target >= 0) visit(target, h);
    }
    state[ci] = 2;
  };
  for (size_t i = 0; i < t.chains.size(); ++i) {
    if (!t.chains[i].builtin) continue;
    std::fill(state.begin(), state.end(), 0);
    visit(int(i), HookBit(t.chains[i].hook));
  }
  return masks;
}

void CommitTable(Table& t) {
  ResolveJumps(t);
  std::vector<HookMask> masks = ChainHookMasks(t);
  for (size_t ci = 0; ci < t.chains.size(); ++ci) {
    for (Rule& r : t.chains[ci].rules) {
      CheckCtx ctx{t.name, &r.ip, masks[ci], t.family};
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
