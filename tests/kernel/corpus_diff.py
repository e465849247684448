#!/usr/bin/python3
"""netfence simulate against the Linux kernel on the real rulesets of the corpus.

    corpus_diff.py [--netfence PATH] [--sample N] [--seed S] [--only SUBSTR] [--keep DIR]

For every ruleset of shared/corpus/rulesets that netfence loads, a host and traffic
are derived from the rules themselves, deterministically from --seed:

* host: the interfaces named by -i/-o (a `+` wildcard becomes a concrete name that
  it catches), plus an uplink with a default route (the -o of a MASQUERADE/SNAT rule
  when there is one); networks of -s/-d are placed behind the interface a rule pairs
  them with (connected subnet or static route), /32 destinations of INPUT rules, DNAT
  and SNAT addresses become the host's own; forwarding is on when FORWARD or nat
  rules exist.  host.json is what `ip -j` prints for that host built in a namespace.
* traffic: for a sample of rules, a packet that matches the rule and the jumps that
  lead to it (-s/-d/-p/ports/flags/icmp type/-i/-o/owner/mac), as a flow when it is
  TCP, UDP or an echo (the replies are made from what the kernel delivered, through a
  kernel_sim.Session, so NAT is followed), plus near misses (one condition turned);
  background flows: a DNS query from the host, ssh and ping to it, web traffic
  through it.  At most --max-packets packets, all at t=0 (no timed windows).

Each scenario then goes through kernel_sim.simulate (the kernel's answers) and
netfence simulate, compared as run_diff does.  Rulesets that netfence refuses or
that iptables-legacy-restore refuses in a namespace (missing ipsets, ...) are
counted and skipped.  Exit status: 0 all match (known differences excepted),
1 some differ, 77 no kernel side here, 2 harness error.
"""

import argparse
import collections
import grp
import ipaddress
import json
import multiprocessing
import os
import pwd
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import run_diff  # noqa: E402

BUILTIN = {'PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'}
PROTO_NUM = {'tcp': 6, 'udp': 17, 'icmp': 1, 'icmpv6': 58, 'ipv6-icmp': 58, 'gre': 47, 'esp': 50,
             'ah': 51, 'sctp': 132, 'udplite': 136, 'igmp': 2, 'ospf': 89, 'pim': 103, 'vrrp': 112,
             'ipv6': 41, 'ipencap': 4, 'ipip': 94}
ICMP4 = {'echo-request': (8, None), 'echo-reply': (0, None), 'destination-unreachable': (3, None),
         'port-unreachable': (3, 3), 'host-unreachable': (3, 1), 'network-unreachable': (3, 0),
         'fragmentation-needed': (3, 4), 'time-exceeded': (11, None), 'ttl-zero-during-transit': (11, 0),
         'source-quench': (4, None), 'redirect': (5, None), 'parameter-problem': (12, None),
         'timestamp-request': (13, None), 'timestamp-reply': (14, None), 'any': (None, None),
         'router-advertisement': (9, None), 'router-solicitation': (10, None),
         'address-mask-request': (17, None), 'address-mask-reply': (18, None)}
ICMP6 = {'echo-request': (128, None), 'echo-reply': (129, None), 'destination-unreachable': (1, None),
         'port-unreachable': (1, 4), 'no-route': (1, 0), 'packet-too-big': (2, None),
         'time-exceeded': (3, None), 'ttl-zero-during-transit': (3, 0), 'parameter-problem': (4, None),
         'neighbour-solicitation': (135, None), 'neighbor-solicitation': (135, None),
         'neighbour-advertisement': (136, None), 'neighbor-advertisement': (136, None),
         'router-solicitation': (133, None), 'router-advertisement': (134, None),
         'redirect': (137, None)}
TCP_FLAG_BITS = {'FIN': 'F', 'SYN': 'S', 'RST': 'R', 'PSH': 'P', 'ACK': 'A', 'URG': 'U',
                 'ECE': 'E', 'CWR': 'C'}
COMMON_TCP = [22, 80, 443, 25, 8080, 993, 3306, 21, 110, 5432]
COMMON_UDP = [53, 123, 161, 514, 1194, 5353, 67]
NAT_TARGETS = {'DNAT', 'SNAT', 'MASQUERADE', 'REDIRECT', 'NETMAP'}
TERMINAL = {'ACCEPT', 'DROP', 'REJECT', 'RETURN', 'DNAT', 'SNAT', 'MASQUERADE', 'REDIRECT', 'NETMAP'}
TIMED = ('limit', 'hashlimit', 'recent', 'time', 'connlimit', 'statistic', 'quota')

# ---------------------------------------------------------------------------
# rulesets


def corpus_list(corpus):
    """[(relative path, family)] of the rulesets iptables-legacy-restore loaded (loadtest.tsv)."""
    out = []
    with open(os.path.join(corpus, 'loadtest.tsv')) as f:
        for line in f:
            parts = line.rstrip('\n').split('\t')
            if len(parts) < 4:
                continue
            fam = 6 if parts[2].startswith('ip6') else 4
            out.append((parts[3], fam, parts[0] == '0'))
    return out


def saved_text(corpus, rel):
    """The canonical form (iptables-legacy-save after restore) when the corpus has it."""
    p = os.path.join(corpus, 'saved', rel.replace('/', '_', 1) + '.saved')
    if os.path.exists(p):
        return open(p).read()
    return None


class Rule:
    def __init__(self, table, chain, num, toks):
        self.table, self.chain, self.num = table, chain, num
        self.toks = toks
        self.c = {}          # option -> value (positive)
        self.neg = {}        # option -> value (negated)
        self.mods = []
        self.target = None
        self.goto = False
        self.targs = {}
        self._parse()

    def _parse(self):
        alias = {'--source': '-s', '--src': '-s', '--destination': '-d', '--dst': '-d',
                 '--protocol': '-p', '--in-interface': '-i', '--out-interface': '-o',
                 '--jump': '-j', '--goto': '-g', '--match': '-m', '--destination-port': '--dport',
                 '--source-port': '--sport', '--destination-ports': '--dports',
                 '--source-ports': '--sports', '--fragment': '-f'}
        t = self.toks
        i, neg = 2, False
        while i < len(t):
            if t[i] == '!':
                neg = True
                i += 1
                continue
            o = alias.get(t[i], t[i])
            vals = []
            i += 1
            while i < len(t) and t[i] != '!' and not (t[i].startswith('-') and len(t[i]) > 1 and
                                                      not re.match(r'^-[0-9]', t[i])):
                vals.append(t[i])
                i += 1
            val = vals[0] if len(vals) == 1 else (tuple(vals) if vals else True)
            if o == '-m':
                self.mods.append(val)
            elif o in ('-j', '-g'):
                self.target, self.goto = val, o == '-g'
            elif self.target:
                self.targs[o] = val
            else:
                (self.neg if neg else self.c)[o] = val
            neg = False

    def timed(self):
        return any(m in TIMED for m in self.mods)


