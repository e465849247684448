// Typed extension options, as libxtables' x6 option framework defines them:
// each extension declares a table of options (name, id, type, flags,
// exclusions); the framework parses the argument by type, enforces
// "only once", "cannot be inverted", mandatory, exclusive and "also
// requires", and hands the extension a typed value.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/ipfilter.h"
#include "core/resolver.h"
#include "core/types.h"

namespace netfence::core {

// OptType is the argument type of an option (XTTYPE_*).
enum class OptType : uint8_t {
  kNone,
  kUint8,
  kUint16,
  kUint32,
  kUint64,
  kUint8Rc,
  kUint16Rc,
  kUint32Rc,
  kUint64Rc,
  kDouble,
  kString,
  kTosMask,
  kMarkMask32,
  kSyslogLevel,
  kHost,
  kHostMask,
  kProtocol,
  kPort,
  kPortRc,
  kPlen,
  kPlenMask,
  kEtherMac,
};

// Option flags (XTOPT_*).
enum OptFlag : unsigned {
  kOptInvert = 1 << 0,
  kOptMand = 1 << 1,
  kOptMulti = 1 << 2,
  // kOptRaw marks an option of an old-style (non-x6) extension: no generic
  // checks, no typed parsing; the extension's Parse sees the raw argument
  // and the argument vector, as xtables' .parse callbacks do.
  kOptRaw = 1 << 3,
};

// OptionEntry declares one option of an extension.
struct OptionEntry {
  std::string name;
  unsigned id = 0;
  OptType type = OptType::kNone;
  unsigned flags = 0;
  unsigned excl = 0;  // bit set of ids this option cannot be combined with
  unsigned also = 0;  // bit set of ids this option requires
  uint64_t min = 0, max = 0;  // value bounds (0 = the type's own)
  unsigned maxvals = 0;       // components of an *Rc type (0 = 2)
  size_t maxlen = 0;  // kString: longest accepted (0 = unlimited); the
                      // buffer in the kernel struct is maxlen + 1
};

// ParseEnv is what an extension may consult while parsing a rule.
struct ParseEnv {
  Family family = Family::kIPv4;
  const Resolver* resolver = nullptr;
  const IpFilter* ip = nullptr;  // the rule's header part, as parsed so far
  std::string table;
};

// OptValue holds the parsed argument (xt_option_call.val).
struct OptValue {
  uint64_t u = 0;                   // integer types
  std::array<uint64_t, 2> range{};  // *Rc types, kPortRc
  unsigned nvals = 0;
  double dbl = 0;
  uint8_t tos_value = 0, tos_mask = 0;
  uint32_t mark = 0, mask = 0;
  uint8_t syslog_level = 0;
  Addr haddr, hmask;
  uint8_t hlen = 0;
  uint8_t protocol = 0;
  uint16_t port = 0;
  std::array<uint8_t, 6> ethermac{};
};

// OptCall is one option occurrence handed to an extension's Parse.
struct OptCall {
  const OptionEntry* entry = nullptr;
  std::string arg;
  bool has_arg = false;
  bool invert = false;
  unsigned xflags = 0;  // ids seen before this one
  std::string ext_name;
  const ParseEnv* env = nullptr;
  OptValue val;
  // The rule's argument vector and getopt's position in it, for old-style
  // options that consume extra arguments (tcp's --tcp-flags MASK COMP).
  const std::vector<std::string>* argv = nullptr;
  int* optind = nullptr;

  unsigned id() const { return entry->id; }
  // Fail throws ParseError prefixed with the extension name.
  [[noreturn]] void Fail(const std::string& msg) const;
};

// FcheckCall is handed to an extension's FinalCheck after all options.
struct FcheckCall {
  std::string ext_name;
  unsigned xflags = 0;
  const ParseEnv* env = nullptr;
  [[noreturn]] void Fail(const std::string& msg) const;
};

// ParseOptionValue parses c.arg according to c.entry->type into c.val
// (xtables_option_parse's per-type step plus its generic checks).
void ParseOptionValue(OptCall& c);

// CheckOptionSet applies the mandatory / exclusive / also-requires rules of
// a whole option table (xtables_options_fcheck).
void CheckOptionSet(const std::string& ext, unsigned xflags,
                    const std::vector<OptionEntry>& table);

// Number parsing with xtables_strtoul semantics: base auto-detected
// (0x.., 0..), whole string consumed, within [min, max].
bool StrToU64(const std::string& s, uint64_t& out, uint64_t min,
              uint64_t max);
// StrToU64Prefix parses a number at the start of s and returns how many
// characters it used (0 when none or out of range).
size_t StrToU64Prefix(const std::string& s, uint64_t& out, uint64_t min,
                      uint64_t max);

// ParseMarkMask parses "value[/mask]" (xtables_parse_mark_mask).
void ParseMarkMask(const OptCall& c, uint32_t& mark, uint32_t& mask);

// ParsePortAny resolves a port number or service name (any protocol);
// -1 when it does not resolve.
int ParsePortAny(const Resolver& r, const std::string& name);

// ParsePortFor resolves a port for one protocol (xtables_parse_port);
// throws "invalid port/service `X' specified".
uint16_t ParsePortFor(const Resolver& r, const std::string& name,
                      const std::string& proto);

}  // namespace netfence::core
