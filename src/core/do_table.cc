#include "core/do_table.h"

#include <cstring>

#include "core/host.h"

namespace netfence::core {

TableRuntime::TableRuntime(std::unique_ptr<Table> t) : table_(std::move(t)) {
  hook_chain_.assign(kNumHooks, -1);
  for (size_t i = 0; i < table_->chains.size(); ++i) {
    const Chain& c = table_->chains[i];
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
    for (size_t r = 0; r < c.rules.size(); ++r) {
      c.rules[r].counters.pkts = counters_[i][r].pkts.load();
      c.rules[r].counters.bytes = counters_[i][r].bytes.load();
    }
    c.policy_counters.pkts = counters_[i][c.rules.size()].pkts.load();
    c.policy_counters.bytes = counters_[i][c.rules.size()].bytes.load();
  }
}

namespace {

bool AddrMatches(const Addr& a, const Addr& want, const Addr& mask,
                 size_t len) {
  for (size_t i = 0; i < len; ++i)
    if ((a.b[i] & mask.b[i]) != want.b[i]) return false;
  return true;
}

}  // namespace

bool TableRuntime::IpMatches(const Rule& r, const XtParams& p,
                             const PktInfo& pi, bool& hotdrop) const {
  const IpFilter& f = r.ip;
  const uint8_t* d = p.skb->data.data();
  const bool v4 = p.skb->family == Family::kIPv4;
  Addr src, dst;
  std::memcpy(src.b.data(), d + (v4 ? 12 : 8), v4 ? 4 : 16);
  std::memcpy(dst.b.data(), d + (v4 ? 16 : 24), v4 ? 4 : 16);
  const size_t alen = v4 ? 4 : 16;
  if (AddrMatches(src, f.src, f.smsk, alen) == bool(f.invflags & kInvSrcIp))
    return false;
  if (AddrMatches(dst, f.dst, f.dmsk, alen) == bool(f.invflags & kInvDstIp))
    return false;
  const char* in = p.state->in ? p.state->in->name.c_str() : "";
  const char* out = p.state->out ? p.state->out->name.c_str() : "";
  if (IfaceMatches(f.in, in) == bool(f.invflags & kInvViaIn)) return false;
  if (IfaceMatches(f.out, out) == bool(f.invflags & kInvViaOut)) return false;
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

Decision TableRuntime::Run(Hook h, XtParams& p, const PktInfo& pi,
                           RuleVisitor* visitor) const {
  Decision d;
  int chain = hook_chain_[static_cast<int>(h)];
  if (chain < 0) return d;
  p.thoff = pi.thoff;
  p.fragoff = pi.fragoff;
  p.l4proto = uint8_t(pi.l4proto < 0 ? 0 : pi.l4proto);
  p.hotdrop = false;
  p.table = table_->name.c_str();
  struct Frame {
    int chain, rule;
  };
  std::vector<Frame> stack;
  int rule = 0;
  const int base_chain = chain;
  while (true) {
    const Chain& c = table_->chains[chain];
    if (rule >= int(c.rules.size())) {
      // The chain's tail entry: a built-in chain's policy, or a user
      // chain's implicit RETURN. Both count the packet.
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
      stack.pop_back();
      continue;
    }
    const Rule& r = c.rules[rule];
    bool matched = IpMatches(r, p, pi, p.hotdrop);
    for (size_t m = 0; matched && m < r.matches.size(); ++m)
      matched = r.matches[m].match->Matches(p);
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
    counters_[chain][rule].Add(p.skb->data.size());
    if (visitor) visitor->Hit(*table_, chain, rule);
    switch (r.kind) {
      case TargetKind::kNone:
        ++rule;
        continue;
      case TargetKind::kStandard:
        if (r.verdict != Verdict::kReturn) {
          d.verdict = r.verdict;
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
          stack.pop_back();
        }
        continue;
      case TargetKind::kJump:
        stack.push_back({chain, rule});
        chain = r.chain_index;
        rule = 0;
        continue;
      case TargetKind::kGoto:
        chain = r.chain_index;
        rule = 0;
        continue;
      case TargetKind::kExtension: {
        p.rule_tag = &r;
        Verdict v = r.target->Run(p);
        if (v == Verdict::kContinue) {
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
