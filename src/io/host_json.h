// Reading the contract's host file (docs: shared/contract.md, `--host`):
// `{"addrs": <ip -j addr show>, "routes": <ip -j route show table all>,
//   "routes6": <ip -6 -j route show table all>, "forwarding": bool}` plus the
// optional keys this reader also understands:
//   "neigh": <ip -j neigh show>,
//   "rules" / "rules6": <ip -j rule show> / <ip -6 -j rule show> (absent:
//       the kernel's default rules),
//   "forwarding6": bool (net.ipv6.conf.all.forwarding when it differs from
//       "forwarding"),
//   "sysctl": {"net.ipv4.conf.all.rp_filter": 1, ...} (the routing sysctls
//       HostModel models; other keys are ignored).
// `ip -j route show table all` prints both families; its IPv6 entries are
// ignored when "routes6" is given (they are the same routes).
#pragma once

#include <memory>
#include <string>

#include "core/host_model.h"

namespace netfence::io {

// ParseHostJson turns the text of a host file into HostData; throws
// io::InputError("FILE: reason") on anything it cannot use.
core::HostData ParseHostJson(const std::string& text,
                             const std::string& filename);

// LoadHostFile reads and parses a host file ("-" is standard input).
std::unique_ptr<core::HostModel> LoadHostFile(const std::string& path);

}  // namespace netfence::io
