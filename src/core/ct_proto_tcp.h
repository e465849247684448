// The TCP connection tracker: the kernel's TCP state table and window
// tracking (nf_conntrack_proto_tcp.c), driven by the packets' timestamps.
#pragma once

#include <cstdint>

#include "core/conn.h"
#include "core/packet.h"
#include "core/types.h"

namespace netfence::core {

// TcpCtStates numbers the TCP conntrack states as the kernel does.
enum TcpCtState : uint8_t {
  kTcpNone = 0,
  kTcpSynSent = 1,
  kTcpSynRecv = 2,
  kTcpEstablished = 3,
  kTcpFinWait = 4,
  kTcpCloseWait = 5,
  kTcpLastAck = 6,
  kTcpTimeWait = 7,
  kTcpClose = 8,
  kTcpSynSent2 = 9,
  kTcpMax = 10,
  kTcpIgnore = 11,
  kTcpRetrans = 12,
  kTcpUnack = 13,
};

// TcpCtConfig holds the net.netfilter.nf_conntrack_tcp_* sysctls (kernel
// defaults); timeouts in seconds indexed by TcpCtState, plus retrans/unack.
struct TcpCtConfig {
  bool loose = true;              // nf_conntrack_tcp_loose
  bool be_liberal = false;        // nf_conntrack_tcp_be_liberal
  bool ignore_invalid_rst = false;
  unsigned max_retrans = 3;       // nf_conntrack_tcp_max_retrans
  double timeouts[kTcpUnack + 1] = {
      0,       120, 60, 432000, 120, 60, 30, 120, 10, 120,
      0,       0,   300, 300};
  bool checksum = true;           // nf_conntrack_checksum
};

// TcpCtPacketCtx describes one packet for the tracker.
struct TcpCtPacketCtx {
  const Packet* skb = nullptr;
  unsigned dataoff = 0;     // offset of the TCP header
  CtDir dir = kDirOriginal;
  CtInfo ctinfo = CtInfo::kNew;
  Hook hook = Hook::kPrerouting;
  double now = 0;           // seconds
};

// TcpCtResult is the tracker's answer, in the kernel's convention:
// verdict > 0 accepted (NF_ACCEPT), otherwise the packet is invalid and
// -verdict is what to do with it (NF_ACCEPT / NF_DROP), or kTcpCtRepeat
// ("re-open a closed connection": delete the entry and look up again).
struct TcpCtResult {
  int verdict = 1;
  // timeout: new timeout (seconds from now) when accepted; when the
  // tracker did not renew it (refresh false), the entry's unchanged
  // remaining time, and 0 with kill.
  double timeout = 0;
  const char* reason = nullptr;  // why invalid, for tracing
  // refresh: the timeout was renewed (nf_ct_refresh_acct: conn.expires is
  // now + timeout unless IPS_FIXED_TIMEOUT) and the packet is accounted.
  // Accepted packets the kernel ignores (out-of-sync SYNs, retransmitted
  // SYNs before a reply, ...) neither renew the timeout nor count.
  bool refresh = false;
  // kill: accepted, but the entry must be deleted now (nf_ct_kill_acct,
  // a RST before any reply); the packet is accounted first.
  bool kill = false;
};
inline constexpr int kTcpCtRepeat = -4;  // -NF_REPEAT

// TcpCtNew decides whether a packet may create a new TCP connection
// (tcp_new) and initialises conn.tcp; false: the packet is invalid.
bool TcpCtNew(Conn& conn, const TcpCtPacketCtx& ctx, const TcpCtConfig& cfg);

// TcpCtPacket runs the state machine and window checks for a packet of an
// existing (or just created) connection (nf_conntrack_tcp_packet). It
// updates conn.tcp and conn.status (ASSURED, SEEN_REPLY handling as the
// kernel does in this function).
TcpCtResult TcpCtPacket(Conn& conn, const TcpCtPacketCtx& ctx,
                        const TcpCtConfig& cfg);

// TcpCtChecksumOk validates the TCP checksum when the kernel would
// (nf_conntrack_checksum at PREROUTING).
bool TcpCtHeaderOk(const TcpCtPacketCtx& ctx, const TcpCtConfig& cfg);

}  // namespace netfence::core
