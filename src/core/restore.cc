// iptables-restore: the line loop, the per-line command parser (do_parse /
// do_command4 / do_command6) and the table operations of libiptc.
#include "core/restore.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>

#include "core/addr.h"
#include "core/commit.h"
#include "core/getopt.h"
#include "core/protocols.h"

namespace netfence::core {

namespace {

// OneLine escapes control characters (a newline swallowed by an unterminated
// quote, the '\r' of a CRLF file) so that an error stays one line.
std::string OneLine(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\r') {
      out += "\\r";
    } else if (uint8_t(ch) < 0x20 && ch != '\t') {
      char buf[8];
      snprintf(buf, sizeof(buf), "\\x%02x", unsigned(uint8_t(ch)));
      out += buf;
    } else {
      out += ch;
    }
  }
  return out;
}

}  // namespace

RestoreError::RestoreError(const std::string& f, int l, const std::string& r,
                           bool commit)
    : std::runtime_error(OneLine(f + ":" + std::to_string(l) + ": " + r)),
      file(f),
      line(l),
      reason(r),
      at_commit(commit) {}

namespace {

constexpr size_t kMaxChainName = 29;  // XT_EXTENSION_MAXNAMELEN
constexpr size_t kMaxArgc = 255;
constexpr size_t kMaxParam = 1024;
constexpr size_t kFgetsMax = 10239;  // iptables-restore's buffer[10240]
constexpr int kOffsetScale = 256;  // XT_OPTION_OFFSET_SCALE

// Command bits, in iptables' order (CMD_*).
enum Cmd : unsigned {
  kCmdNone = 0,
  kCmdInsert = 1 << 0,
  kCmdDelete = 1 << 1,
  kCmdDeleteNum = 1 << 2,
  kCmdReplace = 1 << 3,
  kCmdAppend = 1 << 4,
  kCmdList = 1 << 5,
  kCmdFlush = 1 << 6,
  kCmdZero = 1 << 7,
  kCmdNewChain = 1 << 8,
  kCmdDeleteChain = 1 << 9,
  kCmdSetPolicy = 1 << 10,
  kCmdRenameChain = 1 << 11,
  kCmdListRules = 1 << 12,
  kCmdZeroNum = 1 << 13,
  kCmdCheck = 1 << 14,
};

// Option bits (OPT_*), in the order of optflags[].
enum Opt : unsigned {
  kOptNumeric = 1 << 0,
  kOptSource = 1 << 1,
  kOptDestination = 1 << 2,
  kOptProtocol = 1 << 3,
  kOptJump = 1 << 4,
  kOptVerbose = 1 << 5,
  kOptExpanded = 1 << 6,
  kOptViaIn = 1 << 7,
  kOptViaOut = 1 << 8,
  kOptLineNumbers = 1 << 9,
  kOptCounters = 1 << 10,
  kOptFragment = 1 << 11,
};

const char kOptChars[] = {'n', 's', 'd', 'p', 'j', 'v', 'x', 'i', 'o', '0', 'c', 'f'};
const uint8_t kInverseFor[] = {0, kInvSrcIp, kInvDstIp, kInvProto, 0, 0, 0,
                               kInvViaIn, kInvViaOut, 0, 0, kInvFrag};

char OptChar(unsigned opt) {
  int i = 0;
  while ((1u << i) != opt) ++i;
  return kOptChars[i];
}

char CmdChar(unsigned cmd) {
  static const char kFlags[] = {'I', 'D', 'D', 'R', 'A', 'L', 'F', 'Z',
                                'N', 'X', 'P', 'E', 'S', 'Z', 'C'};
  int i = 0;
  while (cmd > 1) {
    cmd >>= 1;
    ++i;
  }
  return kFlags[i];
}

const std::vector<LongOption>& OrigOpts() {
  static const std::vector<LongOption> kOpts = {
      {"append", 1, 'A'},        {"delete", 1, 'D'},
      {"check", 1, 'C'},         {"insert", 1, 'I'},
      {"replace", 1, 'R'},       {"list", 2, 'L'},
      {"list-rules", 2, 'S'},    {"flush", 2, 'F'},
      {"zero", 2, 'Z'},          {"new-chain", 1, 'N'},
      {"delete-chain", 2, 'X'},  {"rename-chain", 1, 'E'},
      {"policy", 1, 'P'},        {"source", 1, 's'},
      {"destination", 1, 'd'},   {"src", 1, 's'},
      {"dst", 1, 'd'},           {"protocol", 1, 'p'},
      {"in-interface", 1, 'i'},  {"jump", 1, 'j'},
      {"table", 1, 't'},         {"match", 1, 'm'},
      {"numeric", 0, 'n'},       {"out-interface", 1, 'o'},
      {"verbose", 0, 'v'},       {"wait", 2, 'w'},
      {"wait-interval", 2, 'W'}, {"exact", 0, 'x'},
      {"fragments", 0, 'f'},     {"version", 0, 'V'},
      {"help", 2, 'h'},          {"line-numbers", 0, '0'},
      {"modprobe", 1, 'M'},      {"set-counters", 1, 'c'},
      {"goto", 1, 'g'},          {"ipv4", 0, '4'},
      {"ipv6", 0, '6'},
  };
  return kOpts;
}

const char kOptString[] =
    "-:A:C:D:E:F::I:L::M:N:P:VX::Z::c:d:i:j:o:p:s:t:R:S::W::46bfg:h::m:nvw::x";

// SplitParams splits a rule line into arguments (add_param_to_argv).
std::vector<std::string> SplitParams(std::string_view s) {
  std::vector<std::string> out;
  std::string param;
  bool quote_open = false, escaped = false;
  auto add = [&](char c) {
    param += c;
    if (param.size() >= kMaxParam) throw ParseError("Parameter too long!");
  };
  auto emit = [&] {
    if (out.size() + 1 >= kMaxArgc - 3)
      throw ParseError("Parser cannot handle more arguments");
    out.push_back(param);
    param.clear();
  };
  for (char c : s) {
    if (quote_open) {
      if (escaped) {
        add(c);
        escaped = false;
        continue;
      }
      if (c == '\\') {
        escaped = true;
        continue;
      }
      if (c != '"') {
        add(c);
        continue;
      }
      quote_open = false;
    } else if (c == '"') {
      quote_open = true;
      continue;
    }
    if (c == '"') {
      emit();
    } else if (c == ' ' || c == '\t' || c == '\n') {
      if (!param.empty()) emit();
    } else {
      add(c);
    }
  }
  if (!param.empty()) emit();
  return out;
}

// StopRestore ends a load early and successfully (-V, -h).
struct StopRestore {};

// Ext is an extension type loaded into the option table of one rule line.
struct Ext {
  const MatchType* match = nullptr;
  const TargetType* target = nullptr;
  int offset = 0;
};

// PendingMatch is a match instance being parsed.
struct PendingMatch {
  const MatchType* type;
  std::unique_ptr<Match> m;
  unsigned xflags = 0;
  bool completed = false;
};

// Command is the result of parsing one line (iptables_command_state plus
// xt_cmd_parse and xtables_args).
struct Command {
  unsigned command = kCmdNone;
  std::string chain, policy, newname;
  unsigned rulenum = 0;
  unsigned options = 0;
  uint8_t invflags = 0;
  std::string protocol;
  bool proto_used = false;
  uint16_t proto = 0;
  std::string shost, dhost;
  IfaceMatch in, out;
  bool frag = false;
  bool goto_set = false;
  std::string jumpto;
  bool have_jump = false;
  const TargetType* target_type = nullptr;
  std::unique_ptr<Target> target;
  unsigned target_xflags = 0;
  std::vector<PendingMatch> matches;
  std::vector<Ext> exts;  // newest first, as merged into the option table
  int next_offset = kOffsetScale;
  bool have_counters = false;
  Counters counters;
  bool ignored = false;  // "-6" in iptables-restore: line skipped
  bool has_chain = false;  // -F / -X / -Z named a chain (maybe "")
};

class LineParser {
 public:
  LineParser(const RestoreOptions& o, const Table& table, IpFilter& ip)
      : opts_(o), table_(table), ip_(ip) {
    env_.family = o.family;
    env_.resolver = o.resolver;
    env_.ip = &ip_;
    env_.table = table.name;
  }

