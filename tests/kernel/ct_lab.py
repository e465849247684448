"""The two-namespace lab the conntrack recorders (record_tcp_ct.py,
record_sctp_ct.py) replay packet sequences in, and their fixture writer.

An injector namespace and a firewall namespace are joined by a veth pair
(va in the injector, vb in the firewall); packets written to an AF_PACKET
socket on va reach conntrack in the firewall's PREROUTING. The host's own
answers are dropped in raw OUTPUT, before conntrack."""

import ctypes
import json
import os
import socket
import subprocess
import sys
import time

CLIENT4, SERVER4 = "10.77.0.1", "10.77.0.2"
CLIENT6, SERVER6 = "fd77::1", "fd77::2"


class Lab:
    """ns_inj / ns_fw name the namespaces; mangle_rules are the argument
    lists (after `-t mangle -A PREROUTING`) of the counting rules each
    recorder reads; offload_off turns checksum offload off on vb."""

    def __init__(self, ns_inj, ns_fw, mangle_rules, offload_off=False):
        self.ns_inj, self.ns_fw = ns_inj, ns_fw
        self.mangle_rules = mangle_rules
        self.offload_off = offload_off

    def run(self, *args, ns="fw", check=True):
        """Runs a command in the firewall namespace (ns="fw"), in another
        one (a name) or in the root namespace (ns=None)."""
        ns = self.ns_fw if ns == "fw" else ns
        cmd = ["ip", "netns", "exec", ns] + list(args) if ns else list(args)
        return subprocess.run(cmd, check=check, capture_output=True, text=True)

    def setup(self):
        self.teardown()
        run = self.run
        run("ip", "netns", "add", self.ns_inj, ns=None)
        run("ip", "netns", "add", self.ns_fw, ns=None)
        run("ip", "link", "add", "va", "type", "veth", "peer", "name", "vb",
            "netns", self.ns_fw, ns=self.ns_inj)
        for ns, dev, a4, a6 in ((self.ns_inj, "va", CLIENT4, CLIENT6),
                                (self.ns_fw, "vb", SERVER4, SERVER6)):
            run("ip", "link", "set", "lo", "up", ns=ns)
            run("ip", "addr", "add", a4 + "/24", "dev", dev, ns=ns)
            run("ip", "addr", "add", a6 + "/64", "dev", dev, "nodad", ns=ns)
            run("ip", "link", "set", dev, "up", ns=ns)
        if self.offload_off:
            run("ethtool", "-K", "vb", "rx", "off", "tx", "off", check=False)
        for tool in ("iptables-legacy", "ip6tables-legacy"):
            run(tool, "-t", "raw", "-A", "OUTPUT", "-j", "DROP")
            for rule in self.mangle_rules:
                run(tool, "-t", "mangle", "-A", "PREROUTING", *rule)
        run("sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0")
        run("sysctl", "-qw", "net.ipv4.conf.vb.rp_filter=0")
        time.sleep(0.5)

    def teardown(self):
        for ns in (self.ns_inj, self.ns_fw):
            self.run("ip", "netns", "del", ns, ns=None, check=False)

    def open_inject_socket(self):
        """Opens an AF_PACKET socket on va inside the injector namespace."""
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        clone_newnet = 0x40000000
        here = os.open("/proc/self/ns/net", os.O_RDONLY)
        there = os.open("/var/run/netns/" + self.ns_inj, os.O_RDONLY)
        if libc.setns(there, clone_newnet) != 0:
            sys.exit("setns failed")
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind(("va", 0))
        libc.setns(here, clone_newnet)
        os.close(here)
        os.close(there)
        return s

    def vb_mac(self):
        return self.run("cat", "/sys/class/net/vb/address").stdout.strip()

    def flush(self):
        self.run("conntrack", "-F", check=False)

    def set_sysctls(self, values):
        for k, v in values.items():
            self.run("sysctl", "-qw", "net.netfilter.%s=%d" % (k, v))


def write_fixture(doc, fh):
    """Writes the JSON with one step per line, which keeps it small and
    its diffs readable."""
    head = {k: v for k, v in doc.items() if k != "scenarios"}
    fh.write(json.dumps(head)[:-1] + ', "scenarios": [\n')
    for i, sc in enumerate(doc["scenarios"]):
        meta = {k: v for k, v in sc.items() if k != "steps"}
        fh.write(json.dumps(meta)[:-1] + ', "steps": [\n')
        steps = [" " + json.dumps(st, separators=(",", ":"))
                 for st in sc["steps"]]
        fh.write(",\n".join(steps))
        fh.write("\n]}" + ("," if i + 1 < len(doc["scenarios"]) else "") +
                 "\n")
    fh.write("]}\n")
