#!/usr/bin/python3
"""Random scenarios for the stateful and timed extensions ("ext2").

    gen_ext2.py --seed N --out DIR [--v6|--no-v6] [--packets K] [--exclude a,b]

Writes DIR/host.json, DIR/rules.v4 (and rules.v6), DIR/packets.jsonl and DIR/GEN,
as gen_scenario.py does (whose host model and packet helpers it uses); run_ext2.py
runs them through the kernel and netfence.

A scenario is a host (gen_scenario.Host), sessions of traffic and a ruleset
written around them the way real firewalls (ufw, firewalld, kube-proxy, campus
gateways) write theirs:

* ssh brute force and port knocking: `recent` (--set/--rcheck/--update/--remove,
  --seconds, --hitcount, --rttl, --reap, --name, --rsource/--rdest, --mask);
* web clients opening several connections: `hashlimit` (srcip/dstip/srcport/
  dstport modes, masks, --hashlimit-upto/--hashlimit-above, burst,
  htable-expire/gcinterval), `connlimit` (above/upto, mask, saddr/daddr);
* pings and DNS: `limit`, `statistic --mode nth`, `CT --notrack`;
* SCTP associations with valid CRC32c (`sctp` ports and --chunk-types with
  flags), IPsec (`esp`/`ah` spi ranges), IPv6 packets with hop-by-hop,
  destination, routing and fragment headers (`frag`, `hbh`, `dst`, `rt`,
  `ipv6header`);
* SYNs with MSS options (`tcpmss`, `TCPMSS --set-mss/--clamp-mss-to-pmtu`),
  `NETMAP` both ways with the replies the mapping implies, `CT --zone`.

Every packet has a time `t`.  Times are chosen one packet at a time so that no
two packets that can meet in the same token bucket, recent entry or hashlimit
entry are near an edge: a whole number of token intervals apart, the
`--seconds` of a recent check apart, or around a hashlimit entry's expiry (whose
garbage collector runs at a moment the packets do not decide).  The kernel run
is then exact up to its scheduling delay (kernel_sim's timing_ok).

Its random stream is its own ("ext2-SEED"): the plain generator's seeds are
untouched.
"""

import argparse
import json
import os
import ipaddress
import random
import struct
import sys

from scapy.layers.inet import IP, TCP, UDP, ICMP
from scapy.layers.inet6 import (IPv6, IPv6ExtHdrHopByHop, IPv6ExtHdrDestOpt, IPv6ExtHdrRouting,
                                IPv6ExtHdrFragment, ICMPv6EchoRequest, ICMPv6EchoReply, PadN,
                                RouterAlert)
from scapy.layers.sctp import (SCTP, SCTPChunkInit, SCTPChunkInitAck, SCTPChunkCookieEcho,
                               SCTPChunkCookieAck, SCTPChunkData, SCTPChunkSACK,
                               SCTPChunkHeartbeatReq, SCTPChunkParamHeartbeatInfo,
                               SCTPChunkParamStateCookie, SCTPChunkAbort, SCTPChunkShutdown,
                               SCTPChunkShutdownAck, SCTPChunkShutdownComplete)
from scapy.packet import Raw

import gen_scenario as gs

EPS = 0.06            # seconds kept between two packets and any timing edge
MIN_GAP = 0.03        # kernel_sim needs a few ms per packet
GC_SLACK = 0.4        # how late the kernel's deferrable hashlimit gc may run
MAX_T = 8.0           # a scenario's last packet leaves before this (seconds)

TOKEN_RATES = [('1/sec', 1.0), ('1/s', 1.0), ('2/second', 2.0), ('30/minute', 0.5), ('20/min', 1 / 3.0),
               ('12/minute', 0.2), ('3/hour', 3 / 3600.0), ('1/m', 1 / 60.0)]
HL_RATES = [('1/sec', 1.0), ('2/sec', 2.0), ('30/min', 0.5), ('20/minute', 1 / 3.0),
            ('6/min', 0.1), ('100/hour', 100 / 3600.0)]


class Ev(dict):
    """One packet: fam, kind (in/fwd/out), iface or local, src, dst, proto, sport, dport,
    data (bytes), hint (tight: a reply or next step of an exchange)."""


class Session:
    def __init__(self, kind, fam, events):
        self.kind = kind
        self.fam = fam
        self.events = events
        self.i = 0


class TRule:
    """A timing-sensitive rule: which packets can reach it, the bucket key they
    use, and the edges to keep away from."""

    def __init__(self, fam, kinds, proto=None, dport=None, key=None, periods=(), windows=()):
        self.fam = fam
        self.kinds = set(kinds)
        self.proto = proto
        self.dport = dport
        self.key = key or (lambda e: ())
        self.periods = list(periods)
        self.windows = list(windows)

    def touches(self, e):
        if e['fam'] != self.fam or e['kind'] not in self.kinds:
            return False
        if self.proto and e['proto'] != self.proto:
            return False
        if self.dport is not None and e.get('dport') != self.dport:
            return False
        return True

    def bad(self, d):
        for r in self.periods:
            m = round(d * r)
            if m >= 1 and abs(d * r - m) < r * EPS:
                return True
        return any(lo <= d <= hi for lo, hi in self.windows)


def _mask_addr(a, plen):
    a = ipaddress.ip_address(a)
    n = ipaddress.ip_network('%s/%d' % (a, plen), strict=False)
    return str(n.network_address)


