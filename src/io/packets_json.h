// The contract's packet input (JSON lines) and result output.
#pragma once

#include <string>
#include <vector>

#include "core/host.h"
#include "core/packet.h"
#include "core/stack.h"

namespace netfence::io {

// InputPacket is one line of a packets file.
struct InputPacket {
  int line = 0;
  bool local = false;
  const core::Interface* iface = nullptr;  // arriving interface
  core::Packet pkt;
};

// ReadPackets parses a whole packets file; throws InputError naming the
// file, the line and the reason for the first bad line.
std::vector<InputPacket> ReadPackets(const std::string& path,
                                     const std::string& text,
                                     const core::Host& host);

// FormatOutcome renders one result line of the contract (no newline).
std::string FormatOutcome(int n, const core::Outcome& o);

}  // namespace netfence::io
