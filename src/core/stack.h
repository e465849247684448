// The host's IP stack around netfilter: what happens to a packet that
// arrives on an interface (ip_rcv, PREROUTING, routing, INPUT or FORWARD,
// POSTROUTING) or that a local process sends (routing, OUTPUT,
// POSTROUTING), as the Linux kernel does it. The hooks themselves run in
// core/hook_engine.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/hook_engine.h"
#include "core/host.h"
#include "core/packet.h"
#include "core/table.h"

namespace netfence::core {

// Emitted is a packet the host sent because of another packet (a REJECT
// reply), as it left (oif "lo" when it looped back to the host).
struct Emitted {
  std::string oif;
  std::vector<uint8_t> data;
  std::vector<size_t> unstable;  // byte offsets the kernel randomises
};

// Outcome is what happened to one input packet (the contract's output line).
struct Outcome {
  bool accepted = false;
  bool to_local = false;         // delivered locally ("to": "local")
  std::string oif;               // output interface when forwarded / sent
  std::vector<uint8_t> data;     // the packet as delivered or sent
  std::vector<size_t> unstable;  // byte offsets of data the kernel randomises
  std::string where;             // why it was dropped
  std::string ct;                // conntrack state name, empty if not tracked
  std::vector<Emitted> emitted;
  std::vector<std::string> log;
  bool nat_random = false;       // a NAT choice the kernel makes at random
};

// StackOptions tunes the simulation.
using StackOptions = EngineOptions;

// NetStack simulates one host.
class NetStack {
 public:
  NetStack(const Host& host, StackOptions opts);
  ~NetStack();

  // SetRules installs the ruleset of a family (nullptr: empty tables).
  void SetRules(Family f, std::unique_ptr<Ruleset> rs);
  // Receive processes a packet arriving on interface in.
  Outcome Receive(Packet pkt, const Interface* in);
  // Send processes a packet a local process sends with a raw socket
  // (IP_HDRINCL).
  Outcome Send(Packet pkt);

  // SaveWithCounters prints iptables-save -c output for a family.
  std::string SaveWithCounters(Family f) { return engine_.Save(f, true); }
  // ListConntrack is the connection table as conntrack -L prints it, at the
  // last packet's time.
  std::vector<std::string> ListConntrack() const {
    return engine_.conntrack().List(now_);
  }
  // ListExpect is the expectation table as /proc/net/nf_conntrack_expect
  // prints it, at the last packet's time.
  std::vector<std::string> ListExpect() const {
    return engine_.conntrack().ListExpect(now_);
  }
  const Host& host() const { return host_; }

 private:
  class Sink;
  struct Run;  // one input packet's processing
  bool RunHook(Run& run, Packet& pkt, Hook h, const Interface* in,
               const Interface* out);
  void LocalOut(Run& run, Packet pkt, bool emitted);
  void Input(Run& run, Packet pkt, const Interface* in, bool emitted,
             const Route* looped);
  void Forward(Run& run, Packet pkt, const Interface* in, const Route& rt);
  void PostRouting(Run& run, Packet pkt, const Interface* in, const Route& rt,
                   bool emitted);
  void Deliver(Run& run, const Packet& pkt, const Interface* out);
  bool PreHookChecks(const Packet& pkt, const Interface* in) const;
  // NextIpId is the IPv4 ID the kernel gives a raw send with ID 0.
  uint16_t NextIpId();

  const Host& host_;
  mutable HookEngine engine_;
  double now_ = 0;
  uint16_t next_ip_id_ = 0;
};

}  // namespace netfence::core
