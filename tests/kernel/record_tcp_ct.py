#!/usr/bin/python3
"""Records how the running kernel's TCP conntrack treats packet sequences.

Regenerates tests/fixtures/tcp_ct/kernel.json, which
src/core/ct_proto_tcp_test.cc replays through netfence's tracker.

Needs root, iptables-legacy, conntrack-tools and scapy (/usr/bin/python3).
Two network namespaces are joined by a veth pair: packets are injected from
"nfct_inj" into "nfct_fw", where conntrack sees them in PREROUTING.
Original-direction packets (client 10.77.0.1 -> server 10.77.0.2) are
delivered locally, so new entries get confirmed at INPUT; the local TCP
stack's answers are dropped in raw OUTPUT, before conntrack. Reply-direction
packets carry the server's (local) address as source: conntrack tracks them
in PREROUTING and routing then drops them as martians, so nothing but our
packets reaches conntrack.

Per packet we record whether conntrack called it INVALID (a mangle
PREROUTING rule's counter) and the entries afterwards (conntrack -L). With
nf_conntrack_acct on, the per-direction packet counters show which packets
the tracker accounted, i.e. renewed the timeout for: ignored packets are
neither. (Marking entries with `conntrack -U --timeout` instead would be
simpler, but a ctnetlink update makes the entry's window tracking liberal.)

    sudo tests/kernel/record_tcp_ct.py [-o OUT]
"""

import argparse
import os
import re
import time

from scapy.all import IP, IPv6, TCP, Raw

import ct_lab

NS_INJ = "nfct_inj"
NS_FW = "nfct_fw"
CLIENT4, SERVER4 = ct_lab.CLIENT4, ct_lab.SERVER4
CLIENT6, SERVER6 = ct_lab.CLIENT6, ct_lab.SERVER6
SERVER_PORT = 80

SYSCTL_DEFAULTS = {
    "nf_conntrack_tcp_loose": 1,
    "nf_conntrack_tcp_be_liberal": 0,
    "nf_conntrack_tcp_ignore_invalid_rst": 0,
    "nf_conntrack_tcp_max_retrans": 3,
    "nf_conntrack_checksum": 1,
    "nf_conntrack_acct": 1,
}

# TCP flag letters as scapy spells them.
SYN, ACK, FIN, RST, PSH, URG = "S", "A", "F", "R", "P", "U"

# Options of a Linux SYN and SYN/ACK (MSS, SACK permitted, timestamps,
# window scale 7).
SYN_OPTS = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)),
            ("NOP", None), ("WScale", 7)]
TS_OPTS = [("NOP", None), ("NOP", None), ("Timestamp", (2, 1))]


# The INVALID counter invalid_count() reads.
LAB = ct_lab.Lab(NS_INJ, NS_FW, [["-p", "tcp", "-m", "conntrack", "--ctstate",
                                  "INVALID", "-j", "ACCEPT"]])
run, setup, teardown = LAB.run, LAB.setup, LAB.teardown
open_inject_socket, vb_mac = LAB.open_inject_socket, LAB.vb_mac
flush, set_sysctls = LAB.flush, LAB.set_sysctls
write_fixture = ct_lab.write_fixture


def invalid_count(family):
    tool = "ip6tables-legacy" if family == 6 else "iptables-legacy"
    out = run(tool, "-t", "mangle", "-L", "PREROUTING", "-v", "-x",
              "-n").stdout
    for line in out.splitlines():
        if "INVALID" in line:
            return int(line.split()[0])
    raise RuntimeError("no INVALID rule")


LINE_RE = re.compile(
    r"^tcp\s+6\s+(\d+)\s+(\S+)\s+src=(\S+)\s+dst=(\S+)\s+sport=(\d+)\s+"
    r"dport=(\d+)\s+packets=(\d+)\s+bytes=\d+\s+(\[UNREPLIED\]\s+)?"
    r"src=.*?packets=(\d+)\s+bytes=\d+\s+(\[ASSURED\]\s+)?mark=")


def conns(family):
    f = "ipv6" if family == 6 else "ipv4"
    out = run("conntrack", "-L", "-f", f, "-p", "tcp", check=False).stdout
    res = []
    for line in out.splitlines():
        m = LINE_RE.match(line)
        if not m:
            continue
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