  Command Parse(const std::vector<std::string>& argv);

 private:
  std::vector<LongOption> LongOpts(const Command& c) const;
  void SetOption(Command& c, unsigned opt, bool invert);
  void AddCommand(Command& c, unsigned cmd, unsigned others, bool invert);
  void LoadMatch(Command& c, const MatchType* t);
  const MatchType* FindMatchByName(const std::string& name) const;
  const MatchType* FindProto(const std::string& pname) const;
  bool CommandDefault(Command& c, Getopt& g, bool invert);
  void DispatchExtOption(Command& c, int code, Getopt& g, bool invert);
  void Jump(Command& c, const std::string& name);
  void PostChecks(Command& c, Getopt& g, bool invert, size_t argc);
  // HasArg is xs_has_arg: the next argument, even an empty one (""), is
  // this option's unless it starts with '-' or '!'.
  bool HasArg(const Getopt& g, const std::vector<std::string>& argv) const {
    return g.optind < int(argv.size()) &&
           (argv[g.optind].empty() ||
            (argv[g.optind][0] != '-' && argv[g.optind][0] != '!'));
  }

  const RestoreOptions& opts_;
  const Table& table_;
  IpFilter& ip_;
  ParseEnv env_;
};

std::vector<LongOption> LineParser::LongOpts(const Command& c) const {
  std::vector<LongOption> v = OrigOpts();
  for (const Ext& e : c.exts) {
    const auto& entries = e.match ? e.match->options : e.target->options;
    for (const OptionEntry& o : entries)
      v.push_back({o.name, o.type == OptType::kNone ? 0 : 1,
                   int(e.offset + o.id)});
  }
  return v;
}

void LineParser::SetOption(Command& c, unsigned opt, bool invert) {
  if (c.options & opt)
    throw ParseError(std::string("multiple -") + OptChar(opt) +
                     " flags not allowed");
  c.options |= opt;
  if (!invert) return;
  int i = 0;
  while ((1u << i) != opt) ++i;
  if (!kInverseFor[i])
    throw ParseError(std::string("cannot have ! before -") + OptChar(opt));
  c.invflags |= kInverseFor[i];
}

void LineParser::AddCommand(Command& c, unsigned cmd, unsigned others,
                            bool invert) {
  if (invert) throw ParseError("unexpected '!' flag");
  if (c.command & ~others)
    throw ParseError(std::string("Cannot use -") + CmdChar(cmd) + " with -" +
                     CmdChar(c.command & ~others));
  c.command |= cmd;
}

const MatchType* LineParser::FindMatchByName(const std::string& n) const {
  std::string name = n;
  if (name == "icmpv6" || name == "ipv6-icmp") name = "icmp6";
  if (name.size() >= kMaxChainName)
    throw ParseError("Invalid match name \"" + n + "\" (28 chars max)");
  return FindMatch(name, opts_.family);
}

void LineParser::LoadMatch(Command& c, const MatchType* t) {
  bool seen_type = false;
  for (auto& pm : c.matches) {
    if (pm.type == t) {
      pm.completed = true;
      seen_type = true;
    }
  }
  c.matches.push_back({t, t->create(), 0, false});
  // A second instance of a type shares the first one's option codes.
  if (seen_type) return;
  c.exts.insert(c.exts.begin(), Ext{t, nullptr, c.next_offset});
  c.next_offset += kOffsetScale;
}

const MatchType* LineParser::FindProto(const std::string& pname) const {
  uint64_t num;
  if (StrToU64(pname, num, 0, UINT8_MAX)) {
    std::optional<std::string> name = ProtoToName(uint8_t(num), *opts_.resolver);
    if (!name) return nullptr;
    return FindMatchByName(*name);
  }
  return FindMatchByName(pname);
}

void LineParser::Jump(Command& c, const std::string& name) {
  if (name.empty()) throw ParseError("Invalid target name (too short)");
  if (name.size() >= kMaxChainName)
    throw ParseError("Invalid target name `" + name + "' (28 chars max)");
  for (char ch : name)
    if (isspace(uint8_t(ch)))
      throw ParseError("Invalid target name `" + name + "'");
  c.jumpto = name;
  c.have_jump = true;
  c.target_type = FindTarget(name, opts_.family);
  if (c.target_type == nullptr) return;
  c.target = c.target_type->create();
  c.exts.insert(c.exts.begin(), Ext{nullptr, c.target_type, c.next_offset});
  c.next_offset += kOffsetScale;
}

void LineParser::DispatchExtOption(Command& c, int code, Getopt& g,
                                   bool invert) {
  const int offset = code - code % kOffsetScale;
  const unsigned id = code % kOffsetScale;
  OptCall call;
  call.arg = g.optarg;
  call.has_arg = g.has_optarg;
  call.invert = invert;
  call.env = &env_;
  call.argv = g.argv();
  call.optind = &g.optind;
  if (c.target_type && c.exts.size() && c.target) {
    for (const Ext& e : c.exts) {
      if (e.target && e.offset == offset) {
        // The first entry with this id wins (xtables_option_lookup).
        for (const auto& o : e.target->options)
          if (o.id == id && call.entry == nullptr) call.entry = &o;
        call.ext_name = e.target->name;
        call.xflags = c.target_xflags;
        ParseOptionValue(call);
        c.target->Parse(call);
        c.target_xflags = call.xflags | (1u << id);
        return;
      }
    }
  }
  const MatchType* type = nullptr;
  for (const Ext& e : c.exts)
    if (e.match && e.offset == offset) type = e.match;
  for (auto& pm : c.matches) {
    if (pm.completed || pm.type != type) continue;
    for (const auto& o : type->options)
      if (o.id == id && call.entry == nullptr) call.entry = &o;
    call.ext_name = type->name;
    call.xflags = pm.xflags;
    ParseOptionValue(call);
    pm.m->Parse(call);
    pm.xflags = call.xflags | (1u << id);
    return;
  }
  throw ParseError("option \"" + g.bad_option + "\" has no owner");
}

bool LineParser::CommandDefault(Command& c, Getopt& g, bool invert) {
  if (g.optarg.empty() && !g.has_optarg && c.exts.empty()) {
    // fall through to the protocol attempt below
  }
  // Try loading the protocol match on demand ("-p tcp --dport 22").
  if (!c.protocol.empty() && !c.proto_used) {
    if (const MatchType* m = FindProto(c.protocol)) {
      c.proto_used = true;
      LoadMatch(c, m);
      return true;
    }
  }
  return false;
}

Command LineParser::Parse(const std::vector<std::string>& argv) {
  Command c;
  Getopt g(argv, kOptString);
  bool invert = false;
  bool table_set = true;  // restore passes "-t TABLE" itself
  while (true) {
    const int optind_before = g.optind;
    int code = g.Next(LongOpts(c));
    if (code == -1) break;
    if (code >= kOffsetScale) {
      DispatchExtOption(c, code, g, invert);
      invert = false;
      continue;
    }
    auto last_arg = [&] { return argv[g.optind - 1]; };
    switch (code) {
      case 'A':
        AddCommand(c, kCmdAppend, kCmdNone, invert);
        c.chain = g.optarg;
        break;
      case 'C':
        AddCommand(c, kCmdCheck, kCmdNone, invert);
        c.chain = g.optarg;
        break;
      case 'D':
        AddCommand(c, kCmdDelete, kCmdNone, invert);
        c.chain = g.optarg;
        if (HasArg(g, argv)) {
          uint64_t n;
          std::string a = argv[g.optind++];
          if (!StrToU64(a, n, 1, INT32_MAX))
            throw ParseError("Invalid rule number `" + a + "'");
          c.rulenum = n;
          c.command = kCmdDeleteNum;
        }
        break;
      case 'R':
      case 'I': {
        AddCommand(c, code == 'R' ? kCmdReplace : kCmdInsert, kCmdNone,
                   invert);
        c.chain = g.optarg;
        if (HasArg(g, argv)) {
          uint64_t n;
          std::string a = argv[g.optind++];
          if (!StrToU64(a, n, 1, INT32_MAX))
            throw ParseError("Invalid rule number `" + a + "'");
          c.rulenum = n;
        } else if (code == 'R') {
          throw ParseError("-R requires a rule number");
        } else {
          c.rulenum = 1;
        }
        break;
      }
      case 'L':
      case 'S':
        // Listing prints to iptables-restore's output and changes nothing;
        // only a missing chain makes it fail.
        AddCommand(c, code == 'L' ? kCmdList : kCmdListRules,
                   kCmdZero | kCmdZeroNum, invert);
        if (g.has_optarg)
          c.chain = g.optarg;
        else if (HasArg(g, argv))
          c.chain = argv[g.optind++];
        if (HasArg(g, argv)) {
          uint64_t n;
          std::string a = argv[g.optind++];
          if (!StrToU64(a, n, 1, INT32_MAX))
            throw ParseError("Invalid rule number `" + a + "'");
          c.rulenum = n;
        }
        break;
      case 'F':
      case 'X':
      case 'Z': {
        unsigned cmd = code == 'F'   ? kCmdFlush
                       : code == 'X' ? kCmdDeleteChain
                                     : kCmdZero;
        AddCommand(c, cmd, code == 'Z' ? (kCmdList | kCmdListRules) : kCmdNone,
                   invert);
        if (g.has_optarg) {
          c.chain = g.optarg;
          c.has_chain = true;
        } else if (HasArg(g, argv)) {
          c.chain = argv[g.optind++];
          c.has_chain = true;
        }
        if (code == 'Z' && HasArg(g, argv)) {
          uint64_t n;
          std::string a = argv[g.optind++];
          if (!StrToU64(a, n, 1, INT32_MAX))
            throw ParseError("Invalid rule number `" + a + "'");
          c.rulenum = n;
          c.command = kCmdZeroNum;
        }
        break;
      }
      case 'N': {
        const std::string& n = g.optarg;
        if (n.size() >= kMaxChainName)
          throw ParseError("chain name `" + n +
                           "' too long (must be under 29 chars)");
        if (!n.empty() && (n[0] == '-' || n[0] == '!'))
          throw ParseError(std::string("chain name not allowed to start with `") +
                           n[0] + "'");
        // "" is the standard target's name, as are the verdicts.
        if (FindTarget(n, opts_.family) || n.empty() || n == "ACCEPT" ||
            n == "DROP" || n == "QUEUE" || n == "RETURN")
          throw ParseError("chain name may not clash with target name");
        for (char ch : n)
          if (isspace(uint8_t(ch)))
            throw ParseError("Invalid chain name `" + n + "'");
        AddCommand(c, kCmdNewChain, kCmdNone, invert);
        c.chain = n;
        break;
      }
      case 'E':
        AddCommand(c, kCmdRenameChain, kCmdNone, invert);
        c.chain = g.optarg;
        if (!HasArg(g, argv))
          throw ParseError("-E requires old-chain-name and new-chain-name");
        c.newname = argv[g.optind++];
        break;
      case 'P':
        AddCommand(c, kCmdSetPolicy, kCmdNone, invert);
        c.chain = g.optarg;
        if (!HasArg(g, argv))
          throw ParseError("-P requires a chain and a policy");
        c.policy = argv[g.optind++];
        break;
      case 'h':
      case 'V':
        // iptables prints help or its version and exits 0 on the spot: what
        // was committed stays, the table in progress is dropped.
        throw StopRestore{};
      case 'p': {
        SetOption(c, kOptProtocol, invert);
        // iptables reads the protocol from the last consumed argument.
        std::string p = last_arg();
        for (auto& ch : p) ch = char(tolower(uint8_t(ch)));
        c.protocol = p;
        c.proto = ParseProtocol(p, *opts_.resolver);
        if (c.proto == 0 && (c.invflags & kInvProto))
          throw ParseError("rule would never match protocol");
        // Extensions parsed after -p see it (ipv4_proto_parse /
        // ipv6_proto_parse fill the entry at once): NAT port ranges need it.
        ip_.proto = c.proto;
        ip_.proto_set = true;
        ip_.invflags = c.invflags;
        break;
      }
      case 's':
        SetOption(c, kOptSource, invert);
        c.shost = last_arg();
        break;
      case 'd':
        SetOption(c, kOptDestination, invert);
        c.dhost = last_arg();
        break;
      case 'g':
        SetOption(c, kOptJump, invert);
        c.goto_set = true;
        if (g.optarg.empty()) throw ParseError("Invalid target name (too short)");
        if (g.optarg.size() >= kMaxChainName)
          throw ParseError("Invalid target name `" + g.optarg +
                           "' (28 chars max)");
        c.jumpto = g.optarg;
        c.have_jump = true;
        break;
      case 'j':
        SetOption(c, kOptJump, invert);
        Jump(c, last_arg());
        break;
      case 'i':
      case 'o':
        if (g.optarg.empty())
          throw ParseError("Empty interface is likely to be undesired");
        SetOption(c, code == 'i' ? kOptViaIn : kOptViaOut, invert);
        ParseInterface(last_arg(), code == 'i' ? c.in : c.out);
        break;
      case 'f':
        if (opts_.family == Family::kIPv6)
          throw ParseError(
              "`-f' is not supported in IPv6, use -m frag instead");
        SetOption(c, kOptFragment, invert);
        c.frag = true;
        break;
      case 'v':
        if (!(c.options & kOptVerbose)) SetOption(c, kOptVerbose, invert);
        break;
      case 'm': {
        if (invert) throw ParseError("unexpected ! flag before --match");
        const MatchType* t = FindMatchByName(g.optarg);
        if (t == nullptr)
          throw ParseError("Couldn't load match `" + g.optarg +
                           "':No such file or directory");
        LoadMatch(c, t);
        break;
      }
      case 'n':
        SetOption(c, kOptNumeric, invert);
        break;
      case 't':
        if (invert) throw ParseError("unexpected ! flag before --table");
        if (table_set)
          throw ParseError("The -t option cannot be used in iptables-restore.");
        break;
      case 'x':
        SetOption(c, kOptExpanded, invert);
        break;
      case 'w':
        throw ParseError("You cannot use `-w' from iptables-restore");
      case 'W':
        throw ParseError("You cannot use `-W' from iptables-restore");
      case '0':
        SetOption(c, kOptLineNumbers, invert);
        break;
      case 'M':
        break;
      case 'c': {
        SetOption(c, kOptCounters, invert);
        std::string pcnt = g.optarg, bcnt;
        size_t comma = pcnt.find(',', 1);
        if (comma != std::string::npos) {
          bcnt = pcnt.substr(comma + 1);
        } else if (HasArg(g, argv)) {
          bcnt = argv[g.optind++];
        } else {
          throw ParseError("-c requires packet and byte counter");
        }
        if (sscanf(pcnt.c_str(), "%lu", &c.counters.pkts) != 1)
          throw ParseError("-c packet counter not numeric");
        if (sscanf(bcnt.c_str(), "%lu", &c.counters.bytes) != 1)
          throw ParseError("-c byte counter not numeric");
        c.have_counters = true;
        break;
      }
      case '4':
        if (opts_.family == Family::kIPv4) break;
        c.ignored = true;
        return c;
      case '6':
        if (opts_.family == Family::kIPv6) break;
        c.ignored = true;
        return c;
      case 1:
        if (g.optarg == "!") {
          if (invert) throw ParseError("multiple consecutive ! not allowed");
          invert = true;
          continue;
        }
        throw ParseError("Bad argument `" + g.optarg + "'");
      case 'b':
        throw ParseError("-b is not supported");
      case ':':
        if (CommandDefault(c, g, invert)) {
          g.optind = optind_before;
          continue;
        }
        throw ParseError("option \"" + g.bad_option + "\" requires an argument");
      case '?':
      default:
        if (CommandDefault(c, g, invert)) {
          g.optind = optind_before;
          continue;
        }
        throw ParseError("unknown option \"" + g.bad_option + "\"");
    }
    invert = false;
  }
  PostChecks(c, g, invert, argv.size());
  return c;
}

void LineParser::PostChecks(Command& c, Getopt& g, bool invert,
                            size_t argc) {
  if (table_.name == "nat" &&
      (c.policy == "DROP" || (c.have_jump && c.jumpto == "DROP")))
    throw ParseError(
        "The \"nat\" table is not intended for filtering, the use of DROP is "
        "therefore inhibited.");
  for (auto& pm : c.matches) {
    FcheckCall fc{pm.type->name, pm.xflags, &env_};
    pm.m->FinalCheck(fc);
    CheckOptionSet(pm.type->name, pm.xflags, pm.type->options);
  }
  if (c.target) {
    FcheckCall fc{c.target_type->name, c.target_xflags, &env_};
    c.target->FinalCheck(fc);
    CheckOptionSet(c.target_type->name, c.target_xflags,
                   c.target_type->options);
  }
  if (g.optind < int(argc))
    throw ParseError("unknown arguments found on commandline");
  if (!c.command) throw ParseError("no command specified");
  if (invert) throw ParseError("nothing appropriate following !");
}

// ---------------------------------------------------------------------------
// Table operations (libiptc).

class TableEditor {
 public:
  TableEditor(Table& t, const RestoreOptions& o) : t_(t), opts_(o) {}

