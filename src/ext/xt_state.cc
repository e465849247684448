// state match: the packet's connection tracking state. iptables 1.8.9 sends
// "-m state" to a 6.x kernel as the conntrack match (revision 3) with the
// state-alias flag, so the kernel checks and runs conntrack's code and
// iptables-save prints it back as "-m state --state ...".
#include <fmt/format.h>
#include <strings.h>

#include <cstring>

#include "core/conn.h"
#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

// XT_CONNTRACK_STATE_* bits; the state match's own words are a subset.
enum : uint16_t {
  kStInvalid = 1 << 0,
  kStEstablished = 1 << 1,
  kStRelated = 1 << 2,
  kStNew = 1 << 3,
  kStUntracked = 1 << 6,
  kStSnat = 1 << 8,
  kStDnat = 1 << 9,
};

enum OptId : unsigned { kOState };

// StateWord maps one word (a case-insensitive prefix of len characters, as
// strncasecmp compares) to its bit, or 0.
uint16_t StateWord(const char* s, size_t len) {
  static const struct {
    const char* name;
    uint16_t bit;
  } kNames[] = {{"INVALID", kStInvalid},
                {"NEW", kStNew},
                {"ESTABLISHED", kStEstablished},
                {"RELATED", kStRelated},
                {"UNTRACKED", kStUntracked}};
  for (const auto& n : kNames)
    if (strncasecmp(s, n.name, len) == 0) return n.bit;
  return 0;
}

// ParseStates is state_parse_states.
uint16_t ParseStates(const std::string& arg) {
  const char* a = arg.c_str();
  uint16_t mask = 0;
  auto bad = [&] { throw ParseError(fmt::format("Bad state \"{}\"", a)); };
  const char* comma;
  while ((comma = strchr(a, ',')) != nullptr) {
    if (comma == a) bad();
    uint16_t bit = StateWord(a, size_t(comma - a));
    if (bit == 0) bad();
    mask |= bit;
    a = comma + 1;
  }
  if (*a == '\0')
    throw ParseError(
        "\"--state\" requires a list of states with no spaces, e.g. "
        "ESTABLISHED,RELATED");
  uint16_t bit = StateWord(a, strlen(a));
  if (bit == 0) bad();
  return mask | bit;
}

// StateMatch is one -m state: the conntrack state mask, maybe inverted.
class StateMatch : public Match {
 public:
  void Parse(OptCall& c) override {
    state_mask_ = ParseStates(c.arg);
    invert_ = c.invert;
  }

  void Save(SaveCtx& s) const override {
    static const struct {
      uint16_t bit;
      const char* name;
    } kOrder[] = {{kStInvalid, "INVALID"},
                  {kStNew, "NEW"},
                  {kStRelated, "RELATED"},
                  {kStEstablished, "ESTABLISHED"},
                  {kStUntracked, "UNTRACKED"}};
    if (invert_) s.out += " !";
    s.out += " --state";
    const char* sep = " ";
    for (const auto& o : kOrder) {
      if (state_mask_ & o.bit) {
        s.out += sep;
        s.out += o.name;
        sep = ",";
      }
    }
  }

  bool Matches(XtParams& p) const override {
    const Packet& skb = *p.skb;
    const Conn* ct = skb.ctinfo == CtInfo::kUntracked ? nullptr : skb.ct;
    uint16_t statebit;
    if (ct != nullptr) {
      // A reply direction counts as its original-direction state.
      statebit = uint16_t(1u << (unsigned(skb.ctinfo) % 3 + 1));
      const uint32_t st = ct->status.load();
      if (st & kIpsSrcNat) statebit |= kStSnat;
      if (st & kIpsDstNat) statebit |= kStDnat;
    } else if (skb.ctinfo == CtInfo::kUntracked) {
      statebit = kStUntracked;
    } else {
      statebit = kStInvalid;
    }
    return bool(state_mask_ & statebit) != invert_;
  }

 private:
  uint16_t state_mask_ = 0;
  bool invert_ = false;
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "state",
    .revision = 3,
    .options = {{"state", kOState, OptType::kString, kOptMand | kOptInvert}},
    .create = [] { return std::make_unique<StateMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
