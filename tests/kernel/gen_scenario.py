#!/usr/bin/python3
"""Random `netfence simulate` scenarios from a seed.

    gen_scenario.py --seed N --out DIR [--v6|--no-v6] [--stateful] [--packets K]

Writes DIR/host.json, DIR/rules.v4 (and rules.v6 when the host has IPv6),
DIR/packets.jsonl and DIR/GEN (how to make it again).  The same seed and
options always give the same files.

A host has 2-4 interfaces (names that `-i eth+`-style wildcards can catch),
IPv4 and (with --v6, or at random) IPv6 addresses, a default route or not,
static and blackhole routes, forwarding on or off.  Packets are made first
(arriving for the host, arriving to be forwarded, sent by local processes with
uid/gid/groups, broadcasts and multicasts, martians, malformed and truncated
ones, fragments, packets that exhaust their TTL or exceed an MTU); each rule is
then built around one of them (so that most rules can be hit), sometimes with
one of its conditions turned so that it just misses.  Rules use the stateless
extensions: addresses/masks, interfaces with +, protocols, tcp/udp/icmp/icmp6
options, multiport, iprange, mark, length, ttl/hl, tos/dscp/ecn, pkttype, mac,
comment, limit, u32, string, owner, addrtype; user chains with jumps, gotos
and RETURN; policies; LOG/NFLOG/MARK/TOS/TTL/HL/DSCP/CLASSIFY/TCPMSS; REJECT
with every --reject-with.

--stateful (work in progress) adds conntrack: state/conntrack matches,
CONNMARK, NOTRACK, and nat (SNAT/DNAT/MASQUERADE/REDIRECT) with flows whose
replies are made from the packets as the generator expects them to leave.
--sctp (with --stateful) adds SCTP associations to the flows (INIT, INIT ACK,
COOKIE ECHO / ACK, DATA, SACK, SHUTDOWN..., ABORT, ICMP errors about them);
without it a seed gives the same scenario as before the option existed.
"""

import argparse
import ipaddress
import json
import os
import random
import sys

from scapy.layers.inet import IP, TCP, UDP, ICMP, IPOption_NOP, IPOption_EOL, fragment
from scapy.layers.inet6 import (IPv6, IPv6ExtHdrHopByHop, IPv6ExtHdrDestOpt,
                                ICMPv6EchoRequest, ICMPv6EchoReply, ICMPv6DestUnreach,
                                ICMPv6TimeExceeded, ICMPv6PacketTooBig, ICMPv6Unknown, PadN)
from scapy.packet import Raw

NAME_SETS = [
    ['eth0', 'eth1', 'eth2', 'eth3'],
    ['wan0', 'lan0', 'lan1', 'dmz0'],
    ['ens3', 'ens4', 'br-lan', 'wg0'],
    ['enp1s0', 'enp2s0', 'vlan10', 'vlan20'],
    ['ppp0', 'eth0', 'wlan0', 'docker0'],
    ['bond0', 'bond1', 'veth1a2b', 'tun9'],
]
WORDS = [b'GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n', b'password=hunter2',
         b'BitTorrent protocol', b'SSH-2.0-OpenSSH_9.6\r\n', b'\x00\x01\x02\x03abcdefgh',
         b'USER anonymous\r\n', b'xyzzy' * 5, b'HELLO world', b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03']
TCP_FLAGS = ['S', 'S', 'SA', 'A', 'PA', 'FA', 'R', 'RA', 'F', 'SEC', 'SF', 'FPU', '', 'SR', 'PAU']
ICMP4_TYPES = [(8, 0), (0, 0), (3, 3), (3, 1), (11, 0), (13, 0), (5, 1), (3, 4), (12, 0), (8, 0)]
ICMP6_TYPES = [(128, 0), (129, 0), (1, 4), (1, 0), (3, 0), (2, 0), (135, 0), (136, 0), (4, 1)]
ICMP4_NAMES = {(8, 0): 'echo-request', (0, 0): 'echo-reply', (3, 3): 'port-unreachable',
               (3, 1): 'host-unreachable', (11, 0): 'ttl-zero-during-transit',
               (13, 0): 'timestamp-request', (5, 1): 'host-redirect', (3, 4): 'fragmentation-needed',
               (12, 0): 'ip-header-bad'}
ICMP4_TYPE_NAMES = {8: 'echo-request', 0: 'echo-reply', 3: 'destination-unreachable',
                    11: 'time-exceeded', 13: 'timestamp-request', 5: 'redirect', 12: 'parameter-problem'}
ICMP6_NAMES = {(128, 0): 'echo-request', (129, 0): 'echo-reply', (1, 4): 'port-unreachable',
               (1, 0): 'no-route', (3, 0): 'ttl-zero-during-transit', (2, 0): 'packet-too-big',
               (135, 0): 'neighbour-solicitation', (136, 0): 'neighbour-advertisement',
               (4, 1): 'unknown-header-type'}
ICMP6_TYPE_NAMES = {128: 'echo-request', 129: 'echo-reply', 1: 'destination-unreachable',
                    3: 'time-exceeded', 2: 'packet-too-big', 135: 'neighbour-solicitation',
                    136: 'neighbour-advertisement', 4: 'parameter-problem'}
REJECT4 = ['icmp-net-unreachable', 'icmp-host-unreachable', 'icmp-port-unreachable',
           'icmp-proto-unreachable', 'icmp-net-prohibited', 'icmp-host-prohibited',
           'icmp-admin-prohibited', 'tcp-reset', 'net-unreach', 'host-unreach', 'port-unreach',
           'proto-unreach', 'net-prohib', 'host-prohib', 'admin-prohib']
REJECT6 = ['icmp6-no-route', 'no-route', 'icmp6-adm-prohibited', 'adm-prohibited',
           'icmp6-addr-unreachable', 'addr-unreach', 'icmp6-port-unreachable', 'port-unreach',
           'tcp-reset']
DSCP_CLASSES = ['CS0', 'CS1', 'CS2', 'CS3', 'CS4', 'CS5', 'CS6', 'CS7', 'BE', 'AF11', 'AF12',
                'AF13', 'AF21', 'AF22', 'AF23', 'AF31', 'AF32', 'AF33', 'AF41', 'AF42', 'AF43', 'EF']
DSCP_VALUES = {'CS0': 0, 'CS1': 8, 'CS2': 16, 'CS3': 24, 'CS4': 32, 'CS5': 40, 'CS6': 48, 'CS7': 56,
               'BE': 0, 'AF11': 10, 'AF12': 12, 'AF13': 14, 'AF21': 18, 'AF22': 20, 'AF23': 22,
               'AF31': 26, 'AF32': 28, 'AF33': 30, 'AF41': 34, 'AF42': 36, 'AF43': 38, 'EF': 46}
TOS_NAMES = {'Minimize-Delay': 0x10, 'Maximize-Throughput': 0x08, 'Maximize-Reliability': 0x04,
             'Minimize-Cost': 0x02, 'Normal-Service': 0x00}
CHAINS = {'raw': ['PREROUTING', 'OUTPUT'],
          'mangle': ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
          'filter': ['INPUT', 'FORWARD', 'OUTPUT']}
HOOK_KINDS = {'PREROUTING': ('in', 'fwd'), 'INPUT': ('in',), 'FORWARD': ('fwd',),
              'OUTPUT': ('out',), 'POSTROUTING': ('fwd', 'out')}
IN_HOOKS = ('PREROUTING', 'INPUT', 'FORWARD')
OUT_HOOKS = ('FORWARD', 'OUTPUT', 'POSTROUTING')
USERS = [(0, 0, []), (1000, 1000, [1000, 27]), (33, 33, []), (65534, 65534, []),
         (1001, 100, [100, 1000, 4]), (107, 113, [113])]


class Iface:
    def __init__(self, name, idx):
        self.name = name
        self.idx = idx
        self.mac = '02:00:00:00:%02x:01' % (idx + 1)
        self.mtu = 1500
        self.net4 = None
        self.addr4 = None
        self.bcast = False
        self.net6 = None
        self.addr6 = None
        self.ll6 = None
        self.up = True


def rnd_net4(r, used):
    while True:
        kind = r.random()
        if kind < 0.4:
            net = ipaddress.ip_network('10.%d.%d.0/24' % (r.randrange(256), r.randrange(256)))
        elif kind < 0.6:
            net = ipaddress.ip_network('192.168.%d.0/24' % r.randrange(256))
        elif kind < 0.8:
            net = ipaddress.ip_network('172.%d.%d.0/24' % (r.randrange(16, 32), r.randrange(256)))
        else:
            net = ipaddress.ip_network(r.choice(['198.51.100.0/24', '203.0.113.0/24',
                                                 '100.64.%d.0/24' % r.randrange(256)]))
        plen = r.choice([16, 20, 22, 24, 24, 24, 25, 26, 28, 29, 30])
        net = ipaddress.ip_network('%s/%d' % (net.network_address, plen), strict=False)
        if any(net.overlaps(u) for u in used):
            continue
        used.append(net)
        return net


class Host:
    """The generated host and a routing model good enough to aim packets."""

    def __init__(self, r, v6, nifaces=None):
        self.r = r
        self.v6 = v6
        names = r.choice(NAME_SETS)[:]
        n = nifaces or r.randint(2, 4)
        if r.random() < 0.3:
            r.shuffle(names)
        self.ifaces = [Iface(names[i], i) for i in range(n)]
        self.forwarding = r.random() < 0.85
        used = [ipaddress.ip_network('10.99.0.0/16'), ipaddress.ip_network('10.200.0.0/16'),
                ipaddress.ip_network('127.0.0.0/8')]
        for i, f in enumerate(self.ifaces):
            f.net4 = rnd_net4(r, used)
            hosts = f.net4.num_addresses
            f.addr4 = f.net4.network_address + r.choice([1, 1, 2, hosts - 2]) if hosts > 4 else \
                f.net4.network_address + 1
            if v6 and (i == 0 or r.random() < 0.85):
                f.net6 = ipaddress.ip_network('2001:db8:%x:%x::/64' % (r.randrange(1, 0xffff), i))
                f.addr6 = f.net6.network_address + r.choice([1, 1, 0x50, 0xfe])
                f.ll6 = ipaddress.ip_address('fe80::ff:fe00:%x01' % (i + 1))
        if r.random() < 0.15:
            r.choice(self.ifaces).mtu = r.choice([1280, 1400, 1492])
        self.uplink = self.ifaces[0]
        up = self.uplink
        self.gw4 = None
        if r.random() < 0.8:
            self.gw4 = self._neighbor4(up, 0)
        self.gw6 = None
        if v6 and up.net6 and r.random() < 0.8:
            self.gw6 = up.net6.network_address + 0xffff
        self.static4 = None
        if len(self.ifaces) > 1 and r.random() < 0.5:
            f = r.choice(self.ifaces[1:])
            self.static4 = (ipaddress.ip_network('10.200.%d.0/24' % r.randrange(256)), f,
                            self._neighbor4(f, 1))
        self.blackhole4 = ipaddress.ip_network('10.99.%d.0/24' % r.randrange(256)) \
            if r.random() < 0.3 else None
        self.static6 = None
        if v6 and len(self.ifaces) > 1 and r.random() < 0.4:
            f = r.choice([x for x in self.ifaces[1:] if x.net6] or [None])
            if f:
                self.static6 = (ipaddress.ip_network('2001:db8:ffee:%x::/64' % r.randrange(0xffff)),
                                f, f.net6.network_address + 0xfff0)

    def _neighbor4(self, f, k):
        net = f.net4
        cand = [a for a in (net.network_address + 1 + i for i in range(min(net.num_addresses - 2, 12)))
                if a != f.addr4]
        return cand[k % len(cand)] if cand else f.addr4

    def neighbor(self, f, fam):
        r = self.r
        if fam == 4:
            n = f.net4.num_addresses
            for _ in range(20):
                a = f.net4.network_address + r.randrange(1, max(2, n - 1))
                if a != f.addr4:
                    return a
            return f.net4.network_address + 1
        a = f.net6.network_address + r.choice([2, 3, 0x10, 0x20, 0x1234, 0xabcd])
        return a if a != f.addr6 else f.net6.network_address + 7

    def remote(self, fam):
        """A destination beyond the default route."""
        r = self.r
        if fam == 4:
            return ipaddress.ip_address(r.choice(['8.8.8.8', '1.1.1.1', '93.184.216.34',
                                                  '198.18.%d.%d' % (r.randrange(256), r.randrange(1, 255)),
                                                  '151.101.%d.%d' % (r.randrange(256), r.randrange(1, 255))]))
        return ipaddress.ip_address(r.choice(['2001:4860:4860::8888', '2606:4700::1111',
                                              '2001:db8:ffff::%x' % r.randrange(1, 0xffff)]))

    def route(self, dst):
        """(kind, iface): 'local' / 'out' via iface / 'blackhole' / None (no route)."""
        dst = ipaddress.ip_address(dst)
        if dst.version == 4:
            if dst.is_loopback:
                return 'local', None
            for f in self.ifaces:
                if dst == f.addr4 or (f.bcast or f.net4.prefixlen < 31) and \
                        dst == f.net4.broadcast_address:
                    return 'local', f
            if dst.is_multicast or dst == ipaddress.ip_address('255.255.255.255'):
                return 'local', None
            if self.blackhole4 and dst in self.blackhole4:
                return 'blackhole', None
            if self.static4 and dst in self.static4[0]:
                return 'out', self.static4[1]
            for f in self.ifaces:
                if dst in f.net4:
                    return 'out', f
            return ('out', self.uplink) if self.gw4 else (None, None)
        if dst.is_loopback or dst.is_multicast:
            return 'local', None
        for f in self.ifaces:
            if f.net6 and (dst == f.addr6 or dst == f.ll6 or
                           (self.forwarding and dst == f.net6.network_address)):
                return 'local', f
        if self.static6 and dst in self.static6[0]:
            return 'out', self.static6[1]
        for f in self.ifaces:
            if f.net6 and dst in f.net6:
                return 'out', f
        return ('out', self.uplink) if self.gw6 else (None, None)

    def local_addrs(self, fam):
        if fam == 4:
            return [f.addr4 for f in self.ifaces]
        return [f.addr6 for f in self.ifaces if f.addr6]

    def to_json(self):
        links = []
        lo = {'ifindex': 1, 'ifname': 'lo', 'flags': ['LOOPBACK', 'UP', 'LOWER_UP'], 'mtu': 65536,
              'qdisc': 'noqueue', 'operstate': 'UNKNOWN', 'group': 'default', 'txqlen': 1000,
              'link_type': 'loopback', 'address': '00:00:00:00:00:00',
              'broadcast': '00:00:00:00:00:00',
              'addr_info': [_ai('inet', '127.0.0.1', 8, 'host', 'lo')]}
        if self.v6:
            lo['addr_info'].append(_ai('inet6', '::1', 128, 'host'))
        links.append(lo)
        routes, routes6 = [], []
        lrt = [{'type': 'local', 'dst': '127.0.0.0/8', 'dev': 'lo', 'table': 'local',
                'protocol': 'kernel', 'scope': 'host', 'prefsrc': '127.0.0.1', 'flags': []},
               {'type': 'local', 'dst': '127.0.0.1', 'dev': 'lo', 'table': 'local',
                'protocol': 'kernel', 'scope': 'host', 'prefsrc': '127.0.0.1', 'flags': []},
               {'type': 'broadcast', 'dst': '127.255.255.255', 'dev': 'lo', 'table': 'local',
                'protocol': 'kernel', 'scope': 'link', 'prefsrc': '127.0.0.1', 'flags': []}]
        l6 = []
        if self.v6:
            l6.append({'type': 'local', 'dst': '::1', 'dev': 'lo', 'table': 'local',
                       'protocol': 'kernel', 'metric': 0, 'flags': [], 'pref': 'medium'})
        for f in self.ifaces:
            ai = []
            a = _ai('inet', str(f.addr4), f.net4.prefixlen, 'global', f.name)
            if f.bcast:
                a['broadcast'] = str(f.net4.broadcast_address)
                a = {k: a[k] for k in ('family', 'local', 'prefixlen', 'broadcast', 'scope', 'label',
                                       'valid_life_time', 'preferred_life_time')}
            ai.append(a)
            if f.addr6:
                ai.append(_ai('inet6', str(f.addr6), 64, 'global'))
                ai.append(_ai('inet6', str(f.ll6), 64, 'link'))
            links.append({'ifindex': f.idx + 2, 'ifname': f.name,
                          'flags': ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], 'mtu': f.mtu,
                          'qdisc': 'noqueue', 'operstate': 'UP', 'group': 'default', 'txqlen': 1000,
                          'link_type': 'ether', 'address': f.mac, 'broadcast': 'ff:ff:ff:ff:ff:ff',
                          'addr_info': ai})
            src = str(f.addr4)
            if f.net4.prefixlen < 32:
                routes.append({'dst': str(f.net4), 'dev': f.name, 'protocol': 'kernel',
                               'scope': 'link', 'prefsrc': src, 'flags': []})
            lrt.append({'type': 'local', 'dst': src, 'dev': f.name, 'table': 'local',
                        'protocol': 'kernel', 'scope': 'host', 'prefsrc': src, 'flags': []})
            if f.net4.prefixlen < 31:
                lrt.append({'type': 'broadcast', 'dst': str(f.net4.broadcast_address), 'dev': f.name,
                            'table': 'local', 'protocol': 'kernel', 'scope': 'link',
                            'prefsrc': src, 'flags': []})
            if f.addr6:
                routes6.append({'dst': str(f.net6), 'dev': f.name, 'protocol': 'kernel',
                                'metric': 256, 'flags': [], 'pref': 'medium'})
                routes6.append({'dst': 'fe80::/64', 'dev': f.name, 'protocol': 'kernel',
                                'metric': 256, 'flags': [], 'pref': 'medium'})
                l6.append({'type': 'local', 'dst': str(f.addr6), 'dev': f.name, 'table': 'local',
                           'protocol': 'kernel', 'metric': 0, 'flags': [], 'pref': 'medium'})
                l6.append({'type': 'local', 'dst': str(f.ll6), 'dev': f.name, 'table': 'local',
                           'protocol': 'kernel', 'metric': 0, 'flags': [], 'pref': 'medium'})
                if self.forwarding:
                    l6.append({'type': 'anycast', 'dst': str(f.net6.network_address), 'dev': f.name,
                               'table': 'local', 'protocol': 'kernel', 'metric': 0, 'flags': [],
                               'pref': 'medium'})
                    l6.append({'type': 'anycast', 'dst': 'fe80::', 'dev': f.name, 'table': 'local',
                               'protocol': 'kernel', 'metric': 0, 'flags': [], 'pref': 'medium'})
                l6.append({'type': 'multicast', 'dst': 'ff00::/8', 'dev': f.name, 'table': 'local',
                           'protocol': 'kernel', 'metric': 256, 'flags': [], 'pref': 'medium'})
        if self.gw4:
            routes.insert(0, {'dst': 'default', 'gateway': str(self.gw4), 'dev': self.uplink.name,
                              'flags': []})
        if self.static4:
            net, f, gw = self.static4
            routes.append({'dst': str(net), 'gateway': str(gw), 'dev': f.name, 'flags': []})
        if self.blackhole4:
            routes.append({'type': 'blackhole', 'dst': str(self.blackhole4), 'flags': []})
        if self.gw6:
            routes6.append({'dst': 'default', 'gateway': str(self.gw6), 'dev': self.uplink.name,
                            'metric': 1024, 'flags': [], 'pref': 'medium'})
        if self.static6:
            net, f, gw = self.static6
            routes6.append({'dst': str(net), 'gateway': str(gw), 'dev': f.name, 'metric': 1024,
                            'flags': [], 'pref': 'medium'})
        return {'addrs': links, 'routes': routes + lrt, 'routes6': routes6 + l6,
                'forwarding': self.forwarding}


