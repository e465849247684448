#include "io/packets_json.h"

#include <nlohmann/json.hpp>

#include "core/pktinfo.h"
#include "io/file.h"

namespace netfence::io {

using core::Family;
using core::Packet;
using core::PktType;
using nlohmann::json;
using ordered_json = nlohmann::ordered_json;

namespace {

std::vector<uint8_t> ParseHex(const std::string& hex, const std::string& where) {
  if (hex.size() % 2 != 0)
    throw InputError(where + ": \"hex\" has an odd number of digits");
  std::vector<uint8_t> out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    auto nib = [&](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      throw InputError(where + ": \"hex\" contains a non-hex character");
    };
    out[i] = uint8_t(nib(hex[2 * i]) << 4 | nib(hex[2 * i + 1]));
  }
  return out;
}

std::array<uint8_t, 6> ParseMac(const std::string& s, const std::string& where) {
  std::array<uint8_t, 6> m{};
  unsigned v[6];
  char tail;
  if (sscanf(s.c_str(), "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3],
             &v[4], &v[5], &tail) != 6)
    throw InputError(where + ": bad MAC address \"" + s + "\"");
  for (int i = 0; i < 6; ++i) {
    if (v[i] > 255) throw InputError(where + ": bad MAC address \"" + s + "\"");
    m[i] = uint8_t(v[i]);
  }
  return m;
}

std::string Hex(const std::vector<uint8_t>& d) {
  static const char* kDigits = "0123456789abcdef";
  std::string s;
  s.reserve(d.size() * 2);
  for (uint8_t b : d) {
    s += kDigits[b >> 4];
    s += kDigits[b & 15];
  }
  return s;
}

// DefaultDstMac is what the sender's neighbour resolution would put in the
// frame: the interface's address, or the broadcast / multicast MAC.
std::array<uint8_t, 6> DefaultDstMac(const Packet& p,
                                     const core::Interface& in,
                                     const core::Host& host) {
  const auto& d = p.data;
  if (p.family == Family::kIPv4 && d.size() >= 20) {
    if (d[16] >= 224 && d[16] <= 239)
      return {0x01, 0x00, 0x5e, uint8_t(d[17] & 0x7f), d[18], d[19]};
    core::Addr dst;
    std::memcpy(dst.b.data(), d.data() + 16, 4);
    if (host.AddrType(Family::kIPv4, dst, &in) == core::RouteType::kBroadcast ||
        dst.v4() == 0xffffffff)
      return in.broadcast_mac;
  } else if (p.family == Family::kIPv6 && d.size() >= 40 && d[24] == 0xff) {
    return {0x33, 0x33, d[36], d[37], d[38], d[39]};
  }
  return in.mac;
}

PktType TypeOf(const std::array<uint8_t, 6>& dst, const core::Interface& in) {
  if (dst == in.mac) return PktType::kHost;
  if (dst == in.broadcast_mac) return PktType::kBroadcast;
  if (dst[0] & 1) return PktType::kMulticast;
  return PktType::kOtherHost;
}

InputPacket ParseLine(const json& j, const std::string& where,
                      const core::Host& host, double& t) {
  if (!j.is_object()) throw InputError(where + ": not a JSON object");
  InputPacket ip;
  if (!j.contains("hex") || !j["hex"].is_string())
    throw InputError(where + ": missing string \"hex\"");
  ip.pkt.data = ParseHex(j["hex"].get<std::string>(), where);
  if (ip.pkt.data.empty()) throw InputError(where + ": empty packet");
  const int version = ip.pkt.data[0] >> 4;
  ip.pkt.family = version == 6 ? Family::kIPv6 : Family::kIPv4;
  if (j.contains("t")) {
    if (!j["t"].is_number()) throw InputError(where + ": \"t\" is not a number");
    double nt = j["t"].get<double>();
    if (nt < t) throw InputError(where + ": \"t\" goes backwards");
    t = nt;
  }
  ip.pkt.tstamp = t;
  if (j.contains("mark")) {
    if (!j["mark"].is_number_unsigned())
      throw InputError(where + ": \"mark\" is not an unsigned number");
    ip.pkt.mark = j["mark"].get<uint32_t>();
  }
  ip.local = j.value("local", false);
  if (ip.local) {
    core::SockOwner so;
    so.uid = j.value("uid", 0u);
    so.gid = j.value("gid", 0u);
    if (j.contains("groups")) so.groups = j["groups"].get<std::vector<uint32_t>>();
    ip.pkt.sk = so;
    // Locally generated packets are PACKET_HOST to the stack.
    ip.pkt.pkt_type = PktType::kHost;
    return ip;
  }
  if (!j.contains("iface") || !j["iface"].is_string())
    throw InputError(where + ": missing \"iface\" (or \"local\": true)");
  const std::string name = j["iface"].get<std::string>();
  ip.iface = host.FindInterface(name);
  if (ip.iface == nullptr)
    throw InputError(where + ": unknown interface \"" + name + "\"");
  ip.pkt.has_mac = !ip.iface->loopback;
  ip.pkt.dst_mac = j.contains("dst_mac")
                       ? ParseMac(j["dst_mac"].get<std::string>(), where)
                       : DefaultDstMac(ip.pkt, *ip.iface, host);
  if (j.contains("src_mac"))
    ip.pkt.src_mac = ParseMac(j["src_mac"].get<std::string>(), where);
  ip.pkt.pkt_type =
      ip.iface->loopback ? PktType::kHost : TypeOf(ip.pkt.dst_mac, *ip.iface);
  return ip;
}

// NatRandomBytes adds to out the offsets in packet d of what a NAT port
// choice the kernel makes at random changes: the transport ports (or the
// ICMP id) and the transport checksum. A random choice among several
// addresses is not covered.
void NatRandomBytes(const std::vector<uint8_t>& d, std::vector<size_t>& out) {
  if (d.empty()) return;
  size_t l4;
  uint8_t proto;
  if ((d[0] >> 4) == 4) {
    if (d.size() < 20 || (core::Load16(&d[6]) & 0x1fff) != 0) return;
    l4 = size_t(d[0] & 0x0f) * 4;
    proto = d[9];
  } else {
    if (d.size() < 40) return;
    Packet p;
    p.family = Family::kIPv6;
    p.data = d;
    proto = d[6];
    uint16_t frag_off = 0;
    const int off = core::Ipv6SkipExthdr(p, 40, proto, frag_off);
    if (off < 0 || (frag_off & ~0x7) != 0) return;
    l4 = size_t(off);
  }
  std::vector<size_t> bytes;
  switch (proto) {
    case 6:  // TCP
      bytes = {0, 1, 2, 3, 16, 17};
      break;
    case 17:   // UDP
    case 33:   // DCCP
    case 136:  // UDP-Lite
      bytes = {0, 1, 2, 3, 6, 7};
      break;
    case 132:  // SCTP (CRC32c)
      bytes = {0, 1, 2, 3, 8, 9, 10, 11};
      break;
    case 1:   // ICMP
    case 58:  // ICMPv6
      bytes = {2, 3, 4, 5};
      break;
    default:
      return;
  }
  for (size_t b : bytes)
    if (l4 + b < d.size()) out.push_back(l4 + b);
}

}  // namespace