  void CreateChain(const std::string& name);
  void SetPolicy(const std::string& chain, const std::string& policy,
                 const Counters* counters);
  Chain& MustChain(const std::string& name);
  // BuildRules makes the rule skeletons (one per source x destination) of a
  // rule command; matches and target are attached by the caller.
  std::vector<Rule> BuildRules(Command& c, const IpFilter& ip, int line);
  void GenericOptCheck(const Command& c);
  int References(const std::string& chain) const;
  void SortChains();
  void DeleteChain(const std::string& name);
  void RenameChain(const std::string& from, const std::string& to);

 private:
  Table& t_;
  const RestoreOptions& opts_;
};

Chain& TableEditor::MustChain(const std::string& name) {
  Chain* c = t_.FindChain(name);
  if (c == nullptr) throw CommitError("No chain/target/match by that name.");
  return *c;
}

int TableEditor::References(const std::string& chain) const {
  int n = 0;
  for (const Chain& c : t_.chains)
    for (const Rule& r : c.rules)
      if ((r.kind == TargetKind::kJump || r.kind == TargetKind::kGoto) &&
          r.chain_target == chain)
        ++n;
  return n;
}

void TableEditor::SortChains() {
  auto first_user = std::find_if(t_.chains.begin(), t_.chains.end(),
                                 [](const Chain& c) { return !c.builtin; });
  std::stable_sort(first_user, t_.chains.end(),
                   [](const Chain& a, const Chain& b) {
                     return strcmp(a.name.c_str(), b.name.c_str()) < 0;
                   });
}

void TableEditor::CreateChain(const std::string& name) {
  if (t_.FindChain(name) != nullptr)
    throw CommitError("error creating chain '" + name + "':File exists");
  if (name.size() >= kMaxChainName)
    throw CommitError("error creating chain '" + name +
                      "':Numerical result out of range");
  Chain c;
  c.name = name;
  t_.chains.push_back(std::move(c));
  SortChains();
}

void TableEditor::SetPolicy(const std::string& chain,
                            const std::string& policy,
                            const Counters* counters) {
  Chain* c = t_.FindChain(chain);
  if (c == nullptr || !c->builtin)
    throw CommitError("Can't set policy `" + policy + "' on `" + chain +
                      "': Bad built-in chain name");
  if (policy == "ACCEPT")
    c->policy = Verdict::kAccept;
  else if (policy == "DROP")
    c->policy = Verdict::kDrop;
  else
    throw CommitError("Can't set policy `" + policy + "' on `" + chain +
                      "': Bad policy name");
  // Without "-c" libiptc sets no counters: the policy's restart at 0.
  c->policy_counters = counters ? *counters : Counters{};
}

void TableEditor::DeleteChain(const std::string& name) {
  Chain* c = t_.FindChain(name);
  if (c == nullptr) throw CommitError("No chain/target/match by that name.");
  if (c->builtin) throw CommitError("Can't delete built-in chain");
  if (References(name) > 0) throw CommitError("Too many links");
  if (!c->rules.empty()) throw CommitError("Directory not empty");
  t_.chains.erase(t_.chains.begin() + t_.ChainIndex(name));
}

void TableEditor::GenericOptCheck(const Command& c) {
  // Options legal per command (commands_v_options), as bit sets.
  const unsigned rule_opts = ~(kOptNumeric | kOptExpanded | kOptLineNumbers);
  // An option is legal when any of the given commands allows it.
  unsigned legal = 0;
  for (unsigned cmd = 1; cmd <= kCmdCheck; cmd <<= 1) {
    if (!(c.command & cmd)) continue;
    switch (cmd) {
      case kCmdInsert:
      case kCmdReplace:
      case kCmdAppend:
        legal |= rule_opts;
        break;
      case kCmdDelete:
      case kCmdCheck:
        legal |= rule_opts & ~kOptCounters;
        break;
      case kCmdSetPolicy:
        legal |= kOptVerbose | kOptCounters;
        break;
      case kCmdList:
        legal |= kOptNumeric | kOptVerbose | kOptExpanded | kOptLineNumbers;
        break;
      default:
        legal |= kOptVerbose;
    }
  }
  for (int i = 0; i < 12; ++i) {
    unsigned bit = 1u << i;
    if ((c.options & bit) && !(legal & bit))
      throw ParseError(std::string("Illegal option `-") + kOptChars[i] +
                       "' with this command");
  }
}

std::vector<Rule> TableEditor::BuildRules(Command& c, const IpFilter& base,
                                          int line) {
  IpFilter ip = base;
  ip.in = c.in;
  ip.out = c.out;
  ip.frag = c.frag;
  ip.invflags = c.invflags;
  const Family f = opts_.family;
  std::vector<AddrMask> srcs = ParseAddrList(
      f, c.options & kOptSource ? c.shost : (f == Family::kIPv4 ? "0.0.0.0/0" : "::/0"),
      *opts_.resolver);
  std::vector<AddrMask> dsts = ParseAddrList(
      f, c.options & kOptDestination ? c.dhost : (f == Family::kIPv4 ? "0.0.0.0/0" : "::/0"),
      *opts_.resolver);
  if ((srcs.size() > 1 || dsts.size() > 1) &&
      (c.invflags & (kInvSrcIp | kInvDstIp)))
    throw ParseError(
        "! not allowed with multiple source or destination IP addresses");
  if (c.command == kCmdReplace && (srcs.size() != 1 || dsts.size() != 1))
    throw ParseError("Replacement rule does not specify a unique address");

  // Resolve what -j / -g names: a chain, a standard verdict, an extension.
  TargetKind kind = TargetKind::kNone;
  Verdict verdict = Verdict::kContinue;
  if (c.have_jump) {
    bool is_chain = t_.FindChain(c.jumpto) != nullptr;
    if (c.goto_set) {
      if (!is_chain) throw ParseError("goto '" + c.jumpto + "' is not a chain");
      kind = TargetKind::kGoto;
    } else if (c.jumpto == "ACCEPT" || c.jumpto == "DROP" ||
               c.jumpto == "QUEUE" || c.jumpto == "RETURN") {
      kind = TargetKind::kStandard;
      verdict = c.jumpto == "ACCEPT" ? Verdict::kAccept
                : c.jumpto == "DROP" ? Verdict::kDrop
                : c.jumpto == "QUEUE" ? Verdict::kQueue
                                      : Verdict::kReturn;
    } else if (is_chain) {
      kind = TargetKind::kJump;  // a chain wins over an extension name
    } else if (c.target_type) {
      kind = TargetKind::kExtension;
    } else {
      throw ParseError("Couldn't load target `" + c.jumpto +
                       "':No such file or directory");
    }
    if ((kind == TargetKind::kJump || kind == TargetKind::kGoto) &&
        t_.FindChain(c.jumpto)->builtin)
      throw CommitError("Invalid argument (cannot jump to a built-in chain)");
  }

  std::vector<Rule> rules;
  for (const AddrMask& s : srcs) {
    for (const AddrMask& d : dsts) {
      Rule r;
      r.ip = ip;
      r.ip.src = s.addr;
      r.ip.smsk = s.mask;
      r.ip.dst = d.addr;
      r.ip.dmsk = d.mask;
      r.kind = kind;
      r.verdict = verdict;
      r.chain_target =
          (kind == TargetKind::kJump || kind == TargetKind::kGoto) ? c.jumpto : "";
      r.line = line;
      if (c.have_counters) r.counters = c.counters;
      rules.push_back(std::move(r));
    }
  }
  return rules;
}

}  // namespace

