#include "core/xtopt.h"

#include <cerrno>
#include <cinttypes>
#include <cstdlib>
#include <cstring>

#include "core/addr.h"

namespace netfence::core {

void OptCall::Fail(const std::string& msg) const {
  throw ParseError(ext_name + ": " + msg);
}

void FcheckCall::Fail(const std::string& msg) const {
  throw ParseError(ext_name + ": " + msg);
}

size_t StrToU64Prefix(const std::string& s, uint64_t& out, uint64_t min,
                      uint64_t max) {
  const char* p = s.c_str();
  while (isspace(uint8_t(*p))) ++p;
  if (*p == '-') return 0;
  errno = 0;
  char* end;
  uintmax_t v = strtoumax(s.c_str(), &end, 0);
  if (end == s.c_str()) return 0;
  if (errno == ERANGE || v < min || (max != 0 && v > max)) return 0;
  out = v;
  return end - s.c_str();
}

bool StrToU64(const std::string& s, uint64_t& out, uint64_t min,
              uint64_t max) {
  uint64_t v;
  size_t n = StrToU64Prefix(s, v, min, max);
  if (n == 0 || n != s.size()) return false;
  out = v;
  return true;
}

namespace {

uint64_t TypeMax(OptType t) {
  switch (t) {
    case OptType::kUint8:
    case OptType::kUint8Rc:
      return UINT8_MAX;
    case OptType::kUint16:
    case OptType::kUint16Rc:
      return UINT16_MAX;
    case OptType::kUint32:
    case OptType::kUint32Rc:
      return UINT32_MAX;
    case OptType::kUint64:
    case OptType::kUint64Rc:
      return UINT64_MAX;
    default:
      return 0;
  }
}

std::string Quote(const std::string& s) { return "\"" + s + "\""; }

void ParseInt(OptCall& c) {
  const OptionEntry& e = *c.entry;
  uint64_t lo = e.min, hi = e.max ? e.max : TypeMax(e.type);
  if (!StrToU64(c.arg, c.val.u, lo, hi))
    c.Fail("bad value for option \"--" + e.name + "\", or out of range (" +
           std::to_string(lo) + "-" + std::to_string(hi) + ").");
}

// ParseMultiInt parses "a[:b]" with missing parts defaulting to 0 / max.
void ParseMultiInt(OptCall& c) {
  const OptionEntry& e = *c.entry;
  const uint64_t hi = TypeMax(e.type);
  const unsigned maxiter = e.maxvals ? e.maxvals : 2;
  c.val.nvals = 0;
  size_t pos = 0;
  while (true) {
    if (c.val.nvals == maxiter)
      c.Fail("Too many components for option \"--" + e.name + "\" (max: " +
             std::to_string(maxiter) + ")");
    uint64_t v;
    size_t end = pos;
    if (pos >= c.arg.size() || c.arg[pos] == ':') {
      v = c.val.nvals == 1 ? hi : 0;
    } else {
      std::string rest = c.arg.substr(pos);
      size_t n = StrToU64Prefix(rest, v, 0, hi);
      if (n == 0)
        c.Fail("bad value for option \"--" + e.name + "\" near \"" + rest +
               "\", or out of range (0-" + std::to_string(hi) + ").");
      end = pos + n;
      if (end < c.arg.size() && c.arg[end] != ':')
        c.Fail("Argument to \"--" + e.name +
               "\" has unexpected characters near \"" + c.arg.substr(end) +
               "\".");
    }
    if (c.val.nvals < 2) c.val.range[c.val.nvals] = v;
    ++c.val.nvals;
    if (end >= c.arg.size()) break;
    pos = end + 1;
  }
}

void ParseDouble(OptCall& c) {
  const OptionEntry& e = *c.entry;
  char* end;
  double v = strtod(c.arg.c_str(), &end);
  if (end == c.arg.c_str() || *end != '\0' ||
      (e.min != e.max && (v < double(e.min) || v > double(e.max))))
    c.Fail("bad value for option \"--" + e.name + "\", or out of range (" +
           std::to_string(e.min) + "-" + std::to_string(e.max) + ").");
  c.val.dbl = v;
}

void ParseString(OptCall& c) {
  const OptionEntry& e = *c.entry;
  if (e.min != 0 && c.arg.size() < e.min)
    throw ParseError("Argument must have a minimum length of " +
                     std::to_string(e.min) + " characters");
  if (e.max != 0 && c.arg.size() > e.max)
    throw ParseError("Argument must have a maximum length of " +
                     std::to_string(e.max) + " characters");
  // The kernel struct holds a fixed buffer; longer text is cut silently.
  if (e.maxlen != 0 && c.arg.size() > e.maxlen) c.arg.resize(e.maxlen);
}

void ParseTosMask(OptCall& c) {
  static const struct {
    uint8_t value;
    const char* name;
  } kNames[] = {{0x10, "Minimize-Delay"},
                {0x08, "Maximize-Throughput"},
                {0x04, "Maximize-Reliability"},
                {0x02, "Minimize-Cost"},
                {0x00, "Normal-Service"}};
  uint64_t v;
  size_t n = StrToU64Prefix(c.arg, v, 0, UINT8_MAX);
  if (n > 0) {
    c.val.tos_value = v;
    c.val.tos_mask = 0xff;
    if (n < c.arg.size() && c.arg[n] == '/') {
      std::string m = c.arg.substr(n + 1);
      size_t k = StrToU64Prefix(m, v, 0, UINT8_MAX);
      if (k == 0)
        throw ParseError("Illegal value: " + Quote(c.arg));
      c.val.tos_mask = v;
      n = n + 1 + k;
    }
    if (n != c.arg.size()) throw ParseError("Illegal value: " + Quote(c.arg));
    return;
  }
  c.val.tos_mask = c.entry->max ? c.entry->max : 0x3f;
  for (const auto& s : kNames) {
    if (strcasecmp(c.arg.c_str(), s.name) == 0) {
      c.val.tos_value = s.value;
      return;
    }
  }
  throw ParseError("Symbolic name " + Quote(c.arg) + " is unknown");
}

void ParseSyslogLevel(OptCall& c) {
  static const struct {
    const char* name;
    uint8_t level;
  } kLevels[] = {{"alert", 1}, {"crit", 2},   {"debug", 7},
                 {"emerg", 0}, {"error", 3},  {"info", 6},
                 {"notice", 5}, {"panic", 0}, {"warning", 4}};
  uint64_t v;
  if (StrToU64(c.arg, v, 0, 7)) {
    c.val.syslog_level = v;
    return;
  }
  for (const auto& l : kLevels) {
    if (c.arg == l.name) {
      c.val.syslog_level = l.level;
      return;
    }
  }
  throw ParseError("log level " + Quote(c.arg) + " unknown");
}

void ParsePlen(OptCall& c) {
  const Family f = c.env->family;
  const unsigned bits = f == Family::kIPv4 ? 32 : 128;
  uint64_t v;
  if (StrToU64(c.arg, v, 0, bits)) {
    c.val.hlen = v;
    c.val.hmask = CidrToMask(f, v);
    return;
  }
  std::optional<Addr> m = f == Family::kIPv4 ? ParseIPv4Numeric(c.arg, true)
                                             : ParseIPv6Numeric(c.arg);
  if (!m)
    c.Fail("bad value for option \"--" + c.entry->name +
           "\", neither a valid network mask nor valid CIDR (0-" +
           std::to_string(bits) + ").");
  c.val.hmask = *m;
  int l = MaskToCidr(f, *m);
  c.val.hlen = l < 0 ? 0xff : l;  // xtables stores -1 in a uint8_t
}

void ParseHostMask(OptCall& c) {
  size_t slash = c.arg.find('/');
  const Family f = c.env->family;
  if (slash == std::string::npos) {
    c.val.haddr = ParseHost(f, c.arg, *c.env->resolver);
    c.val.hmask = CidrToMask(f, 128);
    c.val.hlen = f == Family::kIPv4 ? 32 : 128;
    return;
  }
  c.val.haddr = ParseHost(f, c.arg.substr(0, slash), *c.env->resolver);
  std::string whole = c.arg;
  c.arg = whole.substr(slash + 1);
  ParsePlen(c);
  c.arg = whole;
}

void ParsePort(OptCall& c) {
  int p = ParsePortAny(*c.env->resolver, c.arg);
  if (p < 0)
    throw ParseError("Port " + Quote(c.arg) + " does not resolve to anything.");
  c.val.port = p;
}

void ParsePortRange(OptCall& c) {
  const unsigned maxiter = c.entry->maxvals ? c.entry->maxvals : 2;
  c.val.range = {0, UINT16_MAX};
  c.val.nvals = 0;
  size_t pos = 0;
  while (true) {
    size_t colon = c.arg.find(':', pos);
    std::string part = c.arg.substr(
        pos, colon == std::string::npos ? std::string::npos : colon - pos);
    if (c.val.nvals == maxiter)
      c.Fail("Too many components for option \"--" + c.entry->name +
             "\" (max: " + std::to_string(maxiter) + ")");
    if (!part.empty()) {
      int p = ParsePortAny(*c.env->resolver, part);
      if (p < 0)
        throw ParseError("Port " + Quote(part) +
                         " does not resolve to anything.");
      if (c.val.nvals < 2) c.val.range[c.val.nvals] = p;
    }
    ++c.val.nvals;
    if (colon == std::string::npos) break;
    pos = colon + 1;
  }
  if (c.val.nvals == 1) {
    c.val.range[1] = c.val.range[0];
    ++c.val.nvals;
  }
}

void ParseEtherMac(OptCall& c) {
  const char* p = c.arg.c_str();
  for (int i = 0; i < 6; ++i) {
    char* end;
    unsigned long v = strtoul(p, &end, 16);
    bool ok = (i < 5 ? *end == ':' : *end == '\0') && end - p <= 2;
    if (!ok) throw ParseError("Invalid MAC address specified.");
    c.val.ethermac[i] = uint8_t(v);
    p = end + 1;
  }
}

}  // namespace

int ParsePortAny(const Resolver& r, const std::string& name) {
  uint64_t v;
  if (StrToU64(name, v, 0, UINT16_MAX)) return int(v);
  // getaddrinfo(NULL, service) also accepts decimal numbers beyond the
  // strtoul rules (e.g. "+5"); service names come from the resolver.
  if (auto p = r.Service(name, "")) return *p;
  return -1;
}

void ParseMarkMask(const OptCall& c, uint32_t& mark, uint32_t& mask) {
  mask = ~0u;
  uint64_t v;
  size_t n = StrToU64Prefix(c.arg, v, 0, UINT32_MAX);
  auto bad = [&] {
    c.Fail("bad integer value for option \"--" + c.entry->name +
           "\", or out of range.");
  };
  if (n == 0) bad();
  mark = v;
  if (n == c.arg.size()) return;
  if (c.arg[n] != '/')
    c.Fail("trailing garbage after value for option \"--" + c.entry->name +
           "\".");
  std::string rest = c.arg.substr(n + 1);
  size_t k = StrToU64Prefix(rest, v, 0, UINT32_MAX);
  if (k == 0) bad();
  mask = v;
  if (k != rest.size())
    c.Fail("trailing garbage after value for option \"--" + c.entry->name +
           "\".");
}

uint16_t ParsePortFor(const Resolver& r, const std::string& name,
                      const std::string& proto) {
  uint64_t v;
  if (StrToU64(name, v, 0, UINT16_MAX)) return uint16_t(v);
  if (auto p = r.Service(name, proto)) return *p;
  throw ParseError("invalid port/service `" + name + "' specified");
}

void ParseOptionValue(OptCall& c) {
  const OptionEntry& e = *c.entry;
  if (e.flags & kOptRaw) return;
  const unsigned eflag = 1u << e.id;
  if ((!(e.flags & kOptMulti) || (e.excl & eflag)) && (c.xflags & eflag))
    c.Fail("option \"--" + e.name + "\" can only be used once.");
  if (c.invert && !(e.flags & kOptInvert))
    c.Fail("option \"--" + e.name + "\" cannot be inverted.");
  if (e.type != OptType::kNone && !c.has_arg)
    c.Fail("option \"--" + e.name + "\" requires an argument.");
  c.val.nvals = 1;
  switch (e.type) {
    case OptType::kNone:
      break;
    case OptType::kUint8:
    case OptType::kUint16:
    case OptType::kUint32:
    case OptType::kUint64:
      ParseInt(c);
      break;
    case OptType::kUint8Rc:
    case OptType::kUint16Rc:
    case OptType::kUint32Rc:
    case OptType::kUint64Rc:
      ParseMultiInt(c);
      break;
    case OptType::kDouble:
      ParseDouble(c);
      break;
    case OptType::kString:
      ParseString(c);
      break;
    case OptType::kTosMask:
      ParseTosMask(c);
      break;
    case OptType::kMarkMask32:
      ParseMarkMask(c, c.val.mark, c.val.mask);
      break;
    case OptType::kSyslogLevel:
      ParseSyslogLevel(c);
      break;
    case OptType::kHost:
      c.val.haddr = ParseHost(c.env->family, c.arg, *c.env->resolver);
      break;
    case OptType::kHostMask:
      ParseHostMask(c);
      break;
    case OptType::kProtocol: {
      uint64_t v;
      if (StrToU64(c.arg, v, 0, UINT8_MAX)) {
        c.val.protocol = v;
      } else if (auto p = c.env->resolver->ProtocolByName(c.arg)) {
        c.val.protocol = *p;
      } else {
        throw ParseError("unknown protocol " + Quote(c.arg) + " specified");
      }
      break;
    }
    case OptType::kPort:
      ParsePort(c);
      break;
    case OptType::kPortRc:
      ParsePortRange(c);
      break;
    case OptType::kPlen:
      ParsePlen(c);
      break;
    case OptType::kPlenMask:
      ParsePlen(c);
      break;
    case OptType::kEtherMac:
      ParseEtherMac(c);
      break;
  }
}

void CheckOptionSet(const std::string& ext, unsigned xflags,
                    const std::vector<OptionEntry>& table) {
  for (const OptionEntry& e : table) {
    const unsigned ef = 1u << e.id;
    if ((e.flags & kOptMand) && !(xflags & ef))
      throw ParseError(ext + ": option \"--" + e.name + "\" must be specified");
    if (!(xflags & ef)) continue;
    for (unsigned id = 0; id < 32; ++id) {
      if (id == e.id) continue;
      const OptionEntry* other = nullptr;
      for (const OptionEntry& x : table) {
        if (x.id == id) {
          other = &x;
          break;
        }
      }
      if (other == nullptr) continue;
      const OptionEntry& o = *other;
      const unsigned of = 1u << o.id;
      if ((e.also & of) && !(xflags & of))
        throw ParseError(ext + ": option \"--" + e.name +
                         "\" also requires \"--" + o.name + "\".");
      if ((e.excl & of) && (xflags & of))
        throw ParseError(ext + ": option \"--" + e.name +
                         "\" cannot be used together with \"--" + o.name +
                         "\".");
    }
  }
}

}  // namespace netfence::core
