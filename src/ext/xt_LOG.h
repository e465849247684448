// The kernel's LOG line (xt_LOG with nf_log_syslog), exposed so that it can
// be tested on its own and reused (TRACE lines print the same packet dump).
#pragma once

#include <cstdint>
#include <string>

#include "core/packet.h"
#include "core/types.h"

namespace netfence::core {
struct Interface;
}

namespace netfence::ext {

// LogFlag is one of xt_LOG's logflags bits (XT_LOG_*).
enum LogFlag : uint8_t {
  kLogTcpSeq = 0x01,     // --log-tcp-sequence
  kLogTcpOpt = 0x02,     // --log-tcp-options
  kLogIpOpt = 0x04,      // --log-ip-options
  kLogUid = 0x08,        // --log-uid
  kLogMacDecode = 0x20,  // --log-macdecode
};

// kTraceLogFlags are the flags of the lines a traced packet prints in
// ipt_do_table / ip6t_do_table (NF_LOG_DEFAULT_MASK): such a line is
// FormatLogLine(skb, hook, in, out, "TRACE: raw:PREROUTING:rule:1 ",
// kTraceLogFlags), "rule", "return" or "policy" naming what was reached.
inline constexpr uint8_t kTraceLogFlags =
    kLogTcpSeq | kLogTcpOpt | kLogIpOpt | kLogUid;

// FormatLogLine returns what the kernel prints for skb at hook, seen coming
// in on in and leaving on out (either may be nullptr), with this prefix and
// these LogFlag bits: "PREFIXIN=eth0 OUT= MAC=... SRC=... ", trailing space
// included, without the printk level marker. Interfaces read: name,
// loopback, and whether the device has an Ethernet address (a device
// without one has no link-layer header: "MAC= ").
std::string FormatLogLine(const core::Packet& skb, core::Hook hook,
                          const core::Interface* in, const core::Interface* out,
                          const std::string& prefix, uint8_t logflags);

}  // namespace netfence::ext
