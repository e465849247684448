// Conntrack helpers (nf_conntrack_helper): the per-protocol code the kernel
// runs on a connection's packets as they leave the last hook (nf_confirm),
// which reads their payload and announces the connections that will follow
// (expectations, core/ct_expect.h). Modelled: ftp (PORT / EPRT from the
// client, 227 / 229 replies from the server, loose=0), tftp (RRQ / WRQ),
// netbios-ns and snmp (broadcast queries). What the kernel's NAT helpers do
// (rewriting the payload of a NATed connection, sequence adjustment) is not
// modelled: a helper that would hand a NATed connection's packet to them, or
// a helper that is not modelled at all seeing a payload, throws
// std::runtime_error rather than answer wrongly.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/conn.h"
#include "core/ct_expect.h"
#include "core/host.h"
#include "core/packet.h"
#include "core/xt.h"

namespace netfence::core {

// CtHelperPacket is one packet handed to a connection's helper.
struct CtHelperPacket {
  Packet* skb = nullptr;
  Conn* ct = nullptr;
  CtInfo ctinfo = CtInfo::kNew;
  const Interface* out = nullptr;  // output device (POSTROUTING), else null
  double now = 0;
};

// FtpCommand is what the FTP helper read from a command or reply.
struct FtpCommand {
  Addr addr;          // the address announced (the sender's when none)
  uint16_t port = 0;  // the port announced
};

// FtpSearch runs the kernel's FTP patterns of one direction on a payload
// (PORT, EPRT from the client; "227 ", "229 " from the server): 1 when a
// command parsed (cmd filled), 0 when none is there, -1 for a partial or
// malformed one (the kernel drops such a packet). cmd.addr must hold the
// sender's address on entry (EPSV announces none).
int FtpSearch(std::string_view data, CtDir dir, Family f, FtpCommand& cmd);

// CtHelpers runs the helpers of one namespace and owns its expectations.
// Not thread-safe: the owning Conntrack's mutex guards it.
class CtHelpers {
 public:
  // Help runs ct's helper on a packet leaving the last hook; returns
  // kAccept or kDrop. Throws std::runtime_error where the kernel's answer
  // is not modelled (see above).
  Verdict Help(const CtHelperPacket& p);
  // Adopt is init_conntrack's expectation lookup for a new connection: when
  // its original tuple was expected, it becomes RELATED to the master
  // (master, IPS_EXPECTED, the master's mark and secmark) and true is
  // returned.
  bool Adopt(Conn& ct, double now);
  // Forget is called when an entry is destroyed: its expectations and
  // helper state go with it.
  void Forget(const Conn* ct);
  // ListExpectations prints the expectations as /proc/net/
  // nf_conntrack_expect does.
  std::vector<std::string> ListExpectations(double now) const {
    return exp_.List(now);
  }
  CtExpectTable& expectations() { return exp_; }

  bool ftp_loose = false;      // nf_conntrack_ftp loose=
  double netbios_timeout = 3;  // nf_conntrack_netbios_ns timeout=
  double snmp_timeout = 30;    // nf_conntrack_snmp timeout=

 private:
  // The FTP helper's memory of where lines start, per direction
  // (nf_ct_ftp_master).
  struct FtpState {
    uint32_t seq_aft_nl[2][2] = {};
    uint8_t num[2] = {0, 0};
  };
  Verdict Ftp(const CtHelperPacket& p, unsigned protoff);
  Verdict GateTcp(const CtHelperPacket& p, unsigned protoff);
  Verdict Sane(const CtHelperPacket& p, unsigned protoff);
  Verdict Amanda(const CtHelperPacket& p, unsigned protoff);
  Verdict Tftp(const CtHelperPacket& p, unsigned protoff);
  Verdict Broadcast(const CtHelperPacket& p, double timeout);
  CtExpectTable exp_;
  std::unordered_map<const Conn*, FtpState> ftp_;
  // sane: connections whose client asked SANE_NET_START last
  // (nf_ct_sane_master's state).
  std::unordered_map<const Conn*, bool> sane_;
};

}  // namespace netfence::core
