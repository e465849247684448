// Test helpers shared by the REJECT, LOG, NFLOG and TRACE unit tests: a
// PacketServices that records what targets log and send, the host of the
// kernel fixtures (tests/fixtures/targets/kernel_cases.json, recorded by
// record_kernel.py), and a loader for one-rule rulesets.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/addr.h"
#include "core/host.h"
#include "core/restore.h"
#include "core/xt.h"

namespace netfence::ext::reject_test {

using namespace netfence::core;

// RecordingServices keeps every log line and every packet sent.
class RecordingServices : public PacketServices {
 public:
  void Log(const std::string& line) override { logs.push_back(line); }
  void SendLocal(Packet pkt) override { sent.push_back(std::move(pkt)); }
  Verdict SetupNat(XtParams&, const NatRange&, NatManip) override {
    return Verdict::kAccept;
  }
  uint32_t Random() override { return 4; }
  bool IcmpErrorAllowed(Family, const Addr&, uint8_t, uint8_t,
                        const Interface*) override {
    ++icmp_asked;
    return allow_icmp;
  }

  std::vector<std::string> logs;
  std::vector<Packet> sent;
  int icmp_asked = 0;
  bool allow_icmp = true;
};

inline std::vector<uint8_t> FromHex(const std::string& h) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < h.size(); i += 2)
    out.push_back(uint8_t(std::stoi(h.substr(i, 2), nullptr, 16)));
  return out;
}

inline std::string ToHex(const std::vector<uint8_t>& d) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s;
  for (uint8_t b : d) {
    s += kDigits[b >> 4];
    s += kDigits[b & 15];
  }
  return s;
}

inline Addr Ip(const std::string& s) {
  return s.find(':') == std::string::npos ? *ParseIPv4Numeric(s, false)
                                          : *ParseIPv6Numeric(s);
}

// FixtureHost is host A of record_kernel.py: lo, a0 (10.0.0.1/24,
// 2001:db8::1/64) towards peer B, a1 (10.1.0.1/24, 2001:db8:1::1/64)
// towards peer C, connected routes only.
class FixtureHost : public Host {
 public:
  FixtureHost() {
    ifs_.resize(3);
    ifs_[0].name = "lo";
    ifs_[0].ifindex = 1;
    ifs_[0].loopback = true;
    ifs_[0].mtu = 65536;
    ifs_[1].name = "a0";
    ifs_[1].ifindex = 2;
    ifs_[1].mac = {2, 0, 0, 0, 0, 1};
    ifs_[2].name = "a1";
    ifs_[2].ifindex = 3;
    ifs_[2].mac = {2, 0, 0, 0, 1, 1};
  }
  const Interface* FindInterface(const std::string& name) const override {
    for (const auto& i : ifs_)
      if (i.name == name) return &i;
    return nullptr;
  }
  const std::vector<Interface>& Interfaces() const override { return ifs_; }
  bool Forwarding(Family) const override { return true; }
  Route RouteInput(Family f, const Addr& dst, const Addr& src, uint8_t tos,
                   const Interface*, uint32_t mark) const override {
    return RouteOutput(f, dst, src, tos, nullptr, mark);
  }
  Route RouteOutput(Family f, const Addr& dst, const Addr&, uint8_t,
                    const Interface*, uint32_t) const override {
    Route r;
    if (AddrType(f, dst, nullptr) == RouteType::kLocal) {
      r.type = RouteType::kLocal;
      r.dev = &ifs_[0];
      if (f == Family::kIPv4) r.prefsrc = dst;
      r.mtu = 65536;
      return r;
    }
    const int dev = Subnet(f, dst);
    if (dev == 0) {
      r.err = -101;  // ENETUNREACH
      return r;
    }
    r.type = RouteType::kUnicast;
    r.dev = &ifs_[dev];
    r.mtu = 1500;
    // Connected IPv4 routes carry the interface address as prefsrc.
    if (f == Family::kIPv4) r.prefsrc = Own(f, dev);
    return r;
  }
  RouteType AddrType(Family f, const Addr& a, const Interface*) const override {
    if (f == Family::kIPv4) {
      if (a.b[0] == 127 || a == Own(f, 1) || a == Own(f, 2))
        return RouteType::kLocal;
      if ((a.b[0] & 0xf0) == 0xe0) return RouteType::kMulticast;
      if (a.v4() == 0xffffffff || a.v4() == 0 || a == Ip("10.0.0.255") ||
          a == Ip("10.1.0.255"))
        return RouteType::kBroadcast;
      return RouteType::kUnicast;
    }
    if (a == Ip("::1") || a == Own(f, 1) || a == Own(f, 2))
      return RouteType::kLocal;
    if (a.b[0] == 0xff) return RouteType::kMulticast;
    return RouteType::kUnicast;
  }
  Addr SelectSource(Family f, const Interface* dev,
                    const Addr& dst) const override {
    if (dev == &ifs_[1]) return Own(f, 1);
    if (dev == &ifs_[2]) return Own(f, 2);
    return dst;  // towards one of our own addresses: that address
  }

