#!/usr/bin/python3
"""Conntrack helpers (ftp, tftp, netbios-ns, sane, amanda; pptp and irc where
they do nothing) and their expectations: records
the kernel's answers and checks netfence simulate against them.

Each scenario is a directory under tests/fixtures/helper_ct/ (host.json,
rules.v4, packets.jsonl, as the contract has them): a host whose raw table
attaches a helper with `-j CT --helper NAME` and whose filter chains count
packets per conntrack state (NEW, ESTABLISHED, RELATED, INVALID, -m helper,
--ctstatus EXPECTED), and packet exchanges: FTP control connections with
PORT, EPRT, 227 (PASV) and 229 (EPSV), then their data connections; a TFTP
read request and its transfer; a NetBIOS name query broadcast and answers;
SANE_NET_START and its reply; amanda's CONNECT line and its refresh of the
entry; pptp and irc connections whose payloads those helpers leave alone;
and the cases the helpers refuse (no helper, an address other than the
sender's, a command not at a line start, a partial command, a second
command replacing the first, a reused expectation, an expired one).

    sudo tests/kernel/record_helper_ct.py --write --record   # regenerate
    tests/kernel/record_helper_ct.py --check --netfence build/netfence

--record runs every scenario through the kernel (kernel_sim.py: network
namespaces, iptables-legacy) and stores expected.jsonl (per packet: verdict
and ct state), expected.v4 (counters) and report.json, whose conntrack_final
holds /proc/net/nf_conntrack after the last packet and expect_final
/proc/net/nf_conntrack_expect. --check runs netfence simulate on the same
files and compares packets and counters (compare.py) and the final
connection and expectation tables (timeouts excepted); it needs no kernel.
"""

import argparse
import ipaddress
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import gen_scenario as gs  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(HERE)), 'tests', 'fixtures',
                        'helper_ct')

LAN, WAN = 'eth0', 'eth1'
CLIENT, SERVER, OTHER = '10.0.0.2', '192.0.2.2', '10.0.0.9'
HOST_LAN, HOST_WAN = '10.0.0.1', '192.0.2.1'


def host_json():
    """A router between 10.0.0.0/24 (eth0) and 192.0.2.0/24 (eth1), with
    broadcast addresses (brd +) so that the broadcast helper finds them."""
    h = gs.Host.__new__(gs.Host)
    h.r, h.v6, h.forwarding = None, False, True
    h.ifaces = [gs.Iface(LAN, 0), gs.Iface(WAN, 1)]
    for f, net, addr in ((h.ifaces[0], '10.0.0.0/24', HOST_LAN),
                         (h.ifaces[1], '192.0.2.0/24', HOST_WAN)):
        f.net4 = ipaddress.ip_network(net)
        f.addr4 = ipaddress.ip_address(addr)
        f.bcast = True
    h.uplink = h.ifaces[1]
    h.gw4 = h.gw6 = h.static4 = h.static6 = h.blackhole4 = None
    return h.to_json()


COUNT = """\
-A {c} -m conntrack --ctstate NEW
-A {c} -m conntrack --ctstate ESTABLISHED
-A {c} -m conntrack --ctstate RELATED
-A {c} -m conntrack --ctstate INVALID
-A {c} -m helper --helper {h}
-A {c} -m conntrack --ctstatus EXPECTED
"""


def rules(helper, match, chains=('FORWARD',), nat=None):
    """raw: the helper on `match` (None: no helper, conntrack still on);
    filter: state counters in `chains`."""
    raw = '*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n'
    if match:
        raw += '-A PREROUTING %s -j CT --helper %s\n' % (match, helper)
        raw += '-A OUTPUT %s -j CT --helper %s\n' % (match, helper)
    raw += 'COMMIT\n'
    flt = '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n'
    for c in chains:
        flt += COUNT.format(c=c, h=helper or 'ftp')
    flt += 'COMMIT\n'
    return raw + (nat or '') + flt


