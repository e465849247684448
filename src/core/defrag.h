// IP reassembly: nf_defrag_ipv4 / nf_defrag_ipv6 in front of conntrack
// (priority -400) and the stack's own reassembly before local delivery.
// Fragments are queued per (source, destination, id, protocol); a complete
// datagram is returned whole; overlapping fragments discard the queue
// (RFC 5722, as the kernel does for both families); queues expire after
// ipfrag_time seconds of the packets' timestamps.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "core/packet.h"

namespace netfence::core {

// DefragResult says what happened to one fragment.
enum class DefragResult : uint8_t {
  kNotFragment,  // not a fragment: continue with the packet as is
  kQueued,       // held for reassembly (NF_STOLEN)
  kComplete,     // the packet now holds the reassembled datagram
  kDropped,      // malformed or overlapping: dropped
};

// Defrag holds reassembly queues for both families.
class Defrag {
 public:
  explicit Defrag(double timeout = 30) : timeout_(timeout) {}

  // Process handles one packet; on kComplete the packet is replaced by the
  // reassembled datagram (metadata from the first fragment).
  DefragResult Process(Packet& pkt, double now);

 private:
  struct Frag {
    unsigned offset = 0;  // byte offset of the fragment's data
    std::vector<uint8_t> data;
  };
  struct Queue {
    std::vector<Frag> frags;
    std::optional<Packet> first;  // the fragment at offset 0 (header source)
    unsigned total = 0;           // known once the last fragment arrived
    bool have_last = false;
    double expires = 0;
    unsigned max_size = 0;        // largest fragment seen
  };
  using Key = std::vector<uint8_t>;

  DefragResult Add(Queue& q, unsigned offset, bool more,
                   std::vector<uint8_t> payload, Packet& pkt,
                   unsigned pkt_size);
  bool Complete(const Queue& q) const;
  void Expire(double now);

  double timeout_;
  std::map<Key, Queue> queues_;
};

}  // namespace netfence::core