def _ai(fam, local, plen, scope, label=None):
    a = {'family': fam, 'local': local, 'prefixlen': plen, 'scope': scope}
    if label:
        a['label'] = label
    a['valid_life_time'] = 4294967295
    a['preferred_life_time'] = 4294967295
    return a


# ---------------------------------------------------------------------------
# packet specs


class Spec(dict):
    """A packet to send, with what the generator knows about it."""


class Gen:
    def __init__(self, seed, v6=None, stateful=False, npackets=None, exclude=(), sctp=False):
        self.seed = seed
        self.sctp = sctp
        self.exclude = set(exclude or ())
        self.r = r = random.Random(seed)
        self.v6 = (r.random() < 0.35) if v6 is None else v6
        self.stateful = stateful
        self.h = Host(r, self.v6)
        self.npackets = npackets or r.randint(25, 70)
        self.specs = []
        self.ipid = r.randrange(1, 0xff00)
        self.comment_n = 0
        # timed scenarios: packets carry "t" and limit rules refill during the gaps;
        # gaps are (k + 1/2) token intervals, far from any edge
        self.timed = r.random() < 0.12
        self.rate = r.choice([2, 4])

    def excluded(self, text):
        """Whether a rule fragment uses an extension left out with --exclude."""
        if not self.exclude or not text:
            return False
        toks = text.split()
        for i, t in enumerate(toks[:-1]):
            if t in ('-m', '--match', '-j', '--jump', '-p') and toks[i + 1] in self.exclude:
                return True
        return False

    # -- packets -----------------------------------------------------------

    def _fams(self):
        return [4, 6] if self.v6 else [4]

    def _pick_fam(self):
        r = self.r
        return 6 if self.v6 and r.random() < 0.45 else 4

    def _ifaces(self, fam):
        return [f for f in self.h.ifaces if fam == 4 or f.addr6]

    def new_spec(self, kind=None, fam=None):
        r, h = self.r, self.h
        fam = fam or self._pick_fam()
        kind = kind or _weighted(r, [('in', 3), ('fwd', 3), ('out', 3), ('odd', 0.6)])
        ifs = self._ifaces(fam)
        s = Spec(fam=fam, kind=kind)
        s['proto'] = r.choice(['tcp'] * 5 + ['udp'] * 3 + ['icmp'] * 2 +
                              ['esp', 'gre', 'sctp', 'ah', 'p253'])
        if kind == 'in':
            f = r.choice(ifs)
            s['iface'] = f.name
            s['src'] = self._src_for(f, fam)
            if fam == 4:
                dsts = [(f.addr4, 5)] + [(g.addr4, 1) for g in ifs if g is not f]
                if f.net4.prefixlen < 31:
                    dsts.append((f.net4.broadcast_address, 1))
                dsts += [(ipaddress.ip_address('255.255.255.255'), 1),
                         (ipaddress.ip_address('224.0.0.1'), 1)]
            else:
                dsts = [(f.addr6, 5), (f.ll6, 1), (ipaddress.ip_address('ff02::1'), 1)] + \
                    [(g.addr6, 1) for g in ifs if g is not f]
                if h.forwarding:
                    dsts.append((f.net6.network_address, 1))
            s['dst'] = _weighted(r, dsts)
            if s['dst'].is_multicast or str(s['dst']).endswith('.255') or \
                    s['dst'] == ipaddress.ip_address('255.255.255.255'):
                if s['proto'] == 'tcp':
                    s['proto'] = 'udp'
            s['oif'] = 'lo'
        elif kind == 'fwd':
            f = r.choice(ifs)
            s['iface'] = f.name
            s['src'] = self._src_for(f, fam)
            others = [g for g in ifs if g is not f]
            choices = []
            for g in others:
                choices.append((h.neighbor(g, fam), 3))
            if (fam == 4 and h.gw4) or (fam == 6 and h.gw6):
                choices.append((h.remote(fam), 3))
            if fam == 4 and h.static4 and h.static4[1] is not f:
                choices.append((h.static4[0].network_address + r.randrange(1, 250), 2))
            if fam == 6 and h.static6 and h.static6[1] is not f:
                choices.append((h.static6[0].network_address + r.randrange(1, 250), 2))
            if fam == 4 and h.blackhole4:
                choices.append((h.blackhole4.network_address + 9, 1))
            choices.append((h.neighbor(f, fam), 1))   # back out of the same interface
            s['dst'] = _weighted(r, choices)
            kd, g = h.route(s['dst'])
            if kd is None and h.forwarding:
                s['dst'] = h.neighbor(f, fam)
                kd, g = h.route(s['dst'])
            s['oif'] = g.name if g else None
            if r.random() < 0.06:
                s['ttl'] = r.choice([0, 1])
            if g is not None and g.mtu < f.mtu and r.random() < 0.5:
                s['big'] = f.mtu
        elif kind == 'out':
            f = r.choice(ifs)
            s['local'] = True
            uid, gid, groups = r.choice(USERS)
            s['uid'], s['gid'] = uid, gid
            if groups or r.random() < 0.3:
                s['groups'] = groups
            c = r.random()
            if c < 0.55:
                s['dst'] = h.neighbor(f, fam)
            elif c < 0.75 and ((fam == 4 and h.gw4) or (fam == 6 and h.gw6)):
                s['dst'] = h.remote(fam)
            elif c < 0.85:
                s['dst'] = r.choice(h.local_addrs(fam))
            elif c < 0.92:
                s['dst'] = ipaddress.ip_address('127.0.0.1' if fam == 4 else '::1')
            else:
                s['dst'] = h.neighbor(f, fam)
            kd, g = h.route(s['dst'])
            if kd is None:
                s['dst'] = h.neighbor(f, fam)
                kd, g = h.route(s['dst'])
            s['oif'] = g.name if (kd == 'out' and g) else 'lo'
            if s['dst'].is_loopback:
                s['src'] = s['dst']
            elif kd == 'local':
                s['src'] = s['dst'] if r.random() < 0.5 else r.choice(h.local_addrs(fam))
            else:
                s['src'] = (g.addr4 if fam == 4 else g.addr6) if g else f.addr4
                if fam == 4 and r.random() < 0.15:
                    s['src'] = ipaddress.ip_address('0.0.0.0')
        else:   # odd: martians and spoofs arriving
            f = r.choice(ifs)
            s['kind'] = 'in'
            s['iface'] = f.name
            s['odd'] = True
            if fam == 4:
                c = r.randrange(5)
                if c == 0:
                    s['src'], s['dst'] = r.choice(h.local_addrs(4)), f.addr4
                elif c == 1:
                    s['src'], s['dst'] = ipaddress.ip_address('127.0.0.1'), f.addr4
                elif c == 2:
                    s['src'], s['dst'] = h.neighbor(f, 4), ipaddress.ip_address('127.0.0.1')
                elif c == 3:
                    s['src'], s['dst'] = ipaddress.ip_address('0.0.0.0'), \
                        ipaddress.ip_address('255.255.255.255')
                    s['proto'] = 'udp'
                else:
                    s['src'], s['dst'] = ipaddress.ip_address('224.0.0.5'), f.addr4
            else:
                c = r.randrange(3)
                if c == 0:
                    s['src'], s['dst'] = f.addr6, f.addr6
                elif c == 1:
                    s['src'], s['dst'] = ipaddress.ip_address('::1'), f.addr6
                else:
                    s['src'], s['dst'] = ipaddress.ip_address('ff02::1'), f.addr6
            s['oif'] = 'lo'
        self._l4(s)
        if s['kind'] != 'out' or True:
            if r.random() < 0.08:
                s['mark'] = r.choice([1, 2, 0x10, 0xff, 0x1234, 0xdead0000])
        if not s.get('local'):
            if r.random() < 0.3:
                s['src_mac'] = r.choice(['00:00:00:00:00:01', '02:00:00:00:%02x:02' % r.randrange(1, 5),
                                         '52:54:00:%02x:%02x:%02x' % (r.randrange(256), r.randrange(256),
                                                                      r.randrange(256))])
            if r.random() < 0.05:
                s['dst_mac'] = r.choice(['ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:01', '02:99:99:99:99:99'])
        s['tos'] = r.choice([0] * 6 + [0x10, 0x08, 0x04, 0x02, 0xb8, 0x28, 0x01, 0x03, 0x2a])
        if 'ttl' not in s:
            s['ttl'] = r.choice([64, 64, 64, 128, 255, 3, 2, 32])
        self.ipid = (self.ipid + r.randrange(1, 40)) & 0xffff or 1
        s['id'] = 0 if s.get('local') and fam == 4 and r.random() < 0.1 else self.ipid
        if r.random() < 0.1 and not s.get('big'):
            s['malform'] = r.choice(['trunc_l4', 'trunc_l4', 'doff', 'badcsum', 'totlen_long',
                                     'totlen_short', 'ihl', 'tcpopt', 'trailing'])
            if s.get('local') and s['malform'] in ('badcsum', 'totlen_long', 'totlen_short',
                                                   'ihl', 'trailing'):
                s['malform'] = 'trunc_l4'
        elif r.random() < 0.06 and not s.get('big') and not s.get('odd'):
            s['frag'] = True
        if fam == 4 and r.random() < 0.05 and not s.get('malform'):
            s['ipopts'] = True
        if fam == 6 and r.random() < 0.12:
            s['ext'] = r.choice(['hbh', 'dst', 'hbh+dst'])
        self.specs.append(s)
        return s

    def _src_for(self, f, fam):
        r, h = self.r, self.h
        c = r.random()
        if c < 0.7:
            return h.neighbor(f, fam)
        if f is h.uplink and c < 0.9:
            return h.remote(fam)
        if fam == 4:
            return ipaddress.ip_address(r.choice(['192.0.2.%d' % r.randrange(1, 255),
                                                  '10.%d.%d.%d' % (r.randrange(256), r.randrange(256),
                                                                   r.randrange(1, 255))]))
        return ipaddress.ip_address('2001:db8:beef::%x' % r.randrange(1, 0xffff))

    def _l4(self, s):
        r = self.r
        p = s['proto']
        if p == 'icmp':
            s['proto'] = 'icmp' if s['fam'] == 4 else 'icmpv6'
            s['icmp'] = r.choice(ICMP4_TYPES if s['fam'] == 4 else ICMP6_TYPES)
        elif p in ('tcp', 'udp', 'sctp'):
            s['sport'] = r.choice([r.randrange(1024, 65536), 53, 80, 123, 443, 22, 5060, 1234,
                                   r.randrange(1, 1024)])
            s['dport'] = r.choice([22, 80, 443, 53, 25, 123, 8080, 3306, 5432, 6881, 161, 500, 1194,
                                   r.randrange(1, 65536), r.randrange(1024, 2048), 0, 65535])
            if p == 'tcp':
                s['flags'] = r.choice(TCP_FLAGS)
                if 'S' in s['flags'] and r.random() < 0.7:
                    s['mss'] = r.choice([1460, 1400, 536, 9000])
        if r.random() < 0.6 and p not in ('icmp',):
            w = r.choice(WORDS)
            s['payload'] = w if r.random() < 0.7 else bytes(r.randrange(256) for _ in range(r.randrange(1, 60)))
        elif p == 'icmp':
            s['payload'] = bytes(r.randrange(256) for _ in range(r.choice([0, 8, 24, 56])))

    # -- bytes ---------------------------------------------------------------

    def build(self, s):
        """Spec -> list of (bytes, extra packet keys) (several for fragments)."""
        r = self.r
        fam = s['fam']
        pl = s.get('payload', b'')
        if fam == 4:
            ip = IP(src=str(s['src']), dst=str(s['dst']), ttl=s['ttl'], tos=s['tos'], id=s['id'])
            if s.get('big') or (r.random() < 0.3 and not s.get('frag')):
                ip.flags = 'DF'
            if s.get('ipopts'):
                ip.options = [IPOption_NOP(), IPOption_NOP(), IPOption_NOP(), IPOption_EOL()]
        else:
            ip = IPv6(src=str(s['src']), dst=str(s['dst']), hlim=s['ttl'], tc=s['tos'],
                      fl=r.choice([0, 0, 0, 0x12345]))
            if 'hbh' in s.get('ext', ''):
                ip = ip / IPv6ExtHdrHopByHop(options=[PadN(optdata=b'\0' * 4)])
            if 'dst' in s.get('ext', ''):
                ip = ip / IPv6ExtHdrDestOpt(options=[PadN(optdata=b'\0' * 4)])
        p = s['proto']
        if p == 'tcp':
            opts = [('MSS', s['mss'])] if s.get('mss') else []
            if s.get('mss') and r.random() < 0.3:
                opts += [('SAckOK', b''), ('WScale', 7)]
            l4 = TCP(sport=s['sport'], dport=s['dport'], flags=s['flags'], seq=r.randrange(1 << 32),
                     ack=r.randrange(1 << 32) if 'A' in s['flags'] else 0, window=r.choice([64240, 502, 0]),
                     options=opts)
        elif p == 'udp':
            l4 = UDP(sport=s['sport'], dport=s['dport'])
        elif p == 'sctp':
            l4 = Raw(struct_pack('>HHI', s['sport'], s['dport'], r.randrange(1 << 32)) + b'\0\0\0\0'
                     + b'\x01\x00\x00\x14' + bytes(16))
            _set_proto(ip, 132)
        elif p in ('icmp', 'icmpv6'):
            t, c = s['icmp']
            if fam == 4:
                l4 = ICMP(type=t, code=c, id=r.randrange(1, 65535), seq=r.randrange(1, 100))
                if t in (3, 11, 12, 5):
                    inner = IP(src=str(s['dst']), dst=str(s['src']), ttl=1) / UDP(sport=33434, dport=r.randrange(1, 65535))
                    l4 = ICMP(type=t, code=c) / bytes(inner)[:28]
                    pl = b''
            else:
                if t == 128:
                    l4 = ICMPv6EchoRequest(id=r.randrange(1, 65535), seq=r.randrange(1, 100))
                elif t == 129:
                    l4 = ICMPv6EchoReply(id=r.randrange(1, 65535), seq=r.randrange(1, 100))
                elif t == 1:
                    l4 = ICMPv6DestUnreach(code=c)
                elif t == 3:
                    l4 = ICMPv6TimeExceeded(code=c)
                elif t == 2:
                    l4 = ICMPv6PacketTooBig(mtu=1280)
                else:
                    l4 = ICMPv6Unknown(type=t, code=c, msgbody=b'\0' * 20)
                if t in (1, 2, 3):
                    inner = IPv6(src=str(s['dst']), dst=str(s['src']), hlim=1) / UDP(sport=33434, dport=80)
                    l4 = l4 / bytes(inner)
                    pl = b''
        else:
            num = {'esp': 50, 'gre': 47, 'ah': 51, 'p253': 253}[p]
            if p == 'esp':
                l4 = Raw(struct_pack('>II', r.randrange(1, 1 << 32), r.randrange(1, 100)) + bytes(16))
            elif p == 'ah':
                l4 = Raw(bytes([59, 4, 0, 0]) + struct_pack('>II', r.randrange(1, 1 << 32), 1) + bytes(12))
            elif p == 'gre':
                l4 = Raw(b'\x00\x00\x08\x00')
            else:
                l4 = Raw(b'experimental')
            _set_proto(ip, num)
        pkt = ip / l4
        if pl:
            pkt = pkt / Raw(pl)
        if s.get('big'):
            pad = s['big'] - len(bytes(pkt))
            if pad > 0:
                pkt = pkt / Raw(b'B' * pad)
        if s.get('frag'):
            if fam == 4:
                frags = fragment(pkt, fragsize=r.choice([8, 16, 24]) if len(bytes(pkt)) < 80 else 64)
                out = [bytes(f) for f in frags[:3]]
            else:
                out = _v6_split(bytes(pkt), r)
            if r.random() < 0.3 and len(out) > 1:
                out = out[::-1]
            if r.random() < 0.15 and len(out) > 1:
                out = out[:1]      # a lone first fragment: reassembly never completes
            return out
        b = bytes(pkt)
        m = s.get('malform')
        if m:
            b = malform(b, m, fam, r)
        return [b]