class Tcp:
    """One TCP connection's packets (client side `c`, server side `s`), with
    sequence numbers kept consistent so that the TCP tracker accepts them."""

    def __init__(self, sc, client, cport, server, sport, c_if=LAN, s_if=WAN, isn=(1000, 5000),
                 client_seen_as=None):
        self.sc, self.ends = sc, {'c': (client, cport, c_if), 's': (server, sport, s_if)}
        self.seq = {'c': isn[0], 's': isn[1]}
        self.seen = {'c': client_seen_as or client, 's': server}   # after NAT

    def send(self, who, flags, data=b'', dt=0.01):
        other = 's' if who == 'c' else 'c'
        src, sport, ifc = self.ends[who]
        _, dport, _ = self.ends[other]
        dst = self.seen[other]
        ack = self.seq[other] if 'A' in flags else 0
        b = gs.pkt_bytes(4, src, dst, 'tcp', sport, dport, flags, self.seq[who], ack, data)
        self.sc.add(ifc, b, dt)
        self.seq[who] += len(data) + (1 if ('S' in flags or 'F' in flags) else 0)

    def handshake(self):
        self.send('c', 'S')
        self.send('s', 'SA')
        self.send('c', 'A')

    def close(self):
        self.send('c', 'FA')
        self.send('s', 'FA')
        self.send('c', 'A')


class Scenario:
    def __init__(self, name, rules_text, doc):
        self.name, self.rules, self.doc = name, rules_text, doc
        self.packets, self.t = [], 0.0
        # Where kernel_sim cannot tell what the kernel did, the truth, with
        # the reason (written to known.json): `where` of packets (n -> place),
        # `counters` (a reason not to compare them).
        self.known = {}

    def add(self, iface, b, dt=0.01, local=False):
        self.t = round(self.t + dt, 3)
        p = {'hex': b.hex(), 't': self.t}
        if local:
            p['local'] = True
        else:
            p['iface'] = iface
        self.packets.append(p)


FTP_RAW = '-p tcp --dport 21'


def ftp_control(sc, cport=40000, first=b'USER anon\r\n', client_seen_as=None):
    """A control connection to SERVER:21 that has exchanged a banner and one
    command, so that both directions know where their lines start."""
    f = Tcp(sc, CLIENT, cport, SERVER, 21, client_seen_as=client_seen_as)
    f.handshake()
    f.send('s', 'PA', b'220 ready\r\n')
    f.send('c', 'A')
    f.send('c', 'PA', first)
    f.send('s', 'PA', b'331 ok\r\n')
    return f


def active(sc, f, port, cmd=None, data_port=20):
    f.send('c', 'PA', cmd or ('PORT 10,0,0,2,%d,%d\r\n' % (port >> 8, port & 255)).encode())
    f.send('s', 'PA', b'200 PORT ok\r\n')
    d = Tcp(sc, SERVER, data_port, CLIENT, port, c_if=WAN, s_if=LAN, isn=(7000, 9000))
    d.handshake()
    d.send('c', 'PA', b'file contents\n')
    d.send('s', 'A')
    d.close()
    return d


def passive_data(sc, port, cport=41000):
    d = Tcp(sc, CLIENT, cport, SERVER, port, isn=(3000, 8000))
    d.handshake()
    d.send('s', 'PA', b'file contents\n')
    d.send('c', 'A')
    d.close()