namespace {

// RestoreDriver runs the iptables-restore line loop.
class RestoreDriver {
 public:
  RestoreDriver(const RestoreOptions& o) : opts_(o) {
    rs_ = std::make_unique<Ruleset>();
    rs_->family = o.family;
    scope_ = o.scope ? o.scope : std::make_shared<ExtScope>();
  }
  std::unique_ptr<Ruleset> Run(std::string_view text);

 private:
  void StartTable(const std::string& line_text, int line);
  void ChainLine(const std::string& line_text, int line);
  void RuleLine(const std::string& line_text, int line);
  void Commit(int line);
  void ExecuteCommand(Command& c, int line, const std::vector<std::string>& argv);
  [[noreturn]] void Fail(int line, const std::string& why, bool commit = false) {
    throw RestoreError(opts_.filename, line, why, commit);
  }

  const RestoreOptions& opts_;
  std::unique_ptr<Ruleset> rs_;
  std::unique_ptr<Table> cur_;
  std::vector<std::string> order_;  // tables in order of first use
  std::shared_ptr<ExtScope> scope_;  // named extension state of this load
};

}  // namespace

std::unique_ptr<Ruleset> Restore(std::string_view text,
                                 const RestoreOptions& opts) {
  RestoreDriver d(opts);
  return d.Run(text);
}