std::vector<InputPacket> ReadPackets(const std::string& path,
                                     const std::string& text,
                                     const core::Host& host) {
  std::vector<InputPacket> out;
  size_t pos = 0;
  int line = 0;
  double t = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string l = text.substr(pos, nl == std::string::npos ? nl : nl - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    ++line;
    if (l.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(line);
    json j;
    try {
      j = json::parse(l);
    } catch (const json::exception& e) {
      throw InputError(where + ": invalid JSON: " + e.what());
    }
    try {
      InputPacket ip = ParseLine(j, where, host, t);
      ip.line = line;
      out.push_back(std::move(ip));
    } catch (const json::exception& e) {
      throw InputError(where + ": " + e.what());
    }
  }
  return out;
}

std::string FormatOutcome(int n, const core::Outcome& o) {
  ordered_json j;
  j["n"] = n;
  j["verdict"] = o.accepted ? "accept" : "drop";
  if (o.accepted) {
    j["to"] = o.to_local ? "local" : "out";
    if (!o.to_local) j["oif"] = o.oif;
    j["hex"] = Hex(o.data);
    std::vector<size_t> unstable = o.unstable;
    if (o.nat_random) NatRandomBytes(o.data, unstable);
    if (!unstable.empty()) j["unstable"] = unstable;
  } else {
    j["where"] = o.where;
  }
  if (!o.ct.empty()) j["ct"] = o.ct;
  if (!o.emitted.empty()) {
    ordered_json arr = ordered_json::array();
    for (const auto& e : o.emitted) {
      ordered_json ej;
      ej["oif"] = e.oif;
      ej["hex"] = Hex(e.data);
      if (!e.unstable.empty()) ej["unstable"] = e.unstable;
      arr.push_back(ej);
    }
    j["emitted"] = arr;
  }
  if (!o.log.empty()) j["log"] = o.log;
  if (o.nat_random) j["nat_random"] = true;
  return j.dump();
}

}  // namespace netfence::io
