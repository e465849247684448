// The SCTP connection tracker: CRC32c, chunk sanity checks, the state
// table, the verification tag rules, which packets may open an entry,
// timeouts, and a replay of packet sequences recorded from a real kernel
// (tests/kernel/record_sctp_ct.py -> tests/fixtures/sctp_ct/kernel.json).
#include "core/ct_proto_sctp.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/conntrack.h"
#include "core/ct_replay_key_test_util.h"

namespace netfence::core {
namespace {

// Chunk types, written down from RFC 9260.
enum : uint8_t {
  kData = 0,
  kInit = 1,
  kInitAck = 2,
  kSack = 3,
  kHb = 4,
  kHbAck = 5,
  kAbort = 6,
  kShutdown = 7,
  kShutdownAck = 8,
  kError = 9,
  kCookieEcho = 10,
  kCookieAck = 11,
  kShutdownComplete = 14,
};
constexpr uint8_t kT = 1;
constexpr uint32_t kTagC = 0x11111111, kTagS = 0x22222222;

using Bytes = std::vector<uint8_t>;

// Chunk builds one chunk, padded to 4 bytes; length < 0: the real length.
Bytes Chunk(uint8_t type, uint8_t flags = 0, Bytes value = {},
            int length = -1) {
  Bytes b = {type, flags, 0, 0};
  Store16(&b[2], uint16_t(length < 0 ? 4 + value.size() : length));
  for (uint8_t x : value) b.push_back(x);  // (insert trips GCC 12's
  while (b.size() % 4) b.push_back(0);     // -Warray-bounds)
  return b;
}
Bytes InitValue(uint32_t tag) {
  Bytes v(16, 0);
  Store32(&v[0], tag);
  Store32(&v[4], 106496);
  Store16(&v[8], 10);
  Store16(&v[10], 10);
  Store32(&v[12], 1000);
  return v;
}
Bytes Init(uint32_t tag = kTagC) { return Chunk(kInit, 0, InitValue(tag)); }
Bytes InitAck(uint32_t tag = kTagS) {
  return Chunk(kInitAck, 0, InitValue(tag));
}
Bytes Data() { return Chunk(kData, 3, Bytes(16, 0x64)); }
Bytes operator+(Bytes a, const Bytes& b) {
  for (uint8_t x : b) a.push_back(x);
  return a;
}

// Build makes an IPv4 client (10.0.0.1:5000) <-> server (10.0.0.2:3868)
// packet with a correct CRC unless bad_crc.
Packet Build(bool orig, uint32_t vtag, const Bytes& chunks,
             bool bad_crc = false) {
  Bytes l4(12, 0);
  Store16(&l4[0], orig ? 5000 : 3868);
  Store16(&l4[2], orig ? 3868 : 5000);
  Store32(&l4[4], vtag);
  l4 = l4 + chunks;
  uint32_t crc = Crc32c(l4.data(), l4.size()) ^ (bad_crc ? 1 : 0);
  for (int i = 0; i < 4; ++i) l4[8 + i] = uint8_t(crc >> (8 * i));
  Bytes ip = {0x45, 0, 0,  0, 0, 1, 0,  0, 64, 132,
              0,    0, 10, 0, 0, 1, 10, 0, 0,  2};
  if (!orig)
    std::swap_ranges(ip.begin() + 12, ip.begin() + 16, ip.begin() + 16);
  Store16(&ip[2], uint16_t(20 + l4.size()));
  Packet p;
  p.data = ip + l4;
  return p;
}

// Assoc drives one association's state through the tracker.
struct Assoc {
  SctpConnState st;
  SctpCtConfig cfg;
  bool confirmed = false;
  Hook hook = Hook::kPrerouting;

