#!/usr/bin/env python3
"""Kernel-differential test of netfence's host model (routing decisions).

For every host (the ten realistic scenario hosts, then random hosts generated
from a seed: 2-4 interfaces, IPv4 and IPv6, static routes of every type,
policy rules, routing sysctls, forwarding on or off) it builds a network
namespace with veth pairs (peers in a second namespace, nothing is ever sent),
dumps it back with the contract's one-liner (plus rules and sysctls), and asks
both the kernel (`ip -j route get ... [from S] [iif D | oif D] [mark M] [tos T]`)
and `netfence route --batch` the same random questions: input routing (local
delivery, forwarding, martians, rp_filter...), output routing (device,
gateway, type, source address), and IPv6 multicast membership. For the
realistic hosts the model is also built from the original host.json.

The model folds ip6_mc_input's membership check into IPv6 input routing;
the kernel's answer for a multicast input route is turned into "Invalid
argument" when `ip maddr` shows the input device has not joined the group.
Multipath routes are not generated (the kernel picks a path by a hash
seeded at boot).

Exit status: 0 all agree, 1 mismatches, 77 skipped (not root, no `ip netns`),
2 usage. Standard library only. Namespaces are always removed.
"""

import argparse
import atexit
import collections
import ipaddress
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PREFIX = "nfrd%d" % os.getpid()
_namespaces = []
INFERRED = [0]  # kernel answers completed by inference (see kernel_answer)
KINDS = collections.Counter()  # kernel answers by kind, for the summary


# ---------------------------------------------------------------- plumbing

def run(args, check=True, inp=None):
    p = subprocess.run(args, input=inp, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(args), p.stderr.strip()))
    return p


def ip(ns, *args, check=True):
    return run(["ip", "-n", ns] + [str(a) for a in args], check=check)


def sysctl(ns, key, value, check=True):
    return run(["ip", "netns", "exec", ns, "sysctl", "-qw",
                "%s=%s" % (key, value)], check=check)


def add_ns(name):
    run(["ip", "netns", "add", name])
    _namespaces.append(name)


def del_ns(name):
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    if name in _namespaces:
        _namespaces.remove(name)


def cleanup():
    for ns in list(reversed(_namespaces)):
        del_ns(ns)


def on_signal(signum, frame):
    cleanup()
    sys.exit(128 + signum)


def probe():
    """Why the test cannot run here, or None."""
    if os.geteuid() != 0:
        return "not root (network namespaces need CAP_SYS_ADMIN)"
    if shutil.which("ip") is None:
        return "no `ip` command (iproute2)"
    name = PREFIX + "probe"
    p = subprocess.run(["ip", "netns", "add", name], capture_output=True,
                       text=True)
    if p.returncode != 0:
        return "`ip netns add` failed: " + p.stderr.strip()
    _namespaces.append(name)
    del_ns(name)
    return None


# ------------------------------------------------------------ building

def is_v6_route(r):
    d = r.get("dst", "")
    if d != "default":
        return ":" in d
    if "gateway" in r:
        return ":" in r["gateway"]
    return "pref" in r


def has_ipv6(host):
    return any(ai.get("family") == "inet6"
               for l in host["addrs"] for ai in l.get("addr_info", []))


def route_cmd(r, v6):
    """`ip route add` words for one dumped route."""
    words = []
    t = r.get("type", "unicast")
    words += [t, r["dst"]]
    if "from" in r:
        words += ["from", r["from"]]
    if "tos" in r:
        words += ["tos", r["tos"]]
    if "nexthops" in r:
        for nh in r["nexthops"]:
            words += ["nexthop"]
            if "gateway" in nh:
                words += ["via", nh["gateway"]]
            words += ["dev", nh["dev"]]
            if "weight" in nh:
                words += ["weight", nh["weight"]]
            if "onlink" in nh.get("flags", []):
                words += ["onlink"]
    else:
        if "gateway" in r:
            words += ["via", r["gateway"]]
        if "dev" in r and not (v6 and t in ("unreachable", "blackhole",
                                            "prohibit", "throw")):
            words += ["dev", r["dev"]]
        if "onlink" in r.get("flags", []):
            words += ["onlink"]
    if "table" in r:
        words += ["table", r["table"]]
    if "metric" in r:
        words += ["metric", r["metric"]]
    if "scope" in r:
        words += ["scope", r["scope"]]
    if "prefsrc" in r:
        words += ["src", r["prefsrc"]]
    if "protocol" in r:
        words += ["proto", r["protocol"]]
    for m in r.get("metrics", []):
        if "mtu" in m:
            v = m["mtu"]
            words += ["mtu"] + (v if isinstance(v, list) else [v])
    if v6 and "pref" in r:
        words += ["pref", r["pref"]]
    return [str(w) for w in words]


DEFAULT_RULES = {4: [(0, "local"), (32766, "main"), (32767, "default")],
                 6: [(0, "local"), (32766, "main")]}


def rule_is_default(j, fam):
    keys = set(j) - {"priority", "src", "table"}
    return (not keys and j.get("src") == "all" and
            (j["priority"], j.get("table")) in DEFAULT_RULES[fam])


