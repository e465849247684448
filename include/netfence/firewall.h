// netfence: Linux netfilter (iptables / ip6tables, connection tracking,
// NAT) for user-space network stacks.
//
// A stack owns one Firewall per network namespace, loads rulesets in the
// iptables-restore language, and calls Check at each of the five hooks as
// a packet moves through it, the way the kernel calls netfilter. Check may
// rewrite the packet (NAT, mangle targets) and may ask the stack to send
// replies (REJECT). All calls are safe from many threads at once; loading a
// ruleset replaces it atomically; with no ruleset loaded Check returns at
// once.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace netfence {

namespace core {
struct Packet;
class HookEngine;
}  // namespace core

// Family is the IP version of a ruleset or packet.
enum class Family : uint8_t { kIPv4 = 4, kIPv6 = 6 };

// Hook is where the stack calls the firewall (NF_INET_*).
enum class Hook : uint8_t {
  kPrerouting = 0,
  kInput = 1,
  kForward = 2,
  kOutput = 3,
  kPostrouting = 4,
};

// Interface describes one of the stack's network devices.
struct Interface {
  std::string name;
  int index = 0;
  std::array<uint8_t, 6> mac{};
  bool loopback = false;
  unsigned mtu = 1500;
};

// PacketContext is one packet as it moves through the stack: its bytes
// (starting at the IP header) and the metadata netfilter keeps with it
// (mark, owner, link-layer addresses, the connection it belongs to). Keep
// the same PacketContext from hook to hook.
class PacketContext {
 public:
  PacketContext(Family family, std::vector<uint8_t> bytes);
  ~PacketContext();
  PacketContext(PacketContext&&) noexcept;
  PacketContext& operator=(PacketContext&&) noexcept;

  // Bytes is the packet, as rewritten by the hooks so far.
  std::vector<uint8_t>& Bytes();
  // Mark is the packet mark (skb->mark).
  uint32_t Mark() const;
  void SetMark(uint32_t mark);
  // SetOwner records the sending socket's credentials (for -m owner).
  void SetOwner(uint32_t uid, uint32_t gid, std::vector<uint32_t> groups = {});
  // SetMacs records the Ethernet addresses the packet arrived with.
  void SetMacs(const std::array<uint8_t, 6>& src,
               const std::array<uint8_t, 6>& dst);
  // SetTime sets the packet's time in seconds (monotonic); limits, recent
  // lists and connection timeouts run on these times.
  void SetTime(double seconds);
  // ConntrackState is "new", "established", "related", "invalid",
  // "untracked", or "" when connection tracking is not in use.
  std::string ConntrackState() const;

 private:
  friend class Firewall;
  std::unique_ptr<core::Packet> pkt_;
};

// HookVerdict is what the firewall decided at one hook.
struct HookVerdict {
  bool accept = true;
  std::string where;  // the rule or policy that dropped it ("filter/INPUT/3")
  // Packets the firewall asks the stack to send as local output (REJECT's
  // replies); they already belong to the packet's connection.
  std::vector<std::vector<uint8_t>> replies;
  std::vector<std::string> log;  // LOG / NFLOG lines
};

// OriginalDestination is where a redirected connection was headed
// (SO_ORIGINAL_DST).
struct OriginalDestination {
  std::array<uint8_t, 16> addr{};  // IPv4 uses the first 4 bytes
  uint16_t port = 0;
};

// Firewall is netfilter for one network namespace.
class Firewall {
 public:
  // seed drives the random choices the kernel would make (statistic,
  // NAT port selection on clashes).
  explicit Firewall(uint64_t seed = 1);
  ~Firewall();

  // SetInterfaces tells the firewall about the stack's devices (MAC
  // addresses, loopback flag) for LOG and the interface matches.
  void SetInterfaces(std::vector<Interface> ifaces);

  // Load replaces a family's ruleset with an iptables-restore input. It is
  // all-or-nothing: on error the old ruleset stays and the result is
  // "NAME:LINE: reason".
  std::optional<std::string> Load(Family family, std::string_view text,
                                  std::string_view name = "ruleset");

  // Check runs everything registered at hook on the packet. in / out name
  // the input and output devices ("" when there is none at this hook).
  HookVerdict Check(Hook hook, PacketContext& pkt, std::string_view in,
                    std::string_view out);

  // Save prints a family's ruleset as iptables-save [-c] does.
  std::string Save(Family family, bool counters) const;

  // OriginalDestination is SO_ORIGINAL_DST for a packet of a connection
  // that was destination-NATed (DNAT, REDIRECT).
  std::optional<netfence::OriginalDestination> OriginalDestinationOf(
      const PacketContext& pkt) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace netfence
