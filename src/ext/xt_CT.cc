// CT and NOTRACK targets (xt_CT revision 2): in the raw table, attach a
// conntrack template to a packet before connection tracking sees it (zone,
// helper, event masks), or mark it untracked. NOTRACK is iptables' alias
// for "CT --notrack" and prints back as NOTRACK.
#include <fmt/format.h>

#include <cstring>
#include <memory>

#include "core/conn.h"
#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned {
  kNotrack = 0,
  kHelper,
  kTimeout,
  kCtEvents,
  kExpEvents,
  kZone,
  kZoneOrig,
  kZoneReply,
};

// Flags of xt_ct_target_info_v1 (XT_CT_*).
enum CtFlag : uint16_t {
  kFlagNotrack = 1 << 0,
  kFlagNotrackAlias = 1 << 1,
  kFlagZoneDirOrig = 1 << 2,
  kFlagZoneDirRepl = 1 << 3,
  kFlagZoneMark = 1 << 4,
};

struct EventName {
  const char* name;
  unsigned bit;
};

// Conntrack events (IPCT_*) and expectation events (IPEXP_*), in the order
// iptables prints them.
const EventName kCtEventNames[] = {
    {"new", 0},        {"related", 1},   {"destroy", 2}, {"reply", 3},
    {"assured", 4},    {"protoinfo", 5}, {"helper", 6},  {"mark", 7},
    {"natseqinfo", 8}, {"secmark", 9},
};
const EventName kExpEventNames[] = {{"new", 0}};

