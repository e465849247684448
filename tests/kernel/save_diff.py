#!/usr/bin/env python3
"""Kernel-differential test of netfence's iptables-restore parser and
iptables-save printer.

From a seed it generates random but plausible iptables-restore input ("units":
a table, some user chains, a few rules; drawn from the upstream extension test
vectors, recombined extension options, the corpus rulesets, the canonical
examples, a core-option generator, and deliberately broken variants), loads it
into the real kernel with iptables-legacy-restore inside throw-away network
namespaces, dumps it with iptables-legacy-save, and compares that with
`netfence save`. Refusals are compared as "both refuse" (and our message must
name a line; the kernel's line is reported next to ours).

Units netfence accepts are loaded many at a time (one file per batch, fresh
namespace per batch file, so table order is that of a fresh host); a failing
batch is narrowed down to the failing units. Units netfence refuses are run one
by one, many per namespace (reset between units, dumped with `save -t TABLE`).
Units using an extension netfence does not implement yet (it says "Couldn't
load match/target") are counted as "unsupported by netfence" and listed.

Exit status: 0 all compared units agree, 1 mismatches, 77 skipped (no `ip
netns` or iptables-legacy, or no privilege to create namespaces), 2 usage.
Standard library only.
"""

import argparse
import atexit
import collections
import concurrent.futures
import difflib
import itertools
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77
SCRIPT = os.path.abspath(__file__)
HERE = os.path.dirname(SCRIPT)
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_CORPUS = os.path.join(os.path.dirname(REPO), "shared", "corpus")
XTABLES_DIRS = ["/usr/lib/x86_64-linux-gnu/xtables", "/usr/lib/xtables",
                "/usr/libexec/xtables", "/usr/lib64/xtables",
                "/usr/lib/aarch64-linux-gnu/xtables"]

TOOLS = {
    "ip": ("iptables-legacy-restore", "iptables-legacy-save"),
    "ip6": ("ip6tables-legacy-restore", "ip6tables-legacy-save"),
}
BUILTIN = {
    "raw": ["PREROUTING", "OUTPUT"],
    "mangle": ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
    "nat": ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
    "filter": ["INPUT", "FORWARD", "OUTPUT"],
}
TABLES = list(BUILTIN)
STANDARD_VERDICTS = ["ACCEPT", "DROP", "RETURN", "QUEUE"]
# Matches that iptables loads implicitly for "-p NAME" (as the protocol name).
PROTO_MATCHES = {"tcp", "udp", "udplite", "sctp", "dccp", "icmp", "icmp6",
                 "icmpv6", "ipv6-icmp", "esp", "ah", "mh", "ipv6-mh"}

# Options that are one option under two names (or exclusive): chosen at most
# once per recombined block (on purpose twice now and then).
ALIAS = {"--source-port": "--sport", "--destination-port": "--dport",
         "--source-ports": "--sports", "--destination-ports": "--dports",
         "--syn": "--tcp-flags", "--src-range": "--src", "--dst-range": "--dst",
         "--ctorigsrc": "--ctorig", "--uid-owner": "--uid", "--gid-owner":
         "--gid", "--to": "--to-destination", "--set-mark": "--set-xmark",
         "--hl-inc": "--hl-set", "--hl-dec": "--hl-set", "--ttl-inc":
         "--ttl-set", "--ttl-dec": "--ttl-set", "--hl-eq": "--hl-lt",
         "--hl-gt": "--hl-lt", "--ttl-eq": "--ttl-lt", "--ttl-gt": "--ttl-lt"}

NS_PREFIX = "nfsave"
_ns_lock = threading.Lock()
_ns_live = set()
_ns_counter = itertools.count()


def log(msg):
    print(msg, flush=True)


# ---------------------------------------------------------------------------
# Namespaces and the kernel side.

