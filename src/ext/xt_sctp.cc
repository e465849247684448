// sctp match: ports and chunk types (with chunk flags) of an SCTP packet
// (xt_sctp). iptables parses it with the old, untyped option API.
#include <fmt/format.h>
#include <strings.h>

#include <bitset>
#include <cctype>
#include <cstring>

#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

// Bits of the kernel struct's flags and invflags (XT_SCTP_*).
enum : uint32_t {
  kSrcPorts = 0x01,
  kDestPorts = 0x02,
  kChunkTypes = 0x04,
  kValidFlags = 0x07,
};

// Chunk match types (SCTP_CHUNK_MATCH_*).
enum : uint32_t { kMatchAny = 0x01, kMatchAll = 0x02, kMatchOnly = 0x04 };

constexpr int kNumFlagInfos = 4;  // XT_NUM_SCTP_FLAGS

enum OptId : unsigned { kSport = 1, kDport, kChunks };

// ChunkName is one chunk type iptables knows; valid_flags spells the flag
// letters from bit 7 down to bit 0 ('-' marks an unnamed bit).
struct ChunkName {
  const char* name;
  unsigned type;
  const char* valid_flags;
};

const ChunkName kChunkNames[] = {
    {"DATA", 0, "----IUBE"},
    {"INIT", 1, "--------"},
    {"INIT_ACK", 2, "--------"},
    {"SACK", 3, "--------"},
    {"HEARTBEAT", 4, "--------"},
    {"HEARTBEAT_ACK", 5, "--------"},
    {"ABORT", 6, "-------T"},
    {"SHUTDOWN", 7, "--------"},
    {"SHUTDOWN_ACK", 8, "--------"},
    {"ERROR", 9, "--------"},
    {"COOKIE_ECHO", 10, "--------"},
    {"COOKIE_ACK", 11, "--------"},
    {"ECN_ECNE", 12, "--------"},
    {"ECN_CWR", 13, "--------"},
    {"SHUTDOWN_COMPLETE", 14, "-------T"},
    {"I_DATA", 64, "----IUBE"},
    {"RE_CONFIG", 130, "--------"},
    {"PAD", 132, "--------"},
    {"ASCONF", 193, "--------"},
    {"ASCONF_ACK", 128, "--------"},
    {"FORWARD_TSN", 192, "--------"},
    {"I_FORWARD_TSN", 194, "--------"},
};

// FlagInfo is one entry of the struct's flag_info array.
struct FlagInfo {
  uint8_t chunktype = 0xff;  // iptables initialises it to -1
  uint8_t flag = 0;
  uint8_t flag_mask = 0;
};

void ParsePorts(const Resolver& r, const std::string& s, uint16_t ports[2]) {
  size_t colon = s.find(':');
  if (colon == std::string::npos) {
    ports[0] = ports[1] = ParsePortFor(r, s, "sctp");
    return;
  }
  std::string lo = s.substr(0, colon), hi = s.substr(colon + 1);
  ports[0] = lo.empty() ? 0 : ParsePortFor(r, lo, "sctp");
  ports[1] = hi.empty() ? 0xffff : ParsePortFor(r, hi, "sctp");
  if (ports[0] > ports[1]) throw ParseError("invalid portrange (min > max)");
}

void SavePorts(std::string& out, const char* opt, const uint16_t p[2],
               bool inv) {
  if (inv) out += " !";
  if (p[0] != p[1])
    out += fmt::format(" {} {}:{}", opt, p[0], p[1]);
  else
    out += fmt::format(" {} {}", opt, p[0]);
}

class SctpMatch : public Match {
 public:
  void Parse(OptCall& c) override {
    switch (c.id()) {
      case kSport:
        if (seen_ & kSrcPorts)
          throw ParseError("Only one `--source-port' allowed");
        flags_ |= kSrcPorts;
        ParsePorts(*c.env->resolver, c.arg, spts_);
        if (c.invert) invflags_ |= kSrcPorts;
        seen_ |= kSrcPorts;
        break;
      case kDport:
        if (seen_ & kDestPorts)
          throw ParseError("Only one `--destination-port' allowed");
        flags_ |= kDestPorts;
        ParsePorts(*c.env->resolver, c.arg, dpts_);
        if (c.invert) invflags_ |= kDestPorts;
        seen_ |= kDestPorts;
        break;
      case kChunks: {
        if (seen_ & kChunkTypes)
          throw ParseError("Only one `--chunk-types' allowed");
        const auto& argv = *c.argv;
        int& optind = *c.optind;
        if (optind >= int(argv.size()) || argv[optind].empty() ||
            argv[optind][0] == '-' || argv[optind][0] == '!')
          throw ParseError("--chunk-types requires two args");
        flags_ |= kChunkTypes;
        ParseMatchType(c.arg);
        ParseChunks(argv[optind]);
        if (c.invert) invflags_ |= kChunkTypes;
        ++optind;
        seen_ |= kChunkTypes;
        break;
      }
    }
  }

