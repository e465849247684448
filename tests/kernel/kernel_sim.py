#!/usr/bin/python3
"""Replay a `netfence simulate` scenario through the Linux kernel.

Given a scenario directory (host.json, rules.v4 and/or rules.v6, packets.jsonl in
the terms of shared/contract.md) this builds the host in network namespaces,
loads the rulesets with iptables-legacy-restore / ip6tables-legacy-restore,
replays every packet and writes what the kernel did:

  expected.jsonl      one line per packet in the contract's output format
  expected.v4 / .v6   `ip[6]tables-legacy-save -c` after the last packet, without
                      the `#` lines (only for the families the scenario has rules for)
  trace.jsonl         per packet: the TRACE path, the unstable bytes, the raw
                      observations (what a comparison may ignore is said here)
  report.json         timings, conntrack state, warnings

How it observes (see tests/kernel/README.md for the why):
  * namespace H is the host: every non-lo interface of host.json is one end of a
    veth pair whose other end sits in namespace P (no addresses, no IPv6, and an
    nftables prerouting drop so P never answers).  Host-side veths are NOARP (the
    kernel never needs an ARP/ND exchange to send), have offloads off, and the
    MAC/MTU of host.json.
  * ip_tables TRACE: our nftables chains set `meta nftrace` on every packet
    before raw; the TRACE lines reach us through nfnetlink_log (group 0) because
    nf_log for IPv4/IPv6 is bound to nfnetlink_log inside H.
  * our own nftables chains (tables `ip nfk4` / `ip6 nfk6`) log to one nflog
    group: `pre` (PREROUTING, first), `fwd` (FORWARD, first), `lout`/`kout`
    (OUTPUT, first: a user socket's packet / a kernel-made one), `sil` (a
    kernel-made packet silenced there: ND/MLD/IGMP, ICMP errors of the stack
    such as time-exceeded), `in <ct>` (INPUT, last: delivered, then dropped so
    the host stack never answers), `out <ct>` (POSTROUTING, last: leaves).
    The last-priority chains are registered before conntrack so that conntrack
    confirms a packet before we drop it.
  * a sentinel frame on lo (dropped by a netdev ingress chain that logs it)
    marks the end of each packet's processing; the process is pinned to one
    CPU so that all of it runs through one backlog in order.
  * a packet that vanished without a traced DROP/REJECT/policy and without a
    routing reason (a match that hot-dropped it) is located by a second run
    with an NFLOG marker rule before every rule.

Usage: kernel_sim.py SCENARIO_DIR [--out DIR] [--max-gap S] [--cpu N] [-v]
"""

import argparse
import atexit
import ctypes
import errno
import ipaddress
import json
import os
import re
import shlex
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import fcntl

libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000
NETLINK_NETFILTER = 12
SO_MARK = 36
NFK_GROUP = 65000     # our nftables log statements
MARK_GROUP = 65002    # second-pass NFLOG marker rules
TRACE_GROUP = 0       # nf_log's default group: ip_tables TRACE lines
SENTINEL_TYPE = 0x88B5
# a timed scenario ("t" keys) is trusted when every packet left within this many
# seconds of its time (generated scenarios keep a quarter token of margin or more)
TIMING_TOLERANCE = 0.04
HOOKS = ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING']
INT_MAX = 2147483647

# Tables by hook, in priority order (raw -300, mangle -150, nat -100 / 100,
# filter 0, security 50).  Used to describe paths only.
# (TPROXY drops what it cannot hand to a socket, and the namespace runs none)
DROP_TARGETS = {'DROP', 'REJECT', 'TPROXY'}
# targets after which a table is done with the packet (it may still drop it)
TERMINAL = {'ACCEPT', 'DROP', 'REJECT', 'QUEUE', 'NFQUEUE', 'DNAT', 'SNAT', 'MASQUERADE',
            'REDIRECT', 'NETMAP', 'SYNPROXY', 'TPROXY', 'CLUSTERIP'}
# ip_tables tables by hook, in priority order (raw -300, mangle -150, nat -100 or 100,
# filter 0, security 50)
TABLE_ORDER = {'PREROUTING': ['raw', 'mangle', 'nat'],
               'INPUT': ['mangle', 'filter', 'security', 'nat'],
               'FORWARD': ['mangle', 'filter', 'security'],
               'OUTPUT': ['raw', 'mangle', 'nat', 'filter', 'security'],
               'POSTROUTING': ['mangle', 'nat']}


class SimError(Exception):
    """A scenario the harness cannot run (bad input or a kernel refusal)."""


def log(*a):
    if VERBOSE:
        print('[kernel_sim]', *a, file=sys.stderr, flush=True)


VERBOSE = False
DEBUG_EVENTS = False

# ---------------------------------------------------------------------------
# namespaces and commands


def _setns_fd(fd):
    if libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, 'setns: ' + os.strerror(e))


_ROOT_NS = None


def root_ns_fd():
    global _ROOT_NS
    if _ROOT_NS is None:
        _ROOT_NS = os.open('/proc/self/ns/net', os.O_RDONLY)
    return _ROOT_NS


class InNS:
    """Context manager: run this thread inside network namespace `ns` (an fd, or a name
    under /run/netns)."""

    def __init__(self, ns):
        self.ns = ns

    def __enter__(self):
        root_ns_fd()
        if isinstance(self.ns, int):
            _setns_fd(self.ns)
            return
        fd = os.open('/run/netns/' + self.ns, os.O_RDONLY)
        try:
            _setns_fd(fd)
        finally:
            os.close(fd)

    def __exit__(self, *a):
        _setns_fd(root_ns_fd())