class Flow:
    """Builds the packets of one client <-> server connection."""

    def __init__(self, sport, family=4):
        self.sport = sport
        self.family = family

    def pkt(self, d, flags, seq, ack=0, win=502, opts=None, data=0,
            chksum=None, dataofs=None):
        if self.family == 6:
            c, s, ipcls = CLIENT6, SERVER6, IPv6
        else:
            c, s, ipcls = CLIENT4, SERVER4, IP
        if d == "o":
            ip = ipcls(src=c, dst=s)
            tcp = TCP(sport=self.sport, dport=SERVER_PORT)
        else:
            ip = ipcls(src=s, dst=c)
            tcp = TCP(sport=SERVER_PORT, dport=self.sport)
        tcp.flags = flags
        tcp.seq = seq & 0xffffffff
        tcp.ack = ack & 0xffffffff
        tcp.window = win
        if opts is not None:
            tcp.options = opts
        if chksum is not None:
            tcp.chksum = chksum
        if dataofs is not None:
            tcp.dataofs = dataofs
        p = ip / tcp
        if data:
            p = p / Raw(b"x" * data)
        if self.family == 4:
            p[IP].id = 1
        return bytes(p)


def replay(sock, mac, scen):
    flush()
    set_sysctls(dict(SYSCTL_DEFAULTS, **scen.get("sysctl", {})))
    fam = scen["family"]
    steps = []
    for raw, note in scen["packets"]:
        before = invalid_count(fam)
        eth_type = b"\x86\xdd" if fam == 6 else b"\x08\x00"
        frame = bytes.fromhex(mac.replace(":", "")) + b"\x02" + b"\0" * 5
        sock.send(frame + eth_type + raw)
        time.sleep(0.02)
        steps.append({
            "note": note,
            "pkt": raw.hex(),
            "invalid": invalid_count(fam) != before,
            "conns": conns(fam),
        })
    out = {k: v for k, v in scen.items() if k != "packets"}
    out["steps"] = steps
    return out


# --- scenarios ------------------------------------------------------------

C_ISN, S_ISN = 1000, 5000


def recipe(state, f):
    """Packets taking a fresh flow to `state`; returns (packets, next client
    seq, next server seq)."""
    c, s = C_ISN, S_ISN
    syn = (f.pkt("o", SYN, c, 0, 64240, SYN_OPTS), "C SYN")
    synack = (f.pkt("r", SYN + ACK, s, c + 1, 65160, SYN_OPTS), "S SYN/ACK")
    ack = (f.pkt("o", ACK, c + 1, s + 1), "C ACK")
    cfin = (f.pkt("o", FIN + ACK, c + 1, s + 1), "C FIN")
    sack_fin = (f.pkt("r", ACK, s + 1, c + 2), "S ACK of FIN")
    sfin = (f.pkt("r", FIN + ACK, s + 1, c + 2), "S FIN")
    clast = (f.pkt("o", ACK, c + 2, s + 2), "C last ACK")
    crst = (f.pkt("o", RST, c + 1, 0), "C RST")
    ssyn = (f.pkt("r", SYN, s, 0, 65160, SYN_OPTS), "S SYN (simultaneous)")
    table = {
        "NONE": ([], c, s),
        "SYN_SENT": ([syn], c + 1, s),
        "SYN_RECV": ([syn, synack], c + 1, s + 1),
        "ESTABLISHED": ([syn, synack, ack], c + 1, s + 1),
        "FIN_WAIT": ([syn, synack, ack, cfin], c + 2, s + 1),
        "CLOSE_WAIT": ([syn, synack, ack, cfin, sack_fin], c + 2, s + 1),
        "LAST_ACK": ([syn, synack, ack, cfin, sack_fin, sfin], c + 2, s + 2),
        "TIME_WAIT": ([syn, synack, ack, cfin, sack_fin, sfin, clast], c + 2,
                      s + 2),
        "CLOSE": ([syn, synack, ack, crst], c + 1, s + 1),
        "SYN_SENT2": ([syn, ssyn], c + 1, s + 1),
    }
    return table[state]


CLASSES = {
    "SYN": SYN,
    "SYNACK": SYN + ACK,
    "FIN": FIN + ACK,
    "ACK": ACK,
    "RST": RST,
    "NONE": PSH,
}


def table_scenarios():
    """One scenario per (start state, direction, flag class): the kernel's
    answer to an in-sequence probe."""
    out = []
    port = 20000
    for state in ("NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT",
                  "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE",
                  "SYN_SENT2"):
        for d in ("o", "r"):
            if state == "NONE" and d == "r":
                continue  # without an entry every packet is "original"
            for cname, flags in CLASSES.items():
                port += 1
                f = Flow(port)
                pkts, cn, sn = recipe(state, f)
                seq, ack = (cn, sn) if d == "o" else (sn, cn)
                if cname == "RST":
                    probe = f.pkt(d, flags, seq, 0)
                elif cname in ("SYN", "SYNACK"):
                    opts = SYN_OPTS
                    # A SYN carries its own sequence number: a new ISN
                    # is what a reopening client would send.
                    s = seq if cname == "SYNACK" else seq + 100000
                    probe = f.pkt(d, flags, s, ack if "A" in flags else 0,
                                  64240, opts)
                else:
                    probe = f.pkt(d, flags, seq, ack)
                name = "table/%s/%s/%s" % (state, "orig" if d == "o" else
                                           "reply", cname)
                out.append({"name": name, "family": 4,
                            "packets": pkts + [(probe, "probe")]})
    return out


