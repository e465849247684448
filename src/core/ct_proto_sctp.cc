#include "core/ct_proto_sctp.h"

#include <array>
#include <bitset>

namespace netfence::core {

namespace {

// SCTP chunk types (RFC 9260).
enum : uint8_t {
  kChunkData = 0,
  kChunkInit = 1,
  kChunkInitAck = 2,
  kChunkHeartbeat = 4,
  kChunkHeartbeatAck = 5,
  kChunkAbort = 6,
  kChunkShutdown = 7,
  kChunkShutdownAck = 8,
  kChunkError = 9,
  kChunkCookieEcho = 10,
  kChunkCookieAck = 11,
  kChunkShutdownComplete = 14,
};
constexpr uint8_t kChunkFlagT = 0x01;  // the tag is the sender's own

constexpr unsigned kCommonHeader = 12;  // ports, tag, checksum
constexpr unsigned kChunkHeader = 4;    // type, flags, length
constexpr unsigned kInitHeader = 16;    // tag, a_rwnd, streams, TSN

// Short names for the table below.
constexpr uint8_t NO = kSctpNone, CL = kSctpClosed, CW = kSctpCookieWait,
                  CE = kSctpCookieEchoed, ES = kSctpEstablished,
                  SS = kSctpShutdownSent, SR = kSctpShutdownRecd,
                  SA = kSctpShutdownAckSent, HS = kSctpHeartbeatSent,
                  XX = kSctpMax;

// The chunk types the state machine reacts to, in table row order.
constexpr std::array<uint8_t, 11> kTableChunks = {
    kChunkInit,       kChunkInitAck,     kChunkAbort,
    kChunkShutdown,   kChunkShutdownAck, kChunkError,
    kChunkCookieEcho, kChunkCookieAck,   kChunkShutdownComplete,
    kChunkHeartbeat,  kChunkHeartbeatAck};

// kNext[dir][row][state]: the state after a chunk; columns are the states
// NONE .. HEARTBEAT_SENT. Written down from the kernel's behaviour.
constexpr uint8_t kNext[2][11][9] = {
    {
        // original direction
        {CL, CL, CW, CE, ES, CL, CL, SA, CW},  // INIT
        {CL, CL, CW, CE, ES, SS, SR, SA, CL},  // INIT ACK
        {CL, CL, CL, CL, CL, CL, CL, CL, CL},  // ABORT
        {CL, CL, CW, CE, SS, SS, SR, SA, CL},  // SHUTDOWN
        {SA, CL, CW, CE, ES, SA, SA, SA, SA},  // SHUTDOWN ACK
        {CL, CL, CW, CE, ES, SS, SR, SA, CL},  // ERROR
        {CL, CL, CE, CE, ES, SS, SR, SA, CL},  // COOKIE ECHO
        {CL, CL, CW, ES, ES, SS, SR, SA, CL},  // COOKIE ACK
        {CL, CL, CW, CE, ES, SS, SR, CL, CL},  // SHUTDOWN COMPLETE
        {HS, CL, CW, CE, ES, SS, SR, SA, HS},  // HEARTBEAT
        {CL, CL, CW, CE, ES, SS, SR, SA, HS},  // HEARTBEAT ACK
    },
    {
        // reply direction
        {XX, CL, CW, CE, ES, SS, SR, SA, XX},  // INIT
        {XX, CW, CW, CE, ES, SS, SR, SA, XX},  // INIT ACK
        {XX, CL, CL, CL, CL, CL, CL, CL, XX},  // ABORT
        {XX, CL, CW, CE, SR, SS, SR, SA, XX},  // SHUTDOWN
        {XX, CL, CW, CE, ES, SA, SA, SA, XX},  // SHUTDOWN ACK
        {XX, CL, CW, CL, ES, SS, SR, SA, XX},  // ERROR
        {XX, CL, CE, CE, ES, SS, SR, SA, XX},  // COOKIE ECHO
        {XX, CL, CW, ES, ES, SS, SR, SA, XX},  // COOKIE ACK
        {XX, CL, CW, CE, ES, SS, SR, CL, XX},  // SHUTDOWN COMPLETE
        {XX, CL, CW, CE, ES, SS, SR, SA, HS},  // HEARTBEAT
        {XX, CL, CW, CE, ES, SS, SR, SA, ES},  // HEARTBEAT ACK
    },
};

// Chunk is one chunk header as found while walking a packet.
struct Chunk {
  unsigned offset = 0;  // of the chunk header
  uint8_t type = 0;
  uint8_t flags = 0;
  uint16_t length = 0;
};

// ForEachChunk walks the chunks after the common header while a whole
// chunk header is present, each padded to 4 bytes; fn returns false to
// stop. Returns the number of chunks visited.
template <typename Fn>
unsigned ForEachChunk(const Packet& skb, unsigned dataoff, Fn fn) {
  const size_t len = skb.data.size();
  unsigned count = 0;
  for (size_t off = size_t(dataoff) + kCommonHeader; off < len; ++count) {
    const uint8_t* h = skb.HeaderPointer(off, kChunkHeader);
    if (h == nullptr) break;
    Chunk c{unsigned(off), h[0], h[1], Load16(h + 2)};
    if (!fn(c, count)) return count + 1;
    off += (size_t(c.length) + 3) & ~size_t(3);
  }
  return count;
}

using ChunkMap = std::bitset<256>;

// BasicChecks collects the chunk types present; false when the packet has
// no chunk, a zero-length chunk, or a chunk that must come first (COOKIE
// ECHO / ACK) or alone (INIT, INIT ACK, SHUTDOWN COMPLETE) that does not.
bool BasicChecks(const Packet& skb, unsigned dataoff, ChunkMap& map) {
  bool ok = true;
  bool must_be_alone = false;
  unsigned n = ForEachChunk(skb, dataoff, [&](const Chunk& c, unsigned i) {
    if (c.type == kChunkInit || c.type == kChunkInitAck ||
        c.type == kChunkShutdownComplete)
      must_be_alone = true;
    const bool must_be_first = c.type == kChunkCookieAck ||
                               c.type == kChunkCookieEcho || must_be_alone;
    if ((must_be_first && i != 0) || c.length == 0) {
      ok = false;
      return false;
    }
    map.set(c.type);
    return true;
  });
  return ok && n != 0;
}

// InitTag reads the initiate tag of an INIT or INIT ACK chunk.
bool InitTag(const Packet& skb, const Chunk& c, uint32_t& tag) {
  const uint8_t* p = skb.HeaderPointer(c.offset + kChunkHeader, kInitHeader);
  if (p == nullptr) return false;
  tag = Load32(p);
  return true;
}

// NewConnection is the check for a packet creating an entry: every chunk
// must be one that may open a connection; it records the tags the first
// packet tells (sctp_new). False: the packet is invalid.
bool NewConnection(SctpConnState& st, const Packet& skb, unsigned dataoff,
                   uint32_t vtag) {
  st = SctpConnState{};
  bool ok = true;
  ForEachChunk(skb, dataoff, [&](const Chunk& c, unsigned) {
    const uint8_t next = SctpCtNextState(kDirOriginal, kSctpNone, c.type);
    if (next == kSctpNone || next == kSctpMax) {
      ok = false;
      return false;
    }
    if (c.type == kChunkInit) {
      uint32_t tag;
      // An INIT carries tag 0: the peer's tag is still unknown.
      if (vtag != 0 || !InitTag(skb, c, tag)) {
        ok = false;
        return false;
      }
      st.vtag[kDirReply] = tag;
    } else if (c.type == kChunkHeartbeat) {
      st.vtag[kDirOriginal] = vtag;
    } else {
      // An out-of-the-blue packet: the answer (SHUTDOWN COMPLETE or
      // ABORT) reflects its tag.
      st.vtag[kDirReply] = vtag;
    }
    st.state = kSctpNone;
    return true;
  });
  return ok;
}

uint8_t InitFlag(CtDir d) {
  return d == kDirOriginal ? kSctpFlagInitOrig : kSctpFlagInitReply;
}

// Invalid builds the answer for an invalid packet.
SctpCtResult Invalid(const char* why) {
  SctpCtResult r;
  r.verdict = kSctpCtInvalid;
  r.reason = why;
  return r;
}

// TagOk checks a chunk whose tag may be either side's, chosen by its T
// flag (ABORT, SHUTDOWN COMPLETE).
bool TBitTagOk(const SctpConnState& st, const Chunk& c, CtDir dir,
               uint32_t vtag) {
  const CtDir which = (c.flags & kChunkFlagT) ? CtDir(!dir) : dir;
  return vtag == st.vtag[which];
}

// HeartbeatTag handles the tag of a HEARTBEAT or HEARTBEAT ACK: learnt when
// unknown; a mismatch may mean the peer restarted (multihoming, a new
// association on the same ports), which a HEARTBEAT flags and the
// HEARTBEAT ACK the other way confirms. Returns 1 to go on, 0 to skip the
// chunk (and not renew the timeout), -1 for an invalid packet.
int HeartbeatTag(SctpConnState& st, const Chunk& c, CtDir dir, uint32_t vtag,
                 const ChunkMap& map, bool& ignore) {
  const uint8_t last_dir =
      dir == kDirReply ? kSctpFlagLastDirReply : uint8_t(0);
  if (st.vtag[dir] == 0) {
    st.vtag[dir] = vtag;
    return 1;
  }
  if (vtag == st.vtag[dir]) {
    st.flags &= ~kSctpFlagHeartbeatVtagFailed;
    return 1;
  }
  if (map.test(kChunkData) || ignore) return -1;
  if (c.type == kChunkHeartbeat) {
    st.flags |= kSctpFlagHeartbeatVtagFailed;
    st.flags = uint8_t((st.flags & ~kSctpFlagLastDirReply) | last_dir);
    ignore = true;
    return 0;
  }
  if (!(st.flags & kSctpFlagHeartbeatVtagFailed) ||
      (st.flags & kSctpFlagLastDirReply) == last_dir)
    return -1;
  st.flags &= ~kSctpFlagHeartbeatVtagFailed;
  st.vtag[dir] = vtag;
  st.vtag[!dir] = 0;
  return 1;
}

}  // namespace

double SctpCtConfig::Timeout(uint8_t state) const {
  switch (state) {
    case kSctpNone:
    case kSctpClosed:
      return timeout_closed;
    case kSctpCookieWait:
      return timeout_cookie_wait;
    case kSctpCookieEchoed:
      return timeout_cookie_echoed;
    case kSctpEstablished:
      return timeout_established;
    case kSctpShutdownSent:
      return timeout_shutdown_sent;
    case kSctpShutdownRecd:
      return timeout_shutdown_recd;
    case kSctpShutdownAckSent:
      return timeout_shutdown_ack_sent;
    case kSctpHeartbeatSent:
      return timeout_heartbeat_sent;
    default:
      return 0;
  }
}

uint8_t SctpCtNextState(CtDir dir, uint8_t state, uint8_t chunk_type) {
  for (size_t row = 0; row < kTableChunks.size(); ++row) {
    if (kTableChunks[row] != chunk_type) continue;
    if (state > kSctpHeartbeatSent) return kSctpMax;
    return kNext[dir][row][state];
  }
  return state;
}

const char* SctpCtStateName(uint8_t state) {
  static const char* const kNames[] = {
      "NONE",           "CLOSED",         "COOKIE_WAIT",   "COOKIE_ECHOED",
      "ESTABLISHED",    "SHUTDOWN_SENT",  "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT",
      "HEARTBEAT_SENT", "HEARTBEAT_ACKED"};
  return state < kSctpMax ? kNames[state] : "UNKNOWN";
}

bool SctpCtCanEarlyDrop(const SctpConnState& st) {
  return st.state == kSctpShutdownSent || st.state == kSctpShutdownRecd ||
         st.state == kSctpShutdownAckSent;
}

namespace {

// Crc32cUpdate runs the reflected CRC-32C register over n bytes.
uint32_t Crc32cUpdate(uint32_t crc, const uint8_t* p, size_t n) {
  static const std::array<uint32_t, 256> kTable = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ ((c & 1) ? 0x82f63b78u : 0);
      t[i] = c;
    }
    return t;
  }();
  for (size_t i = 0; i < n; ++i) crc = (crc >> 8) ^ kTable[(crc ^ p[i]) & 0xff];
  return crc;
}

}  // namespace