std::unique_ptr<Ruleset> RestoreDriver::Run(std::string_view text) {
  int line = 0;
  size_t pos = 0;
  std::vector<std::unique_ptr<Table>> committed;
  while (pos < text.size()) {
    // Lines as fgets(buffer, 10240) reads them: up to and with the newline
    // (a last line may lack it), at most 10239 bytes, so that a longer line
    // is read as several (each counted); the text ends at a NUL byte.
    size_t nl = text.find('\n', pos);
    size_t end = nl == std::string_view::npos ? text.size() : nl + 1;
    end = std::min(end, pos + kFgetsMax);
    std::string buf(text.substr(pos, end - pos));
    pos = end;
    ++line;
    buf.resize(strnlen(buf.c_str(), buf.size()));
    try {
      if (buf == "\n") continue;
      if (buf[0] == '#') continue;
      if (buf == "COMMIT\n" && cur_) {
        Commit(line);
      } else if (buf[0] == '*' && !cur_) {
        StartTable(buf, line);
      } else if (buf[0] == ':' && cur_) {
        ChainLine(buf, line);
      } else if (cur_) {
        RuleLine(buf, line);
      } else {
        Fail(line, "unexpected line outside a table (expected '*TABLE')");
      }
    } catch (const RestoreError&) {
      throw;
    } catch (const StopRestore&) {
      cur_.reset();
      return std::move(rs_);
    } catch (const ParseError& e) {
      Fail(line, e.what());
    } catch (const CommitError& e) {
      Fail(line, e.what(), true);
    }
  }
  if (cur_) Fail(line + 1, "COMMIT expected");
  return std::move(rs_);
}