def scenarios():
    out = []

    def new(name, doc, **kw):
        sc = Scenario(name, rules('ftp', FTP_RAW, **kw), doc)
        out.append(sc)
        return sc

    sc = new('ftp_active', 'PORT from the client: the server\'s data connection is RELATED')
    f = ftp_control(sc)
    active(sc, f, 5001)
    f.send('s', 'PA', b'226 done\r\n')

    sc = new('ftp_passive', '227 from the server: the client\'s data connection is RELATED')
    f = ftp_control(sc)
    f.send('c', 'PA', b'PASV\r\n')
    f.send('s', 'PA', b'227 Entering Passive Mode (192,0,2,2,19,140).\r\n')
    passive_data(sc, 5004)

    sc = new('ftp_eprt', 'EPRT |1|addr|port| from the client')
    f = ftp_control(sc)
    active(sc, f, 5002, cmd=b'EPRT |1|10.0.0.2|5002|\r\n')

    sc = new('ftp_epsv', '229 (|||port|) from the server')
    f = ftp_control(sc)
    f.send('c', 'PA', b'EPSV\r\n')
    f.send('s', 'PA', b'229 Entering Extended Passive Mode (|||5003|)\r\n')
    passive_data(sc, 5003)

    sc = new('ftp_pending', 'PORT and PASV answered, no data connection yet: the '
             'expectations are listed; lowercase commands match too')
    f = ftp_control(sc)
    f.send('c', 'PA', b'port 10,0,0,2,19,141\r\n')
    f.send('s', 'PA', b'200 ok\r\n')
    g = ftp_control(sc, cport=40001)
    g.send('c', 'PA', b'PASV\r\n')
    g.send('s', 'PA', b'227 =192,0,2,2,19,142\r\n')

    sc = new('ftp_no_helper', 'the same PORT without the helper: NEW')
    sc.rules = rules(None, None)
    f = ftp_control(sc)
    active(sc, f, 5001)

    sc = new('ftp_third_party', 'PORT naming another host: ignored (loose=0)')
    f = ftp_control(sc)
    f.send('c', 'PA', b'PORT 10,0,0,9,19,137\r\n')
    f.send('s', 'PA', b'200 ok\r\n')
    d = Tcp(sc, SERVER, 20, OTHER, 5001, c_if=WAN, s_if=LAN, isn=(7000, 9000))
    d.handshake()

    sc = new('ftp_first_line', 'PORT in the first data packet: no line start known yet')
    f = ftp_control(sc, first=b'PORT 10,0,0,2,19,137\r\n')
    d = Tcp(sc, SERVER, 20, CLIENT, 5001, c_if=WAN, s_if=LAN, isn=(7000, 9000))
    d.handshake()

    sc = new('ftp_partial', 'PORT cut before its end: the kernel drops the packet; '
             'the whole command in the next packet works')
    f = ftp_control(sc)
    f.send('c', 'PA', b'PORT 10,0,0,2,19')
    sc.known['where'] = {str(len(sc.packets)): 'conntrack'}
    sc.known['why'] = ('the partial command is dropped by the ftp helper in nf_confirm, '
                       'after the last rule: kernel_sim names the last rule it traced')
    f.seq['c'] -= len(b'PORT 10,0,0,2,19')      # dropped: sent again whole
    f.send('c', 'PA', b'PORT 10,0,0,2,19,137\r\n')
    f.send('s', 'PA', b'200 ok\r\n')
    d = Tcp(sc, SERVER, 20, CLIENT, 5001, c_if=WAN, s_if=LAN, isn=(7000, 9000))
    d.handshake()

    sc = new('ftp_two_ports', 'a second PORT replaces the first expectation (max_expected 1)')
    f = ftp_control(sc)
    f.send('c', 'PA', b'PORT 10,0,0,2,19,137\r\n')
    f.send('s', 'PA', b'200 ok\r\n')
    f.send('c', 'PA', b'PORT 10,0,0,2,19,138\r\n')
    f.send('s', 'PA', b'200 ok\r\n')
    d = Tcp(sc, SERVER, 20, CLIENT, 5001, c_if=WAN, s_if=LAN, isn=(7000, 9000))
    d.send('c', 'S')
    d = Tcp(sc, SERVER, 20, CLIENT, 5002, c_if=WAN, s_if=LAN, isn=(7000, 9000))
    d.send('c', 'S')

    sc = new('ftp_reuse', 'an expectation is used once: a second data connection is NEW')
    f = ftp_control(sc)
    f.send('c', 'PA', b'PORT 10,0,0,2,19,137\r\n')
    f.send('s', 'PA', b'200 ok\r\n')
    d = Tcp(sc, SERVER, 20, CLIENT, 5001, c_if=WAN, s_if=LAN, isn=(7000, 9000))
    d.handshake()
    d = Tcp(sc, SERVER, 2020, CLIENT, 5001, c_if=WAN, s_if=LAN, isn=(17000, 19000))
    d.send('c', 'S')

    sc = new('ftp_wrong_dir', 'PORT from the server and 227 from the client: ignored')
    f = ftp_control(sc)
    f.send('s', 'PA', b'PORT 192,0,2,2,19,137\r\n')
    f.send('c', 'PA', b'227 Entering Passive Mode (10,0,0,2,19,140).\r\n')
    d = Tcp(sc, CLIENT, 41000, SERVER, 5001, isn=(3000, 8000))
    d.send('c', 'S')
    d = Tcp(sc, SERVER, 41000, CLIENT, 5004, c_if=WAN, s_if=LAN, isn=(3000, 8000))
    d.send('c', 'S')

    sc = new('ftp_masquerade', 'PORT on a masqueraded control connection: the kernel '
             'rewrites it (nf_nat_ftp); netfence refuses to answer (not modelled)')
    sc.rules = rules('ftp', FTP_RAW, nat='*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n'
                     ':OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n'
                     '-A POSTROUTING -o eth1 -j MASQUERADE\nCOMMIT\n')
    sc.known = {'refuse': 'nf_nat_ftp'}
    f = ftp_control(sc, client_seen_as=HOST_WAN)
    f.send('c', 'PA', b'PORT 10,0,0,2,19,137\r\n')
    d = Tcp(sc, SERVER, 20, HOST_WAN, 5001, c_if=WAN, s_if=LAN, isn=(7000, 9000))
    d.send('c', 'S')

    # TFTP: read request to SERVER:69, the transfer comes from another port.
    sc = Scenario('tftp_read', rules('tftp', '-p udp --dport 69'),
                  'RRQ: the server\'s reply from its own port is RELATED')
    out.append(sc)
    rrq = b'\x00\x01boot.img\x00octet\x00'
    sc.add(LAN, gs.pkt_bytes(4, CLIENT, SERVER, 'udp', 3000, 69, payload=rrq))
    sc.add(WAN, gs.pkt_bytes(4, SERVER, CLIENT, 'udp', 4000, 3000, payload=b'\x00\x03\x00\x01data'))
    sc.add(LAN, gs.pkt_bytes(4, CLIENT, SERVER, 'udp', 3000, 4000, payload=b'\x00\x04\x00\x01'))
    sc.add(WAN, gs.pkt_bytes(4, SERVER, CLIENT, 'udp', 4001, 3000, payload=b'\x00\x03\x00\x01data'))

    sc = Scenario('tftp_pending', rules('tftp', '-p udp --dport 69'),
                  'RRQ and WRQ without transfers: the expectations; data packets expect nothing')
    out.append(sc)
    sc.add(LAN, gs.pkt_bytes(4, CLIENT, SERVER, 'udp', 3001, 69, payload=rrq))
    sc.add(LAN, gs.pkt_bytes(4, CLIENT, SERVER, 'udp', 3002, 69,
                             payload=b'\x00\x02up.txt\x00octet\x00'))
    sc.add(LAN, gs.pkt_bytes(4, CLIENT, SERVER, 'udp', 3003, 69, payload=b'\x00\x03\x00\x01'))

    # NetBIOS name service: the host itself broadcasts a query on eth0.
    nbq = bytes.fromhex('1234011000010000000000002045454542454645454645434143414341434143'
                        '414341434143414341434141410000200001')
    nb = rules('netbios-ns', '-p udp --dport 137', chains=('INPUT', 'OUTPUT'))
    sc = Scenario('netbios_ns', nb, 'a broadcast query: answers from any host of the '
                  'subnet are RELATED (permanent expectation); one from elsewhere is NEW')
    out.append(sc)
    nb_known = {'counters': 'the kernel loops a local broadcast back to the host '
                            '(ip_mc_output): PREROUTING and INPUT see a copy of the query '
                            'that netfence does not make'}
    sc.known = nb_known
    sc.add(None, gs.pkt_bytes(4, HOST_LAN, '10.0.0.255', 'udp', 40137, 137, payload=nbq),
           local=True)
    for src in ('10.0.0.7', '10.0.0.8'):
        sc.add(LAN, gs.pkt_bytes(4, src, HOST_LAN, 'udp', 137, 40137, payload=nbq))
    sc.add(WAN, gs.pkt_bytes(4, SERVER, HOST_LAN, 'udp', 137, 40137, payload=nbq))

    sc = Scenario('netbios_ns_timeout', nb, 'an answer after the 3 s expectation and entry '
                  'timeout is NEW')
    out.append(sc)
    sc.known = nb_known
    sc.add(None, gs.pkt_bytes(4, HOST_LAN, '10.0.0.255', 'udp', 40138, 137, payload=nbq),
           local=True)
    sc.add(LAN, gs.pkt_bytes(4, '10.0.0.7', HOST_LAN, 'udp', 137, 40138, payload=nbq), dt=3.6)

    sc = Scenario('netbios_ns_pending', nb, 'a query without answers: the permanent '
                  'expectation and the 3 s entry')
    out.append(sc)
    sc.known = nb_known
    sc.add(None, gs.pkt_bytes(4, HOST_LAN, '10.0.0.255', 'udp', 40139, 137, payload=nbq),
           local=True)

    # sane: a SANE_NET_START request (RPC code 7) and the server's successful
    # reply announce the port of the client's data connection.
    def sane(name, doc, code=7, status=0, zero=0, data=True):
        sc = Scenario(name, rules('sane', '-p tcp --dport 6566'), doc)
        out.append(sc)
        t = Tcp(sc, CLIENT, 40100, SERVER, 6566)
        t.handshake()
        t.send('c', 'PA', struct.pack('>II', code, 0))
        t.send('s', 'PA', struct.pack('>IHH', status, zero, 8080) + b'scanner\x00')
        t.send('c', 'A')
        if data:
            Tcp(sc, CLIENT, 40101, SERVER, 8080, isn=(3000, 8000)).handshake()
    sane('sane_start', 'SANE_NET_START and a successful reply: the client\'s connection '
         'to the announced port is RELATED')
    sane('sane_pending', 'SANE_NET_START answered: the expectation', data=False)
    sane('sane_other_rpc', 'another RPC (code 2): nothing expected, the data connection '
         'is NEW', code=2)
    sane('sane_refused', 'SANE_NET_START refused (status 1): nothing expected', status=1)
    sane('sane_bad_reply', 'a reply whose zero field is not zero: ignored', zero=1)

    # pptp and irc: connections whose payloads the helpers look at and leave.
    def tcp_sc(name, helper, port, doc, cport):
        sc = Scenario(name, rules(helper, '-p tcp --dport %d' % port), doc)
        out.append(sc)
        t = Tcp(sc, CLIENT, cport, SERVER, port)
        t.handshake()
        return sc, t
    sc, t = tcp_sc('pptp_not_control', 'pptp', 1723, 'payloads that are no PPTP control '
                   'messages (text; a management message): the pptp helper does nothing',
                   40200)
    t.send('c', 'PA', b'GET / HTTP/1.0\r\n\r\n')
    t.send('s', 'PA', struct.pack('>HHI', 16, 2, 0x1a2b3c4d) + bytes(8))
    t.send('c', 'A')
    t.close()
    sc, t = tcp_sc('irc_no_dcc', 'irc', 6667, 'IRC lines without a DCC request, and a DCC '
                   'request from the server (irc only reads the client\'s): nothing '
                   'expected', 40300)
    t.send('c', 'PA', b'NICK alice\r\nUSER a 0 * :Alice\r\n')
    t.send('s', 'PA', b':srv PRIVMSG alice :\x01DCC SEND f 3221225986 5555 10\x01\r\n')
    t.send('c', 'A')
    Tcp(sc, CLIENT, 40301, SERVER, 5555, isn=(3000, 8000)).handshake()

    # amanda (UDP 10080): the reply's CONNECT line announces up to three
    # ports; any reply refreshes the entry to 300 s.
    am = rules('amanda', '-p udp --dport 10080')
    req = b'Amanda 2.6 REQ HANDLE 000-00000001 SEQ 1\nSERVICE sendbackup\n'
    sc = Scenario('amanda_connect', am, 'CONNECT DATA/MESG/INDEX: the client\'s '
                  'connections to two of the ports are RELATED, the third is expected')
    out.append(sc)
    sc.add(LAN, gs.pkt_bytes(4, CLIENT, SERVER, 'udp', 850, 10080, payload=req))
    sc.add(WAN, gs.pkt_bytes(4, SERVER, CLIENT, 'udp', 10080, 850,
                             payload=b'Amanda 2.6 REP HANDLE 000-00000001 SEQ 1\n'
                                     b'CONNECT DATA 50000 MESG 50001 INDEX 50002\n'))
    for i, port in enumerate((50000, 50001)):
        Tcp(sc, CLIENT, 41000 + i, SERVER, port, isn=(3000, 8000)).handshake()
    sc = Scenario('amanda_no_port', am, 'a CONNECT line whose first port is 0 (the '
                  'helper stops there) and a reply without one: nothing expected')
    out.append(sc)
    sc.add(LAN, gs.pkt_bytes(4, CLIENT, SERVER, 'udp', 851, 10080, payload=req))
    sc.add(WAN, gs.pkt_bytes(4, SERVER, CLIENT, 'udp', 10080, 851,
                             payload=b'REP\nCONNECT DATA 0 MESG 50011\n'))
    sc.add(WAN, gs.pkt_bytes(4, SERVER, CLIENT, 'udp', 10080, 851, payload=b'REP\n'))
    Tcp(sc, CLIENT, 41010, SERVER, 50011, isn=(3000, 8000)).handshake()
    sc = Scenario('amanda_refresh', am, 'a reply refreshes the entry to 300 s: the '
                  'client\'s packet 50 s later (past the 30 s UDP timeout) is ESTABLISHED '
                  '(an unrelated packet halfway keeps the gaps under 30 s)')
    out.append(sc)
    sc.add(LAN, gs.pkt_bytes(4, CLIENT, SERVER, 'udp', 852, 10080, payload=req))
    sc.add(WAN, gs.pkt_bytes(4, SERVER, CLIENT, 'udp', 10080, 852, payload=b'REP\n'))
    sc.add(LAN, gs.pkt_bytes(4, OTHER, SERVER, 'udp', 999, 9, payload=b'x'), dt=25)
    sc.add(LAN, gs.pkt_bytes(4, CLIENT, SERVER, 'udp', 852, 10080, payload=req), dt=25)
    return out


