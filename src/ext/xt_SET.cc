// SET target (xt_set revision 3): adds or deletes packet addresses / ports
// to or from ipsets, or maps set entries' marks. iptables resolves every
// set name in the kernel while parsing; the simulated host has no ipsets
// (the contract's host file cannot declare any), so referencing a set fails
// at parse time exactly like on a fresh host: "Set NAME doesn't exist.".
#include <fmt/format.h>

#include <optional>

#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned {
  kAddSet = 1,
  kDelSet,
  kExist,
  kTimeout,
  kMapSet,
  kMapMark,
  kMapPrio,
  kMapQueue,
};

// Flags iptables collects while parsing (SET_TARGET_*).
enum SeenFlag : unsigned {
  kSeenAdd = 0x01,
  kSeenDel = 0x02,
  kSeenExist = 0x04,
  kSeenTimeout = 0x08,
  kSeenMap = 0x10,
  kSeenMapMark = 0x20,
  kSeenMapPrio = 0x40,
  kSeenMapQueue = 0x80,
};

constexpr size_t kMaxSetName = 32;  // IPSET_MAXNAMELEN, with the NUL
constexpr unsigned kDimMax = 6;     // IPSET_DIM_MAX

// SetRef is one --add-set / --del-set / --map-set argument pair.
struct SetRef {
  std::string name;
  uint8_t dim = 0;
  uint8_t flags = 0;  // bit i set: dimension i is "src"
};

// LookupSet asks the kernel for a set's index (IP_SET_OP_GET_FNAME). No
// ipset exists on the simulated host.
std::optional<unsigned> LookupSet(const std::string&) { return std::nullopt; }

class SetTarget : public Target {
 public:
  void Parse(OptCall& c) override {
    switch (c.id()) {
      case kAddSet:
        ParseRef(c, add_, "add-set");
        seen_ |= kSeenAdd;
        break;
      case kDelSet:
        ParseRef(c, del_, "del-set");
        seen_ |= kSeenDel;
        break;
      case kMapSet:
        ParseRef(c, map_, "map-set");
        seen_ |= kSeenMap;
        break;
      case kExist:
        seen_ |= kSeenExist;
        break;
      case kTimeout: {
        uint64_t v;
        if (!StrToU64(c.arg, v, 0, UINT32_MAX - 1))
          throw ParseError(
              "Invalid value for option --timeout or out of range "
              "0-4294967294");
        timeout_ = uint32_t(v);
        seen_ |= kSeenTimeout;
        break;
      }
      case kMapMark:
        seen_ |= kSeenMapMark;
        break;
      case kMapPrio:
        seen_ |= kSeenMapPrio;
        break;
      case kMapQueue:
        seen_ |= kSeenMapQueue;
        break;
    }
  }

  void FinalCheck(FcheckCall&) override {
    if (!(seen_ & (kSeenAdd | kSeenDel | kSeenMap)))
      throw ParseError(
          "You must specify either `--add-set' or `--del-set' or "
          "`--map-set'");
    if (!(seen_ & kSeenAdd)) {
      if (seen_ & kSeenExist)
        throw ParseError("Flag `--exist' can be used with `--add-set' only");
      if (seen_ & kSeenTimeout)
        throw ParseError(
            "Option `--timeout' can be used with `--add-set' only");
    }
    if (!(seen_ & kSeenMap)) {
      if (seen_ & kSeenMapMark)
        throw ParseError("Flag `--map-mark' can be used with `--map-set' only");
      if (seen_ & kSeenMapPrio)
        throw ParseError("Flag `--map-prio' can be used with `--map-set' only");
      if (seen_ & kSeenMapQueue)
        throw ParseError(
            "Flag `--map-queue' can be used with `--map-set' only");
    }
    if ((seen_ & kSeenMap) &&
        !(seen_ & (kSeenMapMark | kSeenMapPrio | kSeenMapQueue)))
      throw ParseError(
          "You must specify flags `--map-mark' or '--map-prio` or "
          "`--map-queue'");
  }