def parse_rules(text):
    """{table: {'policy': {}, 'order': [], 'rules': {chain: [Rule]}}} (rule numbers 1-based)."""
    tables = {}
    cur = name = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        if line.startswith('*'):
            name = line[1:].strip()
            cur = tables.setdefault(name, {'policy': {}, 'order': [], 'rules': {}})
        elif line == 'COMMIT':
            cur = None
        elif line.startswith(':') and cur is not None:
            parts = line[1:].split()
            cur['policy'][parts[0]] = parts[1] if len(parts) > 1 else '-'
            cur['order'].append(parts[0])
            cur['rules'].setdefault(parts[0], [])
        elif cur is not None:
            body = line.split(']', 1)[1].strip() if line.startswith('[') else line
            try:
                toks = shlex.split(body)
            except ValueError:
                toks = body.split()
            if len(toks) < 2 or toks[0] not in ('-A', '--append'):
                continue
            lst = cur['rules'].setdefault(toks[1], [])
            lst.append(Rule(name, toks[1], len(lst) + 1, toks))
    return tables


def paths_to(tables):
    """For each (table, chain): one shortest list of jump rules from a builtin chain."""
    out = {}
    for tname, t in tables.items():
        q = collections.deque()
        for c in t['order']:
            if c in BUILTIN:
                out[(tname, c)] = []
                q.append(c)
        while q:
            c = q.popleft()
            for r in t['rules'].get(c, []):
                if r.target in t['rules'] and r.target not in BUILTIN and (tname, r.target) not in out:
                    out[(tname, r.target)] = out[(tname, c)] + [r]
                    q.append(r.target)
    return out


def hook_of(tables, paths, r):
    p = paths.get((r.table, r.chain))
    if p is None:
        return None
    return p[0].chain if p else r.chain


# ---------------------------------------------------------------------------
# addresses


def net_of(s, fam):
    if s is None:
        return None
    try:
        n = ipaddress.ip_network(s, strict=False)
    except ValueError:
        return None
    return n if n.version == fam else None


def special(n):
    a = n.network_address
    if n.version == 4:
        return (n.prefixlen < 8 or a.is_loopback or a.is_multicast or a.is_reserved or
                int(a) >> 24 == 0 or str(a) == '255.255.255.255')
    return (n.prefixlen < 16 or a.is_loopback or a.is_multicast or a.is_link_local or a.is_unspecified
            or a.ipv4_mapped is not None or a.is_reserved)


def iface_ok(name):
    return bool(name) and len(name) <= 15 and re.match(r'^[A-Za-z0-9_.:@+-]+$', name) and name != '+'


