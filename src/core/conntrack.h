// Connection tracking (nf_conntrack): tuples in both directions, a hash of
// confirmed connections, entries created by a packet and confirmed only when
// that packet leaves the last hook, protocol trackers, RELATED ICMP errors,
// timeouts driven by the packets' timestamps, a table limit with early drop
// and a garbage collector that does bounded work per step.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/conn.h"
#include "core/ct_hash.h"
#include "core/ct_helper.h"
#include "core/ct_proto_sctp.h"
#include "core/ct_proto_tcp.h"
#include "core/packet.h"
#include "core/xt.h"

namespace netfence::core {

// CtConfig holds the nf_conntrack sysctls (kernel defaults).
struct CtConfig {
  TcpCtConfig tcp;
  SctpCtConfig sctp;  // nf_conntrack_sctp_timeout_*
  double udp_unreplied = 30;  // nf_conntrack_udp_timeout
  double udp_replied = 120;   // nf_conntrack_udp_timeout_stream
  double icmp = 30;           // nf_conntrack_icmp_timeout
  double icmpv6 = 30;         // nf_conntrack_icmpv6_timeout
  double generic = 600;       // nf_conntrack_generic_timeout
  double gre_unreplied = 30, gre_replied = 180;
  size_t max = 262144;        // nf_conntrack_max
  bool checksum = true;       // nf_conntrack_checksum
  size_t gc_budget = 64;      // entries the collector inspects per packet
  // nf_conntrack_acct is not modelled: it is off by default and nothing
  // prints per-entry counters, so entries keep none.
};

// TupleKey is a tuple in a zone, the hash key.
struct TupleKey {
  Tuple t;
  uint16_t zone = 0;
  bool operator==(const TupleKey&) const = default;
};

// TupleKeyHash hashes a TupleKey.
struct TupleKeyHash {
  size_t operator()(const TupleKey& k) const;
};

// Conntrack is one network namespace's connection table.
class Conntrack {
 public:
  explicit Conntrack(CtConfig cfg = {});
  ~Conntrack();

  // In is nf_conntrack_in at PREROUTING or OUTPUT: it attaches the packet's
  // connection (skb->ct, skb->ctinfo) and returns the verdict.
  Verdict In(Packet& skb, Hook hook, double now);
  // Confirm is nf_confirm at the end of INPUT and POSTROUTING: the
  // connection's helper (core/ct_helper; out is the output device at
  // POSTROUTING), then nf_conntrack_confirm.
  Verdict Confirm(Packet& skb, double now, const Interface* out = nullptr);

  // TupleTaken reports whether a tuple is in use by a confirmed connection
  // other than ignored (nf_conntrack_tuple_taken).
  bool TupleTaken(const Tuple& t, uint16_t zone, const Conn* ignored) const;
  // AlterReply replaces the reply tuple of an unconfirmed connection.
  void AlterReply(Conn& ct, const Tuple& reply);
  // SourceMappings returns confirmed SNATed connections with the same
  // original source (address, port, protocol): nf_nat's bysource hash.
  std::vector<const Conn*> SameSource(const Tuple& orig, uint16_t zone) const;

  // Find returns the connection and direction a tuple belongs to.
  Conn* Find(const Tuple& t, uint16_t zone, CtDir* dir, double now);
  // FindBurst is Find for n tuples of one zone, in order, with their hash
  // table and connection loads overlapped (core/ct_hash.h); dirs may be
  // nullptr.
  void FindBurst(const Tuple* const* ts, uint16_t zone, size_t n, Conn** out,
                 CtDir* dirs, double now);
  // List prints the table the way `conntrack -L` does, at time now.
  std::vector<std::string> List(double now) const;
  // ListExpect prints the expectations as /proc/net/nf_conntrack_expect.
  std::vector<std::string> ListExpect(double now) const;
  size_t size() const { return conns_.size(); }
  // mutex guards the table; NAT setup (which consults it) holds it.
  std::mutex& mutex() const { return mu_; }
  const CtConfig& config() const { return cfg_; }

 private:
  struct Entry;
  Conn* NewConn(const Tuple& orig, const Tuple& reply, uint16_t zone,
                Packet& skb);
  bool GetTuple(const Packet& skb, unsigned dataoff, uint8_t proto,
                Tuple& t) const;
  int HandleIcmpError(Packet& skb, unsigned dataoff, uint8_t proto,
                      Hook hook, double now, uint16_t zone);
  int TrackPacket(Conn& ct, Packet& skb, unsigned dataoff, CtInfo ctinfo,
                  Hook hook, double now);
  void Insert(Conn* ct);
  void Remove(Conn* ct);
  bool Expired(const Conn* ct, double now) const { return ct->expires <= now; }
  void Gc(double now);
  bool EarlyDrop(double now);

  CtConfig cfg_;
  mutable std::mutex mu_;
  CtHash hash_;  // confirmed tuples of both directions (core/ct_hash.h)
  // Confirmed entries (ConnSlab ids), each holding one reference for the
  // table; unconfirmed ones are held by their packet alone.
  std::vector<uint32_t> conns_;
  size_t gc_cursor_ = 0;
  // Helpers and their expectations (guarded by mu_).
  mutable CtHelpers helpers_;
};

// CtStateName names the state a packet is in for the contract's "ct" key:
// new, established, related, invalid or untracked.
const char* CtStateName(const Packet& skb);

// InvertTuple builds the reply tuple of a tuple (nf_ct_invert_tuple);
// false when the protocol has no inverse for it (e.g. an ICMP type).
bool InvertTuple(const Tuple& in, Tuple& out);

}  // namespace netfence::core