  void Save(SaveCtx& s) const override {
    SaveRef(s.out, "--add-set", add_);
    if (seen_ & kSeenExist) s.out += " --exist";
    if (timeout_) s.out += fmt::format(" --timeout {}", *timeout_);
    SaveRef(s.out, "--del-set", del_);
    SaveRef(s.out, "--map-set", map_);
    if (seen_ & kSeenMapMark) s.out += " --map-mark";
    if (seen_ & kSeenMapPrio) s.out += " --map-prio";
    if (seen_ & kSeenMapQueue) s.out += " --map-queue";
  }

  // No rule with SET can be built (every set name fails to resolve), so no
  // packet ever reaches this.
  Verdict Run(XtParams&) const override { return Verdict::kContinue; }

 private:
  static void ParseRef(OptCall& c, SetRef& ref, const char* what) {
    if (ref.dim)
      throw ParseError(fmt::format("--{} can be specified only once", what));
    const auto& argv = *c.argv;
    int& optind = *c.optind;
    if (optind >= int(argv.size()) || argv[optind].empty() ||
        argv[optind][0] == '-' || argv[optind][0] == '!')
      throw ParseError(fmt::format("--{} requires two args.", what));
    if (c.arg.size() > kMaxSetName - 1)
      throw ParseError(fmt::format("setname `{}' too long, max {} characters.",
                                   c.arg, kMaxSetName - 1));
    if (!LookupSet(c.arg)) throw ParseError("Set " + c.arg + " doesn't exist.");
    ref.name = c.arg;
    ParseDirs(argv[optind], ref);
    ++optind;
  }

  // ParseDirs reads "src,dst,..." (parse_dirs: only the first three
  // letters of each field count).
  static void ParseDirs(const std::string& arg, SetRef& ref) {
    size_t pos = 0;
    bool more = true;
    while (ref.dim < kDimMax && more) {
      ref.dim++;
      size_t comma = arg.find(',', pos);
      std::string tok = arg.substr(
          pos, comma == std::string::npos ? std::string::npos : comma - pos);
      more = comma != std::string::npos;
      pos = more ? comma + 1 : arg.size();
      if (tok.compare(0, 3, "src") == 0)
        ref.flags |= uint8_t(1u << ref.dim);
      else if (tok.compare(0, 3, "dst") != 0)
        throw ParseError(
            "You must spefify (the comma separated list of) 'src' or 'dst'.");
    }
    if (more)
      throw ParseError(
          fmt::format("Can't be more src/dst options than {}.", kDimMax));
  }

  static void SaveRef(std::string& out, const char* opt, const SetRef& ref) {
    if (ref.dim == 0) return;
    out += fmt::format(" {} {}", opt, ref.name);
    for (unsigned i = 1; i <= ref.dim; ++i) {
      out += i == 1 ? " " : ",";
      out += (ref.flags & (1u << i)) ? "src" : "dst";
    }
  }

  SetRef add_, del_, map_;
  std::optional<uint32_t> timeout_;
  unsigned seen_ = 0;
};

constexpr unsigned kRaw = kOptRaw;

NETFENCE_REGISTER(RegisterTarget({
    .name = "SET",
    .revision = 3,
    .options = {{"add-set", kAddSet, OptType::kString, kRaw},
                {"del-set", kDelSet, OptType::kString, kRaw},
                {"exist", kExist, OptType::kNone, kRaw},
                {"timeout", kTimeout, OptType::kString, kRaw},
                {"map-set", kMapSet, OptType::kString, kRaw},
                {"map-mark", kMapMark, OptType::kNone, kRaw},
                {"map-prio", kMapPrio, OptType::kNone, kRaw},
                {"map-queue", kMapQueue, OptType::kNone, kRaw}},
    .create = [] { return std::make_unique<SetTarget>(); },
}));

}  // namespace
}  // namespace netfence::ext