class Derived:
    """A host and its traffic derived from one ruleset."""

    def __init__(self, text, fam, seed, max_packets=80):
        self.fam = fam
        self.r = random.Random(seed)
        self.max_packets = max_packets
        self.tables = parse_rules(text)
        self.paths = paths_to(self.tables)
        self.rules = [r for t in self.tables.values() for c in t['order'] for r in t['rules'].get(c, [])]
        self.port = 20000 + self.r.randrange(20000)
        self.ct = any(r.table == 'nat' for r in self.rules) or any(
            m in ('state', 'conntrack', 'connmark') for r in self.rules for m in r.mods) or any(
            r.target in NAT_TARGETS | {'CT', 'NOTRACK', 'CONNMARK'} for r in self.rules)
        self._host()

    def next_port(self):
        self.port += 1
        if self.port > 60000:
            self.port = 20000
        return self.port

    # -- interfaces ------------------------------------------------------

    def _ifmap(self):
        names = []
        for r in self.rules:
            for k in ('-i', '-o'):
                for d in (r.c, r.neg):
                    v = d.get(k)
                    if v and iface_ok(v) and v != 'lo' and not v.endswith('+') and v not in names:
                        names.append(v)
        self.wild = {}
        for r in self.rules:
            for k in ('-i', '-o'):
                for d in (r.c, r.neg):
                    v = d.get(k)
                    if v and v.endswith('+') and v != '+' and v not in self.wild:
                        stem = v[:-1]
                        hit = [n for n in names if n.startswith(stem)]
                        if hit:
                            self.wild[v] = hit[0]
                        else:
                            c = (stem[:14] + '0') if stem and not stem[-1].isdigit() else stem[:13] + '00'
                            if c == 'lo0' or stem == 'lo':
                                self.wild[v] = 'lo'
                                continue
                            self.wild[v] = c
                            if c not in names:
                                names.append(c)
        return names

    def concrete(self, v):
        if v is None:
            return None
        if v == '+':
            return self.uplink
        return self.wild.get(v, v)

    def _host(self):
        fam, r = self.fam, self.r
        names = self._ifmap()
        masq = collections.Counter(
            self.concrete(x.c.get('-o')) for x in self.rules
            if x.table == 'nat' and x.target in ('MASQUERADE', 'SNAT') and x.c.get('-o'))
        masq.pop(None, None)
        masq.pop('lo', None)
        if masq:
            self.uplink = masq.most_common(1)[0][0]
        elif len(names) == 1:
            self.uplink = names[0]
        else:
            self.uplink = next(n for n in ('wan0', 'uplink0', 'inet0') if n not in names)
            names.insert(0, self.uplink)
        if self.uplink not in names:
            names.insert(0, self.uplink)
        self.names = names
        # every network the rules mention (pool subnets must not overlap them)
        self.mentioned = []
        for x in self.rules:
            for d in (x.c, x.neg):
                for k in ('-s', '-d'):
                    n = net_of(d.get(k), fam)
                    if n is not None and n.prefixlen > 0:
                        self.mentioned.append(n)
        # placements and local addresses
        place = collections.OrderedDict((n, []) for n in names)
        local = []  # (addr, iface or None)
        for x in self.rules:
            hook = hook_of(self.tables, self.paths, x)
            s, d = net_of(x.c.get('-s'), fam), net_of(x.c.get('-d'), fam)
            i, o = self.concrete(x.c.get('-i')), self.concrete(x.c.get('-o'))
            if s is not None and not special(s) and i in place and i != self.uplink:
                place[i].append(s)
            if d is not None and not special(d) and o in place and o != self.uplink:
                place[o].append(d)
            no = self.concrete(x.neg.get('-o'))
            if x.table == 'nat' and x.target in ('MASQUERADE', 'SNAT') and s is not None and \
                    not special(s) and no in place and no != self.uplink:
                place[no].append(s)
            full = 32 if fam == 4 else 128
            if d is not None and d.prefixlen == full and not special(d) and (
                    hook == 'INPUT' or (x.table == 'nat' and x.target in ('DNAT', 'REDIRECT'))):
                local.append((d.network_address, i if i in place else None))
            if s is not None and s.prefixlen == full and not special(s) and hook == 'OUTPUT':
                local.append((s.network_address, o if o in place else None))
            if x.target == 'SNAT' and x.targs.get('--to-source'):
                a = self._first_addr(x.targs['--to-source'])
                if a is not None:
                    local.append((a, o if o in place else None))
        self.dnat_targets = []
        for x in self.rules:
            if x.target == 'DNAT' and x.targs.get('--to-destination'):
                a = self._first_addr(x.targs['--to-destination'])
                if a is not None and not a.is_loopback:
                    self.dnat_targets.append(a)
        lans = [n for n in names if n != self.uplink]
        for a in self.dnat_targets:
            if not any(a in n for nets in place.values() for n in nets):
                if not lans:
                    lans.append('lan0' if 'lan0' not in names else 'lan9')
                    names.append(lans[-1])
                    place[lans[-1]] = []
                full = 32 if fam == 4 else 128
                place[lans[0]].append(ipaddress.ip_network('%s/%d' % (a, 24 if fam == 4 else 64), strict=False)
                                      if True else None)
        # dedupe local addresses
        seen, loc = set(), []
        for a, i in local:
            if a not in seen and a not in self.dnat_targets:
                seen.add(a)
                loc.append((a, i))
        local = loc[:8]
        self.ifs = collections.OrderedDict()   # name -> {'subnet', 'addr', 'extra': [], 'gw'}
        self.routes = []                        # (net, iface, gw)
        pool = self._pool()
        claimed = []
        for n in names:
            if n == self.uplink:
                continue
            nets = []
            for x in place[n]:
                if x not in nets:
                    nets.append(x)
            sub = None
            lo_pl, hi_pl = (8, 30) if fam == 4 else (16, 126)
            for x in nets:
                if lo_pl <= x.prefixlen <= hi_pl and not any(x.overlaps(c) for c in claimed):
                    sub = x if (fam == 4 or x.prefixlen >= 64) else next(x.subnets(new_prefix=64))
                    break
            if sub is None:
                for x in nets:
                    if x.prefixlen > hi_pl:
                        cand = x.supernet(new_prefix=24 if fam == 4 else 64)
                        if not any(cand.overlaps(c) for c in claimed):
                            sub = cand
                            break
            if sub is None:
                sub = next(pool)
            claimed.append(sub)
            mine = [a for a, i in local if i == n and a in sub]
            hosts_last = sub.broadcast_address - 1 if fam == 4 else sub.network_address + 1
            addr = mine[0] if mine else hosts_last
            gw = self._gateway(sub, [addr] + [a for a, _ in local])
            self.ifs[n] = {'subnet': sub, 'addr': addr, 'extra': [], 'gw': gw}
            for x in nets:
                if not x.subnet_of(sub) and not any(x == rn for rn, _, _ in self.routes):
                    self.routes.append((x, n, gw))
        # uplink: the first local address that fits nowhere else gives its subnet
        up_local = [a for a, i in local if i in (None, self.uplink) and
                    not any(a in v['subnet'] for v in self.ifs.values())]
        sub = None
        if up_local:
            a = up_local[0]
            cand = ipaddress.ip_network('%s/%d' % (a, 24 if fam == 4 else 64), strict=False)
            if not any(cand.overlaps(c) for c in claimed):
                sub = cand
        if sub is None:
            sub = next(pool) if fam == 6 else next(self._uplink_pool())
        addr = up_local[0] if up_local and up_local[0] in sub else (sub.network_address + 2)
        gw = self._gateway(sub, [addr] + [a for a, _ in local])
        self.ifs[self.uplink] = {'subnet': sub, 'addr': addr, 'extra': [], 'gw': gw}
        claimed.append(sub)
        # no static route for a network some interface is directly on
        self.routes = [x for x in self.routes if not any(x[0] == c for c in claimed)]
        self.ifs.move_to_end(self.uplink, last=False)
        for a, i in local:
            if any(a == v['addr'] for v in self.ifs.values()):
                continue
            tgt = i if i in self.ifs else self.uplink
            self.ifs[tgt]['extra'].append(a)
        self.forwarding = any(x.chain == 'FORWARD' or hook_of(self.tables, self.paths, x) == 'FORWARD'
                              or x.table == 'nat' for x in self.rules) or any(
            t.get('policy', {}).get('FORWARD') == 'DROP' for t in self.tables.values())
        self.local_addrs = [v['addr'] for v in self.ifs.values()] + [a for v in self.ifs.values()
                                                                    for a in v['extra']]

    def _gateway(self, sub, mine):
        for k in range(1, 300):
            g = sub.network_address + k
            if g not in mine and g in sub:
                return g
        return sub.network_address + 1

    def _first_addr(self, spec):
        m = re.match(r'^\[?([0-9a-fA-F.:]+?)\]?(?:-[^:]*)?(?::\d.*)?$', spec)
        for cand in (spec.split('-')[0].split(':')[0] if self.fam == 4 else spec.strip('[').split(']')[0].split('-')[0],
                     m.group(1) if m else None):
            try:
                a = ipaddress.ip_address(cand)
                if a.version == self.fam:
                    return a
            except (ValueError, TypeError):
                pass
        return None

    def _pool(self):
        if self.fam == 4:
            cands = ['10.%d.%d.0/24' % (200 + k // 8, k % 8) for k in range(40)] + \
                    ['172.31.%d.0/24' % k for k in range(100, 140)] + \
                    ['100.64.%d.0/24' % k for k in range(10, 50)] + \
                    ['192.168.%d.0/24' % k for k in range(200, 240)]
        else:
            cands = ['2001:db8:f0%02x::/64' % k for k in range(100)]
        for c in cands:
            n = ipaddress.ip_network(c)
            if not any(n.overlaps(m) for m in self.mentioned):
                yield n
        for c in cands:   # everything overlaps: take them anyway
            yield ipaddress.ip_network(c)

    def _uplink_pool(self):
        for c in ['203.0.113.0/24', '198.51.100.0/24', '192.0.2.0/24', '100.64.7.0/24', '10.250.0.0/24']:
            n = ipaddress.ip_network(c)
            if not any(n.overlaps(m) for m in self.mentioned):
                yield n
        yield from self._pool()

    def route(self, a):
        """(iface or 'local' or None) for destination a, longest prefix first."""
        if a in self.local_addrs or a.is_loopback:
            return 'local'
        best = None
        for n, v in self.ifs.items():
            if a in v['subnet'] and (best is None or v['subnet'].prefixlen > best[0]):
                best = (v['subnet'].prefixlen, n)
        for net, n, gw in self.routes:
            if a in net and (best is None or net.prefixlen > best[0]):
                best = (net.prefixlen, n)
        return best[1] if best else self.uplink

    # -- host.json -------------------------------------------------------

    def host_json(self):
        """Build the host in a namespace and read it back as `ip -j` prints it."""
        import kernel_sim as ks
        fam = self.fam
        ns = ks.new_netns()
        peer = ks.new_netns()
        try:
            with ks.InNS(ns):
                for k in ('all', 'default'):
                    ks.sysctl_set('net.ipv6.conf.%s.addr_gen_mode' % k, 1, must=False)
                    ks.sysctl_set('net.ipv6.conf.%s.accept_dad' % k, 0, must=False)
                    ks.sysctl_set('net.ipv6.conf.%s.disable_ipv6' % k, 0 if fam == 6 else 1, must=False)
                ks.sysctl_set('net.ipv6.conf.lo.disable_ipv6', 0 if fam == 6 else 1, must=False)
                ks.sysctl_set('net.ipv4.ip_forward', 1 if self.forwarding else 0)
                if fam == 6:
                    ks.sysctl_set('net.ipv6.conf.all.forwarding', 1 if self.forwarding else 0, must=False)
            b = ['link set lo up']
            for k, (n, v) in enumerate(self.ifs.items()):
                b.append('link add %s address 02:00:00:00:%02x:01 type veth peer name p%d netns /proc/self/fd/%d'
                         % (n, k + 1, k, peer))
            ks.run(['ip', '-batch', '-'], ns=ns, input='\n'.join(b) + '\n', pass_fds=(peer,))
            with ks.InNS(peer):
                for k in range(len(self.ifs)):
                    ks.link_up('p%d' % k)
            b = []
            for n, v in self.ifs.items():
                if fam == 6:
                    b.append('addr add %s/%d dev %s nodad' % (v['addr'], v['subnet'].prefixlen, n))
                    for a in v['extra']:
                        b.append('addr add %s/128 dev %s nodad' % (a, n))
                else:
                    b.append('addr add %s/%d broadcast + dev %s' % (v['addr'], v['subnet'].prefixlen, n))
                    for a in v['extra']:
                        b.append('addr add %s/32 dev %s' % (a, n))
                b.append('link set %s up' % n)
            ks.run(['ip', '-batch', '-'], ns=ns, input='\n'.join(b) + '\n')
            b = ['route add default via %s dev %s' % (self.ifs[self.uplink]['gw'], self.uplink)]
            for net, n, gw in self.routes:
                b.append('route replace %s via %s dev %s' % (net, gw, n))
            ks.run(['ip', '-%d' % fam, '-force', '-batch', '-'], ns=ns, input='\n'.join(b) + '\n')
            time.sleep(0.05 if fam == 4 else 0.3)
            addrs = json.loads(ks.run(['ip', '-j', 'addr', 'show'], ns=ns).stdout)
            routes = json.loads(ks.run(['ip', '-4', '-j', 'route', 'show', 'table', 'all'], ns=ns).stdout or '[]')
            routes6 = json.loads(ks.run(['ip', '-6', '-j', 'route', 'show', 'table', 'all'], ns=ns).stdout or '[]')
        finally:
            os.close(ns)
            os.close(peer)
        for l in addrs:
            if l.get('ifname') != 'lo':
                l['flags'] = ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP']
                l['operstate'] = 'UP'
                l.pop('linkinfo', None)
                l.pop('link_netnsid', None)
        return {'addrs': addrs, 'routes': routes, 'routes6': routes6, 'forwarding': self.forwarding}

    # -- addresses for packets -------------------------------------------

    def pick_in(self, net, avoid=()):
        """An address of `net` that is not the host's (nor network/broadcast when avoidable)."""
        full = 32 if self.fam == 4 else 128
        if net.prefixlen >= full - 1:
            return net.network_address
        for _ in range(20):
            size = net.num_addresses
            a = net.network_address + self.r.randrange(1, min(size - 1, 1 << 24))
            if a not in self.local_addrs and a not in avoid and (self.fam == 6 or a != net.broadcast_address):
                return a
        return net.network_address + 1

    def remote(self, avoid=()):
        base = ipaddress.ip_network('198.18.0.0/15' if self.fam == 4 else '2001:db8:beef::/48')
        for _ in range(50):
            a = self.pick_in(base)
            if self.route(a) == self.uplink and a not in avoid:
                return a
        return self.pick_in(base)

    def neighbour(self, iface):
        v = self.ifs.get(iface)
        if v is None or iface == self.uplink:
            return self.remote()
        nets = [v['subnet']] + [n for n, i, g in self.routes if i == iface]
        n = self.r.choice(nets)
        return self.pick_in(n, avoid=(v['gw'],) if n == v['subnet'] else ())

    def host_addr(self, iface=None):
        v = self.ifs.get(iface) or self.ifs[self.uplink]
        return v['addr']

    def src_for(self, dst):
        """The address a local packet to dst leaves with."""
        o = self.route(dst)
        if o == 'local':
            return dst if dst.is_loopback else dst
        return self.ifs[o]['addr'] if o in self.ifs else self.host_addr()

    # -- what a packet aimed at a rule looks like ------------------------

    def merged(self, rule):
        """The conditions of `rule` and of the jumps that lead to it, and its hook."""
        path = self.paths.get((rule.table, rule.chain))
        if path is None:
            return None
        c, neg, mods = {}, {}, []
        for x in path + [rule]:
            for k, v in x.c.items():
                if k in ('-s', '-d') and k in c:
                    n, old = net_of(v, self.fam), net_of(c[k], self.fam)
                    if n is not None and old is not None and old.subnet_of(n):
                        continue
                c[k] = v
                neg.pop(k, None)
            for k, v in x.neg.items():
                neg[k] = v
            mods += x.mods
        return {'c': c, 'neg': neg, 'mods': mods, 'hook': path[0].chain if path else rule.chain,
                'table': rule.table, 'target': rule.target, 'rule': rule}

    def _ports(self, v, proto):
        """A port a --dport/--dports value matches (ranges a:b, lists a,b)."""
        if v is None or v is True:
            return None
        items = str(v).split(',')
        it = self.r.choice(items)
        if ':' in it:
            lo, hi = it.split(':', 1)
            lo = int(lo) if lo else 0
            hi = int(hi) if hi else 65535
            return self.r.randint(lo, hi) if hi >= lo else lo
        try:
            return int(it)
        except ValueError:
            try:
                import socket
                return socket.getservbyname(it, 'udp' if proto == 'udp' else 'tcp')
            except OSError:
                return 80

    def _not_ports(self, v):
        bad = set()
        for it in str(v).split(','):
            if ':' in it:
                lo, hi = it.split(':', 1)
                bad.update(range(int(lo or 0), int(hi or 65535) + 1))
            elif it.isdigit():
                bad.add(int(it))
        for p in COMMON_TCP + list(range(1024, 65536, 997)):
            if p not in bad:
                return p
        return 0

    def _addr_from(self, v, avoid_local=True):
        n = net_of(v, self.fam)
        if n is None:
            return None
        inside = [a for a in self.local_addrs if a in n]
        if not avoid_local and inside:
            return self.r.choice(inside)
        return self.pick_in(n)

    def _icmp(self, v):
        names = ICMP4 if self.fam == 4 else ICMP6
        if v is None or v is True:
            return None
        if v in names:
            return names[v]
        m = re.match(r'^(\d+)(?:/(\d+))?$', str(v))
        if m:
            return int(m.group(1)), (int(m.group(2)) if m.group(2) is not None else None)
        return None

    def _owner(self, c):
        uid = gid = None
        for k, db in (('--uid-owner', pwd.getpwnam), ('--gid-owner', grp.getgrnam)):
            v = c.get(k)
            if v is None or v is True:
                continue
            v = str(v).split('-')[0]
            if v.isdigit():
                n = int(v)
            else:
                try:
                    n = db(v)[2]
                except KeyError:
                    n = 1000
            if k == '--uid-owner':
                uid = n
            else:
                gid = n
        return uid, gid

    def choose(self, m):
        """Concrete packet fields for merged conditions `m` (None when it cannot be aimed)."""
        r, fam = self.r, self.fam
        c, neg = m['c'], m['neg']
        hook = m['hook']
        i, o = self.concrete(c.get('-i')), self.concrete(c.get('-o'))
        d = {'fam': fam}
        # kind
        dst_net = net_of(c.get('-d'), fam)
        src_net = net_of(c.get('-s'), fam)
        if hook == 'INPUT':
            kind = 'in'
        elif hook == 'FORWARD':
            kind = 'fwd'
        elif hook == 'OUTPUT':
            kind = 'out'
        elif hook == 'PREROUTING':
            if m['table'] == 'nat' and m['target'] in ('DNAT', 'REDIRECT'):
                kind = 'in'
            elif dst_net is not None:
                kind = 'in' if any(a in dst_net for a in self.local_addrs) else 'fwd'
            else:
                kind = r.choice(['in', 'fwd'] if self.forwarding else ['in'])
        else:
            if src_net is not None and any(a in src_net for a in self.local_addrs) or not self.forwarding \
                    or o == 'lo':
                kind = 'out'
            else:
                kind = r.choice(['fwd', 'fwd', 'out'])
        if i == 'lo':
            kind = 'out'
            i = None
            if dst_net is None:
                dst_net = net_of('127.0.0.1/32' if fam == 4 else '::1/128', fam)
        if kind == 'fwd' and not self.forwarding:
            kind = 'in'
        ni, no = self.concrete(neg.get('-i')), self.concrete(neg.get('-o'))
        others = [n for n in self.ifs if n != ni]
        # protocol
        p = c.get('-p')
        if p is True or p is None or p == 'all' or p == '0':
            if any(k in c for k in ('--dport', '--sport', '--dports', '--sports', '--ports')):
                p = 'udp' if 'udp' in m['mods'] else 'tcp'
            elif 'icmp' in m['mods'] or '--icmp-type' in c:
                p = 'icmp'
            else:
                p = r.choice(['tcp', 'tcp', 'udp', 'icmp' if fam == 4 else 'icmpv6'])
        if str(neg.get('-p', '')) in (p, str(PROTO_NUM.get(p))):
            p = 'udp' if p == 'tcp' else 'tcp'
        p = {'ipv6-icmp': 'icmpv6', '58': 'icmpv6' if fam == 6 else '58', '6': 'tcp', '17': 'udp',
             '1': 'icmp' if fam == 4 else '1'}.get(str(p), str(p))
        if p == 'icmp' and fam == 6:
            p = 'icmpv6'
        d['proto'] = p
        # addresses and interfaces
        dst = src = None
        if kind == 'in':
            if i is None:
                if src_net is not None and self.route(src_net.network_address) in self.ifs:
                    i = self.route(src_net.network_address)
                else:
                    i = r.choice(others) if ni else self.uplink
            if dst_net is not None:
                dst = self._addr_from(str(dst_net), avoid_local=False)
            elif c.get('--dst-type') in (None, 'LOCAL', True):
                dst = self.host_addr(i) if r.random() < 0.8 else r.choice(self.local_addrs)
            else:
                dst = self.host_addr(i)
            src = self._addr_from(str(src_net)) if src_net is not None else self.neighbour(i)
        elif kind == 'fwd':
            if dst_net is not None:
                dst = self._addr_from(str(dst_net))
            elif o is not None and o in self.ifs:
                dst = self.neighbour(o)
            else:
                cands = [n for n in self.ifs if n != i and n != no]
                dst = self.neighbour(r.choice(cands)) if cands else self.remote()
            oe = self.route(dst)
            if src_net is not None:
                src = self._addr_from(str(src_net))
            elif i is not None and i in self.ifs:
                src = self.neighbour(i)
            else:
                cands = [n for n in self.ifs if n != oe and n != ni]
                src = self.neighbour(r.choice(cands)) if cands else self.remote()
            if i is None or i not in self.ifs:
                ri = self.route(src)
                i = ri if ri in self.ifs and ri != ni else (r.choice(others) if others else self.uplink)
        else:
            if dst_net is not None:
                dst = self._addr_from(str(dst_net), avoid_local=o == 'lo')
            elif o == 'lo':
                dst = ipaddress.ip_address('127.0.0.1' if fam == 4 else '::1')
            elif o is not None and o in self.ifs:
                dst = self.neighbour(o)
            else:
                dst = self.remote()
            if src_net is not None and src_net.prefixlen >= (32 if fam == 4 else 128) - 0:
                src = src_net.network_address
            else:
                src = self.src_for(dst)
            uid, gid = self._owner(c)
            nuid, ngid = self._owner(neg)
            if uid is None:
                uid = r.choice([0, 0, 1000, 33]) if nuid is None else (1000 if nuid != 1000 else 0)
            if gid is None:
                gid = uid if ngid is None or ngid != uid else uid + 1
            d.update(uid=uid, gid=gid)
        # negated addresses: step out of the excluded network
        for key in ('-s', '-d'):
            nn = net_of(neg.get(key), fam)
            a = src if key == '-s' else dst
            if nn is not None and a is not None and a in nn:
                alt = self.remote(avoid=()) if key == '-d' or kind != 'out' else a
                for _ in range(10):
                    if alt not in nn:
                        break
                    alt = self.remote()
                if key == '-s':
                    src = alt
                else:
                    dst = alt
        if src is None or dst is None:
            return None
        d.update(kind=kind, src=src, dst=dst, iface=i)
        if '--mac-source' in c and c['--mac-source'] is not True:
            d['src_mac'] = c['--mac-source'].lower()
        # layer 4
        if p in ('tcp', 'udp', 'sctp', 'udplite'):
            dp = self._ports(c.get('--dport') or c.get('--dports') or c.get('--ports'), p)
            if dp is None:
                nd = neg.get('--dport') or neg.get('--dports')
                dp = self._not_ports(nd) if nd else r.choice(COMMON_TCP if p == 'tcp' else COMMON_UDP)
            sp = self._ports(c.get('--sport') or c.get('--sports'), p)
            d['dport'], d['sport'] = dp, sp
        if p == 'tcp':
            tf = c.get('--tcp-flags')
            d['flags'] = 'S'
            if isinstance(tf, tuple) and len(tf) == 2:
                comp = '' if tf[1] == 'NONE' else ''.join(
                    TCP_FLAG_BITS.get(x, '') for x in (TCP_FLAG_BITS if tf[1] == 'ALL' else tf[1].split(',')))
                if comp != 'S':
                    d['flags'] = comp
            if '--syn' in neg or '--tcp-flags' in neg:
                d['flags'] = 'A'
        if p in ('icmp', 'icmpv6'):
            t = self._icmp(c.get('--icmp-type') or c.get('--icmpv6-type'))
            echo = 8 if fam == 4 else 128
            if t is None or t[0] is None:
                t = (echo, 0)
            d['icmp'] = (t[0], t[1] if t[1] is not None else 0)
        states = set()
        for k in ('--state', '--ctstate'):
            if c.get(k) and c[k] is not True:
                states |= set(str(c[k]).split(','))
        d['states'] = states
        flowish = (p == 'tcp' and d['flags'] in ('S',)) or p == 'udp' or \
            (p in ('icmp', 'icmpv6') and d['icmp'][0] in (8, 128))
        if states and states <= {'INVALID', 'UNTRACKED'}:
            flowish = False
            if p == 'tcp':
                d['flags'] = r.choice(['R', 'FA', 'A'])
        d['flow'] = flowish
        return d

    def moves(self, d):
        r = self.r
        related = 'RELATED' in d['states'] and r.random() < 0.6
        if d['proto'] == 'tcp':
            if related:
                return [('C', 'S', 0), ('S', 'ERR', 0)]
            full = [('C', 'S', 0), ('S', 'SA', 0), ('C', 'A', 0), ('C', 'PA', r.randint(1, 40)),
                    ('S', 'PA', r.randint(1, 60)), ('C', 'FA', 0), ('S', 'FA', 0), ('C', 'A', 0)]
            x = r.random()
            if x < 0.45:
                return full
            if x < 0.85:
                return full[:r.randint(3, 5)]
            return [('C', 'S', 0), ('S', 'RA', 0)]
        if d['proto'] == 'udp':
            if related:
                return [('C', 'U', r.randint(1, 40)), ('S', 'ERR', 0)]
            mv = [('C', 'U', r.randint(1, 40)), ('S', 'U', r.randint(1, 80))]
            return mv + mv if r.random() < 0.2 else mv
        return [('C', 'E', 0), ('S', 'E', 0)]

    def near_miss(self, d, m):
        """`d` with one condition turned so that the rule just misses (a single packet)."""
        r, fam = self.r, self.fam
        c = m['c']
        e = dict(d)
        e['flow'] = False
        opts = []
        if 'dport' in d and (c.get('--dport') or c.get('--dports')):
            opts.append('dport')
        if c.get('-s') and net_of(c['-s'], fam) is not None and net_of(c['-s'], fam).prefixlen > 0:
            opts.append('src')
        if c.get('-d') and net_of(c['-d'], fam) is not None and net_of(c['-d'], fam).prefixlen > 0:
            opts.append('dst')
        if c.get('-p') in ('tcp', 'udp'):
            opts.append('proto')
        if c.get('-i') and d['kind'] != 'out' and len(self.ifs) > 1:
            opts.append('iface')
        if d.get('src_mac'):
            opts.append('mac')
        if not opts:
            return None
        what = r.choice(opts)
        full = 32 if fam == 4 else 128

        def flip(a, net):
            n = net_of(net, fam)
            bit = full - n.prefixlen
            return type(a)(int(a) ^ (1 << bit)) if bit < full else a
        if what == 'dport':
            e['dport'] = self._not_ports(c.get('--dport') or c.get('--dports'))
        elif what == 'src':
            e['src'] = flip(d['src'], c['-s'])
        elif what == 'dst':
            e['dst'] = flip(d['dst'], c['-d'])
        elif what == 'proto':
            e['proto'] = 'udp' if d['proto'] == 'tcp' else 'tcp'
            e.setdefault('dport', 53)
            e['flags'] = 'S'
        elif what == 'iface':
            e['iface'] = r.choice([n for n in self.ifs if n != d['iface']])
        elif what == 'mac':
            e['src_mac'] = '02:00:00:00:ee:%02x' % r.randrange(256)
        return e

    # -- packets ---------------------------------------------------------

    def packet_bytes(self, d):
        import gen_scenario as gs
        from scapy.layers.inet import IP, ICMP, UDP
        from scapy.layers.inet6 import (IPv6, ICMPv6EchoRequest, ICMPv6EchoReply, ICMPv6Unknown)
        from scapy.packet import Raw
        fam, p = self.fam, d['proto']
        src, dst = str(d['src']), str(d['dst'])
        ipid = self.r.randrange(1, 65535)
        sport = d.get('sport') or self.next_port()
        if p == 'tcp':
            return gs.pkt_bytes(fam, src, dst, 'tcp', sport, d['dport'], d.get('flags', 'S'),
                                self.r.randrange(1 << 32), self.r.randrange(1 << 32) if 'A' in d.get('flags', '') else 0,
                                ipid=ipid)
        if p == 'udp':
            return gs.pkt_bytes(fam, src, dst, 'udp', sport, d['dport'], payload=b'\x12\x34\x01\x00\x00\x01' + b'\0' * 6,
                                ipid=ipid)
        if p in ('icmp', 'icmpv6'):
            t, code = d['icmp']
            quote_ip = (IP(src=dst, dst=src, id=ipid ^ 1) if fam == 4 else IPv6(src=dst, dst=src)) / \
                UDP(sport=self.next_port(), dport=53)
            if fam == 4:
                if t in (3, 4, 5, 11, 12):
                    body = ICMP(type=t, code=code) / Raw(bytes(quote_ip)[:28])
                else:
                    body = ICMP(type=t, code=code, id=self.next_port(), seq=1) / Raw(b'ping' * 4)
                return bytes(IP(src=src, dst=dst, id=ipid) / body)
            if t == 128:
                body = ICMPv6EchoRequest(id=self.next_port(), seq=1) / Raw(b'ping' * 4)
            elif t == 129:
                body = ICMPv6EchoReply(id=self.next_port(), seq=1) / Raw(b'ping' * 4)
            elif t < 128:
                body = ICMPv6Unknown(type=t, code=code) / Raw(b'\0\0\0\0' + bytes(quote_ip))
            else:
                body = ICMPv6Unknown(type=t, code=code) / Raw(b'\0' * 20)
            return bytes(IPv6(src=src, dst=dst, hlim=255 if t >= 133 else 64) / body)
        num = PROTO_NUM.get(p)
        if num is None:
            num = int(p) if str(p).isdigit() else 47
        if fam == 4:
            return bytes(IP(src=src, dst=dst, id=ipid, proto=num) / Raw(b'\0' * 24))
        return bytes(IPv6(src=src, dst=dst, nh=num) / Raw(b'\0' * 24))

    def where(self, d):
        if d['kind'] == 'out':
            w = {'local': True, 'uid': d.get('uid', 0), 'gid': d.get('gid', 0)}
        else:
            w = {'iface': d['iface']}
            if d.get('src_mac'):
                w['src_mac'] = d['src_mac']
        return w

    def single(self, d):
        p = dict(self.where(d))
        p['hex'] = self.packet_bytes(d).hex()
        return Single(p)

    def flow(self, d, moves=None):
        import gen_scenario as gs
        proto = {'icmp': 'echo', 'icmpv6': 'echo'}.get(d['proto'], d['proto'])
        client = dict(self.where(d))
        client['addr'] = d['src']
        f = gs.Flow(self, d['kind'], self.fam, proto, client, d['dst'], d.get('dport', 0))
        if d.get('sport'):
            f.cport = d['sport']
        f.moves = moves or self.moves(d)
        return f

    def background(self):
        """Everyday traffic: DNS and web from the host, ssh and ping to it, a LAN client out."""
        fam, r = self.fam, self.r
        out = []
        up = self.uplink
        dns = self.remote()
        out.append({'fam': fam, 'kind': 'out', 'src': self.src_for(dns), 'dst': dns, 'proto': 'udp',
                    'dport': 53, 'uid': 0, 'gid': 0, 'iface': None, 'states': set(), 'flow': True})
        rem = self.remote()
        out.append({'fam': fam, 'kind': 'in', 'src': rem, 'dst': self.host_addr(up), 'proto': 'tcp',
                    'dport': 22, 'iface': up, 'flags': 'S', 'states': set(), 'flow': True})
        out.append({'fam': fam, 'kind': 'in', 'src': self.remote(), 'dst': self.host_addr(up),
                    'proto': 'icmp' if fam == 4 else 'icmpv6', 'icmp': (8 if fam == 4 else 128, 0),
                    'iface': up, 'states': set(), 'flow': True})
        lans = [n for n in self.ifs if n != up]
        if self.forwarding and lans:
            lan = r.choice(lans)
            out.append({'fam': fam, 'kind': 'fwd', 'src': self.neighbour(lan), 'dst': self.remote(),
                        'proto': 'tcp', 'dport': 443, 'iface': lan, 'flags': 'S', 'states': set(),
                        'flow': True})
        web = self.remote()
        out.append({'fam': fam, 'kind': 'out', 'src': self.src_for(web), 'dst': web, 'proto': 'tcp',
                    'dport': 443, 'uid': 1000, 'gid': 1000, 'iface': None, 'flags': 'S', 'states': set(),
                    'flow': True})
        return out

    def plan(self):
        """The flows and single packets of the scenario (not yet sent), and notes."""
        r = self.r
        items, notes = [], []
        budget = self.max_packets * 5 // 4
        for d in self.background():
            mv = self.moves(d)[:5] if d['proto'] == 'tcp' else None
            f = self.flow(d, mv)
            items.append(f)
            budget -= len(f.moves)
        bychain = collections.OrderedDict()
        for x in self.rules:
            if (x.table, x.chain) in self.paths and not x.timed():
                bychain.setdefault((x.table, x.chain), []).append(x)
        chains = list(bychain)
        r.shuffle(chains)
        for lst in bychain.values():
            r.shuffle(lst)
        k = 0
        while budget > 3 and any(bychain.values()):
            key = chains[k % len(chains)]
            k += 1
            if not bychain[key]:
                continue
            x = bychain[key].pop()
            m = self.merged(x)
            if m is None:
                continue
            try:
                d = self.choose(m)
            except (ValueError, StopIteration, IndexError, KeyError):
                d = None
            if d is None:
                continue
            it = self.flow(d) if d['flow'] else self.single(d)
            n = len(it.moves)
            notes.append('%s/%s/%d %s%s' % (x.table, x.chain, x.num, d['kind'],
                                           ' flow of %d' % n if d['flow'] else ''))
            items.append(it)
            budget -= n
            if r.random() < 0.6 and budget > 1:
                e = self.near_miss(d, m)
                if e is not None:
                    items.append(self.single(e))
                    budget -= 1
        return items, notes


class Single:
    """A packet on its own, with the same interface as gen_scenario.Flow."""

    def __init__(self, p):
        self.p = p
        self.moves = [None]
        self.sent = False

    def next(self):
        if self.sent:
            return None
        self.sent = True
        return dict(self.p)

    def observe(self, res):
        pass


# ---------------------------------------------------------------------------
# one scenario


def derive(text, parse_text, fam, seed, out, max_packets=80):
    """Write scenario `out` (host.json, rules, packets.jsonl) from a ruleset; needs root:
    the replies are made from what the kernel did (kernel_sim.Session).  Raises
    kernel_sim.KernelRefused when iptables-legacy-restore refuses the ruleset."""
    import kernel_sim
    dv = Derived(parse_text, fam, seed, max_packets)
    hostj = dv.host_json()
    rules = {fam: text}
    items, notes = dv.plan()
    r = dv.r
    lines = []
    with kernel_sim.Session(hostj, rules) as sess:
        active, pending = [], list(items)
        while len(lines) < max_packets and (active or pending):
            if pending and (not active or r.random() < 0.35):
                active.append(pending.pop(0))
            f = r.choice(active)
            p = f.next()
            if p is None:
                active.remove(f)
                continue
            res = sess.send(p)
            lines.append(p)
            f.observe(res)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, 'host.json'), 'w') as f:
        json.dump(hostj, f, indent=1)
    with open(os.path.join(out, 'rules.v%d' % fam), 'w') as f:
        f.write(text)
    with open(os.path.join(out, 'packets.jsonl'), 'w') as f:
        for p in lines:
            f.write(json.dumps(p) + '\n')
    with open(os.path.join(out, 'NOTES'), 'w') as f:
        f.write('derived by corpus_diff.py (seed %d): uplink %s; interfaces %s; routes %s; forwarding %s\n'
                % (seed, dv.uplink, ', '.join('%s %s/%d%s' % (n, v['addr'], v['subnet'].prefixlen,
                                                              ' +' + ','.join(map(str, v['extra'])) if v['extra'] else '')
                                              for n, v in dv.ifs.items()),
                   ', '.join('%s via %s dev %s' % (x[0], x[2], x[1]) for x in dv.routes) or '-', dv.forwarding))
        f.write('aimed at: ' + '; '.join(notes) + '\n')
    return dv, len(lines)