def rule_cmd(j):
    w = ["pref", j["priority"]]
    if "not" in j:
        w += ["not"]
    if j.get("src", "all") != "all":
        w += ["from", "%s/%s" % (j["src"], j.get("srclen", ""))
              if "srclen" in j else j["src"]]
    if "dst" in j:
        w += ["to", "%s/%s" % (j["dst"], j["dstlen"]) if "dstlen" in j
              else j["dst"]]
    for k in ("iif", "oif", "tos"):
        if k in j:
            w += [k, j[k]]
    if "fwmark" in j:
        w += ["fwmark", j["fwmark"] + ("/" + j["fwmask"] if "fwmask" in j
                                       else "")]
    if "suppress_prefixlen" in j:
        w += ["suppress_prefixlength", j["suppress_prefixlen"]]
    if "goto" in j:
        w += ["goto", j["goto"]]
    elif "nop" in j:
        w += ["nop"]
    elif "action" in j:
        w += [j["action"]]
    else:
        w += ["lookup", j.get("table", "main")]
    return [str(x) for x in w]


class Namespace:
    """One host in a namespace, its veth peers in another."""

    def __init__(self, tag):
        self.ns = PREFIX + tag
        self.peer = PREFIX + tag + "p"
        self.problems = []  # what could not be rebuilt

    def build(self, host):
        ns = self.ns
        add_ns(ns)
        add_ns(self.peer)
        v6 = has_ipv6(host)
        # Kernel-made IPv6 addresses (link-local, DAD) would differ from the
        # file: every address is added explicitly and without DAD.
        for conf in ("all", "default"):
            sysctl(ns, "net.ipv6.conf.%s.accept_dad" % conf, 0)
            if not v6:
                sysctl(ns, "net.ipv6.conf.%s.disable_ipv6" % conf, 1)
        if not v6:
            sysctl(ns, "net.ipv6.conf.lo.disable_ipv6", 1)
        links = sorted(host["addrs"], key=lambda l: l["ifindex"])
        for l in links:
            name = l["ifname"]
            if "LOOPBACK" in l.get("flags", []):
                continue
            pname = "p%d" % l["ifindex"]
            run(["ip", "link", "add", name, "netns", ns, "type", "veth",
                 "peer", "name", pname, "netns", self.peer])
            mac = l.get("address", "")
            if len(mac) == 17 and mac != "00:00:00:00:00:00":
                ip(ns, "link", "set", name, "address", mac)
            if "mtu" in l:
                ip(ns, "link", "set", name, "mtu", l["mtu"])
            own6 = any(a["family"] == "inet6" for a in l.get("addr_info", []))
            if v6 and own6:
                ip(ns, "link", "set", name, "addrgenmode", "none")
            elif v6:
                sysctl(ns, "net.ipv6.conf.%s.disable_ipv6" % name, 1)
            if "NO-CARRIER" not in l.get("flags", []):
                ip(self.peer, "link", "set", pname, "up")
            if "UP" in l.get("flags", ["UP"]):
                ip(ns, "link", "set", name, "up")
        ip(ns, "link", "set", "lo", "up")
        sysctl(ns, "net.ipv4.ip_forward", int(host["forwarding"]))
        sysctl(ns, "net.ipv6.conf.all.forwarding",
               int(host.get("forwarding6", host["forwarding"])))
        for k, v in sorted(host.get("sysctl", {}).items()):
            p = sysctl(ns, k, v, check=False)
            if p.returncode:
                self.problems.append("sysctl %s=%s: %s" % (k, v,
                                                           p.stderr.strip()))
        for l in links:
            self.add_addrs(l)
        self.add_routes(host)
        self.add_rules(host)
        for n in host.get("neigh") or []:
            if "lladdr" in n and set(n.get("state", [])) & {"PERMANENT"}:
                ip(ns, "neigh", "replace", n["dst"], "lladdr", n["lladdr"],
                   "dev", n["dev"], "nud", "permanent", check=False)

    def add_addrs(self, l):
        name = l["ifname"]
        infos = l.get("addr_info", [])
        v4 = [a for a in infos if a["family"] == "inet"]
        # IPv6 addresses of one scope are listed newest first.
        v6 = list(reversed([a for a in infos if a["family"] == "inet6"]))
        for a in v4 + v6:
            if a["local"] in ("127.0.0.1", "::1") and name == "lo":
                continue
            w = ["addr", "add"]
            if "address" in a:
                w += [a["local"], "peer", "%s/%d" % (a["address"],
                                                     a["prefixlen"])]
            else:
                w += ["%s/%d" % (a["local"], a["prefixlen"])]
            if "broadcast" in a:
                w += ["broadcast", a["broadcast"]]
            if "scope" in a:
                w += ["scope", a["scope"]]
            w += ["dev", name]
            if a["family"] == "inet6":
                w += ["nodad"]
            if a.get("preferred_life_time") == 0:
                w += ["preferred_lft", "0"]
            p = ip(self.ns, *w, check=False)
            if p.returncode:
                self.problems.append("%s: %s" % (" ".join(w), p.stderr.strip()))

    def add_routes(self, host):
        todo = []
        for r in host["routes"]:
            if not is_v6_route(r) and r.get("protocol") != "kernel":
                todo.append((False, r))
        for r in host.get("routes6", []):
            if r.get("protocol") != "kernel":
                todo.append((True, r))
        # Gateways may need routes added later: retry what failed.
        for _ in range(3):
            failed = []
            for v6, r in todo:
                w = (["-6"] if v6 else []) + ["route", "add" if v6 else
                                              "append"] + route_cmd(r, v6)
                p = ip(self.ns, *w, check=False)
                if p.returncode:
                    failed.append((v6, r, " ".join(w), p.stderr.strip()))
            todo = [(v6, r) for v6, r, _, _ in failed]
            if not todo:
                return
        for _, _, w, err in failed:
            self.problems.append("%s: %s" % (w, err))

    def add_rules(self, host):
        for fam, key in ((4, "rules"), (6, "rules6")):
            if key not in host:
                continue
            flag = "-4" if fam == 4 else "-6"
            present = set()
            for j in host[key]:
                if rule_is_default(j, fam):
                    present.add(j["priority"])
                    continue
                w = [flag, "rule", "add"] + rule_cmd(j)
                p = ip(self.ns, *w, check=False)
                if p.returncode:
                    self.problems.append("%s: %s" % (" ".join(w),
                                                     p.stderr.strip()))
            for prio, _ in DEFAULT_RULES[fam]:
                if prio not in present:
                    ip(self.ns, flag, "rule", "del", "pref", prio, check=False)

    def dump(self):
        """The host file of this namespace, as the contract makes it, plus
        rules and the routing sysctls."""
        def j(*args):
            return json.loads(ip(self.ns, "-j", *args).stdout or "[]")
        host = {
            "addrs": j("addr", "show"),
            "routes": j("route", "show", "table", "all"),
            "routes6": j("-6", "route", "show", "table", "all"),
            "neigh": j("neigh", "show"),
            "rules": j("-4", "rule", "show"),
        }
        if any(a["family"] == "inet6" for l in host["addrs"]
               for a in l.get("addr_info", [])):
            host["rules6"] = j("-6", "rule", "show")
        out = run(["ip", "netns", "exec", self.ns, "sysctl", "-a"]).stdout
        sysctls = {}
        names = ("rp_filter", "accept_local", "route_localnet",
                 "src_valid_mark", "send_redirects", "bc_forwarding",
                 "forwarding")
        for line in out.splitlines():
            k, _, v = line.partition(" = ")
            if k.startswith("net.ipv4.conf.") and k.rsplit(".", 1)[1] in names:
                sysctls[k] = int(v)
            if k in ("net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"):
                sysctls[k] = int(v)
        host["forwarding"] = bool(sysctls["net.ipv4.ip_forward"])
        host["forwarding6"] = bool(sysctls["net.ipv6.conf.all.forwarding"])
        host["sysctl"] = sysctls
        return host

    def maddrs(self):
        """{ifname: set of joined groups} from `ip maddr`."""
        out = {}
        for d in json.loads(ip(self.ns, "-j", "maddr", "show").stdout or "[]"):
            out[d["ifname"]] = {str(ipaddress.ip_address(m["address"]))
                                for m in d.get("maddr", []) if "address" in m}
        return out

    def destroy(self):
        del_ns(self.ns)
        del_ns(self.peer)


