#!/usr/bin/python3
"""Records how the running kernel's SCTP conntrack treats packet sequences.

Regenerates tests/fixtures/sctp_ct/kernel.json, which
src/core/ct_proto_sctp_test.cc replays through netfence's tracker.

Needs root, iptables-legacy, conntrack-tools and scapy (/usr/bin/python3).
The set-up is record_tcp_ct.py's: two network namespaces joined by a veth
pair; packets are injected from "nfsctp_inj" into "nfsctp_fw", where
conntrack sees them in PREROUTING. Original-direction packets (client
10.77.0.1 -> server 10.77.0.2) are delivered locally, so new entries get
confirmed at INPUT; whatever the host answers is dropped in raw OUTPUT,
before conntrack. Reply-direction packets carry the server's address as
source: conntrack tracks them in PREROUTING and routing then drops them as
martians.

Per packet we record the conntrack state it got (counters of mangle
PREROUTING rules matching -m conntrack --ctstate NEW / ESTABLISHED /
RELATED / INVALID), the entries afterwards (conntrack -L: state, remaining
time, ASSURED, UNREPLIED, per-direction packet counters with
nf_conntrack_acct on, which show whether the tracker renewed the timeout)
and the time since the scenario's first packet.

    sudo tests/kernel/record_sctp_ct.py [-o OUT] [--only SUBSTRING]
"""

import argparse
import os
import re
import struct
import time

from scapy.all import IP, IPv6, Raw

import ct_lab

NS_INJ = "nfsctp_inj"
NS_FW = "nfsctp_fw"
CLIENT4, SERVER4 = ct_lab.CLIENT4, ct_lab.SERVER4
CLIENT6, SERVER6 = ct_lab.CLIENT6, ct_lab.SERVER6
SERVER_PORT = 3868

SYSCTL_DEFAULTS = {
    "nf_conntrack_checksum": 1,
    "nf_conntrack_acct": 1,
    "nf_conntrack_sctp_timeout_closed": 10,
    "nf_conntrack_sctp_timeout_cookie_wait": 3,
    "nf_conntrack_sctp_timeout_cookie_echoed": 3,
    "nf_conntrack_sctp_timeout_established": 210,
    "nf_conntrack_sctp_timeout_shutdown_sent": 3,
    "nf_conntrack_sctp_timeout_shutdown_recd": 3,
    "nf_conntrack_sctp_timeout_shutdown_ack_sent": 3,
    "nf_conntrack_sctp_timeout_heartbeat_sent": 30,
}

CTSTATES = ("NEW", "ESTABLISHED", "RELATED", "INVALID")

# Chunk types.
DATA, INIT, INIT_ACK, SACK, HEARTBEAT, HEARTBEAT_ACK, ABORT, SHUTDOWN, \
    SHUTDOWN_ACK, ERROR, COOKIE_ECHO, COOKIE_ACK = range(12)
SHUTDOWN_COMPLETE = 14
T_FLAG = 1

# The tags each side chooses (its INIT / INIT ACK initiate tag): packets
# to the client carry TAG_C, packets to the server TAG_S.
TAG_C, TAG_S = 0x11111111, 0x22222222


# One counter per state, read by ctstate_counts().
LAB = ct_lab.Lab(NS_INJ, NS_FW,
                 [["-p", "sctp", "-m", "conntrack", "--ctstate", st, "-j", "ACCEPT"]
                  for st in CTSTATES],
                 offload_off=True)
run, setup, teardown = LAB.run, LAB.setup, LAB.teardown
open_inject_socket, vb_mac = LAB.open_inject_socket, LAB.vb_mac
flush, set_sysctls = LAB.flush, LAB.set_sysctls
write_fixture = ct_lab.write_fixture


def ctstate_counts(family):
    tool = "ip6tables-legacy" if family == 6 else "iptables-legacy"
    out = run(tool, "-t", "mangle", "-L", "PREROUTING", "-v", "-x",
              "-n").stdout
    counts = {}
    for line in out.splitlines():
        for st in CTSTATES:
            if re.search(r"ctstate %s\b" % st, line):
                counts[st] = int(line.split()[0])
    return counts