def timing_sensitive(sdir, fam):
    """Rules with timed matches (limit, hashlimit, recent...) that the kernel counted at
    least their burst: their answer may depend on when the packets left."""
    p = os.path.join(sdir, 'expected.v%d' % fam)
    if not os.path.exists(p):
        return []
    out = []
    for line in open(p):
        m = re.match(r'^\[(\d+):\d+\] (-A .*)$', line.strip())
        if not m or not re.search(r'-m (limit|hashlimit|recent|statistic|connlimit|time)\b', m.group(2)):
            continue
        burst = re.search(r'--(?:limit|hashlimit)-burst (\d+)', m.group(2))
        need = int(burst.group(1)) if burst else 5
        if 'recent' in m.group(2) or int(m.group(1)) >= need:
            out.append(m.group(2))
    return out


# ---------------------------------------------------------------------------
# the suite


def netfence_loads(netfence, path, fam):
    args = [netfence, 'check'] + (['-6'] if fam == 6 else []) + [path]
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    return r.returncode == 0, (r.stderr or r.stdout).strip().splitlines()[:1]


def scen_name(rel):
    return re.sub(r'[^A-Za-z0-9_.-]+', '_', rel)


def one(job):
    try:
        rel, status, text, n, dt = _one(job)
    except Exception:
        import traceback
        rel, status, text, n, dt = job['rel'], 'error', 'FAIL %s: harness error:\n%s' % (
            job['rel'], traceback.format_exc()), 0, 0
    return '%s@%d' % (rel, job['gseed']), status, text.replace(rel + ':', '%s@%d:' % (rel, job['gseed']), 1), n, dt


