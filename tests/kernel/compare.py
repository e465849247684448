#!/usr/bin/python3
"""Compare `netfence simulate` output with the kernel's expected files.

    compare.py SCENARIO_DIR ACTUAL.jsonl [--counters OUT.v4] [--counters6 OUT.v6]
               [--expected-dir DIR] [--replay CMD] [--name NAME]

SCENARIO_DIR holds packets.jsonl and (unless --expected-dir says otherwise)
expected.jsonl, expected.v4 / expected.v6 and trace.jsonl as kernel_sim.py (or
the earlier harness) wrote them.  Per packet, only the keys present in the
expected line are compared (verdict, to, oif, hex, where, ct, emitted); bytes
that trace.jsonl (or the expected line) flags as `unstable`, and values that
netfence flags as random, are not compared.  The counters files are compared
exactly (without `#` lines).  Prints a readable diff and, on failure, the
replay command; exits 0 when everything matches, 1 otherwise.
"""

import argparse
import difflib
import json
import os
import re
import sys

KEYS = ('verdict', 'to', 'oif', 'where', 'ct', 'hex', 'emitted')


def load_jsonl(path_or_text, is_text=False):
    text = path_or_text if is_text else open(path_or_text).read()
    out = []
    for i, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        try:
            out.append(json.loads(line))
        except ValueError as e:
            out.append({'_bad': '%s (line %d: %.80s)' % (e, i, line)})
    return out


def byte_set(desc):
    """Unstable-bytes description -> set of byte offsets, or None for 'all of it'.

    Accepts 'bytes 4-5, 10-11' prose, a list of offsets, a list of [from, to]
    pairs, or anything else (meaning the whole value)."""
    if isinstance(desc, str):
        groups = re.findall(r'bytes?\s+(\d[\d\s,\-]*)', desc)
        if not groups:
            return None
        s = set()
        for part in ','.join(groups).split(','):
            part = part.strip()
            if not part:
                continue
            if '-' in part:
                a, b = part.split('-', 1)
                s.update(range(int(a), int(b) + 1))
            else:
                s.add(int(part))
        return s
    if isinstance(desc, list):
        s = set()
        for x in desc:
            if isinstance(x, int):
                s.add(x)
            elif isinstance(x, list) and len(x) == 2:
                s.update(range(x[0], x[1] + 1))
        return s
    return None


def unstable_of(*objs):
    """Merge the `unstable` (and netfence's `random`) flags of some lines:
    path -> set of offsets (None: the whole value)."""
    out = {}
    for o in objs:
        if not isinstance(o, dict):
            continue
        for key in ('unstable', 'random'):
            u = o.get(key)
            if isinstance(u, dict):
                items = u.items()
            elif isinstance(u, list) and u and all(isinstance(x, int) for x in u):
                items = [('hex', u)]          # netfence: offsets in this line's hex
            elif isinstance(u, list):
                items = [(p, None) for p in u if isinstance(p, str)]
            else:
                continue
            for path, desc in items:
                bs = byte_set(desc)
                if path in out and out[path] is not None and bs is not None:
                    out[path] |= bs
                else:
                    out[path] = bs if path not in out else None
    return out


FIELDS4 = [(0, 1, 'version/ihl'), (1, 2, 'tos'), (2, 4, 'total length'), (4, 6, 'id'),
           (6, 8, 'flags/fragment offset'), (8, 9, 'ttl'), (9, 10, 'protocol'),
           (10, 12, 'header checksum'), (12, 16, 'source'), (16, 20, 'destination')]
FIELDS6 = [(0, 4, 'version/class/flow label'), (4, 6, 'payload length'), (6, 7, 'next header'),
           (7, 8, 'hop limit'), (8, 24, 'source'), (24, 40, 'destination')]


def field_name(b, off):
    if not b:
        return ''
    if b[0] >> 4 == 4:
        ihl = (b[0] & 0xf) * 4
        for a, z, n in FIELDS4:
            if a <= off < z:
                return 'IPv4 ' + n
        if off >= ihl and len(b) > 9:
            return _l4_name(b[9], off - ihl)
    elif b[0] >> 4 == 6:
        for a, z, n in FIELDS6:
            if a <= off < z:
                return 'IPv6 ' + n
        if len(b) > 6:
            return _l4_name(b[6], off - 40)
    return ''