  SctpCtResult Send(bool orig, uint32_t vtag, const Bytes& chunks,
                    bool bad_crc = false) {
    Packet p = Build(orig, vtag, chunks, bad_crc);
    SctpCtPacketCtx ctx{&p, 20, orig ? kDirOriginal : kDirReply, hook,
                        confirmed};
    SctpConnState before = st;
    SctpCtResult r = SctpCtPacket(st, ctx, cfg);
    if (r.verdict > 0) {
      confirmed = true;
    } else if (!confirmed) {
      st = before;  // the new entry is dropped
    }
    return r;
  }
  SctpCtResult C(const Bytes& chunks) { return Send(true, kTagS, chunks); }
  SctpCtResult S(const Bytes& chunks) { return Send(false, kTagC, chunks); }
  void Establish() {
    ASSERT_EQ(Send(true, 0, Init()).verdict, 1);
    ASSERT_EQ(S(InitAck()).verdict, 1);
    ASSERT_EQ(C(Chunk(kCookieEcho, 0, Bytes(8, 'C'))).verdict, 1);
    ASSERT_EQ(S(Chunk(kCookieAck)).verdict, 1);
    ASSERT_EQ(st.state, kSctpEstablished);
  }
};

TEST(SctpCrc, KnownVector) {
  const char* s = "123456789";
  EXPECT_EQ(Crc32c(reinterpret_cast<const uint8_t*>(s), 9), 0xe3069283u);
}

TEST(SctpCrc, ChecksumFieldCountsAsZero) {
  Packet p = Build(true, 0, Init());
  uint32_t field = uint32_t(p.data[28]) | uint32_t(p.data[29]) << 8 |
                   uint32_t(p.data[30]) << 16 | uint32_t(p.data[31]) << 24;
  EXPECT_EQ(SctpChecksum(p, 20), field);
}

TEST(SctpCtChecks, BadCrcOnlyAtPreroutingWhenEnabled) {
  Assoc a;
  EXPECT_LE(a.Send(true, 0, Init(), true).verdict, 0);
  a.hook = Hook::kOutput;
  EXPECT_EQ(a.Send(true, 0, Init(), true).verdict, 1);
  Assoc b;
  b.cfg.checksum = false;
  EXPECT_EQ(b.Send(true, 0, Init(), true).verdict, 1);
}

TEST(SctpCtChecks, ShortHeaderAndChunkSanity) {
  Assoc a;
  Packet p = Build(true, 0, {});
  p.data.resize(28);
  SctpCtPacketCtx ctx{&p, 20, kDirOriginal, Hook::kPrerouting, false};
  EXPECT_STREQ(SctpCtPacket(a.st, ctx, a.cfg).reason, "short packet");
  // No chunk, a zero length, INIT not alone, COOKIE ECHO not first.
  EXPECT_LE(a.Send(true, 0, {}).verdict, 0);
  EXPECT_LE(a.Send(true, 0, Chunk(kInit, 0, InitValue(1), 0)).verdict, 0);
  EXPECT_LE(a.Send(true, 0, Init() + Data()).verdict, 0);
  a.Establish();
  EXPECT_LE(a.C(Data() + Chunk(kCookieEcho)).verdict, 0);
  EXPECT_EQ(a.C(Chunk(kCookieEcho) + Data()).verdict, 1);
  // A chunk header cut short ends the walk.
  EXPECT_EQ(a.C(Data() + Bytes{0, 0}).verdict, 1);
}

TEST(SctpCtNew, WhichChunksMayOpen) {
  struct Case {
    Bytes chunks;
    uint32_t vtag;
    bool ok;
    uint8_t state;
  } cases[] = {
      {Init(), 0, true, kSctpClosed},
      {Init(), 7, false, 0},                        // INIT must carry tag 0
      {Chunk(kInit, 0, Bytes{1, 2}), 0, false, 0},  // no initiate tag
      // Other chunks record the packet's tag as the reply direction's, so
      // those checked against the original direction's (still 0) tag
      // only pass with tag 0.
      {InitAck(0x1000), 0, true, kSctpClosed},
      {InitAck(0x1000), 0x1000, false, 0},
      {Chunk(kShutdownAck), 9, true, kSctpShutdownAckSent},
      {Chunk(kShutdown, 0, Bytes(4, 0)), 0, true, kSctpClosed},
      {Chunk(kShutdown, 0, Bytes(4, 0)), 9, false, 0},
      {Chunk(kError), 0, true, kSctpClosed},
      {Chunk(kError), 9, false, 0},
      {Chunk(kCookieEcho), 0, true, kSctpClosed},
      {Chunk(kCookieEcho), 9, false, 0},
      {Chunk(kHb), 9, true, kSctpHeartbeatSent},
      {Chunk(kHbAck), 9, true, kSctpClosed},
      {Chunk(kCookieAck), 9, false, 0},
      {Chunk(kAbort), 9, false, 0},
      {Chunk(kShutdownComplete), 9, false, 0},
      {Data(), 9, false, 0},
      {Chunk(kSack, 0, Bytes(12, 0)), 9, false, 0},
      {Chunk(0x80), 9, false, 0},
      {Chunk(kHb) + Data(), 9, false, 0},
  };
  for (const Case& c : cases) {
    Assoc a;
    SctpCtResult r = a.Send(true, c.vtag, c.chunks);
    EXPECT_EQ(r.verdict > 0, c.ok) << int(c.chunks[0]);
    if (c.ok) {
      EXPECT_EQ(a.st.state, c.state) << int(c.chunks[0]);
    }
  }
}

TEST(SctpCtNew, FirstPacketTags) {
  Assoc a;
  a.Send(true, 0, Init(0xabc));
  EXPECT_EQ(a.st.vtag[kDirReply], 0xabcu);
  EXPECT_EQ(a.st.vtag[kDirOriginal], 0u);
  EXPECT_EQ(a.st.flags, kSctpFlagInitOrig);
  Assoc h;
  h.Send(true, 0x77, Chunk(kHb));
  EXPECT_EQ(h.st.vtag[kDirOriginal], 0x77u);
  EXPECT_EQ(h.st.vtag[kDirReply], 0u);
  Assoc s;
  s.Send(true, 0x55, Chunk(kShutdownAck));
  EXPECT_EQ(s.st.vtag[kDirReply], 0x55u);
}

TEST(SctpCtTable, TransitionsAndInvalidCells) {
  EXPECT_EQ(SctpCtNextState(kDirOriginal, kSctpNone, kInit), kSctpClosed);
  EXPECT_EQ(SctpCtNextState(kDirReply, kSctpClosed, kInitAck), kSctpCookieWait);
  EXPECT_EQ(SctpCtNextState(kDirOriginal, kSctpCookieWait, kCookieEcho),
            kSctpCookieEchoed);
  EXPECT_EQ(SctpCtNextState(kDirReply, kSctpCookieEchoed, kCookieAck),
            kSctpEstablished);
  EXPECT_EQ(SctpCtNextState(kDirReply, kSctpCookieEchoed, kError), kSctpClosed);
  EXPECT_EQ(SctpCtNextState(kDirOriginal, kSctpEstablished, kShutdown),
            kSctpShutdownSent);
  EXPECT_EQ(SctpCtNextState(kDirReply, kSctpEstablished, kShutdown),
            kSctpShutdownRecd);
  EXPECT_EQ(SctpCtNextState(kDirReply, kSctpHeartbeatSent, kHbAck),
            kSctpEstablished);
  EXPECT_EQ(
      SctpCtNextState(kDirOriginal, kSctpShutdownAckSent, kShutdownComplete),
      kSctpClosed);
  for (uint8_t t : {kInit, kInitAck, kAbort, kShutdown, kShutdownAck, kError,
                    kCookieEcho, kCookieAck, kShutdownComplete, kHb, kHbAck}) {
    EXPECT_EQ(SctpCtNextState(kDirReply, kSctpNone, t), kSctpMax);
    EXPECT_EQ(SctpCtNextState(kDirOriginal, kSctpEstablished, kAbort),
              kSctpClosed);
  }
  // DATA, SACK and unknown chunks keep the state.
  for (uint8_t s = 0; s < kSctpHeartbeatAcked; ++s) {
    EXPECT_EQ(SctpCtNextState(kDirOriginal, s, kData), s);
    EXPECT_EQ(SctpCtNextState(kDirReply, s, kSack), s);
    EXPECT_EQ(SctpCtNextState(kDirReply, s, 0xc0), s);
  }
  EXPECT_STREQ(SctpCtStateName(kSctpShutdownAckSent), "SHUTDOWN_ACK_SENT");
  EXPECT_STREQ(SctpCtStateName(kSctpHeartbeatSent), "HEARTBEAT_SENT");
}

TEST(SctpCtFlow, HandshakeTimeoutsAndAssured) {
  Assoc a;
  SctpCtResult r = a.Send(true, 0, Init());
  EXPECT_TRUE(r.refresh);
  EXPECT_EQ(r.timeout, 10);
  r = a.S(InitAck());
  EXPECT_EQ(a.st.state, kSctpCookieWait);
  EXPECT_EQ(r.timeout, 3);
  EXPECT_EQ(a.st.vtag[kDirOriginal], kTagS);
  r = a.C(Chunk(kCookieEcho));
  EXPECT_EQ(r.timeout, 3);
  EXPECT_FALSE(r.assured);
  r = a.S(Chunk(kCookieAck));
  EXPECT_TRUE(r.assured);
  EXPECT_EQ(r.timeout, 210);
  EXPECT_EQ(a.st.flags, 0);  // COOKIE ACK forgets the INITs
  r = a.C(Data());
  EXPECT_FALSE(r.assured);  // only on the change
  EXPECT_EQ(r.timeout, 210);
  EXPECT_EQ(a.C(Chunk(kShutdown, 0, Bytes(4, 0))).timeout, 3);
  EXPECT_EQ(a.S(Chunk(kShutdownAck)).timeout, 3);
  EXPECT_EQ(a.st.state, kSctpShutdownAckSent);
  EXPECT_EQ(a.C(Chunk(kShutdownComplete)).timeout, 10);
  EXPECT_EQ(a.st.state, kSctpClosed);
}

TEST(SctpCtFlow, InitRetransmissionInClosedIsNotRenewed) {
  Assoc a;
  a.Send(true, 0, Init());
  SctpCtResult r = a.Send(true, 0, Init());
  EXPECT_EQ(r.verdict, 1);
  EXPECT_FALSE(r.refresh);
}

TEST(SctpCtTimeout, ConfiguredTimeoutsApply) {
  SctpCtConfig cfg;
  cfg.timeout_closed = 7;
  cfg.timeout_established = 1000;
  cfg.timeout_heartbeat_sent = 44;
  EXPECT_EQ(cfg.Timeout(kSctpNone), 7);
  EXPECT_EQ(cfg.Timeout(kSctpClosed), 7);
  EXPECT_EQ(cfg.Timeout(kSctpEstablished), 1000);
  EXPECT_EQ(cfg.Timeout(kSctpHeartbeatSent), 44);
  EXPECT_EQ(cfg.Timeout(kSctpCookieWait), 3);
}

TEST(SctpCtVtag, OrdinaryChunksNeedTheReceiversTag) {
  Assoc a;
  a.Establish();
  EXPECT_LE(a.Send(true, kTagC, Data()).verdict, 0);
  EXPECT_LE(a.Send(false, kTagS, Data()).verdict, 0);
  EXPECT_EQ(a.C(Data()).verdict, 1);
  EXPECT_EQ(a.S(Data()).verdict, 1);
}

TEST(SctpCtVtag, TBitSelectsWhoseTag) {
  for (bool t : {false, true}) {
    for (uint32_t tag : {kTagS, kTagC}) {
      Assoc a;
      a.Establish();
      const bool ok = t ? tag == kTagC : tag == kTagS;
      EXPECT_EQ(a.Send(true, tag, Chunk(kAbort, t ? kT : 0)).verdict > 0, ok);
      if (ok) {
        EXPECT_EQ(a.st.state, kSctpClosed);
      }
    }
  }
}

TEST(SctpCtVtag, CookieEchoAndInitAckTags) {
  Assoc a;
  a.Send(true, 0, Init());
  EXPECT_LE(a.Send(false, 0x999, InitAck()).verdict, 0);  // not our tag
  EXPECT_LE(a.S(InitAck()).verdict, 1);
  EXPECT_LE(a.Send(true, 0x999, Chunk(kCookieEcho)).verdict, 0);
  EXPECT_EQ(a.C(Chunk(kCookieEcho)).verdict, 1);
  // After an INIT from the other side, a new INIT ACK may name a new tag.
  Assoc b;
  b.Send(true, 0, Init());
  b.S(InitAck(0x1234));
  EXPECT_EQ(b.S(InitAck(0x5678)).verdict, 1);
  EXPECT_EQ(b.st.vtag[kDirOriginal], 0x5678u);
  // Without one, it must repeat the tag already known.
  Assoc c;
  c.Send(true, 0x55, Chunk(kShutdownAck));
  EXPECT_LE(c.Send(true, 0, InitAck(0x66)).verdict, 0);
  EXPECT_EQ(c.Send(true, 0, InitAck(0x55)).verdict, 1);
}

TEST(SctpCtVtag, HeartbeatWithNewTagIsConfirmedByTheOtherSide) {
  Assoc a;
  a.Establish();
  SctpCtResult r = a.Send(true, 0xaaaa, Chunk(kHb));
  EXPECT_EQ(r.verdict, 1);
  EXPECT_FALSE(r.refresh);
  EXPECT_TRUE(a.st.flags & kSctpFlagHeartbeatVtagFailed);
  // The same direction cannot confirm it.
  EXPECT_LE(a.Send(true, 0xbbbb, Chunk(kHbAck)).verdict, 0);
  r = a.Send(false, 0xcccc, Chunk(kHbAck));
  EXPECT_EQ(r.verdict, 1);
  EXPECT_EQ(a.st.vtag[kDirReply], 0xccccu);
  EXPECT_EQ(a.st.vtag[kDirOriginal], 0u);  // learnt from the next one
  EXPECT_EQ(a.Send(true, 0xaaaa, Chunk(kHb)).verdict, 1);
  EXPECT_EQ(a.st.vtag[kDirOriginal], 0xaaaau);
}

TEST(SctpCtVtag, HeartbeatWithNewTagAndDataIsInvalid) {
  Assoc a;
  a.Establish();
  EXPECT_LE(a.Send(true, 0xaaaa, Chunk(kHb) + Data()).verdict, 0);
  EXPECT_LE(a.Send(true, 0xaaaa, Chunk(kHb) + Chunk(kHb)).verdict, 0);
}

TEST(SctpCtEarlyDrop, OnlyShutdownStates) {
  SctpConnState s;
  for (uint8_t st = 0; st < kSctpMax; ++st) {
    s.state = st;
    EXPECT_EQ(SctpCtCanEarlyDrop(s),
              st >= kSctpShutdownSent && st <= kSctpShutdownAckSent);
  }
}

TEST(SctpConnState, PacksIntoNineBytes) {
  SctpConnState s;
  s.vtag[0] = 0xdeadbeef;
  s.vtag[1] = 0x01020304;
  s.state = kSctpHeartbeatSent;
  s.flags = kSctpFlagInitReply | kSctpFlagHeartbeatVtagFailed;
  EXPECT_EQ(SctpConnState::Unpack(s.Small(), s.Tags()), s);
}

// ------------------------------------------------- in the connection table

// Track runs a packet through conntrack as an arriving, locally delivered
// one (PREROUTING, then confirmed at INPUT) and returns its ct state.
std::string Track(Conntrack& ct, Packet p, double now) {
  ct.In(p, Hook::kPrerouting, now);
  ct.Confirm(p, now);
  return CtStateName(p);
}

TEST(SctpConntrack, AssociationThroughTheTable) {
  Conntrack ct;
  EXPECT_EQ(Track(ct, Build(true, 9, Data()), 0), "invalid");
  EXPECT_EQ(ct.size(), 0u);
  EXPECT_EQ(Track(ct, Build(true, 0, Init()), 0), "new");
  ASSERT_EQ(ct.List(0).size(), 1u);
  EXPECT_EQ(ct.List(0)[0].substr(0, 24), "sctp     132 10 CLOSED s");
  EXPECT_EQ(Track(ct, Build(false, kTagC, InitAck()), 1), "established");
  EXPECT_EQ(Track(ct, Build(true, kTagS, Chunk(kCookieEcho)), 1),
            "established");
  EXPECT_EQ(Track(ct, Build(false, kTagC, Chunk(kCookieAck)), 1),
            "established");
  EXPECT_EQ(ct.List(1)[0],
            "sctp     132 210 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 "
            "sport=5000 dport=3868 src=10.0.0.2 dst=10.0.0.1 sport=3868 "
            "dport=5000 [ASSURED] mark=0 use=1");
  // A wrong tag is invalid and leaves the entry as it was.
  EXPECT_EQ(Track(ct, Build(true, kTagC, Data()), 2), "invalid");
  EXPECT_EQ(Track(ct, Build(true, kTagS, Data(), true), 2), "invalid");
  EXPECT_EQ(Track(ct, Build(true, kTagS, Data()), 2), "established");
  EXPECT_EQ(Track(ct, Build(true, kTagS, Chunk(kAbort)), 3), "established");
  EXPECT_EQ(ct.List(3)[0].substr(0, 24), "sctp     132 10 CLOSED s");
  EXPECT_EQ(ct.List(13.5).size(), 0u);
}

// SCTP's tags share storage with the other protocols' state.
TEST(SctpConntrack, StateFitsTheEntry) {
  Conn c;
  c.set_sctp_tags(0x0102030405060708ull);
  EXPECT_EQ(c.sctp_tags(), 0x0102030405060708ull);
  c.tcp().state = 3;
  EXPECT_EQ(c.sctp_tags(), 0u);
  c.set_sctp_tags(5);
  EXPECT_EQ(static_cast<const Conn&>(c).tcp().state, 0);
}

// ---------------------------------------------------------- kernel replay

std::string FixturePath() {
  std::string here = __FILE__;
  return here.substr(0, here.rfind("src/core/")) +
         "tests/fixtures/sctp_ct/kernel.json";
}

std::vector<uint8_t> FromHex(const std::string& h) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < h.size(); i += 2)
    out.push_back(uint8_t(std::stoi(h.substr(i, 2), nullptr, 16)));
  return out;
}