def _one(job):
    import kernel_sim
    rel, fam, seed = job['rel'], job['fam'], job['seed']
    t0 = time.time()
    d = os.path.join(job['base'], '%s@%d' % (scen_name(rel), job['gseed']))
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    text = open(os.path.join(job['corpus'], 'rulesets', rel)).read()
    ptext = saved_text(job['corpus'], rel) or text
    replay = '%s %s --only %s --seed %d --keep /tmp/nfcorpus --netfence %s' % (  # noqa
        sys.executable, os.path.abspath(__file__), rel, job['gseed'], job['netfence'])
    try:
        dv, n = derive(text, ptext, fam, seed, d, job['max_packets'])
    except kernel_sim.KernelRefused as e:
        shutil.rmtree(d, ignore_errors=True)
        return rel, 'krefused', 'SKIP %s: iptables-legacy-restore refuses it: %s' % (
            rel, str(e).strip().splitlines()[0][:200] if str(e).strip() else ''), 0, time.time() - t0
    rep = {}
    for attempt in range(2):
        rep = kernel_sim.simulate(d, d)
        if rep.get('timing_ok', True):
            break
    ok, text = run_diff.check_one(rel, d, job['netfence'], d, replay=replay)
    if not ok:
        # a kernel run disturbed by the machine (seen once: every arriving packet
        # "before-hooks") must not count: the kernel gets a second chance
        first = open(os.path.join(d, 'expected.jsonl')).read()
        rep = kernel_sim.simulate(d, d)
        if open(os.path.join(d, 'expected.jsonl')).read() != first:
            ok, text = run_diff.check_one(rel, d, job['netfence'], d, replay=replay)
            text += '\n  (the kernel answered differently in a first run; this is the second)'
    if not ok and os.path.exists(os.path.join(d, 'NOTES')):
        text += '\n  ' + open(os.path.join(d, 'NOTES')).read().splitlines()[0]
    status = 'pass' if ok else 'fail'
    if not ok:
        sens = timing_sensitive(d, fam)
        if sens or not rep.get('timing_ok', True):
            status = 'inconclusive'
            text = text.replace('FAIL', 'INCONCLUSIVE (timed matches reached their burst: %s)' %
                                '; '.join(sens[:2]), 1)
        if rep.get('warnings'):
            text += '\n  kernel_sim warnings: ' + '; '.join(rep['warnings'][:5])
    if ok and not job['keep']:
        shutil.rmtree(d, ignore_errors=True)
    return rel, status, text, n, time.time() - t0


