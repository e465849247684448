// string match (revision 1): find a byte pattern in the packet between
// two offsets with the kernel's textsearch algorithms, Boyer-Moore ("bm"),
// Knuth-Morris-Pratt ("kmp") or the token state machine ("fsm"),
// optionally ignoring case (xt_string).
#include <fmt/format.h>

#include <array>
#include <climits>
#include <cstring>
#include <memory>

#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kFrom, kTo, kAlgo, kIcase, kString, kHexString };

constexpr size_t kMaxPattern = 128;  // XT_STRING_MAX_PATTERN_SIZE
constexpr size_t kMaxAlgoName = 15;  // XT_STRING_MAX_ALGO_NAME_SIZE - 1
constexpr uint8_t kFlagIgnoreCase = 0x01, kFlagInvert = 0x02;

// KernelToUpper is the kernel's toupper(): its ctype table treats the
// Latin-1 letters as letters too, and 0xdf / 0xff as lower case.
uint8_t KernelToUpper(uint8_t c) {
  const bool lower =
      (c >= 'a' && c <= 'z') || c == 0xdf || (c >= 0xe0 && c != 0xf7);
  return lower ? uint8_t(c - 32) : c;
}

// KernelToLower is the kernel's tolower().
uint8_t KernelToLower(uint8_t c) {
  const bool upper =
      (c >= 'A' && c <= 'Z') || (c >= 0xc0 && c <= 0xde && c != 0xd7);
  return upper ? uint8_t(c + 32) : c;
}

// TextSearch is a prepared search (a textsearch ts_config). Find returns
// the offset of the first occurrence in text, or UINT_MAX.
class TextSearch {
 public:
  virtual ~TextSearch() = default;
  virtual unsigned Find(const uint8_t* text, unsigned len) const = 0;
};

// BoyerMoore reproduces lib/ts_bm.c, including its simplified good-suffix
// table: its results (and misses) must be the kernel's.
class BoyerMoore : public TextSearch {
 public:
  BoyerMoore(const std::string& pat, bool icase)
      : icase_(icase), good_shift_(pat.size()) {
    for (char ch : pat)
      pattern_.push_back(icase ? KernelToUpper(uint8_t(ch)) : uint8_t(ch));
    const int n = int(pattern_.size());
    bad_shift_.fill(unsigned(n));
    for (int i = 0; i < n - 1; ++i) {
      bad_shift_[pattern_[i]] = unsigned(n - 1 - i);
      if (icase) bad_shift_[KernelToLower(pattern_[i])] = unsigned(n - 1 - i);
    }
    good_shift_[0] = 1;
    for (int i = 1; i < n; ++i) good_shift_[i] = unsigned(n);
    for (int i = n - 1, g = 1; i > 0; ++g, --i) {
      for (int j = i - 1; j >= 1 - g; --j) {
        if (Subpattern(i, j, g)) {
          good_shift_[g] = unsigned(n - j - g);
          break;
        }
      }
    }
  }

  unsigned Find(const uint8_t* text, unsigned len) const override {
    const int n = int(pattern_.size());
    int shift = n - 1;
    while (unsigned(shift) < len) {
      int i = 0;
      while (i < n && Fold(text[shift - i]) == pattern_[n - 1 - i]) ++i;
      if (i == n) return unsigned(shift - (n - 1));
      const int bs = int(bad_shift_[text[shift - i]]);
      shift = std::max(shift - i + bs, shift + int(good_shift_[i]));
    }
    return UINT_MAX;
  }

 private:
  uint8_t Fold(uint8_t c) const { return icase_ ? KernelToUpper(c) : c; }

  // Subpattern tells whether the g characters ending at i + g - 1 recur
  // ending at j + g - 1 with a different preceding character (or run off
  // the pattern's start).
  bool Subpattern(int i, int j, int g) const {
    int x = i + g - 1, y = j + g - 1;
    while (pattern_[x--] == pattern_[y--]) {
      if (y < 0) return true;
      if (--g == 0) return pattern_[i - 1] != pattern_[j - 1];
    }
    return false;
  }

  bool icase_;
  std::vector<uint8_t> pattern_;
  std::array<unsigned, 256> bad_shift_{};
  std::vector<unsigned> good_shift_;
};