// KernelSim replays recorded packets the way the recording set-up treats
// them: one entry at a time; a new entry is confirmed only when the client
// sent its first packet (the server's packets are dropped by routing after
// conntrack). Like nf_conntrack_acct, it counts the packets the tracker
// accounts per direction; it gives each packet the ctstate conntrack's
// lookup would.
class KernelSim {
 public:
  explicit KernelSim(const SctpCtConfig& cfg) : cfg_(cfg) {}

  // Feed runs one packet at time now and returns its ctstate.
  std::string Feed(const Packet& p, const std::string& client, double now) {
    now_ = now;
    if (conn_ && conn_->expires <= now) conn_.reset();
    Key k = ctreplay::KeyOf(p);
    bool fresh = false;
    CtDir dir = kDirOriginal;
    if (conn_ && k == orig_) {
      dir = kDirOriginal;
    } else if (conn_ && k == ctreplay::Reverse(orig_)) {
      dir = kDirReply;
    } else {
      conn_ = std::make_unique<Entry>();
      orig_ = k;
      fresh = true;
    }
    std::string ctstate = fresh || (dir == kDirOriginal && !conn_->seen_reply)
                              ? "NEW"
                              : "ESTABLISHED";
    SctpCtPacketCtx ctx{&p, k.dataoff, dir, Hook::kPrerouting, !fresh};
    SctpCtResult r = SctpCtPacket(conn_->st, ctx, cfg_);
    if (r.assured) conn_->assured = true;
    if (r.verdict <= 0) {
      if (fresh) conn_.reset();
      return "INVALID";
    }
    if (r.refresh) {
      conn_->expires = now + r.timeout;
      conn_->packets[dir]++;
    }
    if (dir == kDirReply) conn_->seen_reply = true;
    if (fresh && k.src != client) conn_.reset();
    return ctstate;
  }