def write(scs):
    hj = host_json()
    for sc in scs:
        d = os.path.join(FIXTURES, sc.name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, 'host.json'), 'w') as f:
            json.dump(hj, f)
        with open(os.path.join(d, 'rules.v4'), 'w') as f:
            f.write(sc.rules)
        with open(os.path.join(d, 'packets.jsonl'), 'w') as f:
            for p in sc.packets:
                f.write(json.dumps(p) + '\n')
        with open(os.path.join(d, 'README'), 'w') as f:
            f.write(sc.doc + '\n')
        kp = os.path.join(d, 'known.json')
        if sc.known:
            with open(kp, 'w') as f:
                json.dump(sc.known, f, indent=1)
        elif os.path.exists(kp):
            os.unlink(kp)


def record(names):
    import kernel_sim as ks

    orig = ks.Run.collect
    seen = []

    def collect(self):
        # Also read the expectation table (kernel_sim reads nf_conntrack only);
        # the first run of a scenario is the one reported.
        orig(self)
        with ks.InNS(self.host.h):
            try:
                with open('/proc/thread-self/net/nf_conntrack_expect') as f:
                    seen.append([' '.join(l.split()) for l in f])
            except OSError:
                seen.append([])

    ks.Run.collect = collect
    ks.pin_cpu(None)
    for n in names:
        del seen[:]
        rep = ks.simulate(os.path.join(FIXTURES, n), None, 30.0, True)
        for w in rep['warnings']:
            print('%s: warning: %s' % (n, w), file=sys.stderr)
        path = os.path.join(FIXTURES, n, 'report.json')
        rep = json.load(open(path))
        rep['expect_final'] = seen[0] if seen else []
        with open(path, 'w') as f:
            json.dump(rep, f, indent=1)
        print('recorded %s' % n, file=sys.stderr)
        tr = os.path.join(FIXTURES, n, 'trace.jsonl')
        if os.path.exists(tr) and os.path.getsize(tr) > 200000:
            print('%s: trace.jsonl is large' % n, file=sys.stderr)