LINE_RE = re.compile(
    r"^sctp\s+132\s+(\d+)\s+(\S+)\s+src=(\S+)\s+dst=(\S+)\s+sport=(\d+)\s+"
    r"dport=(\d+)\s+packets=(\d+)\s+bytes=\d+\s+(\[UNREPLIED\]\s+)?"
    r"src=.*?packets=(\d+)\s+bytes=\d+\s+(\[ASSURED\]\s+)?mark=")


def conns(family):
    f = "ipv6" if family == 6 else "ipv4"
    out = run("conntrack", "-L", "-f", f, "-p", "sctp", check=False).stdout
    res = []
    for line in out.splitlines():
        m = LINE_RE.match(line)
        if not m:
            raise RuntimeError("unexpected conntrack line: " + line)
        res.append({
            "timeout": int(m.group(1)),
            "state": m.group(2),
            "orig_src": m.group(3),
            "orig_sport": int(m.group(5)),
            "seen_reply": m.group(8) is None,
            "assured": m.group(10) is not None,
            "packets": [int(m.group(7)), int(m.group(9))],
        })
    return res


def _crc32c_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
        t.append(c)
    return t


CRC_TABLE = _crc32c_table()


def crc32c(b):
    c = 0xFFFFFFFF
    for x in b:
        c = (c >> 8) ^ CRC_TABLE[(c ^ x) & 0xFF]
    return c ^ 0xFFFFFFFF


def chunk(ctype, flags=0, value=b"", length=None):
    """One chunk, padded to 4 bytes; `length` overrides the length field."""
    n = 4 + len(value) if length is None else length
    b = struct.pack(">BBH", ctype, flags, n) + value
    return b + b"\0" * (-len(b) % 4)


def init_value(tag, tsn=1000, extra=b""):
    return struct.pack(">IIHHI", tag, 106496, 10, 65535, tsn) + extra


# Chunk builders by name; `tag` is the initiate tag for INIT / INIT ACK.
def c_init(tag=TAG_C):
    return chunk(INIT, 0, init_value(tag))


def c_init_ack(tag=TAG_S):
    cookie = struct.pack(">HH", 7, 4 + 24) + b"C" * 24
    return chunk(INIT_ACK, 0, init_value(tag, 5000, cookie))


def c_cookie_echo():
    return chunk(COOKIE_ECHO, 0, b"C" * 24)


def c_cookie_ack():
    return chunk(COOKIE_ACK)


def c_data(n=20, tsn=1000):
    return chunk(DATA, 3, struct.pack(">IHHI", tsn, 0, 0, 0) + b"d" * n)


def c_sack(tsn=1000):
    return chunk(SACK, 0, struct.pack(">IIHH", tsn, 106496, 0, 0))


def c_heartbeat():
    return chunk(HEARTBEAT, 0, struct.pack(">HH", 1, 12) + b"hbinfo\0\0")


def c_heartbeat_ack():
    return chunk(HEARTBEAT_ACK, 0, struct.pack(">HH", 1, 12) + b"hbinfo\0\0")


def c_shutdown(tsn=1000):
    return chunk(SHUTDOWN, 0, struct.pack(">I", tsn))


def c_shutdown_ack():
    return chunk(SHUTDOWN_ACK)


def c_shutdown_complete(flags=0):
    return chunk(SHUTDOWN_COMPLETE, flags)


def c_abort(flags=0):
    return chunk(ABORT, flags)


def c_error():
    # Stale cookie error cause.
    return chunk(ERROR, 0, struct.pack(">HHI", 3, 8, 1000))


class Flow:
    """Builds the packets of one client <-> server association."""

    def __init__(self, sport, family=4):
        self.sport = sport
        self.family = family

    def pkt(self, d, chunks, vtag=None, bad_crc=False, raw_l4=None):
        """d: "o" (client -> server) or "r"; vtag defaults to the tag the
        receiver chose."""
        if self.family == 6:
            c, s = CLIENT6, SERVER6
        else:
            c, s = CLIENT4, SERVER4
        if d == "o":
            src, dst, sp, dp = c, s, self.sport, SERVER_PORT
            tag = TAG_S
        else:
            src, dst, sp, dp = s, c, SERVER_PORT, self.sport
            tag = TAG_C
        if vtag is not None:
            tag = vtag
        if raw_l4 is not None:
            l4 = raw_l4
        else:
            body = b"".join(chunks)
            hdr = struct.pack(">HHII", sp, dp, tag, 0)
            crc = crc32c(hdr + body)
            if bad_crc:
                crc ^= 0x5A5A
            l4 = hdr[:8] + struct.pack("<I", crc) + body
        if self.family == 6:
            p = IPv6(src=src, dst=dst, nh=132) / Raw(l4)
        else:
            p = IP(src=src, dst=dst, proto=132, id=1) / Raw(l4)
        return bytes(p)