def _l4_name(proto, off):
    if proto in (6, 17):
        names = [(0, 2, 'source port'), (2, 4, 'destination port')]
        names += [(4, 8, 'seq'), (8, 12, 'ack'), (12, 14, 'data offset/flags'), (14, 16, 'window'),
                  (16, 18, 'checksum')] if proto == 6 else [(4, 6, 'length'), (6, 8, 'checksum')]
        for a, z, n in names:
            if a <= off < z:
                return ('TCP ' if proto == 6 else 'UDP ') + n
        return ('TCP' if proto == 6 else 'UDP') + ' payload'
    if proto in (1, 58):
        n = {0: 'type', 1: 'code', 2: 'checksum', 3: 'checksum'}.get(off, 'body')
        return ('ICMP ' if proto == 1 else 'ICMPv6 ') + n
    return 'L4 byte %d' % off


def hex_equal(exp, act, unstable):
    """Compare two hex strings ignoring the offsets in `unstable` (a set)."""
    if not isinstance(exp, str) or not isinstance(act, str):
        return exp == act, None
    try:
        e, a = bytes.fromhex(exp), bytes.fromhex(act)
    except ValueError:
        return exp.lower() == act.lower(), None
    if len(e) != len(a):
        return False, 'length %d, expected %d' % (len(a), len(e))
    for i, (x, y) in enumerate(zip(e, a)):
        if x != y and i not in (unstable or ()):
            return False, 'first difference at byte %d (%s): %02x, expected %02x' % (
                i, field_name(e, i), y, x)
    return True, None


def compare_packet(exp, act, unst):
    """Differences (list of strings) between one expected and one actual line."""
    diffs = []
    for k in KEYS:
        if k not in exp:
            # No "emitted" in the kernel's line means it sent nothing: a
            # packet netfence says it emitted is a difference.
            if k == 'emitted' and act.get('emitted'):
                diffs.append('emitted: expected none, got %s' % json.dumps(act['emitted']))
            continue
        if k not in act:
            diffs.append('%s: expected %s, missing' % (k, json.dumps(exp[k])))
            continue
        if k == 'hex':
            if 'hex' in unst and unst['hex'] is None:
                continue
            ok, why = hex_equal(exp[k], act[k], unst.get('hex'))
            if not ok:
                diffs.append('hex: %s\n      expected %s\n      got      %s' % (why, exp[k], act[k]))
        elif k == 'emitted':
            e, a = exp[k] or [], act[k] or []
            if not isinstance(a, list):
                diffs.append('emitted: not a list: %s' % json.dumps(a))
                continue
            if len(e) != len(a):
                diffs.append('emitted: %d packets, expected %d\n      expected %s\n      got      %s'
                             % (len(a), len(e), json.dumps(e), json.dumps(a)))
                continue
            for i, (x, y) in enumerate(zip(e, a)):
                path = 'emitted[%d]' % i
                for kk in ('oif', 'hex'):
                    if kk not in x:
                        continue
                    if kk == 'hex':
                        if path in unst and unst[path] is None:
                            continue
                        offs = set(unst.get(path) or ())
                        for el in (x, y):
                            if isinstance(el, dict) and isinstance(el.get('unstable'), list):
                                offs |= {o for o in el['unstable'] if isinstance(o, int)}
                        ok, why = hex_equal(x.get('hex'), y.get('hex'), offs)
                        if not ok:
                            diffs.append('%s.hex: %s\n      expected %s\n      got      %s'
                                         % (path, why, x.get('hex'), y.get('hex')))
                    elif x.get(kk) != y.get(kk):
                        diffs.append('%s.%s: expected %s, got %s' % (path, kk, json.dumps(x.get(kk)),
                                                                    json.dumps(y.get(kk))))
        else:
            if k in unst and unst[k] is None:
                continue
            if exp[k] != act[k]:
                diffs.append('%s: expected %s, got %s' % (k, json.dumps(exp[k]), json.dumps(act[k])))
    return diffs


def strip_hash(text):
    return [l for l in text.splitlines() if not l.startswith('#')]