class Ext2:
    def __init__(self, seed, v6=None, npackets=None, exclude=()):
        self.seed = seed
        self.exclude = set(exclude or ())
        self.r = r = random.Random('ext2-%d' % seed)
        self.v6 = (r.random() < 0.5) if v6 is None else v6
        self.h = gs.Host(r, self.v6)
        self.h.forwarding = self.h.forwarding or r.random() < 0.6
        self.ct = {4: r.random() < 0.6, 6: r.random() < 0.45}
        self.npackets = npackets or r.randint(25, 45)
        self.port = r.randrange(20000, 40000)
        self.ipid = r.randrange(1, 60000)
        self.sessions = []
        self.trules = []
        self.tables = {}
        self.policies = {}
        self.user_chains = {}
        self.names = 0
        self.ext2 = True
        self.specs = []

    # -- helpers --------------------------------------------------------------

    def excluded(self, text):
        toks = text.split()
        for i, t in enumerate(toks[:-1]):
            if t in ('-m', '--match', '-j', '--jump', '-p') and toks[i + 1] in self.exclude:
                return True
        return False

    def next_port(self):
        self.port += self.r.randrange(1, 9)
        if self.port > 65000:
            self.port = 20000 + self.r.randrange(100)
        return self.port

    def fams(self):
        return [4, 6] if self.v6 else [4]

    def ifaces(self, fam):
        return [f for f in self.h.ifaces if fam == 4 or f.addr6]

    def laddr(self, f, fam):
        return f.addr4 if fam == 4 else f.addr6

    def gw(self, fam):
        return self.h.gw4 if fam == 4 else self.h.gw6

    def client(self, fam, f=None):
        """(iface, address) of a host that sends to us."""
        r, h = self.r, self.h
        f = f or r.choice(self.ifaces(fam))
        if f is h.uplink and self.gw(fam) and r.random() < 0.5:
            return f, h.remote(fam)
        return f, h.neighbor(f, fam)

    def server(self, fam, cf):
        """('in', local address, None) or ('fwd', address, out iface) for a client on cf."""
        r, h = self.r, self.h
        others = [g for g in self.ifaces(fam) if g is not cf]
        if h.forwarding and others and r.random() < 0.45:
            g = r.choice(others)
            return 'fwd', h.neighbor(g, fam), g
        return 'in', self.laddr(r.choice([cf] * 3 + self.ifaces(fam)), fam), None

    def add(self, table, chain, rule, fam, front=False):
        if self.excluded(rule):
            return
        c = self.tables.setdefault(fam, {}).setdefault(table, {}).setdefault(chain, [])
        if front:
            c.insert(0, rule)
        else:
            c.append(rule)

    def state_new(self, fam, proto):
        r = self.r
        if self.ct[fam]:
            return r.choice(['-m conntrack --ctstate NEW', '-m state --state NEW'])
        return '--syn' if proto == 'tcp' else ''

    def name(self, base):
        self.names += 1
        return '%s%s' % (base, '' if self.names == 1 and self.r.random() < 0.5 else self.names)

    # -- packets --------------------------------------------------------------

    def ipl(self, fam, src, dst, ttl=64, tos=0, ext=None):
        if fam == 4:
            self.ipid = (self.ipid + self.r.randrange(1, 30)) & 0xffff or 1
            return IP(src=str(src), dst=str(dst), ttl=ttl, tos=tos, id=self.ipid,
                      flags='DF' if self.r.random() < 0.6 else 0)
        ip = IPv6(src=str(src), dst=str(dst), hlim=ttl, tc=tos)
        for x in ext or ():
            ip = ip / x
        return ip

    def ev(self, fam, where, src, dst, proto, l4, sport=None, dport=None, hint='free', ttl=64,
           ext=None, tos=0, pl=b'', **kw):
        pkt = self.ipl(fam, src, dst, ttl, tos, ext) / l4
        if pl:
            pkt = pkt / Raw(pl)
        if proto in ('esp', 'ah'):
            _set_l4proto(pkt, {'esp': 50, 'ah': 51}[proto])
        e = Ev(fam=fam, src=ipaddress.ip_address(src), dst=ipaddress.ip_address(dst), proto=proto,
               sport=sport, dport=dport, hint=hint, data=bytes(pkt))
        e.update(where)
        e.update(kw)
        return e

    def tcp(self, fam, where, src, dst, sport, dport, flags, seq, ack=0, pl=b'', mss=None, hint='free',
            opts=None, **kw):
        o = list(opts or [])
        if mss is not None:
            o = [('MSS', mss)] + o
        l4 = TCP(sport=sport, dport=dport, flags=flags, seq=seq & 0xffffffff,
                 ack=(ack & 0xffffffff) if 'A' in flags else 0, window=64240, options=o)
        return self.ev(fam, where, src, dst, 'tcp', l4, sport, dport, hint, pl=pl, **kw)

    def conn(self, fam, cw, sw, c, s, sport, dport, shape, mss=None, opts=None, pl=b'hello', **kw):
        """A TCP connection's packets: cw/sw where the client's / server's packets enter."""
        r = self.r
        x, y = r.randrange(1 << 32), r.randrange(1 << 32)
        out = [self.tcp(fam, cw, c, s, sport, dport, 'S', x, mss=mss, opts=opts, **kw)]
        if shape == 'syn':
            return out
        out.append(self.tcp(fam, sw, s, c, dport, sport, 'SA', y, x + 1, mss=1460, hint='tight', **kw))
        if shape == 'refused':
            out[-1] = self.tcp(fam, sw, s, c, dport, sport, 'RA', 0, x + 1, hint='tight', **kw)
            return out
        out.append(self.tcp(fam, cw, c, s, sport, dport, 'A', x + 1, y + 1, hint='tight', **kw))
        if shape == 'open':
            return out
        out.append(self.tcp(fam, cw, c, s, sport, dport, 'PA', x + 1, y + 1, pl=pl, hint='tight', **kw))
        out.append(self.tcp(fam, sw, s, c, dport, sport, 'A', y + 1, x + 1 + len(pl), hint='tight', **kw))
        if shape == 'data':
            return out
        if shape == 'rst':
            out.append(self.tcp(fam, cw, c, s, sport, dport, 'R', x + 1 + len(pl), hint='tight', **kw))
            return out
        x2 = x + 1 + len(pl)
        out.append(self.tcp(fam, cw, c, s, sport, dport, 'FA', x2, y + 1, hint='tight', **kw))
        out.append(self.tcp(fam, sw, s, c, dport, sport, 'FA', y + 1, x2 + 1, hint='tight', **kw))
        out.append(self.tcp(fam, cw, c, s, sport, dport, 'A', x2 + 1, y + 2, hint='tight', **kw))
        return out

    def where_client(self, f):
        return {'kind': 'in', 'iface': f.name}

    def sides(self, fam, cf, skind, s, g):
        """Where client and server packets enter: (client where, server where)."""
        if skind == 'in':
            return {'kind': 'in', 'iface': cf.name}, {'kind': 'out', 'local': True, 'uid': 0, 'gid': 0}
        return {'kind': 'fwd', 'iface': cf.name}, {'kind': 'fwd', 'iface': g.name}

    def shape(self):
        return gs._weighted(self.r, [('syn', 2), ('open', 2), ('data', 2), ('rst', 1), ('fin', 2),
                                     ('refused', 1)])

    # -- sessions and their rules ----------------------------------------------

    def s_ssh(self, fam):
        """Brute force on ssh; `recent` lists as ufw's limit and the classic howtos do."""
        r = self.r
        name = self.name(r.choice(['SSH', 'sshbrute', 'DEFAULT', 'ssh_attempts']))
        port = r.choice([22, 22, 2222])
        cf, _ = self.client(fam)
        skind, s, g = self.server(fam, cf)
        chain = 'INPUT' if skind == 'in' else 'FORWARD'
        kinds = ('in',) if skind == 'in' else ('fwd',)
        srcs = [self.client(fam, cf)[1] for _ in range(r.randint(1, 3))]
        evs = []
        cw, sw = self.sides(fam, cf, skind, s, g)
        for c in srcs:
            ttl = r.choice([64, 64, 63, 128])
            for _ in range(r.randint(2, 6)):
                sh = r.choice(['syn', 'rst', 'refused', 'fin']) if self.ct[fam] else 'syn'
                cs = self.conn(fam, cw, sw, c, s, self.next_port(), port, sh)
                for e in cs:
                    if e['src'] == c:
                        e['data'] = _set_ttl(e['data'], ttl)
                evs += cs
        self.sessions.append(Session('ssh', fam, evs))
        # rules
        maxp = 32 if fam == 4 else 128
        plen = r.choice([maxp, maxp, maxp, 24 if fam == 4 else 64])
        mask = ''
        if plen != maxp or r.random() < 0.3:
            mask = ' --mask %s' % (str(ipaddress.ip_network('::/%d' % plen).netmask) if fam == 6 else
                                   str(ipaddress.ip_network('0.0.0.0/%d' % plen).netmask))
        side = r.choice(['', ' --rsource', ' --rsource', ' --rdest']) if chain == 'FORWARD' else \
            r.choice(['', ' --rsource'])
        rdest = side == ' --rdest'
        seconds = r.choice([1, 2, 3, 4, 60])
        hit = r.choice([0, 2, 3, 4, 4, 6])
        new = self.state_new(fam, 'tcp')
        pre = '-p tcp -m tcp --dport %d %s' % (port, new)
        upd = r.choice(['--update', '--rcheck'])
        rttl = ' --rttl' if r.random() < 0.2 else ''
        reap = ' --reap' if r.random() < 0.15 else ''
        chk = '%s -m recent %s --seconds %d%s%s%s --name %s%s%s' % (
            pre, upd, seconds, ' --hitcount %d' % hit if hit else '', rttl, reap, name, mask, side)
        setr = '%s -m recent --set --name %s%s%s' % (pre, name, mask, side)
        tgt = r.choice(['-j DROP', '-j REJECT --reject-with tcp-reset', '-j LOG_DROP'])
        if tgt == '-j LOG_DROP':
            uc = 'ufw-user-limit' if r.random() < 0.5 else 'LOG_DROP_%d' % self.names
            self.user_chains.setdefault(fam, {}).setdefault('filter', {})[uc] = [
                '-m limit --limit 3/min --limit-burst 10 -j LOG --log-prefix "[%s] "' % uc[:20],
                '-j REJECT --reject-with %s' % ('icmp-port-unreachable' if fam == 4 else 'icmp6-port-unreachable')]
            tgt = '-j ' + uc
        if r.random() < 0.5:
            self.add('filter', chain, setr, fam)
            self.add('filter', chain, chk + ' ' + tgt, fam)
        else:   # the other common order: check first, then set
            self.add('filter', chain, chk + ' ' + tgt, fam)
            self.add('filter', chain, setr + (' -j ACCEPT' if r.random() < 0.5 else ''), fam)
        if r.random() < 0.3:
            self.add('filter', chain, '-p tcp --tcp-flags RST RST -m recent --remove --name %s%s%s'
                     % (name, mask, side), fam)
        keyf = _recent_key(name, rdest, plen)
        self.trules.append(TRule(fam, kinds, 'tcp', None, keyf,
                                 windows=[(seconds - EPS, seconds + EPS)]))
        if '--limit 3/min' in tgt or tgt.startswith('-j ufw') or tgt.startswith('-j LOG_DROP'):
            self.trules.append(TRule(fam, kinds, 'tcp', port, periods=[0.05]))

    def s_knock(self, fam):
        """Port knocking: a UDP knock opens ssh for a few seconds."""
        r = self.r
        cf, c = self.client(fam)
        s = self.laddr(cf, fam)
        kport = r.choice([7000, 1111, 4444])
        name = self.name('KNOCK')
        secs = r.choice([1, 2, 3])
        evs = []
        cw = {'kind': 'in', 'iface': cf.name}
        for _ in range(r.randint(2, 4)):
            if r.random() < 0.6:
                evs.append(self.ev(fam, cw, c, s, 'udp', UDP(sport=self.next_port(), dport=kport),
                                   0, kport, pl=b'knock'))
            elif r.random() < 0.7:
                evs.append(self.ev(fam, cw, c, s, 'udp', UDP(sport=self.next_port(), dport=kport + 1),
                                   0, kport + 1, pl=b'wrong'))
            for _ in range(r.randint(1, 2)):
                evs.append(self.tcp(fam, cw, c, s, self.next_port(), 22, 'S', r.randrange(1 << 32),
                                    mss=1460))
        self.sessions.append(Session('knock', fam, evs))
        self.add('filter', 'INPUT', '-p udp -m udp --dport %d -m recent --set --name %s --rsource -j DROP'
                 % (kport, name), fam)
        self.add('filter', 'INPUT', '-p udp -m udp --dport %d -m recent --remove --name %s -j DROP'
                 % (kport + 1, name), fam)
        self.add('filter', 'INPUT', '-p tcp -m tcp --dport 22 -m recent --rcheck --seconds %d --name %s '
                 '--rsource -j ACCEPT' % (secs, name), fam)
        if r.random() < 0.5:
            self.add('filter', 'INPUT', '-p tcp -m tcp --dport 22 -j DROP', fam)
        self.trules.append(TRule(fam, ('in',), None, None, _recent_key(name, False, 128),
                                 windows=[(secs - EPS, secs + EPS)]))

    def s_web(self, fam):
        """Clients opening several connections to a web server: hashlimit and connlimit."""
        r = self.r
        cf, _ = self.client(fam)
        skind, s, g = self.server(fam, cf)
        chain = 'INPUT' if skind == 'in' else 'FORWARD'
        kinds = ('in',) if skind == 'in' else ('fwd',)
        port = r.choice([80, 443, 8080])
        cw, sw = self.sides(fam, cf, skind, s, g)
        evs = []
        nclients = r.randint(1, 3)
        same_net = r.random() < 0.4
        base = self.client(fam, cf)[1]
        for k in range(nclients):
            if same_net and k:
                c = ipaddress.ip_address(int(base) ^ (k * 3)) if fam == 4 else \
                    ipaddress.ip_address(int(base) ^ (k * 0x11))
                kd, _ = self.h.route(c)
                if kd != 'out' or c in (self.laddr(f, fam) for f in self.ifaces(fam)):
                    c = base
            else:
                c = self.client(fam, cf)[1]
            for _ in range(r.randint(1, 7)):
                evs += self.conn(fam, cw, sw, c, s, self.next_port(), port, self.shape(),
                                 mss=r.choice([None, 1460, 1440]))
        self.sessions.append(Session('web', fam, evs))
        new = self.state_new(fam, 'tcp')
        pre = '-p tcp -m tcp --dport %d %s' % (port, new)
        hl_first = r.random() < 0.5
        if hl_first and r.random() < 0.75:
            self._hashlimit(fam, chain, kinds, pre, 'tcp', port)
        if self.ct[fam] and r.random() < 0.7:
            maxp = 32 if fam == 4 else 128
            mask = r.choice(['', '', ' --connlimit-mask %d' % (24 if fam == 4 else 64),
                             ' --connlimit-mask %d' % maxp, ' --connlimit-mask 16'])
            side = r.choice(['', '', ' --connlimit-saddr', ' --connlimit-daddr'])
            n = r.choice([1, 1, 2, 3])
            if r.random() < 0.6:
                tgt = r.choice(['-j REJECT --reject-with tcp-reset', '-j DROP'])
                rule = '-p tcp -m tcp --dport %d --tcp-flags FIN,SYN,RST,ACK SYN -m connlimit ' \
                       '--connlimit-above %d%s%s %s' % (port, n, mask, side, tgt)
            else:
                rule = '-p tcp -m tcp --dport %d -m connlimit --connlimit-upto %d%s%s -j ACCEPT' % (
                    port, n, mask, side)
            self.add('filter', chain, rule, fam)
        if not hl_first and r.random() < 0.75:
            self._hashlimit(fam, chain, kinds, pre, 'tcp', port)
        if r.random() < 0.5:
            self.add('filter', chain, '-p tcp -m tcp --dport %d -j ACCEPT' % port, fam)

    def _hashlimit(self, fam, chain, kinds, pre, proto, port, table='filter'):
        r = self.r
        modes = r.choice([['srcip'], ['srcip'], ['dstip'], ['srcip', 'dstport'], ['dstport'],
                          ['srcport'], ['srcip', 'dstip'], []])
        rate, rps = r.choice(HL_RATES)
        above = r.random() < 0.4
        burst = r.choice([None, 1, 2, 3, 5] if not above else [1, 2, 3])
        name = self.name(r.choice(['http', 'hl', 'per_ip', 'ratelimit']))[:15]
        expire = r.choice([None, None, 1000, 1500, 2000, 3000])
        gci = r.choice([None, None, 250, 500])
        maxp = 32 if fam == 4 else 128
        sm = r.choice([None, None, 24 if fam == 4 else 64, maxp]) if 'srcip' in modes else None
        dm = r.choice([None, None, 16 if fam == 4 else 48]) if 'dstip' in modes else None
        o = '-m hashlimit --hashlimit-%s %s' % ('above' if above else 'upto', rate)
        if burst:
            o += ' --hashlimit-burst %d' % burst
        if modes:
            o += ' --hashlimit-mode %s' % ','.join(modes)
        if sm is not None:
            o += ' --hashlimit-srcmask %d' % sm
        if dm is not None:
            o += ' --hashlimit-dstmask %d' % dm
        o += ' --hashlimit-name %s' % name
        if expire:
            o += ' --hashlimit-htable-expire %d' % expire
        if gci:
            o += ' --hashlimit-htable-gcinterval %d' % gci
        tgt = '-j DROP' if above else '-j ACCEPT'
        self.add(table, chain, '%s %s %s' % (pre, o, tgt), fam)
        if not above and r.random() < 0.7:
            self.add(table, chain, '%s -j DROP' % pre, fam)
        exp = (expire or 10000) / 1000.0
        gcs = (gci or 1000) / 1000.0
        self.trules.append(TRule(fam, kinds, proto, port, _hl_key(modes, sm or maxp, dm or maxp),
                                 periods=[rps], windows=[(exp - EPS, exp + gcs + GC_SLACK)]))

    def s_ping(self, fam):
        r = self.r
        cf, c = self.client(fam)
        skind, s, g = self.server(fam, cf)
        chain = 'INPUT' if skind == 'in' else 'FORWARD'
        kinds = ('in',) if skind == 'in' else ('fwd',)
        cw, sw = self.sides(fam, cf, skind, s, g)
        evs = []
        ident = self.next_port()
        srcs = [c] + ([self.client(fam, cf)[1]] if r.random() < 0.4 else [])
        for seq in range(1, r.randint(4, 9)):
            c = r.choice(srcs)
            if fam == 4:
                evs.append(self.ev(fam, cw, c, s, 'icmp', ICMP(type=8, id=ident, seq=seq), pl=b'ping' * 8))
                rep = ICMP(type=0, id=ident, seq=seq)
            else:
                evs.append(self.ev(fam, cw, c, s, 'icmp', ICMPv6EchoRequest(id=ident, seq=seq),
                                   pl=b'ping' * 8))
                rep = ICMPv6EchoReply(id=ident, seq=seq)
            if r.random() < 0.5:
                evs.append(self.ev(fam, sw, s, c, 'icmp', rep, pl=b'ping' * 8, hint='tight'))
        self.sessions.append(Session('ping', fam, evs))
        rate, rps = r.choice(TOKEN_RATES)
        burst = r.choice([None, 1, 2, 4])
        typ = '-p icmp -m icmp --icmp-type 8' if fam == 4 else '-p ipv6-icmp -m icmp6 --icmpv6-type 128'
        if r.random() < 0.5:
            typ = '-p icmp -m icmp --icmp-type echo-request' if fam == 4 else \
                '-p ipv6-icmp -m icmp6 --icmpv6-type echo-request'
        lim = '-m limit --limit %s%s' % (rate, ' --limit-burst %d' % burst if burst else '')
        c = r.random()
        if c < 0.6:
            self.add('filter', chain, '%s %s -j ACCEPT' % (typ, lim), fam)
            self.add('filter', chain, '%s -j DROP' % typ, fam)
            self.trules.append(TRule(fam, kinds, 'icmp', None, periods=[rps]))
        elif c < 0.8:
            self._hashlimit(fam, chain, kinds, typ, 'icmp', None)
        else:
            self.add('filter', chain, '%s -m statistic --mode nth --every %d%s -j DROP' % (
                typ, r.choice([2, 3, 4]), r.choice(['', ' --packet 0', ' --packet 1'])), fam)

    def s_dns(self, fam):
        r = self.r
        cf, c = self.client(fam)
        skind, s, g = self.server(fam, cf)
        chain = 'INPUT' if skind == 'in' else 'FORWARD'
        kinds = ('in',) if skind == 'in' else ('fwd',)
        cw, sw = self.sides(fam, cf, skind, s, g)
        evs = []
        for _ in range(r.randint(3, 8)):
            sp = self.next_port()
            evs.append(self.ev(fam, cw, c, s, 'udp', UDP(sport=sp, dport=53), sp, 53, pl=b'\x12\x34\x01\x00query'))
            if r.random() < 0.6:
                evs.append(self.ev(fam, sw, s, c, 'udp', UDP(sport=53, dport=sp), 53, sp,
                                   pl=b'\x12\x34\x81\x80answer', hint='tight'))
        self.sessions.append(Session('dns', fam, evs))
        if self.ct[fam] and r.random() < 0.5:
            self.add('raw', 'PREROUTING', '-p udp -m udp --dport 53 -j CT --notrack', fam)
            self.add('raw', 'OUTPUT', '-p udp -m udp --sport 53 -j CT --notrack', fam)
            if skind == 'fwd':
                self.add('raw', 'PREROUTING', '-p udp -m udp --sport 53 -j CT --notrack', fam)
            self.add('filter', chain, '-m conntrack --ctstate UNTRACKED -p udp -j ACCEPT'
                     if r.random() < 0.5 else '-m state --state UNTRACKED -j ACCEPT', fam)
        c = r.random()
        if c < 0.4:
            self.add('filter', chain, '-p udp -m udp --dport 53 -m statistic --mode nth --every %d '
                     '--packet %d -j DROP' % (r.choice([2, 3, 5]), r.choice([0, 1])), fam)
        elif c < 0.8:
            self._hashlimit(fam, chain, kinds, '-p udp -m udp --dport 53', 'udp', 53)

    def s_sctp(self, fam):
        r = self.r
        cf, c = self.client(fam)
        skind, s, g = self.server(fam, cf)
        chain = 'INPUT' if skind == 'in' else 'FORWARD'
        cw, sw = self.sides(fam, cf, skind, s, g)
        port = r.choice([5060, 3868, 2905, 36412, 9899])
        evs = []
        for _ in range(r.randint(1, 2)):
            sp = r.choice([5060, 3868, 2905]) if r.random() < 0.3 else self.next_port()
            a, b = r.randrange(1, 1 << 32), r.randrange(1, 1 << 32)
            ta, tb = r.randrange(1 << 32), r.randrange(1 << 32)
            cookie = bytes(r.randrange(256) for _ in range(16))

            def C(*chunks, hint='tight'):
                return self.ev(fam, cw, c, s, 'sctp', _sctp(sp, port, b, chunks), sp, port, hint=hint)

            def S(*chunks, hint='tight'):
                return self.ev(fam, sw, s, c, 'sctp', _sctp(port, sp, a, chunks), port, sp, hint=hint)
            evs.append(self.ev(fam, cw, c, s, 'sctp', _sctp(sp, port, 0, [SCTPChunkInit(
                init_tag=a, a_rwnd=65535, n_out_streams=10, n_in_streams=10, init_tsn=ta)]), sp, port))
            steps = r.choice([1, 3, 5, 7])
            if steps >= 2:
                evs.append(S(SCTPChunkInitAck(init_tag=b, a_rwnd=65535, n_out_streams=10, n_in_streams=10,
                                              init_tsn=tb,
                                              params=[SCTPChunkParamStateCookie(cookie=cookie)])))
            if steps >= 3:
                ch = [SCTPChunkCookieEcho(cookie=cookie)]
                if r.random() < 0.5:
                    ch.append(SCTPChunkData(tsn=ta, stream_id=0, stream_seq=0, proto_id=46,
                                            data=b'diameter', beginning=1, ending=1))
                evs.append(C(*ch))
                evs.append(S(SCTPChunkCookieAck()))
            if steps >= 5:
                evs.append(C(SCTPChunkData(tsn=ta + 1, stream_id=1, stream_seq=0, proto_id=0,
                                           data=b'INVITE sip:x', beginning=1, ending=r.choice([0, 1]),
                                           unordered=r.choice([0, 1])), hint='free'))
                evs.append(S(SCTPChunkSACK(cumul_tsn_ack=ta + 1, a_rwnd=65535)))
                if r.random() < 0.5:
                    evs.append(C(SCTPChunkHeartbeatReq(params=[SCTPChunkParamHeartbeatInfo(data=b'hb' * 4)]),
                                 hint='free'))
            if steps >= 7:
                if r.random() < 0.5:
                    evs.append(C(SCTPChunkShutdown(cumul_tsn_ack=tb)))
                    evs.append(S(SCTPChunkShutdownAck()))
                    evs.append(C(SCTPChunkShutdownComplete()))
                else:
                    evs.append(C(SCTPChunkAbort()))
        self.sessions.append(Session('sctp', fam, evs))
        for _ in range(r.randint(1, 3)):
            self.add('filter', chain, self._sctp_rule(port, r), fam)

    def _sctp_rule(self, port, r):
        o = '-p sctp -m sctp'
        c = r.random()
        if c < 0.5:
            o += ' --dport %d' % port if r.random() < 0.7 else ' --dport %d:%d' % (port - 10, port + 100)
        elif c < 0.7:
            o += ' --sport 1024:65535'
        elif c < 0.8:
            o += ' ! --dport %d' % (port + 1)
        if r.random() < 0.7:
            how = r.choice(['any', 'all', 'only'])
            pool = ['INIT', 'INIT', 'INIT_ACK', 'COOKIE_ECHO', 'COOKIE_ECHO', 'COOKIE_ACK', 'DATA', 'DATA',
                    'SACK', 'HEARTBEAT', 'ABORT', 'SHUTDOWN', 'SHUTDOWN_ACK', 'SHUTDOWN_COMPLETE', 'ERROR']
            types = sorted(set(r.sample(pool, r.randint(1, 3))), key=pool.index)
            if how == 'only' and r.random() < 0.5:
                types = r.choice([['DATA', 'SACK'], ['COOKIE_ECHO', 'DATA'], ['INIT'], ['COOKIE_ECHO']])
            if r.random() < 0.25:
                types = [t + (':' + r.choice(['B', 'E', 'BE', 'U', 'u', 'Ue', 'b']) if t == 'DATA' else
                              ':' + r.choice(['T', 't']) if t in ('ABORT', 'SHUTDOWN_COMPLETE') else '')
                         for t in types]
            if r.random() < 0.1:
                types = ['ALL'] if how != 'only' else ['NONE']
            o += ' %s--chunk-types %s %s' % ('! ' if r.random() < 0.1 else '', how, ','.join(types))
        return o + ' ' + r.choice(['-j ACCEPT', '-j DROP', '-j ACCEPT', '-j LOG --log-prefix "sctp "'])

    def s_ipsec(self, fam):
        r = self.r
        cf, c = self.client(fam)
        skind, s, g = self.server(fam, cf)
        chain = 'INPUT' if skind == 'in' else 'FORWARD'
        cw, sw = self.sides(fam, cf, skind, s, g)
        evs = []
        spis = [r.choice([r.randrange(1, 1000), r.randrange(1 << 32), 0x1000 + r.randrange(64), 256])
                for _ in range(2)]
        for k in range(r.randint(2, 5)):
            spi = r.choice(spis)
            if r.random() < 0.6:
                evs.append(self.ev(fam, cw, c, s, 'esp', Raw(struct.pack('>II', spi, k + 1) +
                                                            bytes(r.randrange(256) for _ in range(24)))))
            else:
                inner = bytes(TCP(sport=self.next_port(), dport=443, flags='A', seq=1, ack=1))
                ah = struct.pack('>BBHII', 6, 4, 0, spi, k + 1) + bytes(12)
                evs.append(self.ev(fam, cw, c, s, 'ah', Raw(ah + inner)))
        self.sessions.append(Session('ipsec', fam, evs))
        for _ in range(r.randint(1, 3)):
            spi = r.choice(spis)
            if r.random() < 0.5:
                lo = max(0, spi - r.randrange(0, 50))
                hi = min((1 << 32) - 1, spi + r.randrange(0, 500))
                sp = '%d:%d' % (lo, hi) if r.random() < 0.7 else '%d' % spi
            else:
                sp = '%d' % spi
            inv = '! ' if r.random() < 0.15 else ''
            if r.random() < 0.5:
                rule = '-p esp -m esp %s--espspi %s' % (inv, sp)
            elif fam == 4:
                rule = '-p ah -m ah %s--ahspi %s' % (inv, sp)
            else:
                rule = '-m ah %s--ahspi %s' % (inv, sp)
                if r.random() < 0.3:
                    rule += ' --ahlen 4' if r.random() < 0.5 else ' ! --ahlen 3'
                if r.random() < 0.2:
                    rule += ' --ahres'
            self.add('filter', chain, rule + ' ' + r.choice(['-j ACCEPT', '-j DROP', '-j RETURN']), fam)

    def s_v6ext(self, fam):
        if fam != 6:
            return
        r = self.r
        cf, c = self.client(6)
        skind, s, g = self.server(6, cf)
        chain = r.choice(['INPUT' if skind == 'in' else 'FORWARD', 'PREROUTING'])
        table = 'filter' if chain != 'PREROUTING' else r.choice(['mangle', 'raw'])
        cw, sw = self.sides(6, cf, skind, s, g)
        evs = []
        for _ in range(r.randint(3, 7)):
            ext = []
            kinds = r.sample(['hbh', 'dst', 'rt', 'frag', 'dst2'], r.randint(1, 3))
            if 'hbh' in kinds:
                ext.append(IPv6ExtHdrHopByHop(options=[RouterAlert(value=0)] if r.random() < 0.4 else
                                              [PadN(optdata=b'\0' * 4)]))
            if 'dst' in kinds:
                ext.append(IPv6ExtHdrDestOpt(options=[PadN(optdata=b'\0' * r.choice([2, 4, 10]))]))
            if 'rt' in kinds:
                n = r.choice([1, 2])
                ext.append(IPv6ExtHdrRouting(type=r.choice([0, 0, 2]) if n == 1 else 0, segleft=0,
                                             addresses=[str(c)] * n if r.random() < 0.5 else
                                             ['2001:db8::%x' % (i + 1) for i in range(n)]))
            if 'frag' in kinds:
                ext.append(IPv6ExtHdrFragment(offset=0, m=0, id=r.randrange(1, 1 << 32) if r.random() < 0.5
                                              else r.randrange(1, 1000)))
            if 'dst2' in kinds and 'dst' not in kinds:
                ext.append(IPv6ExtHdrDestOpt(options=[PadN(optdata=b'\0' * 4)]))
            p = r.random()
            if p < 0.4:
                sp = self.next_port()
                evs.append(self.ev(6, cw, c, s, 'udp', UDP(sport=sp, dport=r.choice([53, 500, 4500])), sp, None,
                                   ext=ext, pl=b'ext-hdr-test'))
            elif p < 0.7:
                sp = self.next_port()
                evs.append(self.ev(6, cw, c, s, 'tcp', TCP(sport=sp, dport=80, flags='S', seq=r.randrange(1 << 32)),
                                   sp, 80, ext=ext))
            elif p < 0.9:
                evs.append(self.ev(6, cw, c, s, 'icmp', ICMPv6EchoRequest(id=7, seq=r.randrange(100)), ext=ext))
            else:
                e = self.ev(6, cw, c, s, 'none', Raw(b''), ext=ext)
                b = bytearray(e['data'])
                _set_last_nh(b, 59)
                e['data'] = bytes(b)
                evs.append(e)
        if r.random() < 0.5:
            # real fragments: without conntrack the rules see each one, with it
            # the reassembled datagram
            sp = self.next_port()
            base = bytes(IPv6(src=str(c), dst=str(s)) / UDP(sport=sp, dport=4500) / Raw(b'F' * 40))
            for fr in gs._v6_split(base, r):
                e = Ev(fam=6, src=c, dst=s, proto='udp', sport=None, dport=None, hint='tight', data=fr)
                e.update(cw)
                evs.append(e)
        self.sessions.append(Session('v6ext', 6, evs))
        for _ in range(r.randint(2, 4)):
            self.add(table, chain, self._v6ext_rule(r), 6)

    def _v6ext_rule(self, r):
        c = r.random()
        if c < 0.25:
            hs = r.sample(['hop-by-hop', 'hop', 'dst', 'route', 'frag', 'auth', 'esp', 'none', 'prot',
                           'ipv6-opts', 'ipv6-route', 'ipv6-frag', 'ipv6-nonxt'], r.randint(1, 3))
            o = '-m ipv6header %s--header %s%s' % ('! ' if r.random() < 0.15 else '', ','.join(hs),
                                                  ' --soft' if r.random() < 0.5 else '')
        elif c < 0.45:
            o = '-m frag'
            if r.random() < 0.5:
                o += ' --fragid %s' % r.choice(['0:1000', '1000:4294967295', '5', '! 0:100'])
            o += r.choice(['', ' --fraglen 8', ' --fragfirst', ' --fragmore', ' --fraglast',
                           ' --fragres', ' ! --fraglen 8'])
        elif c < 0.65:
            m = r.choice(['hbh', 'dst'])
            o = '-m %s' % m
            if r.random() < 0.6:
                o += ' %s--%s-len %d' % ('! ' if r.random() < 0.2 else '', m, r.choice([0, 1, 2]))
            if r.random() < 0.5:
                o += ' --%s-opts %s' % (m, r.choice(['1', '5', '1:4', '5:2', '1,5', '0']))
        elif c < 0.85:
            o = '-m rt'
            if r.random() < 0.6:
                o += ' %s--rt-type %d' % ('! ' if r.random() < 0.2 else '', r.choice([0, 2, 4]))
            if r.random() < 0.4:
                o += ' --rt-segsleft %s' % r.choice(['0', '0:1', '1:5', '! 0'])
            if r.random() < 0.3:
                o += ' --rt-len %d' % r.choice([2, 4])
            if r.random() < 0.2 and '--rt-type 0' in o and '!' not in o:
                o += ' --rt-0-res' if r.random() < 0.5 else ' --rt-0-addrs 2001:db8::1 --rt-0-not-strict'
        else:
            o = '-p udp -m udp --dport 4500' if r.random() < 0.5 else '-p ipv6-nonxt'
        return o + ' ' + r.choice(['-j ACCEPT', '-j DROP', '-j DROP', '-j RETURN', '-j MARK --set-mark 0x6'])

    def s_localout(self, fam):
        """Local clients: TCPMSS and tcpmss in OUTPUT / POSTROUTING, statistic on new connections."""
        r = self.r
        f = r.choice(self.ifaces(fam))
        if self.gw(fam) and r.random() < 0.5:
            d = self.h.remote(fam)
            kd, g = self.h.route(d)
        else:
            d = self.h.neighbor(f, fam)
            kd, g = 'out', f
        if kd != 'out' or g is None:
            return
        src = self.laddr(g, fam)
        evs = []
        u = r.choice(gs.USERS)
        cw = {'kind': 'out', 'local': True, 'uid': u[0], 'gid': u[1]}
        sw = {'kind': 'in', 'iface': g.name}
        for _ in range(r.randint(2, 5)):
            mss = r.choice([None, 1460, 1460, 1400, 536, 8960])
            opts = r.choice([[], [('SAckOK', b''), ('WScale', 7)], [('NOP', None), ('NOP', None),
                                                                   ('Timestamp', (1, 0))]])
            evs += self.conn(fam, cw, sw, src, d, self.next_port(), r.choice([443, 80, 25]),
                             r.choice(['syn', 'open', 'data']) if self.ct[fam] else 'syn', mss=mss, opts=opts)
        self.sessions.append(Session('localout', fam, evs))
        self._mss_rules(fam, r.choice(['OUTPUT', 'POSTROUTING']))
        if r.random() < 0.4:
            self.add('filter', 'OUTPUT', '-p tcp -m tcp --tcp-flags SYN,RST SYN -m statistic --mode nth '
                     '--every %d --packet %d -j %s' % (r.choice([2, 3]), r.choice([0, 1]),
                                                      r.choice(['DROP', 'ACCEPT'])), fam)

    def _mss_rules(self, fam, chain):
        r = self.r
        syn = '-p tcp -m tcp --tcp-flags SYN,RST SYN'
        if r.random() < 0.5:
            self.add('filter' if chain != 'POSTROUTING' else 'mangle', chain,
                     '%s -m tcpmss %s--mss %s -j %s' % (syn, '! ' if r.random() < 0.2 else '',
                                                       r.choice(['1400:1500', '536', '1:1300', '1460']),
                                                       r.choice(['DROP', 'ACCEPT', 'LOG'])), fam)
        if r.random() < 0.8:
            tgt = r.choice(['-j TCPMSS --clamp-mss-to-pmtu', '-j TCPMSS --set-mss %d' %
                            r.choice([1360, 1452, 1200, 536])])
            cond = syn if r.random() < 0.8 else syn + ' -m tcpmss --mss 1400:65535'
            self.add('mangle', chain, '%s%s %s' % (cond, ' -o %s' % r.choice(self.ifaces(fam)).name
                                                  if r.random() < 0.3 else '', tgt), fam)

    def s_fwdsyn(self, fam):
        """Clients behind the host: TCPMSS clamping in FORWARD (PPPoE-style) and tcpmss."""
        r, h = self.r, self.h
        if not h.forwarding or len(self.ifaces(fam)) < 2:
            return
        lans = [f for f in self.ifaces(fam) if f is not h.uplink]
        if not lans:
            return
        lf = r.choice(lans)
        if self.gw(fam) and r.random() < 0.6:
            d = h.remote(fam)
        else:
            d = h.neighbor(r.choice([f for f in self.ifaces(fam) if f is not lf]), fam)
        kd, g = h.route(d)
        if kd != 'out' or g is None or g is lf:
            return
        c = h.neighbor(lf, fam)
        cw = {'kind': 'fwd', 'iface': lf.name}
        sw = {'kind': 'fwd', 'iface': g.name}
        evs = []
        for _ in range(r.randint(2, 4)):
            evs += self.conn(fam, cw, sw, c, d, self.next_port(), r.choice([443, 80, 993]),
                             r.choice(['syn', 'open', 'data']) if self.ct[fam] else 'syn',
                             mss=r.choice([None, 1460, 1460, 1380, 9000]),
                             opts=r.choice([[], [('SAckOK', b'')]]))
        self.sessions.append(Session('fwdsyn', fam, evs))
        self._mss_rules(fam, 'FORWARD')

    def s_netmap(self, fam):
        """1:1 network mapping both ways (NETMAP), with replies to the mapped addresses."""
        r, h = self.r, self.h
        if fam != 4 or not self.ct[4] or not h.forwarding or not h.gw4 or len(h.ifaces) < 2 or \
                any(s.kind == 'netmap' for s in self.sessions):
            return
        wan = h.uplink
        lan = r.choice(h.ifaces[1:])
        plen = lan.net4.prefixlen
        if plen < 24:
            plen = 24
        real = ipaddress.ip_network('%s/%d' % (lan.addr4, plen), strict=False)
        # public twins outside every range Host gives addresses or remote peers from
        pub = ipaddress.ip_network('100.100.%d.0/%d' % (r.randrange(0, 256), plen), strict=False)
        evs = []
        # inbound: remote clients reach lan hosts through their public twins
        if r.random() < 0.8:
            self.add('nat', 'PREROUTING', '-d %s -i %s -j NETMAP --to %s' % (pub, wan.name, real), 4)
            for _ in range(r.randint(1, 3)):
                host = h.neighbor(lan, 4)
                if host not in real:
                    continue
                twin = pub.network_address + (int(host) - int(real.network_address))
                c = h.remote(4)
                sp = self.next_port()
                cw = {'kind': 'fwd', 'iface': wan.name}
                sw = {'kind': 'fwd', 'iface': lan.name}
                x = r.randrange(1 << 32)
                evs.append(self.tcp(4, cw, c, twin, sp, 80, 'S', x, mss=1460, nat=True))
                if r.random() < 0.8:
                    evs.append(self.tcp(4, sw, host, c, 80, sp, 'SA', 5, x + 1, hint='tight', nat=True))
                    evs.append(self.tcp(4, cw, c, twin, sp, 80, 'A', x + 1, 6, hint='tight', nat=True))
        # outbound: lan hosts leave as their public twins
        if r.random() < 0.8:
            self.add('nat', 'POSTROUTING', '-s %s -o %s -j NETMAP --to %s' % (real, wan.name, pub), 4)
            for _ in range(r.randint(1, 3)):
                host = h.neighbor(lan, 4)
                if host not in real:
                    continue
                twin = pub.network_address + (int(host) - int(real.network_address))
                d = h.remote(4)
                sp = self.next_port()
                cw = {'kind': 'fwd', 'iface': lan.name}
                sw = {'kind': 'fwd', 'iface': wan.name}
                if r.random() < 0.5:
                    evs.append(self.ev(4, cw, host, d, 'udp', UDP(sport=sp, dport=123), sp, 123,
                                       pl=b'\x23' + bytes(47), nat=True))
                    evs.append(self.ev(4, sw, d, twin, 'udp', UDP(sport=123, dport=sp), 123, sp,
                                       pl=b'\x24' + bytes(47), hint='tight', nat=True))
                else:
                    x = r.randrange(1 << 32)
                    evs.append(self.tcp(4, cw, host, d, sp, 443, 'S', x, mss=1460, nat=True))
                    evs.append(self.tcp(4, sw, d, twin, 443, sp, 'SA', 9, x + 1, hint='tight', nat=True))
        if evs:
            self.sessions.append(Session('netmap', 4, evs))
            self.add('filter', 'FORWARD', '-m conntrack --ctstate DNAT -j ACCEPT', 4)

    def s_zone(self, fam):
        """Conntrack zones per interface (CT --zone), with or without the reply direction."""
        r = self.r
        if not self.ct[fam]:
            return
        cf, c = self.client(fam)
        s = self.laddr(cf, fam)
        z = r.choice([1, 2, 10, 65535])
        self.add('raw', 'PREROUTING', '-i %s -j CT --zone %d' % (cf.name, z), fam)
        if r.random() < 0.6:
            self.add('raw', 'OUTPUT', '-o %s -j CT --zone %d' % (cf.name, z), fam)
        cw, sw = {'kind': 'in', 'iface': cf.name}, {'kind': 'out', 'local': True, 'uid': 0, 'gid': 0}
        evs = []
        for _ in range(r.randint(1, 3)):
            evs += self.conn(fam, cw, sw, c, s, self.next_port(), r.choice([22, 80, 8443]),
                             r.choice(['open', 'data', 'fin']))
        self.sessions.append(Session('zone', fam, evs))
        self.add('filter', 'INPUT', '-m conntrack --ctstate ESTABLISHED -j ACCEPT', fam)

    # -- assembly -------------------------------------------------------------------

    def build(self):
        r = self.r
        kinds = [('ssh', 3), ('knock', 1), ('web', 3), ('ping', 2), ('dns', 2), ('sctp', 2), ('ipsec', 1.5),
                 ('v6ext', 2.5), ('localout', 1.5), ('fwdsyn', 1.5), ('netmap', 1.5), ('zone', 1)]
        count = 0
        want = r.randint(3, 6)
        tries = 0
        while count < want and tries < 40:
            tries += 1
            k = gs._weighted(r, kinds)
            fam = r.choice(self.fams())
            if k == 'v6ext' and self.v6:
                fam = 6
            before = len(self.sessions)
            getattr(self, 's_' + k)(fam)
            count += len(self.sessions) > before
        # the firewall's frame around the rules aimed at the sessions
        for fam in self.fams():
            t = self.tables.setdefault(fam, {})
            flt = t.setdefault('filter', {})
            inp = flt.setdefault('INPUT', [])
            head = []
            if r.random() < 0.6:
                head.append('-i lo -j ACCEPT')
            if self.ct[fam]:
                if r.random() < 0.7:
                    head.append('-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT'
                                if r.random() < 0.5 else '-m state --state RELATED,ESTABLISHED -j ACCEPT')
                if r.random() < 0.5:
                    head.append('-m conntrack --ctstate INVALID -j DROP')
            flt['INPUT'] = head + inp
            if r.random() < 0.3:
                flt['INPUT'].append('-m limit --limit 1/s --limit-burst 3 -j LOG --log-prefix "[IN DROP] "')
                self.trules.append(TRule(fam, ('in',), periods=[1.0]))
            fwd = flt.setdefault('FORWARD', [])
            if self.ct[fam] and r.random() < 0.6:
                fwd.insert(0, '-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT')
            for c in ('INPUT', 'FORWARD'):
                self.policies[(fam, 'filter', c)] = r.choice(['ACCEPT', 'DROP'])
            self.policies[(fam, 'filter', 'OUTPUT')] = 'ACCEPT'

    def ruleset(self, fam):
        t = self.tables.get(fam, {})
        chains = {'raw': ['PREROUTING', 'OUTPUT'],
                  'mangle': ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
                  'nat': ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
                  'filter': ['INPUT', 'FORWARD', 'OUTPUT']}
        lines = []
        uc = self.user_chains.get(fam, {})
        for table in ('raw', 'mangle', 'nat', 'filter'):
            if table not in t and table not in uc:
                continue
            lines.append('*' + table)
            for c in chains[table]:
                lines.append(':%s %s [0:0]' % (c, self.policies.get((fam, table, c), 'ACCEPT')))
            for c in uc.get(table, {}):
                lines.append(':%s - [0:0]' % c)
            for c, rules in t.get(table, {}).items():
                for x in rules:
                    lines.append('-A %s %s' % (c, x))
            for c, rules in uc.get(table, {}).items():
                for x in rules:
                    lines.append('-A %s %s' % (c, x))
            lines.append('COMMIT')
        return '\n'.join(lines) + '\n'

    def schedule(self):
        """Interleave the sessions' packets and give each a time away from every edge."""
        r = self.r
        pending = list(self.sessions)
        r.shuffle(pending)
        active = []
        order = []
        while pending or active:
            if pending and (not active or r.random() < 0.25):
                active.append(pending.pop(0))
            s = r.choice(active)
            e = s.events[s.i]
            s.i += 1
            if s.i >= len(s.events):
                active.remove(s)
            order.append(e)
        order = order[:self.npackets]
        touch = []
        for e in order:
            tk = []
            for i, tr in enumerate(self.trules):
                if tr.touches(e):
                    tk.append((i, tr.key(e) if not e.get('nat') else '*'))
            touch.append(tk)
        times = []
        out = []
        t = 0.0
        for j, e in enumerate(order):
            if not out:
                times.append(0.0)
                e['_tk'] = touch[j]
                out.append(e)
                continue
            if e['hint'] == 'tight':
                cands = [MIN_GAP + 0.005 * k for k in range(0, 30)] + [0.2 + 0.01 * k for k in range(120)]
            else:
                cands = [round(_gap(r), 3) for _ in range(60)] + \
                    [round(r.uniform(1.0, 3.0), 3) for _ in range(30)]
            chosen = None
            for gap in cands:
                if self._fits(t + gap, touch[j], out, times):
                    chosen = t + gap
                    break
            if chosen is None:
                continue        # no time keeps this packet off every edge: leave it out
            if chosen > MAX_T:
                break           # long enough: the suite has many seeds to run
            t = chosen
            times.append(round(t, 3))
            e['_tk'] = touch[j]
            out.append(e)
        return out, times

    def _fits(self, tj, tk, out, times):
        """Whether a packet at tj touching `tk` stays off the edges of the packets before it."""
        if not tk:
            return True
        for i, e in enumerate(out):
            d = tj - times[i]
            for ri, key in tk:
                for rj, key2 in e['_tk']:
                    if rj == ri and (key == key2 or key == '*' or key2 == '*') and \
                            self.trules[ri].bad(d):
                        return False
        return True