  void Check(const CheckCtx& c) override {
    if (flag_count_ > kNumFlagInfos || (flags_ & ~kValidFlags) ||
        (invflags_ & ~kValidFlags) || (invflags_ & ~flags_))
      throw CommitError("sctp: invalid flags");
    if ((flags_ & kChunkTypes) &&
        !(match_type_ & (kMatchAll | kMatchAny | kMatchOnly)))
      throw CommitError("sctp: invalid chunk match type");
  }

  void Save(SaveCtx& s) const override {
    if (flags_ & kSrcPorts)
      SavePorts(s.out, "--sport", spts_, invflags_ & kSrcPorts);
    if (flags_ & kDestPorts)
      SavePorts(s.out, "--dport", dpts_, invflags_ & kDestPorts);
    if (flags_ & kChunkTypes) {
      if (invflags_ & kChunkTypes) s.out += " !";
      s.out += " --chunk-types";
      SaveChunks(s.out);
    }
  }

  bool Matches(XtParams& p) const override {
    if (p.fragoff != 0) return false;
    const uint8_t* sh = p.skb->HeaderPointer(p.thoff, 12);
    if (sh == nullptr) {
      // A header we were asked to examine but cannot: drop.
      p.hotdrop = true;
      return false;
    }
    const uint16_t sport = Load16(sh), dport = Load16(sh + 2);
    if (!Check(kSrcPorts, sport >= spts_[0] && sport <= spts_[1])) return false;
    if (!Check(kDestPorts, dport >= dpts_[0] && dport <= dpts_[1]))
      return false;
    if (!(flags_ & kChunkTypes)) return true;
    return Check(kChunkTypes, MatchChunks(*p.skb, p.thoff + 12, p.hotdrop));
  }

 private:
  // Check applies one condition when its option is present, inverted as
  // asked (the kernel's SCCHECK).
  bool Check(uint32_t option, bool cond) const {
    return !(flags_ & option) || (bool(invflags_ & option) ^ cond);
  }

  void ParseMatchType(const std::string& t) {
    if (strcasecmp(t.c_str(), "ANY") == 0)
      match_type_ = kMatchAny;
    else if (strcasecmp(t.c_str(), "ALL") == 0)
      match_type_ = kMatchAll;
    else if (strcasecmp(t.c_str(), "ONLY") == 0)
      match_type_ = kMatchOnly;
    else
      throw ParseError(
          "Match type has to be one of \"ALL\", \"ANY\" or \"ONLY\"");
  }

  void ParseChunks(const std::string& chunks) {
    chunkmap_.reset();
    if (strcasecmp(chunks.c_str(), "ALL") == 0) {
      chunkmap_.set();
      return;
    }
    if (strcasecmp(chunks.c_str(), "NONE") == 0) return;
    size_t pos = 0;
    while (pos <= chunks.size()) {
      size_t comma = chunks.find(',', pos);
      if (comma == std::string::npos) comma = chunks.size();
      std::string item = chunks.substr(pos, comma - pos);
      pos = comma + 1;
      if (item.empty()) continue;  // strtok skips empty fields
      ParseChunk(item);
    }
  }

  void ParseChunk(const std::string& item) {
    size_t colon = item.find(':');
    std::string name = item.substr(0, colon);
    size_t i = 0;
    while (i < std::size(kChunkNames) &&
           strcasecmp(kChunkNames[i].name, name.c_str()) != 0)
      ++i;
    if (i == std::size(kChunkNames))
      throw ParseError("Unknown sctp chunk `" + name + "'");
    chunkmap_.set(kChunkNames[i].type);
    if (colon == std::string::npos) return;
    for (char ch : item.substr(colon + 1)) {
      const char* v = kChunkNames[i].valid_flags;
      const char* at = strchr(v, toupper(uint8_t(ch)));
      if (at == nullptr || ch == '\0')
        throw ParseError(fmt::format("Invalid flags for chunk type {}", i));
      // iptables records the table index, not the chunk type, as the
      // flag entry's chunk type; the kernel compares it with the type.
      SaveFlag(uint8_t(i), 7 - int(at - v), isupper(uint8_t(ch)) != 0);
    }
  }

