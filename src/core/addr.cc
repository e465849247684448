#include "core/addr.h"

#include <arpa/inet.h>

#include <cstring>

#include "core/xtopt.h"

namespace netfence::core {

std::optional<Addr> ParseIPv4Numeric(const std::string& s, bool is_mask) {
  // iptables copies the text into a 20-byte buffer first.
  std::string buf = s.substr(0, 19);
  Addr a;
  size_t p = 0;
  for (int i = 0; i < 3; ++i) {
    size_t q = buf.find('.', p);
    uint64_t v;
    if (q == std::string::npos) {
      if (is_mask) return std::nullopt;
      if (!StrToU64(buf.substr(p), v, 0, 255)) return std::nullopt;
      a.b[i] = v;
      return a;  // remaining bytes stay zero
    }
    if (!StrToU64(buf.substr(p, q - p), v, 0, 255)) return std::nullopt;
    a.b[i] = v;
    p = q + 1;
  }
  uint64_t v;
  if (!StrToU64(buf.substr(p), v, 0, 255)) return std::nullopt;
  a.b[3] = v;
  return a;
}

std::optional<Addr> ParseIPv6Numeric(const std::string& s) {
  Addr a;
  if (inet_pton(AF_INET6, s.c_str(), a.b.data()) != 1) return std::nullopt;
  return a;
}

std::optional<Addr> ParseNumeric(Family f, const std::string& s) {
  return f == Family::kIPv4 ? ParseIPv4Numeric(s, false)
                            : ParseIPv6Numeric(s);
}

std::string FormatAddr(Family f, const Addr& a) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(f == Family::kIPv4 ? AF_INET : AF_INET6, a.b.data(), buf,
            sizeof(buf));
  return buf;
}

int MaskToCidr(Family f, const Addr& mask) {
  const int bytes = f == Family::kIPv4 ? 4 : 16;
  int len = 0;
  int i = 0;
  for (; i < bytes && mask.b[i] == 0xff; ++i) len += 8;
  if (i < bytes) {
    uint8_t m = mask.b[i];
    int bits = 0;
    while (m & 0x80) {
      m <<= 1;
      ++bits;
    }
    if (m != 0) return -1;
    len += bits;
    for (++i; i < bytes; ++i)
      if (mask.b[i] != 0) return -1;
  }
  return len;
}

Addr CidrToMask(Family f, unsigned len) {
  Addr m;
  const unsigned bits = f == Family::kIPv4 ? 32 : 128;
  if (len > bits) len = bits;
  for (unsigned i = 0; i < len / 8; ++i) m.b[i] = 0xff;
  if (len % 8) m.b[len / 8] = uint8_t(0xff << (8 - len % 8));
  return m;
}

std::string FormatMask(Family f, const Addr& mask) {
  int l = MaskToCidr(f, mask);
  if (l >= 0) return std::to_string(l);
  return FormatAddr(f, mask);
}

Addr ApplyMask(const Addr& a, const Addr& mask) {
  Addr r;
  for (size_t i = 0; i < r.b.size(); ++i) r.b[i] = a.b[i] & mask.b[i];
  return r;
}

namespace {

Addr ParseMaskPart(Family f, const std::string* mask) {
  if (mask == nullptr) return CidrToMask(f, 128);
  std::optional<Addr> m = f == Family::kIPv4 ? ParseIPv4Numeric(*mask, true)
                                             : ParseIPv6Numeric(*mask);
  if (m) return *m;
  uint64_t bits;
  if (!StrToU64(*mask, bits, 0, f == Family::kIPv4 ? 32 : 128))
    throw ParseError("invalid mask `" + *mask + "' specified");
  return CidrToMask(f, bits);
}

std::vector<Addr> HostOrNetwork(Family f, const std::string& name,
                                const Resolver& r) {
  if (auto a = ParseNumeric(f, name)) return {*a};
  std::vector<Addr> v = r.Host(name, f);
  if (v.empty()) throw ParseError("host/network `" + name + "' not found");
  return v;
}

}  // namespace

std::vector<AddrMask> ParseAddrList(Family f, const std::string& arg,
                                    const Resolver& r) {
  std::vector<AddrMask> out;
  size_t start = 0;
  while (true) {
    while (start < arg.size() && isspace(uint8_t(arg[start]))) ++start;
    size_t comma = arg.find(',', start);
    std::string item = arg.substr(
        start, comma == std::string::npos ? std::string::npos : comma - start);
    if (item.size() > 255) throw ParseError("Hostname too long");
    size_t slash = item.rfind('/');
    Addr mask;
    if (slash != std::string::npos) {
      std::string m = item.substr(slash + 1);
      item.resize(slash);
      mask = ParseMaskPart(f, &m);
    } else {
      mask = ParseMaskPart(f, nullptr);
    }
    if (mask == Addr{}) item = f == Family::kIPv4 ? "0.0.0.0" : "::";
    for (const Addr& a : HostOrNetwork(f, item, r))
      out.push_back({ApplyMask(a, mask), mask});
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

Addr ParseHost(Family f, const std::string& arg, const Resolver& r) {
  if (auto a = f == Family::kIPv4 ? ParseIPv4Numeric(arg, false)
                                  : ParseIPv6Numeric(arg)) {
    // getaddrinfo accepts the same numeric forms for a full address only;
    // partial dotted forms are rare in extension options.
    return *a;
  }
  std::vector<Addr> v = r.Host(arg, f);
  if (v.empty())
    throw ParseError("host \"" + arg + "\" does not resolve to an address");
  for (const Addr& a : v)
    if (!(a == v[0]))
      throw ParseError(arg + " resolves to more than one address");
  return v[0];
}

}  // namespace netfence::core