def canon_routes(host):
    """Comparable routes of a host file (to check the rebuild)."""
    out = set()
    for key in ("routes", "routes6"):
        for r in host.get(key, []):
            v6 = key == "routes6" or is_v6_route(r)
            if key == "routes" and v6 and "routes6" in host:
                continue
            out.add((v6, r.get("type", "unicast"), r["dst"], r.get("from"),
                     str(r.get("table", "main")), r.get("dev"),
                     r.get("gateway"), r.get("prefsrc"), r.get("metric", 0),
                     r.get("scope"), r.get("tos")))
    return out


def canon_addrs(host):
    return {(l["ifname"], a["family"], a["local"], a["prefixlen"],
             a.get("address"), a.get("broadcast"))
            for l in host["addrs"] for a in l.get("addr_info", [])}


# ------------------------------------------------------------- queries

V4_SPECIAL = ["0.0.0.0", "255.255.255.255", "127.0.0.1", "127.1.2.3",
              "224.0.0.1", "224.0.0.5", "224.0.0.251", "239.1.2.3",
              "240.0.0.1", "8.8.8.8", "100.64.0.1", "169.254.1.1"]
V6_SPECIAL = ["::", "::1", "fe80::1", "fe80::20", "ff02::1", "ff02::2",
              "ff01::1", "ff01::2", "ff05::2", "ff0e::1", "ff02::1:ff00:0",
              "2001:db8::1", "fd00::1", "::ffff:10.0.0.1", "2002::1",
              "64:ff9b::1", "2606:4700::1111"]


def rand_in(net, rng):
    if net.num_addresses <= 2:
        return str(net[rng.randrange(net.num_addresses)])
    pick = rng.random()
    if pick < 0.15:
        return str(net.network_address)
    if pick < 0.3:
        return str(net.broadcast_address)
    return str(net[rng.randrange(net.num_addresses)])


