// The extension registry and the checks every extension shares.
#include <atomic>
#include <map>
#include <mutex>

#include "core/xt.h"

namespace netfence::core {

namespace {

template <typename T>
struct Registry {
  std::mutex mu;
  std::multimap<std::string, T> by_name;
};

Registry<MatchType>& Matches() {
  static Registry<MatchType> r;
  return r;
}

Registry<TargetType>& Targets() {
  static Registry<TargetType> r;
  return r;
}

template <typename T>
const T* Find(Registry<T>& r, const std::string& name, Family f) {
  std::lock_guard<std::mutex> lock(r.mu);
  const T* best = nullptr;
  auto [lo, hi] = r.by_name.equal_range(name);
  for (auto it = lo; it != hi; ++it) {
    const T& t = it->second;
    if (t.family && *t.family != f) continue;
    // A family-specific unit wins over a generic one of the same name.
    if (best == nullptr || (t.family && !best->family)) best = &t;
  }
  return best;
}

template <typename T>
std::vector<const T*> All(Registry<T>& r) {
  std::lock_guard<std::mutex> lock(r.mu);
  std::vector<const T*> v;
  for (auto& [name, t] : r.by_name) v.push_back(&t);
  return v;
}

}  // namespace

namespace {
std::atomic<PacketDumpFn> g_packet_dump{nullptr};
}  // namespace

bool RegisterPacketDump(PacketDumpFn fn) {
  g_packet_dump.store(fn);
  return true;
}

PacketDumpFn PacketDump() { return g_packet_dump.load(); }

bool RegisterMatch(MatchType t) {
  auto& r = Matches();
  std::lock_guard<std::mutex> lock(r.mu);
  r.by_name.emplace(t.name, std::move(t));
  return true;
}

bool RegisterTarget(TargetType t) {
  auto& r = Targets();
  std::lock_guard<std::mutex> lock(r.mu);
  r.by_name.emplace(t.name, std::move(t));
  return true;
}

const MatchType* FindMatch(const std::string& name, Family f) {
  return Find(Matches(), name, f);
}

const TargetType* FindTarget(const std::string& name, Family f) {
  return Find(Targets(), name, f);
}

std::vector<const MatchType*> AllMatches() { return All(Matches()); }
std::vector<const TargetType*> AllTargets() { return All(Targets()); }

void CheckGeneric(const std::string& kind, const std::string& name,
                  const std::string& want_table, HookMask want_hooks,
                  uint16_t want_proto, const CheckCtx& c) {
  const char* fam = c.family == Family::kIPv4 ? "ip_tables" : "ip6_tables";
  if (!want_table.empty() && want_table != c.table)
    throw CommitError(std::string(fam) + ": " + name + " " + kind +
                      ": only valid in " + want_table + " table, not " +
                      c.table);
  if (want_hooks != 0 && (c.hook_mask & ~want_hooks) != 0)
    throw CommitError(std::string(fam) + ": " + name + " " + kind +
                      ": used from hooks not allowed for it");
  if (want_proto != 0 &&
      (c.ip->proto != want_proto || (c.ip->invflags & kInvProto)))
    throw CommitError(std::string(fam) + ": " + name + " " + kind +
                      ": only valid for protocol " +
                      std::to_string(want_proto));
}

void SaveString(std::string& out, const std::string& value) {
  static const char kNoQuote[] =
      "_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  size_t plain = value.find_first_not_of(kNoQuote);
  out += ' ';
  if (!value.empty() && plain == std::string::npos) {
    out += value;
    return;
  }
  out += '"';
  for (char ch : value) {
    if (ch == '"' || ch == '\\' || ch == '\'') out += '\\';
    out += ch;
  }
  out += '"';
}

}  // namespace netfence::core