uint32_t Crc32c(const uint8_t* p, size_t n) { return ~Crc32cUpdate(~0u, p, n); }

uint32_t SctpChecksum(const Packet& skb, unsigned dataoff) {
  if (skb.data.size() < size_t(dataoff) + kCommonHeader) return 0;
  static const uint8_t kZero[4] = {0, 0, 0, 0};
  const uint8_t* d = skb.data.data() + dataoff;
  uint32_t crc = Crc32cUpdate(~0u, d, 8);
  crc = Crc32cUpdate(crc, kZero, 4);
  crc = Crc32cUpdate(crc, d + kCommonHeader,
                     skb.data.size() - dataoff - kCommonHeader);
  return ~crc;
}

SctpCtResult SctpCtPacket(SctpConnState& st, const SctpCtPacketCtx& ctx,
                          const SctpCtConfig& cfg) {
  const Packet& skb = *ctx.skb;
  const CtDir dir = ctx.dir;
  const uint8_t* sh = skb.HeaderPointer(ctx.dataoff, kCommonHeader);
  if (sh == nullptr) return Invalid("short packet");
  // Only what arrives from the wire is verified; the field holds the CRC
  // in little-endian byte order.
  if (cfg.checksum && ctx.hook == Hook::kPrerouting) {
    const uint32_t field = uint32_t(sh[8]) | uint32_t(sh[9]) << 8 |
                           uint32_t(sh[10]) << 16 | uint32_t(sh[11]) << 24;
    if (field != SctpChecksum(skb, ctx.dataoff)) return Invalid("bad CRC");
  }
  const uint32_t vtag = Load32(sh + 4);
  ChunkMap map;
  if (!BasicChecks(skb, ctx.dataoff, map)) return Invalid("bad chunks");

  if (!ctx.confirmed) {
    // These chunks answer something: out of the blue they open nothing.
    if (map.test(kChunkAbort) || map.test(kChunkShutdownComplete) ||
        map.test(kChunkCookieAck))
      return Invalid("not a first packet");
    if (!NewConnection(st, skb, ctx.dataoff, vtag))
      return Invalid("cannot start a connection");
  }

  // Packets without a chunk that has its own tag rule must carry the tag
  // the receiver chose.
  const bool special =
      map.test(kChunkInit) || map.test(kChunkShutdownComplete) ||
      map.test(kChunkCookieEcho) || map.test(kChunkAbort) ||
      map.test(kChunkShutdownAck) || map.test(kChunkHeartbeat) ||
      map.test(kChunkHeartbeatAck);
  if (!special && vtag != st.vtag[dir]) return Invalid("verification tag");

  bool ignore = false;
  const char* bad = nullptr;
  uint8_t new_state = kSctpNone;
  bool assured = false;
  ForEachChunk(skb, ctx.dataoff, [&](const Chunk& c, unsigned) {
    switch (c.type) {
      case kChunkInit:
        if (vtag != 0) bad = "INIT with a tag";
        break;
      case kChunkAbort:
      case kChunkShutdownComplete:
        if (!TBitTagOk(st, c, dir, vtag)) bad = "verification tag (T bit)";
        break;
      case kChunkCookieEcho:
        if (vtag != st.vtag[dir]) bad = "COOKIE ECHO tag";
        break;
      case kChunkCookieAck:
        st.flags &= ~(kSctpFlagInitOrig | kSctpFlagInitReply);
        break;
      case kChunkHeartbeat:
      case kChunkHeartbeatAck: {
        const int r = HeartbeatTag(st, c, dir, vtag, map, ignore);
        if (r < 0) bad = "HEARTBEAT tag";
        if (r <= 0) return r == 0;
        break;
      }
      default:
        break;
    }
    if (bad != nullptr) return false;
    const uint8_t old_state = st.state;
    new_state = SctpCtNextState(dir, old_state, c.type);
    if (new_state == kSctpMax) {
      bad = "invalid chunk for the state";
      return false;
    }
    if (c.type == kChunkInit) {
      uint32_t tag;
      if (!InitTag(skb, c, tag)) {
        bad = "truncated INIT";
        return false;
      }
      const uint8_t mine = InitFlag(dir), theirs = InitFlag(CtDir(!dir));
      if ((st.flags & mine) && (st.flags & theirs)) st.flags &= ~theirs;
      st.flags |= mine;
      st.vtag[!dir] = tag;
      // A retransmitted INIT of a closed entry must not keep it (and its
      // NAT binding) alive.
      if (new_state == kSctpClosed && old_state == kSctpClosed && ctx.confirmed)
        ignore = true;
    } else if (c.type == kChunkInitAck) {
      uint32_t tag;
      if (!InitTag(skb, c, tag)) {
        bad = "truncated INIT ACK";
        return false;
      }
      const uint32_t known = st.vtag[!dir];
      const bool init_mine = st.flags & InitFlag(dir);
      const bool init_theirs = st.flags & InitFlag(CtDir(!dir));
      if (!init_theirs && known != 0 && known != tag) {
        bad = "INIT ACK tag";
        return false;
      }
      if (init_mine && init_theirs && known != tag) {
        bad = "INIT collision";
        return false;
      }
      st.vtag[!dir] = tag;
    }
    st.state = new_state;
    if (old_state != new_state && new_state == kSctpEstablished) assured = true;
    return true;
  });
  SctpCtResult r;
  r.assured = assured;
  if (bad != nullptr) {
    // State already changed by earlier chunks stays changed, as in the
    // kernel; only ASSURED is reported for them.
    SctpCtResult inv = Invalid(bad);
    inv.assured = assured;
    return inv;
  }
  if (ignore) return r;
  r.refresh = true;
  r.timeout = cfg.Timeout(new_state);
  return r;
}

}  // namespace netfence::core
