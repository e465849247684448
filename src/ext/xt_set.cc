// set match: membership of the packet's addresses / ports in an ipset
// (xt_set, revision 4). netfence models no ipsets: a fresh host has none,
// so naming any set fails while parsing, exactly as iptables fails when it
// asks the kernel for the set ("Set X doesn't exist.").
#include <fmt/format.h>

#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned {
  kOMatchSet,
  kOSet,
  kOReturnNomatch,
  kOUpdateCounters,
  kOPacketsEq,
  kOPacketsLt,
  kOPacketsGt,
  kOBytesEq,
  kOBytesLt,
  kOBytesGt,
  kOUpdateSubcounters,
};

// Counter comparisons (IPSET_COUNTER_*).
enum CounterOp : uint8_t { kNone, kEq, kNe, kLt, kGt };

// Flags (IPSET_FLAG_*).
enum : uint32_t {
  kReturnNomatch = 1 << 7,
  kSkipCounterUpdate = 1 << 8,
  kSkipSubcounterUpdate = 1 << 9,
};

constexpr size_t kMaxNameLen = 31;  // IPSET_MAXNAMELEN - 1

// Counter is one packet or byte counter comparison (--packets-gt ...).
struct Counter {
  CounterOp op = kNone;
  uint64_t value = 0;
};

// SetMatch is one -m set; it never gets past parsing on this host.
class SetMatch : public Match {
 public:
  void Parse(OptCall& c) override {
    switch (c.id()) {
      case kOUpdateSubcounters:
        if (c.invert) flags_ |= kSkipSubcounterUpdate;
        break;
      case kOBytesGt:
        ParseCounter(c, bytes_, "bytes", kGt);
        break;
      case kOBytesLt:
        ParseCounter(c, bytes_, "bytes", kLt);
        break;
      case kOBytesEq:
        ParseCounter(c, bytes_, "bytes", kEq);
        break;
      case kOPacketsGt:
        ParseCounter(c, packets_, "packets", kGt);
        break;
      case kOPacketsLt:
        ParseCounter(c, packets_, "packets", kLt);
        break;
      case kOPacketsEq:
        ParseCounter(c, packets_, "packets", kEq);
        break;
      case kOUpdateCounters:
        if (c.invert) flags_ |= kSkipCounterUpdate;
        break;
      case kOReturnNomatch:
        if (c.invert)
          throw ParseError("--return-nomatch flag cannot be inverted");
        flags_ |= kReturnNomatch;
        break;
      case kOSet:
      case kOMatchSet: {
        const auto& argv = *c.argv;
        const int optind = *c.optind;
        if (optind >= int(argv.size()) || argv[optind].empty() ||
            argv[optind][0] == '-' || argv[optind][0] == '!')
          throw ParseError("--match-set requires two args.");
        if (c.arg.size() > kMaxNameLen)
          throw ParseError(fmt::format(
              "setname `{}' too long, max {} characters.", c.arg, kMaxNameLen));
        // The host has no ipsets at all.
        throw ParseError("Set " + c.arg + " doesn't exist.");
      }
    }
  }

  void FinalCheck(FcheckCall& c) override {
    if (!(c.xflags & ((1u << kOMatchSet) | (1u << kOSet))))
      throw ParseError("You must specify `--match-set' with proper arguments");
  }

  // Unreachable: no rule naming a set can be loaded. Prints the counter
  // options in iptables' form for completeness.
  void Save(SaveCtx& s) const override {
    if (flags_ & kReturnNomatch) s.out += " --return-nomatch";
    if (flags_ & kSkipCounterUpdate) s.out += " ! --update-counters";
    if (flags_ & kSkipSubcounterUpdate) s.out += " ! --update-subcounters";
    SaveCounter(s.out, packets_, "packets");
    SaveCounter(s.out, bytes_, "bytes");
  }

  bool Matches(XtParams& p) const override { return false; }

 private:
  static void ParseCounter(const OptCall& c, Counter& ctr, const char* what,
                           CounterOp op) {
    if (ctr.op != kNone)
      throw ParseError(
          fmt::format("only one of the --{}-[eq|lt|gt] is allowed", what));
    if (c.invert && op != kEq)
      throw ParseError(fmt::format("--{}-{} option cannot be inverted", what,
                                   op == kGt ? "gt" : "lt"));
    ctr.op = op == kEq && c.invert ? kNe : op;
    if (!StrToU64(c.arg, ctr.value, 0, 0))
      throw ParseError("Cannot parse " + c.arg + " as a counter value");
  }

  static void SaveCounter(std::string& out, const Counter& c,
                          const char* name) {
    switch (c.op) {
      case kEq:
        out += fmt::format(" --{}-eq {}", name, c.value);
        break;
      case kNe:
        out += fmt::format(" ! --{}-eq {}", name, c.value);
        break;
      case kLt:
        out += fmt::format(" --{}-lt {}", name, c.value);
        break;
      case kGt:
        out += fmt::format(" --{}-gt {}", name, c.value);
        break;
      default:
        break;
    }
  }

  uint32_t flags_ = 0;
  Counter packets_, bytes_;
};

const unsigned kRaw = kOptRaw;

NETFENCE_REGISTER(RegisterMatch({
    .name = "set",
    .revision = 4,
    .options = {{"match-set", kOMatchSet, OptType::kString, kRaw},
                {"set", kOSet, OptType::kString, kRaw},
                {"return-nomatch", kOReturnNomatch, OptType::kNone, kRaw},
                {"update-counters", kOUpdateCounters, OptType::kNone, kRaw},
                {"packets-eq", kOPacketsEq, OptType::kString, kRaw},
                {"packets-lt", kOPacketsLt, OptType::kString, kRaw},
                {"packets-gt", kOPacketsGt, OptType::kString, kRaw},
                {"bytes-eq", kOBytesEq, OptType::kString, kRaw},
                {"bytes-lt", kOBytesLt, OptType::kString, kRaw},
                {"bytes-gt", kOBytesGt, OptType::kString, kRaw},
                {"update-subcounters", kOUpdateSubcounters, OptType::kNone,
                 kRaw}},
    .create = [] { return std::make_unique<SetMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