namespace {

std::vector<std::string> Strtok(const std::string& s, const char* delims) {
  std::vector<std::string> out;
  size_t p = 0;
  while (true) {
    p = s.find_first_not_of(delims, p);
    if (p == std::string::npos) break;
    size_t e = s.find_first_of(delims, p);
    out.push_back(s.substr(p, e == std::string::npos ? e : e - p));
    if (e == std::string::npos) break;
    p = e;
  }
  return out;
}

}  // namespace

void RestoreDriver::StartTable(const std::string& buf, int line) {
  std::vector<std::string> tok = Strtok(buf.substr(1), " \t\n");
  if (tok.empty()) Fail(line, "table name invalid");
  const std::string& name = tok[0];
  if (TableHooks(name) == 0)
    Fail(line, "can't initialize iptables table `" + name +
                   "': Table does not exist (do you need to insmod?)");
  // Restore without --noflush starts from an empty table.
  cur_ = MakeTable(name, opts_.family);
  // The same table again: its rules and user chains go, but the built-in
  // chains keep the policies committed earlier (counters restart at 0).
  if (const Table* before = rs_->FindTable(name)) {
    for (Chain& c : cur_->chains) {
      const Chain* old = before->FindChain(c.name);
      if (c.builtin && old != nullptr) c.policy = old->policy;
    }
  }
  cur_->scope = scope_;
  if (std::find(order_.begin(), order_.end(), name) == order_.end())
    order_.push_back(name);
}