def compare_counters(exp_text, act_text, label):
    e, a = strip_hash(exp_text), strip_hash(act_text)
    if e == a:
        return []
    d = list(difflib.unified_diff(e, a, 'kernel ' + label, 'netfence ' + label, n=1, lineterm=''))
    if len(d) > 60:
        d = d[:60] + ['... (%d more diff lines)' % (len(d) - 60)]
    return d


def compare(sdir, actual_text, counters=None, expected_dir=None, max_packets=20):
    """Compare; returns (ok, report lines).

    `counters`: {4: text or None, 6: text or None} of netfence's counter files."""
    edir = expected_dir or sdir
    report = []
    exp = load_jsonl(os.path.join(edir, 'expected.jsonl'))
    packets = load_jsonl(os.path.join(sdir, 'packets.jsonl'))
    traces = {}
    tp = os.path.join(edir, 'trace.jsonl')
    if os.path.exists(tp):
        for t in load_jsonl(tp):
            if 'n' in t:
                traces[t['n']] = t
    act = load_jsonl(actual_text, is_text=True)
    bad = 0
    shown = 0
    if len(act) != len(exp):
        report.append('netfence printed %d lines for %d packets' % (len(act), len(exp)))
    byn = {}
    for i, a in enumerate(act):
        n = a.get('n', i + 1) if isinstance(a, dict) else i + 1
        byn.setdefault(n, a)
    for i, e in enumerate(exp):
        n = e.get('n', i + 1)
        a = byn.get(n)
        if a is None:
            diffs = ['no output line for this packet']
        elif '_bad' in a:
            diffs = ['unparsable output line: ' + a['_bad']]
        else:
            diffs = compare_packet(e, a, unstable_of(traces.get(n), e, a))
        if diffs:
            bad += 1
            if shown < max_packets:
                shown += 1
                pk = packets[n - 1] if 0 < n <= len(packets) else {}
                report.append('packet %d: %s' % (n, json.dumps(pk)[:300]))
                tr = traces.get(n)
                if tr and tr.get('path'):
                    report.append('  kernel path: ' + ' -> '.join(
                        '%s%s' % (s['at'], ('(%s)' % s['target']) if s.get('target') else '')
                        for s in tr['path'])[:600])
                for d in diffs:
                    report.append('  ' + d)
    if bad > shown:
        report.append('... and %d more packets differ' % (bad - shown))
    cbad = 0
    for fam in (4, 6):
        ep = os.path.join(edir, 'expected.v%d' % fam)
        if not os.path.exists(ep):
            continue
        got = (counters or {}).get(fam)
        if got is None:
            report.append('counters v%d: netfence wrote no counters file' % fam)
            cbad += 1
            continue
        d = compare_counters(open(ep).read(), got, 'v%d' % fam)
        if d:
            cbad += 1
            report.append('counters v%d differ:' % fam)
            report += ['  ' + x for x in d]
    ok = bad == 0 and cbad == 0 and len(act) == len(exp)
    summary = '%d/%d packets differ' % (bad, len(exp))
    if cbad:
        summary += ', %d counters file(s) differ' % cbad
    return ok, summary, report


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('scenario')
    ap.add_argument('actual', help='netfence simulate stdout (JSON lines), or - for stdin')
    ap.add_argument('--counters')
    ap.add_argument('--counters6')
    ap.add_argument('--expected-dir')
    ap.add_argument('--replay', help='command line to print when it fails')
    ap.add_argument('--name')
    ap.add_argument('--max-packets', type=int, default=20)
    a = ap.parse_args(argv)
    text = sys.stdin.read() if a.actual == '-' else open(a.actual).read()
    counters = {}
    for fam, p in ((4, a.counters), (6, a.counters6)):
        if p and os.path.exists(p):
            counters[fam] = open(p).read()
    ok, summary, report = compare(a.scenario, text, counters, a.expected_dir, a.max_packets)
    name = a.name or a.scenario
    print('%s %s: %s' % ('PASS' if ok else 'FAIL', name, summary))
    if not ok:
        for l in report:
            print('  ' + l)
        if a.replay:
            print('  replay: ' + a.replay)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