def ns_create():
    name = "%s%d_%d" % (NS_PREFIX, os.getpid(), next(_ns_counter))
    subprocess.run(["ip", "netns", "add", name], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with _ns_lock:
        _ns_live.add(name)
    return name


def ns_delete(name):
    subprocess.run(["ip", "netns", "del", name], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    with _ns_lock:
        _ns_live.discard(name)


def ns_cleanup_all():
    with _ns_lock:
        names = list(_ns_live)
    for n in names:
        ns_delete(n)


def ns_cleanup_stale():
    """Deletes namespaces a killed earlier run of this script left behind
    (our prefix, owning pid no longer alive). Never touches others'."""
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.match(r"^%s(\d+)_\d+$" % NS_PREFIX, name)
        if not m or int(m.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(m.group(1)), 0)
        except ProcessLookupError:
            subprocess.run(["ip", "netns", "del", name],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except PermissionError:
            pass


FRESH_SCRIPT = r'''
r=$1; f=$2; e=$3; s=$4; shift 4
"$r" "$f" >/dev/null 2>"$e"; rc=$?
if [ $rc -eq 0 ]; then "$s" "$@"; fi
exit $rc
'''


def decode(b):
    # no universal newlines: a "\r" in a message must stay a "\r"
    return b.decode("utf-8", "replace")


def read_text(path):
    with open(path, "rb") as f:
        return decode(f.read())


def strip_comments(text):
    """Drops the '#' lines (iptables-save's dated header and footer)."""
    lines = text.split("\n")
    out = "".join(l + "\n" for l in lines[:-1] if not l.startswith("#"))
    if lines[-1] and not lines[-1].startswith("#"):
        out += lines[-1]
    return out


class KernelResult:
    def __init__(self, rc, err, out):
        self.rc = rc
        self.err = err
        self.out = out  # save output without '#' lines (rc 0 only)

    def line(self):
        return kernel_error_line(self.err)


def kernel_error_line(err):
    m = (re.search(r"Error occurred at line: (\d+)", err) or
         re.search(r"\bline:? (\d+)", err))
    return int(m.group(1)) if m else None


def kernel_fresh(fam, path, counters=False):
    """Loads a file in a fresh namespace and dumps everything: exactly what a
    fresh host prints (table order included)."""
    ns = ns_create()
    try:
        restore, save = TOOLS[fam]
        errf = path + ".kerr"
        args = ["ip", "netns", "exec", ns, "sh", "-c", FRESH_SCRIPT, "sh",
                restore, path, errf, save] + (["-c"] if counters else [])
        r = subprocess.run(args, capture_output=True, timeout=120)
        err = read_text(errf)
        return KernelResult(r.returncode, err, strip_comments(decode(r.stdout))
                            if r.returncode == 0 else "")
    finally:
        ns_delete(ns)


LOOP_SCRIPT = r'''
while IFS='	' read -r fam tab f; do
  if [ "$fam" = ip6 ]; then r=ip6tables-legacy-restore; s=ip6tables-legacy-save; z=$2
  else r=iptables-legacy-restore; s=iptables-legacy-save; z=$1; fi
  "$r" "$z" >/dev/null 2>&1
  "$r" "$f" >/dev/null 2>"$f.kerr"; rc=$?; echo $rc >"$f.krc"
  if [ $rc -eq 0 ]; then "$s" -t "$tab" >"$f.kout"; fi
done <"$3"
'''


def reset_file(workdir, fam):
    """A file that empties all four tables and resets the built-in policies
    (iptables-restore flushes and deletes chains, but keeps policies)."""
    path = os.path.join(workdir, "reset.%s" % fam)
    if not os.path.exists(path):
        with open(path, "w") as f:
            for t in TABLES:
                f.write("*%s\n" % t)
                for c in BUILTIN[t]:
                    f.write(":%s ACCEPT [0:0]\n" % c)
                f.write("COMMIT\n")
    return path


def kernel_loop(workdir, items):
    """Runs single-table files one after another in one reused namespace
    (reset between files) and returns {path: KernelResult}."""
    if not items:
        return {}
    ns = ns_create()
    try:
        manifest = tempfile.NamedTemporaryFile("w", dir=workdir, delete=False,
                                               suffix=".manifest")
        for fam, table, path in items:
            manifest.write("%s\t%s\t%s\n" % (fam, table, path))
        manifest.close()
        subprocess.run(["ip", "netns", "exec", ns, "sh", "-c", LOOP_SCRIPT, "sh",
                        reset_file(workdir, "ip"), reset_file(workdir, "ip6"),
                        manifest.name], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=1200)
    finally:
        ns_delete(ns)
    out = {}
    for fam, table, path in items:
        try:
            rc = int(read_text(path + ".krc").strip())
            err = read_text(path + ".kerr")
            txt = strip_comments(read_text(path + ".kout")) if rc == 0 else ""
        except (OSError, ValueError):
            rc, err, txt = 99, "kernel run did not complete", ""
        out[path] = KernelResult(rc, err, txt)
    return out


# ---------------------------------------------------------------------------
# The netfence side.

class NfResult:
    def __init__(self, rc, out, err):
        self.rc = rc
        self.out = out
        self.err = err

    def line(self):
        m = re.match(r"^netfence: .*?:(\d+): ", self.err)
        return int(m.group(1)) if m else None

    def couldnt_load(self):
        m = re.search(r"Couldn't load (match|target) `([^']*)'", self.err)
        return (m.group(1), m.group(2)) if m else None


def run_netfence(nf, fam, path, counters=False):
    args = [nf, "save"] + (["-6"] if fam == "ip6" else []) + \
        (["-c"] if counters else []) + [path]
    try:
        r = subprocess.run(args, capture_output=True, timeout=60)
    except subprocess.TimeoutExpired:
        return NfResult(-999, "", "netfence: timed out after 60s\n")
    out, err = decode(r.stdout), decode(r.stderr)
    return NfResult(r.returncode, strip_comments(out) if r.returncode == 0
                    else out, err)


# ---------------------------------------------------------------------------
# Tokens: iptables-restore splits on blanks; double quotes group.

TOKEN_RE = re.compile(r'(?:"(?:[^"\\]|\\.)*"|[^\s"])+')


def tokens(s):
    return TOKEN_RE.findall(s)


def is_value(tok):
    """True if tok is an option's value, not the next option or '!'."""
    if tok == "!":
        return False
    if tok.startswith("-") and not re.match(r"^-\d", tok):
        return False
    return True


# ---------------------------------------------------------------------------
# Units: a self-contained piece of a ruleset.

class Unit:
    def __init__(self, uid, fam, table, origin):
        self.uid = uid
        self.fam = fam
        self.table = table
        self.origin = origin  # "category:detail"
        self.policies = []  # lines ":INPUT DROP [0:0]"
        self.chains = []  # user chain names declared
        self.decl_style = []  # per chain: the declaration line
        self.lines = []  # command lines
        self.exts = set()  # (kind, name) used explicitly
        self.implicit = set()  # protocol names that may load a match
        self.solo = False  # must be loaded alone (file-level content)
        self.raw = None  # full file text when not rendered from parts

    @property
    def category(self):
        return self.origin.split(":")[0]

    def tables(self):
        if self.raw is None:
            return [self.table]
        seen = []
        for l in self.raw.splitlines():
            if l.startswith("*"):
                t = l[1:].split()[0] if l[1:].split() else ""
                if t and t not in seen:
                    seen.append(t)
        return seen or [self.table]

    def declare(self, name, line=None):
        if name in self.chains:  # generated names may repeat: make unique
            name = (name[:24] + "_%d" % len(self.chains))[-28:]
        self.chains.append(name)
        self.decl_style.append(line or ":%s - [0:0]" % name)

    def rule_count(self):
        if self.raw is not None:
            return sum(1 for l in self.raw.splitlines()
                       if l.strip() and l[0] not in "#*:" and l != "COMMIT")
        return len(self.lines)

    def body(self):
        return self.policies + self.decl_style + self.lines

    def render(self):
        if self.raw is not None:
            return self.raw
        return "*%s\n%sCOMMIT\n" % (self.table,
                                    "".join(l + "\n" for l in self.body()))

    def ext_names(self):
        return {n for _, n in self.exts} | self.implicit


def scan_exts(toks):
    """(kind, name) of -m / -j extensions named in a token list, and the
    protocol names given with -p."""
    exts, protos = set(), set()
    for i, t in enumerate(toks[:-1]):
        nxt = toks[i + 1].strip('"')
        if t in ("-m", "--match") or re.match(r"^--mat(c(h)?)?$", t):
            exts.add(("m", nxt))
        elif t in ("-j", "--jump"):
            exts.add(("j", nxt))
        elif t in ("-p", "--protocol", "--proto"):
            protos.add(nxt.lower())
    return exts, protos


def render_batch(units, rng):
    """One file from many units: tables in random order, each table's policy
    and chain lines first, then the units' commands. Returns (text,
    {line number: unit})."""
    by_table = collections.OrderedDict()
    for u in units:
        by_table.setdefault(u.table, []).append(u)
    order = list(by_table)
    rng.shuffle(order)
    lines, owner = [], {}

    def add(text, u):
        lines.append(text)
        owner[len(lines)] = u

    for t in order:
        us = by_table[t]
        add("*%s" % t, None)
        for u in us:
            for p in u.policies:
                add(p, u)
        decls = [(d, u) for u in us for d in u.decl_style]
        rng.shuffle(decls)
        for d, u in decls:
            add(d, u)
        for u in us:
            for l in u.lines:
                if rng.random() < 0.02:
                    add(rng.choice(["", "# a comment", "#", "#-A INPUT"]), None)
                add(l, u)
        add("COMMIT", None)
        # A commit error names the COMMIT line: it belongs to the table.
        owner[len(lines)] = ("table", t)
    return "".join(l + "\n" for l in lines), owner


# ---------------------------------------------------------------------------
# Shared data: vectors, grammar, corpus, canonical examples.

class TRow:
    def __init__(self, file, fam, table, chain, rule, rc, saved, chains):
        self.file, self.fam, self.table, self.chain = file, fam, table, chain
        self.rule, self.rc, self.saved, self.chains = rule, rc, saved, chains


def t_file_chains(path):
    """{rule: [chains]} from a .t file's ':CHAIN,...' sections."""
    out, chains = {}, ["INPUT", "FORWARD", "OUTPUT"]
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return out
    for l in lines:
        if l.startswith(":"):
            chains = [c for c in l[1:].split(",") if c]
        elif l and not l.startswith("#") and not l.startswith("*") and ";" in l:
            out.setdefault(l.split(";")[0], chains)
    return out


def load_trows(corpus):
    d = os.path.join(corpus, "iptables-ext-tests")
    rows, chains_of = [], {}
    with open(os.path.join(d, "expected-1.8.9.tsv")) as f:
        next(f)
        for line in f:
            c = line.rstrip("\n").split("\t")
            if len(c) < 6 or c[2] not in BUILTIN:
                continue  # security table: not generated
            if c[0] not in chains_of:
                chains_of[c[0]] = t_file_chains(os.path.join(d, c[0]))
            chains = [x for x in chains_of[c[0]].get(c[4], [c[3]])
                      if x in BUILTIN[c[2]]] or [c[3]]
            rows.append(TRow(c[0], c[1], c[2], c[3], c[4], int(c[5]),
                             c[6] if len(c) > 6 else "", chains))
    return rows


def split_blocks(toks):
    """Splits a rule into blocks: ('core', None, toks) for core options,
    ('m'|'j', name, toks) for an extension with its options; options before
    any -m after '-p NAME' form an implicit ('p', NAME, toks) block."""
    blocks, cur, proto, i = [], None, None, 0
    while i < len(toks):
        t = toks[i]
        inv = []
        if t == "!" and i + 1 < len(toks):
            inv, i, t = ["!"], i + 1, toks[i + 1]
        if t in ("-m", "--match", "-j", "--jump") and i + 1 < len(toks):
            kind = "m" if t in ("-m", "--match") else "j"
            cur = [kind, toks[i + 1], inv + [t, toks[i + 1]]]
            blocks.append(cur)
            i += 2
            continue
        if t.startswith("--") and t not in ("--protocol", "--source", "--src",
                                            "--destination", "--dst",
                                            "--in-interface", "--out-interface",
                                            "--goto", "--fragment",
                                            "--fragments"):
            j = i + 1
            while j < len(toks) and is_value(toks[j]):
                j += 1
            grp = inv + toks[i:j]
            if cur is None and proto:
                cur = ["p", proto, []]
                blocks.append(cur)
            if cur is None:
                cur = ["core", None, []]
                blocks.append(cur)
            cur[2].extend(grp)
            i = j
            continue
        # a core option and its value
        j = i + 1
        while j < len(toks) and is_value(toks[j]) and j < i + 2:
            j += 1
        if t in ("-f", "--fragment", "--fragments"):
            j = i + 1
        if t in ("-p", "--protocol") and j > i + 1:
            proto = toks[i + 1].lower()
        blocks.append(["core", None, inv + toks[i:j]])
        i = j
    return blocks


def option_groups(block_toks, skip):
    """Option groups (inverted, name, [values]) of an extension block."""
    groups, i, toks = [], skip, block_toks
    while i < len(toks):
        inv = False
        if toks[i] == "!":
            inv, i = True, i + 1
            if i >= len(toks):
                break
        name = toks[i]
        j = i + 1
        while j < len(toks) and is_value(toks[j]):
            j += 1
        groups.append((inv, name, toks[i + 1:j]))
        i = j
    return groups


class Grammar:
    """Per extension: the option groups seen in accepted vector rows (name ->
    list of (values, inverted)) and the contexts (rows) it appeared in."""

    def __init__(self, rows):
        self.opts = collections.defaultdict(lambda: collections.defaultdict(list))
        self.contexts = collections.defaultdict(list)
        for r in rows:
            if r.rc != 0:
                continue
            blocks = split_blocks(tokens(r.rule))
            for bi, (kind, name, toks) in enumerate(blocks):
                if kind == "core":
                    continue
                key = (kind if kind != "p" else "m", name)
                skip = 0 if kind == "p" else 2 + (1 if toks[0] == "!" else 0)
                for inv, oname, vals in option_groups(toks, skip):
                    self.opts[key][oname].append((tuple(vals), inv))
                self.contexts[key].append((r, blocks, bi))

    def keys(self):
        return sorted(k for k in self.contexts if self.opts[k] or k[0] == "j")


def load_corpus(corpus):
    """Rulesets that load in the kernel: [(family, file, {table: [lines]})]."""
    out = []
    try:
        lt = open(os.path.join(corpus, "loadtest.tsv")).read().splitlines()
    except OSError:
        return out
    for l in lt:
        c = l.split("\t")
        if len(c) < 4 or c[0] != "0":
            continue
        fam = "ip6" if c[2].startswith("ip6") else "ip"
        try:
            text = open(os.path.join(corpus, "rulesets", c[3]),
                        errors="replace").read()
        except OSError:
            continue
        tables, cur = {}, None
        for line in text.splitlines():
            if line.startswith("*"):
                cur = line[1:].strip()
                if cur not in BUILTIN:
                    cur = None
                continue
            if cur and (line.startswith("-") or line.startswith("[")):
                tables.setdefault(cur, []).append(line)
        if tables:
            out.append((fam, c[3], tables))
    return out


def load_canon(corpus):
    out = []
    try:
        text = open(os.path.join(corpus, "canonical_examples.txt")).read()
    except OSError:
        return out
    for m in re.finditer(r"^IN : \[(6?)(\w+)\] (.*)$", text, re.M):
        if m.group(2) in BUILTIN:
            out.append(("ip6" if m.group(1) else "ip", m.group(2), m.group(3)))
    return out


def known_extensions(rows):
    """{family: extension names} iptables 1.8.9 has here: the xtables plugin
    files (libxt_ both families, libipt_ IPv4, libip6t_ IPv6) and the vector
    files. Only these count as "unsupported by netfence" when netfence
    cannot load them; other names must be refused as iptables refuses them."""
    names = {"ip": set(), "ip6": set()}
    fams = {"xt": ("ip", "ip6"), "ipt": ("ip",), "ip6t": ("ip6",)}
    files = []
    for d in XTABLES_DIRS:
        if os.path.isdir(d):
            files += [f for f in os.listdir(d) if f.endswith(".so")]
    files += [r.file for r in rows]
    for f in files:
        m = re.match(r"^lib(xt|ipt|ip6t)_(.+)\.(?:so|t)$", f)
        if m and m.group(2) != "standard":
            for fam in fams[m.group(1)]:
                names[fam].add(m.group(2))
    return names


# ---------------------------------------------------------------------------
# Generators.

class Gen:
    def __init__(self, seed, data, only_ext):
        self.rng = random.Random(seed)
        self.seed = seed
        self.data = data
        self.only = only_ext
        self.uid = itertools.count(1)

    # -- naming --------------------------------------------------------------
    def chain_name(self, uid, hint=""):
        r = self.rng
        tag = "%s%d" % (chr(ord("a") + self.seed % 26), uid)
        style = r.random()
        if hint:
            base = re.sub(r"[^A-Za-z0-9_.-]", "", hint)[:18]
            return ("%s.%s" % (base, tag))[:28]
        if style < 0.25:
            return "u%s" % tag
        if style < 0.45:
            return "U%s_%s" % (tag, r.choice(["in", "out", "fw", "LOG", "x"]))
        if style < 0.6:
            return "%s-%s" % (r.choice(["Zeta", "alpha", "beta", "KUBE-SVC",
                                        "DOCKER", "ufw-user", "m1", "_x", "~t"]),
                              tag)
        if style < 0.7:
            return "%s%s" % (r.randint(0, 9), tag)
        if style < 0.8:  # the longest legal name
            return ("L%s_" % tag + "x" * 40)[:28]
        return "c%s.%s" % (tag, r.choice(["a", "B", "c_d", "e-f"]))

    def new_unit(self, fam, table, origin):
        return Unit(next(self.uid), fam, table, origin)

    # -- addresses, interfaces, protocols -------------------------------------
    # Each value is ordinary most of the time, an unusual but valid spelling
    # sometimes, and invalid rarely (ODD / BAD), so that most units load.
    ODD, BAD = 0.12, 0.025

    def pick(self, normal, odd, bad):
        x = self.rng.random()
        if x < self.BAD:
            return bad() if callable(bad) else self.rng.choice(bad)
        if x < self.BAD + self.ODD:
            return odd() if callable(odd) else self.rng.choice(odd)
        return normal() if callable(normal) else self.rng.choice(normal)

    def v4(self):
        r = self.rng
        return self.pick(
            lambda: "%d.%d.%d.%d" % (r.choice([10, 192, 172, 1, 8, 127, 224, 0,
                                               100, r.randint(1, 254)]),
                                     r.randint(0, 255), r.randint(0, 255),
                                     r.randint(0, 255)),
            ["0.0.0.0", "255.255.255.255", "10", "10.1", "10.1.2", "192.168.1",
             "010.0.0.1", "0x0a.0.0.1", "10.0.0.010", "0xff.0xff.0.1",
             "00.1.2.3", "localhost", "1.2.3.04", "0"],
            ["1.2.3.256", "1.2.3.4.5", "1..2.3", "a.b.c.d", "1.2.3.",
             "0x100.0.0.1", "-1.2.3.4", "ip6-localhost", "1.2.3.4:80",
             "localhost."])

    def v4mask(self):
        r = self.rng

        def dotted():
            n = r.randint(0, 32)
            return ".".join(str(b) for b in (
                (0xffffffff << (32 - n)) & 0xffffffff).to_bytes(4, "big"))
        return self.pick(
            lambda: str(r.choice([0, 1, 7, 8, 9, 12, 15, 16, 20, 23, 24, 25,
                                  28, 30, 31, 32])) if r.random() < 0.8
            else dotted(),
            ["255.0.255.0", "255.255.0.255", "0.255.0.0", "255.255.255.254",
             "128.0.0.1", "0.0.0.255", "08", "010", "0x10", "+8", " 8",
             "0.0.0.0", "255.255.255.255"],
            ["33", "-1", "", "abc", "255.255.255", "255.255.255.256", "1/2"])

    def v6(self):
        r = self.rng
        h = lambda: "%x" % r.randint(0, 0xffff)
        return self.pick(
            lambda: r.choice(["2001:db8:%s::%s" % (h(), h()),
                              "fe80::%s:%s" % (h(), h()),
                              "%s:%s::%s" % (h(), h(), h()),
                              ":".join(h() for _ in range(8))]),
            ["::", "::1", "ff02::1", "2001:DB8::1", "2001:0db8:0000::0001",
             "::ffff:10.0.0.1", "64:ff9b::192.0.2.33", "c0::fe",
             "fe80::1%lo", "::0.0.0.1", "FE80::A:B"],
            ["2001:db8::1::2", "2001:db8:::1", "g::1", "1.2.3.4",
             "2001:db8::12345", ":", "[::1]", "fe80::1%nosuchif", "localhost",
             "ip6-localhost"])

    def v6mask(self):
        r = self.rng
        return self.pick(
            lambda: str(r.choice([0, 1, 8, 16, 32, 48, 56, 63, 64, 65, 96,
                                  112, 120, 127, 128])),
            ["ffff:ffff::", "ffff:ffff:ffff:ffff::", "ffff::ffff", "::ffff",
             "ffff:ff00::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "064",
             "::"],
            ["129", "-1", "", "0x40", "255.255.0.0", "ffff::ffff::"])

    def addr(self, fam, allow_list=True):
        r = self.rng
        n = 1
        if allow_list and r.random() < 0.1:
            n = r.randint(2, 3)
        items = []
        for _ in range(n):
            a = self.v4() if fam == "ip" else self.v6()
            if r.random() < 0.6:
                a += "/" + (self.v4mask() if fam == "ip" else self.v6mask())
            items.append(a)
        s = ",".join(items)
        if n > 1 and r.random() < 0.15:
            s = r.choice([s + ",", "," + s, s.replace(",", ",,", 1),
                          items[0] + "," + items[0], s.replace(",", ", ", 1)])
        if " " in s:
            s = '"%s"' % s
        return s

    def iface(self):
        return self.pick(
            ["eth0", "eth1", "lo", "wlan0", "eth+", "br-+", "+", "docker0",
             "veth+", "tun0", "ppp+", "eth0.100", "em1", "enp3s0", "bond0",
             "wg0"],
            ["abcdefghijklmno", "abcdefghijklmn+", "x", "a+b", "eth0+", "1",
             "ETH0", "eth-0_1.2", "eth/0", "\"eth 0\"", "eth*", "++", "-x"],
            ["abcdefghijklmnop", "abcdefghijklmnopq+", "\"\""])

    def proto(self, fam):
        return self.pick(
            ["tcp", "tcp", "udp", "icmp" if fam == "ip" else "ipv6-icmp", "all"],
            ["TCP", "Udp", "6", "17", "1", "0", "58", "ALL", "icmpv6", "icmp6",
             "esp", "ah", "gre", "sctp", "udplite", "dccp", "47", "132", "50",
             "255", "igmp", "ipv6-icmp", "icmp", "mh", "ipv6-mh", "41", "4",
             "ipencap", "ospf", "vrrp", "112", "136", "33", "hopopt",
             "ipv6-frag", "ipv6-route", "44", "43", "ipv6-nonxt", "59",
             "ipv6-opts", "60", "00006", "0x6", "+6", "254", "253"],
            ["256", "-1", "foo", "tcp6", "\"\"", "65536"])

    # -- option spelling --------------------------------------------------------
    def spell(self, short, longs, value=None, cluster_ok=True):
        """One core option in one of the spellings getopt accepts (or
        nearly: "--opt=value" and "-ovalue" are refused by iptables, which
        reads the value from the whole argument)."""
        r = self.rng
        x = r.random()
        if x < 0.8 or not longs:
            opt = [short]
        elif x < 0.9:
            opt = [r.choice(longs)]
        elif x < 0.96:
            l = r.choice(longs)
            lo = 1 if r.random() < 0.3 else max(4, len(l) - 4)
            opt = [l[:r.randint(lo, len(l))]]
        elif x < 0.98 and value is not None:
            return ["%s=%s" % (r.choice(longs), value)]
        elif cluster_ok and value is not None and value and \
                not value.startswith('"'):
            return [short + value]
        else:
            opt = [short]
        return opt + ([value] if value is not None else [])

    # -- core rules ---------------------------------------------------------
    def core_rule(self, u, fam, chain, targets, builtin_chain):
        """Tokens of one rule for `chain` with core options."""
        r = self.rng
        parts = []
        def inv(p):
            # "!" mostly where it is allowed (one address, a real protocol)
            v = p[-1] if len(p) > 1 else ""
            risky = "," in v or v.lower() in ("all", "0", "00006")
            return (["!"] + p) if r.random() < (0.01 if risky else 0.12) else p
        if r.random() < 0.45:
            parts.append(inv(self.spell("-s", ["--source", "--src"],
                                        self.addr(fam))))
        if r.random() < 0.4:
            parts.append(inv(self.spell("-d", ["--destination", "--dst"],
                                        self.addr(fam))))
        if r.random() < 0.3 and not (builtin_chain in ("OUTPUT", "POSTROUTING")):
            parts.append(inv(self.spell("-i", ["--in-interface"], self.iface())))
        if r.random() < 0.3 and not (builtin_chain in ("INPUT", "PREROUTING")):
            parts.append(inv(self.spell("-o", ["--out-interface"],
                                        self.iface())))
        proto = None
        if r.random() < 0.55:
            proto = self.proto(fam)
            parts.append(inv(self.spell("-p", ["--protocol"], proto)))
        if fam == "ip" and r.random() < 0.08 or r.random() < 0.01:
            parts.append(inv(self.spell("-f", ["--fragment", "--fragments"])))
        # an extension block now and then
        nblocks = 0
        if self.only != "core" and (self.only or r.random() < 0.35):
            nblocks = 2 if r.random() < 0.15 else 1
        for _ in range(nblocks):
            blk = self.ext_block(fam, proto)
            if blk:
                kind, name, toks, needs_proto = blk
                if needs_proto and not proto:
                    proto = needs_proto
                    parts.append(["-p", proto])
                parts.append(toks)
                u.exts.add((kind, name))
        if r.random() < 0.04:
            if r.random() < 0.25:  # "-c PKTS,BYTES"
                parts.append(["-c", "%d,%d" % (r.randint(0, 99),
                                               r.randint(0, 9999))])
            else:
                parts.append(self.spell("-c", ["--set-counters"],
                                        "%d" % r.randint(0, 99)) +
                             [str(r.randint(0, 9999))])
        family_opt = None
        if r.random() < 0.02:  # the other family's lines are skipped
            family_opt = [r.choice(["-4", "-6", "--ipv4", "--ipv6"])]
            if r.random() < 0.3:  # elsewhere: what came before still runs
                parts.append(family_opt)
                family_opt = None
        if r.random() < 0.03:  # double quotes around a value
            p = r.choice(parts) if parts else None
            if p and len(p) > 1 and '"' not in p[-1]:
                p[-1] = '"%s"' % p[-1]
        # the verdict
        x = r.random()
        tgt = None
        if x < 0.45:
            verdicts = STANDARD_VERDICTS
            if u.table == "nat" and r.random() < 0.9:
                verdicts = ["ACCEPT", "RETURN", "QUEUE"]
            tgt = self.spell("-j", ["--jump"], r.choice(verdicts))
        elif x < 0.65 and targets:
            tgt = self.spell("-j", ["--jump"], r.choice(targets))
        elif x < 0.75 and targets:
            tgt = self.spell("-g", ["--goto"], r.choice(targets))
        if tgt:
            parts.append(tgt)
        r.shuffle(parts)
        if family_opt:
            parts.insert(0, family_opt)  # the caller puts it before -A
        if proto:
            u.implicit.add(proto.lower().strip('"'))
        return [t for p in parts for t in p]

    def ext_block(self, fam, proto):
        """A recombined extension block (kind, name, tokens, proto needed)."""
        g = self.data.grammar
        keys = [k for k in g.keys() if k[0] == "m"]
        if self.only:
            keys = [k for k in keys if k[1] == self.only]
        if not keys:
            return None
        r = self.rng
        if proto and ("m", proto) in keys and r.random() < 0.6:
            key = ("m", proto)
        elif r.random() < 0.4 and ("m", "tcp") in keys:
            key = ("m", "tcp")
        else:
            key = r.choice(keys)
        ctx = r.choice(g.contexts[key])
        need = None
        for kind, name, toks in ctx[1]:
            if kind == "core" and toks and toks[0] in ("-p", "--protocol"):
                need = toks[1] if len(toks) > 1 else None
        if proto and need and proto.lower() != need.lower():
            need = None  # keep the rule's own -p (the kernel decides)
        return key[0], key[1], self.recombine_block(key), need

    def recombine_block(self, key, implicit=False):
        r = self.rng
        opts = self.data.grammar.opts[key]
        names = list(opts)
        toks = [] if implicit else ["-m" if key[0] == "m" else "-j", key[1]]
        if not names:
            return toks
        k = min(len(names), r.choice([1, 1, 1, 2, 2, 3, 4]))
        chosen = []
        for n in r.sample(names, len(names)):
            if len(chosen) < k and ALIAS.get(n, n) not in \
                    {ALIAS.get(c, c) for c in chosen}:
                chosen.append(n)
        if r.random() < 0.05:
            chosen.append(r.choice(names))  # an option twice
        for n in chosen:
            vals, seen_inv = r.choice(opts[n])
            invert = seen_inv and r.random() < 0.4 or r.random() < 0.04
            if r.random() < 0.08:  # another value of another option
                other = r.choice(names)
                vals = r.choice(opts[other])[0] or vals
            name = n
            if r.random() < 0.05 and n.startswith("--") and len(n) > 5:
                name = n[:r.randint(4, len(n) - 1)]  # getopt abbreviation
            toks += (["!"] if invert else []) + [name] + list(vals)
        return toks

    # -- unit kinds ------------------------------------------------------------
    def unit_core(self, fam=None):
        r = self.rng
        if self.only and self.only != "core" and \
                ("m", self.only) not in self.data.grammar.keys():
            return None
        fam = fam or ("ip" if r.random() < 0.7 else "ip6")
        table = r.choice(["filter", "filter", "filter", "nat", "mangle", "raw"])
        u = self.new_unit(fam, table, "core:rule")
        nchains = r.choice([0, 1, 1, 2, 3])
        for _ in range(nchains):
            u.declare(self.chain_name(u.uid))
            if len(u.chains) > 1 and u.chains[-1] in u.chains[:-1]:
                u.chains.pop()
                u.decl_style.pop()
        if r.random() < 0.2:
            c = r.choice(BUILTIN[table])
            pol = r.choice(["ACCEPT", "DROP"])
            if table == "nat" and pol == "DROP" and r.random() < 0.8:
                pol = "ACCEPT"
            u.policies.append((":%s %s %s" % (c, pol, r.choice(
                ["[0:0]", "[12:3456]", ""]))).rstrip())
        nrules = r.choice([1, 1, 1, 2, 2, 3, 4])
        # hook reachability: link unit chains from a built-in chain
        link_from = r.choice(BUILTIN[table])
        for c in u.chains:
            if r.random() < 0.7:
                u.lines.append("-A %s -j %s" % (link_from, c))
        for i in range(nrules):
            if u.chains and r.random() < 0.6:
                chain, bchain = r.choice(u.chains), None
            else:
                chain = r.choice(BUILTIN[table])
                bchain = chain
            targets = [c for c in u.chains if c != chain]
            toks = self.core_rule(u, fam, chain, targets, bchain)
            cmd = self.spell("-A", ["--append"], chain, cluster_ok=False)
            if toks[:1] and toks[0] in ("-4", "-6", "--ipv4", "--ipv6"):
                cmd, toks = toks[:1] + cmd, toks[1:]
            line = " ".join(cmd + toks)
            if r.random() < 0.05:
                line = "[%d:%d] %s" % (r.randint(0, 9), r.randint(0, 999), line)
            if r.random() < 0.04:
                line = line.replace(" ", r.choice(["  ", "\t", " \t "]))
            u.lines.append(line)
        if r.random() < 0.3:
            self.add_commands(u)
        return u

    @staticmethod
    def line_chain(line):
        """The chain an -A line appends to (any spelling), or None."""
        t = line.split()
        if t and t[0].startswith("["):
            t = t[1:]
        if len(t) >= 2 and t[0] in ("-A", "--append") or \
                len(t) >= 2 and "--append".startswith(t[0]) and len(t[0]) > 2:
            return t[1]
        if t and t[0].startswith("--append="):
            return t[0].split("=", 1)[1]
        return None

    def add_commands(self, u):
        """Other commands of the restore language on the unit's chains."""
        r = self.rng
        own = [l for l in u.lines if self.line_chain(l) in u.chains and
               l.split()[0] == "-A"]
        x = r.random()
        if x < 0.2 and u.chains:
            c = r.choice(u.chains)
            n = sum(1 for l in u.lines if self.line_chain(l) == c)
            pos = r.choice([1, n + 1, n + 2, 1])
            u.lines.append("-I %s %d -s %s -j RETURN" % (
                c, pos, self.addr(u.fam, False)))
        elif x < 0.3 and u.chains:
            u.lines.append("-I %s -p tcp --dport %d -j ACCEPT" % (
                r.choice(u.chains), r.randint(1, 65535)))
        elif x < 0.45 and own:
            # delete a rule by an equivalent (or not) spelling
            l = r.choice(own)
            toks = l.split()[2:]
            c = l.split()[1]
            spec = " ".join(toks)
            y = r.random()
            if y < 0.3 and "-p tcp" in spec and "-m tcp" not in spec:
                spec = spec.replace("-p tcp", "-p tcp -m tcp", 1)
            elif y < 0.5:
                spec = re.sub(r"-s (\d+\.\d+\.\d+\.\d+)( |$)", r"-s \1/32\2",
                              spec)
            elif y < 0.6:
                spec += " -s 9.9.9.9"
            u.lines.append("%s %s %s" % (r.choice(["-D", "-D", "-C"]), c, spec))
        elif x < 0.55 and u.chains:
            c = r.choice(u.chains)
            n = sum(1 for l in u.lines if self.line_chain(l) == c)
            u.lines.append("-D %s %d" % (c, r.choice([1, n, n + 1])))
        elif x < 0.65 and u.chains:
            c = r.choice(u.chains)
            n = sum(1 for l in u.lines if self.line_chain(l) == c)
            u.lines.append("-R %s %d -d %s -j DROP" % (
                c, r.choice([1, n, n + 1]), self.addr(u.fam, False)))
        elif x < 0.72:
            name = self.chain_name(u.uid, "N")
            u.lines.append("-N %s" % name)
            u.lines.append("-A %s -j RETURN" % name)
        elif x < 0.8 and u.chains:
            c = r.choice(u.chains)
            u.lines.append("-F %s" % c)
        elif x < 0.86 and u.chains:
            c = r.choice(u.chains)
            new = self.chain_name(u.uid, "E")
            u.lines.append("-E %s %s" % (c, new))
        elif x < 0.92 and u.chains:
            c = r.choice(u.chains)
            u.lines.append("-F %s" % c)
            u.lines.append("-X %s" % c)
        elif x < 0.96:
            c = r.choice(BUILTIN[u.table])
            u.lines.append("-P %s %s" % (c, r.choice(["ACCEPT", "DROP"])))
        else:
            u.lines.append("-Z %s" % (r.choice(u.chains) if u.chains else
                                      BUILTIN[u.table][0]))

    def place_rule(self, u, fam, table, chains, rule_toks):
        """Puts a vector rule in one of its chains, directly or in a unit
        chain reachable from it."""
        r = self.rng
        chain = r.choice(chains)
        if r.random() < 0.35:
            c = self.chain_name(u.uid)
            u.declare(c)
            u.lines.append("-A %s -j %s" % (chain, c))
            chain = c
        u.lines.append("-A %s %s" % (chain, " ".join(rule_toks)))
        ex, protos = scan_exts(rule_toks)
        u.exts |= ex
        u.implicit |= protos

    def unit_tvec(self):
        rows = self.data.rows
        if self.only:
            rows = [x for x in rows if self.only in
                    {n for _, n in scan_exts(tokens(x.rule))[0]} |
                    {self.ext_of_file(x.file)}]
            if not rows:
                return None
        row = self.rng.choice(rows)
        u = self.new_unit(row.fam, row.table, "tvec:%s" % row.file)
        self.place_rule(u, row.fam, row.table, row.chains, tokens(row.rule))
        return u

    @staticmethod
    def ext_of_file(f):
        m = re.match(r"^lib(?:xt|ipt|ip6t)_(.+)\.t$", f)
        return m.group(1) if m else ""

    def unit_recomb(self):
        g = self.data.grammar
        keys = g.keys()
        if self.only:
            keys = [k for k in keys if k[1] == self.only]
        if not keys:
            return None
        r = self.rng
        key = r.choice(keys)
        row, blocks, bi = r.choice(g.contexts[key])
        fam = row.fam
        if row.file.startswith("libxt_") and r.random() < 0.25:
            fam = "ip6"  # libxt vectors only ran for IPv4
        u = self.new_unit(fam, row.table, "recomb:%s" % key[1])
        implicit = blocks[bi][0] == "p" or (
            key[1] in PROTO_MATCHES and r.random() < 0.25 and
            any(b[0] == "core" and b[2][-1:] == [key[1]] for b in blocks))
        new = self.recombine_block(key, implicit)
        toks = []
        for i, (kind, name, bt) in enumerate(blocks):
            toks += new if i == bi else bt
        if fam == "ip6" and re.search(r"\b\d+\.\d+\.\d+\.\d+\b", " ".join(toks)):
            fam = u.fam = "ip"
        if r.random() < 0.3:  # some core options as well
            extra = []
            if r.random() < 0.5:
                extra += ["-s", self.addr(fam, False)]
            if r.random() < 0.5:
                extra += ["!", "-d", self.addr(fam, False)]
            toks = extra + toks
        self.place_rule(u, fam, row.table, row.chains, toks)
        return u

    def unit_corpus(self):
        r = self.rng
        files = self.data.corpus
        if not files:
            return None
        fam, fname, tables = r.choice(files)
        table = r.choice(sorted(tables))
        lines = tables[table]
        if self.only:
            idx = [i for i, l in enumerate(lines)
                   if self.only in {n for _, n in scan_exts(tokens(l))[0]}]
            if not idx:
                return None
            start = r.choice(idx)
        else:
            start = r.randrange(len(lines))
        n = r.choice([1, 1, 2, 3, 5])
        chunk = lines[start:start + n]
        u = self.new_unit(fam, table, "corpus:%s" % fname)
        rename = {}
        for l in chunk:
            toks = tokens(l)
            out = []
            for i, t in enumerate(toks):
                prev = toks[i - 1] if i else ""
                if prev in ("-A", "--append", "-I", "--insert", "-j", "--jump",
                            "-g", "--goto") and t not in BUILTIN[table] and \
                        (prev not in ("-j", "--jump") or self.is_user_chain(
                            t, fname, fam, table)):
                    if t not in rename:
                        rename[t] = self.chain_name(u.uid, t[:14] + str(len(rename)))
                        u.declare(rename[t])
                    t = rename[t]
                out.append(t)
            u.lines.append(" ".join(out))
            ex, protos = scan_exts(out)
            u.exts |= ex
            u.implicit |= protos
        return u

    def is_user_chain(self, name, fname, fam, table):
        for f2, n2, tables in self.data.corpus:
            if n2 == fname:
                return any(l.split()[1:2] == [name] for l in tables[table])
        return False

    def unit_canon(self):
        ex = self.data.canon
        if self.only:
            ex = [e for e in ex
                  if self.only in {n for _, n in scan_exts(tokens(e[2]))[0]}]
        if not ex:
            return None
        fam, table, rule = self.rng.choice(ex)
        u = self.new_unit(fam, table, "canon:%s" % table)
        toks = tokens(rule)
        names = {}
        for i, t in enumerate(toks):
            if t in ("T", "U") and i and toks[i - 1] in ("-A", "-I", "-j", "-g",
                                                          "-D", "-R"):
                if t not in names:
                    names[t] = self.chain_name(u.uid, t)
                toks[i] = names[t]
        for t in ("T", "U"):
            u.declare(names.get(t) or self.chain_name(u.uid, t))
        u.lines.append(" ".join(toks))
        ex, protos = scan_exts(toks)
        u.exts |= ex
        u.implicit |= protos
        return u

    # -- breakage ---------------------------------------------------------------
    BAD_VALUES = ["70000", "abc", "-1", "", "\"\"", "1.2.3.4.5", "0x", "1:2:3",
                  "99999999999999999999", "!", "65536", "1-", ",", "/",
                  "\"x y\"", "foo,bar", "4294967296", "-", "NONE", "ALL"]

    def break_unit(self, u):
        """Mutates a unit into something iptables-restore most likely
        refuses; returns the kind of breakage."""
        r = self.rng
        kinds = ["unknown-option", "bad-value", "missing-value", "bang",
                 "missing-chain", "goto-missing", "undeclared", "dup-chain",
                 "missing-commit", "commit-space", "bad-table", "outside-table",
                 "inline-comment", "bad-policy", "user-policy", "long-chain",
                 "jump-builtin", "quote", "crlf", "old-negation", "nat-drop",
                 "no-command", "two-commands", "space-line", "table-twice",
                 "second-table-bad", "empty-arg", "target-options",
                 "bad-counters", "table-option", "listing", "many-args",
                 "long-param", "long-line", "nul-byte", "quoting"]
        kind = r.choice(kinds)
        rules = [i for i, l in enumerate(u.lines) if l.startswith("-A")]
        if not rules and kind not in ("missing-commit", "commit-space",
                                      "bad-table", "outside-table", "bad-policy",
                                      "user-policy", "long-chain", "crlf",
                                      "no-command", "space-line", "table-twice",
                                      "second-table-bad", "dup-chain"):
            kind = "missing-commit"
        li = r.choice(rules) if rules else None
        toks = tokens(u.lines[li]) if li is not None else []

        def put(t):
            u.lines[li] = " ".join(t)

        if kind == "unknown-option":
            pos = r.randint(2, len(toks))
            toks.insert(pos, r.choice(["--no-such-option", "--dport", "-z",
                                       "--state", "--sport 1", "-y", "--to",
                                       "--log-prefix x", "--mark 1", "-X"]))
            put(toks)
        elif kind == "bad-value":
            vals = [i for i, t in enumerate(toks)
                    if i > 1 and is_value(t) and toks[i - 1].startswith("-")]
            if vals:
                toks[r.choice(vals)] = r.choice(self.BAD_VALUES)
            else:
                toks += ["-s", r.choice(self.BAD_VALUES)]
            put(toks)
        elif kind == "missing-value":
            opts = [i for i, t in enumerate(toks)
                    if i > 1 and t.startswith("-") and i + 1 < len(toks) and
                    is_value(toks[i + 1])]
            if opts:
                del toks[r.choice(opts) + 1]
            else:
                toks.append(r.choice(["-s", "-p", "-j", "-m", "-i"]))
            put(toks)
        elif kind == "bang":
            pos = r.randint(2, len(toks))
            toks.insert(pos, r.choice(["!", "! !", "!!"]))
            put(toks)
        elif kind == "missing-chain":
            toks += ["-j", "nochain%d" % u.uid]
            put([t for t in toks])
        elif kind == "goto-missing":
            toks += ["-g", "nochain%d" % u.uid]
            put(toks)
        elif kind == "undeclared":
            toks[1] = "undeclared%d" % u.uid
            put(toks)
        elif kind == "dup-chain":
            name = u.chains[0] if u.chains else BUILTIN[u.table][0]
            u.decl_style.append(":%s - [0:0]" % name)
        elif kind == "missing-commit":
            u.raw = u.render()[:-len("COMMIT\n")]
        elif kind == "commit-space":
            u.raw = u.render()[:-1] + r.choice([" \n", "", "\t\n", "x\n"])
        elif kind == "bad-table":
            u.raw = u.render().replace("*%s" % u.table, r.choice(
                ["*Filter", "*nat2", "*", "*FILTER", "*broute", "* filter",
                 "*filter extra", "*%s\t" % u.table]), 1)
        elif kind == "outside-table":
            u.raw = (li is not None and u.lines[li] or "-A INPUT -j ACCEPT") + \
                "\n" + u.render()
        elif kind == "inline-comment":
            u.lines[li] += " # a comment"
        elif kind == "bad-policy":
            u.policies.append(":%s %s" % (r.choice(BUILTIN[u.table]), r.choice(
                ["RETURN", "accept", "QUEUE", "REJECT", "-", "DROP [x:y]",
                 "DROP [1:2] extra", "DROP [-1:0]", ""])))
        elif kind == "user-policy":
            name = self.chain_name(u.uid)
            u.declare(name, ":%s %s [0:0]" % (name, r.choice(["ACCEPT", "DROP"])))
        elif kind == "long-chain":
            name = ("long%d_" % u.uid + "y" * 40)[:29 + r.choice([0, 0, 5])]
            u.declare(name)
        elif kind == "jump-builtin":
            toks += ["-j", r.choice(BUILTIN[u.table])]
            put(toks)
        elif kind == "quote":
            pos = r.randint(2, len(toks))
            toks.insert(pos, r.choice(['"', '"unterminated', '\\"', '"a"b"']))
            put(toks)
        elif kind == "crlf":
            u.raw = u.render().replace("\n", "\r\n")
        elif kind == "old-negation":
            opts = [i for i, t in enumerate(toks) if i > 1 and t in (
                "-s", "-d", "-i", "-o", "-p", "--dport", "--sport")]
            if opts:
                toks.insert(r.choice(opts) + 1, "!")
            else:
                toks += ["-s", "!", "10.0.0.0/8"]
            put(toks)
        elif kind == "nat-drop":
            u.table = "nat"
            u.lines = ["-A %s -j DROP" % r.choice(BUILTIN["nat"])] if \
                r.random() < 0.5 else ["-P %s DROP" % r.choice(BUILTIN["nat"])]
            u.chains, u.decl_style, u.policies = [], [], []
        elif kind == "no-command":
            u.lines.append(r.choice(["-s 1.2.3.4", "-j ACCEPT", " ", "x"]))
        elif kind == "two-commands":
            c = BUILTIN[u.table][0]
            u.lines.append("-A %s -A %s -j ACCEPT" % (c, c))
        elif kind == "space-line":
            u.lines.append(r.choice([" ", "\t", "  "]))
        elif kind == "table-twice":
            u.raw = u.render() + "*%s\n-A %s -j ACCEPT\nCOMMIT\n" % (
                u.table, BUILTIN[u.table][-1])
            kind = "table-twice"
        elif kind == "second-table-bad":
            other = r.choice([t for t in TABLES if t != u.table])
            u.raw = u.render() + "*%s\n-A %s --bogus\nCOMMIT\n" % (
                other, BUILTIN[other][0])
        elif kind == "empty-arg":
            pos = r.randint(2, len(toks))
            toks.insert(pos, '""')
            put(toks)
        elif kind == "many-args":  # iptables takes 251 arguments a line
            toks += ["-v"] * (r.randint(245, 256) - len(toks))
            put(toks)
        elif kind == "long-param":  # 1023 characters at most
            toks += ["-m", "comment", "--comment",
                     r.choice(['"%s"', "%s"]) % ("x" * r.randint(1015, 1030))]
            put(toks)
        elif kind == "long-line":  # fgets reads 10239 bytes at a time
            pad = 10239 - len(u.lines[li]) + r.randint(-3, 3)
            u.lines[li] += " " * max(pad, 0) + r.choice(
                ["", "-j ACCEPT", "-A %s -j ACCEPT" % BUILTIN[u.table][0],
                 "-s 1.2.3.4"])
        elif kind == "nul-byte":
            u.lines[li] += "\0" + r.choice(["", " -x", " garbage"])
        elif kind == "quoting":
            vals = [i for i, t in enumerate(toks) if i > 1 and is_value(t)]
            i = r.choice(vals) if vals else len(toks) - 1
            v = toks[i].strip('"')
            toks[i] = r.choice(['"%s"', '"%s', '%s"', '"%s"x', 'x"%s"',
                                '\\"%s\\"', '"%s\\""', '"\\%s"', '""%s',
                                '%s""', '"" %s']) % v
            put(toks)
        elif kind == "bad-counters":
            u.lines[li] = r.choice(["[1:2", "[a:b]", "[1]", "[:]", "[1:2]x",
                                    "[-1:2]", "[1:2:3]"]) + " " + u.lines[li]
        elif kind == "table-option":
            toks[2:2] = ["-t", r.choice([u.table, "filter", "nat"])]
            put(toks)
        elif kind == "listing":
            u.lines.append(r.choice(["-L", "-S", "-L INPUT", "-h", "-V",
                                     "-w", "-W", "-nL", "-A INPUT -v -n",
                                     "-A INPUT --line-numbers",
                                     "-A INPUT -x"]))
        elif kind == "target-options":
            toks += ["-j", "ACCEPT", r.choice(["--foo", "--log-prefix x",
                                               "--to 1"])]
            put(toks)
        u.origin = "broken:%s<-%s" % (kind, u.origin.split(":")[0])
        u.solo = True
        return kind

    # -- one seed -----------------------------------------------------------------
    def unit_commands(self):
        """Chain and rule commands with their edge cases (names, numbers,
        built-in chains, policies) on a small table."""
        if self.only and self.only != "core":
            return None
        r = self.rng
        fam = "ip" if r.random() < 0.7 else "ip6"
        table = r.choice(TABLES)
        u = self.new_unit(fam, table, "cmd:edge")
        a = self.chain_name(u.uid)
        b = self.chain_name(u.uid, "b")
        u.declare(a)
        bi = r.choice(BUILTIN[table])
        u.lines += ["-A %s -s 10.0.0.%d -j RETURN" % (a, i) if fam == "ip" else
                    "-A %s -s 2001:db8::%d -j RETURN" % (a, i)
                    for i in range(1, r.randint(1, 4))]
        num = lambda: r.choice(["1", "2", "3", "0", "-1", "01", "0x1", "+1",
                                "1a", "99", "2147483647", "2147483648", ""])
        name = lambda: r.choice([a, b, bi, "nochain", "LOG", "ACCEPT", "DROP",
                                 "RETURN", "-x", "!x", "x" * 28, "y" * 29,
                                 "a b", '"q q"', "INPUT", "mangle", "X", "x"])
        templates = [
            lambda: "-N %s" % name(), lambda: "-X %s" % name(),
            lambda: "-X", lambda: "-F %s" % name(), lambda: "-F",
            lambda: "-Z %s %s" % (name(), num()),
            lambda: "-E %s %s" % (a, name()), lambda: "-E %s %s" % (name(), b),
            lambda: "-P %s %s" % (r.choice([bi, a, "nochain"]), r.choice(
                ["ACCEPT", "DROP", "RETURN", "QUEUE", "accept", ""])),
            lambda: "-P %s ACCEPT -c %s %s" % (bi, num(), num()),
            lambda: "-I %s %s -j ACCEPT" % (r.choice([a, bi]), num()),
            lambda: "-R %s %s -j DROP" % (r.choice([a, bi]), num()),
            lambda: "-D %s %s" % (r.choice([a, bi]), num()),
            lambda: "-D %s -s 10.0.0.1 -j RETURN" % a,
            lambda: "-D %s -s 10.0.0.1/32 -j RETURN" % a,
            lambda: "-C %s -s 10.0.0.%s -j RETURN" % (a, num()),
            lambda: "-A %s -j %s" % (r.choice([a, bi]), name()),
            lambda: "-A %s -g %s" % (r.choice([a, bi]), name()),
            lambda: "-N %s\n-A %s -j %s" % (b, a, b),
            lambda: "-A %s -j ACCEPT -j DROP" % bi,
            lambda: "-A %s -n -j ACCEPT" % bi,
            lambda: "-A %s ! -j ACCEPT" % bi,
            lambda: "-I %s -c 1 2 -j ACCEPT" % a,
            lambda: "-D %s -c 1 2 -s 10.0.0.1 -j RETURN" % a,
        ]
        for _ in range(r.randint(1, 3)):
            u.lines += r.choice(templates)().split("\n")
        for l in u.lines:
            for t in tokens(l):
                if t.startswith("-") and t[1:2] in "ANXFZEPIRDC" and len(t) == 2 \
                        and t in ("-X", "-F", "-Z") and l.strip() == t:
                    u.solo = True  # acts on the whole table
        if fam == "ip6":
            u.lines = [l.replace("10.0.0.", "2001:db8::") for l in u.lines]
        return u

    def units(self, count):
        out = []
        r = self.rng
        makers = [(self.unit_recomb, 0.32), (self.unit_tvec, 0.16),
                  (self.unit_core, 0.27), (self.unit_corpus, 0.13),
                  (self.unit_canon, 0.07), (self.unit_commands, 0.05)]
        if self.only == "core":
            makers = [(self.unit_core, 0.9), (self.unit_commands, 0.1)]
        attempts = 0
        while len(out) < count and attempts < count * 20:
            attempts += 1
            x, acc = r.random(), 0.0
            for fn, w in makers:
                acc += w
                if x < acc:
                    break
            u = fn()
            if u is None:
                continue
            if r.random() < 0.1:
                self.break_unit(u)
            out.append(u)
        return out


# ---------------------------------------------------------------------------
# Comparison.

class Failure:
    def __init__(self, kind, unit, text, kres, nres, note=""):
        self.kind = kind
        self.unit = unit
        self.text = text
        self.kres = kres
        self.nres = nres
        self.note = note
        self.path = None


def describe_refusal(kres, nres):
    return "kernel line %s rc %s / netfence line %s rc %s" % (
        kres.line(), kres.rc, nres.line(), nres.rc)


def message_ok(nres, path):
    lines = [l for l in nres.err.split("\n") if l.strip()]
    return len(lines) == 1 and re.match(r"^netfence: %s:\d+: \S" %
                                        re.escape(path), lines[0]) is not None


class Runner:
    def __init__(self, args, data):
        self.args = args
        self.data = data
        self.nf = args.netfence
        # thousands of small files: a RAM file system when there is one
        shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
        self.workdir = tempfile.mkdtemp(prefix="save_diff.", dir=shm)
        if not args.keep_work:  # also when a signal ends the run
            atexit.register(shutil.rmtree, self.workdir, True)
        self.failures = []
        self.unsupported = collections.Counter()  # "match foo" -> units
        self.unsupported_rules = 0
        self.unsupported_units = 0
        self.stats = collections.Counter()
        self.refusal_info = collections.defaultdict(list)
        self.nf_unsupported_proto = {}
        self.file_counter = itertools.count()
        self.pool = concurrent.futures.ThreadPoolExecutor(max(1, args.jobs))
        self.lock = threading.Lock()
        self.lack_cache = {}
        self.refusal_reasons = collections.Counter()

    def bump(self, key, n=1):
        with self.lock:
            self.stats[key] += n

    def close(self):
        self.pool.shutdown(cancel_futures=True)
        if not self.args.keep_work:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def write(self, text, tag):
        path = os.path.join(self.workdir, "%s-%d.rules" % (
            tag, next(self.file_counter)))
        with open(path, "w", newline="") as f:
            f.write(text)
        return path

    # -- which extensions does netfence lack? --------------------------------------
    def probe_protocol_matches(self):
        """Protocol matches iptables loads for "-p NAME OPTION": netfence
        reports those missing as unknown options, not "Couldn't load"."""
        for fam in ("ip", "ip6"):
            lacks = set()
            for name in sorted(PROTO_MATCHES):
                p = self.write("*filter\n-A INPUT -m %s\nCOMMIT\n" % name, "probe")
                res = run_netfence(self.nf, fam, p)
                cl = res.couldnt_load()
                if cl and cl[1] == name:
                    lacks.add(name)
            if "icmp6" in lacks:
                lacks |= {"icmpv6", "ipv6-icmp", "58"}
            if "mh" in lacks:
                lacks |= {"ipv6-mh", "135"}
            num = {"tcp": "6", "udp": "17", "icmp": "1", "sctp": "132",
                   "dccp": "33", "udplite": "136", "esp": "50", "ah": "51"}
            lacks |= {num[n] for n in list(lacks) if n in num}
            self.nf_unsupported_proto[fam] = lacks

    def lacks(self, fam, kind, name):
        """True if netfence has no extension of that kind and name (probed
        once: "-m NAME" / "-j NAME" alone gives "Couldn't load")."""
        key = (fam, kind, name)
        with self.lock:
            if key in self.lack_cache:
                return self.lack_cache[key]
        rule = "-m %s" % name if kind == "m" else "-j %s" % name
        p = self.write("*filter\n-A INPUT %s\nCOMMIT\n" % rule, "probe")
        cl = run_netfence(self.nf, fam, p).couldnt_load()
        res = cl is not None and cl[1] == name
        with self.lock:
            self.lack_cache[key] = res
        return res

    def unsupported_reason(self, u, nres):
        """Why netfence refused u for lack of an extension, or None."""
        if nres.rc == 0:
            return None
        cl = nres.couldnt_load()
        if cl and cl[1] in self.data.known_exts[u.fam]:
            return "%s %s" % cl
        for kind, name in sorted(u.exts):
            if name in self.data.known_exts[u.fam] and \
                    self.lacks(u.fam, kind, name):
                return "%s %s" % ("match" if kind == "m" else "target", name)
        if "not supported by netfence" in nres.err:
            return nres.err.split(": ", 2)[-1].strip()
        lack = self.nf_unsupported_proto.get(u.fam, set())
        hit = sorted(p for p in u.implicit if p in lack)
        if hit and re.search(r'unknown option|has no owner', nres.err):
            return "match %s (implicit, -p %s)" % (hit[0], hit[0])
        return None

    # -- solo units ----------------------------------------------------------------------
    def compare(self, u, text, path, kres, nres, counters=False):
        """None if kernel and netfence agree on one file, else a Failure."""
        if nres.rc in (-999, 3) or nres.rc < 0:
            return Failure("netfence-crash", u, text, kres, nres)
        if kres.rc == 0 and nres.rc == 0:
            if kres.out == nres.out:
                return None
            return Failure("output-differs", u, text, kres, nres)
        if kres.rc != 0 and nres.rc != 0:
            if not message_ok(nres, path):
                return Failure("refusal-message", u, text, kres, nres,
                               "want one line 'netfence: FILE:LINE: reason'")
            return None
        if kres.rc == 0:
            return Failure("netfence-refuses", u, text, kres, nres)
        return Failure("netfence-accepts", u, text, kres, nres)

    def probe_prefix(self, u, text, kres, nres):
        """Both refuse, at different lines: the lines before the earlier one
        decide. Loads them (closing an open table) and returns a Failure if
        one side accepts what the other refuses."""
        kl, nl = kres.line(), nres.line()
        if kl is None or nl is None or kl == nl:
            return None
        lines = text.split("\n")[:min(kl, nl)]
        in_table = False
        for l in lines:
            if l.startswith("*"):
                in_table = True
            elif l == "COMMIT":
                in_table = False
        ptext = "".join(l + "\n" for l in lines) + ("COMMIT\n" if in_table
                                                    else "")
        path = self.write(ptext, "prefix")
        k = kernel_fresh(u.fam, path)
        n = run_netfence(self.nf, u.fam, path)
        fail = self.compare(u, ptext, path, k, n)
        if fail is not None:
            fail.note = ("whole file: kernel refuses line %s, netfence line %s;"
                         " its first %d lines decide. " % (kl, nl, min(kl, nl))
                         ) + fail.note
        return fail

    def note_refusal(self, u, path, kres, nres):
        """Both refuse: agreement. Where the kernel names another line, or
        fails at another stage (exit 1: commit / libiptc; 2: parameter
        problem), keep the case for triage (not a failure)."""
        self.bump("refusals agreeing")
        reason = re.sub(r"^netfence: .*?:\d+: ", "", nres.err.strip())
        reason = re.sub(r"[`'\"(].*", "", reason).strip()[:50]
        with self.lock:
            self.refusal_reasons[reason] += 1
        kinds = []
        if kres.line() != nres.line():
            kinds.append("line differs")
        if (kres.rc == 1) != (nres.rc == 1):
            kinds.append("exit status differs")
        for kind in kinds:
            with self.lock:
                lst = self.refusal_info[kind]
                lst.append((u, kres, nres, None))
                n = len(lst)
            if n <= 50:
                d = os.path.join(self.args.out, "info")
                os.makedirs(d, exist_ok=True)
                dst = os.path.join(d, "%s-u%d-%s.rules" % (
                    kind.split()[0], u.uid, u.category))
                shutil.copyfile(path, dst)
                with open(dst[:-6] + ".txt", "w") as fh:
                    fh.write("origin: %s\nfamily: %s\n--- kernel (rc %d)\n%s"
                             "--- netfence (rc %d)\n%s" % (
                                 u.origin, u.fam, kres.rc, kres.err, nres.rc,
                                 nres.err))
                lst[-1] = (u, kres, nres, dst)

    # -- the seed ----------------------------------------------------------------------
    def run_seed(self, seed):
        t0 = time.time()
        gen = Gen(seed, self.data, self.args.only_ext)
        units = gen.units(self.args.count)
        self.stats["units"] += len(units)
        self.stats["rules generated"] += sum(u.rule_count() for u in units)
        # 1. netfence on each unit alone
        texts = {u.uid: u.render() for u in units}
        paths = {u.uid: self.write(texts[u.uid], "s%d-u%d" % (seed, u.uid))
                 for u in units}
        futs = {u.uid: self.pool.submit(run_netfence, self.nf, u.fam,
                                        paths[u.uid]) for u in units}
        alone = {uid: f.result() for uid, f in futs.items()}
        batchable, solo = [], []
        for u in units:
            nres = alone[u.uid]
            why = self.unsupported_reason(u, nres)
            if why:
                self.unsupported[why] += 1
                self.unsupported_units += 1
                self.unsupported_rules += u.rule_count()
                continue
            if nres.rc == 0 and not u.solo and u.raw is None:
                batchable.append(u)
            else:
                solo.append(u)
        failures_before = len(self.failures)
        t1 = time.time()
        # 2. refused (or file-level) units, one by one
        self.run_solo(seed, solo, texts, paths, alone)
        t2 = time.time()
        runs_before = self.stats["batch files loaded"]
        # 3. accepted units, many per file
        rng = random.Random(seed * 7919 + 1)
        for fam in ("ip", "ip6"):
            us = [u for u in batchable if u.fam == fam]
            size = self.args.batch_size
            batches = [us[i:i + size] for i in range(0, len(us), size)]
            futs = [self.pool.submit(self.run_batch, seed, fam, b,
                                     random.Random(rng.random()))
                    for b in batches]
            for f in futs:
                f.result()
        n_fail = len(self.failures) - failures_before
        t3 = time.time()
        log("seed %d: %d units (%d batched, %d alone), %d failures, %.1fs "
            "(netfence alone %.1fs, kernel alone %.1fs, %d batch files %.1fs)" % (
                seed, len(units), len(batchable), len(solo), n_fail, t3 - t0,
                t1 - t0, t2 - t1, self.stats["batch files loaded"] - runs_before,
                t3 - t2))
        return n_fail

    def run_solo(self, seed, solo, texts, paths, alone):
        single = [u for u in solo if len(u.tables()) == 1 and
                  u.tables()[0] in BUILTIN]
        multi = [u for u in solo if u not in single]
        jobs = max(1, self.args.jobs)
        chunks = [single[i::jobs] for i in range(jobs)]
        futs = [self.pool.submit(kernel_loop, self.workdir,
                                 [(u.fam, u.tables()[0], paths[u.uid]) for u in c])
                for c in chunks]
        kres = {}
        for f in futs:
            kres.update(f.result())
        for u in multi:
            kres[paths[u.uid]] = kernel_fresh(u.fam, paths[u.uid])
        for u in solo:
            p = paths[u.uid]
            k, n = kres[p], alone[u.uid]
            fail = self.compare(u, texts[u.uid], p, k, n)
            if fail and u in single:
                # make sure the reused namespace is not to blame
                k = kernel_fresh(u.fam, p)
                fail = self.compare(u, texts[u.uid], p, k, n)
            self.bump("units compared alone")
            self.bump("rules compared", u.rule_count())
            if fail is None and k.rc != 0:
                fail = self.probe_prefix(u, texts[u.uid], k, n)
            if fail:
                self.record(seed, fail)
            elif k.rc != 0:
                self.note_refusal(u, p, k, n)
            else:
                self.bump("accepted alone, identical")

    # -- batches -----------------------------------------------------------------------
    def check_units(self, fam, units, rng, counters):
        text, owner = render_batch(units, rng)
        path = self.write(text, "b")
        self.bump("batch files loaded")
        k = kernel_fresh(fam, path, counters)
        n = run_netfence(self.nf, fam, path, counters)
        return text, owner, path, k, n

    def run_batch(self, seed, fam, units, rng):
        """Loads units many at a time; a failing file is narrowed down to the
        units responsible, which are reported (or, when both sides refuse
        them, dropped) and the rest is loaded again."""
        counters = rng.random() < 0.3
        pending = list(units)
        agree = lambda k, n: k.rc == 0 and n.rc == 0 and k.out == n.out
        while pending:
            text, owner, path, k, n = self.check_units(fam, pending, rng,
                                                       counters)
            if agree(k, n):
                self.bump("batch files identical")
                self.bump("units compared in batches", len(pending))
                self.bump("rules compared", sum(u.rule_count() for u in pending))
                return
            if k.rc == 0 and n.rc == 0:
                bad = lambda k2, n2: not agree(k2, n2)
                groups = self.isolate(fam, pending, rng, counters, bad)
            else:
                side = k if k.rc != 0 else n
                u = owner.get(side.line())
                if k.rc != 0:
                    bad = lambda k2, n2: k2.rc != 0
                else:
                    bad = lambda k2, n2: n2.rc != 0
                if isinstance(u, Unit):
                    groups = [[u]]
                else:  # a commit error names the COMMIT line: bisect
                    groups = self.isolate(fam, pending, rng, counters, bad)
            for g in groups:
                if len(g) == 1:
                    self.blame(seed, fam, g[0], counters, text, k, n)
                else:
                    self.blame_group(seed, fam, g, counters, rng, bad, k, n)
                for u in g:
                    if u in pending:
                        pending.remove(u)

    def isolate(self, fam, units, rng, counters, bad):
        """The smallest groups of units for which bad(kernel, netfence)
        holds, by halving; a group stays whole when no half fails alone (an
        interaction between units)."""
        if len(units) == 1:
            return [units]
        half = len(units) // 2
        found = []
        for part in (units[:half], units[half:]):
            _, _, _, k, n = self.check_units(fam, part, rng, counters)
            if bad(k, n):
                found += self.isolate(fam, part, rng, counters, bad)
        return found or [units]

    def blame_group(self, seed, fam, group, counters, rng, bad, bk, bn):
        """Units that fail only together: drops units one by one while the
        rest still fails, then reports the remaining file."""
        group = list(group)
        i = 0
        while i < len(group) and len(group) > 1:
            trial = group[:i] + group[i + 1:]
            _, _, _, k, n = self.check_units(fam, trial, rng, counters)
            if bad(k, n):
                group = trial
            else:
                i += 1
        text, owner, path, k, n = self.check_units(fam, group, rng, counters)
        fail = self.compare(group[0], text, path, k, n, counters)
        if fail is None:
            if bk.rc != 0 and bn.rc != 0:
                self.bump("units refused by both in a batch", len(group))
                return
            fail = Failure("batch-only", group[0], text, bk, bn,
                           "fails only within its batch")
        fail.note = ("interaction of %d units: %s. " % (
            len(group), ", ".join(u.origin for u in group))) + fail.note
        fail.group = group
        fail.counters = counters
        self.record(seed, fail)

    def blame(self, seed, fam, u, counters, batch_text, bk, bn):
        """Compares one unit of a failing batch alone."""
        text = u.render()
        path = self.write(text, "s%d-u%d-alone" % (seed, u.uid))
        k = kernel_fresh(fam, path, counters)
        n = run_netfence(self.nf, fam, path, counters)
        fail = self.compare(u, text, path, k, n, counters)
        if fail is None:
            if bk.rc != 0 and bn.rc != 0:
                # both refuse it among the others (e.g. it deletes a rule of
                # another unit): agreement, only it cannot be batched
                self.bump("units refused by both in a batch")
                self.bump("rules compared", u.rule_count())
                return
            fail = Failure("batch-only", u, batch_text, bk, bn,
                           "unit alone agrees; the whole batch does not")
        fail.counters = counters
        self.record(seed, fail)

    # -- failures ------------------------------------------------------------------------
    def shrink(self, f):
        """Drops rule lines while the failure stays of the same kind."""
        u = f.unit
        if u.raw is not None or len(u.lines) < 2 or f.kind == "batch-only":
            return
        counters = getattr(f, "counters", False)
        for i in reversed(range(len(u.lines))):
            if len(u.lines) < 2:
                break
            keep = u.lines[i]
            del u.lines[i]
            text = u.render()
            path = self.write(text, "shrink")
            k = kernel_fresh(u.fam, path, counters)
            n = run_netfence(self.nf, u.fam, path, counters)
            g = self.compare(u, text, path, k, n, counters)
            if g is not None and g.kind == f.kind:
                f.text, f.kres, f.nres = text, k, n
            else:
                u.lines.insert(i, keep)

    def record(self, seed, f):
        if len(self.failures) < self.args.max_shrink:
            self.shrink(f)
        with self.lock:
            self.failures.append(f)
        os.makedirs(self.args.out, exist_ok=True)
        base = os.path.join(self.args.out, "seed%d-u%d-%s" % (
            seed, f.unit.uid, f.kind))
        f.path = base + ".rules"
        with open(f.path, "w", newline="") as fh:
            fh.write(f.text)
        with open(base + ".txt", "w") as fh:
            fh.write("kind: %s\norigin: %s\nfamily: %s\n%s\n" % (
                f.kind, f.unit.origin, f.unit.fam, f.note))
            fh.write("--- kernel (rc %d)\n%s%s\n--- netfence (rc %d)\n%s%s\n" % (
                f.kres.rc, f.kres.err, f.kres.out, f.nres.rc, f.nres.err,
                f.nres.out))
            if f.kind == "output-differs":
                fh.write("--- diff (kernel -> netfence)\n")
                fh.writelines(difflib.unified_diff(
                    f.kres.out.splitlines(True), f.nres.out.splitlines(True)))
        log("FAIL %-17s %-28s %s\n     replay: %s" % (
            f.kind, f.unit.origin[:28], self.summary_line(f),
            self.replay_cmd(f)))
        if not self.args.keep_going:
            raise StopRun()

    def summary_line(self, f):
        if f.kind == "output-differs":
            d = [l for l in difflib.unified_diff(f.kres.out.splitlines(),
                                                 f.nres.out.splitlines(),
                                                 lineterm="", n=0)
                 if l[:1] in "+-" and l[:3] not in ("+++", "---")]
            return " | ".join(d[:2])[:300]
        ours = re.sub(r"^netfence: .*?:(\d+): ", r"netfence line \1: ",
                      f.nres.err.strip())
        if f.kind == "netfence-refuses":
            return (f.note + ours)[:240]
        if f.kind == "netfence-accepts":
            return (f.note + "kernel: " + " ".join(f.kres.err.split()))[:240]
        return (f.note + " " + ours)[:240]

    def replay_cmd(self, f):
        return "python3 %s --replay %s%s%s --netfence %s" % (
            SCRIPT, f.path,
            " -6" if f.unit.fam == "ip6" else "",
            " --counters" if getattr(f, "counters", False) else "", self.nf)


class StopRun(Exception):
    pass


# ---------------------------------------------------------------------------
# Report.

def report(runner, args, seeds, failing_seeds, elapsed):
    s = runner.stats
    log("")
    log("== kernel_save_diff summary (seeds %s, %d units per seed, %.1fs)" % (
        ",".join(map(str, seeds)), args.count, elapsed))
    log("units generated: %d (%d rules)" % (s["units"], s["rules generated"]))
    log("compared with the kernel: %d rules; %d units in %d identical batch "
        "files, %d units alone (%d identical, %d refused by both)" % (
            s["rules compared"], s["units compared in batches"],
            s["batch files identical"], s["units compared alone"],
            s["accepted alone, identical"], s["refusals agreeing"]))
    if s["units refused by both in a batch"]:
        log("units refused by both sides only within a batch: %d" %
            s["units refused by both in a batch"])
    log("")
    log("UNSUPPORTED BY NETFENCE (not compared): %d units, %d rules" % (
        runner.unsupported_units, runner.unsupported_rules))
    items = runner.unsupported.most_common()
    for i in range(0, len(items), 4):
        log("  " + "  ".join("%-28s" % ("%s: %d" % kv) for kv in items[i:i + 4]))
    log("")
    log("most frequent refusals both sides agree on:")
    items = runner.refusal_reasons.most_common(args.show * 4)
    for i in range(0, len(items), 2):
        log("  " + "  ".join("%-56s" % ("%5d %s" % (n, r)) for r, n in
                             items[i:i + 2]))
    log("")
    for k, lst in sorted(runner.refusal_info.items()):
        log("refusals that agree, but %s: %d (informational)" % (k, len(lst)))
        shown = collections.OrderedDict()
        for u, kres, nres, dst in lst:
            reason = re.sub(r"^netfence: .*?:\d+: ", "", nres.err.strip())
            key = (u.category, re.sub(r"[`'\"].*", "", reason)[:40])
            shown.setdefault(key, (u, kres, nres, dst, reason))
        for (u, kres, nres, dst, reason) in list(shown.values())[:args.show * 2]:
            log("  %-24s %s: %s\n      kernel: %s%s" % (
                u.origin[:24], describe_refusal(kres, nres), reason[:90],
                " ".join(kres.err.split())[:120],
                "\n      replay: python3 %s --replay %s%s --netfence %s" % (
                    SCRIPT, dst,
                    " -6" if u.fam == "ip6" else "", args.netfence)
                if dst else ""))
    log("")
    fails = runner.failures
    log("MISMATCHES: %d" % len(fails))
    by = collections.defaultdict(list)
    for f in fails:
        by[(f.kind, f.unit.category)].append(f)
    for (kind, cat), lst in sorted(by.items(), key=lambda kv: -len(kv[1])):
        log("  [%s / %s] %d, e.g.:" % (kind, cat, len(lst)))
        for f in lst[:args.show]:
            log("    %s\n      %s" % (runner.summary_line(f), runner.replay_cmd(f)))
    if fails:
        log("failing cases written to %s" % os.path.abspath(args.out))
    for seed in failing_seeds:
        log("replay seed: python3 %s --seed %d --count %d%s --netfence %s "
            "--keep-going" % (SCRIPT, seed,
                              args.count,
                              " --only-ext %s" % args.only_ext
                              if args.only_ext else "", args.netfence))


# ---------------------------------------------------------------------------

def environment_problem():
    for tool in ("ip", "iptables-legacy-restore", "iptables-legacy-save",
                 "ip6tables-legacy-restore", "ip6tables-legacy-save"):
        if shutil.which(tool) is None:
            return "%s not found" % tool
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    if r.returncode != 0:
        return "`ip netns` does not work: %s" % r.stderr.strip()
    try:
        ns = ns_create()
    except subprocess.CalledProcessError as e:
        return "cannot create a network namespace: %s" % (
            e.stderr.decode(errors="replace").strip() if e.stderr else e)
    try:
        r = subprocess.run(["ip", "netns", "exec", ns, "iptables-legacy-save"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            return "iptables-legacy-save fails in a namespace: %s" % (
                r.stderr.strip())
    finally:
        ns_delete(ns)
    return None


def replay(args):
    """Compares one file: kernel in a fresh namespace vs netfence."""
    fam = "ip6" if args.ipv6 else "ip"
    path = os.path.abspath(args.replay)
    k = kernel_fresh(fam, path, args.counters)
    os.unlink(path + ".kerr")
    n = run_netfence(args.netfence, fam, path, args.counters)
    log("kernel   rc %d line %s\n%s%s" % (k.rc, k.line(), k.err, k.out))
    log("netfence rc %d line %s\n%s%s" % (n.rc, n.line(), n.err, n.out))
    if k.rc == 0 and n.rc == 0:
        if k.out == n.out:
            log("IDENTICAL")
            return 0
        sys.stdout.writelines(difflib.unified_diff(
            k.out.splitlines(True), n.out.splitlines(True), "kernel",
            "netfence"))
        return 1
    if k.rc != 0 and n.rc != 0:
        log("BOTH REFUSE (%s)" % describe_refusal(k, n))
        return 0 if message_ok(n, path) else 1
    log("MISMATCH: %s" % ("netfence refuses" if k.rc == 0 else
                          "netfence accepts"))
    return 1


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", action="append", default=None,
                   help="seed(s); repeat or comma-separate (default: 1)")
    p.add_argument("--count", type=int, default=1000,
                   help="units generated per seed (default 1000)")
    p.add_argument("--netfence", default=os.path.join(REPO, "build", "netfence"),
                   help="the netfence binary")
    p.add_argument("--keep-going", action="store_true",
                   help="do not stop at the first mismatch")
    p.add_argument("--only-ext", metavar="NAME",
                   help="only units that use this match or target")
    p.add_argument("--corpus", default=os.environ.get(
        "NETFENCE_SHARED") and os.path.join(os.environ["NETFENCE_SHARED"],
                                            "corpus") or DEFAULT_CORPUS)
    p.add_argument("--out", default="save_diff_failures",
                   help="directory for failing cases")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--batch-size", type=int, default=100,
                   help="units per batch file")
    p.add_argument("--show", type=int, default=4,
                   help="examples shown per class in the summary")
    p.add_argument("--max-shrink", type=int, default=60,
                   help="failures to minimise (rule by rule)")
    p.add_argument("--keep-work", action="store_true",
                   help="keep the temporary directory")
    p.add_argument("--replay", metavar="FILE",
                   help="compare one file and exit")
    p.add_argument("-6", dest="ipv6", action="store_true",
                   help="with --replay: the file is an ip6tables ruleset")
    p.add_argument("--counters", action="store_true",
                   help="with --replay: save with -c")
    args = p.parse_args(argv)
    seeds = []
    for s in args.seed or ["1"]:
        seeds += [int(x) for x in s.split(",") if x]
    args.seeds = seeds
    return args


class Data:
    def __init__(self, corpus):
        self.rows = load_trows(corpus)
        self.grammar = Grammar(self.rows)
        self.corpus = load_corpus(corpus)
        self.canon = load_canon(corpus)
        self.known_exts = known_extensions(self.rows)


def main(argv):
    args = parse_args(argv)
    if not os.access(args.netfence, os.X_OK):
        print("save_diff: netfence binary %s not found" % args.netfence,
              file=sys.stderr)
        return 2
    problem = environment_problem() if os.geteuid() == 0 else \
        "needs root to create network namespaces"
    if problem:
        bar = "*" * 72
        log("%s\nSKIP kernel_save_diff: %s\n%s" % (bar, problem, bar))
        return SKIP
    ns_cleanup_stale()
    if args.replay:
        return replay(args)
    if not os.path.isdir(args.corpus):
        print("save_diff: corpus %s not found" % args.corpus, file=sys.stderr)
        return 2
    # the failure directory holds one run's cases only
    marker = os.path.join(args.out, ".save_diff_failures")
    if os.path.isdir(args.out) and os.path.exists(marker):
        shutil.rmtree(args.out)
    os.makedirs(args.out, exist_ok=True)
    open(marker, "w").close()
    t0 = time.time()
    data = Data(args.corpus)
    runner = Runner(args, data)
    failing_seeds = []
    try:
        runner.probe_protocol_matches()
        for seed in args.seeds:
            before = len(runner.failures)
            try:
                runner.run_seed(seed)
            except StopRun:
                failing_seeds.append(seed)
                break
            if len(runner.failures) > before:
                failing_seeds.append(seed)
    finally:
        runner.close()
    report(runner, args, args.seeds, failing_seeds, time.time() - t0)
    return 1 if runner.failures else 0


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    atexit.register(ns_cleanup_all)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    try:
        sys.exit(main(sys.argv[1:]))
    finally:
        ns_cleanup_all()