def table(lines):
    """Entries without their timeouts (the first number after the protocol),
    sorted: the kernel lists them in hash order."""
    out = []
    for l in lines:
        w = l.split()
        if len(w) > 2 and w[0].isalpha() and w[2].isdigit():
            w = w[:2] + w[3:]               # conntrack: "udp 17 29 src=..."
        elif w and w[0].lstrip('-').isdigit():
            w = w[1:]                       # expect: "299 l3proto = 2 ..."
        # /proc/net/nf_conntrack's zone=0 and reference counts are not
        # conntrack -L's.
        w = [x for x in w if x != 'zone=0' and not x.startswith('use=')]
        out.append(' '.join(w))
    return sorted(out)


def expected_dir(d, tmp):
    """The kernel's expected files, with known.json's corrections applied."""
    kp = os.path.join(d, 'known.json')
    if not os.path.exists(kp):
        return d
    known = json.load(open(kp))
    e = os.path.join(tmp, 'expected')
    os.makedirs(e)
    for n in ('trace.jsonl', 'expected.v4'):
        if os.path.exists(os.path.join(d, n)) and not (n == 'expected.v4' and
                                                        'counters' in known):
            shutil.copy(os.path.join(d, n), e)
    with open(os.path.join(d, 'expected.jsonl')) as f, \
            open(os.path.join(e, 'expected.jsonl'), 'w') as g:
        for i, line in enumerate(f, 1):
            o = json.loads(line)
            if str(i) in known.get('where', {}):
                o['where'] = known['where'][str(i)]
            g.write(json.dumps(o) + '\n')
    return e


