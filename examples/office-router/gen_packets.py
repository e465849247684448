#!/usr/bin/python3
"""Writes packets.jsonl for the office router example (needs python3-scapy)."""
import json
from scapy.all import IP, TCP, UDP, ICMP, raw

WAN, LAN, DMZ = "wan0", "lan0", "dmz0"
ROUTER_WAN = "203.0.113.2"
lines = []


def add(pkt, iface=None, **extra):
    d = {"hex": raw(pkt).hex()}
    if iface:
        d["iface"] = iface
    else:
        d["local"] = True
    d.update(extra)
    lines.append(d)


t = 0.0
# A LAN client opens an HTTPS connection to the internet (MASQUERADE).
c, s = "192.168.10.50", "198.51.100.7"
add(IP(src=c, dst=s, id=1) / TCP(sport=40000, dport=443, flags="S", seq=1000), LAN, t=t)
add(IP(src=s, dst=ROUTER_WAN, id=2) / TCP(sport=443, dport=40000, flags="SA", seq=5000, ack=1001), WAN, t=t + 0.01)
add(IP(src=c, dst=s, id=3) / TCP(sport=40000, dport=443, flags="A", seq=1001, ack=5001), LAN, t=t + 0.02)
# Someone on the internet reaches the DMZ web server (DNAT), and it answers.
r = "198.51.100.9"
add(IP(src=r, dst=ROUTER_WAN, id=4) / TCP(sport=51000, dport=443, flags="S", seq=7000), WAN, t=t + 0.1)
add(IP(src="10.20.0.10", dst=r, id=5) / TCP(sport=443, dport=51000, flags="SA", seq=9000, ack=7001), DMZ, t=t + 0.11)
# SSH from the LAN to the router itself, and DNS to it.
add(IP(src=c, dst="192.168.10.1", id=6) / TCP(sport=40001, dport=22, flags="S", seq=1), LAN, t=t + 0.2)
add(IP(src=c, dst="192.168.10.1", id=7) / UDP(sport=40002, dport=53) / b"\x12\x34\x01\x00", LAN, t=t + 0.21)
# A port scan from the internet: refused with a TCP reset.
add(IP(src=r, dst=ROUTER_WAN, id=8) / TCP(sport=51001, dport=23, flags="S", seq=11), WAN, t=t + 0.3)
# Ping from the internet.
add(IP(src=r, dst=ROUTER_WAN, id=9) / ICMP(type=8, id=77, seq=1), WAN, t=t + 0.4)
# The DMZ may not open connections into the LAN.
add(IP(src="10.20.0.10", dst=c, id=10) / TCP(sport=33000, dport=445, flags="S", seq=3), DMZ, t=t + 0.5)
# The router itself queries a DNS server on the internet.
add(IP(src="0.0.0.0", dst="198.51.100.53", id=11) / UDP(sport=41000, dport=53) / b"\xab\xcd\x01\x00",
    None, t=t + 0.6, uid=0, gid=0)

with open("packets.jsonl", "w") as f:
    for d in lines:
        f.write(json.dumps(d) + "\n")
