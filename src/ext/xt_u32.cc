// u32 match: tests on 32-bit words read at computed packet offsets
// (xt_u32): "location=value[,value...]" joined by "&&", where a location
// is a number followed by &, <<, >> and @ (move) operations.
#include <fmt/format.h>

#include <cctype>

#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

constexpr unsigned kMaxSize = 10;  // XT_U32_MAXSIZE

enum Op : uint8_t { kAnd = 0, kLeftSh, kRightSh, kAt };

struct Test {
  struct {
    uint32_t number = 0;
    uint8_t nextop = kAnd;
  } location[kMaxSize + 1];
  struct {
    uint32_t min = 0, max = 0;
  } value[kMaxSize + 1];
  uint8_t nnums = 0, nvalues = 0;
};

// Parser follows libxt_u32's state machine, error for error.
class Parser {
 public:
  Parser(const std::string& arg, std::vector<Test>& tests)
      : s_(arg.c_str()), start_(s_), tests_(tests) {}

  void Run() {
    tests_.assign(kMaxSize + 1, Test{});
    Test* ct = &tests_[0];
    unsigned testind = 0, locind = 0, valind = 0;
    int state = 0;  // 0: location, 1: values
    while (true) {
      while (isspace(uint8_t(*s_))) ++s_;
      if (*s_ == '\0') {
        if (state == 0)
          Fail("u32: abrupt end of input after location specifier");
        if (valind == 0) Fail("u32: test ended with no value specified");
        ct->nnums = uint8_t(locind);
        ct->nvalues = uint8_t(valind);
        ntests_ = ++testind;
        if (testind > kMaxSize) Fail(At("too many \"&&\"s"));
        tests_.resize(ntests_);
        return;
      }
      if (state == 0) {
        if (*s_ == '=') {
          if (locind == 0) Fail(At("location spec missing"));
          ++s_;
          state = 1;
          continue;
        }
        if (locind != 0) ct->location[locind].nextop = ReadOp();
        ct->location[locind].number = ReadNumber();
        if (++locind > kMaxSize) Fail(At("too many operators"));
      } else if (*s_ == '&') {
        if (*++s_ != '&') Fail(At("a second '&' was expected"));
        if (valind == 0) Fail(At("value spec missing"));
        ct->nnums = uint8_t(locind);
        ct->nvalues = uint8_t(valind);
        ct = &tests_[++testind];
        if (testind > kMaxSize) Fail(At("too many \"&&\"s"));
        ++s_;
        state = 0;
        locind = valind = 0;
      } else {
        if (valind > 0) {
          if (*s_ != ',') Fail(At("expected \",\" or \"&&\""));
          ++s_;
        }
        ct->value[valind].min = ReadNumber();
        while (isspace(uint8_t(*s_))) ++s_;
        if (*s_ == ':') {
          ++s_;
          ct->value[valind].max = ReadNumber();
        } else {
          ct->value[valind].max = ct->value[valind].min;
        }
        if (++valind > kMaxSize) Fail(At("too many \",\"s"));
      }
    }
  }

  unsigned ntests() const { return ntests_; }

 private:
  [[noreturn]] static void Fail(const std::string& msg) {
    throw ParseError(msg);
  }

  std::string At(const char* what) const {
    return fmt::format("u32: at char {}: {}", s_ - start_, what);
  }

  uint8_t ReadOp() {
    uint8_t op;
    if (*s_ == '&') {
      op = kAnd;
    } else if (*s_ == '<') {
      if (*++s_ != '<') Fail(At("a second '<' was expected"));
      op = kLeftSh;
    } else if (*s_ == '>') {
      if (*++s_ != '>') Fail(At("a second '>' was expected"));
      op = kRightSh;
    } else if (*s_ == '@') {
      op = kAt;
    } else {
      Fail(At("operator expected"));
    }
    ++s_;
    return op;
  }

  // ReadNumber is xtables_strtoui with an end pointer: leading blanks and
  // any base, but no minus sign.
  uint32_t ReadNumber() {
    uint64_t v;
    size_t n = StrToU64Prefix(s_, v, 0, UINT32_MAX);
    if (n == 0)
      Fail(fmt::format("u32: at char {}: not a number or out of range",
                       s_ - start_));
    s_ += n;
    return uint32_t(v);
  }

  const char* s_;
  const char* start_;
  std::vector<Test>& tests_;
  unsigned ntests_ = 0;
};

class U32Match : public Match {
 public:
  void Parse(OptCall& c) override {
    invert_ = c.invert;
    Parser parser(c.arg, tests_);
    parser.Run();
  }

  void Save(SaveCtx& s) const override {
    static const char* const kOps[] = {"&", "<<", ">>", "@"};
    if (invert_) s.out += " !";
    s.out += " --u32 \"";
    for (size_t t = 0; t < tests_.size(); ++t) {
      const Test& ct = tests_[t];
      if (t > 0) s.out += "&&";
      s.out += fmt::format("{:#x}", ct.location[0].number);
      for (unsigned i = 1; i < ct.nnums; ++i)
        s.out += fmt::format("{}{:#x}", kOps[ct.location[i].nextop & 3],
                             ct.location[i].number);
      s.out += '=';
      for (unsigned i = 0; i < ct.nvalues; ++i) {
        if (i > 0) s.out += ',';
        if (ct.value[i].min == ct.value[i].max)
          s.out += fmt::format("{:#x}", ct.value[i].min);
        else
          s.out += fmt::format("{:#x}:{:#x}", ct.value[i].min, ct.value[i].max);
      }
    }
    s.out += '"';
  }

  bool Matches(XtParams& p) const override {
    return MatchAll(*p.skb) ^ invert_;
  }

 private:
  // MatchAll evaluates every test (u32_match_it); any read outside the
  // packet fails the whole match.
  bool MatchAll(const Packet& skb) const {
    const uint32_t len = uint32_t(skb.data.size());
    for (const Test& ct : tests_) {
      uint32_t at = 0, pos = ct.location[0].number;
      if (len < 4 || pos > len - 4) return false;
      uint32_t val = Load32(&skb.data[pos]);
      for (unsigned i = 1; i < ct.nnums; ++i) {
        const uint32_t number = ct.location[i].number;
        switch (ct.location[i].nextop) {
          case kAnd:
            val &= number;
            break;
          // x86 shifts use the count modulo 32, as the kernel's code does.
          case kLeftSh:
            val <<= (number & 31);
            break;
          case kRightSh:
            val >>= (number & 31);
            break;
          case kAt:
            if (at + val < at) return false;
            at += val;
            pos = number;
            if (at + 4 < at || len < at + 4 || pos > len - at - 4) return false;
            val = Load32(&skb.data[at + pos]);
            break;
        }
      }
      bool in = false;
      for (unsigned i = 0; i < ct.nvalues && !in; ++i)
        in = ct.value[i].min <= val && val <= ct.value[i].max;
      if (!in) return false;
    }
    return true;
  }

  std::vector<Test> tests_;
  bool invert_ = false;
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "u32",
    .options = {{"u32", 0, OptType::kString, kOptMand | kOptInvert}},
    .create = [] { return std::make_unique<U32Match>(); },
}));

}  // namespace
}  // namespace netfence::ext
