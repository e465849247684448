// Fixtures for the target unit tests: a one-rule table loaded the way
// iptables-restore loads it, IPv4 / IPv6 TCP packets with valid checksums,
// a fake host (interfaces, routes, source selection) and fake engine
// services that record the NAT mappings targets ask for.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/addr.h"
#include "core/checksum.h"
#include "core/conn.h"
#include "core/host.h"
#include "core/nat.h"
#include "core/restore.h"
#include "core/table.h"
#include "core/xt.h"

namespace netfence::ext::target_test {

using namespace netfence::core;

// A parses an address literal of either family.
inline Addr A(const std::string& s) {
  auto a = ParseNumeric(
      s.find(':') == std::string::npos ? Family::kIPv4 : Family::kIPv6, s);
  EXPECT_TRUE(a.has_value()) << s;
  return a.value_or(Addr{});
}

// Loaded is a committed one-rule ruleset and its target.
struct Loaded {
  std::unique_ptr<Ruleset> rs;
  Target* target = nullptr;
  std::string saved;  // the rule as iptables-save prints it
};

// LoadRule restores "-A CHAIN RULE" into TABLE and returns the target.
inline Loaded LoadRule(Family f, const std::string& table,
                       const std::string& chain, const std::string& rule) {
  static const BuiltinResolver kResolver;
  RestoreOptions o{f, &kResolver, "test"};
  Loaded l;
  l.rs = Restore("*" + table + "\n-A " + chain + " " + rule + "\nCOMMIT\n", o);
  const Table* t = l.rs->FindTable(table);
  Rule& r = const_cast<Table*>(t)->FindChain(chain)->rules.at(0);
  l.target = r.target.get();
  l.saved = SaveRule(*t, *t->FindChain(chain), r, false);
  return l;
}

// Stage is where a load fails: 0 accepted, 2 parser, 1 commit (as the
// expected-1.8.9.tsv "rc" column).
inline int Stage(Family f, const std::string& table, const std::string& chain,
                 const std::string& rule) {
  try {
    LoadRule(f, table, chain, rule);
  } catch (const RestoreError& e) {
    return e.at_commit ? 1 : 2;
  }
  return 0;
}

// TcpOpts are raw TCP option bytes (padded by the caller to 4).
using Bytes = std::vector<uint8_t>;

// FixTcpChecksum recomputes the TCP checksum over the pseudo header.
inline void FixTcpChecksum(Packet& p, size_t thoff) {
  uint8_t* d = p.data.data();
  const uint32_t len = uint32_t(p.data.size() - thoff);
  Store16(d + thoff + 16, 0);
  const uint32_t ph = p.family == Family::kIPv4
                          ? PseudoHeaderV4(d + 12, d + 16, 6, len)
                          : PseudoHeaderV6(d + 8, d + 24, 6, len);
  Store16(d + thoff + 16, CsumFold(CsumPartial(d + thoff, len, ph)));
}

// TcpChecksumOk verifies the TCP checksum of a packet.
inline bool TcpChecksumOk(const Packet& p, size_t thoff) {
  const uint8_t* d = p.data.data();
  const uint32_t len = uint32_t(p.data.size() - thoff);
  const uint32_t ph = p.family == Family::kIPv4
                          ? PseudoHeaderV4(d + 12, d + 16, 6, len)
                          : PseudoHeaderV6(d + 8, d + 24, 6, len);
  return CsumFold(CsumPartial(d + thoff, len, ph)) == 0;
}

// IpChecksumOk verifies an IPv4 header checksum.
inline bool IpChecksumOk(const Packet& p) {
  return IpChecksum(p.data.data(), (p.data[0] & 0x0f) * 4u) == 0;
}

// Tcp4 builds an IPv4 TCP packet with valid checksums.
inline Packet Tcp4(const std::string& src, const std::string& dst,
                   uint16_t sport, uint16_t dport, uint8_t flags,
                   const Bytes& opts = {}, const Bytes& payload = {},
                   uint8_t tos = 0, uint8_t ttl = 64) {
  Packet p;
  p.family = Family::kIPv4;
  const size_t thlen = 20 + opts.size();
  p.data.assign(20 + thlen, 0);
  uint8_t* d = p.data.data();
  d[0] = 0x45;
  d[1] = tos;
  Store16(d + 2, uint16_t(20 + thlen + payload.size()));
  Store16(d + 4, 0x1234);
  d[8] = ttl;
  d[9] = 6;
  std::memcpy(d + 12, A(src).b.data(), 4);
  std::memcpy(d + 16, A(dst).b.data(), 4);
  Store16(d + 20, sport);
  Store16(d + 22, dport);
  Store32(d + 24, 1000);
  d[32] = uint8_t((thlen / 4) << 4);
  d[33] = flags;
  Store16(d + 34, 64240);
  std::copy(opts.begin(), opts.end(), p.data.begin() + 40);
  p.data.insert(p.data.end(), payload.begin(), payload.end());
  Store16(p.data.data() + 10, IpChecksum(p.data.data(), 20));
  FixTcpChecksum(p, 20);
  return p;
}

// Tcp6 builds an IPv6 TCP packet with a valid checksum.
inline Packet Tcp6(const std::string& src, const std::string& dst,
                   uint16_t sport, uint16_t dport, uint8_t flags,
                   const Bytes& opts = {}, uint8_t tclass = 0,
                   uint8_t hlim = 64) {
  Packet p;
  p.family = Family::kIPv6;
  const size_t thlen = 20 + opts.size();
  p.data.assign(40 + thlen, 0);
  uint8_t* d = p.data.data();
  Store32(d, 0x60000000u | uint32_t(tclass) << 20 | 0x12345);
  Store16(d + 4, uint16_t(thlen));
  d[6] = 6;
  d[7] = hlim;
  std::memcpy(d + 8, A(src).b.data(), 16);
  std::memcpy(d + 24, A(dst).b.data(), 16);
  Store16(d + 40, sport);
  Store16(d + 42, dport);
  d[52] = uint8_t((thlen / 4) << 4);
  d[53] = flags;
  std::copy(opts.begin(), opts.end(), p.data.begin() + 60);
  FixTcpChecksum(p, 40);
  return p;
}

// FakeHost answers routing questions from a small table: routes by exact
// destination, else a default route; SelectSource by device name.
class FakeHost : public Host {
 public:
  std::vector<Interface> ifs;
  std::map<std::string, Route> routes;  // by FormatAddr of the destination
  Route dflt;
  std::map<std::string, Addr> sources;  // by device name
  std::vector<std::string> calls;       // route lookups made, in order