  // Summary renders the entry as the fixture's conns[0] does; t is the
  // kernel's remaining time when it is what ours becomes within the
  // moment conntrack -L took.
  std::string Summary(const nlohmann::json& conns) const {
    if (!conn_) return "(no entry)";
    double left = conn_->expires - now_;
    int shown = int(std::floor(left + 1e-6));
    if (!conns.empty()) {
      // conntrack -L ran up to a quarter of a second after the packet.
      int k = conns[0]["timeout"];
      if (k <= shown && k >= int(std::floor(left - 0.25))) shown = k;
    }
    return orig_.src + ":" + std::to_string(orig_.sport) + " " +
           SctpCtStateName(conn_->st.state) +
           (conn_->assured ? " ASSURED" : "") +
           (conn_->seen_reply ? "" : " UNREPLIED") +
           " t=" + std::to_string(shown) +
           " packets=" + std::to_string(conn_->packets[0]) + "/" +
           std::to_string(conn_->packets[1]);
  }

 private:
  struct Entry {
    SctpConnState st;
    double expires = 0;
    bool assured = false, seen_reply = false;
    uint64_t packets[2] = {0, 0};
  };
  using Key = ctreplay::FlowKey;

  SctpCtConfig cfg_;
  double now_ = 0;
  std::unique_ptr<Entry> conn_;
  Key orig_;
};