def load_known(path):
    known = {}
    if path and os.path.exists(path):
        for line in open(path):
            line = line.split('#', 1)[0].strip() if not line.lstrip().startswith('#') else ''
            if line:
                rel, _, why = line.partition(' ')
                known[rel if '@' in rel else rel + '@1'] = why.strip()
    return known


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--netfence', default=run_diff.default_netfence())
    ap.add_argument('--shared', default=os.environ.get('NETFENCE_SHARED', os.path.join(ROOT, '..', 'shared')))
    ap.add_argument('--seed', default='1', help='derivation seeds, comma-separated (hosts, traffic, sample): '
                    'each ruleset runs once per seed')
    ap.add_argument('--sample', type=int, default=0, help='run only N rulesets (a seeded sample)')
    ap.add_argument('--only', help='rulesets whose path contains one of these (comma-separated)')
    ap.add_argument('--max-packets', type=int, default=80)
    ap.add_argument('--jobs', type=int)
    ap.add_argument('--keep', metavar='DIR', help='keep every scenario under DIR')
    ap.add_argument('--known', default=os.path.join(HERE, 'corpus_known_diffs.txt'),
                    help='rulesets with a known, documented difference (expected failures)')
    ap.add_argument('--max-report', type=int, default=15)
    a = ap.parse_args(argv)
    why = run_diff.kernel_available()
    if why:
        print('*' * 72, file=sys.stderr)
        print('corpus_diff: SKIPPING the corpus kernel-differential suite: %s' % why, file=sys.stderr)
        print('*' * 72, file=sys.stderr)
        return 77
    a.netfence = os.path.abspath(a.netfence) if os.path.exists(a.netfence) else a.netfence
    corpus = os.path.join(a.shared, 'corpus')
    if not os.path.isdir(corpus):
        print('corpus_diff: no corpus under %s' % corpus, file=sys.stderr)
        return 2
    import kernel_sim
    kernel_sim.cleanup_stale()
    allr = corpus_list(corpus)
    t0 = time.time()
    refused_kernel_test = [x for x in allr if not x[2]]
    cands, nf_refused = [], []
    for rel, fam, loads in allr:
        if not loads:
            continue
        if a.only and not any(s in rel for s in a.only.split(',')):
            continue
        ok, why = netfence_loads(a.netfence, os.path.join(corpus, 'rulesets', rel), fam)
        (cands if ok else nf_refused).append((rel, fam))
    seeds = [int(x) for x in str(a.seed).split(',') if x.strip()]
    if a.sample and a.sample < len(cands):
        cands = sorted(random.Random(seeds[0]).sample(cands, a.sample))
    base = a.keep or tempfile.mkdtemp(prefix='nfcorpus-')
    os.makedirs(base, exist_ok=True)
    jobs = [{'rel': rel, 'fam': fam, 'seed': sd * 1000003 + sum(map(ord, rel)) * 7919 + len(rel),
             'gseed': sd, 'base': base, 'corpus': corpus, 'netfence': a.netfence,
             'keep': bool(a.keep), 'max_packets': a.max_packets} for sd in seeds for rel, fam in cands]
    cpus = sorted(os.sched_getaffinity(0))
    nj = max(1, min(a.jobs or 2 * len(cpus), len(jobs) or 1))
    res = collections.defaultdict(list)
    packets = collections.Counter()
    shown = 0
    counter = multiprocessing.Value('i', 0)
    with multiprocessing.Pool(nj, initializer=run_diff._init_worker, initargs=(cpus, counter)) as pool:
        for rel, status, text, n, dt in pool.imap_unordered(one, jobs):
            res[status].append(rel)
            packets[status] += n
            if status in ('fail', 'error', 'inconclusive'):
                shown += 1
                if shown <= a.max_report:
                    print(text, flush=True)
                else:
                    print(text.splitlines()[0][:300], flush=True)
    known = load_known(a.known)
    bad = [x for x in res['fail'] + res['error'] if x not in known]
    xfail = sorted(x for x in res['fail'] if x in known)
    fixed = sorted(x for x in res['pass'] if x in known)
    for x in xfail:
        print('XFAIL %s: %s' % (x, known[x]))
    for x in fixed:
        print('FIXED %s now matches; remove it from %s' % (x, a.known))
    ran = len(jobs) - len(res['krefused'])
    print('corpus: %d rulesets in the corpus; %d refused by iptables-legacy-restore --test, %d refused by '
          'netfence, %d scenarios refused by iptables-legacy-restore in the namespace; %d scenarios run '
          '(%d rulesets x %d seeds, %d packets): %d match '
          '(%d packets), %d differ, %d known, %d inconclusive (timing), %d harness errors (%.0fs, %d jobs)' % (
              len(allr), len(refused_kernel_test), len(nf_refused), len(res['krefused']), ran,
              len(cands), len(seeds), sum(packets.values()), len(res['pass']), packets['pass'], len(res['fail']) - len(xfail),
              len(xfail), len(res['inconclusive']), len(res['error']), time.time() - t0, nj))
    if nf_refused and a.only is None and not a.sample:
        print('netfence refuses: ' + ', '.join(r for r, f in nf_refused))
    if bad:
        print('differing: ' + ','.join(sorted(bad)))
        print('kept in ' + base)
    elif not a.keep:
        shutil.rmtree(base, ignore_errors=True)
    return 1 if bad or fixed else 0


if __name__ == '__main__':
    sys.exit(main())
