// ClassBench filter sets and header traces (Taylor & Turner's packet
// classification benchmark) as iptables rulesets and packets, for the bench
// command, the benchmark suite and the classifier tests.
//
// A filter line "@src/len dst/len sp_lo : sp_hi dp_lo : dp_hi proto/mask
// flags/mask" becomes one FORWARD rule "-s src/len -d dst/len -p P
// [-m P --sport lo:hi --dport lo:hi] -j ACCEPT" in file order; the chain's
// policy is DROP. iptables matches ports only under a protocol that has
// them, so:
//  - a wildcard protocol (mask 0x00) with a port range other than 0:65535
//    becomes two rules, "-p tcp" then "-p udp", each with the ports (packets
//    of other protocols then miss it: they have no ports);
//  - a specific protocol other than tcp / udp keeps its protocol and drops
//    its port ranges (counted in ports_dropped);
//  - the flags column is ignored, as iptables has no such header filter.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/packet.h"
#include "core/table.h"

namespace netfence::io {

// ClassBenchRule is one line of a ClassBench filter file.
struct ClassBenchRule {
  uint32_t src = 0, dst = 0;  // host order
  int src_len = 0, dst_len = 0;
  uint16_t sport_lo = 0, sport_hi = 0xffff, dport_lo = 0, dport_hi = 0xffff;
  uint8_t proto = 0, proto_mask = 0;
};

// ParseClassBench reads a filter file's text; throws InputError naming the
// file and line of a malformed one.
std::vector<ClassBenchRule> ParseClassBench(const std::string& text,
                                            const std::string& file);

// ClassBenchRuleset is a filter set as iptables-restore input.
struct ClassBenchRuleset {
  std::string restore;           // "*filter ... COMMIT"
  std::vector<uint32_t> origin;  // per FORWARD rule: its filter's line (1-)
  size_t ports_dropped = 0;      // filters whose ports iptables cannot match
};

// ClassBenchToRestore converts filters with the expansion described above.
ClassBenchRuleset ClassBenchToRestore(const std::vector<ClassBenchRule>& rules);

// TraceHeader is one packet header of a trace.
struct TraceHeader {
  uint32_t src = 0, dst = 0;  // host order
  uint16_t sport = 0, dport = 0;
  uint8_t proto = 0;
};

// ReadTrace reads a ClassBench trace ("src dst sport dport proto ...",
// addresses as decimal integers), gzip-compressed when the name ends in
// ".gz"; throws InputError.
std::vector<TraceHeader> ReadTrace(const std::string& path);

// DrawHeaders samples n headers from a chain's rules: a rule chosen
// uniformly, then each field uniformly within what the rule's header filter
// and port match allow (a protocol wildcard picks tcp, udp or icmp).
std::vector<TraceHeader> DrawHeaders(const core::Table& t, const core::Chain& c,
                                     size_t n, uint64_t seed);

// MakePacket builds an IPv4 datagram with the header: a 20-byte IP header
// and a TCP (20 bytes, ACK), UDP (8) or ICMP (8; type and code from the low
// bytes of the ports) header; other protocols carry no payload.
core::Packet MakePacket(const TraceHeader& h);

}  // namespace netfence::io
