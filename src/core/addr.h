// Address text forms as iptables reads and prints them.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/resolver.h"
#include "core/types.h"

namespace netfence::core {

// ParseIPv4Numeric parses iptables' dotted form: 1 to 4 parts, missing
// trailing parts are zero ("10" is 10.0.0.0); as a mask all 4 are needed.
std::optional<Addr> ParseIPv4Numeric(const std::string& s, bool is_mask);
// ParseIPv6Numeric parses with inet_pton.
std::optional<Addr> ParseIPv6Numeric(const std::string& s);
// ParseNumeric picks the family's numeric parser (not a mask).
std::optional<Addr> ParseNumeric(Family f, const std::string& s);

// FormatAddr prints an address with inet_ntop.
std::string FormatAddr(Family f, const Addr& a);
// MaskToCidr returns the prefix length of a contiguous mask, or -1.
int MaskToCidr(Family f, const Addr& mask);
// CidrToMask builds a mask of len leading one bits.
Addr CidrToMask(Family f, unsigned len);
// FormatMask prints a mask the way iptables-save does after '/': a prefix
// length when contiguous, else the dotted / colon form.
std::string FormatMask(Family f, const Addr& mask);
// ApplyMask returns a & mask.
Addr ApplyMask(const Addr& a, const Addr& mask);

// AddrMask is one parsed "-s" element.
struct AddrMask {
  Addr addr, mask;
};

// ParseAddrList parses the argument of -s / -d ("a[/m][,b[/m]...]") with
// host name resolution and host bits masked, like
// xtables_ipparse_multiple / xtables_ip6parse_multiple.
std::vector<AddrMask> ParseAddrList(Family f, const std::string& arg,
                                    const Resolver& r);

// ParseHost resolves one address for extension options (XTTYPE_HOST): a
// name resolving to several different addresses is an error.
Addr ParseHost(Family f, const std::string& arg, const Resolver& r);

}  // namespace netfence::core