def struct_pack(fmt, *a):
    import struct
    return struct.pack(fmt, *a)


def _set_proto(ip, num):
    if isinstance(ip, IP):
        ip.proto = num
        return
    last = ip
    while last.payload:
        last = last.payload
    last.nh = num


def _v6_split(base, r):
    """Split an IPv6 packet into two fragments by hand (fragment6 wants big packets)."""
    import struct
    nh = base[6]
    off = 40
    prev = 6
    while nh in (0, 60, 43) and off + 2 <= len(base):
        prev = off
        nh, off = base[off], off + (base[off + 1] + 1) * 8
    unfrag = bytearray(base[:off])
    frag_payload = base[off:]
    if len(frag_payload) < 16:
        frag_payload = frag_payload + bytes(16)
    cut = max(8, (len(frag_payload) // 2) // 8 * 8)
    ident = r.randrange(1, 1 << 32)
    unfrag[prev] = 44
    out = []
    for i, (a, z) in enumerate(((0, cut), (cut, len(frag_payload)))):
        more = 1 if z < len(frag_payload) else 0
        fh = bytes([nh, 0]) + struct.pack('>HI', (a // 8) << 3 | more, ident)
        body = bytes(unfrag) + fh + frag_payload[a:z]
        body = body[:4] + struct.pack('>H', len(body) - 40) + body[6:]
        out.append(body)
    return out


def malform(b, m, fam, r):
    import struct
    b = bytearray(b)

    def fix4():
        if fam == 4:
            b[2:4] = struct.pack('>H', len(b))
            b[10:12] = b'\0\0'
            b[10:12] = struct.pack('>H', _csum(bytes(b[:(b[0] & 0xf) * 4])))
        else:
            b[4:6] = struct.pack('>H', len(b) - 40)

    hl = (b[0] & 0xf) * 4 if fam == 4 else 40
    if fam == 6:
        nh, off = b[6], 40
        while nh in (0, 60, 43) and off + 2 <= len(b):
            nh, off = b[off], off + (b[off + 1] + 1) * 8
        hl = off
    if m == 'trunc_l4':
        keep = r.choice([0, 1, 2, 4, 6, 8, 12, 16, 19])
        del b[hl + keep:]
        fix4()
    elif m == 'doff':
        proto = b[9] if fam == 4 else b[6]
        if len(b) > hl + 13 and proto == 6:
            b[hl + 12] = (r.choice([0, 2, 4]) << 4) | (b[hl + 12] & 0xf)
        else:
            del b[hl + 3:]
            fix4()
    elif m == 'tcpopt':
        proto = b[9] if fam == 4 else b[6]
        if len(b) > hl + 20 and proto == 6 and (b[hl + 12] >> 4) > 5:
            b[hl + 21] = r.choice([0, 1, 40])    # bad option length
        else:
            del b[hl + 5:]
            fix4()
    elif m == 'badcsum':
        if fam == 4:
            b[10] ^= 0x5a
        else:
            b[4:6] = struct.pack('>H', len(b) - 40 + 8)
    elif m == 'totlen_long':
        if fam == 4:
            b[2:4] = struct.pack('>H', len(b) + 10)
            b[10:12] = b'\0\0'
            b[10:12] = struct.pack('>H', _csum(bytes(b[:hl])))
        else:
            b[4:6] = struct.pack('>H', len(b) - 40 + 10)
    elif m in ('totlen_short', 'trailing'):
        b += bytes(r.randrange(256) for _ in range(r.choice([1, 4, 6, 12])))
    elif m == 'ihl':
        if fam == 4:
            b[0] = 0x40 | r.choice([3, 4, 15])
            b[10:12] = b'\0\0'
            b[10:12] = struct.pack('>H', _csum(bytes(b[:20])))
        else:
            del b[30:]
    return bytes(b)


def _csum(b):
    if len(b) % 2:
        b += b'\0'
    s = 0
    for i in range(0, len(b), 2):
        s += (b[i] << 8) | b[i + 1]
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def _weighted(r, items):
    tot = sum(w for _, w in items)
    x = r.uniform(0, tot)
    for v, w in items:
        x -= w
        if x <= 0:
            return v
    return items[-1][0]


# ---------------------------------------------------------------------------
# rules


class Chain:
    def __init__(self, table, name, hook, builtin):
        self.table = table
        self.name = name
        self.hook = hook
        self.builtin = builtin
        self.rules = []
        self.policy = 'ACCEPT'
        self.callees = []


class RuleGen:
    def __init__(self, g, fam):
        self.g = g
        self.r = g.r
        self.fam = fam
        self.h = g.h

    def ruleset(self, templates=None, policies=None, tables=None, nrules=None):
        """Random tables; `templates` {table: {chain: [rule, ...]}} go first in their chains,
        `policies` {(table, chain): policy}; `tables` the tables to make."""
        r = self.r
        templates = templates or {}
        policies = policies or {}
        out = {}
        chains_of = dict(CHAINS)
        chains_of['nat'] = ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING']
        want = tables or [t for t in ('raw', 'mangle', 'filter') if t == 'filter' or r.random() >= 0.35]
        for t in want:
            out[t] = []
            for c in chains_of[t]:
                bc = Chain(t, c, c, True)
                if (t, c) in policies:
                    bc.policy = policies[(t, c)]
                elif t == 'filter':
                    bc.policy = r.choice(['ACCEPT', 'ACCEPT', 'ACCEPT', 'DROP'])
                elif t != 'nat' and r.random() < 0.03:
                    bc.policy = 'DROP'
                out[t].append(bc)
                if t != 'nat':
                    for k in range(r.choice([0, 0, 0, 1, 1, 2])):
                        uc = Chain(t, self._chain_name(t, c, k), c, False)
                        bc.callees.append(uc)
                        out[t].append(uc)
            for ch in list(out[t]):
                if nrules is not None and ch.builtin:
                    n = r.choice(nrules)
                else:
                    n = r.choice([0, 1, 2, 3, 4, 5, 6, 8]) if ch.builtin else r.randint(1, 5)
                if t == 'nat':
                    n = r.choice([0, 0, 1, 2])
                for i in range(n):
                    ch.rules.append(self.rule(ch))
                # make sure every user chain is reachable
                for uc in ch.callees:
                    if not any(uc.name in x for x in ch.rules):
                        pos = r.randrange(len(ch.rules) + 1)
                        ch.rules.insert(pos, self.rule(ch, force_target=('-j' if r.random() < 0.8 else '-g')
                                                       + ' ' + uc.name))
                if ch.builtin:
                    tpl = [x for x in templates.get(t, {}).get(ch.name, []) if not self.g.excluded(x)]
                    # templates first, random rules after (some before, to shake the order)
                    k = r.randrange(len(ch.rules) + 1) if r.random() < 0.3 else 0
                    ch.rules[k:k] = list(tpl)
        lines = []
        for t in ('raw', 'mangle', 'nat', 'filter'):
            if t not in out:
                continue
            lines.append('*' + t)
            for ch in out[t]:
                lines.append(':%s %s [0:0]' % (ch.name, ch.policy if ch.builtin else '-'))
            for ch in out[t]:
                for rl in ch.rules:
                    lines.append('-A %s %s' % (ch.name, rl))
            lines.append('COMMIT')
        return '\n'.join(lines) + '\n'

    def _chain_name(self, t, c, k):
        base = self.r.choice(['%s_x%d' % (c.lower()[:4], k), 'USER-%s-%d' % (c[:3], k),
                              'ufw-%s-%d' % (c.lower()[:5], k), 'chain_%s_%s%d' % (t[:2], c[:2], k),
                              'a-rather-long-chain-name-%s%d' % (c[:2], k)])
        return base[:28]

    # a rule built around one packet spec

    def rule(self, ch, force_target=None):
        r, fam = self.r, self.fam
        kinds = HOOK_KINDS[ch.hook]
        cands = [s for s in self.g.specs if s['fam'] == fam and s['kind'] in kinds]
        s = r.choice(cands) if cands and r.random() < 0.9 else None
        parts = []
        miss = r.random() < 0.2
        missed = False
        if s is not None:
            conds = [c for c in self._conditions(s, ch) if not self.g.excluded(c[2])]
            r.shuffle(conds)
            k = r.choice([0, 1, 1, 2, 2, 3, 4])
            chosen, keys = [], set()
            for c in conds:
                if len(chosen) >= k:
                    break
                if c[1] in keys:
                    continue
                keys.add(c[1])
                chosen.append(c)
            needs_proto = any(c[0] in (3, 3.5) for c in chosen)
            if needs_proto and 'proto' not in keys:
                chosen += [c for c in conds if c[1] == 'proto'][:1]
            chosen.sort(key=lambda c: c[0])
            for order, key, txt, alt in chosen:
                if miss and not missed and alt and not (key == 'proto' and needs_proto):
                    parts.append(alt)
                    missed = True
                else:
                    parts.append(txt)
        if r.random() < 0.08:
            self.g.comment_n += 1
            parts.append('-m comment --comment "%s"' % r.choice(['rule %d' % self.g.comment_n, 'allow web',
                                                                 'block: bad guys', 'x']))
        tgt = force_target or self._target(ch, s, ' '.join(parts))
        if not force_target and self.g.excluded(tgt):
            tgt = r.choice(['-j ACCEPT', '-j DROP']) if ch.table != 'nat' else '-j ACCEPT'
        if self.g.excluded(' '.join(parts)):
            parts = []
        return ' '.join(parts + [tgt]).strip()

    def _net(self, a, invert_ok=True):
        r = self.r
        a = ipaddress.ip_address(a)
        maxp = 32 if a.version == 4 else 128
        plen = r.choice([maxp, maxp, 24, 16, 8, 28, 0] if a.version == 4 else [maxp, 64, 48, 120, 32])
        net = ipaddress.ip_network('%s/%d' % (a, plen), strict=False)
        txt = str(net.network_address) + ('/%d' % plen if plen != maxp or r.random() < 0.5 else '')
        if a.version == 4 and plen not in (0, 32) and r.random() < 0.2:
            txt = '%s/%s' % (net.network_address, net.netmask)
        return txt

    def _other_addr(self, a):
        a = ipaddress.ip_address(a)
        if a.version == 4:
            return str(a + 1) if str(a) != '255.255.255.255' else '255.255.255.254'
        return str(ipaddress.IPv6Address(int(a) ^ 0x10))

    def _ifmatch(self, name):
        r = self.r
        c = r.random()
        if c < 0.6:
            return name
        stem = name.rstrip('0123456789')
        if stem and stem != name:
            return stem + '+'
        return name[:max(1, len(name) - 1)] + '+'

    def _conditions(self, s, ch):
        """(order, key, text, near-miss text or None) for conditions the packet meets."""
        r, fam, h = self.r, self.fam, self.h
        hook = ch.hook
        out = []
        if s.get('src') is not None:
            if r.random() < 0.15:
                out.append((1, 's', '! -s ' + self._other_addr(s['src']), '! -s ' + str(s['src'])))
            else:
                out.append((1, 's', '-s ' + self._net(s['src']), '-s ' + self._other_addr(s['src'])))
        if s.get('dst') is not None:
            out.append((1, 'd', '-d ' + self._net(s['dst']), '-d ' + self._other_addr(s['dst'])))
        if hook in IN_HOOKS and s.get('iface'):
            o2 = [f.name for f in h.ifaces if f.name != s['iface']]
            if o2 and r.random() < 0.2:
                out.append((1, 'i', '! -i ' + self._ifmatch(r.choice(o2)), '! -i ' + s['iface']))
            else:
                out.append((1, 'i', '-i ' + self._ifmatch(s['iface']),
                            '-i ' + r.choice(o2) if o2 else '! -i ' + s['iface']))
        if hook in OUT_HOOKS and s.get('oif'):
            out.append((1, 'o', '-o ' + self._ifmatch(s['oif']), '-o lo' if s['oif'] != 'lo' else '-o eth9'))
        p = s['proto']
        if fam == 4 and s.get('frag') and r.random() < 0.5:
            out.append((1, 'f', '-f', '! -f'))
        pnum = {'tcp': 'tcp', 'udp': 'udp', 'icmp': 'icmp', 'icmpv6': r.choice(['icmpv6', 'ipv6-icmp', '58']),
                'esp': 'esp', 'ah': 'ah', 'gre': '47', 'sctp': 'sctp', 'p253': '253'}[p]
        if r.random() < 0.85:
            out.append((2, 'proto', '-p ' + pnum, '-p ' + ('udp' if p == 'tcp' else 'tcp')))
            out += [(3.5 if k in ('multiport', 'ecn') else 3, k, t, a) for k, t, a in self._proto_conds(s, ch)]
        else:
            out.append((2, 'proto', '! -p ' + ('udp' if p == 'tcp' else 'tcp'), '! -p ' + pnum))
        out += [(4, k, t, a) for k, t, a in self._misc_conds(s, ch)]
        return out

    def _ports(self, port, kind):
        r = self.r
        c = r.random()
        if c < 0.5:
            return '%s %d' % (kind, port), '%s %d' % (kind, (port + 1) % 65536)
        if c < 0.8:
            lo = max(0, port - r.randrange(0, 100))
            hi = min(65535, port + r.randrange(0, 1000))
            txt = '%d:%d' % (lo, hi) if r.random() < 0.8 else ('%d:' % lo if r.random() < 0.5 else ':%d' % hi)
            return '%s %s' % (kind, txt), '%s %d:%d' % (kind, hi + 1, min(65535, hi + 50)) if hi < 65535 \
                else None
        return '! %s %d' % (kind, (port + 7) % 65536), '! %s %d' % (kind, port)

    def _proto_conds(self, s, ch):
        r, fam = self.r, self.fam
        p = s['proto']
        out = []
        explicit = r.random() < 0.3
        if p in ('tcp', 'udp'):
            pre = ('-m %s ' % p) if explicit else ''
            if r.random() < 0.7:
                t, a = self._ports(s['dport'], '--dport' if r.random() < 0.8 else '--destination-port')
                out.append(('dport', pre + t, pre + a if a else None))
            if r.random() < 0.4:
                t, a = self._ports(s['sport'], '--sport')
                out.append(('sport', pre + t, pre + a if a else None))
            if p == 'tcp' and r.random() < 0.4:
                fl = s.get('flags', '')
                m = {'S': 'SYN', 'A': 'ACK', 'F': 'FIN', 'R': 'RST', 'P': 'PSH', 'U': 'URG'}
                have = {m[c] for c in fl if c in m}
                c = r.random()
                if c < 0.4:
                    out.append(('flags', pre + ('--syn' if 'SYN' in have and not have & {'ACK', 'RST', 'FIN'} else '! --syn'),
                                pre + ('! --syn' if 'SYN' in have and not have & {'ACK', 'RST', 'FIN'} else '--syn')))
                else:
                    mask = r.sample(['SYN', 'ACK', 'FIN', 'RST', 'PSH', 'URG'], r.randint(1, 4))
                    if c < 0.55:
                        mask = ['ALL']
                        comp = sorted(have) or ['NONE']
                    else:
                        comp = [x for x in mask if x in have] or ['NONE']
                    out.append(('flags', pre + '--tcp-flags %s %s' % (','.join(mask), ','.join(comp)), None))
            if p == 'tcp' and r.random() < 0.12:
                opt = 2 if s.get('mss') else r.choice([2, 3, 4, 8])
                out.append(('tcpopt', pre + '--tcp-option %d' % opt, pre + '! --tcp-option %d' % opt))
            if r.random() < 0.25:
                ports = sorted({s['dport']} | {r.randrange(1, 65536) for _ in range(r.randint(0, 5))})
                items = [str(x) for x in ports]
                if r.random() < 0.3 and s['dport'] < 65000:
                    items[items.index(str(s['dport']))] = '%d:%d' % (s['dport'], s['dport'] + 10)
                opt = r.choice(['--dports', '--destination-ports', '--ports'])
                if opt == '--ports' and r.random() < 0.5:
                    items.append(str(s['sport']))
                out.append(('multiport', '-m multiport %s %s' % (opt, ','.join(items[:12])), None))
            if p == 'tcp' and fam == 4 and r.random() < 0.08:
                out.append(('ecn', '-m ecn --ecn-tcp-ece' if 'E' in s.get('flags', '') else
                            '-m ecn ! --ecn-tcp-ece', None))
        elif p == 'icmp':
            t, c = s['icmp']
            c4 = r.random()
            if c4 < 0.3 and (t, c) in ICMP4_NAMES:
                txt = ICMP4_NAMES[(t, c)]
            elif c4 < 0.5 and t in ICMP4_TYPE_NAMES:
                txt = ICMP4_TYPE_NAMES[t]
            elif c4 < 0.8:
                txt = '%d/%d' % (t, c)
            else:
                txt = '%d' % t
            if r.random() < 0.1:
                out.append(('icmp', '--icmp-type any', None))
            else:
                out.append(('icmp', '-m icmp --icmp-type ' + txt if explicit else '--icmp-type ' + txt,
                            '--icmp-type %d' % ((t + 1) % 20)))
        elif p == 'icmpv6':
            t, c = s['icmp']
            c4 = r.random()
            if c4 < 0.3 and (t, c) in ICMP6_NAMES:
                txt = ICMP6_NAMES[(t, c)]
            elif c4 < 0.5 and t in ICMP6_TYPE_NAMES:
                txt = ICMP6_TYPE_NAMES[t]
            elif c4 < 0.8:
                txt = '%d/%d' % (t, c)
            else:
                txt = '%d' % t
            out.append(('icmp', '--icmpv6-type ' + txt, '--icmpv6-type %d' % ((t + 5) % 256)))
        return out

    def _misc_conds(self, s, ch):
        r, fam, h = self.r, self.fam, self.h
        hook = ch.hook
        out = []
        try:
            b = self.g.build_cache[id(s)]
        except KeyError:
            b = None
        if r.random() < 0.12 and s.get('src') is not None:
            a = ipaddress.ip_address(s['src'])
            lo, hi = a - r.randrange(0, 5) if int(a) > 5 else a, a + r.randrange(0, 300)
            try:
                hi = ipaddress.ip_address(hi)
            except ValueError:
                hi = a
            out.append(('iprange_s', '-m iprange --src-range %s-%s' % (lo, hi), '-m iprange ! --src-range %s-%s' % (lo, hi)))
        if r.random() < 0.08 and s.get('dst') is not None:
            a = ipaddress.ip_address(s['dst'])
            out.append(('iprange_d', '-m iprange --dst-range %s-%s' % (a, a), None))
        if r.random() < 0.1:
            m = s.get('mark', 0)
            if r.random() < 0.5:
                out.append(('mark', '-m mark --mark 0x%x' % m, '-m mark --mark 0x%x' % (m ^ 1)))
            else:
                mask = r.choice([0xff, 0xffff0000, 0x1, 0xf0])
                out.append(('mark', '-m mark --mark 0x%x/0x%x' % (m & mask, mask), '-m mark ! --mark 0x%x/0x%x' % (m & mask, mask)))
        if r.random() < 0.1 and b:
            ln = len(b[0])
            lo = max(0, ln - r.randrange(0, 50))
            hi = ln + r.randrange(0, 100)
            out.append(('length', '-m length --length %d:%d' % (lo, hi) if r.random() < 0.8 else '-m length --length %d' % ln,
                        '-m length --length %d' % (ln + 1)))
        if r.random() < 0.08:
            ttl = s['ttl']
            if fam == 4:
                c = r.choice(['--ttl-eq %d' % ttl, '--ttl-gt %d' % max(0, ttl - 1), '--ttl-lt %d' % min(255, ttl + 1),
                              '! --ttl-eq %d' % ((ttl + 1) % 256)])
                out.append(('ttl', '-m ttl ' + c, '-m ttl --ttl-eq %d' % ((ttl + 3) % 256)))
            else:
                c = r.choice(['--hl-eq %d' % ttl, '--hl-gt %d' % max(0, ttl - 1), '--hl-lt %d' % min(255, ttl + 1)])
                out.append(('ttl', '-m hl ' + c, '-m hl --hl-eq %d' % ((ttl + 3) % 256)))
        if r.random() < 0.08:
            tos = s['tos']
            c = r.random()
            if c < 0.3 and fam == 4:
                out.append(('tos', '-m tos --tos 0x%02x/0x%02x' % (tos & 0x1e, 0x1e) if r.random() < 0.5 else
                            '-m tos --tos 0x%02x/0xff' % tos, '-m tos ! --tos 0x%02x/0xff' % tos))
            elif c < 0.7:
                d = tos >> 2
                if r.random() < 0.4 and d in DSCP_VALUES.values():
                    cls = [k for k, v in DSCP_VALUES.items() if v == d][0]
                    out.append(('tos', '-m dscp --dscp-class %s' % cls, '-m dscp ! --dscp-class %s' % cls))
                else:
                    out.append(('tos', '-m dscp --dscp 0x%02x' % d, '-m dscp ! --dscp 0x%02x' % d))
            elif fam == 4:
                out.append(('tos', '-m ecn --ecn-ip-ect %d' % (tos & 3), '-m ecn ! --ecn-ip-ect %d' % (tos & 3)))
        if r.random() < 0.07 and not s.get('local'):
            d = s.get('dst')
            typ = 'unicast'
            if s.get('dst_mac', '').startswith('ff') or str(d) == '255.255.255.255' or \
                    (fam == 4 and str(d).endswith('.255')):
                typ = 'broadcast'
            elif d is not None and ipaddress.ip_address(d).is_multicast:
                typ = 'multicast'
            out.append(('pkttype', '-m pkttype --pkt-type %s' % typ, '-m pkttype ! --pkt-type %s' % typ))
        if r.random() < 0.07 and hook in ('PREROUTING', 'INPUT', 'FORWARD') and not s.get('local'):
            mac = s.get('src_mac', '00:00:00:00:00:00')
            out.append(('mac', '-m mac --mac-source %s' % mac.upper() if r.random() < 0.3 else
                        '-m mac --mac-source %s' % mac, '-m mac ! --mac-source %s' % mac))
        if r.random() < (0.15 if self.g.timed else 0.05):
            if self.g.timed:
                rate = '%d/%s' % (self.g.rate, r.choice(['s', 'sec', 'second']))
            else:
                rate = r.choice(['1/min', '2/minute', '5/hour', '10/day', '3/m', '1/h'])
            burst = r.choice([1, 2, 3, 5])
            out.append(('limit', '-m limit --limit %s --limit-burst %d' % (rate, burst), None))
        if r.random() < 0.07 and b:
            out.append(('u32',) + self._u32(b[0]))
        if r.random() < 0.08 and s.get('payload') and len(s['payload']) >= 3 and not s.get('frag'):
            out.append(('string',) + self._string(s))
        if r.random() < 0.25 and s.get('local') and hook in ('OUTPUT', 'POSTROUTING'):
            out.append(('owner',) + self._owner(s))
        if r.random() < 0.06:
            out.append(('addrtype',) + self._addrtype(s, hook))
        return out

    def _u32(self, b):
        r = self.r
        if len(b) < 8:
            return ('-m u32 --u32 "0>>28=%d"' % (b[0] >> 4), None)
        off = r.randrange(0, min(len(b) - 4, 40) + 1)
        word = int.from_bytes(b[off:off + 4], 'big')
        mask = r.choice([0xffffffff, 0xffff, 0xff, 0xff000000, 0xffff0000, 0x0f000000])
        v = word & mask
        if r.random() < 0.3:
            txt = '%d&0x%x=0x%x:0x%x' % (off, mask, max(0, v - 5), v + 5)
        else:
            txt = '%d&0x%x=0x%x' % (off, mask, v)
        if r.random() < 0.3 and self.fam == 4 and len(b) >= 24 and b[9] in (6, 17):
            ihl = (b[0] & 0xf) * 4
            port = int.from_bytes(b[ihl + 2:ihl + 4], 'big') if len(b) >= ihl + 4 else 0
            txt = r.choice(['6&0xFF=%d && 0>>22&0x3C@0&0xFFFF=%d' % (b[9], port),
                            '0>>22&0x3C@0>>16=0:65535', '6&0xFF=%d' % b[9]])
        return ('-m u32 --u32 "%s"' % txt, '-m u32 ! --u32 "%s"' % txt)

    def _string(self, s):
        r = self.r
        pl = s['payload']
        a = r.randrange(0, max(1, len(pl) - 2))
        z = min(len(pl), a + r.randint(2, 12))
        needle = pl[a:z]
        algo = r.choice(['bm', 'kmp'])
        if all(32 <= c < 127 and c not in b'"\\\'' for c in needle) and r.random() < 0.7:
            icase = r.random() < 0.2
            txt = needle.decode()
            if icase:
                txt = txt.swapcase()
            opt = '--string "%s"' % txt + (' --icase' if icase else '')
        else:
            opt = '--hex-string "|%s|"' % ' '.join('%02x' % c for c in needle)
        rng = ''
        if r.random() < 0.3:
            rng = ' --from %d --to %d' % (r.randrange(0, 30), r.randrange(60, 1500))
        return ('-m string --algo %s %s%s' % (algo, opt, rng), '-m string --algo %s ! %s' % (algo, opt))

    def _owner(self, s):
        r = self.r
        c = r.random()
        uid, gid = s.get('uid', 0), s.get('gid', 0)
        if c < 0.4:
            if r.random() < 0.3:
                return ('-m owner --uid-owner %d-%d' % (max(0, uid - 5), uid + 5), '-m owner ! --uid-owner %d-%d' % (max(0, uid - 5), uid + 5))
            return ('-m owner --uid-owner %d' % uid, '-m owner ! --uid-owner %d' % uid)
        if c < 0.7:
            if s.get('groups') and r.random() < 0.5:
                g = r.choice(s['groups'])
                return ('-m owner --gid-owner %d --suppl-groups' % g, '-m owner ! --gid-owner %d --suppl-groups' % g)
            return ('-m owner --gid-owner %d' % gid, '-m owner ! --gid-owner %d' % gid)
        if c < 0.85:
            return ('-m owner --socket-exists', '-m owner ! --socket-exists')
        return ('-m owner ! --uid-owner %d' % (uid + 1), '-m owner --uid-owner %d' % (uid + 1))

    def _addrtype(self, s, hook):
        r = self.r
        h = self.h
        d = s.get('dst')
        typ = 'UNICAST'
        if d is not None:
            kd, _ = h.route(d)
            a = ipaddress.ip_address(d)
            if a.is_multicast:
                typ = 'MULTICAST'
            elif str(a) == '255.255.255.255' or (a.version == 4 and any(
                    a == f.net4.broadcast_address for f in h.ifaces)):
                typ = 'BROADCAST'
            elif kd == 'local':
                typ = 'LOCAL'
            elif kd == 'blackhole':
                typ = 'BLACKHOLE'
        opt = '--dst-type' if r.random() < 0.7 else '--src-type'
        if opt == '--src-type':
            typ = 'LOCAL' if s.get('local') else 'UNICAST'
        extra = ''
        if r.random() < 0.2:
            if hook in ('PREROUTING', 'INPUT', 'FORWARD'):
                extra = ' --limit-iface-in'
            elif hook in ('OUTPUT', 'POSTROUTING'):
                extra = ' --limit-iface-out'
        return ('-m addrtype %s %s%s' % (opt, typ, extra), '-m addrtype ! %s %s%s' % (opt, typ, extra))

    def _target(self, ch, s, cond):
        r, fam = self.r, self.fam
        t = ch.table
        hook = ch.hook
        bare = not cond.strip()
        drop_w = (1 if t != 'filter' else 4) if not bare else 0.3
        opts = [('ACCEPT', 6 if not bare else 1), ('DROP', drop_w), ('LOG', 3), ('NFLOG', 1), ('MARK', 2),
                ('RETURN', 1 if ch.builtin else 4)]
        if t == 'filter' and hook in ('INPUT', 'FORWARD', 'OUTPUT'):
            opts.append(('REJECT', 4 if not bare else 0.3))
        if ch.callees:
            opts.append(('JUMP', 6))
        if t == 'mangle':
            opts += [('TOS', 1), ('DSCP', 1), ('TTL' if fam == 4 else 'HL', 2), ('MARK', 2)]
            if hook in ('OUTPUT', 'FORWARD', 'POSTROUTING'):
                opts.append(('CLASSIFY', 1))
            if fam == 4:
                opts.append(('ECN', 1))
            if hook in ('FORWARD', 'OUTPUT', 'POSTROUTING'):
                opts.append(('TCPMSS', 1))
        if t == 'nat':
            opts = [('ACCEPT', 2), ('RETURN', 2), ('LOG', 2), ('MARK', 1)]
        name = _weighted(r, opts)
        if name == 'JUMP':
            return ('-g ' if r.random() < 0.2 else '-j ') + r.choice(ch.callees).name
        if name == 'LOG':
            o = ''
            if r.random() < 0.7:
                o += ' --log-prefix "%s"' % r.choice(['DROP: ', '[fw] ', 'in ', 'x', 'IPTABLES-IN '])
            if r.random() < 0.3:
                o += ' --log-level %s' % r.choice(['4', 'warning', 'info', '7', 'debug', 'notice', '5'])
            if r.random() < 0.2:
                o += ' ' + r.choice(['--log-tcp-sequence', '--log-tcp-options', '--log-ip-options', '--log-uid'])
            return '-j LOG' + o
        if name == 'NFLOG':
            return '-j NFLOG --nflog-group %d' % r.choice([0, 1, 5, 100]) + \
                (' --nflog-prefix "%s"' % r.choice(['drop', 'x y']) if r.random() < 0.5 else '')
        if name == 'MARK':
            v = r.choice([1, 2, 0x10, 0xff00, 0x100, 7])
            return r.choice(['-j MARK --set-mark 0x%x' % v, '-j MARK --set-xmark 0x%x/0x%x' % (v, r.choice([0xff, 0xffffffff])),
                             '-j MARK --or-mark 0x%x' % v, '-j MARK --and-mark 0x%x' % v, '-j MARK --xor-mark 0x%x' % v,
                             '-j MARK --set-mark %d/0xff' % v])
        if name == 'REJECT':
            if fam == 4:
                choices = [x for x in REJECT4 if x != 'tcp-reset']
                if '-p tcp' in cond and '! -p tcp' not in cond:
                    choices += ['tcp-reset'] * 4
            else:
                choices = [x for x in REJECT6 if x != 'tcp-reset']
                if '-p tcp' in cond and '! -p tcp' not in cond:
                    choices += ['tcp-reset'] * 4
            if r.random() < 0.2:
                return '-j REJECT'
            return '-j REJECT --reject-with ' + r.choice(choices)
        if name == 'TOS':
            return r.choice(['-j TOS --set-tos 0x%02x' % r.choice([0x10, 0x08, 0x04, 0]),
                             '-j TOS --set-tos 0x%02x/0x%02x' % (r.choice([0x10, 0x20]), r.choice([0x3f, 0xff])),
                             '-j TOS --and-tos 0x%02x' % r.choice([0xfc, 0x0f]),
                             '-j TOS --or-tos 0x%02x' % r.choice([0x10, 0x01]),
                             '-j TOS --xor-tos 0x%02x' % r.choice([0x10, 0x04]),
                             '-j TOS --set-tos Minimize-Delay'])
        if name == 'DSCP':
            return r.choice(['-j DSCP --set-dscp 0x%02x' % r.choice([0, 10, 46, 63]),
                             '-j DSCP --set-dscp-class %s' % r.choice(DSCP_CLASSES)])
        if name == 'TTL':
            return r.choice(['-j TTL --ttl-set %d' % r.choice([1, 64, 255, 2]),
                             '-j TTL --ttl-dec %d' % r.choice([1, 2, 63]), '-j TTL --ttl-inc %d' % r.choice([1, 10])])
        if name == 'HL':
            return r.choice(['-j HL --hl-set %d' % r.choice([1, 64, 255]),
                             '-j HL --hl-dec %d' % r.choice([1, 2]), '-j HL --hl-inc %d' % r.choice([1, 10])])
        if name == 'CLASSIFY':
            return '-j CLASSIFY --set-class %x:%x' % (r.randrange(1, 16), r.randrange(1, 16))
        if name == 'ECN':
            if '-p tcp' in cond and '! -p tcp' not in cond:
                return '-j ECN --ecn-tcp-remove'
            return '-j ACCEPT'
        if name == 'TCPMSS':
            if '-p tcp' in cond and '! -p tcp' not in cond and '--tcp-flags' not in cond and '--syn' not in cond:
                return '-m tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss %d' % r.choice([536, 1200, 1460])
            return '-j DROP'
        return '-j ' + name


# ---------------------------------------------------------------------------
# stateful scenarios: flows through conntrack and NAT, replies made from what the
# kernel actually sent (a kernel_sim.Session answers each packet before the next)


def sctp_bytes(sport, dport, vtag, chunks):
    """An SCTP packet (common header with a correct CRC32c, then chunks given as
    (type, flags, value) and padded to 4 bytes)."""
    import struct
    body = b''
    for ctype, cflags, value in chunks:
        c = struct.pack('>BBH', ctype, cflags, 4 + len(value)) + value
        body += c + b'\0' * (-len(c) % 4)
    hdr = struct.pack('>HHI', sport, dport, vtag)
    crc = 0xFFFFFFFF
    for x in hdr + b'\0\0\0\0' + body:
        crc ^= x
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return hdr + struct.pack('<I', crc ^ 0xFFFFFFFF) + body


def pkt_bytes(fam, src, dst, proto, sport=0, dport=0, flags='', seq=0, ack=0, payload=b'',
              icmp=None, ttl=64, ipid=1, quote=b'', tos=0, sctp=None):
    if fam == 4:
        ip = IP(src=str(src), dst=str(dst), ttl=ttl, id=ipid, tos=tos)
    else:
        ip = IPv6(src=str(src), dst=str(dst), hlim=ttl, tc=tos)
    if proto == 'tcp':
        l4 = TCP(sport=sport, dport=dport, flags=flags, seq=seq & 0xffffffff, ack=ack & 0xffffffff,
                 window=64240)
    elif proto == 'udp':
        l4 = UDP(sport=sport, dport=dport)
    elif proto == 'sctp':
        vtag, chunks = sctp
        l4 = Raw(sctp_bytes(sport, dport, vtag, chunks))
        _set_proto(ip, 132)
    elif proto == 'echo':
        t, ident, sq = icmp
        if fam == 4:
            l4 = ICMP(type=t, code=0, id=ident, seq=sq)
        else:
            l4 = (ICMPv6EchoRequest if t == 128 else ICMPv6EchoReply)(id=ident, seq=sq)
    elif proto == 'icmperr':
        t, c = icmp
        l4 = (ICMP(type=t, code=c) if fam == 4 else
              (ICMPv6DestUnreach(code=c) if t == 1 else ICMPv6TimeExceeded(code=c))) / Raw(quote)
    else:
        raise ValueError(proto)
    pkt = ip / l4
    if payload:
        pkt = pkt / Raw(payload)
    return bytes(pkt)


def parse_pkt(hexstr):
    import struct
    b = bytes.fromhex(hexstr)
    o = {'fam': b[0] >> 4, 'bytes': b}
    if o['fam'] == 4:
        ihl = (b[0] & 15) * 4
        o['proto'] = b[9]
        o['src'] = ipaddress.ip_address(b[12:16])
        o['dst'] = ipaddress.ip_address(b[16:20])
        l4 = b[ihl:]
        o['quote'] = b[:ihl + 8]
    else:
        o['proto'] = b[6]
        o['src'] = ipaddress.ip_address(b[8:24])
        o['dst'] = ipaddress.ip_address(b[24:40])
        l4 = b[40:]
        o['quote'] = b[:1232 - 48]
    if o['proto'] in (6, 17, 132) and len(l4) >= 4:
        o['sport'], o['dport'] = struct.unpack('>HH', l4[:4])
    if o['proto'] in (1, 58) and len(l4) >= 8:
        o['icmp_type'] = l4[0]
        o['icmp_id'], o['icmp_seq'] = struct.unpack('>HH', l4[4:8])
    return o


class Flow:
    """One connection: client moves (C) and server moves (S); the server side is
    wherever the kernel delivered the client's packet, addressed as it arrived there."""

    def __init__(self, sg, kind, fam, proto, client, saddr, sport):
        r = sg.r
        self.sg = sg
        self.kind = kind
        self.fam = fam
        self.proto = proto
        self.client = client                 # {'iface': X} or {'local': True, uid...}; 'addr'
        self.saddr = ipaddress.ip_address(saddr)
        self.sport = sport
        self.cport = sg.next_port()
        self.ident = sg.next_port()
        self.c_next = r.randrange(1 << 32)
        self.s_next = r.randrange(1 << 32)
        self.sview = None
        self.i = 0
        self.seq = 0
        self.done = False
        self.ipid = {'C': r.randrange(1, 30000), 'S': r.randrange(30000, 60000)}
        if proto == 'tcp':
            c = r.random()
            if c < 0.12:
                moves = [('C', 'S', 0), ('S', 'RA', 0)]
            elif c < 0.2:
                moves = [('C', 'S', 0), ('S', 'ERR', 0)]
            else:
                moves = [('C', 'S', 0), ('S', 'SA', 0), ('C', 'A', 0), ('C', 'PA', r.randint(1, 40)),
                         ('S', 'PA', r.randint(1, 60)), ('C', 'A', 0)]
                end = r.random()
                if end < 0.5:
                    moves += [('C', 'FA', 0), ('S', 'FA', 0), ('C', 'A', 0)]
                elif end < 0.7:
                    moves += [(r.choice('CS'), 'R', 0)]
                moves = moves[:r.randint(3, len(moves))] if r.random() < 0.3 else moves
        elif proto == 'sctp':
            moves = self._sctp_moves(r)
        elif proto == 'udp':
            moves = [('C', 'U', r.randint(1, 40)), ('S', 'U', r.randint(1, 60))]
            if r.random() < 0.2:
                moves[1] = ('S', 'ERR', 0)
            elif r.random() < 0.4:
                moves += [('C', 'U', 10), ('S', 'U', 10)]
        else:
            moves = [('C', 'E', 0), ('S', 'E', 0)]
            if r.random() < 0.3:
                moves += [('C', 'E', 0), ('S', 'E', 0)]
        self.moves = moves
        self.payload = r.choice(WORDS)

    def _sctp_moves(self, r):
        """An association's chunks; the tags each side chose (its initiate tag)."""
        self.tag = {'C': r.randrange(1, 1 << 32), 'S': r.randrange(1, 1 << 32)}
        moves = [('C', 'INIT', 0), ('S', 'INIT_ACK', 0), ('C', 'COOKIE_ECHO', 0), ('S', 'COOKIE_ACK', 0),
                 ('C', 'DATA', r.randint(1, 40)), ('S', 'SACK_DATA', r.randint(1, 60)), ('C', 'SACK', 0)]
        if r.random() < 0.15:
            moves[1] = ('S', 'ERR', 0)
        end = r.random()
        if end < 0.5:
            side = r.choice('CS')
            other = 'S' if side == 'C' else 'C'
            moves += [(side, 'SHUTDOWN', 0), (other, 'SHUTDOWN_ACK', 0), (side, 'SHUTDOWN_COMPLETE', 0)]
        elif end < 0.7:
            moves += [(r.choice('CS'), 'ABORT', 0)]
        if r.random() < 0.15:
            moves.insert(r.randint(4, len(moves)), (r.choice('CS'), 'HEARTBEAT', 0))
        return moves[:r.randint(2, len(moves))] if r.random() < 0.3 else moves

    def _sctp_packet(self, side, what, data):
        """The chunks of one SCTP move and the tag its receiver expects."""
        import struct
        other = 'S' if side == 'C' else 'C'
        tsn = {'C': 1000, 'S': 5000}

        def init_value():
            return struct.pack('>IIHHI', self.tag[side], 106496, 10, 10, tsn[side])
        data_chunk = (0, 3, struct.pack('>IHHI', tsn[side], 0, 0, 0) + data)
        sack = (3, 0, struct.pack('>IIHH', tsn[other], 106496, 0, 0))
        chunks = {
            'INIT': [(1, 0, init_value())],
            'INIT_ACK': [(2, 0, init_value() + struct.pack('>HH', 7, 20) + b'cookie' * 2 + b'\0' * 4)],
            'COOKIE_ECHO': [(10, 0, b'cookie' * 2 + b'\0' * 4)],
            'COOKIE_ACK': [(11, 0, b'')],
            'DATA': [data_chunk],
            'SACK_DATA': [sack, data_chunk],
            'SACK': [sack],
            'SHUTDOWN': [(7, 0, struct.pack('>I', tsn[other]))],
            'SHUTDOWN_ACK': [(8, 0, b'')],
            'SHUTDOWN_COMPLETE': [(14, 0, b'')],
            'ABORT': [(6, 0, b'')],
            'HEARTBEAT': [(4, 0, struct.pack('>HH', 1, 12) + b'hbinfo\0\0')],
        }[what]
        return (0 if what == 'INIT' else self.tag[other]), chunks

    def first_spec(self):
        """What RuleGen needs to aim rules at this flow's first packet."""
        s = Spec(fam=self.fam, kind={'out': 'out', 'vip': 'out', 'lo': 'out'}.get(self.kind, 'fwd')
                 if self.kind not in ('in', 'redirect') else 'in',
                 src=self.client['addr'], dst=self.saddr, ttl=64, tos=0, id=1,
                 proto={'echo': 'icmp' if self.fam == 4 else 'icmpv6'}.get(self.proto, self.proto))
        if self.client.get('local'):
            s.update(local=True, uid=self.client['uid'], gid=self.client['gid'])
            if self.client.get('groups'):
                s['groups'] = self.client['groups']
        else:
            s['iface'] = self.client['iface']
        kd, g = self.sg.h.route(self.saddr)
        s['oif'] = g.name if (kd == 'out' and g) else ('lo' if kd == 'local' else None)
        if self.proto in ('tcp', 'udp', 'sctp'):
            s['sport'], s['dport'] = self.cport, self.sport
            if self.proto == 'tcp':
                s['flags'] = 'S'
        else:
            s['icmp'] = (8, 0) if self.fam == 4 else (128, 0)
        s['payload'] = self.payload
        return s

    def next(self):
        """The next packet (a packets.jsonl object), or None when the flow is over."""
        if self.done or self.i >= len(self.moves):
            return None
        side, what, ln = self.moves[self.i]
        if side == 'S' and self.sview is None:
            self.done = True
            return None
        fam = self.fam
        self.ipid[side] += 1
        if side == 'C':
            src, dst, sp, dp = self.client['addr'], self.saddr, self.cport, self.sport
        else:
            v = self.sview
            src, dst, sp, dp = v['s'], v['c'], v['sport'], v['cport']
        data = (self.payload * 3)[:ln] if ln else b''
        if self.proto == 'tcp' and what != 'ERR':
            flags = what
            if side == 'C':
                seq, ack = self.c_next, self.s_next
            else:
                seq, ack = self.s_next, self.c_next
            b = pkt_bytes(fam, src, dst, 'tcp', sp, dp, flags, seq, ack if 'A' in flags else 0, data,
                          ipid=self.ipid[side])
            adv = len(data) + (1 if ('S' in flags or 'F' in flags) else 0)
            if side == 'C':
                self.c_next += adv
            else:
                self.s_next += adv
        elif what == 'ERR':
            quote = self.sview['quote']
            icmp = (3, self.sg.r.choice([1, 3, 10, 13])) if fam == 4 else (1, self.sg.r.choice([0, 1, 3, 4]))
            b = pkt_bytes(fam, src, dst, 'icmperr', icmp=icmp, quote=quote, ipid=self.ipid[side])
        elif self.proto == 'udp':
            b = pkt_bytes(fam, src, dst, 'udp', sp, dp, payload=data, ipid=self.ipid[side])
        elif self.proto == 'sctp':
            b = pkt_bytes(fam, src, dst, 'sctp', sp, dp, ipid=self.ipid[side],
                          sctp=self._sctp_packet(side, what, data))
        else:
            if side == 'C':
                self.seq += 1
                t = 8 if fam == 4 else 128
                ident = self.ident
            else:
                t = 0 if fam == 4 else 129
                ident = self.sview.get('ident', self.ident)
            b = pkt_bytes(fam, src, dst, 'echo', icmp=(t, ident, self.seq), payload=b'ping' * 4,
                          ipid=self.ipid[side])
        if side == 'C':
            where = self.client
        else:
            where = self.sview['where']
        p = {}
        if where.get('local'):
            p['local'] = True
            p['uid'], p['gid'] = where['uid'], where['gid']
            if where.get('groups'):
                p['groups'] = where['groups']
        else:
            p['iface'] = where['iface']
            if where.get('src_mac'):
                p['src_mac'] = where['src_mac']
        p['hex'] = b.hex()
        self.last = (side, what)
        return p

    def observe(self, res):
        side, what = self.last
        self.i += 1
        ok = res.get('verdict') == 'accept'
        if side == 'C' and ok and self.sview is None:
            o = parse_pkt(res['hex'])
            if res.get('to') == 'local':
                sp = self.sport
                where = {'local': True, 'uid': 0 if (o.get('dport') or 0) < 1024 else 1000,
                         'gid': 0 if (o.get('dport') or 0) < 1024 else 1000}
            else:
                where = {'iface': res['oif'], 'src_mac': '02:00:00:00:ee:%02x' % self.sg.r.randrange(256)}
            self.sview = {'c': o['src'], 's': o['dst'], 'cport': o.get('sport', 0),
                          'sport': o.get('dport', 0), 'ident': o.get('icmp_id'), 'where': where,
                          'quote': o['quote']}
        elif side == 'C' and ok and self.sview is not None:
            self.sview['quote'] = parse_pkt(res['hex'])['quote']
        if not ok and self.sg.r.random() < 0.7:
            self.done = True


class StatefulGen:
    def __init__(self, g):
        self.g = g
        self.r = g.r
        self.h = g.h
        self.port = self.r.randrange(20000, 40000)
        h, r = self.h, self.r
        self.wan = h.uplink
        self.lans = h.ifaces[1:]
        self.plan = {}
        for fam in g._fams():
            self.plan[fam] = self._nat_plan(fam)

    def next_port(self):
        self.port += self.r.randrange(1, 7)
        return self.port

    def _lan_host(self, fam):
        lans = [f for f in self.lans if fam == 4 or f.addr6]
        if not lans:
            return None, None
        f = self.r.choice(lans)
        return f, self.h.neighbor(f, fam)

    def _nat_plan(self, fam):
        r, h = self.r, self.h
        p = {'dnat': [], 'masq': None, 'redirect': None, 'vip': None}
        wan_addr = self.wan.addr4 if fam == 4 else self.wan.addr6
        if wan_addr is None:
            return p
        if self.lans and r.random() < (0.75 if fam == 4 else 0.35):
            p['masq'] = r.choice(['MASQUERADE', 'MASQUERADE', 'SNAT'])
        for _ in range(r.choice([0, 1, 1, 2])):
            f, lh = self._lan_host(fam)
            if lh is None:
                break
            proto = r.choice(['tcp', 'tcp', 'udp'])
            port = r.choice([8080, 2222, 5353, 8443, 10000 + r.randrange(1000)])
            to_port = r.choice([None, 80, 22, 53, port])
            p['dnat'].append((proto, port, lh, to_port))
        lans = [f for f in self.lans if fam == 4 or f.addr6]
        if lans and r.random() < 0.3:
            p['redirect'] = (r.choice(lans), 80, r.choice([3128, 8080]))
        if fam == 4 and self.lans and r.random() < 0.3:
            f, lh = self._lan_host(4)
            p['vip'] = (ipaddress.ip_address('10.250.%d.%d' % (r.randrange(256), r.randrange(1, 255))),
                        r.choice([80, 443]), lh)
        return p

    def _state(self, states):
        r = self.r
        if r.random() < 0.5:
            return '-m state --state %s' % states
        return '-m conntrack --ctstate %s' % states

    def templates(self, fam):
        r, h = self.r, self.h
        p = self.plan[fam]
        wan = self.wan.name
        wan_addr = self.wan.addr4 if fam == 4 else self.wan.addr6
        t = {'raw': {}, 'mangle': {}, 'nat': {}, 'filter': {}}
        pol = {}
        if r.random() < 0.25:
            port = r.choice([123, 53, 5353])
            tgt = r.choice(['-j CT --notrack', '-j NOTRACK'])
            t['raw']['PREROUTING'] = ['-p udp --dport %d %s' % (port, tgt)]
            t['raw']['OUTPUT'] = ['-p udp --sport %d %s' % (port, tgt)]
        if r.random() < 0.3:
            t['mangle']['PREROUTING'] = ['-j CONNMARK --restore-mark',
                                         '-i %s %s -j CONNMARK --set-mark 0x%x' % (
                                             wan, self._state('NEW'), r.choice([1, 2, 0x10]))]
            t['mangle']['FORWARD'] = ['-m connmark --mark 0x1 -j MARK --or-mark 0x100'] if r.random() < 0.5 else []
            if r.random() < 0.5:
                t['mangle']['POSTROUTING'] = ['-m mark ! --mark 0 -j CONNMARK --save-mark']
        nat = t['nat']
        if p['masq']:
            if p['masq'] == 'MASQUERADE':
                nat.setdefault('POSTROUTING', []).append('-o %s -j MASQUERADE' % wan)
            else:
                src = ' -s %s' % (self.lans[0].net4 if fam == 4 else self.lans[0].net6) \
                    if r.random() < 0.5 and (fam == 4 or self.lans[0].net6) else ''
                nat.setdefault('POSTROUTING', []).append('%s -o %s -j SNAT --to-source %s' % (
                    src, wan, wan_addr if fam == 4 else wan_addr))
        for proto, port, lh, to_port in p['dnat']:
            dst = str(lh) if fam == 4 else '[%s]' % lh
            to = dst + (':%d' % to_port if to_port else '')
            if fam == 6 and not to_port:
                to = str(lh)
            nat.setdefault('PREROUTING', []).append('-i %s -p %s -m %s --dport %d -j DNAT --to-destination %s'
                                                   % (wan, proto, proto, port, to))
        if p['redirect']:
            f, port, to = p['redirect']
            nat.setdefault('PREROUTING', []).append('-i %s -p tcp --dport %d -j REDIRECT --to-ports %d'
                                                   % (f.name, port, to))
        if p['vip']:
            vip, port, lh = p['vip']
            nat.setdefault('OUTPUT', []).append('-d %s/32 -p tcp --dport %d -j DNAT --to-destination %s'
                                               % (vip, port, lh))
        filt = t['filter']
        inp, fwd, out = [], [], []
        if r.random() < 0.7:
            inp.append('-i lo -j ACCEPT')
        if r.random() < 0.9:
            inp.append('%s -j ACCEPT' % self._state(r.choice(['ESTABLISHED,RELATED', 'RELATED,ESTABLISHED'])))
        if r.random() < 0.6:
            inp.append('%s -j DROP' % self._state('INVALID'))
        svc = ['-p tcp --dport 22 %s -j ACCEPT' % self._state('NEW'),
               '-p tcp -m multiport --dports 80,443,3128,8080 -j ACCEPT',
               '-p udp --dport 53 -j ACCEPT',
               ('-p icmp --icmp-type echo-request -j ACCEPT' if fam == 4 else
                '-p ipv6-icmp -j ACCEPT'),
               '-m conntrack --ctstate UNTRACKED -j ACCEPT',
               '-p tcp --syn -m conntrack --ctstate NEW -m limit --limit 3/min --limit-burst 4 -j ACCEPT']
        inp += r.sample(svc, r.randint(1, len(svc)))
        if r.random() < 0.3:
            inp.append('-j REJECT' + (' --reject-with tcp-reset' if False else ''))
        pol[('filter', 'INPUT')] = 'DROP' if r.random() < 0.5 else 'ACCEPT'
        if r.random() < 0.9:
            fwd.append('%s -j ACCEPT' % self._state('RELATED,ESTABLISHED'))
        if r.random() < 0.5:
            fwd.append('%s -j DROP' % self._state('INVALID'))
        if self.lans and r.random() < 0.85:
            fwd.append('-i %s -o %s -j ACCEPT' % (r.choice(self.lans).name if r.random() < 0.5 else
                                                   _stem_plus(self.lans[0].name), wan))
        if r.random() < 0.6:
            fwd.append('-m conntrack --ctstate DNAT -j ACCEPT')
        if r.random() < 0.2:
            fwd.append('-m conntrack --ctstate NEW --ctdir ORIGINAL --ctproto tcp -j LOG --log-prefix "new "')
        if r.random() < 0.2:
            fwd.append('-m conntrack --ctstatus ASSURED -j ACCEPT')
        if r.random() < 0.2:
            fwd.append('-m conntrack --ctstate ESTABLISHED --ctdir REPLY -j ACCEPT')
        if r.random() < 0.2:
            fwd.append('-j REJECT')
        pol[('filter', 'FORWARD')] = 'DROP' if r.random() < 0.6 else 'ACCEPT'
        if r.random() < 0.3:
            out.append('%s -j DROP' % self._state('INVALID'))
        if r.random() < 0.2:
            out.append('-m owner --uid-owner 65534 -j REJECT')
        pol[('filter', 'OUTPUT')] = 'DROP' if r.random() < 0.1 else 'ACCEPT'
        if pol[('filter', 'OUTPUT')] == 'DROP':
            out.append('%s -j ACCEPT' % self._state('ESTABLISHED,RELATED,NEW'))
        filt['INPUT'], filt['FORWARD'], filt['OUTPUT'] = inp, fwd, out
        return t, pol

    def flows(self, fam, n):
        r, h = self.r, self.h
        p = self.plan[fam]
        out = []
        lans = [f for f in self.lans if fam == 4 or f.addr6]
        gw = h.gw4 if fam == 4 else h.gw6
        for _ in range(n):
            kinds = [('in', 3), ('out', 2), ('lo', 0.5)]
            if lans and gw:
                kinds.append(('fwd-out', 4))
            if p['dnat']:
                kinds.append(('dnat', 3))
            if lans:
                kinds.append(('fwd-in', 1))
            if p['redirect'] and gw:
                kinds.append(('redirect', 2))
            if p['vip']:
                kinds.append(('vip', 1.5))
            kind = _weighted(r, kinds)
            proto = r.choice(['tcp', 'tcp', 'tcp', 'udp', 'udp', 'echo'])
            sport = r.choice([22, 80, 443, 53, 8080, 25, 3306, r.randrange(1, 65536)])
            if self.g.sctp and r.random() < 0.35:
                proto, sport = 'sctp', r.choice([3868, 2905, 36412, 9899, sport])
            if proto == 'udp':
                sport = r.choice([53, 123, 5353, 1194, 161, sport])
            if kind == 'fwd-out':
                f = r.choice(lans)
                client = {'iface': f.name, 'addr': h.neighbor(f, fam)}
                saddr = h.remote(fam)
            elif kind == 'dnat':
                pr, port, lh, to_port = r.choice(p['dnat'])
                client = {'iface': self.wan.name, 'addr': h.remote(fam) if gw else h.neighbor(self.wan, fam)}
                saddr = self.wan.addr4 if fam == 4 else self.wan.addr6
                proto, sport = pr, port
            elif kind == 'fwd-in':
                client = {'iface': self.wan.name, 'addr': h.remote(fam) if gw else h.neighbor(self.wan, fam)}
                saddr = h.neighbor(r.choice(lans), fam)
            elif kind == 'redirect':
                f, port, to = p['redirect']
                client = {'iface': f.name, 'addr': h.neighbor(f, fam)}
                saddr, proto, sport = h.remote(fam), 'tcp', port
            elif kind == 'vip':
                vip, port, lh = p['vip']
                u = r.choice(USERS)
                client = {'local': True, 'uid': u[0], 'gid': u[1], 'groups': u[2], 'addr': None}
                saddr, proto, sport = vip, 'tcp', port
            elif kind == 'in':
                f = r.choice([x for x in h.ifaces if fam == 4 or x.addr6])
                client = {'iface': f.name, 'addr': h.neighbor(f, fam) if r.random() < 0.6 or not gw or
                          f is not self.wan else h.remote(fam)}
                saddr = f.addr4 if fam == 4 else f.addr6
                if proto == 'tcp' and r.random() < 0.6:
                    sport = r.choice([22, 80, 443, 3128, 8080])
            elif kind == 'lo':
                u = r.choice(USERS)
                client = {'local': True, 'uid': u[0], 'gid': u[1], 'groups': u[2], 'addr': None}
                saddr = ipaddress.ip_address('127.0.0.1' if fam == 4 else '::1')
            else:   # out
                u = r.choice(USERS)
                client = {'local': True, 'uid': u[0], 'gid': u[1], 'groups': u[2], 'addr': None}
                f = r.choice([x for x in h.ifaces if fam == 4 or x.addr6])
                saddr = h.remote(fam) if gw and r.random() < 0.6 else h.neighbor(f, fam)
            if client.get('local'):
                kd, g = h.route(saddr)
                if kind == 'lo':
                    client['addr'] = saddr
                elif g is not None:
                    client['addr'] = g.addr4 if fam == 4 else g.addr6
                elif kind == 'vip':
                    client['addr'] = self.wan.addr4 if gw else lans[0].addr4
                else:
                    client['addr'] = (self.wan.addr4 if fam == 4 else self.wan.addr6)
                if client['addr'] is None:
                    continue
            out.append(Flow(self, kind, fam, proto, client, saddr, sport))
        return out

    def noise(self, fam):
        """A packet conntrack finds invalid or picks up mid-stream."""
        r, h = self.r, self.h
        f = r.choice([x for x in h.ifaces if fam == 4 or x.addr6])
        src = h.neighbor(f, fam)
        dst = f.addr4 if fam == 4 else f.addr6
        c = r.random()
        if c < 0.3:
            b = pkt_bytes(fam, src, dst, 'tcp', r.randrange(1024, 65536), r.choice([22, 80, 4444]), 'SA',
                          r.randrange(1 << 32), r.randrange(1 << 32))
        elif c < 0.5:
            b = pkt_bytes(fam, src, dst, 'tcp', r.randrange(1024, 65536), r.choice([22, 80]), 'R',
                          r.randrange(1 << 32), 0)
        elif c < 0.7:
            b = pkt_bytes(fam, src, dst, 'tcp', r.randrange(1024, 65536), r.choice([22, 80]), 'A',
                          r.randrange(1 << 32), r.randrange(1 << 32))
        else:
            inner = pkt_bytes(fam, dst, src, 'udp', r.randrange(1024, 65536), 53, payload=b'q' * 8)
            b = pkt_bytes(fam, src, dst, 'icmperr', icmp=(3, 3) if fam == 4 else (1, 4),
                          quote=inner[:28] if fam == 4 else inner)
        return {'iface': f.name, 'hex': b.hex()}


def _stem_plus(name):
    stem = name.rstrip('0123456789')
    return (stem if stem and stem != name else name[:-1]) + '+'


def generate_stateful(g, out):
    """Rules and packets of a stateful scenario; needs root (it drives the kernel)."""
    import kernel_sim
    r = g.r
    sg = StatefulGen(g)
    n = g.npackets
    flows = []
    for fam in g._fams():
        flows += sg.flows(fam, max(4, n // (5 if fam == 4 else 9)))
    r.shuffle(flows)
    g.specs = [f.first_spec() for f in flows]
    g.build_cache = {}
    for s in g.specs:
        try:
            g.build_cache[id(s)] = g.build(s)
        except Exception:
            g.build_cache[id(s)] = [b'']
    hostj = g.h.to_json()
    rules = {}
    for fam in g._fams():
        tpl, pol = sg.templates(fam)
        tables = ['raw', 'mangle', 'nat', 'filter'] if any(tpl['nat'].values()) or r.random() < 0.5 \
            else ['raw', 'mangle', 'filter']
        rules[fam] = RuleGen(g, fam).ruleset(templates=tpl, policies=pol, tables=tables,
                                             nrules=[0, 0, 1, 2, 3])
    lines = []
    try:
        sess = kernel_sim.Session(hostj, rules)
    except kernel_sim.KernelRefused:
        return hostj, rules, [{'iface': g.h.ifaces[0].name, 'hex': f.client.get('addr') and
                               pkt_bytes(4, '192.0.2.1', str(g.h.ifaces[0].addr4), 'udp', 1, 2).hex()}
                              for f in flows[:1]]
    with sess:
        active = []
        pending = list(flows)
        while len(lines) < n and (active or pending):
            if pending and (not active or r.random() < 0.3):
                active.append(pending.pop(0))
            if r.random() < 0.05:
                p = sg.noise(r.choice(g._fams()))
                sess.send(p)
                lines.append(p)
                continue
            f = r.choice(active)
            p = f.next()
            if p is None:
                active.remove(f)
                continue
            res = sess.send(p)
            lines.append(p)
            f.observe(res)
    return hostj, rules, lines


def generate(seed, out, v6=None, stateful=False, npackets=None, exclude=(), sctp=False):
    g = Gen(seed, v6, stateful, npackets, exclude, sctp=sctp and stateful)
    r = g.r
    os.makedirs(out, exist_ok=True)
    if stateful:
        g.h.forwarding = g.h.forwarding or r.random() < 0.7
        hostj, rules, lines = generate_stateful(g, out)
        return _write(g, out, hostj, rules, lines, seed, v6, stateful, npackets)
    g.build_cache = {}
    n = g.npackets
    while len(g.specs) < n:
        s = g.new_spec()
    for s in g.specs:
        g.build_cache[id(s)] = g.build(s)
    hostj = g.h.to_json()
    rules = {fam: RuleGen(g, fam).ruleset() for fam in g._fams()}
    lines = []
    for s in g.specs:
        for i, b in enumerate(g.build_cache[id(s)]):
            p = {}
            if s.get('local'):
                p['local'] = True
            else:
                p['iface'] = s['iface']
            p['hex'] = b.hex()
            for k in ('uid', 'gid', 'groups', 'mark', 'src_mac', 'dst_mac'):
                if k in s and (k != 'mark' or s[k]):
                    p[k] = s[k]
            lines.append(p)
    # a few repeats, so that limits run out and counters add up
    for _ in range(r.randint(0, 6)):
        lines.insert(r.randrange(len(lines) + 1), dict(r.choice(lines)))
    if g.timed:
        t = 0.0
        for p in lines:
            if r.random() < 0.07:
                t += (r.randrange(2) + 0.5) / g.rate
            p['t'] = round(t, 4)
    return _write(g, out, hostj, rules, lines, seed, v6, stateful, npackets)


def write_scenario(out, hostj, rules, lines, gen_command):
    """Writes a scenario directory: host.json, rules.vN, packets.jsonl and GEN
    (the command that makes it again); outputs of an earlier run are removed."""
    os.makedirs(out, exist_ok=True)
    for fn in ('rules.v4', 'rules.v6', 'expected.jsonl', 'expected.v4', 'expected.v6', 'trace.jsonl',
               'report.json', 'kernel_error.txt'):
        try:
            os.unlink(os.path.join(out, fn))
        except FileNotFoundError:
            pass
    with open(os.path.join(out, 'host.json'), 'w') as f:
        json.dump(hostj, f, indent=1)
    for fam, text in rules.items():
        with open(os.path.join(out, 'rules.v%d' % fam), 'w') as f:
            f.write(text)
    with open(os.path.join(out, 'packets.jsonl'), 'w') as f:
        for p in lines:
            f.write(json.dumps(p) + '\n')
    with open(os.path.join(out, 'GEN'), 'w') as f:
        f.write(gen_command + '\n')


def _write(g, out, hostj, rules, lines, seed, v6, stateful, npackets):
    write_scenario(out, hostj, rules, lines,
                   'tests/kernel/gen_scenario.py --seed %d%s%s%s%s%s --out %s' % (
                       seed, ' --v6' if v6 else (' --no-v6' if v6 is False else ''),
                       ' --stateful' if stateful else '',
                       ' --sctp' if g.sctp else '',
                       ' --packets %d' % npackets if npackets else '',
                       ' --exclude ' + ','.join(sorted(g.exclude)) if g.exclude else '', out))
    return g


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--seed', type=int, required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--v6', dest='v6', action='store_true', default=None, help='always give the host IPv6')
    ap.add_argument('--no-v6', dest='v6', action='store_false', help='IPv4 only')
    ap.add_argument('--stateful', action='store_true')
    ap.add_argument('--sctp', action='store_true', help='with --stateful: SCTP associations among the flows')
    ap.add_argument('--packets', type=int)
    ap.add_argument('--exclude', default='', help='extensions (matches, targets, protocols) not to use, '
                    'comma-separated, e.g. u32,string,LOG')
    a = ap.parse_args(argv)
    generate(a.seed, a.out, a.v6, a.stateful, a.packets, [x for x in a.exclude.split(',') if x], a.sctp)
    return 0


if __name__ == '__main__':
    sys.exit(main())
