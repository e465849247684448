// A toy user-space router that uses netfence the way a real stack would:
// it calls the firewall at each hook as a packet moves through it, applies
// the verdict, and sends the replies the firewall asks for.
#include <netfence/firewall.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

namespace {

const char kRules[] = R"(*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -s 10.0.0.0/24 -o wan0 -j SNAT --to-source 203.0.113.2
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -i lan0 -o wan0 -p tcp -m tcp --dport 443 -j ACCEPT
-A FORWARD -p tcp -j REJECT --reject-with tcp-reset
COMMIT
)";

// TcpSyn builds an IPv4 TCP SYN (checksums included).
std::vector<uint8_t> TcpSyn(std::array<uint8_t, 4> src,
                            std::array<uint8_t, 4> dst, uint16_t sport,
                            uint16_t dport) {
  std::vector<uint8_t> p(40, 0);
  p[0] = 0x45;
  p[3] = 40;
  p[8] = 64;
  p[9] = 6;
  std::copy(src.begin(), src.end(), p.begin() + 12);
  std::copy(dst.begin(), dst.end(), p.begin() + 16);
  auto sum = [](const uint8_t* d, size_t n, uint32_t s) {
    for (size_t i = 0; i + 1 < n; i += 2) s += uint32_t(d[i] << 8 | d[i + 1]);
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return s;
  };
  uint16_t c = uint16_t(~sum(p.data(), 20, 0));
  p[10] = uint8_t(c >> 8);
  p[11] = uint8_t(c);
  uint8_t* t = p.data() + 20;
  t[0] = uint8_t(sport >> 8);
  t[1] = uint8_t(sport);
  t[2] = uint8_t(dport >> 8);
  t[3] = uint8_t(dport);
  t[12] = 0x50;
  t[13] = 0x02;  // SYN
  t[14] = 0xff;
  t[15] = 0xff;
  uint32_t s = sum(p.data() + 12, 8, 6 + 20);
  c = uint16_t(~sum(t, 20, s));
  t[16] = uint8_t(c >> 8);
  t[17] = uint8_t(c);
  return p;
}

// Forward is the stack's forwarding path: PREROUTING, FORWARD, POSTROUTING.
void Forward(netfence::Firewall& fw, netfence::PacketContext& pkt,
             const char* in, const char* out) {
  using netfence::Hook;
  for (auto [hook, i, o] : {std::tuple{Hook::kPrerouting, in, ""},
                            std::tuple{Hook::kForward, in, out},
                            std::tuple{Hook::kPostrouting, "", out}}) {
    netfence::HookVerdict v = fw.Check(hook, pkt, i, o);
    for (const auto& reply : v.replies)
      std::printf("  firewall asks to send a %zu-byte reply\n", reply.size());
    if (!v.accept) {
      std::printf("  dropped at %s\n", v.where.c_str());
      return;
    }
  }
  std::printf("  sent out of %s, conntrack %s, source now %u.%u.%u.%u\n", out,
              pkt.ConntrackState().c_str(), pkt.Bytes()[12], pkt.Bytes()[13],
              pkt.Bytes()[14], pkt.Bytes()[15]);
}

}  // namespace

int main() {
  netfence::Firewall fw;
  fw.SetInterfaces({{"lan0", 2, {2, 0, 0, 0, 0, 2}, false, 1500},
                    {"wan0", 3, {2, 0, 0, 0, 0, 3}, false, 1500}});
  if (auto err = fw.Load(netfence::Family::kIPv4, kRules, "mini_stack")) {
    std::fprintf(stderr, "%s\n", err->c_str());
    return 1;
  }
  std::printf("HTTPS from the LAN:\n");
  netfence::PacketContext ok(netfence::Family::kIPv4,
                             TcpSyn({10, 0, 0, 5}, {198, 51, 100, 7}, 40000, 443));
  Forward(fw, ok, "lan0", "wan0");
  std::printf("Telnet from the LAN:\n");
  netfence::PacketContext no(netfence::Family::kIPv4,
                             TcpSyn({10, 0, 0, 5}, {198, 51, 100, 7}, 40001, 23));
  Forward(fw, no, "lan0", "wan0");

  // Many threads may check packets at once.
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&fw, t] {
      for (int i = 0; i < 1000; ++i) {
        netfence::PacketContext p(
            netfence::Family::kIPv4,
            TcpSyn({10, 0, 0, uint8_t(10 + t)}, {198, 51, 100, 8},
                   uint16_t(20000 + i), 443));
        fw.Check(netfence::Hook::kForward, p, "lan0", "wan0");
      }
    });
  }
  for (auto& w : workers) w.join();
  std::printf("%s", fw.Save(netfence::Family::kIPv4, true).c_str());
  return 0;
}
