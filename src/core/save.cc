// The iptables-save printer (print_rule4 / print_rule6 and the table
// header), byte for byte as iptables-legacy-save 1.8.9 prints.
#include <fmt/format.h>

#include "core/addr.h"
#include "core/protocols.h"
#include "core/restore.h"

namespace netfence::core {

namespace {

void SaveAddr(std::string& out, char letter, Family f, const Addr& a,
              const Addr& m, bool invert) {
  if (f == Family::kIPv4) {
    if (m == Addr{} && !invert && a == Addr{}) return;
  } else if (!invert && MaskToCidr(f, m) == 0) {
    return;
  }
  out += fmt::format("{} -{} {}/{}", invert ? " !" : "", letter,
                     FormatAddr(f, a), FormatMask(f, m));
}

void SaveIface(std::string& out, char letter, const IfaceMatch& m,
               bool invert) {
  if (m.mask[0] == 0) return;
  out += fmt::format("{} -{} ", invert ? " !" : "", letter);
  for (size_t i = 0; i < kIfNameSize; ++i) {
    if (m.mask[i] != 0) {
      if (m.name[i] != '\0') out += m.name[i];
    } else {
      if (m.name[i - 1] != '\0') out += '+';
      break;
    }
  }
}

}  // namespace

std::string SaveRule(const Table& t, const Chain& c, const Rule& r,
                     bool counters) {
  static const BuiltinResolver kNames;
  std::string out;
  if (counters) out += fmt::format("[{}:{}] ", r.counters.pkts, r.counters.bytes);
  out += "-A " + c.name;
  const IpFilter& ip = r.ip;
  SaveAddr(out, 's', t.family, ip.src, ip.smsk, ip.invflags & kInvSrcIp);
  SaveAddr(out, 'd', t.family, ip.dst, ip.dmsk, ip.invflags & kInvDstIp);
  SaveIface(out, 'i', ip.in, ip.invflags & kInvViaIn);
  SaveIface(out, 'o', ip.out, ip.invflags & kInvViaOut);
  if (ip.proto > 0) {
    if (ip.invflags & kInvProto) out += " !";
    if (auto name = ProtoToName(uint8_t(ip.proto), kNames))
      out += " -p " + *name;
    else
      out += fmt::format(" -p {}", ip.proto);
  }
  if (ip.frag) {
    if (ip.invflags & kInvFrag) out += " !";
    out += " -f";
  }
  for (const MatchEntry& m : r.matches) {
    const char* alias = m.match->Alias();
    out += " -m ";
    out += alias ? alias : m.type->name;
    SaveCtx s{out, ip, t.family};
    m.match->Save(s);
  }
  switch (r.kind) {
    case TargetKind::kNone:
      break;
    case TargetKind::kGoto:
      if (!r.chain_target.empty()) out += " -g " + r.chain_target;
      break;
    case TargetKind::kExtension: {
      const char* alias = r.target->Alias();
      out += " -j ";
      out += alias ? alias : r.target_type->name;
      SaveCtx s{out, ip, t.family};
      r.target->Save(s);
      break;
    }
    default:
      // A chain renamed to "" (-E X "") has no name to print.
      if (!r.TargetName().empty()) out += " -j " + r.TargetName();
  }
  return out;
}

std::string Save(const Ruleset& rs, bool counters) {
  std::vector<const Table*> tables;
  for (const auto& t : rs.tables) tables.push_back(t.get());
  return SaveTables(tables, counters);
}

std::string SaveTables(const std::vector<const Table*>& tables,
                       bool counters) {
  std::string out;
  for (const Table* t : tables) {
    out += "*" + t->name + "\n";
    for (const Chain& c : t->chains) {
      if (c.builtin)
        out += fmt::format(":{} {} [{}:{}]\n", c.name,
                           c.policy == Verdict::kAccept ? "ACCEPT" : "DROP",
                           c.policy_counters.pkts, c.policy_counters.bytes);
      else
        out += ":" + c.name + " - [0:0]\n";
    }
    for (const Chain& c : t->chains)
      for (const Rule& r : c.rules) out += SaveRule(*t, c, r, counters) + "\n";
    out += "COMMIT\n";
  }
  return out;
}

}  // namespace netfence::core
