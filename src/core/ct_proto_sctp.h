// The SCTP connection tracker: the kernel's per-connection SCTP state
// machine (nf_conntrack_proto_sctp.c) driven by the chunk types of each
// packet, with the verification tags of both directions, the rules for
// which packets may create an entry, per-state timeouts and the CRC32c
// check. It works on a small state value (SctpConnState) so that a
// connection entry can store it in a few bytes.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/conn.h"
#include "core/packet.h"
#include "core/types.h"

namespace netfence::core {

// SctpCtState numbers the SCTP conntrack states as the kernel does
// (enum sctp_conntrack; HEARTBEAT_ACKED is no longer reached).
enum SctpCtState : uint8_t {
  kSctpNone = 0,
  kSctpClosed = 1,
  kSctpCookieWait = 2,
  kSctpCookieEchoed = 3,
  kSctpEstablished = 4,
  kSctpShutdownSent = 5,
  kSctpShutdownRecd = 6,
  kSctpShutdownAckSent = 7,
  kSctpHeartbeatSent = 8,
  kSctpHeartbeatAcked = 9,
  kSctpMax = 10,  // also "invalid" in the transition table
};

// SctpCtConfig holds the net.netfilter.nf_conntrack_sctp_timeout_* sysctls
// (seconds, kernel 6.18 defaults) and nf_conntrack_checksum.
struct SctpCtConfig {
  double timeout_closed = 10;
  double timeout_cookie_wait = 3;
  double timeout_cookie_echoed = 3;
  double timeout_established = 210;
  double timeout_shutdown_sent = 3;
  double timeout_shutdown_recd = 3;
  double timeout_shutdown_ack_sent = 3;
  double timeout_heartbeat_sent = 30;
  bool checksum = true;  // nf_conntrack_checksum

  // Timeout is the timeout of a state; an entry still in NONE gets the
  // CLOSED one, as the kernel's timeout table does.
  double Timeout(uint8_t state) const;
};

// SctpConnState is the tracker's per-connection state (struct ip_ct_sctp):
// the state, each direction's verification tag (the value of the packet's
// big-endian field) and a few flag bits. state and flags both fit in four
// bits, so Small() packs them into one byte and the tags into 8 bytes.
struct SctpConnState {
  uint32_t vtag[2] = {0, 0};
  uint8_t state = kSctpNone;
  uint8_t flags = 0;  // kSctpFlag*

  uint8_t Small() const { return uint8_t(state | flags << 4); }
  uint64_t Tags() const { return uint64_t(vtag[0]) << 32 | vtag[1]; }
  static SctpConnState Unpack(uint8_t small, uint64_t tags) {
    SctpConnState s;
    s.state = small & 0x0f;
    s.flags = small >> 4;
    s.vtag[0] = uint32_t(tags >> 32);
    s.vtag[1] = uint32_t(tags);
    return s;
  }
  bool operator==(const SctpConnState&) const = default;
};

// Flag bits of SctpConnState::flags.
inline constexpr uint8_t kSctpFlagHeartbeatVtagFailed = 1;  // a HEARTBEAT
                                                            // had a new tag
inline constexpr uint8_t kSctpFlagLastDirReply = 2;  // ... in the reply dir
inline constexpr uint8_t kSctpFlagInitOrig = 4;      // INIT seen, original
inline constexpr uint8_t kSctpFlagInitReply = 8;     // INIT seen, reply

// SctpCtPacketCtx describes one packet for the tracker.
struct SctpCtPacketCtx {
  const Packet* skb = nullptr;
  unsigned dataoff = 0;  // offset of the SCTP common header
  CtDir dir = kDirOriginal;
  Hook hook = Hook::kPrerouting;
  bool confirmed = false;  // the entry is in the table (else: new)
};

// SctpCtResult is the tracker's answer: verdict > 0 accepted, otherwise
// the packet is invalid (the kernel's -NF_ACCEPT) and the entry, if it was
// new, is not created.
struct SctpCtResult {
  int verdict = 1;
  // refresh: the entry's timeout is renewed to `timeout` seconds from now
  // and the packet is accounted; accepted retransmitted INITs and
  // HEARTBEATs with an unexpected tag are not.
  bool refresh = false;
  double timeout = 0;
  // assured: the connection just reached ESTABLISHED (set IPS_ASSURED).
  bool assured = false;
  const char* reason = nullptr;  // why invalid, for tracing
};
inline constexpr int kSctpCtInvalid = -1;  // -NF_ACCEPT

// SctpCtPacket tracks one packet (nf_conntrack_sctp_packet): header and
// checksum checks, chunk sanity, the new-connection rules when the entry is
// not confirmed (which reset st), the verification tag checks and the
// state transitions of every chunk.
SctpCtResult SctpCtPacket(SctpConnState& st, const SctpCtPacketCtx& ctx,
                          const SctpCtConfig& cfg);

// SctpCtNextState is the transition table: the state after a chunk of a
// type in a direction; kSctpMax means invalid. Chunk types without an
// entry (DATA, SACK, ...) keep the state.
uint8_t SctpCtNextState(CtDir dir, uint8_t state, uint8_t chunk_type);

// SctpCtStateName is the state's name as `conntrack -L` prints it.
const char* SctpCtStateName(uint8_t state);

// SctpCtCanEarlyDrop: an assured entry in a shutdown state may still be
// evicted when the table is full.
bool SctpCtCanEarlyDrop(const SctpConnState& st);

// Crc32c is the CRC-32C (Castagnoli) of n bytes, as SCTP's checksum.
uint32_t Crc32c(const uint8_t* p, size_t n);

// SctpChecksum computes the checksum of the SCTP packet at dataoff (its
// checksum field counted as zero), as the value of the field read in
// little-endian byte order.
uint32_t SctpChecksum(const Packet& skb, unsigned dataoff);

}  // namespace netfence::core