 private:
  static Addr Own(Family f, int dev) {
    if (f == Family::kIPv4) return Ip(dev == 1 ? "10.0.0.1" : "10.1.0.1");
    return Ip(dev == 1 ? "2001:db8::1" : "2001:db8:1::1");
  }
  static int Subnet(Family f, const Addr& a) {
    if (f == Family::kIPv4) {
      if (a.b[0] == 10 && a.b[1] == 0 && a.b[2] == 0) return 1;
      if (a.b[0] == 10 && a.b[1] == 1 && a.b[2] == 0) return 2;
      return 0;
    }
    const Addr p0 = Ip("2001:db8::"), p1 = Ip("2001:db8:1::");
    if (std::equal(a.b.begin(), a.b.begin() + 8, p0.b.begin())) return 1;
    if (std::equal(a.b.begin(), a.b.begin() + 8, p1.b.begin())) return 2;
    return 0;
  }
  std::vector<Interface> ifs_;
};

// FixtureCases returns the recorded kernel cases (empty when the file
// cannot be read, which the tests report).
inline const nlohmann::json& FixtureCases() {
  static const nlohmann::json kCases = [] {
    std::string here = __FILE__;
    std::string dir = here.substr(0, here.rfind('/'));
    std::ifstream in(dir + "/../../tests/fixtures/targets/kernel_cases.json");
    if (!in) return nlohmann::json::array();
    return nlohmann::json::parse(in)["cases"];
  }();
  return kCases;
}

// OneRule holds a ruleset of one rule and that rule's target.
struct OneRule {
  std::unique_ptr<Ruleset> rs;
  const Target* target = nullptr;
};

// LoadRule restores "-A chain rule" into table; throws what Restore throws.
inline OneRule LoadRule(Family f, const std::string& table,
                        const std::string& chain, const std::string& rule) {
  static const BuiltinResolver kResolver;
  RestoreOptions o{f, &kResolver, "test"};
  OneRule r;
  r.rs = Restore("*" + table + "\n-A " + chain + " " + rule + "\nCOMMIT\n", o);
  r.target = r.rs->FindTable(table)->FindChain(chain)->rules[0].target.get();
  return r;
}

// SavedRule is the rule as iptables-save prints it.
inline std::string SavedRule(Family f, const std::string& table,
                             const std::string& chain,
                             const std::string& rule) {
  OneRule r = LoadRule(f, table, chain, rule);
  std::string text = Save(*r.rs, false);
  size_t at = text.find("-A " + chain);
  return text.substr(at, text.find('\n', at) - at);
}

// Stage is where a rule is refused: 0 accepted, 2 by the parser, 1 by the
// kernel's checks (the exit codes of iptables).
inline int Stage(Family f, const std::string& table, const std::string& chain,
                 const std::string& rule) {
  try {
    LoadRule(f, table, chain, rule);
    return 0;
  } catch (const RestoreError& e) {
    return e.at_commit ? 1 : 2;
  }
}

}  // namespace netfence::ext::reject_test
