// The TCP connection tracker, following the Linux 6.x TCP conntrack
// (net/netfilter/nf_conntrack_proto_tcp.c): header sanity checks, the state
// table, the out-of-sync recovery special cases and the window tracking.
//
// Not modelled: NAT sequence adjustment (the kernel subtracts the seqadj
// offset from ACKs; we have no seqadj yet, so the offset is 0), the SYN
// proxy keep-alive exception and per-connection timeout policies
// (cttimeout); the sysctl timeouts in TcpCtConfig always apply.
#include "core/ct_proto_tcp.h"

#include "core/checksum.h"

namespace netfence::core {
namespace {

// TCP header flag bits (the 13th byte of the header).
constexpr uint8_t kThFin = 0x01;
constexpr uint8_t kThSyn = 0x02;
constexpr uint8_t kThRst = 0x04;
constexpr uint8_t kThPsh = 0x08;
constexpr uint8_t kThAck = 0x10;
constexpr uint8_t kThUrg = 0x20;
constexpr uint8_t kThEce = 0x40;
constexpr uint8_t kThCwr = 0x80;

// Per-direction TcpWindow::flags (IP_CT_TCP_FLAG_*), and the two bits the
// kernel keeps in last_flags only.
constexpr uint8_t kFlagWindowScale = 0x01;
constexpr uint8_t kFlagSackPerm = 0x02;
constexpr uint8_t kFlagCloseInit = 0x04;
constexpr uint8_t kFlagBeLiberal = 0x08;
constexpr uint8_t kFlagDataUnack = 0x10;
constexpr uint8_t kFlagMaxAckSet = 0x20;
constexpr uint8_t kFlagExpChallengeAck = 0x40;
constexpr uint8_t kFlagSimultaneousOpen = 0x80;

// The flag class of a segment: the row of the state table.
enum FlagClass : uint8_t {
  kSynSet = 0,
  kSynAckSet = 1,
  kFinSet = 2,
  kAckSet = 3,
  kRstSet = 4,
  kNoneSet = 5,
};

// TCP option kinds and lengths the tracker looks at.
constexpr uint8_t kOptEol = 0;
constexpr uint8_t kOptNop = 1;
constexpr uint8_t kOptWindow = 3;
constexpr uint8_t kOptSackPerm = 4;
constexpr uint8_t kOptSack = 5;
constexpr uint8_t kOptTimestamp = 8;
constexpr int kMaxWindowScale = 14;  // RFC 7323

// ACKs further than this below the receiver's end are "overly delayed",
// unless the sender's window is larger still.
constexpr uint32_t kMaxAckWindowConst = 66000;

constexpr uint8_t sNO = kTcpNone, sSS = kTcpSynSent, sSR = kTcpSynRecv,
                  sES = kTcpEstablished, sFW = kTcpFinWait, sCW = kTcpCloseWait,
                  sLA = kTcpLastAck, sTW = kTcpTimeWait, sCL = kTcpClose,
                  sS2 = kTcpSynSent2, sIV = kTcpMax, sIG = kTcpIgnore;

// kTransitions[dir][flag class][old state] is the new state; sIV marks a
// segment the kernel calls invalid, sIG one it lets through without
// changing state because conntrack may be out of sync with the endpoints.
// Columns: NONE SYN_SENT SYN_RECV ESTABLISHED FIN_WAIT CLOSE_WAIT LAST_ACK
// TIME_WAIT CLOSE SYN_SENT2.
constexpr uint8_t kTransitions[2][6][kTcpMax] = {
    {
        // Original direction.
        {sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2},  // SYN
        {sIV, sIV, sSR, sIV, sIV, sIV, sIV, sIV, sIV, sSR},  // SYN/ACK
        {sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV},  // FIN
        {sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL, sIV},  // ACK
        {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},  // RST
        {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},  // none
    },
    {
        // Reply direction.
        {sIV, sS2, sIV, sIV, sIV, sIV, sIV, sSS, sIV, sS2},  // SYN
        {sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR},  // SYN/ACK
        {sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV},  // FIN
        {sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG},  // ACK
        {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},  // RST
        {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},  // none
    },
};

// Sequence number comparisons modulo 2^32.
bool Before(uint32_t a, uint32_t b) { return int32_t(a - b) < 0; }
bool After(uint32_t a, uint32_t b) { return Before(b, a); }

// Segment is the part of a TCP header and its packet the tracker reads.
struct Segment {
  const Packet* skb = nullptr;
  unsigned dataoff = 0;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint16_t win = 0;
  uint8_t flags = 0;
  unsigned doff = 0;  // header length in bytes
  bool syn() const { return flags & kThSyn; }
  bool ack_set() const { return flags & kThAck; }
  bool fin() const { return flags & kThFin; }
  bool rst() const { return flags & kThRst; }
  // End is the sequence number just past the segment: the kernel counts
  // the packet's length from the skb, not from the IP length field.
  uint32_t End() const {
    uint32_t payload = uint32_t(skb->data.size() - dataoff - doff);
    return seq + payload + (syn() ? 1 : 0) + (fin() ? 1 : 0);
  }
  // Options returns the option bytes, or nullptr when the packet is cut
  // short (only possible if the header checks were skipped).
  const uint8_t* Options() const {
    return skb->HeaderPointer(dataoff + 20, doff - 20);
  }
};

// ReadSegment reads the fixed TCP header; false when the packet is too
// short for it.
bool ReadSegment(const TcpCtPacketCtx& ctx, Segment* s) {
  const uint8_t* th = ctx.skb->HeaderPointer(ctx.dataoff, 20);
  if (!th) return false;
  s->skb = ctx.skb;
  s->dataoff = ctx.dataoff;
  s->seq = Load32(th + 4);
  s->ack = Load32(th + 8);
  s->doff = (th[12] >> 4) * 4u;
  s->flags = th[13];
  s->win = Load16(th + 14);
  return true;
}

FlagClass ClassOf(const Segment& s) {
  if (s.rst()) return kRstSet;
  if (s.syn()) return s.ack_set() ? kSynAckSet : kSynSet;
  if (s.fin()) return kFinSet;
  if (s.ack_set()) return kAckSet;
  return kNoneSet;
}

// ValidFlags says whether a flag combination is one a TCP may send; PSH,
// ECE and CWR never matter.
bool ValidFlags(uint8_t flags) {
  switch (flags & ~(kThEce | kThCwr | kThPsh)) {
    case kThSyn:
    case kThSyn | kThUrg:
    case kThSyn | kThAck:
    case kThRst:
    case kThRst | kThAck:
    case kThFin | kThAck:
    case kThFin | kThAck | kThUrg:
    case kThAck:
    case kThAck | kThUrg:
      return true;
    default:
      return false;
  }
}

// ChecksumOk verifies the TCP checksum over the pseudo header and the whole
// segment (to the end of the packet, as the kernel's skb length is).
bool ChecksumOk(const Packet& p, unsigned dataoff) {
  uint32_t len = uint32_t(p.data.size() - dataoff);
  const uint8_t* d = p.data.data();
  uint32_t sum;
  if (p.family == Family::kIPv6) {
    if (p.data.size() < 40) return false;
    sum = PseudoHeaderV6(d + 8, d + 24, 6, len);
  } else {
    if (p.data.size() < 20) return false;
    sum = PseudoHeaderV4(d + 12, d + 16, 6, len);
  }
  return CsumFold(CsumPartial(d + dataoff, len, sum)) == 0;
}

// HeaderError is tcp_error: the reason a packet is refused before any
// state is looked at, or nullptr.
const char* HeaderError(const TcpCtPacketCtx& ctx, const TcpCtConfig& cfg) {
  Segment s;
  if (!ReadSegment(ctx, &s)) return "truncated packet";
  size_t tcplen = ctx.skb->data.size() - ctx.dataoff;
  if (s.doff < 20 || tcplen < s.doff) return "truncated packet";
  // Locally generated and forwarded-out packets are trusted: the kernel
  // only verifies what arrives from the wire.
  if (cfg.checksum && ctx.hook == Hook::kPrerouting &&
      !ChecksumOk(*ctx.skb, ctx.dataoff)) {
    return "bad checksum";
  }
  if (!ValidFlags(s.flags)) return "invalid tcp flag combination";
  return nullptr;
}

// ParseOptions records the window scale and SACK permission a SYN offers
// (tcp_options). A truncated or malformed option ends the walk, keeping
// what was found so far.
void ParseOptions(const Segment& s, TcpWindow& w) {
  int length = int(s.doff) - 20;
  if (length <= 0) return;
  const uint8_t* p = s.Options();
  if (!p) return;
  w.td_scale = 0;
  w.flags &= kFlagBeLiberal;
  while (length > 0) {
    uint8_t kind = *p++;
    if (kind == kOptEol) return;
    if (kind == kOptNop) {
      length--;
      continue;
    }
    if (length < 2) return;
    int size = *p++;
    if (size < 2 || size > length) return;
    if (kind == kOptSackPerm && size == 2) {
      w.flags |= kFlagSackPerm;
    } else if (kind == kOptWindow && size == 3) {
      w.td_scale = uint8_t(*p > kMaxWindowScale ? kMaxWindowScale : *p);
      w.flags |= kFlagWindowScale;
    }
    p += size - 2;
    length -= size;
  }
}

// HighestSack raises *sack to the highest right edge of the first SACK
// option's blocks (tcp_sack).
void HighestSack(const Segment& s, uint32_t* sack) {
  int length = int(s.doff) - 20;
  if (length <= 0) return;
  const uint8_t* p = s.Options();
  if (!p) return;
  // The common aligned timestamp-only layout cannot carry SACK blocks.
  if (length == 12 && p[0] == kOptNop && p[1] == kOptNop &&
      p[2] == kOptTimestamp && p[3] == 10) {
    return;
  }
  while (length > 0) {
    uint8_t kind = *p++;
    if (kind == kOptEol) return;
    if (kind == kOptNop) {
      length--;
      continue;
    }
    if (length < 2) return;
    int size = *p++;
    if (size < 2 || size > length) return;
    if (kind == kOptSack && size >= 10 && (size - 2) % 8 == 0) {
      for (int i = 0; i < size - 2; i += 8) {
        uint32_t right = Load32(p + i + 4);
        if (After(right, *sack)) *sack = right;
      }
      return;
    }
    p += size - 2;
    length -= size;
  }
}

// InitSender (re)starts tracking one direction from its SYN or SYN/ACK.
// Window scaling only holds if both ends offered it, which is known once
// the reply's SYN/ACK is seen.
void InitSender(TcpWindow& sender, TcpWindow& receiver, const Segment& s,
                uint32_t end, CtDir dir) {
  sender.td_end = end;
  sender.td_maxend = end;
  sender.td_maxwin = s.win == 0 ? 1 : s.win;
  ParseOptions(s, sender);
  if (dir == kDirReply && !((sender.flags & kFlagWindowScale) &&
                            (receiver.flags & kFlagWindowScale))) {
    sender.td_scale = 0;
    receiver.td_scale = 0;
  }
}

uint32_t MaxAckWindow(const TcpWindow& sender) {
  return sender.td_maxwin > kMaxAckWindowConst ? sender.td_maxwin
                                               : kMaxAckWindowConst;
}

// WindowAction is tcp_in_window's verdict: IGNORE accepts the packet but
// leaves state and timeout alone.
enum class WindowAction { kIgnore, kInvalid, kAccept };

struct WindowResult {
  WindowAction action = WindowAction::kAccept;
  const char* reason = nullptr;
};

// Refuse reports a window failure, unless liberal tracking (for this
// sender or globally) accepts whatever the window says.
WindowResult Refuse(const TcpWindow& sender, const TcpCtConfig& cfg,
                    WindowAction action, const char* reason) {
  if ((sender.flags & kFlagBeLiberal) || cfg.be_liberal) return {};
  return {action, reason};
}

// PickUpSender initialises a direction seen for the first time in the
// middle of a connection, from the data the segment carries.
void PickUpSender(TcpWindow& sender, TcpWindow& receiver, const Segment& s,
                  uint32_t end, uint32_t sack) {
  sender.td_end = end;
  uint32_t swin = uint32_t(s.win) << sender.td_scale;
  sender.td_maxwin = swin == 0 ? 1 : swin;
  sender.td_maxend = end + sender.td_maxwin;
  if (receiver.td_maxwin == 0) {
    // Nothing seen the other way: make the ACK bounds pass until it is.
    receiver.td_end = receiver.td_maxend = sack;
  } else if (sack == receiver.td_end + 1) {
    // Probably answering a keep-alive, which acks one byte further.
    receiver.td_end++;
  }
}

// UpdateWindows records an in-window segment in both directions' state and
// notes exact repeats of ACK segments (retransmissions).
void UpdateWindows(TcpConnState& st, CtDir dir, FlagClass cls, const Segment& s,
                   uint32_t seq, uint32_t ack, uint32_t sack, uint32_t end) {
  TcpWindow& sender = st.seen[dir];
  TcpWindow& receiver = st.seen[!dir];
  uint32_t win = s.win;
  if (!s.syn()) win <<= sender.td_scale;
  uint32_t swin = win + (sack - ack);
  if (sender.td_maxwin < swin) sender.td_maxwin = swin;
  if (After(end, sender.td_end)) {
    sender.td_end = end;
    sender.flags |= kFlagDataUnack;
  }
  if (s.ack_set()) {
    if (!(sender.flags & kFlagMaxAckSet)) {
      sender.td_maxack = ack;
      sender.flags |= kFlagMaxAckSet;
    } else if (After(ack, sender.td_maxack)) {
      sender.td_maxack = ack;
    }
  }
  if (receiver.td_maxwin != 0 && After(end, sender.td_maxend)) {
    receiver.td_maxwin += end - sender.td_maxend;
  }
  if (After(sack + win, receiver.td_maxend - 1)) {
    receiver.td_maxend = sack + win;
    if (win == 0) receiver.td_maxend++;
  }
  if (ack == receiver.td_end) receiver.flags &= ~kFlagDataUnack;
  if (cls != kAckSet) return;
  if (st.last_dir == dir && st.last_seq == seq && st.last_ack == ack &&
      st.last_end == end && st.last_win == s.win) {
    st.retrans++;
  } else {
    st.last_dir = dir;
    st.last_seq = seq;
    st.last_ack = ack;
    st.last_end = end;
    st.last_win = s.win;
    st.retrans = 0;
  }
}

// InWindow is tcp_in_window: checks the segment against the windows both
// ends advertised (RFC 793 bounds, after van Rooij) and updates them.
WindowResult InWindow(TcpConnState& st, CtDir dir, FlagClass cls,
                      const Segment& s, const TcpCtConfig& cfg) {
  TcpWindow& sender = st.seen[dir];
  TcpWindow& receiver = st.seen[!dir];
  uint32_t seq = s.seq, ack = s.ack, sack = s.ack;
  uint32_t end = s.End();
  if (receiver.flags & kFlagSackPerm) HighestSack(s, &sack);

  if (sender.td_maxwin == 0) {
    if (s.syn()) {
      InitSender(sender, receiver, s, end, dir);
      // A bare SYN from the reply side (simultaneous open) has nothing to
      // acknowledge yet.
      if (!s.ack_set()) return {};
    } else {
      PickUpSender(sender, receiver, s, end, sack);
    }
  } else if (s.syn() && After(end, sender.td_end) &&
             (st.state == kTcpSynSent || st.state == kTcpSynRecv)) {
    // A reinitialised endpoint may restart with higher sequence numbers
    // and different options (RFC 793): track it afresh.
    InitSender(sender, receiver, s, end, dir);
    if (dir == kDirReply && !s.ack_set()) return {};
  }

  if (!s.ack_set()) {
    ack = sack = receiver.td_end;
  } else if (s.rst() && ack == 0) {
    // Some stacks send RST+ACK with a zero ACK: judge it as if unset.
    ack = sack = receiver.td_end;
  }
  if (s.rst() && seq == 0 && st.state == kTcpSynSent) {
    // A RST answering our SYN carries no sequence number of its own.
    seq = end = sender.td_end;
  }

  if (!Before(seq, sender.td_maxend + 1)) {
    uint32_t overshot = end - sender.td_maxend + 1;
    bool ack_ok = After(sack, receiver.td_end - MaxAckWindow(sender) - 1);
    bool in_recv_win = receiver.td_maxwin &&
                       After(end, sender.td_end - receiver.td_maxwin - 1);
    if (in_recv_win && ack_ok && overshot <= receiver.td_maxwin &&
        Before(sack, receiver.td_end + 1)) {
      // Some TCPs overrun the receive window a little. Remember the data
      // so that the peer's ACK of it is not itself out of bounds later.
      sender.td_end = end;
      sender.flags |= kFlagDataUnack;
      return Refuse(sender, cfg, WindowAction::kIgnore,
                    "more bytes than the receive window allows");
    }
    return Refuse(sender, cfg, WindowAction::kInvalid,
                  "SEQ is over upper bound (over the window of the receiver)");
  }
  if (!Before(sack, receiver.td_end + 1)) {
    return Refuse(sender, cfg, WindowAction::kInvalid,
                  "ACK is over upper bound (ACKed data not seen yet)");
  }
  if (receiver.td_maxwin &&
      !After(end, sender.td_end - receiver.td_maxwin - 1)) {
    return Refuse(sender, cfg, WindowAction::kIgnore,
                  "SEQ is under lower bound (already ACKed data "
                  "retransmitted)");
  }
  if (!After(sack, receiver.td_end - MaxAckWindow(sender) - 1)) {
    return Refuse(sender, cfg, WindowAction::kIgnore,
                  "ignored ACK under lower bound (possible overly delayed)");
  }
  UpdateWindows(st, dir, cls, s, seq, ack, sack, end);
  return {};
}

// ResetWindow forgets a direction's tracking, keeping only its liberal
// bit (nf_ct_tcp_state_reset).
void ResetWindow(TcpWindow& w) {
  uint8_t liberal = w.flags & kFlagBeLiberal;
  w = TcpWindow{};
  w.flags = liberal;
}

double Remaining(const Conn& conn, double now) {
  return conn.expires > now ? conn.expires - now : 0;
}

// ShortenAfterInvalid is nf_tcp_handle_invalid: an assured connection
// whose FIN/RST exchange looks out of window in both directions is
// probably dead, so its long timeout drops to the unacknowledged one.
void ShortenAfterInvalid(Conn& conn, CtDir dir, FlagClass cls,
                         const TcpCtPacketCtx& ctx, const TcpCtConfig& cfg) {
  uint32_t status = conn.status.load();
  if (!(status & kIpsAssured) || (status & kIpsFixedTimeout)) return;
  if (cls != kRstSet && cls != kFinSet) return;
  TcpConnState& st = conn.tcp();
  if (st.last_dir != dir &&
      (st.last_index == kFinSet || st.last_index == kRstSet)) {
    double left = Remaining(conn, ctx.now);
    if (left < 120) return;
    double unack = cfg.timeouts[kTcpUnack];
    if (left > unack) conn.expires = ctx.now + unack;
  } else {
    st.last_index = cls;
    st.last_dir = dir;
  }
}

TcpCtResult Invalid(const char* reason) {
  TcpCtResult r;
  r.verdict = -1;  // -NF_ACCEPT
  r.reason = reason;
  return r;
}

// Ignored accepts a packet without touching state or timeout.
TcpCtResult Ignored(const char* reason) {
  TcpCtResult r;
  r.reason = reason;
  return r;
}

// NoteIgnored remembers an ignored segment (last_*): a later SYN/ACK or
// RST from the other end tells whether the endpoints took it as valid.
void NoteIgnored(TcpConnState& st, CtDir dir, FlagClass cls, const Segment& s,
                 uint8_t old_state) {
  st.last_index = cls;
  st.last_dir = dir;
  st.last_seq = s.seq;
  st.last_end = s.End();
  st.last_win = s.win;
  if (cls == kSynSet && dir == kDirOriginal) {
    // Keep the SYN's options for the case the server accepts it. In
    // LAST_ACK the server may answer with an RFC 5961 challenge ACK that
    // must not be taken for the ACK of our FIN.
    TcpWindow opts;
    ParseOptions(s, opts);
    st.last_flags = 0;
    st.last_wscale = 0;
    if (opts.flags & kFlagWindowScale) {
      st.last_flags |= kFlagWindowScale;
      st.last_wscale = opts.td_scale;
    }
    if (opts.flags & kFlagSackPerm) st.last_flags |= kFlagSackPerm;
    if (old_state == kTcpLastAck) st.last_flags |= kFlagExpChallengeAck;
  }
  // Remember what a challenge ACK to a SYN acks, for a RST that follows.
  if (old_state == kTcpSynSent && cls == kAckSet && dir == kDirReply) {
    st.last_ack = s.ack;
  }
}

// ResyncFromIgnoredSyn handles a SYN/ACK answering a SYN we ignored: the
// endpoints are in sync and we are not, so adopt the ignored SYN as the
// start of a new handshake.
void ResyncFromIgnoredSyn(TcpConnState& st, CtDir dir) {
  TcpWindow& syn_side = st.seen[st.last_dir];
  syn_side.td_end = st.last_end;
  syn_side.td_maxend = st.last_end;
  syn_side.td_maxwin = st.last_win == 0 ? 1 : st.last_win;
  syn_side.td_scale = st.last_wscale;
  st.last_flags &= ~kFlagExpChallengeAck;
  syn_side.flags = st.last_flags;
  ResetWindow(st.seen[dir]);
}

// Established is nf_conntrack_tcp_established.
bool Established(const Conn& conn) {
  return conn.tcp().state == kTcpEstablished &&
         (conn.status.load() & kIpsAssured);
}

// CheckRst refines a RST's move to CLOSE. It returns 1 to accept without
// the window check, 0 to go on to the window check (*keep_state: stay in
// the old state) and -1 when the RST is invalid.
int CheckRst(const Conn& conn, CtDir dir, const Segment& s, uint8_t old_state,
             const TcpCtConfig& cfg, bool* keep_state) {
  const TcpConnState& st = conn.tcp();
  // In closing states the tuple may already be reused by a new
  // connection, so the recorded sequence state means nothing.
  if (old_state == kTcpFinWait || old_state == kTcpCloseWait ||
      old_state == kTcpLastAck || old_state == kTcpTimeWait ||
      old_state == kTcpClose) {
    return 1;
  }
  // td_maxack is stale if the last thing we let through was a SYN.
  if ((st.seen[!dir].flags & kFlagMaxAckSet) && st.last_index != kSynSet) {
    const uint32_t maxack = st.seen[!dir].td_maxack;
    // A zero-sequence RST before establishment most likely answers a SYN
    // we let through.
    if (s.seq == 0 && !Established(conn)) return 0;
    if (Before(s.seq, maxack) && !cfg.ignore_invalid_rst) return -1;
    if (!Established(conn) || s.seq == maxack) return 0;
    // A RST right after the sender's own last data segment ends a burst.
    if (st.last_index == kAckSet && st.last_dir == dir &&
        s.seq == st.last_end) {
      return 0;
    }
    // Not exactly at the peer's ACK: keep the state, the peer may answer
    // with a challenge ACK (RFC 5961) and the connection live on.
    *keep_state = true;
  }
  uint32_t status = conn.status.load();
  // A RST answering a SYN (a) or half-open ACK (c) we ignored ends the
  // entry; it may ack data we never tracked, so skip the window check.
  bool answers_ignored =
      ((status & kIpsSeenReply) && st.last_index == kSynSet) ||
      (!(status & kIpsAssured) && st.last_index == kAckSet);
  if (answers_ignored && s.ack == st.last_end) return 1;
  // RST after a challenge ACK we let through in SYN_SENT.
  if (old_state == kTcpSynSent && st.last_index == kAckSet &&
      st.last_dir == kDirReply && s.seq == st.last_ack) {
    return 1;
  }
  return 0;
}

// Choose the timeout for an accepted segment: a connection that keeps
// retransmitting, has unacknowledged data or a zero window gets a shorter
// one than its state's.
double ChooseTimeout(const TcpConnState& st, uint8_t new_state, FlagClass cls,
                     const TcpCtConfig& cfg) {
  const double* t = cfg.timeouts;
  if (st.retrans >= cfg.max_retrans && t[new_state] > t[kTcpRetrans]) {
    return t[kTcpRetrans];
  }
  if (cls == kRstSet) return t[kTcpClose];
  if (((st.seen[0].flags | st.seen[1].flags) & kFlagDataUnack) &&
      t[new_state] > t[kTcpUnack]) {
    return t[kTcpUnack];
  }
  if (st.last_win == 0 && t[new_state] > t[kTcpRetrans]) {
    return t[kTcpRetrans];
  }
  return t[new_state];
}

// Commit moves an accepted segment's connection to new_state and decides
// the timeout, ASSURED and the early kill of connections refused by RST.
TcpCtResult Commit(Conn& conn, const TcpCtPacketCtx& ctx,
                   const TcpCtConfig& cfg, const Segment& s, FlagClass cls,
                   uint8_t old_state, uint8_t new_state) {
  TcpConnState& st = conn.tcp();
  CtDir dir = ctx.dir;
  st.last_index = cls;
  st.last_dir = dir;
  st.state = new_state;
  if (old_state != new_state && new_state == kTcpFinWait) {
    st.seen[dir].flags |= kFlagCloseInit;
  }
  double timeout = ChooseTimeout(st, new_state, cls, cfg);
  TcpCtResult r;
  uint32_t status = conn.status.load();
  if (!(status & kIpsSeenReply)) {
    // Refused at once: nothing worth keeping.
    if (s.rst()) {
      r.kill = true;
      return r;
    }
    // SYN retransmissions must not extend the entry, or a client (or NAT)
    // reusing the port could keep it alive for ever.
    if (cls == kSynSet && old_state == kTcpSynSent) return r;
    // A picked-up connection has not proven itself yet.
    if (new_state == kTcpEstablished && timeout > cfg.timeouts[kTcpUnack]) {
      timeout = cfg.timeouts[kTcpUnack];
    }
  } else if (!(status & kIpsAssured) &&
             (old_state == kTcpSynRecv || old_state == kTcpEstablished) &&
             new_state == kTcpEstablished) {
    // Handshake completed, or a picked-up connection got its answer.
    conn.status.fetch_or(kIpsAssured);
  }
  r.refresh = true;
  r.timeout = timeout;
  if (!(conn.status.load() & kIpsFixedTimeout))
    conn.expires = ctx.now + timeout;
  return r;
}

}  // namespace

bool TcpCtHeaderOk(const TcpCtPacketCtx& ctx, const TcpCtConfig& cfg) {
  return HeaderError(ctx, cfg) == nullptr;
}

bool TcpCtNew(Conn& conn, const TcpCtPacketCtx& ctx, const TcpCtConfig& cfg) {
  Segment s;
  if (!ReadSegment(ctx, &s) || s.doff < 20) return false;
  uint8_t first = kTransitions[kDirOriginal][ClassOf(s)][kTcpNone];
  if (first >= kTcpMax) return false;
  if (first != kTcpSynSent && !cfg.loose) return false;
  conn.tcp() = TcpConnState{};
  TcpWindow& w = conn.tcp().seen[0];
  w.td_end = s.End();
  w.td_maxwin = s.win == 0 ? 1 : s.win;
  if (first == kTcpSynSent) {
    w.td_maxend = w.td_end;
    ParseOptions(s, w);
  } else {
    // Picked up mid-stream: the handshake's window scale is unknown, so
    // assume SACK and check windows liberally in both directions.
    w.td_maxend = w.td_end + w.td_maxwin;
    conn.tcp().seen[0].flags = conn.tcp().seen[1].flags =
        kFlagSackPerm | kFlagBeLiberal;
  }
  conn.tcp().last_index = kNoneSet;
  return true;
}

namespace {

// Track is nf_conntrack_tcp_packet proper; TcpCtPacket wraps it.
TcpCtResult Track(Conn& conn, const TcpCtPacketCtx& ctx,
                  const TcpCtConfig& cfg) {
  if (const char* why = HeaderError(ctx, cfg)) return Invalid(why);
  Segment s;
  ReadSegment(ctx, &s);
  // The entry is new until confirmed; TcpCtNew is idempotent, so callers
  // may also have run it themselves.
  if (!(conn.status.load() & kIpsConfirmed) && !TcpCtNew(conn, ctx, cfg)) {
    return Invalid("invalid new");
  }
  TcpConnState& st = conn.tcp();
  uint8_t old_state = st.state;
  if (old_state >= kTcpMax) return Invalid("corrupt state");
  CtDir dir = ctx.dir;
  FlagClass cls = ClassOf(s);
  uint8_t new_state = kTransitions[dir][cls][old_state];

  switch (new_state) {
    case kTcpSynSent:
      if (old_state >= kTcpTimeWait) {
        // A SYN reopening a closed or aborted connection (RFC 1122 allows
        // it from TIME_WAIT): the entry is replaced by a fresh one.
        uint8_t both = st.seen[dir].flags | st.seen[!dir].flags;
        if ((both & kFlagCloseInit) ||
            (st.last_dir == dir && st.last_index == kRstSet)) {
          TcpCtResult r;
          r.verdict = kTcpCtRepeat;
          r.reason = "reopening a closed connection";
          return r;
        }
        new_state = kTcpIgnore;  // otherwise it is ignored, as below
      }
      break;
    default:
      break;
  }

  bool skip_window = false;
  switch (new_state) {
    case kTcpIgnore:
      // Out-of-sync signals: a SYN in the original direction, a SYN/ACK
      // in reply, an ACK answering a SYN. Let them through unchanged; if
      // they are wrong, the endpoint's RST will tell us.
      if (cls == kSynAckSet && st.last_index == kSynSet && st.last_dir != dir &&
          s.ack == st.last_end) {
        ResyncFromIgnoredSyn(st, dir);
        old_state = kTcpSynSent;
        new_state = kTcpSynRecv;
        break;
      }
      NoteIgnored(st, dir, cls, s, old_state);
      return Ignored("packet ignored (conntrack may be out of sync)");
    case kTcpMax:
      return Invalid("packet invalid in this state");
    case kTcpTimeWait:
      // An RFC 5961 challenge ACK to an ignored SYN in LAST_ACK does not
      // acknowledge the last FIN.
      if (old_state == kTcpLastAck && cls == kAckSet && st.last_dir != dir &&
          st.last_index == kSynSet && (st.last_flags & kFlagExpChallengeAck)) {
        st.last_flags &= ~kFlagExpChallengeAck;
        return Ignored("challenge-ack ignored");
      }
      break;
    case kTcpSynSent2:
      // The table alone cannot tell a simultaneous open's final ACK.
      st.last_flags |= kFlagSimultaneousOpen;
      break;
    case kTcpSynRecv:
      if (dir == kDirReply && cls == kAckSet &&
          (st.last_flags & kFlagSimultaneousOpen)) {
        new_state = kTcpEstablished;
      }
      break;
    case kTcpClose: {
      if (cls != kRstSet) break;
      bool keep = false;
      int rst = CheckRst(conn, dir, s, old_state, cfg, &keep);
      if (rst < 0) return Invalid("invalid rst");
      if (keep) new_state = old_state;
      skip_window = rst > 0;
      break;
    }
    default:
      break;
  }

  if (!skip_window) {
    WindowResult w = InWindow(st, dir, cls, s, cfg);
    if (w.action == WindowAction::kIgnore) return Ignored(w.reason);
    if (w.action == WindowAction::kInvalid) {
      ShortenAfterInvalid(conn, dir, cls, ctx, cfg);
      return Invalid(w.reason);
    }
  }
  return Commit(conn, ctx, cfg, s, cls, old_state, new_state);
}

}  // namespace

TcpCtResult TcpCtPacket(Conn& conn, const TcpCtPacketCtx& ctx,
                        const TcpCtConfig& cfg) {
  TcpCtResult r = Track(conn, ctx, cfg);
  // A caller that applies `timeout` without looking at `refresh` must not
  // cut short the life of an entry whose packet the kernel ignored.
  if (r.verdict > 0 && !r.refresh && !r.kill) {
    r.timeout = Remaining(conn, ctx.now);
  }
  return r;
}

}  // namespace netfence::core