def handshake(f, c=C_ISN, s=S_ISN, copts=SYN_OPTS, sopts=SYN_OPTS):
    return [
        (f.pkt("o", SYN, c, 0, 64240, copts), "C SYN"),
        (f.pkt("r", SYN + ACK, s, c + 1, 65160, sopts), "S SYN/ACK"),
        (f.pkt("o", ACK, c + 1, s + 1), "C ACK"),
    ]


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

    c, s = C_ISN, S_ISN

    def data_exchange(f):
        return handshake(f) + [
            (f.pkt("o", PSH + ACK, c + 1, s + 1, data=100), "C data 100"),
            (f.pkt("r", ACK, s + 1, c + 101), "S ACK"),
            (f.pkt("r", PSH + ACK, s + 1, c + 101, data=200), "S data 200"),
            (f.pkt("o", ACK, c + 101, s + 201), "C ACK"),
            (f.pkt("o", FIN + ACK, c + 101, s + 201), "C FIN"),
            (f.pkt("r", FIN + ACK, s + 201, c + 102), "S FIN+ACK"),
            (f.pkt("o", ACK, c + 102, s + 202), "C last ACK"),
        ]
    add("flow/data_exchange", data_exchange)
    add("flow/data_exchange_v6", data_exchange, family=6)

    add("window/seq_over_upper_bound", lambda f: handshake(f) + [
        # The server offered 502 << 7 bytes; a segment far beyond that.
        (f.pkt("o", PSH + ACK, c + 1 + 10_000_000, s + 1, data=10),
         "C data far beyond the window"),
    ])
    add("window/ack_over_upper_bound", lambda f: handshake(f) + [
        (f.pkt("o", ACK, c + 1, s + 5000), "C acks data never sent"),
    ])
    add("window/seq_under_lower_bound", lambda f: handshake(f) + [
        (f.pkt("o", PSH + ACK, c + 1, s + 1, data=1000), "C data"),
        (f.pkt("r", ACK, s + 1, c + 1001, 502), "S ACK"),
        (f.pkt("o", PSH + ACK, (c + 1) - 10_000_000, s + 1, data=10),
         "C ancient retransmission"),
    ])
    add("window/ack_under_lower_bound", lambda f: handshake(f) + [
        (f.pkt("o", ACK, c + 1, (s + 1) - 1_000_000), "C ACK far behind"),
    ])
    add("window/overshoot_receive_window", lambda f: [
        (f.pkt("o", SYN, c, 0, 64240, SYN_OPTS), "C SYN"),
        (f.pkt("r", SYN + ACK, s, c + 1, 1000, [("MSS", 1460)]),
         "S SYN/ACK, no window scaling, window 1000"),
        (f.pkt("o", ACK, c + 1, s + 1, 502), "C ACK"),
        (f.pkt("o", PSH + ACK, c + 1, s + 1, data=1000), "C fills window"),
        (f.pkt("o", PSH + ACK, c + 1001, s + 1, data=500),
         "C 500 more bytes starting at the window's edge"),
        (f.pkt("o", PSH + ACK, c + 1502, s + 1, data=100),
         "C 100 bytes starting past the edge: overshoot, ignored"),
        (f.pkt("r", ACK, s + 1, c + 1602, 1000), "S acks the overshoot"),
        (f.pkt("o", PSH + ACK, c + 30001, s + 1, data=10),
         "C far past the window"),
    ])
    add("window/receiver_window_grows_with_overrun", lambda f: [
        (f.pkt("o", SYN, c, 0, 64240, SYN_OPTS), "C SYN"),
        (f.pkt("r", SYN + ACK, s, c + 1, 1000, [("MSS", 1460)]),
         "S SYN/ACK, no window scaling, window 1000"),
        (f.pkt("o", ACK, c + 1, s + 1, 502), "C ACK"),
        (f.pkt("o", PSH + ACK, c + 1, s + 1, data=1000), "C fills window"),
        (f.pkt("o", PSH + ACK, c + 1001, s + 1, data=900),
         "C 900 bytes from the edge: server max window grows by 900"),
        (f.pkt("o", PSH + ACK, c + 1902, s + 1, data=500),
         "C overshoot of 1402 bytes: under the grown window, ignored"),
    ])
    add("window/zero_window_synack", lambda f: [
        (f.pkt("o", SYN, c, 0, 64240, SYN_OPTS), "C SYN"),
        (f.pkt("r", SYN + ACK, s, c + 1, 0, [("MSS", 1460)]),
         "S SYN/ACK, window 0"),
        (f.pkt("o", ACK, c + 1, s + 1, 502), "C ACK"),
        (f.pkt("o", PSH + ACK, c + 2, s + 1, data=1),
         "C one byte, starting one past the zero window"),
    ])
    add("window/no_wscale_on_synack", lambda f: [
        (f.pkt("o", SYN, c, 0, 64240, SYN_OPTS), "C SYN, wscale 7"),
        (f.pkt("r", SYN + ACK, s, c + 1, 2000, [("MSS", 1460)]),
         "S SYN/ACK without wscale: no scaling either way"),
        (f.pkt("o", ACK, c + 1, s + 1, 10), "C ACK, window 10"),
        (f.pkt("r", ACK, s + 1, c + 1, 100), "S ACK, window 100 unscaled"),
        (f.pkt("o", PSH + ACK, c + 3001, s + 1, 10, data=100),
         "C data starting 3000 in: past the 2000 window"),
        (f.pkt("o", PSH + ACK, c + 1001, s + 1, 10, data=100),
         "C data starting 1000 in"),
    ])
    add("window/wscale_both", lambda f: [
        (f.pkt("o", SYN, c, 0, 64240, SYN_OPTS), "C SYN, wscale 7"),
        (f.pkt("r", SYN + ACK, s, c + 1, 2000, SYN_OPTS),
         "S SYN/ACK wscale 7, window 2000 (SYN windows are unscaled)"),
        (f.pkt("o", ACK, c + 1, s + 1, 10), "C ACK, window 10<<7"),
        (f.pkt("r", ACK, s + 1, c + 1, 100), "S ACK, window 100<<7"),
        (f.pkt("o", PSH + ACK, c + 3001, s + 1, 10, data=100),
         "C data starting 3000 in: inside 12800"),
        (f.pkt("o", PSH + ACK, c + 20001, s + 1, 10, data=100),
         "C data starting 20000 in: past 12800"),
        (f.pkt("r", PSH + ACK, s + 1, c + 1, 100, data=1200),
         "S 1200 bytes: client window 10<<7 = 1280"),
        (f.pkt("r", PSH + ACK, s + 1201 + 1400, c + 1, 100, data=10),
         "S data 2600 in: past 1280 + 1200"),
    ])
    add("window/sack_beyond_end", lambda f: handshake(f) + [
        (f.pkt("r", PSH + ACK, s + 1, c + 1, data=100), "S data 100"),
        (f.pkt("o", ACK, c + 1, s + 1,
               opts=[("NOP", None), ("NOP", None),
                     ("SAck", (s + 51, s + 101))]),
         "C SACK of received data"),
        (f.pkt("o", ACK, c + 1, s + 1,
               opts=[("NOP", None), ("NOP", None),
                     ("SAck", (s + 51, s + 5001))]),
         "C SACK block beyond anything sent"),
    ])
    add("window/sack_highest_block", lambda f: handshake(f) + [
        (f.pkt("r", PSH + ACK, s + 1, c + 1, data=100), "S data 100"),
        (f.pkt("o", ACK, c + 1, s + 1,
               opts=[("NOP", None), ("NOP", None),
                     ("SAck", (s + 51, s + 5001, s + 21, s + 41))]),
         "C SACK, first block beyond end, second inside"),
        (f.pkt("o", ACK, c + 1, s + 1,
               opts=[("NOP", None), ("NOP", None),
                     ("SAck", (s + 61, s + 101, s - 500, s - 400))]),
         "C SACK, second block below the ACK"),
    ])
    add("window/sack_not_permitted", lambda f: handshake(
        f, copts=[("MSS", 1460), ("WScale", 7)],
        sopts=[("MSS", 1460), ("WScale", 7)]) + [
        (f.pkt("r", PSH + ACK, s + 1, c + 1, data=100), "S data 100"),
        (f.pkt("o", ACK, c + 1, s + 1,
               opts=[("NOP", None), ("NOP", None),
                     ("SAck", (s + 51, s + 5001))]),
         "C SACK beyond end, but SACK never permitted: ignored option"),
    ])
    add("window/timestamps", lambda f: handshake(f) + [
        (f.pkt("o", PSH + ACK, c + 1, s + 1, opts=TS_OPTS, data=10),
         "C data with timestamps"),
        (f.pkt("r", ACK, s + 1, c + 11, opts=TS_OPTS), "S ACK"),
    ])

    def retrans(f):
        pk = handshake(f)
        pk.append((f.pkt("r", ACK, s + 1, c + 1), "S ACK"))
        for i in range(5):
            pk.append((f.pkt("o", ACK, c + 1, s + 1), "C same ACK #%d" % i))
        pk.append((f.pkt("o", ACK, c + 1, s + 1, 600), "C new window"))
        return pk
    add("timeout/retransmissions", retrans)
    add("timeout/max_retrans_1", retrans,
        sysctl={"nf_conntrack_tcp_max_retrans": 1})
    add("timeout/retrans_in_close_wait", lambda f: handshake(f) + [
        (f.pkt("o", FIN + ACK, c + 1, s + 1), "C FIN"),
        (f.pkt("r", ACK, s + 1, c + 2), "S ACK of FIN"),
    ] + [(f.pkt("r", ACK, s + 1, c + 2), "S same ACK #%d" % i)
         for i in range(4)])
    add("timeout/unacknowledged_data", lambda f: handshake(f) + [
        (f.pkt("o", PSH + ACK, c + 1, s + 1, data=100), "C data"),
        (f.pkt("r", ACK, s + 1, c + 51), "S partial ACK"),
        (f.pkt("r", ACK, s + 1, c + 101), "S full ACK"),
    ])
    add("timeout/zero_window", lambda f: handshake(f) + [
        (f.pkt("r", ACK, s + 1, c + 1, 0), "S zero window"),
        (f.pkt("o", ACK, c + 1, s + 1, 502), "C ACK"),
        (f.pkt("r", ACK, s + 1, c + 1, 100), "S window opens"),
    ])
    add("timeout/syn_retransmit_no_refresh", lambda f: [
        (f.pkt("o", SYN, c, 0, 64240, SYN_OPTS), "C SYN"),
        (f.pkt("o", SYN, c, 0, 64240, SYN_OPTS), "C SYN again"),
        (f.pkt("o", SYN, c + 7, 0, 64240, SYN_OPTS), "C SYN, new ISN"),
    ])

    def pickup(f):
        return [
            (f.pkt("o", ACK, c + 1, s + 1), "C ACK mid-stream"),
            (f.pkt("o", PSH + ACK, c + 1, s + 1, data=100), "C data"),
            (f.pkt("r", ACK, s + 1, c + 101), "S ACK"),
            (f.pkt("o", ACK, c + 101, s + 1), "C ACK"),
            (f.pkt("r", PSH + ACK, s + 1, c + 101, 20000, data=300),
             "S data (liberal: window scale unknown)"),
        ]
    add("loose/pickup", pickup)
    add("loose/disabled", pickup, sysctl={"nf_conntrack_tcp_loose": 0})
    add("loose/pickup_fin", lambda f: [
        (f.pkt("o", FIN + ACK, c + 1, s + 1), "C FIN mid-stream"),
    ])
    add("loose/pickup_synack", lambda f: [
        (f.pkt("o", SYN + ACK, c, s + 1, 64240, SYN_OPTS),
         "SYN/ACK cannot start an entry"),
    ])
    add("loose/pickup_reply_first", lambda f: [
        (f.pkt("r", ACK, s + 1, c + 1), "S ACK mid-stream (becomes orig)"),
        (f.pkt("o", ACK, c + 1, s + 1), "C ACK"),
        (f.pkt("r", ACK, s + 1, c + 1), "S ACK"),
    ])
    add("loose/pickup_then_resync", lambda f: [
        (f.pkt("o", ACK, c + 1, s + 1), "C ACK mid-stream (liberal)"),
        (f.pkt("o", SYN, c + 70000, 0, 64240, SYN_OPTS),
         "C SYN: ignored"),
        (f.pkt("r", SYN + ACK, s + 90000, c + 70001, 65160, SYN_OPTS),
         "S SYN/ACK: resync, the client side loses the liberal flag"),
        (f.pkt("o", ACK, c + 70001, s + 90001), "C ACK"),
        (f.pkt("r", PSH + ACK, s + 90001 + 10_000_000, c + 70001, data=10),
         "S data far out of window: still liberal"),
        (f.pkt("o", PSH + ACK, c + 70001 + 10_000_000, s + 90001, data=10),
         "C data far out of window: invalid"),
    ])
    add("liberal/out_of_window_accepted", lambda f: handshake(f) + [
        (f.pkt("o", PSH + ACK, c + 1 + 10_000_000, s + 1, data=10),
         "C data far beyond the window"),
        (f.pkt("o", ACK, c + 1, s + 5000), "C acks data never sent"),
    ], sysctl={"nf_conntrack_tcp_be_liberal": 1})

    add("rst/exact", lambda f: handshake(f) + [
        (f.pkt("r", ACK, s + 1, c + 1), "S ACK"),
        (f.pkt("r", RST, s + 1, 0), "S RST at the ACKed seq"),
    ])
    add("rst/with_ack", lambda f: handshake(f) + [
        (f.pkt("o", RST + ACK, c + 1, s + 1), "C RST+ACK"),
    ])
    add("rst/zero_ack", lambda f: handshake(f) + [
        (f.pkt("o", RST + ACK, c + 1, 0), "C RST+ACK with ack 0"),
    ])
    add("rst/zero_ack_high_isn", lambda f: handshake(f, c=0x90000000,
                                                     s=0xa0000000) + [
        (f.pkt("o", RST + ACK, 0x90000001, 0), "C RST+ACK with ack 0"),
    ])
    add("rst/seq0_in_syn_recv", lambda f: [
        (f.pkt("o", SYN, c, 0, 64240, SYN_OPTS), "C SYN"),
        (f.pkt("r", SYN + ACK, s, c + 1, 65160, SYN_OPTS), "S SYN/ACK"),
        (f.pkt("o", RST, 0, 0), "C RST with seq 0"),
    ])
    add("rst/seq0_in_syn_sent_high_isn", lambda f: [
        (f.pkt("o", SYN, 3_000_000_000, 0, 64240, SYN_OPTS), "C SYN"),
        (f.pkt("o", RST, 0, 0), "C RST with seq 0 (aborting its SYN)"),
    ])
    add("rst/before_maxack", lambda f: handshake(f) + [
        (f.pkt("r", ACK, s + 1, c + 1), "S ACK"),
        (f.pkt("o", PSH + ACK, c + 1, s + 1, data=100), "C data"),
        (f.pkt("r", ACK, s + 1, c + 101), "S ACK of data"),
        (f.pkt("o", RST, c + 50, 0), "C RST below the peer's ACK"),
    ])
    add("rst/before_maxack_ignore_invalid", lambda f: handshake(f) + [
        (f.pkt("r", ACK, s + 1, c + 1), "S ACK"),
        (f.pkt("o", PSH + ACK, c + 1, s + 1, data=100), "C data"),
        (f.pkt("r", ACK, s + 1, c + 101), "S ACK of data"),
        (f.pkt("o", RST, c + 50, 0), "C RST below the peer's ACK"),
    ], sysctl={"nf_conntrack_tcp_ignore_invalid_rst": 1})
    add("rst/in_window_not_exact", lambda f: handshake(f) + [
        (f.pkt("r", ACK, s + 1, c + 1), "S ACK (now assured)"),
        (f.pkt("o", RST, c + 500, 0), "C RST inside the window, not exact"),
        (f.pkt("r", ACK, s + 1, c + 1), "S challenge ACK"),
        (f.pkt("o", RST, c + 1, 0), "C RST exact"),
    ])
    add("rst/far_rst_acking_last_ack", lambda f: handshake(f) + [
        (f.pkt("r", ACK, s + 1, c + 1), "S ACK (assured)"),
        (f.pkt("o", PSH + ACK, c + 1, s + 1, data=10), "C data"),
        (f.pkt("r", RST + ACK, s + 1 + 10_000_000, c + 11),
         "S RST+ACK acking it, sequence far out of window"),
    ])
    add("rst/train", lambda f: handshake(f) + [
        (f.pkt("r", ACK, s + 1, c + 1), "S ACK"),
        (f.pkt("r", PSH + ACK, s + 1, c + 1, data=19), "S data 19"),
        (f.pkt("r", RST, s + 20, 0), "S RST right after its data"),
    ])
    add("rst/refused_syn", lambda f: [
        (f.pkt("o", SYN, c, 0, 64240, SYN_OPTS), "C SYN"),
        (f.pkt("r", RST + ACK, 0, c + 1), "S RST+ACK: port closed"),
        (f.pkt("o", SYN, c, 0, 64240, SYN_OPTS), "C SYN again: new entry"),
    ])
    add("rst/out_of_window", lambda f: handshake(f) + [
        (f.pkt("r", ACK, s + 1, c + 1), "S ACK"),
        (f.pkt("o", RST, c + 1 + 10_000_000, 0), "C RST far away"),
    ])
    add("rst/dead_connection_shortened", lambda f: handshake(f) + [
        (f.pkt("r", ACK, s + 1, c + 1), "S ACK (assured)"),
        (f.pkt("o", FIN + ACK, c + 1 + 10_000_000, s + 1),
         "C FIN out of window"),
        (f.pkt("r", RST, s + 1 + 10_000_000, 0), "S RST out of window"),
    ])
    add("reopen/time_wait", lambda f: data_exchange(f) + [
        (f.pkt("o", SYN, c + 500000, 0, 64240, SYN_OPTS),
         "C SYN reopens"),
        (f.pkt("r", SYN + ACK, s + 700000, c + 500001, 65160, SYN_OPTS),
         "S SYN/ACK"),
    ])
    add("reopen/time_wait_by_server", lambda f: data_exchange(f) + [
        (f.pkt("r", SYN, s + 500000, 0, 64240, SYN_OPTS),
         "S SYN in TIME_WAIT"),
    ])
    add("reopen/close_after_rst", lambda f: handshake(f) + [
        (f.pkt("o", RST, c + 1, 0), "C RST"),
        (f.pkt("o", SYN, c + 9000, 0, 64240, SYN_OPTS), "C SYN reopens"),
    ])
    add("reopen/close_after_peer_rst", lambda f: handshake(f) + [
        (f.pkt("r", ACK, s + 1, c + 1), "S ACK"),
        (f.pkt("r", RST, s + 1, 0), "S RST"),
        (f.pkt("o", SYN, c + 9000, 0, 64240, SYN_OPTS),
         "C SYN: ignored (RST came from the other side)"),
        (f.pkt("r", SYN + ACK, s + 7000, c + 9001, 65160, SYN_OPTS),
         "S SYN/ACK answering it: resync"),
        (f.pkt("o", ACK, c + 9001, s + 7001), "C ACK"),
    ])
    add("ignore/syn_in_established_resync", lambda f: handshake(f) + [
        (f.pkt("o", SYN, c + 123456, 0, 29200, [("MSS", 1460),
                                                 ("WScale", 3)]),
         "C SYN in ESTABLISHED: ignored"),
        (f.pkt("r", SYN + ACK, s + 654321, c + 123457, 28960,
               [("MSS", 1460), ("WScale", 3)]), "S SYN/ACK acks it"),
        (f.pkt("o", ACK, c + 123457, s + 654322, 3650), "C ACK"),
        (f.pkt("r", ACK, s + 654322, c + 123457, 3620), "S ACK"),
    ])
    add("ignore/syn_in_established_rst", lambda f: handshake(f) + [
        (f.pkt("r", ACK, s + 1, c + 1), "S ACK"),
        (f.pkt("o", SYN, c + 123456, 0, 29200, SYN_OPTS),
         "C SYN in ESTABLISHED: ignored"),
        (f.pkt("r", RST + ACK, 0, c + 123457), "S RST answering it"),
    ])
    add("ignore/synack_retransmit", lambda f: handshake(f) + [
        (f.pkt("r", SYN + ACK, s, c + 1, 65160, SYN_OPTS),
         "S SYN/ACK again"),
    ])
    add("ignore/half_open_ack", lambda f: [
        (f.pkt("o", SYN, c, 0, 64240, SYN_OPTS), "C SYN"),
        (f.pkt("r", ACK, s + 77, c + 999), "S ACK (challenge/half open)"),
        (f.pkt("o", RST, c + 999, 0), "C RST answering the ACK"),
    ])
    add("challenge/last_ack", lambda f: handshake(f) + [
        (f.pkt("o", FIN + ACK, c + 1, s + 1), "C FIN"),
        (f.pkt("r", FIN + ACK, s + 1, c + 2), "S FIN+ACK"),
        (f.pkt("o", SYN, c + 100000, 0, 64240, SYN_OPTS),
         "C SYN in LAST_ACK: ignored"),
        (f.pkt("r", ACK, s + 2, c + 2), "S challenge ACK: ignored"),
        (f.pkt("o", ACK, c + 2, s + 2), "C last ACK"),
    ])
    add("challenge/last_ack_repeated", lambda f: handshake(f) + [
        (f.pkt("o", FIN + ACK, c + 1, s + 1), "C FIN"),
        (f.pkt("r", FIN + ACK, s + 1, c + 2), "S FIN+ACK"),
        (f.pkt("o", SYN, c + 100000, 0, 64240, SYN_OPTS),
         "C SYN in LAST_ACK: ignored"),
        (f.pkt("r", ACK, s + 2, c + 2), "S challenge ACK: ignored"),
        (f.pkt("r", ACK, s + 2, c + 2), "S ACK again: now taken"),
    ])
    add("challenge/last_ack_same_side", lambda f: handshake(f) + [
        (f.pkt("o", FIN + ACK, c + 1, s + 1), "C FIN"),
        (f.pkt("r", FIN + ACK, s + 1, c + 2), "S FIN+ACK"),
        (f.pkt("o", SYN, c + 100000, 0, 64240, SYN_OPTS),
         "C SYN in LAST_ACK: ignored"),
        (f.pkt("o", ACK, c + 2, s + 2),
         "C ACK: from the SYN's side, not a challenge ACK"),
    ])
    add("simultaneous_open", lambda f: [
        (f.pkt("o", SYN, c, 0, 64240, SYN_OPTS), "C SYN"),
        (f.pkt("r", SYN, s, 0, 65160, SYN_OPTS), "S SYN"),
        (f.pkt("o", SYN + ACK, c, s + 1, 64240, SYN_OPTS), "C SYN/ACK"),
        (f.pkt("r", SYN + ACK, s, c + 1, 65160, SYN_OPTS), "S SYN/ACK"),
        (f.pkt("r", ACK, s + 1, c + 1), "S ACK"),
        (f.pkt("o", ACK, c + 1, s + 1), "C ACK"),
    ])
    add("simultaneous_open_syn_retrans", lambda f: [
        (f.pkt("o", SYN, c, 0, 64240, SYN_OPTS), "C SYN"),
        (f.pkt("r", SYN, s, 0, 65160, SYN_OPTS), "S SYN"),
        (f.pkt("r", SYN, s, 0, 65160, SYN_OPTS), "S SYN again"),
        (f.pkt("o", SYN, c, 0, 64240, SYN_OPTS), "C SYN again"),
    ])
    add("synsent/syn_new_isn", lambda f: [
        (f.pkt("o", SYN, c, 0, 64240, SYN_OPTS), "C SYN"),
        (f.pkt("o", SYN, c + 1000, 0, 64240, [("MSS", 1460)]),
         "C SYN, higher ISN, no options: re-init"),
        (f.pkt("r", SYN + ACK, s, c + 1001, 65160, SYN_OPTS), "S SYN/ACK"),
        (f.pkt("o", ACK, c + 1001, s + 1), "C ACK"),
    ])
    add("synsent/syn_new_isn_keeps_wscale", lambda f: [
        (f.pkt("o", SYN, c, 0, 64240, SYN_OPTS), "C SYN"),
        (f.pkt("o", SYN, c + 1000, 0, 64240, SYN_OPTS),
         "C SYN, higher ISN: re-init keeps its window scale"),
        (f.pkt("r", SYN + ACK, s, c + 1001, 65160, SYN_OPTS), "S SYN/ACK"),
        (f.pkt("o", ACK, c + 1001, s + 1, 10), "C ACK, window 10<<7"),
        (f.pkt("r", PSH + ACK, s + 1, c + 1001, data=1000), "S 1000 bytes"),
        (f.pkt("r", PSH + ACK, s + 1001, c + 1001, data=100),
         "S 100 more: inside 1280 only when scaled"),
    ])
    add("synrecv/synack_new_isn", lambda f: [
        (f.pkt("o", SYN, c, 0, 64240, SYN_OPTS), "C SYN"),
        (f.pkt("r", SYN + ACK, s, c + 1, 65160, SYN_OPTS), "S SYN/ACK"),
        (f.pkt("r", SYN + ACK, s + 500, c + 1, 65160, SYN_OPTS),
         "S SYN/ACK, new ISN: ignored"),
        (f.pkt("o", ACK, c + 1, s + 501), "C ACK of the second"),
    ])
    add("flags/invalid_combinations", lambda f: [
        (f.pkt("o", SYN + FIN, c, 0, 64240), "SYN+FIN"),
        (f.pkt("o", "", c, 0), "no flags"),
        (f.pkt("o", FIN, c, 0), "FIN without ACK"),
        (f.pkt("o", SYN + RST, c, 0), "SYN+RST"),
        (f.pkt("o", SYN + URG, c, 0, 64240, SYN_OPTS), "SYN+URG"),
        (f.pkt("r", ACK, s + 1, c + 1), "reply-side ACK"),
        (f.pkt("r", ACK + URG + PSH + "EC", s + 1, c + 1), "ACK+URG+PSH+ECE+CWR"),
        (f.pkt("o", ACK + FIN + URG, c + 1, s + 1), "FIN+ACK+URG"),
    ])
    add("flags/bad_doff", lambda f: [
        (f.pkt("o", SYN, c, 0, 64240, dataofs=4), "doff 4"),
        (f.pkt("o", SYN, c, 0, 64240, dataofs=15), "doff 15 past the end"),
        (f.pkt("o", SYN, c, 0, 64240, SYN_OPTS), "good SYN"),
    ])
    add("checksum/bad", lambda f: [
        (f.pkt("o", SYN, c, 0, 64240, SYN_OPTS, chksum=0x1234),
         "SYN with a bad checksum"),
        (f.pkt("o", SYN, c, 0, 64240, SYN_OPTS), "good SYN"),
    ])
    add("checksum/bad_v6", lambda f: [
        (f.pkt("o", SYN, c, 0, 64240, SYN_OPTS, chksum=0x1234),
         "SYN with a bad checksum"),
        (f.pkt("o", SYN, c, 0, 64240, SYN_OPTS), "good SYN"),
    ], family=6)
    add("checksum/disabled", lambda f: [
        (f.pkt("o", SYN, c, 0, 64240, SYN_OPTS, chksum=0x1234),
         "SYN with a bad checksum"),
    ], sysctl={"nf_conntrack_checksum": 0})
    add("seq/wraparound", lambda f: handshake(f, c=0xffffff00,
                                              s=0xfffffff0) + [
        (f.pkt("o", PSH + ACK, 0xffffff01, 0xfffffff1, data=1000),
         "C data across 2^32"),
        (f.pkt("r", ACK, 0xfffffff1, (0xffffff01 + 1000) & 0xffffffff),
         "S ACK across 2^32"),
    ])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-o", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)),
        "../fixtures/tcp_ct/kernel.json"))
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
    with open(args.o, "w") as fh:
        write_fixture(doc, fh)
    print("wrote %d scenarios to %s" % (len(results), args.o))


if __name__ == "__main__":
    main()