def new_netns():
    """A new network namespace, held by the returned fd only: it goes away with the
    fd (and the sockets in it), even if this process dies."""
    root_ns_fd()
    if libc.unshare(CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise SimError('unshare(CLONE_NEWNET): ' + os.strerror(e))
    try:
        return os.open('/proc/thread-self/ns/net', os.O_RDONLY)
    finally:
        _setns_fd(root_ns_fd())


def run(cmd, ns=None, input=None, check=True, pass_fds=()):
    """Run a command (inside namespace `ns`: a child inherits our thread's netns)."""
    if ns is not None:
        with InNS(ns):
            r = subprocess.run(cmd, input=input, capture_output=True, text=True, pass_fds=pass_fds)
    else:
        r = subprocess.run(cmd, input=input, capture_output=True, text=True, pass_fds=pass_fds)
    if check and r.returncode != 0:
        raise SimError('%s failed (%d): %s' % (' '.join(cmd), r.returncode,
                                              (r.stderr or r.stdout).strip()[:2000]))
    return r


_NFT = None


def nft(ns, text):
    """Apply an nft script inside namespace `ns` (libnftables in-process, else nft)."""
    global _NFT
    if _NFT is None:
        try:
            lib = ctypes.CDLL('libnftables.so.1')
            lib.nft_ctx_new.restype = ctypes.c_void_p
            lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
            lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
            lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
            lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
            lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
            lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
            _NFT = lib
        except OSError:
            _NFT = False
    if not _NFT:
        run(['nft', '-f', '-'], ns=ns, input=text)
        return
    with InNS(ns):
        ctx = _NFT.nft_ctx_new(0)
        try:
            _NFT.nft_ctx_buffer_error(ctx)
            rc = _NFT.nft_run_cmd_from_buffer(ctx, text.encode())
            if rc != 0:
                err = (_NFT.nft_ctx_get_error_buffer(ctx) or b'').decode(errors='replace')
                raise SimError('[%s] nft: %s' % (ns, err.strip()[:2000]))
        finally:
            _NFT.nft_ctx_free(ctx)


def sysctl_key(name):
    """An interface name as one component of a sysctl key (a VLAN's eth0.100 is eth0/100,
    as sysctl(8) writes it)."""
    return name.replace('.', '/')


def sysctl_set(key, value, must=True):
    path = '/proc/sys/' + key.translate(str.maketrans({'.': '/', '/': '.'}))
    try:
        with open(path, 'w') as f:
            f.write(str(value))
    except OSError as e:
        if must:
            raise SimError('sysctl %s=%s: %s' % (key, value, e))
        return False
    return True


def cleanup_stale():
    """Remove named namespaces left by old versions of this harness (nfksim-<pid>-*)."""
    try:
        names = os.listdir('/run/netns')
    except OSError:
        return
    for n in names:
        m = re.match(r'^nfksim-(\d+)-\d+-[hp]$', n)
        if m and not os.path.exists('/proc/' + m.group(1)):
            subprocess.run(['ip', 'netns', 'del', n], capture_output=True)


# ---------------------------------------------------------------------------
# nfnetlink_log


def _nla(t, data):
    ln = 4 + len(data)
    return struct.pack('=HH', ln, t) + data + b'\0' * ((4 - ln % 4) % 4)


class NFLog:
    """A netlink socket bound to some nflog groups (in the current netns)."""

    def __init__(self, groups):
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
        s.bind((0, 0))
        self.s = s
        self.overrun = False
        for g in groups:
            self._cfg(g, [_nla(1, struct.pack('B', 1))])            # CMD_BIND
            self._cfg(g, [_nla(2, struct.pack('>IBB', 0xffff, 2, 0)),   # copy packet
                          _nla(5, struct.pack('>I', 1)),           # qthresh 1
                          _nla(4, struct.pack('>I', 0))])          # no timeout

    def _cfg(self, g, attrs):
        body = struct.pack('=BBH', socket.AF_UNSPEC, 0, socket.htons(g)) + b''.join(attrs)
        self.s.send(struct.pack('=IHHII', 16 + len(body), (4 << 8) | 1, 0x1 | 0x4, 0, 0) + body)
        d = self.s.recv(65536)
        typ = struct.unpack_from('=H', d, 4)[0]
        if typ == 2:
            err = struct.unpack_from('=i', d, 16)[0]
            if err:
                raise SimError('nflog config of group %d: %s' % (g, os.strerror(-err)))

    def close(self):
        self.s.close()

    def recv(self, timeout):
        """Messages available within `timeout` seconds (0: only what is queued)."""
        out = []
        self.s.settimeout(timeout if timeout > 0 else None)
        try:
            if timeout > 0:
                d = self.s.recv(1 << 21)
            else:
                d = self.s.recv(1 << 21, socket.MSG_DONTWAIT)
        except (BlockingIOError, socket.timeout):
            return out
        except OSError as e:
            if e.errno == errno.ENOBUFS:
                self.overrun = True
                return out
            raise
        off = 0
        while off + 16 <= len(d):
            ln, typ = struct.unpack_from('=IH', d, off)
            if ln < 16:
                break
            if typ == (4 << 8):
                out.append(self._parse(d, off, ln))
            off += (ln + 3) & ~3
        return out

    @staticmethod
    def _parse(d, off, ln):
        fam, _, resid = struct.unpack_from('=BBH', d, off + 16)
        ev = {'group': socket.ntohs(resid), 'family': fam}
        a = off + 20
        end = off + ln
        while a + 4 <= end:
            al, at = struct.unpack_from('=HH', d, a)
            if al < 4:
                break
            v = d[a + 4:a + al]
            at &= 0x7fff
            if at == 1:
                ev['hwproto'], ev['hook'] = struct.unpack_from('>HB', v)
            elif at == 2:
                ev['mark'] = struct.unpack('>I', v)[0]
            elif at == 4:
                ev['indev'] = struct.unpack('>I', v)[0]
            elif at == 5:
                ev['outdev'] = struct.unpack('>I', v)[0]
            elif at == 9:
                ev['payload'] = bytes(v)
            elif at == 10:
                ev['prefix'] = v.split(b'\0')[0].decode('ascii', 'replace')
            elif at == 11:
                ev['uid'] = struct.unpack('>I', v)[0]
            elif at == 14:
                ev['gid'] = struct.unpack('>I', v)[0]
            a += (al + 3) & ~3
        return ev


# ---------------------------------------------------------------------------
# rulesets


def parse_save(text):
    """iptables-save text -> {table: {'policy': {chain: p}, 'rules': {chain: [rule]}, 'order': [...]}}.

    A rule is {'line': text, 'target': X or None, 'goto': bool}."""
    tables = {}
    cur = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        if line.startswith('*'):
            cur = {'policy': {}, 'rules': {}, 'order': []}
            tables[line[1:].strip()] = cur
        elif line == 'COMMIT':
            cur = None
        elif line.startswith(':') and cur is not None:
            parts = line[1:].split()
            cur['policy'][parts[0]] = parts[1] if len(parts) > 1 else '-'
            cur['rules'].setdefault(parts[0], [])
            cur['order'].append(parts[0])
        elif cur is not None:
            body = line
            if body.startswith('['):
                body = body.split(']', 1)[1].strip()
            try:
                toks = shlex.split(body)
            except ValueError:
                toks = body.split()
            if len(toks) < 2 or toks[0] != '-A':
                continue
            chain = toks[1]
            target, goto = None, False
            for i, t in enumerate(toks):
                if t in ('-j', '--jump') and i + 1 < len(toks):
                    target = toks[i + 1]
                elif t in ('-g', '--goto') and i + 1 < len(toks):
                    target, goto = toks[i + 1], True
            cur['rules'].setdefault(chain, []).append(
                {'line': body, 'target': target, 'goto': goto})
    return tables


# Matches and targets whose checkentry takes a conntrack reference
# (nf_ct_netns_get): with any of them the family's conntrack (and defrag) is on.
CT_MATCHES = {'state', 'conntrack', 'connmark', 'connbytes', 'connlimit', 'helper',
              'cluster', 'connlabel'}
CT_TARGETS = {'CT', 'NOTRACK', 'CONNMARK', 'CONNSECMARK', 'SNAT', 'DNAT', 'MASQUERADE',
              'REDIRECT', 'NETMAP', 'SYNPROXY', 'CLUSTERIP'}


def needs_conntrack(text):
    """Whether loading this ruleset turns conntrack on for its family.  The nat table
    itself does not (iptable_nat only registers hooks; its chains see nothing without
    conntrack): its NAT targets do, as every other ct-dependent extension."""
    for raw in text.splitlines():
        line = raw.strip()
        if not line.startswith('-A') and not line.startswith('['):
            continue
        toks = line.split()
        for i, t in enumerate(toks[:-1]):
            nxt = toks[i + 1].strip('"\'')
            if t in ('-m', '--match') and nxt in CT_MATCHES:
                return True
            if t in ('-j', '--jump') and nxt in CT_TARGETS:
                return True
    return False


def needs_defrag(text):
    """Whether the ruleset turns on reassembly before raw without conntrack (socket, TPROXY)."""
    return bool(re.search(r'(-m|--match)\s+socket\b|(-j|--jump)\s+TPROXY\b', text))


# ---------------------------------------------------------------------------
# host


def _mac_bytes(mac):
    return bytes(int(x, 16) for x in mac.split(':'))


def _mac_str(b):
    return ':'.join('%02x' % x for x in b)


def _route_family(r):
    for k in ('dst', 'gateway', 'prefsrc'):
        v = r.get(k) or ''
        if ':' in v:
            return 6
        if '.' in v:
            return 4
    return 6 if 'pref' in r else 4


def _route_key(r, fam):
    dst = r.get('dst', 'default')
    if dst == 'default':
        dst = '0.0.0.0/0' if fam == 4 else '::/0'
    elif '/' not in dst:
        dst += '/32' if fam == 4 else '/128'
    metric = r.get('metric', 0 if fam == 4 else None)
    return (r.get('table', 'main'), r.get('type', 'unicast'), dst, r.get('dev'),
            r.get('gateway'), metric if fam == 4 or metric is not None else None)


def _route_cmd(r, fam, verb):
    args = ['-6' if fam == 6 else '-4', 'route', verb]
    t = r.get('type', 'unicast')
    if t != 'unicast':
        args.append(t)
    args.append(r.get('dst', 'default'))
    if r.get('gateway'):
        args += ['via', r['gateway']]
    if r.get('dev') and t not in ('blackhole', 'unreachable', 'prohibit', 'throw'):
        args += ['dev', r['dev']]
    if r.get('table') and r['table'] != 'main':
        args += ['table', str(r['table'])]
    if r.get('protocol'):
        args += ['proto', str(r['protocol'])]
    if r.get('scope') and fam == 4:
        args += ['scope', str(r['scope'])]
    if r.get('prefsrc'):
        args += ['src', r['prefsrc']]
    if r.get('metric') is not None:
        args += ['metric', str(r['metric'])]
    if 'onlink' in r.get('flags', []):
        args.append('onlink')
    for k in ('mtu', 'advmss', 'hoplimit'):
        if r.get('metrics'):
            for m in r['metrics']:
                if isinstance(m, dict) and k in m:
                    args += [k, str(m[k])]
    if r.get('pref') and fam == 6 and r.get('pref') != 'medium':
        args += ['pref', r['pref']]
    return args


def _rule_cmd(r, fam):
    args = ['-6' if fam == 6 else '-4', 'rule', 'add']
    if 'priority' in r:
        args += ['priority', str(r['priority'])]
    if r.get('not'):
        args.append('not')
    if r.get('src') and r['src'] != 'all':
        args += ['from', r['src'] + ('/%d' % r['srclen'] if 'srclen' in r else '')]
    if r.get('dst') and r['dst'] != 'all':
        args += ['to', r['dst'] + ('/%d' % r['dstlen'] if 'dstlen' in r else '')]
    for k, a in (('iif', 'iif'), ('oif', 'oif'), ('tos', 'tos'), ('ipproto', 'ipproto')):
        if r.get(k):
            args += [a, str(r[k])]
    if r.get('fwmark'):
        args += ['fwmark', str(r['fwmark']) + ('/' + str(r['fwmask']) if r.get('fwmask') else '')]
    if r.get('sport'):
        args += ['sport', str(r['sport'])]
    if r.get('dport'):
        args += ['dport', str(r['dport'])]
    if r.get('uid_range') or r.get('uidrange'):
        args += ['uidrange', str(r.get('uid_range') or r.get('uidrange'))]
    if r.get('action') and r['action'] not in ('lookup', 'to_tbl'):
        args.append(r['action'])
    elif r.get('table'):
        args += ['lookup', str(r['table'])]
    if r.get('suppress_prefixlength') is not None:
        args += ['suppress_prefixlength', str(r['suppress_prefixlength'])]
    return args


ETHTOOL_OFF = (0x15, 0x17, 0x19, 0x1f, 0x24, 0x2c)   # SRXCSUM STXCSUM SSG STSO SGSO SGRO


def offloads_off(ifname, warnings):
    """`ethtool -K IF rx off tx off sg off tso off gso off gro off` (current netns)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for cmd in ETHTOOL_OFF:
            ev = ctypes.create_string_buffer(struct.pack('II', cmd, 0), 8)
            ifr = struct.pack('16sP', ifname.encode(), ctypes.addressof(ev)) + bytes(16)
            try:
                fcntl.ioctl(s.fileno(), 0x8946, ifr)
            except OSError as e:
                if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                    warnings.append('ethtool 0x%x on %s: %s' % (cmd, ifname, e))
    finally:
        s.close()


def link_up(ifname):
    """`ip link set IF up` (current netns)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        ifr = struct.pack('16sH', ifname.encode(), 0) + bytes(22)
        flags = struct.unpack_from('H', fcntl.ioctl(s.fileno(), 0x8913, ifr), 16)[0]   # SIOCGIFFLAGS
        fcntl.ioctl(s.fileno(), 0x8914, struct.pack('16sH', ifname.encode(), flags | 1) + bytes(22))
    finally:
        s.close()


class Host:
    """The namespaces of one scenario run."""

    seq = 0

    def __init__(self, host, warnings):
        self.h = self.p = None
        self.host = host
        self.warnings = warnings
        self.ifaces = []      # host.json link objects (non-loopback)
        self.peer = {}        # ifname -> peer ifname in P
        self.ifindex = {}     # ifindex in H -> name
        self.mac = {}         # ifname -> MAC bytes
        self.bcast = {}       # ifname -> set of broadcast addresses
        self.v6_on = {}       # ifname -> whether IPv6 is on

    def create(self):
        self.h = new_netns()
        self.p = new_netns()
        host = self.host
        fwd4 = bool(host.get('forwarding', False))
        fwd6 = bool(host.get('forwarding6', fwd4))
        links = host.get('addrs') or []
        lo = None
        for l in links:
            if l.get('link_type') == 'loopback' or l.get('ifname') == 'lo':
                lo = l
            else:
                self.ifaces.append(l)
        with InNS(self.p):
            for k in ('all', 'default'):
                sysctl_set('net.ipv6.conf.%s.disable_ipv6' % k, 1)
        with InNS(self.h):
            self._base_sysctls()
        # veth pairs, made in H with their peer ends moved to P
        batch = []
        for i, l in enumerate(self.ifaces):
            name = l['ifname']
            pn = 'p%d' % i
            self.peer[name] = pn
            mac = l.get('address') or '02:00:00:00:%02x:01' % (i + 1)
            self.mac[name] = _mac_bytes(mac)
            mtu = int(l.get('mtu') or 1500)
            mtu = max(68, min(mtu, 65535))
            # the peer end takes any frame; the host end's MTU decides (as a NIC would)
            batch.append('link add %s address %s mtu %d type veth peer name %s netns /proc/self/fd/%d '
                         'address 02:fe:00:00:%02x:%02x mtu 65535'
                         % (name, mac, mtu, pn, self.p, (i >> 8) & 0xff, i & 0xff))
            if l.get('link_type') not in (None, 'ether'):
                self.warnings.append('interface %s (%s) is simulated as an Ethernet veth'
                                     % (name, l.get('link_type')))
        if batch:
            run(['ip', '-batch', '-'], ns=self.h, input='\n'.join(batch) + '\n', pass_fds=(self.p,))
        with InNS(self.h):
            # per-interface IPv6 on/off (before any address or link up)
            for l in ([lo] if lo else []) + self.ifaces:
                name = l['ifname']
                has6 = any(a.get('family') == 'inet6' for a in l.get('addr_info', []))
                self.v6_on[name] = has6
                sysctl_set('net.ipv6.conf.%s.disable_ipv6' % sysctl_key(name), 0 if has6 else 1)
            if lo is None:
                sysctl_set('net.ipv6.conf.lo.disable_ipv6', 1)
                self.v6_on['lo'] = False
            # offloads off (checksums computed and checked by the stack, no GRO/TSO merging)
            for l in self.ifaces:
                offloads_off(l['ifname'], self.warnings)
        with InNS(self.p):
            for pn in self.peer.values():
                offloads_off(pn, self.warnings)
                link_up(pn)
        # addresses and links
        hb = []
        for l in ([lo] if lo else []) + self.ifaces:
            name = l['ifname']
            if l is not lo:
                hb.append('link set %s arp off' % name)
            self.bcast[name] = set()
            for a in l.get('addr_info', []):
                fam = a.get('family')
                loc, plen = a.get('local'), a.get('prefixlen')
                if not loc or plen is None:
                    continue
                if l is lo and (loc, plen) in (('127.0.0.1', 8), ('::1', 128)):
                    continue
                if fam == 'inet':
                    cmd = 'addr add %s/%d' % (loc, plen)
                    peer = a.get('address')
                    if peer and peer != loc:
                        cmd += ' peer %s' % peer
                    if a.get('broadcast'):
                        cmd += ' broadcast %s' % a['broadcast']
                        self.bcast[name].add(a['broadcast'])
                    if a.get('scope') and a['scope'] != 'global':
                        cmd += ' scope %s' % a['scope']
                    if a.get('label') and a['label'] != name:
                        cmd += ' label %s' % a['label']
                    hb.append(cmd + ' dev %s' % name)
                elif fam == 'inet6':
                    cmd = 'addr add %s/%d dev %s nodad' % (loc, plen, name)
                    if a.get('noprefixroute'):
                        cmd += ' noprefixroute'
                    hb.append(cmd)
            if 'UP' in l.get('flags', ['UP']) or l is lo:
                hb.append('link set %s up' % name)
        if lo is None:
            hb.append('link set lo up')
        run(['ip', '-batch', '-'], ns=self.h, input='\n'.join(hb) + '\n')
        with InNS(self.h):
            sysctl_set('net.ipv4.ip_forward', 1 if fwd4 else 0)
            sysctl_set('net.ipv4.conf.all.forwarding', 1 if fwd4 else 0)
            if sysctl_set('net.ipv6.conf.all.forwarding', 1 if fwd6 else 0, must=False) is False:
                self.warnings.append('cannot set net.ipv6.conf.all.forwarding')
            for k in ('all', 'default') + tuple(sysctl_key(l['ifname']) for l in self.ifaces):
                sysctl_set('net.ipv4.conf.%s.send_redirects' % k, 0, must=False)
        self._routes((host.get('routes') or []) + (host.get('routes6') or []))
        for fam, key in ((4, 'rules'), (6, 'rules6')):
            if host.get(key):
                self._ip_rules(fam, host[key])
        # our own nftables in P: the peer side never answers anything
        nft(self.p, 'table inet nfkp {\n chain c {\n  type filter hook prerouting priority -500; policy drop;\n'
            ' }\n}\n')
        with InNS(self.h):
            for idx, name in socket.if_nameindex():
                self.ifindex[idx] = name
        for r in self.host.get('routes', []) or []:
            if r.get('type') == 'broadcast' and r.get('table') == 'local' and r.get('dev'):
                self.bcast.setdefault(r['dev'], set()).add(r['dst'])

    def _base_sysctls(self):
        s = sysctl_set
        s('net.netfilter.nf_log.2', 'nfnetlink_log')
        s('net.netfilter.nf_log.10', 'nfnetlink_log')
        for k in ('all', 'default'):
            s('net.ipv4.conf.%s.send_redirects' % k, 0)
            s('net.ipv4.conf.%s.accept_redirects' % k, 0)
            s('net.ipv4.conf.%s.rp_filter' % k, 0)
            s('net.ipv4.conf.%s.log_martians' % k, 0)
            s('net.ipv4.conf.%s.arp_notify' % k, 0, must=False)
            for kk, v in (('accept_dad', 0), ('dad_transmits', 0), ('router_solicitations', 0),
                          ('accept_ra', 0), ('autoconf', 0), ('addr_gen_mode', 1),
                          ('use_tempaddr', 0), ('ndisc_notify', 0), ('accept_redirects', 0),
                          ('optimistic_dad', 0), ('enhanced_dad', 0)):
                s('net.ipv6.conf.%s.%s' % (k, kk), v, must=False)
            s('net.ipv6.conf.%s.disable_ipv6' % k, 1 if k == 'default' else 0, must=False)
        s('net.ipv4.icmp_ratelimit', 0)
        s('net.ipv4.icmp_msgs_per_sec', 1000000, must=False)
        s('net.ipv4.icmp_msgs_burst', 1000000, must=False)
        s('net.ipv6.icmp.ratelimit', 0, must=False)
        s('net.ipv6.auto_flowlabels', 0, must=False)
        s('net.ipv6.flowlabel_reflect', 0, must=False)

    def _current_routes(self):
        out = run(['ip', '-j', 'route', 'show', 'table', 'all'], ns=self.h).stdout
        return json.loads(out or '[]')

    def _routes(self, want):
        """Make H's routing tables (both families) what host.json says."""
        seen, wanted = set(), []
        for r in want:
            fam = _route_family(r)
            if r.get('table') in ('cache',) or r.get('nexthops') or r.get('nhid'):
                if r.get('nexthops') or r.get('nhid'):
                    self.warnings.append('multipath/nexthop route not reproduced: %s' % r)
                continue
            k = (fam,) + _route_key(r, fam)
            if k in seen:
                continue
            seen.add(k)
            wanted.append((fam, r))
        if not wanted:
            return
        # the kernel makes its own routes for addresses, some of them (IPv6) a little later:
        # wait for those before adding what is missing
        deadline = time.monotonic() + 1.0
        while True:
            have = {}
            for r in self._current_routes():
                fam = _route_family(r)
                have[(fam,) + _route_key(r, fam)] = (fam, r)
            pending = [1 for fam, r in wanted if r.get('protocol') == 'kernel' and
                       (fam,) + _route_key(r, fam) not in have]
            if not pending or time.monotonic() > deadline:
                break
            time.sleep(0.005)
        batch = {4: [], 6: []}
        # direct routes first, then those with gateways; then what host.json does not have
        for rnd in (0, 1):
            for fam, r in wanted:
                if bool(r.get('gateway')) == bool(rnd) and (fam,) + _route_key(r, fam) not in have:
                    batch[fam].append(' '.join(_route_cmd(r, fam, 'append')[1:]))
        for k, (fam, r) in have.items():
            if k not in seen:
                batch[fam].append(' '.join(_route_cmd(r, fam, 'del')[1:]))
        self.route_changes = batch[4] + batch[6]
        if batch[4] or batch[6]:
            for fam in (4, 6):
                if not batch[fam]:
                    continue
                res = run(['ip', '-%d' % fam, '-force', '-batch', '-'], ns=self.h,
                          input='\n'.join(batch[fam]) + '\n', check=False)
                if res.returncode != 0:
                    self.warnings.append('routes: %s' % res.stderr.strip()[:500])
            now = set()
            for r in self._current_routes():
                fam = _route_family(r)
                now.add((fam,) + _route_key(r, fam))
            if now != seen:
                self.warnings.append('routes differ from host.json: missing %s, extra %s' % (
                    sorted(map(str, seen - now)), sorted(map(str, now - seen))))

    def _ip_rules(self, fam, rules):
        cur = json.loads(run(['ip', '-%d' % fam, '-j', 'rule', 'show'], ns=self.h).stdout or '[]')
        batch = ['rule del priority %s' % r['priority'] for r in cur]
        batch += [' '.join(_rule_cmd(r, fam)[1:]) for r in rules]
        res = run(['ip', '-%d' % fam, '-force', '-batch', '-'], ns=self.h, input='\n'.join(batch) + '\n',
                  check=False)
        if res.returncode != 0:
            self.warnings.append('ip rules: %s' % res.stderr.strip()[:500])

    def is_local(self, dst):
        """Whether host.json's local table delivers `dst` locally (or it is multicast)."""
        ip = ipaddress.ip_address(dst)
        if ip.is_multicast or str(ip) == '255.255.255.255':
            return True
        for r in (self.host.get('routes') or []) + (self.host.get('routes6') or []):
            if r.get('table') != 'local' or r.get('type') not in ('local', 'broadcast', 'anycast'):
                continue
            try:
                if ip in ipaddress.ip_network(r['dst'], strict=False):
                    return True
            except (KeyError, ValueError):
                continue
        return False

    def destroy(self):
        for attr in ('h', 'p'):
            fd = getattr(self, attr)
            if fd is not None:
                os.close(fd)
                setattr(self, attr, None)


# ---------------------------------------------------------------------------
# nftables of the harness


def nft_ruleset(ct4, ct6, ifaces, mark_macs=None):
    """Our observation chains.  `ctN`: whether conntrack is on for that family
    (only then may we use `ct state`, which would otherwise switch it on)."""
    g = NFK_GROUP
    out = []
    for fam, tbl, ct in (('ip', 'nfk4', ct4), ('ip6', 'nfk6', ct6)):
        if fam == 'ip':
            noise = ['meta l4proto igmp',
                     'icmp type { source-quench, redirect, time-exceeded, parameter-problem }',
                     'icmp type destination-unreachable icmp code frag-needed']
        else:
            noise = ['icmpv6 type { packet-too-big, time-exceeded, parameter-problem, '
                     'mld-listener-query, mld-listener-report, mld-listener-done, '
                     'nd-router-solicit, nd-router-advert, nd-neighbor-solicit, '
                     'nd-neighbor-advert, nd-redirect, mld2-listener-report }',
                     # ip6_forward's "beyond scope of source address" for a
                     # link-local source: the stack's own error (REJECT has no
                     # code 2), out of the contract's scope like time-exceeded
                     'icmpv6 type destination-unreachable icmpv6 code 2']

        def state_logs(what):
            if not ct:
                return ['log prefix "NFK %s -" group %d' % (what, g)]
            return ['ct state %s log prefix "NFK %s %s" group %d' % (s, what, s, g)
                    for s in ('new', 'established', 'related', 'invalid', 'untracked')]

        lines = ['table %s %s {' % (fam, tbl),
                 ' chain nfk_pre {', '  type filter hook prerouting priority -500; policy accept;',
                 '  meta nftrace set 1',
                 '  log prefix "NFK pre" group %d' % g, ' }',
                 ' chain nfk_fwd {', '  type filter hook forward priority -500; policy accept;',
                 '  log prefix "NFK fwd" group %d' % g, ' }',
                 # INPUT and POSTROUTING are entered even when the first rule
                 # there hot-drops the packet (which leaves no TRACE event)
                 ' chain nfk_inp {', '  type filter hook input priority -500; policy accept;',
                 '  log prefix "NFK inp" group %d' % g, ' }',
                 ' chain nfk_postp {', '  type filter hook postrouting priority -500; policy accept;',
                 '  log prefix "NFK postp" group %d' % g, ' }',
                 ' chain nfk_lout {', '  type filter hook output priority -500; policy accept;',
                 '  meta nftrace set 1',
                 '  meta skuid >= 0 log prefix "NFK lout" group %d accept' % g]
        lines += ['  %s log prefix "NFK sil" group %d drop' % (n, g) for n in noise]
        lines += ['  log prefix "NFK kout" group %d' % g, ' }',
                  ' chain nfk_inl {', '  type filter hook input priority %d; policy accept;' % INT_MAX]
        lines += ['  ' + x for x in state_logs('in')]
        lines += ['  drop', ' }',
                  ' chain nfk_post {', '  type filter hook postrouting priority %d; policy accept;' % INT_MAX]
        lines += ['  ' + x for x in state_logs('out')]
        lines += [' }', '}']
        out += lines
    out += ['table netdev nfkd {',
            ' chain sentinel {',
            '  type filter hook ingress device "lo" priority -500; policy accept;',
            '  meta protocol 0x%04x log prefix "NFKS" group %d drop' % (SENTINEL_TYPE, g),
            ' }']
    # an arriving packet's initial mark: the frame comes with a made-up source MAC
    # that says which mark to set; the real source MAC is put back here, before
    # anything else can see it
    if mark_macs:
        for i, dev in enumerate(list(ifaces) + ['lo']):
            out += [' chain mark%d {' % i,
                    '  type filter hook ingress device "%s" priority -500; policy accept;' % dev]
            for (mark, real), fake in sorted(mark_macs.items(), key=lambda x: x[1]):
                out.append('  ether saddr %s meta mark set 0x%x ether saddr set %s' % (fake, mark, real))
            out.append(' }')
    out.append('}')
    return '\n'.join(out) + '\n'


# ---------------------------------------------------------------------------
# packets


def pkt_info(b):
    """Version, protocol and addresses of a packet (best effort on malformed ones)."""
    info = {'ver': b[0] >> 4 if b else 0, 'frag': False, 'proto': None}
    try:
        if info['ver'] == 4 and len(b) >= 20:
            info['src'] = socket.inet_ntop(socket.AF_INET, b[12:16])
            info['dst'] = socket.inet_ntop(socket.AF_INET, b[16:20])
            info['proto'] = b[9]
            fo = struct.unpack('>H', b[6:8])[0]
            info['frag'] = bool(fo & 0x3fff)
            info['id0'] = b[4:6] == b'\0\0'
            info['ttl'] = b[8]
        elif info['ver'] == 6 and len(b) >= 40:
            info['src'] = socket.inet_ntop(socket.AF_INET6, b[8:24])
            info['dst'] = socket.inet_ntop(socket.AF_INET6, b[24:40])
            nh, off = b[6], 40
            for _ in range(8):
                if nh == 44:
                    info['frag'] = True
                    break
                if nh in (0, 43, 60) and off + 2 <= len(b):
                    nh, off = b[off], off + (b[off + 1] + 1) * 8
                    continue
                break
            info['proto'] = nh
            info['ttl'] = b[7]
    except (OSError, ValueError, IndexError):
        pass
    return info


def ip_len(b):
    """The length an IP packet's header gives it (what ip_rcv / ipv6_rcv trim
    the buffer to), or len(b) when it cannot be read."""
    if len(b) >= 4 and b[0] >> 4 == 4:
        return min(len(b), struct.unpack('>H', b[2:4])[0])
    if len(b) >= 40 and b[0] >> 4 == 6 and (b[4:6] != b'\0\0' or b[6] != 0):
        return min(len(b), 40 + struct.unpack('>H', b[4:6])[0])
    return len(b)


def _sum16(b):
    if len(b) % 2:
        b += b'\0'
    return sum(struct.unpack('>%dH' % (len(b) // 2), b))


def _fold(x):
    while x >> 16:
        x = (x & 0xffff) + (x >> 16)
    return x


def complete_checksum(b):
    """A kernel-made TCP/UDP packet (a REJECT's reset) is CHECKSUM_PARTIAL until the
    device finishes it: what nflog copies has only the pseudo-header sum in the
    checksum field.  Return the packet as it leaves, with the full checksum."""
    try:
        if b[0] >> 4 == 4:
            ihl = (b[0] & 15) * 4
            proto = b[9]
            if struct.unpack('>H', b[6:8])[0] & 0x3fff:
                return b
            l4 = b[ihl:struct.unpack('>H', b[2:4])[0]]
            pseudo = b[12:20] + struct.pack('>BBH', 0, proto, len(l4))
            off = ihl
        elif b[0] >> 4 == 6:
            proto = b[6]
            l4 = b[40:40 + struct.unpack('>H', b[4:6])[0]]
            pseudo = b[8:40] + struct.pack('>IxxxB', len(l4), proto)
            off = 40
        else:
            return b
        pos = {6: 16, 17: 6}.get(proto)
        if pos is None or len(l4) < pos + 2:
            return b
        field = struct.unpack('>H', l4[pos:pos + 2])[0]
        if _fold(_sum16(pseudo) + _sum16(l4)) == 0xffff or field != _fold(_sum16(pseudo)):
            return b
        z = l4[:pos] + b'\0\0' + l4[pos + 2:]
        c = ~_fold(_sum16(pseudo) + _sum16(z)) & 0xffff
        if proto == 17 and c == 0:
            c = 0xffff
        return b[:off + pos] + struct.pack('>H', c) + b[off + pos + 2:]
    except (IndexError, struct.error):
        return b


def default_dst_mac(host, iface, b):
    info = pkt_info(b)
    dst = info.get('dst')
    if dst:
        ip = ipaddress.ip_address(dst)
        if ip.version == 4:
            if dst == '255.255.255.255' or dst in host.bcast.get(iface, ()):
                return b'\xff' * 6
            if ip.is_multicast:
                return bytes([0x01, 0x00, 0x5e, b[17] & 0x7f, b[18], b[19]])
        elif ip.is_multicast:
            return b'\x33\x33' + b[36:40]
    return host.mac.get(iface, b'\0' * 6)


# ---------------------------------------------------------------------------
# the run


class Sender:
    """Sockets for injecting packets: AF_PACKET in P per interface, raw in H."""

    def __init__(self, host):
        self.host = host
        self.raw = {}
        with InNS(host.p):
            self.pk = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        with InNS(host.h):
            self.lo = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
            self.lo.bind(('lo', 0))

    def close(self):
        # closing a packet socket waits for an RCU grace period: do it in the background
        socks = list(self.raw.values()) + [self.pk, self.lo]
        threading.Thread(target=lambda: [x.close() for x in socks], daemon=True).start()

    def arrive(self, iface, b, src_mac, dst_mac):
        et = 0x86DD if b and (b[0] >> 4) == 6 else 0x0800
        frame = dst_mac + src_mac + struct.pack('>H', et) + b
        if iface == 'lo':
            self.lo.send(frame)
        else:
            self.pk.sendto(frame, (self.host.peer[iface], 0))

    def sentinel(self):
        self.lo.send(b'\0' * 6 + b'\0' * 6 + struct.pack('>H', SENTINEL_TYPE) + b'NFKS'.ljust(46, b'\0'))

    def _raw_socket(self, fam, uid, gid, groups):
        key = (fam, uid, gid, tuple(groups))
        if key in self.raw:
            return self.raw[key]
        with InNS(self.host.h):
            old_groups = os.getgroups()
            os.setgroups(list(groups))
            libc.setfsgid(gid)
            libc.setfsuid(uid)
            try:
                s = socket.socket(socket.AF_INET6 if fam == 6 else socket.AF_INET,
                                  socket.SOCK_RAW, socket.IPPROTO_RAW)
            finally:
                libc.setfsuid(0)
                libc.setfsgid(0)
                os.setgroups(old_groups)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        self.raw[key] = s
        return s

    def local(self, b, uid, gid, groups, mark):
        """Send as a local process; returns the errno name or None."""
        fam = 6 if b and (b[0] >> 4) == 6 else 4
        s = self._raw_socket(fam, uid, gid, groups)
        s.setsockopt(socket.SOL_SOCKET, SO_MARK, struct.pack('I', mark & 0xffffffff))
        try:
            if fam == 4:
                dst = socket.inet_ntop(socket.AF_INET, b[16:20]) if len(b) >= 20 else '0.0.0.0'
                s.sendto(b, (dst, 0))
            else:
                dst = socket.inet_ntop(socket.AF_INET6, b[24:40]) if len(b) >= 40 else '::'
                scope = 0
                ip = ipaddress.ip_address(dst)
                if ip.is_link_local or (ip.is_multicast and (b[25] & 0xf) <= 2):
                    scope = self._scope_for(b)
                s.sendto(b, (dst, 0, 0, scope))
        except OSError as e:
            return errno.errorcode.get(e.errno, str(e.errno))
        return None

    def _scope_for(self, b):
        src = socket.inet_ntop(socket.AF_INET6, b[8:24])
        first = None
        for l in self.host.ifaces:
            for a in l.get('addr_info', []):
                if a.get('family') == 'inet6':
                    if first is None:
                        first = l['ifname']
                    if a.get('local') == src:
                        first = l['ifname']
                        break
        for idx, name in self.host.ifindex.items():
            if name == first:
                return idx
        return 0


def ip4_unstable_desc():
    return 'IPv4 id and header checksum (bytes 4-5, 10-11) are chosen by the kernel at random'


class Scenario:
    @classmethod
    def from_data(cls, hostj, rules, packets=(), max_gap=30.0):
        """A scenario held in memory (for kernel sessions driven by a generator)."""
        sc = cls.__new__(cls)
        sc.dir = None
        sc.max_gap = max_gap
        sc.hostj = hostj
        sc.rules = dict(rules)
        sc.packets = list(packets)
        sc.ct = {fam: needs_conntrack(t) for fam, t in sc.rules.items()}
        sc.defrag = {fam: sc.ct[fam] or needs_defrag(t) for fam, t in sc.rules.items()}
        return sc

    def __init__(self, sdir, max_gap=30.0, warnings=None):
        self.dir = sdir
        self.max_gap = max_gap
        with open(os.path.join(sdir, 'host.json')) as f:
            self.hostj = json.load(f)
        self.rules = {}
        for fam, fn in ((4, 'rules.v4'), (6, 'rules.v6')):
            p = os.path.join(sdir, fn)
            if os.path.exists(p):
                with open(p) as f:
                    self.rules[fam] = f.read()
        self.packets = []
        with open(os.path.join(sdir, 'packets.jsonl')) as f:
            for i, line in enumerate(f, 1):
                line = line.strip()
                if line:
                    try:
                        self.packets.append(json.loads(line))
                    except ValueError as e:
                        raise SimError('packets.jsonl:%d: %s' % (i, e))
        self.ct = {fam: needs_conntrack(t) for fam, t in self.rules.items()}
        self.defrag = {fam: self.ct[fam] or needs_defrag(t) for fam, t in self.rules.items()}


def load_rules(host, fam, text):
    prog = 'iptables-legacy-restore' if fam == 4 else 'ip6tables-legacy-restore'
    r = run([prog], ns=host.h, input=text, check=False)
    if r.returncode != 0:
        raise KernelRefused('%s: %s' % (prog, (r.stderr or r.stdout).strip()))


class KernelRefused(SimError):
    """The kernel (iptables-legacy-restore) refused the ruleset."""


def save(host, fam, counters):
    prog = 'iptables-legacy-save' if fam == 4 else 'ip6tables-legacy-save'
    return run([prog] + (['-c'] if counters else []), ns=host.h).stdout


def strip_comments(text):
    return ''.join(l for l in text.splitlines(True) if not l.startswith('#'))


def marker_ruleset(text, fam, index):
    """The ruleset with an NFLOG marker before every rule (second pass)."""
    out = []
    counts = {}
    table = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith('*'):
            table = line[1:].strip()
        if line.startswith('-A '):
            chain = line.split()[1]
            k = counts.get((table, chain), 0) + 1
            counts[(table, chain)] = k
            idx = len(index)
            index.append((fam, table, chain, k))
            out.append('-A %s -j NFLOG --nflog-group %d --nflog-prefix "NFKM %d" --nflog-size 0'
                       % (chain, MARK_GROUP, idx))
        out.append(raw)
    return '\n'.join(out) + '\n'


class Run:
    """One pass of a scenario through the kernel."""

    def __init__(self, sc, rules_override=None, marker_index=None, defer=True):
        self.sc = sc
        # analyse after the run, with the rules as the final `iptables-save -c` prints them
        # (one save less); a session needs each answer at once
        self.defer = defer
        self.pending = []
        self.warnings = []
        self.rules = rules_override or sc.rules
        self.marker_index = marker_index
        self.host = Host(sc.hostj, self.warnings)
        self.results = []
        self.traces = []
        self.saved = {}
        self.counters = {}

    def execute(self):
        self.start()
        try:
            for n, p in enumerate(self.sc.packets, 1):
                self.step(n, p)
            self.loop_s = time.time() - self.loop_start
            self.collect()
            for fam, text in self.counters.items():
                self.saved[fam] = parse_save(text)
            for rec in self.pending:
                self._finish_step(*rec)
            self.pending = []
        finally:
            self.close()

    def start(self):
        """Build the host, load the rules, open the sockets."""
        self.t0 = time.time()
        h = self.host
        h.create()
        ct4 = self.sc.ct.get(4, False)
        ct6 = self.sc.ct.get(6, False)
        self.mark_macs = {}
        for p in self.sc.packets:
            self._mark_mac(p)
        nft(h.h, nft_ruleset(ct4, ct6, list(h.peer), self.mark_macs))
        for fam in (4, 6):
            if fam in self.rules:
                load_rules(h, fam, self.rules[fam])
                if not self.defer:
                    self.saved[fam] = parse_save(save(h, fam, False))
        with InNS(h.h):
            groups = [TRACE_GROUP, NFK_GROUP] + ([MARK_GROUP] if self.marker_index is not None else [])
            self.nfl = NFLog(groups)
        self.sender = Sender(h)
        self.setup_s = time.time() - self.t0
        # drain anything the setup produced
        while self.nfl.recv(0.02):
            pass
        self.clock0 = time.monotonic()
        self.t_prev = 0.0
        self.shift = 0.0
        self.loop_start = time.time()

    def _mark_mac(self, p):
        """The made-up source MAC that carries an arriving packet's mark (see nft_ruleset)."""
        if p.get('local') or not int(p.get('mark', 0)):
            return None
        real = _mac_str(_mac_bytes(p['src_mac'])) if p.get('src_mac') else '00:00:00:00:00:00'
        key = (int(p['mark']) & 0xffffffff, real)
        if key not in self.mark_macs:
            n = len(self.mark_macs) + 1
            self.mark_macs[key] = '02:6e:66:6b:%02x:%02x' % (n >> 8, n & 0xff)
            if hasattr(self, 'sender'):     # a session met a new mark: add its rule
                nft(self.host.h, ''.join(
                    'add rule netdev nfkd mark%d ether saddr %s meta mark set 0x%x ether saddr set %s\n'
                    % (i, self.mark_macs[key], key[0], real) for i in range(len(self.host.peer) + 1)))
        return self.mark_macs[key]

    def collect(self):
        h = self.host
        for fam in (4, 6):
            if fam in self.rules:
                self.counters[fam] = strip_comments(save(h, fam, True))
        self.conntrack = {}
        if any(self.sc.ct.values()):
            with InNS(h.h):
                try:
                    with open('/proc/thread-self/net/nf_conntrack') as f:
                        lines = [' '.join(l.split()) for l in f]
                except OSError:
                    lines = []
            for fam, name in ((4, 'ipv4'), (6, 'ipv6')):
                self.conntrack[fam] = [l.split(' ', 2)[2] for l in lines if l.startswith(name + ' ')]

    def close(self):
        if getattr(self, 'sender', None):
            self.sender.close()
            self.sender = None
        if getattr(self, 'nfl', None):
            self.nfl.close()
            self.nfl = None
        self.host.destroy()
        self.total_s = time.time() - getattr(self, 't0', time.time())

    def step(self, n, p):
        """Replay packet number `n`; returns (result line, trace line)."""
        h, snd, nfl = self.host, self.sender, self.nfl
        tp = float(p.get('t', self.t_prev))
        if tp - self.t_prev > self.sc.max_gap:
            self.shift += (tp - self.t_prev) - self.sc.max_gap
            self.warnings.append('packet %d: gap of %.3fs shortened to %.3fs' %
                                 (n, tp - self.t_prev, self.sc.max_gap))
        self.t_prev = tp
        due = self.clock0 + tp - self.shift
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        try:
            b = bytes.fromhex(p['hex'])
        except (KeyError, ValueError, TypeError):
            raise SimError('packets.jsonl:%d: bad or missing "hex"' % n)
        mark = int(p.get('mark', 0)) & 0xffffffff
        local = bool(p.get('local'))
        t1 = time.monotonic()
        if 't' in p:
            # how far the kernel's clock is from the scenario's: limit/recent see real time
            drift = (t1 - self.clock0 + self.shift) - tp
            self.max_drift = max(getattr(self, 'max_drift', 0.0), drift)
        err = None
        if local:
            err = snd.local(b, int(p.get('uid', 0)), int(p.get('gid', 0)),
                            p.get('groups', []), mark)
        else:
            iface = p.get('iface')
            if iface != 'lo' and iface not in h.peer:
                raise SimError('packets.jsonl:%d: unknown interface %r' % (n, iface))
            src_mac = _mac_bytes(p['src_mac']) if p.get('src_mac') else b'\0' * 6
            if mark:
                src_mac = _mac_bytes(self._mark_mac(p))
            dst_mac = _mac_bytes(p['dst_mac']) if p.get('dst_mac') else \
                (b'\0' * 6 if iface == 'lo' else default_dst_mac(h, iface, b))
            try:
                snd.arrive(iface, b, src_mac, dst_mac)
            except OSError as e:
                # ENOBUFS: the host end dropped the frame (bigger than its MTU): before-hooks
                err = errno.errorcode.get(e.errno, str(e.errno))
                if e.errno != errno.ENOBUFS:
                    self.warnings.append('packet %d: cannot be sent on %s: %s' % (n, iface, e))
        snd.sentinel()
        evs = []
        deadline = time.monotonic() + 3.0
        while True:
            got = nfl.recv(0.5)
            evs += got
            if any(e.get('prefix') == 'NFKS' for e in got):
                break
            if time.monotonic() > deadline:
                self.warnings.append('packet %d: no sentinel within 3s' % n)
                break
        if nfl.overrun:
            self.warnings.append('packet %d: nflog socket overrun' % n)
            nfl.overrun = False
        evs = [e for e in evs if e.get('prefix') != 'NFKS']
        ms = round((time.monotonic() - t1) * 1000, 3)
        if self.defer:
            self.pending.append((n, p, b, local, err, evs, ms))
            return None, None
        return self._finish_step(n, p, b, local, err, evs, ms)

    def _finish_step(self, n, p, b, local, err, evs, ms):
        res, tr = self._analyse(n, p, b, local, err, evs)
        tr['ms'] = ms
        self.results.append(res)
        self.traces.append(tr)
        return res, tr

    # -- analysis ---------------------------------------------------------

    def _ifname(self, idx):
        return self.host.ifindex.get(idx, '#%s' % idx)

    def _resolve(self, fam, table, chain, kind, num):
        """A TRACE line -> (at, target, verdict) with the rule it names."""
        t = self.saved.get(fam, {}).get(table)
        rules = t['rules'].get(chain, []) if t else []
        if kind == 'rule' or num <= len(rules):
            r = rules[num - 1] if 0 < num <= len(rules) else None
            return '%s/%s/%d' % (table, chain, num), (r or {}).get('target'), r
        if kind == 'policy':
            pol = t['policy'].get(chain, 'ACCEPT') if t else 'ACCEPT'
            return '%s/%s/policy' % (table, chain), pol, None
        return '%s/%s/return' % (table, chain), 'RETURN', None

    def _analyse(self, n, p, b, local, err, evs):
        fam = 6 if b and (b[0] >> 4) == 6 else 4
        skbs = []

        def new_skb(origin, parent):
            s = {'id': len(skbs), 'origin': origin, 'parent': parent, 'path': [],
                 'final': None, 'sil': [], 'fwd': False, 'pre': False, 'nflog': [], 'seen': [],
                 'markers': [], 'outs': []}
            skbs.append(s)
            return s

        skb0 = None
        cur = None
        lo_pending = []
        noise = []
        silenced_idle = []
        for e in evs:
            pre = e.get('prefix', '')
            grp = e.get('group')
            pl = e.get('payload', b'')
            if grp == NFK_GROUP and pre == 'NFK pre':
                ind = self._ifname(e.get('indev'))
                if ind == 'lo':
                    m = next((x for x in lo_pending if x[0] == pl), None)
                    if m:
                        lo_pending.remove(m)
                        cur = m[1]
                    elif skb0 is None and not local:
                        cur = skb0 = new_skb('arrive', None)
                    else:
                        cur = new_skb('lo?', None)
                        noise.append('unexpected packet on lo: ' + pl.hex())
                elif skb0 is None and not local:
                    cur = skb0 = new_skb('arrive', None)
                else:
                    cur = new_skb('noise', None)
                    noise.append('unexpected packet on %s: %s' % (ind, pl.hex()))
                cur['pre'] = True
                cur['seen'].append('PREROUTING')
            elif grp == NFK_GROUP and pre in ('NFK lout', 'NFK kout'):
                if skb0 is None and local and pre == 'NFK lout':
                    cur = skb0 = new_skb('local', None)
                else:
                    cur = new_skb('emitted' if skb0 is not None else 'noise', cur)
                    if skb0 is None:
                        noise.append('kernel-made packet before ours: ' + pl.hex())
                cur['start_payload'] = pl
                cur['seen'].append('OUTPUT')
            elif grp == NFK_GROUP and pre == 'NFK sil':
                if cur:
                    cur['sil'].append(pl.hex())
                else:
                    silenced_idle.append(pl.hex())
            elif cur is None:
                noise.append('event without packet: %s %s' % (pre, pl.hex()))
            elif grp == TRACE_GROUP and pre.startswith('TRACE: '):
                m = re.match(r'TRACE: ([^:]+):(.+):(rule|return|policy):(\d+)', pre)
                if not m:
                    self.warnings.append('packet %d: odd TRACE prefix %r' % (n, pre))
                    continue
                efam = 6 if e.get('family') == socket.AF_INET6 else 4
                at, target, rule = self._resolve(efam, m.group(1), m.group(2), m.group(3),
                                                 int(m.group(4)))
                st = {'skb': cur['id'], 'hook': HOOKS[e['hook']] if e.get('hook', 9) < 5 else e.get('hook'),
                      'at': at}
                if target:
                    st['target'] = target
                if e.get('indev'):
                    st['in'] = self._ifname(e['indev'])
                if e.get('outdev'):
                    st['out'] = self._ifname(e['outdev'])
                if e.get('mark'):
                    st['mark'] = '0x%x' % e['mark']
                if 'uid' in e:
                    st['uid'] = e['uid']
                st['_fam'] = efam
                cur['path'].append(st)
                if st['hook'] == 'PREROUTING':
                    # the packet as the last PREROUTING rule saw it: after the
                    # TTL, TOS, MARK... targets of the rules before it
                    cur['pre_pkt'] = (pl, e.get('mark', 0))
                if isinstance(st['hook'], str) and (not cur['seen'] or cur['seen'][-1] != st['hook']):
                    cur['seen'].append(st['hook'])
            elif grp == NFK_GROUP and pre == 'NFK fwd':
                cur['fwd'] = True
                cur['seen'].append('FORWARD')
            elif grp == NFK_GROUP and pre in ('NFK inp', 'NFK postp'):
                hook = 'INPUT' if pre == 'NFK inp' else 'POSTROUTING'
                if not cur['seen'] or cur['seen'][-1] != hook:
                    cur['seen'].append(hook)
            elif grp == NFK_GROUP and pre.startswith('NFK in '):
                cur['final'] = {'to': 'local', 'hex': pl, 'ct': pre[7:], 'mark': e.get('mark', 0)}
            elif grp == NFK_GROUP and pre.startswith('NFK out '):
                oif = self._ifname(e.get('outdev'))
                cur['outs'].append({'oif': oif, 'hex': pl})
                if oif == 'lo':
                    lo_pending.append((pl, cur))
                    cur['final'] = None
                else:
                    cur['final'] = {'to': 'out', 'oif': oif, 'hex': pl, 'ct': pre[8:],
                                    'mark': e.get('mark', 0)}
                if cur['origin'] == 'emitted':
                    cur = cur['parent']
            elif grp == MARK_GROUP and pre.startswith('NFKM '):
                cur['markers'].append(int(pre[5:]))
            else:
                cur['nflog'].append({'group': grp, 'prefix': pre, 'hex': pl.hex()})

        res = {'n': n}
        tr = {'n': n, 'line': n}
        info0 = pkt_info(b)
        # a local IPv4 packet sent with ID 0 and without DF gets an ID the kernel picks
        kernel_id = bool(local and fam == 4 and info0.get('id0') and not info0['frag'] and
                         len(b) > 7 and not b[6] & 0x40)
        warnings = []
        unstable = {}
        if skb0 is None:
            skb0 = new_skb('missing', None)
        fin = skb0['final']
        if fin:
            res['verdict'] = 'accept'
            res['to'] = fin['to']
            if fin['to'] == 'out':
                res['oif'] = fin['oif']
            res['hex'] = fin['hex'].hex()
            if fin['ct'] != '-':
                res['ct'] = fin['ct']
            tr['final_mark'] = '0x%x' % fin['mark']
            if kernel_id:
                unstable['hex'] = ip4_unstable_desc()
        else:
            res['verdict'] = 'drop'
            where, note = self._where(skb0, p, b, local, err, fam)
            res['where'] = where
            if note:
                tr['where_inferred'] = note
        emitted = []
        for s in skbs:
            if s['origin'] != 'emitted':
                continue
            for o in s['outs']:
                hb = complete_checksum(o['hex'])
                emitted.append({'oif': o['oif'], 'hex': hb.hex()})
                if hb and hb[0] >> 4 == 4 and len(hb) >= 20 and hb[9] == 1:
                    desc = ip4_unstable_desc()
                    ihl = (hb[0] & 15) * 4
                    if kernel_id and len(hb) >= ihl + 28:
                        q = ihl + 8
                        desc += ('; so are the quoted packet\'s id and header checksum and the ICMP '
                                 'checksum (bytes %d-%d, %d-%d, %d-%d)' % (ihl + 2, ihl + 3, q + 4, q + 5,
                                                                        q + 10, q + 11))
                    unstable['emitted[%d]' % (len(emitted) - 1)] = desc
            if not any(st['target'] == 'REJECT' for x in skbs for st in x['path']
                       if st.get('target')):
                warnings.append('a kernel-made packet that no REJECT explains: %s'
                                % s.get('start_payload', b'').hex())
        if emitted:
            res['emitted'] = emitted
        path = []
        for s in skbs:
            for st in s['path']:
                st.pop('_fam', None)
                path.append(st)
        tr['path'] = path
        if len(skbs) > 1:
            tr['skbs'] = len(skbs) - 1
        if unstable:
            tr['unstable'] = unstable
        if err:
            tr['sendto_errno'] = err
        sil = [x for s in skbs for x in s['sil']] + silenced_idle
        if sil:
            tr['silenced'] = sil
        nflog = [x for s in skbs for x in s['nflog']]
        if nflog:
            tr['nflog'] = nflog
        if noise:
            tr['noise'] = noise
            warnings += noise
        if skb0['markers']:
            tr['markers'] = skb0['markers']
        tr['warnings'] = warnings
        if warnings:
            self.warnings += ['packet %d: %s' % (n, w) for w in warnings]
        tr['_skb0'] = skb0
        if DEBUG_EVENTS:
            tr['events'] = [{k: (v.hex() if isinstance(v, bytes) else v) for k, v in e.items()}
                            for e in evs]
        return res, tr

    def _where(self, s, p, b, local, err, fam):
        """Where skb 0 was dropped: (where, note).  `where` is '?' when the packet
        vanished inside a table (a hot drop) and the second pass must say where;
        then note['fallback'] is the answer to give if it cannot."""
        path = s['path']
        if path:
            last = path[-1]
            if last.get('target') in DROP_TARGETS:
                return last['at'], None
        info = pkt_info(b)
        if local:
            if err in ('ENETUNREACH', 'EHOSTUNREACH', 'ENETDOWN', 'EHOSTDOWN', 'EADDRNOTAVAIL',
                       'EACCES'):
                return 'route', None
            if err == 'EINVAL':
                return 'invalid', None
            if err == 'EMSGSIZE':
                return 'mtu', None
        elif not s['pre']:
            return 'before-hooks', None
        if self._icmp_in(s['sil'], fam, ttl=True):
            return 'ttl', None
        if self._icmp_in(s['sil'], fam, ttl=False):
            return 'mtu', None
        seen = s['seen']
        hook = seen[-1] if seen else None
        after = None
        if hook == 'PREROUTING':
            # routing and ip_forward see the packet PREROUTING's rules made
            pb, pmark = s.get('pre_pkt') or (b, int(p.get('mark', 0)))
            after = self._after_prerouting(p, pb, pkt_info(pb), fam, pmark)
            if info['frag'] and self.sc.defrag.get(fam) and \
                    not any(st['hook'] == 'PREROUTING' for st in path):
                return 'defrag', None       # taken by conntrack's defrag before raw
        elif hook == 'OUTPUT':
            after = 'output' if err else 'route'
        else:
            after = '?'
        if hook is None:
            return after, None
        # each table at that hook must have let the packet go on (policy or ACCEPT-like)
        tables = self._tables_at(fam, hook)
        ev = [st for st in path if st['hook'] == hook]
        for t in tables:
            mine = [st for st in ev if st['at'].startswith(t + '/')]
            if not mine and t == 'nat':
                continue        # nat chains only see a connection's first packet
            if any(st['at'].endswith('/policy') or st.get('target') in TERMINAL for st in mine):
                continue
            return '?', {'note': 'vanished in %s at %s' % (t, hook),
                         'fallback': after if after != '?' else 'unknown'}
        if after == '?':
            return '?', {'note': 'vanished after %s' % hook, 'fallback': 'unknown'}
        return after, None

    def _after_prerouting(self, p, b, info, fam, mark=0):
        """Why a packet that went through PREROUTING never reached INPUT or FORWARD
        (`b`, `info`, `mark`: the packet as PREROUTING left it)."""
        fwd = self.sc.hostj.get('forwarding6' if fam == 6 else 'forwarding',
                                self.sc.hostj.get('forwarding', False))
        own_mac = not p.get('dst_mac') or _mac_bytes(p['dst_mac']) == self.host.mac.get(p.get('iface'))
        if not info['frag']:
            # The time-exceeded error may not be seen (no route back to the
            # sender); ip_forward / ip6_forward still dropped it for its TTL.
            # (icmp_send / icmp6_send also stay silent about an ICMP error).
            if fwd and own_mac and self._forward_route(p, info, fam, b, mark):
                # The error may not be seen (no route back to the sender);
                # ip_forward / ip6_forward still dropped the packet for it.
                if info.get('ttl', 64) <= 1:
                    return 'ttl'
                mtu = self._forward_mtu
                df = fam == 6 or (len(b) > 7 and b[6] & 0x40)
                if mtu and df and ip_len(b) > mtu:
                    return 'mtu'
            return 'route'
        dst = info.get('dst')
        if dst is None or self.host.is_local(dst) or self.sc.defrag.get(fam):
            return 'defrag'
        # a fragment to be forwarded (no reassembly without conntrack): the kernel
        # sends no ICMP error for a non-first fragment, so say what ip_forward does
        fwd = self.sc.hostj.get('forwarding6' if fam == 6 else 'forwarding',
                                self.sc.hostj.get('forwarding', False))
        own_mac = not p.get('dst_mac') or _mac_bytes(p['dst_mac']) == self.host.mac.get(p.get('iface'))
        # ip_forward checks the TTL only of a packet routed to be forwarded
        # (a blackhole or unreachable route drops it first)
        if fwd and own_mac and info.get('ttl', 64) <= 1 and \
                self._forward_route(p, info, fam, b, mark):
            return 'ttl'
        return 'route'

    def _forward_route(self, p, info, fam, b=b'', mark=0):
        """Whether the kernel routes this arriving packet to be forwarded (a
        unicast route out of the host), asked of the kernel itself; sets
        self._forward_mtu to the MTU ip_forward / ip6_forward compare with
        (the route's mtu metric, else the output device's)."""
        self._forward_mtu = None
        dst, src, iface = info.get('dst'), info.get('src'), p.get('iface')
        if dst is None or src is None or not iface:
            return False
        cmd = ['ip', '-j', '-6' if fam == 6 else '-4', 'route', 'get', dst, 'from', src,
               'iif', iface]
        if mark:
            cmd += ['mark', '0x%x' % mark]
        if fam == 4 and len(b) > 1 and b[1] & 0xfc:
            cmd += ['dsfield', '0x%x' % (b[1] & 0xfc)]
        r = run(cmd, ns=self.host.h, check=False)
        try:
            routes = json.loads(r.stdout or '[]')
        except ValueError:
            return False
        ok = bool(routes) and routes[0].get('type', 'unicast') == 'unicast' and \
            routes[0].get('dev') not in (None, 'lo')
        if ok:
            for m in routes[0].get('metrics') or []:
                if isinstance(m, dict) and m.get('mtu'):
                    self._forward_mtu = int(m['mtu'])
            if self._forward_mtu is None:
                # not /sys/class/net: sysfs shows the namespace it was mounted in
                lk = run(['ip', '-j', 'link', 'show', 'dev', routes[0]['dev']], ns=self.host.h,
                         check=False)
                try:
                    self._forward_mtu = int(json.loads(lk.stdout or '[]')[0]['mtu'])
                except (ValueError, IndexError, KeyError, TypeError):
                    pass
        return ok

    def _tables_at(self, fam, hook):
        order = TABLE_ORDER.get(hook, [])
        have = self.saved.get(fam, {})
        return [t for t in order if t in have and hook in have[t]['policy']]

    @staticmethod
    def _icmp_in(sil, fam, ttl):
        for h in sil:
            b = bytes.fromhex(h)
            if fam == 4 and len(b) >= 22 and b[0] >> 4 == 4 and b[9] == 1:
                off = (b[0] & 0xf) * 4
                if len(b) > off + 1:
                    ty, co = b[off], b[off + 1]
                    if ttl and ty == 11:
                        return True
                    if not ttl and ty == 3 and co == 4:
                        return True
            if fam == 6 and len(b) >= 42 and b[0] >> 4 == 6 and b[6] == 58:
                ty = b[40]
                if ttl and ty == 3:
                    return True
                if not ttl and ty == 2:
                    return True
        return False


def simulate(sdir, out=None, max_gap=30.0, second_pass=True):
    """Run scenario `sdir` through the kernel; write the expected files to `out`.

    Returns the report dict."""
    out = out or sdir
    sc = Scenario(sdir, max_gap)
    os.makedirs(out, exist_ok=True)
    for fn in ('expected.jsonl', 'expected.v4', 'expected.v6', 'trace.jsonl', 'report.json',
               'kernel_error.txt'):
        if out != sdir or fn != 'kernel_error.txt':
            try:
                os.unlink(os.path.join(out, fn))
            except FileNotFoundError:
                pass
    try:
        r1 = Run(sc)
        r1.execute()
    except KernelRefused as e:
        with open(os.path.join(out, 'kernel_error.txt'), 'w') as f:
            f.write(str(e) + '\n')
        raise
    warnings = list(r1.warnings)
    unexplained = [i for i, r in enumerate(r1.results) if r.get('where') == '?']
    second = None
    if unexplained and second_pass:
        index = []
        rules2 = {fam: marker_ruleset(strip_comments(save_text), fam, index)
                  for fam, save_text in ((f, _canon(r1, f)) for f in sc.rules)}
        r2 = Run(sc, rules_override=rules2, marker_index=index)
        r2.execute()
        second = {'packets': len(unexplained)}
        for i in unexplained:
            a, b2 = r1.results[i], r2.results[i]
            if b2.get('verdict') != 'drop':
                warnings.append('packet %d: second pass disagrees (%s)' % (i + 1, b2))
                r2.traces[i]['_skb0']['markers'] = []
            mk = r2.traces[i]['_skb0']['markers']
            traced = {st['at'] for st in r2.traces[i]['path']}
            where = None
            if mk:
                # in the second pass rule k of a chain is rule 2k (its marker is 2k-1): the
                # packet died there, in a match (hot drop) or in the target, unless the rule
                # matched and sent it out of the chain
                fam, table, chain, k = index[mk[-1]]
                hit = [st for st in r2.traces[i]['path'] if st['at'] == '%s/%s/%d' % (table, chain, 2 * k)]
                tgt = hit[-1].get('target') if hit else None
                user = tgt in r2.saved.get(fam, {}).get(table, {}).get('policy', {})
                if not hit or not (tgt in ('ACCEPT', 'RETURN') or user):
                    where = '%s/%s/%d' % (table, chain, k)
            note = r1.traces[i].get('where_inferred') or {}
            if where:
                a['where'] = where
                r1.traces[i]['where_inferred'] = {
                    'note': 'dropped by the rule after the last marker reached (second pass): a match hot-dropped it or its target did',
                    'pass1': note.get('note')}
            else:
                a['where'] = note.get('fallback', 'unknown')
                if a['where'] == 'unknown':
                    warnings.append('packet %d: could not locate the drop (%s)' %
                                    (i + 1, note.get('note')))
    for i, r in enumerate(r1.results):
        if r.get('where') == '?':
            note = r1.traces[i].get('where_inferred') or {}
            r['where'] = note.get('fallback', 'unknown')
            if r['where'] == 'unknown':
                warnings.append('packet %d: could not locate the drop (%s)' % (i + 1, note.get('note')))
    with open(os.path.join(out, 'expected.jsonl'), 'w') as f:
        for r in r1.results:
            f.write(json.dumps(r) + '\n')
    with open(os.path.join(out, 'trace.jsonl'), 'w') as f:
        for t in r1.traces:
            t = dict(t)
            t.pop('_skb0', None)
            f.write(json.dumps(t) + '\n')
    for fam, text in r1.counters.items():
        with open(os.path.join(out, 'expected.v%d' % fam), 'w') as f:
            f.write(text)
    active = {}
    for fam in (4, 6):
        active['v%d' % fam] = bool(sc.ct.get(fam, False))
        if r1.conntrack.get(fam) and not active['v%d' % fam]:
            warnings.append('conntrack has IPv%d entries though no rule needs it' % fam)
    rep = {
        'packets': len(sc.packets),
        'setup_s': round(r1.setup_s, 3),
        'loop_s': round(r1.loop_s, 3),
        'total_s': round(r1.total_s, 3),
        'ms_per_packet_mean': round(1000 * r1.loop_s / max(1, len(sc.packets)), 3),
        'max_drift_ms': round(1000 * getattr(r1, 'max_drift', 0.0), 1),
        'timing_ok': getattr(r1, 'max_drift', 0.0) <= TIMING_TOLERANCE,
        'conntrack_active': active,
        'conntrack_final': {'v%d' % k: v for k, v in r1.conntrack.items() if v},
        'second_pass': second,
        'route_changes': getattr(r1.host, 'route_changes', []),
        'warnings': warnings,
        'kernel': os.uname().release,
    }
    with open(os.path.join(out, 'report.json'), 'w') as f:
        json.dump(rep, f, indent=1)
    return rep


class Session:
    """A kernel kept open to replay packets one at a time (a generator asks what the
    kernel did with each packet before it makes the next, e.g. a reply)."""

    def __init__(self, hostj, rules):
        self.sc = Scenario.from_data(hostj, rules)
        self.run = Run(self.sc, defer=False)
        self.n = 0
        self.run.start()

    def send(self, p):
        """Replay one packet (a packets.jsonl object); returns its result line."""
        self.n += 1
        res, tr = self.run.step(self.n, p)
        return res

    def close(self):
        self.run.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def _canon(r, fam):
    """The loaded ruleset as the kernel prints it (rule numbers are the same)."""
    lines = []
    for table, t in r.saved[fam].items():
        lines.append('*' + table)
        for c in t['order']:
            lines.append(':%s %s [0:0]' % (c, t['policy'][c]))
        for c in t['order']:
            for rule in t['rules'].get(c, []):
                lines.append(rule['line'])
        lines.append('COMMIT')
    return '\n'.join(lines) + '\n'


def pin_cpu(cpu):
    cpus = sorted(os.sched_getaffinity(0))
    if cpu is None:
        cpu = cpus[os.getpid() % len(cpus)]
    os.sched_setaffinity(0, {cpu})
    return cpu


def main(argv=None):
    global VERBOSE
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('scenario')
    ap.add_argument('--out', help='where to write the expected files (default: the scenario)')
    ap.add_argument('--max-gap', type=float, default=30.0,
                    help='longest pause between packets in seconds (longer "t" gaps are shortened)')
    ap.add_argument('--cpu', type=int, help='CPU to pin to (default: chosen by pid)')
    ap.add_argument('--no-second-pass', action='store_true')
    ap.add_argument('-v', '--verbose', action='store_true')
    ap.add_argument('--events', action='store_true', help='put the raw observations in trace.jsonl')
    a = ap.parse_args(argv)
    VERBOSE = a.verbose
    global DEBUG_EVENTS
    DEBUG_EVENTS = a.events
    if os.geteuid() != 0:
        print('kernel_sim: needs root (network namespaces)', file=sys.stderr)
        return 77
    cleanup_stale()
    pin_cpu(a.cpu)
    try:
        rep = simulate(a.scenario, a.out, a.max_gap, not a.no_second_pass)
    except KernelRefused as e:
        print('kernel_sim: %s: the kernel refused the ruleset: %s' % (a.scenario, e), file=sys.stderr)
        return 3
    except SimError as e:
        print('kernel_sim: %s: %s' % (a.scenario, e), file=sys.stderr)
        return 2
    for w in rep['warnings']:
        print('kernel_sim: warning: %s' % w, file=sys.stderr)
    print('kernel_sim: %s: %d packets in %.2fs (setup %.2fs)' % (
        a.scenario, rep['packets'], rep['total_s'], rep['setup_s']), file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