  void SaveFlag(uint8_t chunktype, int bit, bool set) {
    for (int i = 0; i < flag_count_; ++i) {
      if (flag_info_[i].chunktype == chunktype) {
        flag_info_[i].flag_mask |= 1 << bit;
        if (set) flag_info_[i].flag |= 1 << bit;
        return;
      }
    }
    if (flag_count_ == kNumFlagInfos)
      throw ParseError(
          "Number of chunk types with flags exceeds currently allowed "
          "limit. Increasing this limit involves changing "
          "IPT_NUM_SCTP_FLAGS and recompiling both the kernel space and "
          "user space modules");
    FlagInfo& f = flag_info_[flag_count_++];
    f.chunktype = chunktype;
    f.flag_mask |= 1 << bit;
    if (set) f.flag |= 1 << bit;
  }

  void SaveChunks(std::string& out) const {
    switch (match_type_) {
      case kMatchAny:
        out += " any";
        break;
      case kMatchAll:
        out += " all";
        break;
      case kMatchOnly:
        out += " only";
        break;
    }
    if (chunkmap_.none()) {
      out += " NONE";
      return;
    }
    if (chunkmap_.all()) {
      out += " ALL";
      return;
    }
    bool first = true;
    for (unsigned t = 0; t < 256; ++t) {
      if (!chunkmap_.test(t)) continue;
      out += first ? ' ' : ',';
      first = false;
      for (const ChunkName& n : kChunkNames)
        if (n.type == t) out += n.name;
      for (int j = 0; j < flag_count_; ++j)
        if (flag_info_[j].chunktype == t) SaveChunkFlags(out, t, flag_info_[j]);
    }
  }

  // SaveChunkFlags prints ":flags", upper case for a set bit, lower case
  // for a bit that must be clear. iptables indexes its name table by the
  // chunk type here.
  static void SaveChunkFlags(std::string& out, unsigned type,
                             const FlagInfo& f) {
    if (f.flag_mask) out += ':';
    const char* v = kChunkNames[type].valid_flags;
    for (int i = 7; i >= 0; --i) {
      if (!(f.flag_mask & (1 << i))) continue;
      char ch = v[7 - i];
      out += (f.flag & (1 << i)) ? ch : char(tolower(uint8_t(ch)));
    }
  }

  bool FlagsMatch(uint8_t type, uint8_t flags) const {
    for (int i = 0; i < flag_count_; ++i)
      if (flag_info_[i].chunktype == type)
        return (flags & flag_info_[i].flag_mask) == flag_info_[i].flag;
    return true;
  }

  // MatchChunks walks the chunks after the common header (match_packet).
  bool MatchChunks(const Packet& skb, size_t offset, bool& hotdrop) const {
    std::bitset<256> left = chunkmap_;
    do {
      const uint8_t* ch = skb.HeaderPointer(offset, 4);
      if (ch == nullptr || Load16(ch + 2) == 0) {
        hotdrop = true;
        return false;
      }
      const uint8_t type = ch[0], flags = ch[1];
      offset += (size_t(Load16(ch + 2)) + 3) & ~size_t(3);
      if (chunkmap_.test(type)) {
        switch (match_type_) {
          case kMatchAny:
            if (FlagsMatch(type, flags)) return true;
            break;
          case kMatchAll:
            if (FlagsMatch(type, flags)) left.reset(type);
            break;
          case kMatchOnly:
            if (!FlagsMatch(type, flags)) return false;
            break;
        }
      } else if (match_type_ == kMatchOnly) {
        return false;
      }
    } while (offset < skb.data.size());
    switch (match_type_) {
      case kMatchAll:
        return left.none();
      case kMatchOnly:
        return true;
      default:
        return false;
    }
  }

  uint16_t spts_[2] = {0, 0};
  uint16_t dpts_[2] = {0, 0};
  std::bitset<256> chunkmap_;
  uint32_t flags_ = 0, invflags_ = 0;
  uint32_t match_type_ = 0;
  FlagInfo flag_info_[kNumFlagInfos];
  int flag_count_ = 0;
  unsigned seen_ = 0;  // options given so far (xtables' *flags)
};

const unsigned kRaw = kOptRaw;

NETFENCE_REGISTER(RegisterMatch({
    .name = "sctp",
    .options = {{"source-port", kSport, OptType::kString, kRaw},
                {"sport", kSport, OptType::kString, kRaw},
                {"destination-port", kDport, OptType::kString, kRaw},
                {"dport", kDport, OptType::kString, kRaw},
                {"chunk-types", kChunks, OptType::kString, kRaw}},
    .proto = 132,
    .create = [] { return std::make_unique<SctpMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
