#include "core/table.h"

#include <algorithm>

namespace netfence::core {

const char* HookName(Hook h) {
  static const char* kNames[] = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT",
                                 "POSTROUTING"};
  return kNames[static_cast<int>(h)];
}

std::string Rule::TargetName() const {
  switch (kind) {
    case TargetKind::kNone:
      return "";
    case TargetKind::kStandard:
      switch (verdict) {
        case Verdict::kAccept:
          return "ACCEPT";
        case Verdict::kDrop:
          return "DROP";
        case Verdict::kQueue:
          return "QUEUE";
        default:
          return "RETURN";
      }
    case TargetKind::kJump:
    case TargetKind::kGoto:
      return chain_target;
    case TargetKind::kExtension:
      return target_type->name;
  }
  return "";
}

Chain* Table::FindChain(const std::string& n) {
  for (auto& c : chains)
    if (c.name == n) return &c;
  return nullptr;
}

const Chain* Table::FindChain(const std::string& n) const {
  for (auto& c : chains)
    if (c.name == n) return &c;
  return nullptr;
}

int Table::ChainIndex(const std::string& n) const {
  for (size_t i = 0; i < chains.size(); ++i)
    if (chains[i].name == n) return int(i);
  return -1;
}

HookMask Table::ValidHooks() const { return TableHooks(name); }

Table* Ruleset::FindTable(const std::string& n) {
  for (auto& t : tables)
    if (t->name == n) return t.get();
  return nullptr;
}

const Table* Ruleset::FindTable(const std::string& n) const {
  for (auto& t : tables)
    if (t->name == n) return t.get();
  return nullptr;
}

HookMask TableHooks(const std::string& table) {
  const HookMask pre = HookBit(Hook::kPrerouting), in = HookBit(Hook::kInput),
                 fwd = HookBit(Hook::kForward), out = HookBit(Hook::kOutput),
                 post = HookBit(Hook::kPostrouting);
  if (table == "filter") return in | fwd | out;
  if (table == "nat") return pre | in | out | post;
  if (table == "mangle") return pre | in | fwd | out | post;
  if (table == "raw") return pre | out;
  if (table == "security") return in | fwd | out;
  return 0;
}

std::unique_ptr<Table> MakeTable(const std::string& name, Family f) {
  auto t = std::make_unique<Table>();
  t->name = name;
  t->family = f;
  HookMask hooks = TableHooks(name);
  for (int h = 0; h < kNumHooks; ++h) {
    if (!(hooks & (1u << h))) continue;
    Chain c;
    c.builtin = true;
    c.hook = static_cast<Hook>(h);
    c.name = HookName(c.hook);
    t->chains.push_back(std::move(c));
  }
  return t;
}

}  // namespace netfence::core