// KernelSummary renders a recorded step the same way.
std::string KernelSummary(const nlohmann::json& st) {
  std::string s = st["ctstate"].get<std::string>() + " ";
  const auto& conns = st["conns"];
  if (conns.empty()) return s + "(no entry)";
  const auto& k = conns[0];
  return s + k["orig_src"].get<std::string>() + ":" +
         std::to_string(k["orig_sport"].get<int>()) + " " +
         k["state"].get<std::string>() +
         (k["assured"].get<bool>() ? " ASSURED" : "") +
         (k["seen_reply"].get<bool>() ? "" : " UNREPLIED") +
         " t=" + std::to_string(k["timeout"].get<int>()) +
         " packets=" + std::to_string(k["packets"][0].get<int>()) + "/" +
         std::to_string(k["packets"][1].get<int>());
}

SctpCtConfig ConfigOf(const nlohmann::json& doc, const nlohmann::json& sc) {
  std::map<std::string, int> sys;
  for (auto& [k, v] : doc["sysctl_defaults"].items()) sys[k] = v;
  if (sc.contains("sysctl"))
    for (auto& [k, v] : sc["sysctl"].items()) sys[k] = v;
  SctpCtConfig cfg;
  const std::string p = "nf_conntrack_sctp_timeout_";
  cfg.timeout_closed = sys[p + "closed"];
  cfg.timeout_cookie_wait = sys[p + "cookie_wait"];
  cfg.timeout_cookie_echoed = sys[p + "cookie_echoed"];
  cfg.timeout_established = sys[p + "established"];
  cfg.timeout_shutdown_sent = sys[p + "shutdown_sent"];
  cfg.timeout_shutdown_recd = sys[p + "shutdown_recd"];
  cfg.timeout_shutdown_ack_sent = sys[p + "shutdown_ack_sent"];
  cfg.timeout_heartbeat_sent = sys[p + "heartbeat_sent"];
  cfg.checksum = sys["nf_conntrack_checksum"];
  return cfg;
}