void RestoreDriver::ChainLine(const std::string& buf, int line) {
  std::vector<std::string> tok = Strtok(buf.substr(1), " \t\n");
  if (tok.empty()) Fail(line, "chain name invalid");
  const std::string& chain = tok[0];
  if (chain.size() >= kMaxChainName)
    Fail(line, "Invalid chain name `" + chain + "' (28 chars max)");
  TableEditor ed(*cur_, opts_);
  const Chain* existing = cur_->FindChain(chain);
  if (existing == nullptr || !existing->builtin) {
    // A chain line that cannot create its chain is a parameter problem
    // (exit 2), unlike -N, which fails in libiptc (exit 1).
    try {
      ed.CreateChain(chain);
    } catch (const CommitError& e) {
      Fail(line, e.what());
    }
  }
  if (tok.size() < 2) Fail(line, "policy invalid");
  const std::string& policy = tok[1];
  if (policy == "-") return;
  Counters ctr;
  if (opts_.counters) {
    unsigned long long p, b;
    if (tok.size() < 3 || sscanf(tok[2].c_str(), "[%llu:%llu]", &p, &b) != 2)
      Fail(line, "invalid policy counters for chain '" + chain + "'");
    ctr = {p, b};
  }
  ed.SetPolicy(chain, policy, &ctr);
}

void RestoreDriver::RuleLine(const std::string& buf, int line) {
  std::string_view rest(buf);
  std::optional<Counters> prefix;
  if (!rest.empty() && rest[0] == '[') {
    // tokenize_rule_counters: strtok(line + 1, ":") and strtok(NULL, "]")
    // over the whole line (so "[1]" passes when a ':' and a later
    // character follow), then parsing resumes after the first ']' and stops
    // at the first NUL strtok wrote beyond it.
    const std::string bad = "Bad line " + std::to_string(line) + ": need ";
    size_t close = rest.find(']');
    if (close == std::string_view::npos) Fail(line, bad + "]");
    std::string_view body = rest.substr(1);
    size_t p = body.find_first_not_of(':');
    if (p == std::string_view::npos) Fail(line, bad + ":");
    size_t pe = body.find(':', p);
    size_t b = pe == std::string_view::npos
                   ? pe
                   : body.find_first_not_of(']', pe + 1);
    if (b == std::string_view::npos) Fail(line, bad + "]");
    const size_t be = body.find(']', b);
    std::string pcnt(body.substr(p, pe - p));
    std::string bcnt(body.substr(b, be - b));
    unsigned long long pk = 0, by = 0;
    sscanf(pcnt.c_str(), "%llu", &pk);
    sscanf(bcnt.c_str(), "%llu", &by);
    prefix = Counters{pk, by};
    size_t end = rest.size();
    for (size_t nul : {pe, be})  // positions in body; rest = '[' + body
      if (nul != std::string_view::npos && nul + 1 > close && nul + 1 < end)
        end = nul + 1;
    rest = rest.substr(close + 1, end - close - 1);
  }
  std::vector<std::string> argv = {"iptables", "-t", cur_->name};
  if (opts_.counters && prefix) {
    argv.push_back("--set-counters");
    argv.push_back(std::to_string(prefix->pkts));
    argv.push_back(std::to_string(prefix->bytes));
  }
  for (auto& a : SplitParams(rest)) argv.push_back(std::move(a));
  // argv[1..2] carry the table; the parser skips them as restore does.
  std::vector<std::string> args(argv.begin(), argv.end());
  args.erase(args.begin() + 1, args.begin() + 3);
  IpFilter ip;
  ip.family = opts_.family;
  LineParser parser(opts_, *cur_, ip);
  Command c = parser.Parse(args);
  if (c.ignored) return;
  ExecuteCommand(c, line, args);
}

}  // namespace netfence::core