def check(names, netfence):
    import compare
    import run_diff
    bad = 0
    for n in names:
        d = os.path.join(FIXTURES, n)
        if not os.path.exists(os.path.join(d, 'expected.jsonl')):
            print('SKIP %s: not recorded' % n)
            continue
        with tempfile.TemporaryDirectory() as tmp:
            ct_out, exp_out = os.path.join(tmp, 'ct'), os.path.join(tmp, 'exp')
            rc, out, err, counters = run_diff.run_netfence(netfence, d, tmp)
            refuse = json.load(open(os.path.join(d, 'known.json'))).get('refuse') \
                if os.path.exists(os.path.join(d, 'known.json')) else None
            if refuse:
                # Not modelled: netfence must say so, with no answer at all.
                ok = rc != 0 and not out.strip() and refuse in err
                print('%s helper_ct/%s: netfence refuses (%s)' % (
                    'PASS' if ok else 'FAIL', n, err.strip() or 'rc %d' % rc))
                bad += not ok
                continue
            if rc != 0:
                print('FAIL helper_ct/%s: netfence simulate exited %d: %s' % (n, rc, err.strip()))
                bad += 1
                continue
            ok, summary, report = compare.compare(d, out, counters, expected_dir(d, tmp))
            text = '%s helper_ct/%s: %s' % ('PASS' if ok else 'FAIL', n, summary)
            text += ''.join('\n  ' + l for l in ([] if ok else report))
            subprocess.run([netfence, 'simulate', '--host', os.path.join(d, 'host.json'),
                            '--rules', os.path.join(d, 'rules.v4'), '--packets',
                            os.path.join(d, 'packets.jsonl'), '--conntrack', ct_out,
                            '--expect', exp_out], capture_output=True)
            rep = json.load(open(os.path.join(d, 'report.json')))
            final = dict(rep.get('conntrack_final', {}), vexpect=rep.get('expect_final', []))
            mine_ct = open(ct_out).read().splitlines() if os.path.exists(ct_out) else []
            mine_exp = open(exp_out).read().splitlines() if os.path.exists(exp_out) else []
            for what, k, mine in (('conntrack', 'v4', mine_ct),
                                  ('expectations', 'vexpect', mine_exp)):
                want = table(final.get(k, []))
                got = table(mine)
                if want != got:
                    ok = False
                    text = text.replace('PASS', 'FAIL', 1)
                    text += '\n  %s differ:\n    kernel:   %s\n    netfence: %s' % (
                        what, '\n              '.join(want) or '(none)',
                        '\n              '.join(got) or '(none)')
            if os.path.exists(os.path.join(d, 'known.json')):
                text += ' (known.json applied)'
        print(text)
        bad += not ok
    print('helper_ct: %d of %d scenarios match the kernel' % (len(names) - bad, len(names)))
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--write', action='store_true', help='(re)write the scenario inputs')
    ap.add_argument('--record', action='store_true', help='run them through the kernel (root)')
    ap.add_argument('--check', action='store_true', help='compare netfence with the recordings')
    ap.add_argument('--netfence', default='build/netfence')
    ap.add_argument('--only', help='comma-separated scenario names')
    a = ap.parse_args()
    scs = scenarios()
    names = [sc.name for sc in scs]
    if a.only:
        names = [n for n in names if n in a.only.split(',')]
    if a.write:
        write([sc for sc in scs if sc.name in names])
    if a.record:
        if os.geteuid() != 0:
            print('record_helper_ct: --record needs root', file=sys.stderr)
            return 77
        record(names)
    if a.check:
        return check(names, a.netfence)
    return 0


if __name__ == '__main__':
    sys.exit(main())