TEST(SctpCtKernel, RecordedScenariosReplay) {
  std::ifstream in(FixturePath());
  ASSERT_TRUE(in) << "missing " << FixturePath();
  nlohmann::json doc = nlohmann::json::parse(in);
  int steps = 0, scenarios = 0;
  for (const auto& sc : doc["scenarios"]) {
    const std::string name = sc["name"];
    SCOPED_TRACE(name);
    const int family = sc["family"];
    const std::string client = doc["client"][std::to_string(family)];
    KernelSim sim(ConfigOf(doc, sc));
    scenarios++;
    for (const auto& st : sc["steps"]) {
      const std::string note = st["note"];
      steps++;
      Packet p;
      p.family = family == 6 ? Family::kIPv6 : Family::kIPv4;
      p.data = FromHex(st["pkt"]);
      ASSERT_LE(st["conns"].size(), 1u);
      std::string ctstate = sim.Feed(p, client, 1000 + st["t"].get<double>());
      std::string ours = ctstate + " " + sim.Summary(st["conns"]);
      EXPECT_EQ(ours, KernelSummary(st)) << name << " / " << note;
    }
  }
  EXPECT_GT(scenarios, 250);
  EXPECT_GT(steps, 1000);
}

}  // namespace
}  // namespace netfence::core