template <size_t N>
uint32_t ParseEvents(const EventName (&tbl)[N], const std::string& arg) {
  uint32_t mask = 0;
  size_t pos = 0;
  while (true) {  // strsep: every field counts, empty ones too
    size_t comma = arg.find(',', pos);
    std::string tok = arg.substr(
        pos, comma == std::string::npos ? std::string::npos : comma - pos);
    bool found = false;
    for (const EventName& e : tbl) {
      if (tok == e.name) {
        mask |= 1u << e.bit;
        found = true;
        break;
      }
    }
    if (!found) throw ParseError("Unknown event type \"" + tok + "\"");
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return mask;
}

template <size_t N>
void SaveEvents(std::string& out, const char* opt, const EventName (&tbl)[N],
                uint32_t mask) {
  out += fmt::format(" {} ", opt);
  const char* sep = "";
  for (const EventName& e : tbl) {
    if (mask & (1u << e.bit)) {
      out += sep;
      out += e.name;
      sep = ",";
    }
  }
}

// A conntrack helper the kernel registers: name, family (0 = any) and
// transport protocol (nf_conntrack_helper's tuple). All of them load on
// demand (nfct-helper-NAME module aliases), as on a stock kernel.
struct HelperInfo {
  const char* name;
  uint8_t family;  // 4, 6, or 0 for both
  uint8_t proto;
};
const HelperInfo kHelpers[] = {
    {"ftp", 0, 6},        {"irc", 4, 6},         {"sip", 0, 17},
    {"sip", 0, 6},        {"tftp", 0, 17},       {"amanda", 0, 17},
    {"sane", 0, 6},       {"pptp", 4, 6},        {"snmp", 4, 17},
    {"snmp_trap", 4, 17}, {"netbios-ns", 4, 17}, {"RAS", 0, 17},
    {"Q.931", 0, 6},      {"H.245", 0, 17},
};

bool HelperExists(const std::string& name, Family f, uint8_t proto) {
  for (const HelperInfo& h : kHelpers) {
    if (name == h.name && h.proto == proto &&
        (h.family == 0 || h.family == static_cast<uint8_t>(f)))
      return true;
  }
  return false;
}

class CtTarget : public Target {
 public:
  explicit CtTarget(bool notrack_alias) : tmpl_(std::make_unique<Conn>()) {
    if (notrack_alias) flags_ = kFlagNotrack | kFlagNotrackAlias;
  }

  void Parse(OptCall& c) override {
    switch (c.id()) {
      case kNotrack:
        flags_ |= kFlagNotrack;
        break;
      case kHelper:
        helper_ = c.arg;  // already cut to the kernel's 15 characters
        break;
      case kTimeout:
        timeout_ = c.arg;
        break;
      case kCtEvents:
        ct_events_ = ParseEvents(kCtEventNames, c.arg);
        break;
      case kExpEvents:
        exp_events_ = ParseEvents(kExpEventNames, c.arg);
        break;
      case kZone:
      case kZoneOrig:
      case kZoneReply:
        ParseZone(c);
        break;
    }
  }

  void FinalCheck(FcheckCall&) override { FillTemplate(); }

  void Check(const CheckCtx& c) override {
    FillTemplate();
    if (flags_ & kFlagNotrack) return;  // no template: nothing else checked
    // An L4 protocol the rule pins down (xt_ct_find_proto): needed by
    // helpers and timeout policies.
    const uint8_t proto =
        (c.ip->invflags & kInvProto) ? 0 : uint8_t(c.ip->proto);
    if (!helper_.empty()) {
      if (proto == 0)
        throw CommitError(
            "CT: You must specify a L4 protocol and not use inversions on it");
      if (!HelperExists(helper_, c.family, proto))
        throw CommitError("CT: No such helper \"" + helper_ + "\"");
    }
    if (!timeout_.empty()) {
      if (proto == 0)
        throw CommitError(
            "CT: You must specify a L4 protocol and not use inversions on it");
      // Timeout policies are objects made with nfct(8); a fresh host has
      // none, so every name is unknown (-ENOENT).
      throw CommitError("CT: No such timeout policy \"" + timeout_ + "\"");
    }
  }

  void Save(SaveCtx& s) const override {
    if (flags_ & kFlagNotrackAlias) return;
    if (flags_ & kFlagNotrack) s.out += " --notrack";
    if (!helper_.empty()) s.out += " --helper " + helper_;
    if (!timeout_.empty()) s.out += " --timeout " + timeout_;
    if (ct_events_) SaveEvents(s.out, "--ctevents", kCtEventNames, ct_events_);
    if (exp_events_)
      SaveEvents(s.out, "--expevents", kExpEventNames, exp_events_);
    if ((flags_ & kFlagZoneMark) || zone_) {
      s.out += " --zone";
      const uint16_t dir = flags_ & (kFlagZoneDirOrig | kFlagZoneDirRepl);
      if (dir == kFlagZoneDirOrig) s.out += "-orig";
      if (dir == kFlagZoneDirRepl) s.out += "-reply";
      if (flags_ & kFlagZoneMark)
        s.out += " mark";
      else
        s.out += fmt::format(" {}", zone_);
    }
  }

  Verdict Run(XtParams& p) const override {
    Packet& skb = *p.skb;
    // Already attached to a connection or marked untracked (skb->_nfct
    // set, a looped-back packet): leave it.
    if (skb.ct != nullptr || skb.ctinfo == CtInfo::kUntracked)
      return Verdict::kContinue;
    if (flags_ & kFlagNotrack) {
      skb.ct = nullptr;
      skb.ctinfo = CtInfo::kUntracked;
    } else {
      skb.ct = tmpl_.get();
      skb.ctinfo = CtInfo::kNew;
    }
    return Verdict::kContinue;
  }

  const char* Alias() const override {
    return (flags_ & kFlagNotrackAlias) ? "NOTRACK" : nullptr;
  }

 private:
  void ParseZone(const OptCall& c) {
    if (c.id() == kZoneOrig) flags_ |= kFlagZoneDirOrig;
    if (c.id() == kZoneReply) flags_ |= kFlagZoneDirRepl;
    zone_ = 0;
    if (strcasecmp(c.arg.c_str(), "mark") == 0) {
      flags_ |= kFlagZoneMark;
      return;
    }
    uint64_t v;
    if (!StrToU64(c.arg, v, 0, UINT16_MAX))
      throw ParseError("Cannot parse " + c.arg + " as a zone ID");
    zone_ = uint16_t(v);
  }

  // FillTemplate sets up the template connection the kernel allocates in
  // checkentry (nf_ct_tmpl_alloc): the tracker reads zone and helper from
  // it when it creates the real entry.
  void FillTemplate() {
    tmpl_->status.store(kIpsTemplate | kIpsConfirmed);
    tmpl_->zone = zone_;
    switch (flags_ & (kFlagZoneDirOrig | kFlagZoneDirRepl)) {
      case kFlagZoneDirOrig:
        tmpl_->zone_dir = 1;  // NF_CT_ZONE_DIR_ORIG
        break;
      case kFlagZoneDirRepl:
        tmpl_->zone_dir = 2;  // NF_CT_ZONE_DIR_REPL
        break;
      default:
        tmpl_->zone_dir = 3;
    }
    tmpl_->zone_from_mark = (flags_ & kFlagZoneMark) != 0;
    tmpl_->helper = helper_;
  }

  uint16_t flags_ = 0;
  uint16_t zone_ = 0;
  uint32_t ct_events_ = 0, exp_events_ = 0;
  std::string helper_, timeout_;
  std::unique_ptr<Conn> tmpl_;  // shared by every packet of this rule
};

NETFENCE_REGISTER(RegisterTarget({
    .name = "CT",
    .revision = 2,
    .options = {{"notrack", kNotrack, OptType::kNone},
                {"helper", kHelper, OptType::kString, 0, 0, 0, 0, 0, 0, 15},
                {"timeout", kTimeout, OptType::kString, 0, 0, 0, 0, 0, 0, 31},
                {"ctevents", kCtEvents, OptType::kString},
                {"expevents", kExpEvents, OptType::kString},
                {"zone-orig", kZoneOrig, OptType::kString},
                {"zone-reply", kZoneReply, OptType::kString},
                {"zone", kZone, OptType::kString}},
    .table = "raw",
    .create = [] { return std::make_unique<CtTarget>(false); },
}));

// NOTRACK takes no options; iptables loads it as CT revision 2 with the
// alias flag set.
NETFENCE_REGISTER(RegisterTarget({
    .name = "NOTRACK",
    .revision = 2,
    .table = "raw",
    .create = [] { return std::make_unique<CtTarget>(true); },
}));

}  // namespace
}  // namespace netfence::ext
