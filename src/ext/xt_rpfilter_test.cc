// Reverse path checks of the rpfilter match against a fake host.
#include <gtest/gtest.h>

#include "core/host.h"
#include "core/restore.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

// TwoLinks is a router with eth0 (10.0.0.1/24, default route) and eth1
// (192.168.1.1/24).
class TwoLinks : public Host {
 public:
  TwoLinks() {
    ifs_.resize(3);
    ifs_[0].name = "lo";
    ifs_[0].loopback = true;
    ifs_[1].name = "eth0";
    ifs_[2].name = "eth1";
    IfAddr a;
    a.local = Addr::FromV4(0x0a000001);
    a.prefixlen = 24;
    ifs_[1].addrs.push_back(a);
    a.local = Addr::FromV4(0xc0a80101);
    ifs_[2].addrs.push_back(a);
  }
  const Interface* FindInterface(const std::string& n) const override {
    for (const auto& i : ifs_)
      if (i.name == n) return &i;
    return nullptr;
  }
  const std::vector<Interface>& Interfaces() const override { return ifs_; }
  bool Forwarding(Family) const override { return true; }
  Route RouteInput(Family f, const Addr& dst, const Addr&, uint8_t,
                   const Interface*, uint32_t mark) const override {
    return RouteOutput(f, dst, Addr{}, 0, nullptr, mark);
  }
  Route RouteOutput(Family, const Addr& dst, const Addr&, uint8_t,
                    const Interface*, uint32_t mark) const override {
    Route r;
    const uint32_t d = dst.v4();
    if (d == 0x0a000001 || d == 0xc0a80101) {
      r.type = RouteType::kLocal;
      r.dev = &ifs_[0];
    } else if ((d & 0xffffff00) == 0xc0a80100 || mark == 7) {
      r.type = RouteType::kUnicast;
      r.dev = &ifs_[2];
    } else if (d == 0x0b000000) {
      r.err = -113;  // no route
    } else {
      r.type = RouteType::kUnicast;
      r.dev = &ifs_[1];
    }
    return r;
  }
  RouteType AddrType(Family, const Addr&, const Interface*) const override {
    return RouteType::kUnicast;
  }
  Addr SelectSource(Family, const Interface*, const Addr&) const override {
    return Addr{};
  }

  std::vector<Interface> ifs_;
};

struct Loaded {
  std::unique_ptr<Ruleset> rs;
  const Match* m = nullptr;
};

Loaded Load(const std::string& rule) {
  static const BuiltinResolver kResolver;
  RestoreOptions o{Family::kIPv4, &kResolver, "test"};
  Loaded r;
  r.rs = Restore("*raw\n-A PREROUTING " + rule + "\nCOMMIT\n", o);
  r.m = r.rs->FindTable("raw")
            ->FindChain("PREROUTING")
            ->rules[0]
            .matches.back()
            .match.get();
  return r;
}

bool Arrives(const Match& m, const TwoLinks& h, const char* dev, uint32_t src,
             uint32_t mark = 0) {
  Packet pkt;
  pkt.data.assign(20, 0);
  pkt.data[0] = 0x45;
  Store32(&pkt.data[12], src);
  Store32(&pkt.data[16], 0x0a000001);
  pkt.mark = mark;
  HookState st;
  st.in = h.FindInterface(dev);
  st.host = &h;
  XtParams p;
  p.skb = &pkt;
  p.state = &st;
  return m.Matches(p);
}

TEST(RpfilterMatch, StrictLooseAndInvert) {
  TwoLinks h;
  auto strict = Load("-m rpfilter");
  auto loose = Load("-m rpfilter --loose");
  auto inv = Load("-m rpfilter --invert");
  EXPECT_TRUE(Arrives(*strict.m, h, "eth1", 0xc0a80105));
  EXPECT_FALSE(Arrives(*strict.m, h, "eth0", 0xc0a80105));  // spoofed
  EXPECT_TRUE(Arrives(*loose.m, h, "eth0", 0xc0a80105));
  EXPECT_TRUE(Arrives(*inv.m, h, "eth0", 0xc0a80105));
  EXPECT_FALSE(Arrives(*loose.m, h, "eth0", 0x0b000000));  // no route back
  EXPECT_TRUE(Arrives(*strict.m, h, "lo", 0x0b000000));    // loopback
}

TEST(RpfilterMatch, LocalSourcesAndMarks) {
  TwoLinks h;
  auto strict = Load("-m rpfilter");
  auto local = Load("-m rpfilter --accept-local");
  auto vmark = Load("-m rpfilter --validmark");
  EXPECT_FALSE(Arrives(*strict.m, h, "eth0", 0x0a000001));
  EXPECT_TRUE(Arrives(*local.m, h, "eth0", 0x0a000001));
  EXPECT_FALSE(Arrives(*local.m, h, "eth1", 0x0a000001));
  // The mark steers the reverse lookup only with --validmark.
  EXPECT_FALSE(Arrives(*strict.m, h, "eth1", 0x08080808, 7));
  EXPECT_TRUE(Arrives(*vmark.m, h, "eth1", 0x08080808, 7));
}

TEST(RpfilterMatch, RawAndMangleOnly) {
  static const BuiltinResolver kResolver;
  RestoreOptions o{Family::kIPv4, &kResolver, "test"};
  EXPECT_THROW(Restore("*filter\n-A INPUT -m rpfilter\nCOMMIT\n", o),
               RestoreError);
  EXPECT_THROW(Restore("*mangle\n-A FORWARD -m rpfilter\nCOMMIT\n", o),
               RestoreError);
  EXPECT_NO_THROW(Restore("*mangle\n-A PREROUTING -m rpfilter\nCOMMIT\n", o));
}

}  // namespace
}  // namespace netfence::ext