def replay(sock, mac, scen):
    flush()
    set_sysctls(dict(SYSCTL_DEFAULTS, **scen.get("sysctl", {})))
    fam = scen["family"]
    steps = []
    start = None
    for raw, note, *rest in scen["packets"]:
        wait = rest[0] if rest else 0
        if wait:
            time.sleep(wait)
        before = ctstate_counts(fam)
        eth_type = b"\x86\xdd" if fam == 6 else b"\x08\x00"
        frame = bytes.fromhex(mac.replace(":", "")) + b"\x02" + b"\0" * 5
        t = time.monotonic()
        if start is None:
            start = t
        sock.send(frame + eth_type + raw)
        time.sleep(0.02)
        after = ctstate_counts(fam)
        got = [st for st in CTSTATES if after[st] != before[st]]
        steps.append({
            "note": note,
            "t": round(t - start, 3),
            "pkt": raw.hex(),
            "ctstate": got[0] if len(got) == 1 else "|".join(got) or "none",
            "conns": conns(fam),
        })
    out = {k: v for k, v in scen.items() if k != "packets"}
    out["steps"] = steps
    return out


# --- scenarios ------------------------------------------------------------


def recipe(state, f):
    """Packets taking a fresh flow to `state`."""
    init = (f.pkt("o", [c_init()], vtag=0), "C INIT")
    init_ack = (f.pkt("r", [c_init_ack()]), "S INIT ACK")
    echo = (f.pkt("o", [c_cookie_echo()]), "C COOKIE ECHO")
    cack = (f.pkt("r", [c_cookie_ack()]), "S COOKIE ACK")
    est = [init, init_ack, echo, cack]
    cshut = (f.pkt("o", [c_shutdown()]), "C SHUTDOWN")
    sshut = (f.pkt("r", [c_shutdown()]), "S SHUTDOWN")
    sshut_ack = (f.pkt("r", [c_shutdown_ack()]), "S SHUTDOWN ACK")
    ccomplete = (f.pkt("o", [c_shutdown_complete()]), "C SHUTDOWN COMPLETE")
    table = {
        "NONE": [],
        "CLOSED": [init],
        "COOKIE_WAIT": [init, init_ack],
        "COOKIE_ECHOED": [init, init_ack, echo],
        "ESTABLISHED": est,
        "SHUTDOWN_SENT": est + [cshut],
        "SHUTDOWN_RECD": est + [sshut],
        "SHUTDOWN_ACK_SENT": est + [cshut, sshut_ack],
        "CLOSED_AFTER_SHUTDOWN": est + [cshut, sshut_ack, ccomplete],
        "HEARTBEAT_SENT": [(f.pkt("o", [c_heartbeat()]), "C HEARTBEAT")],
    }
    return table[state]


PROBES = {
    "INIT": lambda: [c_init(0x33333333)],
    "INIT_ACK": lambda: [c_init_ack(0x44444444)],
    "ABORT": lambda: [c_abort()],
    "SHUTDOWN": lambda: [c_shutdown()],
    "SHUTDOWN_ACK": lambda: [c_shutdown_ack()],
    "ERROR": lambda: [c_error()],
    "COOKIE_ECHO": lambda: [c_cookie_echo()],
    "COOKIE_ACK": lambda: [c_cookie_ack()],
    "SHUTDOWN_COMPLETE": lambda: [c_shutdown_complete()],
    "HEARTBEAT": lambda: [c_heartbeat()],
    "HEARTBEAT_ACK": lambda: [c_heartbeat_ack()],
    "DATA": lambda: [c_data()],
    "SACK": lambda: [c_sack()],
}