  Interface& AddIf(const std::string& name, unsigned mtu = 1500) {
    Interface i;
    i.name = name;
    i.ifindex = int(ifs.size()) + 1;
    i.mtu = mtu;
    i.loopback = name == "lo";
    ifs.push_back(i);
    return ifs.back();
  }
  const Interface* FindInterface(const std::string& name) const override {
    for (const auto& i : ifs)
      if (i.name == name) return &i;
    return nullptr;
  }
  const std::vector<Interface>& Interfaces() const override { return ifs; }
  bool Forwarding(Family) const override { return true; }
  Route RouteInput(Family f, const Addr& dst, const Addr&, uint8_t,
                   const Interface*, uint32_t) const override {
    return Lookup("in", f, dst);
  }
  Route RouteOutput(Family f, const Addr& dst, const Addr&, uint8_t,
                    const Interface*, uint32_t) const override {
    return Lookup("out", f, dst);
  }
  RouteType AddrType(Family, const Addr&, const Interface*) const override {
    return RouteType::kUnicast;
  }
  Addr SelectSource(Family f, const Interface* dev,
                    const Addr& dst) const override {
    const_cast<FakeHost*>(this)->calls.push_back(
        "src " + std::string(dev ? dev->name : "-") + " " + FormatAddr(f, dst));
    auto it = sources.find(dev ? dev->name : "");
    return it == sources.end() ? Addr{} : it->second;
  }

 private:
  Route Lookup(const char* kind, Family f, const Addr& dst) const {
    const std::string key = FormatAddr(f, dst);
    const_cast<FakeHost*>(this)->calls.push_back(std::string(kind) + " " + key);
    auto it = routes.find(key);
    return it == routes.end() ? dflt : it->second;
  }
};

// NatCall is one SetupNat request.
struct NatCall {
  NatRange range;
  NatManip manip;
};

// FakeServices records what targets ask of the engine.
class FakeServices : public PacketServices {
 public:
  std::vector<NatCall> nat;
  Verdict nat_verdict = Verdict::kAccept;
  void Log(const std::string&) override {}
  void SendLocal(Packet) override {}
  Verdict SetupNat(XtParams&, const NatRange& r, NatManip m) override {
    nat.push_back({r, m});
    return nat_verdict;
  }
  uint32_t Random() override { return 4; }
};

// Runner drives a target on a packet at a hook.
struct Runner {
  FakeHost host;
  FakeServices svc;
  HookState state;
  Verdict Run(const Target& t, Packet& pkt, Hook h,
              const Interface* in = nullptr, const Interface* out = nullptr,
              int fragoff = 0) {
    state.hook = h;
    state.family = pkt.family;
    state.in = in;
    state.out = out;
    state.host = &host;
    XtParams p;
    p.skb = &pkt;
    p.state = &state;
    p.svc = &svc;
    p.fragoff = fragoff;
    p.thoff = pkt.family == Family::kIPv4 ? (pkt.data[0] & 0x0f) * 4u : 40u;
    p.l4proto = pkt.family == Family::kIPv4 ? pkt.data[9] : pkt.data[6];
    return t.Run(p);
  }
};

}  // namespace netfence::ext::target_test