def pools(host, rng):
    """Candidate addresses per family."""
    p = {4: set(V4_SPECIAL), 6: set(V6_SPECIAL)}
    for l in host["addrs"]:
        for a in l.get("addr_info", []):
            fam = 4 if a["family"] == "inet" else 6
            p[fam].add(a["local"])
            for k in ("address", "broadcast"):
                if k in a:
                    p[fam].add(a[k])
            net = ipaddress.ip_network("%s/%d" % (a["local"], a["prefixlen"]),
                                       strict=False)
            for _ in range(3):
                p[fam].add(rand_in(net, rng))
            if fam == 6:
                sn = ipaddress.ip_address(a["local"]).packed[-3:]
                p[6].add(str(ipaddress.ip_address(
                    bytes.fromhex("ff0200000000000000000001ff") + sn)))
                p[6].add(str(net.network_address))
    for key in ("routes", "routes6"):
        for r in host.get(key, []):
            fam = 6 if (key == "routes6" or is_v6_route(r)) else 4
            for k in ("gateway", "prefsrc"):
                if k in r:
                    p[fam].add(r[k])
            if r["dst"] != "default":
                net = ipaddress.ip_network(r["dst"], strict=False)
                if net.num_addresses > 1 or fam == 4:
                    for _ in range(2):
                        p[fam].add(rand_in(net, rng))
                p[fam].add(str(net.network_address))
    for _ in range(10):
        p[4].add(str(ipaddress.IPv4Address(rng.getrandbits(32))))
        p[6].add(str(ipaddress.IPv6Address((0x2000 + rng.randrange(0x2000))
                                           << 112 | rng.getrandbits(112))))
    return {k: sorted(v) for k, v in p.items()}


def marks_of(host):
    m = {0}
    for key in ("rules", "rules6"):
        for j in host.get(key, []):
            if "fwmark" in j:
                m.add(int(j["fwmark"], 0))
    return sorted(m)


def make_queries(host, rng, n):
    pool = pools(host, rng)
    ifs = [l["ifname"] for l in sorted(host["addrs"], key=lambda l: l["ifindex"])]
    nonlo = [i for i in ifs if i != "lo"] or ifs
    locals_ = {4: [], 6: []}
    for l in host["addrs"]:
        for a in l.get("addr_info", []):
            locals_[4 if a["family"] == "inet" else 6].append(a["local"])
    marks = marks_of(host)
    fams = [4, 6] if has_ipv6(host) else [4, 4, 4, 6]
    qs = []
    for i in range(n):
        fam = rng.choice(fams)
        q = {"family": fam, "dst": rng.choice(pool[fam])}
        if rng.random() < 0.15:
            q["mark"] = rng.choice(marks + [rng.getrandbits(8)])
        if fam == 4 and rng.random() < 0.1:
            q["tos"] = rng.choice([0x04, 0x08, 0x10, 0x18, 0x1c, 0xb8])
        if i % 2 == 0:
            q["op"] = "in"
            q["iif"] = rng.choice(nonlo) if rng.random() < 0.92 else "lo"
            if rng.random() < 0.85:
                q["src"] = rng.choice(pool[fam])
        else:
            q["op"] = "out"
            r = rng.random()
            if r < 0.2 and locals_[fam]:
                q["src"] = rng.choice(locals_[fam])
            elif r < 0.27:
                q["src"] = rng.choice(pool[fam])
            if rng.random() < 0.15:
                q["oif"] = rng.choice(ifs)
        qs.append(q)
    return qs


def kernel_answer(ns, q, maddrs):
    w = ["-j"] + (["-6"] if q["family"] == 6 else []) + ["route", "get",
                                                          q["dst"]]
    if "src" in q:
        w += ["from", q["src"]]
    if "iif" in q:
        w += ["iif", q["iif"]]
    if "oif" in q:
        w += ["oif", q["oif"]]
    if q.get("mark"):
        w += ["mark", q["mark"]]
    if q.get("tos"):
        w += ["tos", "0x%x" % q["tos"]]
    p = ip(ns, *w, check=False)
    if p.returncode:
        err = p.stderr.strip().splitlines()[-1] if p.stderr.strip() else "?"
        err = err.replace("RTNETLINK answers: ", "")
        if (err == "Message too long" and q["family"] == 6 and
                q["op"] == "in"):
            # rt6_fill_node hands an input route to a multicast group to
            # ip6mr_get_route, which fails without a multicast routing
            # cache entry: the lookup succeeded (errors are reported
            # first) on the input device's ff00::/8 route. What ip6_mc_input
            # then does depends on membership.
            INFERRED[0] += 1
            if str(ipaddress.ip_address(q["dst"])) in maddrs.get(q["iif"],
                                                                  set()):
                return {"type": "multicast", "dev": q["iif"]}
            return {"error": "Invalid argument"}
        return {"error": err}
    k = json.loads(p.stdout)[0]
    a = {"type": k.get("type", "unicast"), "dev": k.get("dev")}
    if "gateway" in k:
        a["gateway"] = k["gateway"]
    if q["op"] == "out" and "src" not in q and "prefsrc" in k:
        a["prefsrc"] = k["prefsrc"]
    if (q["family"] == 6 and q["op"] == "in" and a["type"] == "multicast" and
            str(ipaddress.ip_address(q["dst"])) not in
            maddrs.get(q["iif"], set())):
        # ip6_mc_input drops groups the device has not joined; the model
        # reports that as the routing refusal.
        return {"error": "Invalid argument"}
    return a