def _gap(r):
    """A gap before a packet that starts something new: mostly short, sometimes long
    enough for buckets to refill and recent windows to pass."""
    c = r.random()
    if c < 0.7:
        return r.uniform(MIN_GAP, 0.2)
    if c < 0.93:
        return r.uniform(0.2, 1.0)
    return r.uniform(1.0, 2.5)


def _set_l4proto(pkt, num):
    """Name `num` as the protocol after the IP header and its extension headers."""
    if isinstance(pkt, IP):
        pkt.proto = num
        return
    last, cur = pkt, pkt
    while cur is not None and not isinstance(cur, Raw) and cur.name != 'NoPayload':
        if any(f.name == 'nh' for f in cur.fields_desc):
            last = cur
        cur = cur.payload
    last.nh = num


def _set_ttl(b, ttl):
    b = bytearray(b)
    if b[0] >> 4 == 4:
        b[8] = ttl
        b[10:12] = b'\0\0'
        b[10:12] = struct.pack('>H', gs._csum(bytes(b[:(b[0] & 15) * 4])))
    else:
        b[7] = ttl
    return bytes(b)


def _set_last_nh(b, nh):
    cur, off = 6, 40
    n = b[6]
    while n in (0, 43, 44, 60, 51) and off + 2 <= len(b):
        cur = off
        ln = (b[off + 1] + 2) * 4 if n == 51 else (8 if n == 44 else (b[off + 1] + 1) * 8)
        n, off = b[off], off + ln
    b[cur] = nh
    del b[off:]
    b[4:6] = struct.pack('>H', len(b) - 40)