// Kmp is lib/ts_kmp.c: the first occurrence, found in one pass.
class Kmp : public TextSearch {
 public:
  Kmp(const std::string& pat, bool icase) : icase_(icase) {
    for (char ch : pat)
      pattern_.push_back(icase ? KernelToUpper(uint8_t(ch)) : uint8_t(ch));
    prefix_.assign(pattern_.size(), 0);
    for (unsigned k = 0, q = 1; q < pattern_.size(); ++q) {
      while (k > 0 && pattern_[k] != pattern_[q]) k = prefix_[k - 1];
      if (pattern_[k] == pattern_[q]) ++k;
      prefix_[q] = k;
    }
  }

  unsigned Find(const uint8_t* text, unsigned len) const override {
    unsigned q = 0;
    for (unsigned i = 0; i < len; ++i) {
      const uint8_t c = icase_ ? KernelToUpper(text[i]) : text[i];
      while (q > 0 && pattern_[q] != c) q = prefix_[q - 1];
      if (pattern_[q] == c) ++q;
      if (q == pattern_.size()) return i + 1 - q;
    }
    return UINT_MAX;
  }

 private:
  bool icase_;
  std::vector<uint8_t> pattern_;
  std::vector<unsigned> prefix_;
};

// Fsm is lib/ts_fsm.c: the pattern is an array of 4-byte tokens (type as
// a little-endian u16, recurrence, value) describing a small state
// machine; a match must also run to the end of the data unless the last
// token absorbs the rest.
class Fsm : public TextSearch {
 public:
  // Make validates the tokens as fsm_init does; nullptr means EINVAL.
  static std::shared_ptr<Fsm> Make(const std::string& pat, bool icase) {
    if (pat.empty() || pat.size() % 4 != 0 || icase) return nullptr;
    auto fsm = std::shared_ptr<Fsm>(new Fsm);
    const size_t n = pat.size() / 4;
    for (size_t i = 0; i < n; ++i) {
      const uint8_t* t = reinterpret_cast<const uint8_t*>(pat.data()) + 4 * i;
      const unsigned type = unsigned(t[0]) | unsigned(t[1]) << 8;
      if (type > kTypeMax || t[2] > kRecurMax) return nullptr;
      if (t[2] == kHeadIgnore && (i != 0 || i == n - 1)) return nullptr;
      fsm->tokens_.push_back({kTokenMap[type], t[2], t[3]});
    }
    return fsm;
  }

  unsigned Find(const uint8_t* data, unsigned len) const override {
    const size_t n = tokens_.size();
    unsigned pos = 0;
    if (pos >= len) return UINT_MAX;
    const bool strict = tokens_[0].recur != kHeadIgnore;
  startover:
    unsigned match_start = pos;
    for (size_t i = 0; i < n; ++i) {
      const Token& cur = tokens_[i];
      const Token* next = i + 1 < n ? &tokens_[i + 1] : nullptr;
      switch (cur.recur) {
        case kSingle:
          if (pos >= len) return UINT_MAX;
          if (!cur.Matches(data[pos])) {
            if (strict) return UINT_MAX;
            ++pos;
            goto startover;
          }
          break;
        case kPerhaps:
          if (pos >= len || !cur.Matches(data[pos])) continue;
          break;
        case kMulti:
          if (pos >= len) return UINT_MAX;
          if (!cur.Matches(data[pos])) {
            if (strict) return UINT_MAX;
            ++pos;
            goto startover;
          }
          ++pos;
          [[fallthrough]];
        case kAny:
          if (next == nullptr) return match_start;
          if (pos >= len) continue;
          while (!next->Matches(data[pos])) {
            if (!cur.Matches(data[pos])) {
              if (strict) return UINT_MAX;
              ++pos;
              goto startover;
            }
            if (++pos >= len) return UINT_MAX;
          }
          continue;
        case kHeadIgnore:
          if (pos >= len) continue;
          while (!next->Matches(data[pos])) {
            if (!cur.Matches(data[pos])) return UINT_MAX;
            if (++pos >= len) return UINT_MAX;
          }
          match_start = pos;
          continue;
      }
      ++pos;
    }
    return pos >= len ? match_start : UINT_MAX;
  }