def model_answers(netfence, host_file, qs):
    inp = "".join(json.dumps(q) + "\n" for q in qs)
    p = run([netfence, "route", "--host", host_file, "--batch"], inp=inp,
            check=False)
    if p.returncode:
        raise RuntimeError("netfence route failed: " + p.stderr.strip())
    out = []
    for q, line in zip(qs, p.stdout.splitlines()):
        m = json.loads(line)
        if "error" in m:
            out.append({"error": m["error"]})
            continue
        a = {"type": m["type"], "dev": m.get("dev")}
        if "gateway" in m:
            a["gateway"] = m["gateway"]
        if q["op"] == "out" and "src" not in q and "prefsrc" in m:
            a["prefsrc"] = m["prefsrc"]
        out.append(a)
    return out


def norm(a):
    """Addresses compared by value."""
    b = dict(a)
    for k in ("gateway", "prefsrc"):
        if k in b:
            b[k] = str(ipaddress.ip_address(b[k]))
    return b


# ------------------------------------------------------- random hosts

def random_host(rng, idx):
    """A host description in the host-file shape (what Namespace.build
    reads); the model is fed the kernel's dump of it."""
    nif = rng.randint(2, 4)
    with6 = rng.random() < 0.7
    addrs = [{"ifindex": 1, "ifname": "lo", "flags": ["LOOPBACK", "UP"],
              "addr_info": [{"family": "inet", "local": "127.0.0.1",
                             "prefixlen": 8}]}]
    used = set()
    routes, routes6, rules, rules6 = [], [], [], []
    subnets4, subnets6 = [], []
    for i in range(nif):
        name = "eth%d" % i
        infos = []
        n4 = rng.choice([0, 1, 1, 1, 2, 2]) if i else rng.choice([1, 2])
        for k in range(n4):
            while True:
                plen = rng.choice([8, 16, 20, 24, 24, 24, 26, 29, 30, 31, 32])
                base = rng.choice([10 << 24, (172 << 24) | (16 << 16),
                                   (192 << 24) | (168 << 16),
                                   rng.getrandbits(32) & 0xdfffffff | 0x01000000])
                net = ipaddress.ip_network((base & ~((1 << (32 - plen)) - 1)
                                            & 0xffffffff, plen))
                if net.is_loopback or net.is_multicast or \
                        net.network_address.packed[0] in (0, 127) or \
                        any(net.overlaps(u) for u in used):
                    continue
                break
            used.add(net)
            host = net[rng.randrange(net.num_addresses)]
            a = {"family": "inet", "local": str(host), "prefixlen": plen}
            if plen == 32 and rng.random() < 0.6:
                peer = ipaddress.IPv4Address(rng.getrandbits(32) & 0x7fffffff
                                             | 0x0b000000)
                a["address"] = str(peer)
                subnets4.append((name, ipaddress.ip_network(str(peer) + "/32")))
            elif plen <= 30 and rng.random() < 0.5:
                a["broadcast"] = str(net.broadcast_address)
            if plen < 31:
                subnets4.append((name, net))
            infos.append(a)
            if plen <= 29 and rng.random() < 0.3:
                # A secondary address in the same subnet.
                sec = net[rng.randrange(1, net.num_addresses - 1)]
                if sec != host:
                    infos.append({"family": "inet", "local": str(sec),
                                  "prefixlen": plen})
        if with6 and rng.random() < 0.85:
            for k in range(rng.choice([1, 1, 2])):
                plen = rng.choice([48, 56, 64, 64, 64, 127, 128])
                pre = rng.choice([0x20010db8, 0xfd000000 | rng.getrandbits(16),
                                  0x2a000000 | rng.getrandbits(20)])
                val = (pre << 96) | (rng.getrandbits(32) << 64) | \
                    rng.getrandbits(64)
                net = ipaddress.ip_network(
                    ((val >> (128 - plen)) << (128 - plen), plen))
                infos.append({"family": "inet6",
                              "local": str(ipaddress.IPv6Address(val)),
                              "prefixlen": plen})
                if plen < 127:
                    subnets6.append((name, net))
            ll = 0xfe80 << 112 | rng.getrandbits(64)
            infos.append({"family": "inet6",
                          "local": str(ipaddress.IPv6Address(ll)),
                          "prefixlen": 64, "scope": "link"})
            for a in infos:
                if a["family"] == "inet6" and rng.random() < 0.15:
                    a["preferred_life_time"] = 0  # deprecated
        flags = ["BROADCAST", "MULTICAST", "UP"]
        if i and rng.random() < 0.08:
            flags.append("NO-CARRIER")  # peer end left down: linkdown routes
        addrs.append({"ifindex": i + 2, "ifname": name,
                      "flags": flags,
                      "address": "02:00:00:%02x:%02x:01" % (idx & 0xff, i),
                      "mtu": rng.choice([1500, 1500, 1400, 9000]),
                      "addr_info": infos})
    if with6:
        addrs[0]["addr_info"].append({"family": "inet6", "local": "::1",
                                      "prefixlen": 128})
    tables = ["main", "main", "main", "100", "200"]

    def gw4():
        name, net = rng.choice(subnets4)
        return name, str(net[rng.randrange(net.num_addresses)])

    mcast = ipaddress.ip_network("224.0.0.0/4")

    def rand4():
        # Not inside 224.0.0.0/4: a multicast lookup through a route of
        # prefix length 4 or more caches a multicast rtable on the shared
        # next hop, which later unicast lookups through it get back (per
        # CPU, so not reproducible).
        while True:
            plen = rng.choice([0, 8, 12, 16, 24, 28, 32])
            if plen == 0:
                return "default"
            v = rng.getrandbits(32)
            net = ipaddress.ip_network(((v >> (32 - plen)) << (32 - plen),
                                        plen))
            if plen < 4 or not net.subnet_of(mcast):
                return str(net)

    if subnets4 and rng.random() < 0.8:
        name, g = gw4()
        routes.append({"dst": "default", "gateway": g, "dev": name})
        if rng.random() < 0.3:
            # A second default route: another metric, or the same one (the
            # kernel then keeps the first while its gateway has no
            # neighbour entry).
            name, g = gw4()
            r = {"dst": "default", "gateway": g, "dev": name}
            if rng.random() < 0.6:
                r["metric"] = rng.choice([10, 100])
            routes.append(r)
    for _ in range(rng.randint(2, 7)) if subnets4 else []:
        kind = rng.random()
        r = {"dst": rand4()}
        if kind < 0.4:
            name, g = gw4()
            r.update({"gateway": g, "dev": name})
        elif kind < 0.45:
            r.update({"gateway": str(ipaddress.IPv4Address(
                rng.getrandbits(32) & 0x7fffffff | 0x0c000000)),
                "dev": rng.choice(addrs[1:])["ifname"], "flags": ["onlink"]})
        elif kind < 0.6:
            r.update({"dev": rng.choice(addrs[1:])["ifname"], "scope": "link"})
        else:
            r["type"] = rng.choice(["blackhole", "unreachable", "prohibit",
                                    "throw"])
        t = rng.choice(tables)
        if t != "main":
            r["table"] = t
        if "gateway" in r and rng.random() < 0.3:
            r["metric"] = rng.choice([5, 100, 1024])
        if "dev" in r and rng.random() < 0.2:
            r["metrics"] = [{"mtu": rng.choice([1280, 1400])}]
        if "dev" in r and rng.random() < 0.25:
            locals4 = [a["local"] for l in addrs[1:] for a in l["addr_info"]
                       if a["family"] == "inet"]
            if locals4:
                r["prefsrc"] = rng.choice(locals4)
        if "gateway" in r and rng.random() < 0.15:
            r["tos"] = rng.choice(["0x10", "0x08"])
        routes.append(r)
    seen = set()
    for r in list(routes):
        key = (r["dst"], r.get("table"), r.get("tos"), r.get("metric"),
               r.get("gateway"))
        if key in seen:
            routes.remove(r)
        seen.add(key)
    if rng.random() < 0.2:
        routes.append({"type": "local", "dst": "10.%d.0.0/16" % rng.randrange(256),
                       "dev": "lo", "table": "local"})
    if with6 and subnets6:
        name, net = rng.choice(subnets6)
        if rng.random() < 0.5:
            routes6.append({"dst": "default", "gateway": "fe80::1",
                            "dev": name, "metric": 1024})
        else:
            routes6.append({"dst": "default",
                            "gateway": str(net[1]), "dev": name,
                            "metric": 1024})
        for _ in range(rng.randint(1, 5)):
            plen = rng.choice([0, 16, 32, 48, 64, 128])
            val = (0x20010db8 << 96 | rng.getrandbits(96)) if rng.random() < 0.7 \
                else rng.getrandbits(128) & ~(0xff << 120) | (0x2 << 124)
            dst = "default" if plen == 0 else str(ipaddress.IPv6Network(
                ((val >> (128 - plen)) << (128 - plen), plen)))
            r = {"dst": dst, "metric": rng.choice([256, 1024, 1024, 2048])}
            kind = rng.random()
            if kind < 0.5:
                n2, net2 = rng.choice(subnets6)
                r.update({"gateway": str(net2[rng.randrange(1, 1 << 16)]),
                          "dev": n2})
            elif kind < 0.7:
                r["dev"] = rng.choice(subnets6)[0]
            else:
                r["type"] = rng.choice(["blackhole", "unreachable", "prohibit",
                                        "throw"])
            if rng.random() < 0.3:
                r["pref"] = rng.choice(["high", "low"])
            if rng.random() < 0.12 and subnets6:
                snet = rng.choice(subnets6)[1]
                r["from"] = str(snet)
            t = rng.choice(tables)
            if t != "main":
                r["table"] = t
            routes6.append(r)
    seen = set()
    for r in list(routes6):
        key = (r["dst"], r.get("from"), r.get("table"), r.get("metric"))
        if key in seen:
            routes6.remove(r)
        seen.add(key)
    # Policy rules, sometimes.
    if rng.random() < 0.45:
        prio = 100
        for _ in range(rng.randint(1, 4)):
            j = {"priority": prio, "src": "all"}
            prio += rng.choice([1, 10, 100])
            sel = rng.random()
            if sel < 0.35:
                j["fwmark"] = hex(rng.choice([1, 2, 3]))
                if rng.random() < 0.3:
                    j["fwmask"] = "0xff"
            elif sel < 0.55 and subnets4:
                net = rng.choice(subnets4)[1]
                j["src"], j["srclen"] = str(net.network_address), net.prefixlen
            elif sel < 0.7:
                j["iif"] = rng.choice(addrs)["ifname"]
            elif sel < 0.8:
                j["oif"] = rng.choice(addrs[1:])["ifname"]
            elif sel < 0.85:
                d = ipaddress.ip_network(rand4().replace("default", "0.0.0.0/0"))
                j["dst"], j["dstlen"] = str(d.network_address), d.prefixlen
            elif sel < 0.92:
                j["tos"] = rng.choice(["0x10", "0x08", "0x04"])
            if rng.random() < 0.15:
                j["not"] = None
            act = rng.random()
            if act < 0.7:
                j["table"] = rng.choice(["100", "200", "main"])
                if j["table"] == "main" and rng.random() < 0.5:
                    j["suppress_prefixlen"] = 0
            elif act < 0.8:
                j["action"] = rng.choice(["unreachable", "prohibit",
                                          "blackhole"])
            elif act < 0.88:
                j["goto"] = rng.choice([32766, prio + 1, 99999])
            else:
                j["nop"] = None
            rules.append(j)
        rules = [{"priority": 0, "src": "all", "table": "local"}] + rules + [
            {"priority": 32766, "src": "all", "table": "main"},
            {"priority": 32767, "src": "all", "table": "default"}]
    if with6 and rng.random() < 0.4:
        rules6 = [{"priority": 0, "src": "all", "table": "local"},
                  {"priority": 50, "src": "all", "fwmark": "0x1",
                   "table": "100"},
                  {"priority": 60, "src": "all", "iif": "eth0",
                   "table": "200"}]
        if subnets6 and rng.random() < 0.5:
            net = rng.choice(subnets6)[1]
            rules6.append({"priority": 70, "src": str(net.network_address),
                           "srclen": net.prefixlen, "table": "100"})
        if rng.random() < 0.3:
            rules6.append({"priority": 80, "src": "all", "dst": "2001:db8::",
                           "dstlen": 32, "action": "prohibit"})
        if rng.random() < 0.3:
            rules6.append({"priority": 90, "src": "all", "table": "main",
                           "suppress_prefixlen": 0})
        rules6.append({"priority": 32766, "src": "all", "table": "main"})
    sysctls = {}
    for dev in ["all", "default"] + [l["ifname"] for l in addrs[1:]]:
        if rng.random() < 0.3:
            sysctls["net.ipv4.conf.%s.rp_filter" % dev] = rng.choice([0, 1, 2])
        if rng.random() < 0.1:
            sysctls["net.ipv4.conf.%s.accept_local" % dev] = 1
        if rng.random() < 0.08:
            sysctls["net.ipv4.conf.%s.route_localnet" % dev] = 1
        if rng.random() < 0.1:
            sysctls["net.ipv4.conf.%s.send_redirects" % dev] = 0
        if rng.random() < 0.08:
            sysctls["net.ipv4.conf.%s.src_valid_mark" % dev] = 1
    fwd = rng.random() < 0.6
    host = {"addrs": addrs, "routes": routes, "routes6": routes6,
            "forwarding": fwd, "forwarding6": fwd if rng.random() < 0.7
            else not fwd, "sysctl": sysctls}
    if rules:
        host["rules"] = rules
    if rules6:
        host["rules6"] = rules6
    return host