namespace netfence::core {

namespace {

// RuleKey is the identity libiptc compares for -D / -C: the rule without
// counters.
std::string RuleKey(const Table& t, const Rule& r) {
  static const Chain kAny{"X"};
  return SaveRule(t, kAny, r, false);
}

}  // namespace

void TableEditor::RenameChain(const std::string& from,
                              const std::string& new_name) {
  // libiptc's checks, in its order: the new name is free (and no verdict),
  // the old one a user chain, the new one fits IPT_CHAINLABEL (32 bytes).
  if (t_.FindChain(new_name) != nullptr || new_name == "ACCEPT" ||
      new_name == "DROP" || new_name == "QUEUE" || new_name == "RETURN")
    throw CommitError("File exists");
  Chain* c = t_.FindChain(from);
  if (c == nullptr || c->builtin)
    throw CommitError("No chain/target/match by that name.");
  if (new_name.size() + 1 > 32) throw CommitError("Invalid argument");
  // The kernel keeps a chain's name in a 30-byte target name: 29 characters
  // come back.
  const std::string to = new_name.substr(0, kMaxChainName);
  c->name = to;
  for (Chain& ch : t_.chains)
    for (Rule& r : ch.rules)
      if ((r.kind == TargetKind::kJump || r.kind == TargetKind::kGoto) &&
          r.chain_target == from)
        r.chain_target = to;
  SortChains();
}

void RestoreDriver::ExecuteCommand(Command& c, int line,
                                   const std::vector<std::string>& argv) {
  TableEditor ed(*cur_, opts_);
  ed.GenericOptCheck(c);
  const bool rule_cmd = c.command & (kCmdAppend | kCmdDelete | kCmdCheck |
                                     kCmdInsert | kCmdReplace);
  if (!c.chain.empty() && c.chain.size() >= kMaxChainName)
    throw ParseError("chain name `" + c.chain +
                     "' too long (must be under 29 chars)");
  if (rule_cmd) {
    if ((c.chain == "PREROUTING" || c.chain == "INPUT") &&
        (c.options & kOptViaOut))
      throw ParseError("Can't use -o with " + c.chain);
    if ((c.chain == "POSTROUTING" || c.chain == "OUTPUT") &&
        (c.options & kOptViaIn))
      throw ParseError("Can't use -i with " + c.chain);
  }
  if (!rule_cmd) {
    switch (c.command) {
      case kCmdList:
      case kCmdListRules:
      case kCmdList | kCmdZero:
      case kCmdList | kCmdZeroNum:
      case kCmdListRules | kCmdZero:
      case kCmdListRules | kCmdZeroNum: {
        if (!c.chain.empty()) ed.MustChain(c.chain);
        const unsigned zero = c.command & (kCmdZero | kCmdZeroNum);
        if (zero) {
          Command z;
          z.command = zero;
          z.chain = c.chain;
          z.rulenum = c.rulenum;
          ExecuteCommand(z, line, argv);
        }
        return;
      }
      case kCmdDeleteNum: {
        Chain& ch = ed.MustChain(c.chain);
        if (c.rulenum > ch.rules.size())
          throw CommitError("Index of deletion too big.");
        ch.rules.erase(ch.rules.begin() + (c.rulenum - 1));
        return;
      }
      case kCmdFlush:
        if (!c.has_chain) {
          for (Chain& ch : cur_->chains) ch.rules.clear();
        } else {
          ed.MustChain(c.chain).rules.clear();
        }
        return;
      case kCmdZero:
      case kCmdZeroNum: {
        // libiptc zeroes only counters it read from the kernel. A restored
        // table was flushed: its rules and the policies set in this load
        // carry counters written by the load ("-c"), which -Z keeps, and
        // the rest is zero already. So -Z only checks its arguments.
        if (c.has_chain) {
          Chain& ch = ed.MustChain(c.chain);
          if (c.command == kCmdZeroNum && c.rulenum > ch.rules.size())
            throw CommitError("Index of counter too big.");
        }
        return;
      }
      case kCmdNewChain:
        ed.CreateChain(c.chain);
        return;
      case kCmdDeleteChain:
        if (c.has_chain) {
          ed.DeleteChain(c.chain);
        } else {
          std::vector<std::string> names;
          for (const Chain& ch : cur_->chains)
            if (!ch.builtin) names.push_back(ch.name);
          for (const auto& n : names) ed.DeleteChain(n);
        }
        return;
      case kCmdRenameChain:
        ed.RenameChain(c.chain, c.newname);
        return;
      case kCmdSetPolicy:
        ed.SetPolicy(c.chain, c.policy,
                     (c.options & kOptCounters) ? &c.counters : nullptr);
        return;
      default:
        throw ParseError("command not supported in a ruleset file");
    }
  }

  IpFilter ip;
  ip.family = opts_.family;
  ip.proto = c.proto;
  ip.proto_set = (c.options & kOptProtocol) != 0;
  std::vector<Rule> rules = ed.BuildRules(c, ip, line);
  // Each rule needs its own extension instances: the first takes the parsed
  // ones, the others parse the same line again.
  for (size_t i = 0; i < rules.size(); ++i) {
    Command fresh;
    Command* src = &c;
    if (i > 0) {
      IpFilter scratch;
      scratch.family = opts_.family;
      LineParser again(opts_, *cur_, scratch);
      fresh = again.Parse(argv);
      src = &fresh;
    }
    for (auto& pm : src->matches)
      rules[i].matches.push_back({pm.type, std::move(pm.m)});
    if (rules[i].kind == TargetKind::kExtension) {
      rules[i].target_type = src->target_type;
      rules[i].target = std::move(src->target);
    }
  }

  Chain& ch = ed.MustChain(c.chain);
  switch (c.command) {
    case kCmdAppend:
      for (Rule& r : rules) ch.rules.push_back(std::move(r));
      return;
    case kCmdInsert: {
      if (c.rulenum > ch.rules.size() + 1)
        throw CommitError("Index of insertion too big.");
      size_t at = c.rulenum - 1;
      for (Rule& r : rules) ch.rules.insert(ch.rules.begin() + at++, std::move(r));
      return;
    }
    case kCmdReplace:
      if (c.rulenum > ch.rules.size())
        throw CommitError("Index of replacement too big.");
      ch.rules[c.rulenum - 1] = std::move(rules[0]);
      return;
    case kCmdDelete:
    case kCmdCheck:
      for (Rule& r : rules) {
        std::string key = RuleKey(*cur_, r);
        auto it = std::find_if(ch.rules.begin(), ch.rules.end(),
                               [&](const Rule& x) { return RuleKey(*cur_, x) == key; });
        if (it == ch.rules.end())
          throw CommitError(
              "Bad rule (does a matching rule exist in that chain?).");
        if (c.command == kCmdDelete) ch.rules.erase(it);
      }
      return;
    default:
      return;
  }
}

void RestoreDriver::Commit(int line) {
  try {
    CommitTable(*cur_);
  } catch (const CommitError& e) {
    Fail(line, e.what(), true);
  }
  const std::string name = cur_->name;
  auto& tables = rs_->tables;
  tables.erase(std::remove_if(tables.begin(), tables.end(),
                              [&](const auto& t) { return t->name == name; }),
               tables.end());
  tables.push_back(std::move(cur_));
  // iptables-save prints tables in reverse order of first use.
  std::sort(tables.begin(), tables.end(), [&](const auto& a, const auto& b) {
    auto pa = std::find(order_.begin(), order_.end(), a->name);
    auto pb = std::find(order_.begin(), order_.end(), b->name);
    return pa > pb;
  });
}

}  // namespace netfence::core
