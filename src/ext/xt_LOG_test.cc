// LOG: options, save form, and the log line against lines the kernel
// printed for the same packets (tests/fixtures/targets/kernel_cases.json).
#include "ext/xt_LOG.h"

#include <gtest/gtest.h>

#include "core/checksum.h"
#include "ext/xt_REJECT_test_util.h"

namespace netfence::ext::reject_test {
namespace {

TEST(LogTarget, SaveForm) {
  EXPECT_EQ(SavedRule(Family::kIPv4, "filter", "INPUT", "-j LOG"),
            "-A INPUT -j LOG");
  EXPECT_EQ(SavedRule(Family::kIPv4, "filter", "INPUT",
                      "-j LOG --log-uid --log-level warning --log-macdecode "
                      "--log-ip-options --log-tcp-options --log-tcp-sequence "
                      "--log-prefix \"a b\""),
            "-A INPUT -j LOG --log-prefix \"a b\" --log-tcp-sequence "
            "--log-tcp-options --log-ip-options --log-uid --log-macdecode");
  EXPECT_EQ(SavedRule(Family::kIPv6, "mangle", "POSTROUTING",
                      "-j LOG --log-level emerg"),
            "-A POSTROUTING -j LOG --log-level 0");
  // The kernel keeps 29 characters of the prefix.
  EXPECT_EQ(
      SavedRule(Family::kIPv4, "filter", "INPUT",
                "-j LOG --log-prefix 0123456789abcdefghijklmnopqrstuvwxyz"),
      "-A INPUT -j LOG --log-prefix 0123456789abcdefghijklmnopqrs");
}

TEST(LogTarget, ParserRefusals) {
  EXPECT_EQ(Stage(Family::kIPv4, "filter", "INPUT", "-j LOG --log-level 8"), 2);
  EXPECT_EQ(Stage(Family::kIPv4, "filter", "INPUT", "-j LOG --log-level x"), 2);
  EXPECT_EQ(Stage(Family::kIPv4, "filter", "INPUT", "-j LOG --log-prefix \"\""),
            2);
  EXPECT_EQ(
      Stage(Family::kIPv4, "filter", "INPUT", "-j LOG --log-uid --log-uid"), 2);
  EXPECT_EQ(Stage(Family::kIPv4, "filter", "INPUT", "-j LOG ! --log-uid"), 2);
  EXPECT_EQ(Stage(Family::kIPv4, "nat", "PREROUTING", "-j LOG"), 0);
}

// LogLine runs one LOG rule on a packet at a hook.
std::string LogLine(const OneRule& r, Packet pkt, Hook hook,
                    const Interface* in, const Interface* out) {
  HookState st;
  st.hook = hook;
  st.family = pkt.family;
  st.in = in;
  st.out = out;
  RecordingServices svc;
  XtParams p;
  p.skb = &pkt;
  p.state = &st;
  p.svc = &svc;
  EXPECT_EQ(r.target->Run(p), Verdict::kContinue);
  return svc.logs.size() == 1
             ? svc.logs[0]
             : "<" + std::to_string(svc.logs.size()) + " lines>";
}

Hook HookOf(const std::string& chain) {
  for (Hook h : {Hook::kPrerouting, Hook::kInput, Hook::kForward, Hook::kOutput,
                 Hook::kPostrouting})
    if (chain == HookName(h)) return h;
  return Hook::kPrerouting;
}

TEST(LogTarget, MatchesTheKernelsLines) {
  static const FixtureHost host;
  int compared = 0;
  for (const auto& c : FixtureCases()) {
    if (c["log"].empty()) continue;
    const bool v6 = c["family"] == "ipv6";
    const Family f = v6 ? Family::kIPv6 : Family::kIPv4;
    const bool local = c.value("local", false);
    uint32_t mark = 0;
    if (c["rules"].contains("mangle"))
      for (const std::string r : c["rules"]["mangle"])
        if (r.find("--set-mark 0x2a") != std::string::npos) mark = 0x2a;
    for (const auto& el : c["rules"].items()) {
      const std::string table = el.key();
      for (const std::string rule : el.value()) {
        size_t at = rule.find("--log-prefix ");
        if (rule.find("-j LOG") == std::string::npos || at == std::string::npos)
          continue;
        std::string prefix = rule.substr(at + 13);
        prefix = prefix.substr(0, prefix.find(' '));
        const std::string chain = rule.substr(0, rule.find(' '));
        SCOPED_TRACE(std::string(c["name"]) + ": " + rule);
        std::string want;
        for (const auto& l : c["log"]) {
          const std::string line = l["line"];
          if (line.rfind(prefix + "IN=", 0) == 0) {
            want = line;
            break;
          }
        }
        ASSERT_FALSE(want.empty());
        OneRule r = LoadRule(f, table, chain, rule.substr(chain.size() + 1));
        const Hook hook = HookOf(chain);
        Packet pkt;
        pkt.family = f;
        pkt.data = FromHex(c["packet"]);
        pkt.mark = mark;
        const Interface *in = nullptr, *out = nullptr;
        if (local) {
          if (rule.find("-i lo") != std::string::npos)
            in = host.FindInterface("lo");
          else
            out = host.FindInterface("a0");
          if (c.contains("uid"))
            pkt.sk = SockOwner{
                c["uid"].get<uint32_t>(), c["gid"].get<uint32_t>(), {}};
        } else {
          in = host.FindInterface(c["in"]);
          pkt.has_mac = true;
          pkt.src_mac = {2, 0, 0, 0, uint8_t(in->name == "a0" ? 0 : 1), 2};
          pkt.dst_mac = in->mac;
          if (hook == Hook::kForward || hook == Hook::kPostrouting) {
            out = host.FindInterface(in->name == "a0" ? "a1" : "a0");
            if (v6)
              pkt.data[7]--;
            else
              DecreaseTtl(pkt.data.data());
          }
        }
        EXPECT_EQ(LogLine(r, pkt, hook, in, out), want);
        ++compared;
      }
    }
  }
  EXPECT_GE(compared, 40) << "tests/fixtures/targets/kernel_cases.json";
}

// The lines the kernel printed for TRACEd packets use the same dump.
TEST(LogLine, MatchesTheKernelsTraceLines) {
  static const FixtureHost host;
  int compared = 0;
  for (const auto& c : FixtureCases()) {
    if (!c.value("trace", false)) continue;
    for (const auto& l : c["log"]) {
      const std::string want = l["line"];
      const std::string prefix = want.substr(0, want.find("IN="));
      const std::string where = prefix.substr(7);  // table:chain:type:num
      const size_t colon = where.find(':');
      const std::string chain =
          where.substr(colon + 1, where.find(':', colon + 1) - colon - 1);
      Packet pkt;
      pkt.family = c["family"] == "ipv6" ? Family::kIPv6 : Family::kIPv4;
      pkt.data = FromHex(c["packet"]);
      pkt.has_mac = true;
      pkt.src_mac = {2, 0, 0, 0, 0, 2};
      pkt.dst_mac = {2, 0, 0, 0, 0, 1};
      if (want.find("MARK=0x7 ") != std::string::npos) pkt.mark = 7;
      EXPECT_EQ(FormatLogLine(pkt, HookOf(chain), host.FindInterface("a0"),
                              nullptr, prefix, kTraceLogFlags),
                want);
      ++compared;
    }
  }
  EXPECT_GE(compared, 10) << "tests/fixtures/targets/kernel_cases.json";
}

Packet Udp4() {
  Packet p;
  p.data = FromHex(
      "4500002112344000401114960a0000020a00000114e90035000d86cb7175657279");
  return p;
}

TEST(LogLine, DevicesWithoutEthernetHeader) {
  Interface tun;
  tun.name = "tun0";
  Packet p = Udp4();
  EXPECT_EQ(FormatLogLine(p, Hook::kInput, &tun, nullptr, "x ", 0),
            "x IN=tun0 OUT= MAC= SRC=10.0.0.2 DST=10.0.0.1 LEN=33 TOS=0x00 "
            "PREC=0x00 TTL=64 ID=4660 DF PROTO=UDP SPT=5353 DPT=53 LEN=13 ");
  // --log-macdecode on a device that is not Ethernet falls back to MAC=.
  EXPECT_EQ(FormatLogLine(p, Hook::kInput, &tun, nullptr, "", kLogMacDecode)
                .substr(0, 21),
            "IN=tun0 OUT= MAC= SRC");
}

TEST(LogLine, PostroutingReadsTheOutputDevice) {
  Interface eth, tun;
  eth.name = "eth0";
  eth.mac = {2, 0, 0, 0, 0, 9};
  tun.name = "tun0";
  Packet p = Udp4();
  p.has_mac = true;
  p.src_mac = {2, 0, 0, 0, 0, 2};
  p.dst_mac = eth.mac;
  std::string line = FormatLogLine(p, Hook::kPostrouting, &eth, &tun, "", 0);
  EXPECT_EQ(line.substr(0, 27), "IN=eth0 OUT=tun0 MAC= SRC=1");
  line = FormatLogLine(p, Hook::kForward, &eth, &tun, "", 0);
  EXPECT_EQ(line.substr(0, 63),
            "IN=eth0 OUT=tun0 MAC=02:00:00:00:00:09:02:00:00:00:00:02:08:00 ");
}

TEST(LogLine, UidOnlyWithTheFlagAndASocket) {
  Packet p = Udp4();
  p.sk = SockOwner{7, 8, {}};
  p.mark = 0xff;
  std::string a = FormatLogLine(p, Hook::kOutput, nullptr, nullptr, "", 0);
  std::string b =
      FormatLogLine(p, Hook::kOutput, nullptr, nullptr, "", kLogUid);
  EXPECT_TRUE(a.ends_with(" LEN=13 MARK=0xff ")) << a;
  EXPECT_TRUE(b.ends_with(" LEN=13 UID=7 GID=8 MARK=0xff ")) << b;
}

TEST(LogLine, TruncatedPackets) {
  Packet p = Udp4();
  p.data.resize(10);
  EXPECT_EQ(FormatLogLine(p, Hook::kOutput, nullptr, nullptr, "", 0),
            "IN= OUT= TRUNCATED");
  Packet q;
  q.family = Family::kIPv6;
  q.data.assign(39, 0);
  EXPECT_EQ(FormatLogLine(q, Hook::kOutput, nullptr, nullptr, "", 0),
            "IN= OUT= TRUNCATED");
}

TEST(LogLine, NeverLongerThanTheKernelsBuffer) {
  // A TCP segment with 40 bytes of options and 40 of IP options, quoted in
  // an ICMP error, with a long prefix: still at most 1016 characters.
  Packet p;
  p.data.assign(20 + 40 + 8 + 20 + 40 + 20 + 40, 1);
  p.data[0] = 0x4f;
  p.data[9] = 1;
  p.data[60] = 3;
  p.data[68] = 0x4f;
  p.data[77] = 6;
  p.data[128 + 12] = 0xf0;
  std::string line = FormatLogLine(p, Hook::kOutput, nullptr, nullptr,
                                   std::string(29, 'p'), 0xff);
  EXPECT_LE(line.size(), 1016u);
}

}  // namespace
}  // namespace netfence::ext::reject_test