def _sctp(sport, dport, tag, chunks):
    p = SCTP(sport=sport, dport=dport, tag=tag)
    for c in chunks:
        p = p / c
    return p


def _recent_key(name, rdest, plen):
    def key(e):
        a = e['dst'] if rdest else e['src']
        return (name, _mask_addr(a, min(plen, 32 if a.version == 4 else 128)))
    return key


def _hl_key(modes, sm, dm):
    def key(e):
        k = []
        if 'srcip' in modes:
            k.append(_mask_addr(e['src'], min(sm, 32 if e['src'].version == 4 else 128)))
        if 'dstip' in modes:
            k.append(_mask_addr(e['dst'], min(dm, 32 if e['dst'].version == 4 else 128)))
        if 'srcport' in modes:
            k.append(e.get('sport') or 0)
        if 'dstport' in modes:
            k.append(e.get('dport') or 0)
        return tuple(k)
    return key


def generate(seed, out, v6=None, npackets=None, exclude=()):
    g = Ext2(seed, v6, npackets, exclude)
    g.build()
    evs, times = g.schedule()
    hostj = g.h.to_json()
    rules = {fam: g.ruleset(fam) for fam in g.fams()}
    lines = []
    for e, t in zip(evs, times):
        p = {}
        if e.get('local'):
            p['local'] = True
            p['uid'], p['gid'] = e.get('uid', 0), e.get('gid', 0)
        else:
            p['iface'] = e['iface']
        p['hex'] = e['data'].hex()
        p['t'] = t
        lines.append(p)
    gs.write_scenario(out, hostj, rules, lines,
                      'tests/kernel/gen_ext2.py --seed %d%s%s%s --out %s' % (
                          seed, ' --v6' if v6 else (' --no-v6' if v6 is False else ''),
                          ' --packets %d' % npackets if npackets else '',
                          ' --exclude ' + ','.join(sorted(g.exclude)) if g.exclude else '', out))
    return g


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--seed', type=int, required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--v6', dest='v6', action='store_true', default=None, help='always give the host IPv6')
    ap.add_argument('--no-v6', dest='v6', action='store_false', help='IPv4 only')
    ap.add_argument('--packets', type=int)
    ap.add_argument('--exclude', default='', help='extensions (matches, targets, protocols) not to use')
    a = ap.parse_args(argv)
    generate(a.seed, a.out, a.v6, a.packets, [x for x in a.exclude.split(',') if x])
    return 0


if __name__ == '__main__':
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.exit(main())