 private:
  // Character classes of the kernel's ctype table, plus ASCII and "any".
  enum : uint16_t {
    kU = 0x01,
    kL = 0x02,
    kD = 0x04,
    kC = 0x08,
    kP = 0x10,
    kS = 0x20,
    kX = 0x40,
    kSP = 0x80,
    kA = 0x100,
    kW = 0x200,
  };
  enum : uint8_t { kSingle, kPerhaps, kAny, kMulti, kHeadIgnore };
  static constexpr unsigned kTypeMax = 13, kRecurMax = kHeadIgnore;
  static constexpr uint16_t kTokenMap[kTypeMax + 1] = {
      0,       kW,           kD, kD | kX, kP | kU | kL | kD | kSP,
      kU | kL, kU | kL | kD, kA, kC,      kP | kU | kL | kD,
      kL,      kU,           kP, kS,
  };

  // Classes returns the classes of a byte (the kernel's token_lookup_tbl).
  static uint16_t Classes(uint8_t c) {
    uint16_t f = kW;
    if (c < 0x80) f |= kA;
    if (c < 0x20 || c == 0x7f) f |= kC;
    if ((c >= 9 && c <= 13) || c == ' ' || c == 0xa0) f |= kS;
    if (c == ' ' || c == 0xa0) f |= kSP;
    if (c >= '0' && c <= '9') f |= kD;
    if ((c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f')) f |= kX;
    if ((c >= 'A' && c <= 'Z') || (c >= 0xc0 && c <= 0xde && c != 0xd7))
      f |= kU;
    if ((c >= 'a' && c <= 'z') || c == 0xdf || (c >= 0xe0 && c != 0xf7))
      f |= kL;
    const bool punct_ascii = (c > 0x20 && c < 0x7f) && !(f & (kU | kL | kD));
    if (punct_ascii || (c >= 0xa1 && c <= 0xbf) || c == 0xd7 || c == 0xf7)
      f |= kP;
    return f;
  }

  struct Token {
    uint16_t type;  // class mask; 0 means the specific value
    uint8_t recur;
    uint8_t value;
    bool Matches(uint8_t d) const {
      return type ? (Classes(d) & type) != 0 : value == d;
    }
  };

  std::vector<Token> tokens_;
};

bool IsPrint(uint8_t c) { return c >= 0x20 && c < 0x7f; }
bool IsXDigit(char c) { return isxdigit(uint8_t(c)) != 0; }

// ParseHexString reads iptables' mixed form: plain text, "\x" literals and
// |hex bytes| blocks (with its exact quirks).
std::string ParseHexString(const std::string& s) {
  const size_t slen = s.size();
  if (slen == 0) throw ParseError("STRING must contain at least one char");
  std::string out;
  bool hex = false, literal = false;
  size_t i = 0;
  auto at = [&](size_t k) { return k < slen ? s[k] : '\0'; };
  while (i < slen) {
    if (out.size() >= kMaxPattern)
      throw ParseError("STRING too long \"" + s + "\"");
    if (s[i] == '\\' && !hex) {
      literal = true;
    } else if (s[i] == '\\') {
      throw ParseError("Cannot include literals in hex data");
    } else if (s[i] == '|') {
      if (hex) {
        hex = false;
      } else {
        hex = true;
        while (at(i + 1) == ' ') ++i;
      }
      if (i + 1 >= slen) break;
      ++i;
    }
    if (literal) {
      if (i + 1 >= slen)
        throw ParseError("Bad literal placement at end of string");
      out += s[i + 1];
      i += 2;
      literal = false;
    } else if (hex) {
      if (i + 1 >= slen) throw ParseError("Odd number of hex digits");
      if (i + 2 >= slen) throw ParseError("Invalid hex block");
      if (!IsXDigit(s[i]))
        throw ParseError(std::string("Invalid hex char '") + s[i] + "'");
      if (!IsXDigit(s[i + 1]))
        throw ParseError(std::string("Invalid hex char '") + s[i + 1] + "'");
      out += char(std::stoi(s.substr(i, 2), nullptr, 16));
      i += s[i + 2] == ' ' ? 3 : 2;
    } else {
      out += s[i];
      ++i;
    }
  }
  return out;
}

class StringMatch : public Match {
 public:
  void Parse(OptCall& c) override {
    switch (c.id()) {
      case kFrom:
        from_ = uint16_t(c.val.u);
        break;
      case kTo:
        to_ = uint16_t(c.val.u);
        break;
      case kAlgo:
        algo_ = c.arg;
        break;
      case kIcase:
        flags_ |= kFlagIgnoreCase;
        break;
      case kString:
        if (c.arg.size() > kMaxPattern)
          throw ParseError("STRING too long \"" + c.arg + "\"");
        pattern_ = c.arg;
        if (c.invert) flags_ |= kFlagInvert;
        break;
      case kHexString:
        pattern_ = ParseHexString(c.arg);
        if (c.invert) flags_ |= kFlagInvert;
        break;
    }
  }

  void FinalCheck(FcheckCall& c) override {
    if (!(c.xflags & (1u << kString | 1u << kHexString)))
      throw ParseError(
          "STRING match: You must specify `--string' or `--hex-string'");
  }

  void Check(const CheckCtx& c) override {
    if (from_ > to_) throw CommitError("string: --from beyond --to");
    // textsearch_prepare: an empty pattern is invalid, an unknown
    // algorithm has no module to load.
    if (pattern_.empty()) throw CommitError("string: empty pattern");
    const bool icase = flags_ & kFlagIgnoreCase;
    if (algo_ == "bm")
      search_ = std::make_shared<BoyerMoore>(pattern_, icase);
    else if (algo_ == "kmp")
      search_ = std::make_shared<Kmp>(pattern_, icase);
    else if (algo_ == "fsm")
      search_ = Fsm::Make(pattern_, icase);
    else
      throw CommitError("string: unknown algorithm `" + algo_ + "'");
    if (search_ == nullptr) throw CommitError("string: invalid fsm pattern");
  }

  void Save(SaveCtx& s) const override {
    const bool invert = flags_ & kFlagInvert;
    if (IsHex()) {
      s.out += invert ? " ! --hex-string \"|" : " --hex-string \"|";
      for (char ch : pattern_) s.out += fmt::format("{:02x}", uint8_t(ch));
      s.out += "|\"";
    } else {
      s.out += invert ? " ! --string \"" : " --string \"";
      for (char ch : pattern_) {
        if (ch == '"' || ch == '\\') s.out += '\\';
        s.out += ch;
      }
      s.out += '"';
    }
    s.out += " --algo " + algo_;
    if (from_ != 0) s.out += fmt::format(" --from {}", from_);
    if (to_ != UINT16_MAX) s.out += fmt::format(" --to {}", to_);
    if (flags_ & kFlagIgnoreCase) s.out += " --icase";
  }

  bool Matches(XtParams& p) const override {
    const bool invert = flags_ & kFlagInvert;
    return Found(*p.skb) ^ invert;
  }

 private:
  // IsHex: iptables-save prints a pattern with a non-printable character
  // or a trailing backslash as hex.
  bool IsHex() const {
    for (char ch : pattern_)
      if (!IsPrint(uint8_t(ch))) return true;
    return !pattern_.empty() && pattern_.back() == '\\';
  }

  // Found is skb_find_text: the search reads from --from to the end of the
  // (linear) packet, and only a first occurrence ending by --to counts.
  bool Found(const Packet& skb) const {
    if (search_ == nullptr) return false;
    const size_t len = skb.data.size();
    if (from_ >= to_ || from_ >= len) return false;
    unsigned pos =
        search_->Find(skb.data.data() + from_, unsigned(len - from_));
    if (pos == UINT_MAX) return false;
    return pos + pattern_.size() <= unsigned(to_ - from_);
  }

  uint16_t from_ = 0, to_ = UINT16_MAX;
  std::string algo_;
  std::string pattern_;
  uint8_t flags_ = 0;
  std::shared_ptr<const TextSearch> search_;  // built by Check
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "string",
    .revision = 1,
    .options = {{.name = "from", .id = kFrom, .type = OptType::kUint16},
                {.name = "to", .id = kTo, .type = OptType::kUint16},
                {.name = "algo",
                 .id = kAlgo,
                 .type = OptType::kString,
                 .flags = kOptMand,
                 .maxlen = kMaxAlgoName},
                {.name = "string",
                 .id = kString,
                 .type = OptType::kString,
                 .flags = kOptInvert,
                 .excl = 1u << kHexString},
                {.name = "hex-string",
                 .id = kHexString,
                 .type = OptType::kString,
                 .flags = kOptInvert,
                 .excl = 1u << kString},
                {.name = "icase", .id = kIcase, .type = OptType::kNone}},
    .create = [] { return std::make_unique<StringMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