def table_scenarios():
    """One scenario per (start state, direction, chunk): the kernel's
    answer to a probe carrying the tag the receiver expects."""
    out = []
    port = 20000
    for state in ("NONE", "CLOSED", "COOKIE_WAIT", "COOKIE_ECHOED",
                  "ESTABLISHED", "SHUTDOWN_SENT", "SHUTDOWN_RECD",
                  "SHUTDOWN_ACK_SENT", "CLOSED_AFTER_SHUTDOWN",
                  "HEARTBEAT_SENT"):
        for d in ("o", "r"):
            if state == "NONE" and d == "r":
                continue  # without an entry every packet is "original"
            for cname, build in PROBES.items():
                port += 1
                f = Flow(port)
                pkts = recipe(state, f)
                vtag = 0 if cname == "INIT" else None
                probe = f.pkt(d, build(), vtag=vtag)
                name = "table/%s/%s/%s" % (state, "orig" if d == "o" else
                                           "reply", cname)
                out.append({"name": name, "family": 4,
                            "packets": pkts + [(probe, "probe")]})
    return out


def special_scenarios():
    out = []
    port = [30000]

    def add(name, build, family=4, sysctl=None):
        port[0] += 1
        f = Flow(port[0], family)
        scen = {"name": name, "family": family, "packets": build(f)}
        if sysctl:
            scen["sysctl"] = sysctl
        out.append(scen)

    def est(f):
        return recipe("ESTABLISHED", f)

    def full(f):
        return est(f) + [
            (f.pkt("o", [c_data()]), "C DATA"),
            (f.pkt("r", [c_sack()]), "S SACK"),
            (f.pkt("r", [c_data(30)]), "S DATA"),
            (f.pkt("o", [c_sack(), c_data(5, 1001)]), "C SACK+DATA"),
            (f.pkt("o", [c_shutdown()]), "C SHUTDOWN"),
            (f.pkt("r", [c_shutdown_ack()]), "S SHUTDOWN ACK"),
            (f.pkt("o", [c_shutdown_complete()]), "C SHUTDOWN COMPLETE"),
            (f.pkt("o", [c_init()], vtag=0), "C INIT again (CLOSED)"),
        ]
    add("flow/full", full)
    add("flow/full_v6", full, family=6)
    add("flow/server_shuts_down", lambda f: est(f) + [
        (f.pkt("r", [c_shutdown()]), "S SHUTDOWN"),
        (f.pkt("o", [c_shutdown_ack()]), "C SHUTDOWN ACK"),
        (f.pkt("r", [c_shutdown_complete()]), "S SHUTDOWN COMPLETE"),
    ])
    add("flow/cookie_echo_bundled_with_data", lambda f: [
        (f.pkt("o", [c_init()], vtag=0), "C INIT"),
        (f.pkt("r", [c_init_ack()]), "S INIT ACK"),
        (f.pkt("o", [c_cookie_echo(), c_data()]), "C COOKIE ECHO + DATA"),
        (f.pkt("r", [c_cookie_ack(), c_sack()]), "S COOKIE ACK + SACK"),
    ])
    add("flow/init_retransmit_not_refreshed", lambda f: [
        (f.pkt("o", [c_init()], vtag=0), "C INIT"),
        (f.pkt("o", [c_init()], vtag=0), "C INIT again", 1.5),
        (f.pkt("o", [c_init(0x55555555)], vtag=0), "C INIT new tag", 1.0),
        (f.pkt("r", [c_init_ack()]), "S INIT ACK to the old tag"),
        (f.pkt("r", [c_init_ack()], vtag=0x55555555),
         "S INIT ACK to the new tag"),
    ])
    add("flow/cookie_wait_times_out", lambda f: [
        (f.pkt("o", [c_init()], vtag=0), "C INIT"),
        (f.pkt("r", [c_init_ack()]), "S INIT ACK"),
        (f.pkt("o", [c_cookie_echo()]), "C COOKIE ECHO after the timeout",
         3.5),
    ])
    add("flow/abort_by_client", lambda f: est(f) + [
        (f.pkt("o", [c_abort()]), "C ABORT"),
        (f.pkt("o", [c_data()]), "C DATA after ABORT"),
    ])
    add("flow/abort_t_flag_own_tag", lambda f: est(f) + [
        (f.pkt("o", [c_abort(T_FLAG)], vtag=TAG_C),
         "C ABORT, T flag, its own tag"),
    ])
    add("flow/abort_t_flag_wrong_tag", lambda f: est(f) + [
        (f.pkt("o", [c_abort(T_FLAG)]), "C ABORT, T flag, peer's tag"),
        (f.pkt("o", [c_abort()], vtag=0x99), "C ABORT, wrong tag"),
    ])
    add("flow/shutdown_complete_t_flag", lambda f: est(f) + [
        (f.pkt("o", [c_shutdown()]), "C SHUTDOWN"),
        (f.pkt("r", [c_shutdown_ack()]), "S SHUTDOWN ACK"),
        (f.pkt("o", [c_shutdown_complete(T_FLAG)]),
         "C SHUTDOWN COMPLETE, T flag, peer's tag"),
        (f.pkt("o", [c_shutdown_complete(T_FLAG)], vtag=TAG_C),
         "C SHUTDOWN COMPLETE, T flag, own tag"),
    ])
    add("vtag/data_wrong_tag", lambda f: est(f) + [
        (f.pkt("o", [c_data()], vtag=0x12345678), "C DATA, wrong tag"),
        (f.pkt("r", [c_data()], vtag=TAG_S), "S DATA with the client's tag"),
        (f.pkt("o", [c_data()]), "C DATA"),
    ])
    add("vtag/cookie_echo_wrong_tag", lambda f: [
        (f.pkt("o", [c_init()], vtag=0), "C INIT"),
        (f.pkt("r", [c_init_ack()]), "S INIT ACK"),
        (f.pkt("o", [c_cookie_echo()], vtag=0x777), "C COOKIE ECHO bad tag"),
        (f.pkt("o", [c_cookie_echo()]), "C COOKIE ECHO"),
    ])
    add("vtag/init_with_tag", lambda f: [
        (f.pkt("o", [c_init()], vtag=5), "C INIT with a tag"),
        (f.pkt("o", [c_init()], vtag=0), "C INIT"),
        (f.pkt("o", [c_init()], vtag=5), "C INIT with a tag on the entry"),
    ])
    add("vtag/init_ack_wrong_tag", lambda f: [
        (f.pkt("o", [c_init()], vtag=0), "C INIT"),
        (f.pkt("r", [c_init_ack()], vtag=0x9999), "S INIT ACK, bad tag"),
        (f.pkt("r", [c_init_ack()]), "S INIT ACK"),
    ])
    add("vtag/heartbeat_new_tag_confirmed", lambda f: est(f) + [
        (f.pkt("o", [c_heartbeat()], vtag=0xabcdef01),
         "C HEARTBEAT, new tag", 0.5),
        (f.pkt("r", [c_heartbeat_ack()], vtag=0xabcdef02),
         "S HEARTBEAT ACK, new tag"),
        (f.pkt("r", [c_data()], vtag=0xabcdef02), "S DATA, new tag"),
        (f.pkt("o", [c_data()], vtag=0xabcdef01), "C DATA, its new tag"),
        (f.pkt("o", [c_heartbeat()], vtag=0x1), "C HEARTBEAT, new again"),
        (f.pkt("o", [c_heartbeat_ack()], vtag=0x2),
         "C HEARTBEAT ACK, same direction"),
    ])
    add("vtag/heartbeat_new_tag_with_data", lambda f: est(f) + [
        (f.pkt("o", [c_heartbeat(), c_data()], vtag=0xabcdef01),
         "C HEARTBEAT + DATA, new tag"),
        (f.pkt("o", [c_data(), c_heartbeat()], vtag=0xabcdef01),
         "C DATA + HEARTBEAT, new tag"),
    ])
    add("vtag/heartbeat_ack_without_failed", lambda f: est(f) + [
        (f.pkt("r", [c_heartbeat_ack()], vtag=0x4242),
         "S HEARTBEAT ACK, unexpected tag"),
    ])
    add("vtag/heartbeat_twice", lambda f: est(f) + [
        (f.pkt("o", [c_heartbeat(), c_heartbeat()], vtag=0x4242),
         "C two HEARTBEATs, new tag"),
    ])
    add("heartbeat/new_flow", lambda f: [
        (f.pkt("o", [c_heartbeat()], vtag=0x1234), "C HEARTBEAT"),
        (f.pkt("r", [c_heartbeat_ack()], vtag=0x5678), "S HEARTBEAT ACK"),
        (f.pkt("o", [c_data()], vtag=0x1234), "C DATA"),
        (f.pkt("r", [c_data()], vtag=0x5678), "S DATA"),
        (f.pkt("r", [c_data()], vtag=0x1234), "S DATA, wrong tag"),
    ])
    add("heartbeat/zero_tags", lambda f: [
        (f.pkt("o", [c_heartbeat()], vtag=0), "C HEARTBEAT tag 0"),
        (f.pkt("r", [c_heartbeat()], vtag=0x5678), "S HEARTBEAT"),
        (f.pkt("o", [c_heartbeat()], vtag=0x1234), "C HEARTBEAT new tag"),
    ])
    add("first/init_ack", lambda f: [
        (f.pkt("o", [c_init_ack(0x1000)], vtag=0x2000),
         "INIT ACK first, tags differ"),
    ])
    add("first/init_ack_same_tag", lambda f: [
        (f.pkt("o", [c_init_ack(0x1000)], vtag=0x1000),
         "INIT ACK first, tag = initiate tag"),
        (f.pkt("r", [c_data()], vtag=0x1000), "reply DATA"),
    ])
    add("first/shutdown_ack", lambda f: [
        (f.pkt("o", [c_shutdown_ack()], vtag=0x3000), "SHUTDOWN ACK first"),
        (f.pkt("r", [c_shutdown_complete(T_FLAG)], vtag=0x3000),
         "SHUTDOWN COMPLETE, T flag"),
    ])
    add("first/shutdown", lambda f: [
        (f.pkt("o", [c_shutdown()], vtag=0x3000), "SHUTDOWN first"),
        (f.pkt("r", [c_abort(T_FLAG)], vtag=0x3000), "ABORT, T flag"),
    ])
    add("first/error", lambda f: [
        (f.pkt("o", [c_error()], vtag=0x3000), "ERROR first"),
    ])
    add("first/cookie_echo", lambda f: [
        (f.pkt("o", [c_cookie_echo()], vtag=0x3000), "COOKIE ECHO first"),
        (f.pkt("r", [c_cookie_ack()], vtag=0x3000), "COOKIE ACK"),
    ])
    add("first/cookie_ack", lambda f: [
        (f.pkt("o", [c_cookie_ack()], vtag=0x3000), "COOKIE ACK first"),
    ])
    add("first/abort", lambda f: [
        (f.pkt("o", [c_abort()], vtag=0x3000), "ABORT first"),
    ])
    add("first/data", lambda f: [
        (f.pkt("o", [c_data()], vtag=0x3000), "DATA first"),
    ])
    add("first/heartbeat_ack", lambda f: [
        (f.pkt("o", [c_heartbeat_ack()], vtag=0x3000),
         "HEARTBEAT ACK first"),
    ])
    add("first/unknown_chunk", lambda f: [
        (f.pkt("o", [chunk(0x80, 0, b"abcd")], vtag=0x3000),
         "unknown chunk type first"),
    ])
    add("chunks/init_bundled", lambda f: [
        (f.pkt("o", [c_init(), c_data()], vtag=0), "INIT + DATA"),
        (f.pkt("o", [c_init()], vtag=0), "INIT"),
        (f.pkt("r", [c_init_ack(), c_data()]), "INIT ACK + DATA"),
    ])
    add("chunks/no_chunk", lambda f: [
        (f.pkt("o", [], vtag=0), "common header only"),
    ])
    add("chunks/zero_length", lambda f: [
        (f.pkt("o", [chunk(INIT, 0, init_value(TAG_C), length=0)], vtag=0),
         "INIT with length 0"),
    ])
    add("chunks/truncated_init", lambda f: [
        (f.pkt("o", [chunk(INIT, 0, b"\x11\x11")], vtag=0),
         "INIT with a 2-byte body"),
        (f.pkt("o", [chunk(INIT, 0, init_value(TAG_C), length=200)],
               vtag=0), "INIT whose length runs past the end"),
    ])
    add("chunks/cookie_echo_second", lambda f: [
        (f.pkt("o", [c_init()], vtag=0), "C INIT"),
        (f.pkt("r", [c_init_ack()]), "S INIT ACK"),
        (f.pkt("o", [c_data(), c_cookie_echo()]), "C DATA + COOKIE ECHO"),
    ])
    add("chunks/odd_lengths", lambda f: est(f) + [
        (f.pkt("o", [chunk(DATA, 3, struct.pack(">IHHI", 1000, 0, 0, 0) +
                           b"abc"), c_sack()]),
         "C DATA of 19 bytes (padded) + SACK"),
        (f.pkt("o", [chunk(DATA, 3, b"", length=2), c_shutdown()]),
         "C chunk length 2 then SHUTDOWN"),
    ])
    add("chunks/partial_chunk_header", lambda f: est(f) + [
        (f.pkt("o", [c_data(), b"\x00\x00"]), "C DATA + 2 stray bytes"),
    ])
    add("header/short", lambda f: [
        (f.pkt("o", [], raw_l4=struct.pack(">HHI", f.sport, SERVER_PORT, 0)),
         "8-byte SCTP header"),
    ])
    add("checksum/bad", lambda f: [
        (f.pkt("o", [c_init()], vtag=0, bad_crc=True), "INIT, bad CRC"),
        (f.pkt("o", [c_init()], vtag=0), "INIT"),
        (f.pkt("r", [c_init_ack()], bad_crc=True), "S INIT ACK, bad CRC"),
    ])
    add("checksum/bad_v6", lambda f: [
        (f.pkt("o", [c_init()], vtag=0, bad_crc=True), "INIT, bad CRC"),
    ], family=6)
    add("checksum/disabled", lambda f: [
        (f.pkt("o", [c_init()], vtag=0, bad_crc=True), "INIT, bad CRC"),
    ], sysctl={"nf_conntrack_checksum": 0})
    add("timeouts/custom", lambda f: est(f) + [
        (f.pkt("o", [c_shutdown()]), "C SHUTDOWN"),
    ], sysctl={"nf_conntrack_sctp_timeout_closed": 7,
               "nf_conntrack_sctp_timeout_cookie_wait": 11,
               "nf_conntrack_sctp_timeout_cookie_echoed": 13,
               "nf_conntrack_sctp_timeout_established": 1000,
               "nf_conntrack_sctp_timeout_shutdown_sent": 17})
    add("collision/simultaneous_init", lambda f: [
        (f.pkt("o", [c_init()], vtag=0), "C INIT"),
        (f.pkt("r", [c_init(TAG_S)], vtag=0), "S INIT"),
        (f.pkt("o", [c_init_ack(TAG_C)], vtag=TAG_S), "C INIT ACK"),
        (f.pkt("r", [c_init_ack(0x6666)]), "S INIT ACK, other tag"),
        (f.pkt("r", [c_init_ack(TAG_S)]), "S INIT ACK"),
        (f.pkt("o", [c_cookie_echo()]), "C COOKIE ECHO"),
        (f.pkt("r", [c_cookie_ack()]), "S COOKIE ACK"),
    ])
    add("restart/init_in_established", lambda f: est(f) + [
        (f.pkt("o", [c_init(0x7777)], vtag=0), "C INIT (restart)"),
        (f.pkt("r", [c_init_ack(0x8888)], vtag=0x7777), "S INIT ACK"),
        (f.pkt("o", [c_cookie_echo()], vtag=0x8888), "C COOKIE ECHO"),
        (f.pkt("r", [c_cookie_ack()], vtag=0x7777), "S COOKIE ACK"),
        (f.pkt("o", [c_data()], vtag=0x8888), "C DATA new tag"),
    ])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-o", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)),
        "../fixtures/sctp_ct/kernel.json"))
    ap.add_argument("--only", help="substring of scenario names to run")
    args = ap.parse_args()
    setup()
    try:
        sock = open_inject_socket()
        mac = vb_mac()
        scens = table_scenarios() + special_scenarios()
        if args.only:
            scens = [s for s in scens if args.only in s["name"]]
        results = [replay(sock, mac, s) for s in scens]
    finally:
        teardown()
    doc = {
        "kernel": os.uname().release,
        "client": {"4": CLIENT4, "6": CLIENT6},
        "sysctl_defaults": SYSCTL_DEFAULTS,
        "scenarios": results,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.o)), exist_ok=True)
    with open(args.o, "w") as fh:
        write_fixture(doc, fh)
    print("wrote %d scenarios to %s" % (len(results), args.o))


if __name__ == "__main__":
    main()
