// The extension interface: matches and targets, the way xtables modules are
// built. One extension is one self-contained unit (src/ext/xt_NAME.cc) that
// declares its options, parses and validates them as iptables does, runs the
// kernel's checkentry, prints the canonical iptables-save form, and carries
// the packet logic. It registers itself by name and revision.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/ipfilter.h"
#include "core/packet.h"
#include "core/types.h"
#include "core/xtopt.h"

namespace netfence::core {

struct Interface;
class Host;
struct NatRange;
enum class NatManip : uint8_t;
class PacketServices;
enum class Verdict : int8_t;
struct MatchEntry;  // core/table.h
struct Conn;
struct Tuple;

// ExtScope holds state that extensions share between the rules of one
// ruleset, as the kernel keeps it per network namespace: xt_recent and
// xt_hashlimit tables found by name. An entry lives while a rule holds it
// (the kernel's reference count).
class ExtScope {
 public:
  // Get returns the object stored under key, made by make() when absent.
  std::shared_ptr<void> Get(
      const std::string& key,
      const std::function<std::shared_ptr<void>()>& make) {
    std::lock_guard<std::mutex> lock(mu_);
    std::shared_ptr<void> obj = objs_[key].lock();
    if (!obj) {
      obj = make();
      objs_[key] = obj;
    }
    return obj;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::weak_ptr<void>> objs_;
};

// CheckCtx is what the kernel's checkentry sees (xt_mtchk_param /
// xt_tgchk_param): the table, the rule header, the hooks the rule's chain is
// reachable from, and the family. Check functions throw CommitError.
struct CheckCtx {
  std::string table;
  const IpFilter* ip = nullptr;
  HookMask hook_mask = 0;
  Family family = Family::kIPv4;
  // The rule's matches (the entry a checkentry may walk, as TCPMSS looks
  // for -m tcp --syn); nullptr when unknown.
  const std::vector<MatchEntry>* matches = nullptr;
  // Where named extension state lives; nullptr: a process-wide scope.
  ExtScope* scope = nullptr;
};

// HookState is the per-hook invocation context (nf_hook_state).
struct HookState {
  Hook hook = Hook::kPrerouting;
  Family family = Family::kIPv4;
  const Interface* in = nullptr;
  const Interface* out = nullptr;
  const Host* host = nullptr;
  double now = 0;  // seconds, the packet's timestamp
};

// XtParams is handed to a match or target for one packet
// (xt_action_param).
struct XtParams {
  Packet* skb = nullptr;
  const HookState* state = nullptr;
  const char* table = "";
  unsigned thoff = 0;    // transport header offset
  int fragoff = 0;       // IPv4: fragment offset; IPv6: non-zero if not first
  uint8_t l4proto = 0;   // transport protocol (after IPv6 extension headers)
  bool hotdrop = false;  // set by a match to drop the packet
  PacketServices* svc = nullptr;  // the engine's services (may be nullptr)
  const void* rule_tag = nullptr;  // the rule being evaluated (for TRACE/LOG)
};

// PacketServices is what the engine offers to extensions with side effects.
class PacketServices {
 public:
  virtual ~PacketServices() = default;
  // Log records one kernel log line (LOG's printk text without the
  // syslog prefix, or an NFLOG description); it appears in the packet's
  // "log" array.
  virtual void Log(const std::string& line) = 0;
  // SendLocal sends a packet the host itself builds (REJECT's reply): it is
  // routed and traverses OUTPUT and POSTROUTING like any local packet.
  virtual void SendLocal(Packet pkt) = 0;
  // SetupNat binds the packet's new connection to a NAT mapping
  // (nf_nat_setup_info) and returns the target's verdict.
  virtual Verdict SetupNat(XtParams& p, const NatRange& r, NatManip m) = 0;
  // Random returns a pseudo-random number from the simulation's seeded
  // generator (statistic, --random).
  virtual uint32_t Random() = 0;
  // FindConn looks a confirmed, unexpired connection up by a tuple of one
  // direction (nf_conntrack_find_get), for connlimit; nullptr if none.
  virtual const Conn* FindConn(const Tuple& t, uint16_t zone) {
    return nullptr;
  }
  // IcmpErrorAllowed applies the host's ICMP error rate limits (icmp_send /
  // icmpv6_send: a global bucket and one per peer) to an error of this type
  // and code about to be sent to dst because of a packet that arrived on in
  // (nullptr: locally generated). The default imposes none; the kernel's
  // buckets are ext::IcmpRateLimiter (src/ext/xt_REJECT.h).
  virtual bool IcmpErrorAllowed(Family f, const Addr& dst, uint8_t type,
                                uint8_t code, const Interface* in) {
    return true;
  }
};

// SaveCtx collects the canonical text of an extension (" --opt value ...").
struct SaveCtx {
  std::string& out;
  const IpFilter& ip;
  Family family;
};

// Match is one match instance in one rule: its parsed options and state.
// Matches and Match() are called from many threads at once: per-instance
// mutable state must be internally synchronised.
class Match {
 public:
  virtual ~Match() = default;
  // Parse consumes one option occurrence (the value is already parsed by
  // type into c.val). Throws ParseError.
  virtual void Parse(OptCall& c) = 0;
  // FinalCheck runs after all options (x6_fcheck). Throws ParseError.
  virtual void FinalCheck(FcheckCall& c) {}
  // Check is the kernel's checkentry. Throws CommitError.
  virtual void Check(const CheckCtx& c) {}
  // Save appends the canonical options, each starting with a space.
  virtual void Save(SaveCtx& s) const = 0;
  // Matches runs the packet logic; may set p.hotdrop.
  virtual bool Matches(XtParams& p) const = 0;
  // Alias is the name iptables-save prints instead of the type's name
  // (xtables' .alias), or nullptr.
  virtual const char* Alias() const { return nullptr; }
};

// Verdict is what a target returns (NF_DROP, NF_ACCEPT, ..., XT_CONTINUE,
// XT_RETURN).
enum class Verdict : int8_t {
  kDrop = 0,
  kAccept = 1,
  kStolen = 2,
  kQueue = 3,
  kRepeat = 4,
  kContinue = -1,
  kReturn = -5,
};

// Target is one target instance in one rule.
class Target {
 public:
  virtual ~Target() = default;
  virtual void Parse(OptCall& c) {}
  virtual void FinalCheck(FcheckCall& c) {}
  virtual void Check(const CheckCtx& c) {}
  virtual void Save(SaveCtx& s) const {}
  // Run applies the target to the packet and returns the verdict.
  virtual Verdict Run(XtParams& p) const = 0;
  // Alias is the name iptables-save prints instead of the type's name.
  virtual const char* Alias() const { return nullptr; }
};

// MatchType describes a match extension (xtables_match + xt_match).
struct MatchType {
  std::string name;
  uint8_t revision = 0;
  std::optional<Family> family;  // nullopt: both families
  std::vector<OptionEntry> options;
  uint16_t proto = 0;  // kernel: only valid for this protocol (-p)
  HookMask hooks = 0;  // kernel: only valid in these hooks (0 = all)
  std::string table;   // kernel: only valid in this table ("" = all)
  std::function<std::unique_ptr<Match>()> create;
};

// TargetType describes a target extension (xtables_target + xt_target).
struct TargetType {
  std::string name;
  uint8_t revision = 0;
  std::optional<Family> family;
  std::vector<OptionEntry> options;
  uint16_t proto = 0;
  HookMask hooks = 0;
  std::string table;
  std::function<std::unique_ptr<Target>()> create;
};

// PacketDumpFn formats a packet the way the kernel's nf_log does
// ("PREFIXIN=... OUT=... SRC=..."), for TRACE lines.
using PacketDumpFn = std::string (*)(const Packet& skb, Hook hook,
                                     const Interface* in, const Interface* out,
                                     const std::string& prefix,
                                     uint8_t logflags);
// RegisterPacketDump installs the formatter (the LOG extension provides it).
bool RegisterPacketDump(PacketDumpFn fn);
// PacketDump returns the installed formatter, or nullptr.
PacketDumpFn PacketDump();

// RegisterMatch and RegisterTarget add an extension to the global registry;
// call them from a static initialiser in the extension's unit.
bool RegisterMatch(MatchType t);
bool RegisterTarget(TargetType t);
// FindMatch and FindTarget look an extension up by name for a family.
const MatchType* FindMatch(const std::string& name, Family f);
const TargetType* FindTarget(const std::string& name, Family f);
// AllMatches and AllTargets list the registry (for tests and --help).
std::vector<const MatchType*> AllMatches();
std::vector<const TargetType*> AllTargets();

// CheckHooksAndTable applies the generic kernel checks of xt_check_match /
// xt_check_target: table, hooks, protocol.
void CheckGeneric(const std::string& kind, const std::string& name,
                  const std::string& want_table, HookMask want_hooks,
                  uint16_t want_proto, const CheckCtx& c);

// SaveString appends " value", quoted and escaped the way iptables-save
// quotes strings (xtables_save_string).
void SaveString(std::string& out, const std::string& value);

}  // namespace netfence::core

// NETFENCE_CONCAT builds unique registration symbol names.
#define NETFENCE_CONCAT2(a, b) a##b
#define NETFENCE_CONCAT(a, b) NETFENCE_CONCAT2(a, b)
// NETFENCE_REGISTER runs an expression once at start-up (extension units
// use it to register their MatchType / TargetType).
#define NETFENCE_REGISTER(expr) \
  [[maybe_unused]] static const bool NETFENCE_CONCAT(kRegistered, __LINE__) = (expr)