# ---------------------------------------------------------------- main

def compare(netfence, label, host_file, ns, qs, maddrs, limit, log):
    kern = [kernel_answer(ns.ns, q, maddrs) for q in qs]
    mod = model_answers(netfence, host_file, qs)
    bad = 0
    for q, k, m in zip(qs, kern, mod):
        KINDS["%s%d %s" % (q["op"], q["family"],
                           k.get("error") or k["type"])] += 1
        if norm(k) != norm(m):
            bad += 1
            if bad <= limit:
                log("  MISMATCH %s %s\n    kernel: %s\n    model:  %s" %
                    (label, json.dumps(q), json.dumps(k), json.dumps(m)))
    return len(qs), bad, kern


def compare_members(netfence, host_file, host, maddrs, log, limit):
    """IPv6 (and IPv4) multicast membership against `ip maddr`."""
    groups = {"224.0.0.1", "224.0.0.2", "224.0.0.251", "ff01::1", "ff02::1",
              "ff01::2", "ff02::2", "ff05::2", "ff02::16", "ff02::fb"}
    for s in maddrs.values():
        groups |= s
    qs, want = [], []
    for l in host["addrs"]:
        # A device without IPv6 addresses has IPv6 disabled (the kernel
        # still lists its groups, but ipv6_rcv drops everything).
        with6 = any(a["family"] == "inet6" for a in l.get("addr_info", []))
        for g in sorted(groups):
            fam = 6 if ":" in g else 4
            if fam == 6 and not with6:
                continue
            qs.append({"op": "member", "family": fam, "dst": g,
                       "dev": l["ifname"]})
            want.append(g in maddrs.get(l["ifname"], set()))
    inp = "".join(json.dumps(q) + "\n" for q in qs)
    p = run([netfence, "route", "--host", host_file, "--batch"], inp=inp)
    bad = 0
    for q, w, line in zip(qs, want, p.stdout.splitlines()):
        if json.loads(line)["member"] != w:
            bad += 1
            if bad <= limit:
                log("  MEMBER MISMATCH %s kernel=%s" % (json.dumps(q), w))
    return len(qs), bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--netfence", default=os.path.join(REPO, "build",
                                                       "netfence"))
    ap.add_argument("--shared", default=os.path.join(os.path.dirname(REPO),
                                                     "shared"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--random-hosts", type=int, default=12)
    ap.add_argument("--queries", type=int, default=500,
                    help="lookups per host")
    ap.add_argument("--only", help="run only hosts whose name contains this")
    ap.add_argument("--keep", action="store_true",
                    help="print host files of mismatching hosts")
    ap.add_argument("--show", type=int, default=8,
                    help="mismatches printed per host")
    args = ap.parse_args()
    if not os.access(args.netfence, os.X_OK):
        print("route_diff: no netfence binary at %s" % args.netfence,
              file=sys.stderr)
        return 2
    why = probe()
    if why:
        print("SKIP route_diff: %s" % why)
        return SKIP
    rng = random.Random(args.seed)
    hosts = []
    real = os.path.join(args.shared, "scenarios", "realistic")
    if os.path.isdir(real):
        for name in sorted(os.listdir(real)):
            f = os.path.join(real, name, "host.json")
            if os.path.exists(f):
                with open(f) as fh:
                    hosts.append(("realistic/" + name, json.load(fh), f))
    else:
        print("route_diff: no realistic scenarios under %s" % real)
    for i in range(args.random_hosts):
        hosts.append(("random/%d" % i, random_host(rng, i), None))
    if args.only:
        hosts = [h for h in hosts if args.only in h[0]]

    totals = collections.Counter()
    tmp = tempfile.mkdtemp(prefix="route_diff.")
    failed_hosts = []
    try:
        for n, (label, host, orig_file) in enumerate(hosts):
            ns = Namespace("h%d" % n)
            lines = []
            log = lines.append
            try:
                ns.build(host)
                dumped = ns.dump()
                maddrs = ns.maddrs()
                dump_file = os.path.join(tmp, "h%d.json" % n)
                with open(dump_file, "w") as fh:
                    json.dump(dumped, fh)
                qs = make_queries(dumped, random.Random(rng.random()),
                                  args.queries)
                files = [("dump", dump_file)]
                if orig_file:
                    files.append(("file", orig_file))
                    extra = canon_routes(host) ^ canon_routes(dumped)
                    extra_a = canon_addrs(host) ^ canon_addrs(dumped)
                    if extra or extra_a:
                        ns.problems.append("rebuild differs: %d routes, %d "
                                           "addresses" % (len(extra),
                                                          len(extra_a)))
                        for x in sorted(map(str, extra | extra_a))[:6]:
                            ns.problems.append("  " + x)
                hb = 0
                for tag, f in files:
                    cnt, bad, _ = compare(args.netfence, tag, f, ns, qs,
                                          maddrs, args.show, log)
                    totals["lookups"] += cnt
                    totals["mismatches"] += bad
                    hb += bad
                mc, mb = compare_members(args.netfence, dump_file, dumped,
                                         maddrs, log, args.show)
                totals["membership"] += mc
                totals["membership_mismatches"] += mb
                hb += mb
                print("%-24s %4d lookups x %d models, %d mismatches%s" %
                      (label, len(qs), len(files), hb,
                       "" if not ns.problems else
                       " (%d build notes)" % len(ns.problems)))
                for p in ns.problems:
                    print("    note: " + p)
                for l in lines:
                    print(l)
                if hb:
                    failed_hosts.append(label)
                    if args.keep:
                        print("    host file: " + json.dumps(dumped))
                        print("    built from: " + json.dumps(host))
            finally:
                ns.destroy()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        cleanup()
    print("route_diff: %d hosts, %d lookups compared (%d IPv6 multicast "
          "input answers inferred), %d mismatches; %d membership checks, %d "
          "mismatches" %
          (len(hosts), totals["lookups"], INFERRED[0], totals["mismatches"],
           totals["membership"], totals["membership_mismatches"]))
    print("route_diff: kernel answers compared: " + ", ".join(
        "%s %d" % kv for kv in sorted(KINDS.items())))
    if failed_hosts:
        print("route_diff: mismatching hosts: " + ", ".join(failed_hosts))
    return 1 if totals["mismatches"] or totals["membership_mismatches"] else 0


if __name__ == "__main__":
    atexit.register(cleanup)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    sys.exit(main())
