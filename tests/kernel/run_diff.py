#!/usr/bin/python3
"""The kernel-differential suite: netfence simulate against the Linux kernel.

    run_diff.py --realistic [--netfence PATH] [--shared DIR]
        the ten kernel-truth scenarios of shared/scenarios/realistic, compared
        with their stored expected files (no kernel needed)

    run_diff.py --random N [--start S] [--jobs J] [--stateful|--mixed [--sctp]] [--keep DIR]
    run_diff.py --seed-list 17,42 [...]
        N random scenarios: gen_scenario.py -> kernel_sim.py (namespaces, root)
        -> netfence simulate -> compare.py

Exit status: 0 all matched, 1 some differ, 77 the kernel side cannot run here
(no root, no network namespaces or no iptables-legacy), 2 harness error.
Every failure prints a readable diff and a one-line replay command.
"""

import argparse
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import compare  # noqa: E402


def default_netfence():
    for p in (os.path.join(ROOT, 'build', 'netfence'),):
        if os.path.exists(p):
            return p
    return 'netfence'


def run_netfence(netfence, sdir, outdir, timeout=120):
    """Run netfence simulate on scenario `sdir`; returns (rc, stdout, stderr, counters)."""
    args = [netfence, 'simulate', '--host', os.path.join(sdir, 'host.json'),
            '--packets', os.path.join(sdir, 'packets.jsonl')]
    counters = {}
    for fam, rf, opt, copt in ((4, 'rules.v4', '--rules', '--counters'),
                               (6, 'rules.v6', '--rules6', '--counters6')):
        if os.path.exists(os.path.join(sdir, rf)):
            cp = os.path.join(outdir, 'netfence.v%d' % fam)
            if os.path.exists(cp):
                os.unlink(cp)
            args += [opt, os.path.join(sdir, rf), copt, cp]
            counters[fam] = cp
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return 124, '', 'netfence simulate timed out after %ds' % timeout, {}
    except OSError as e:
        return 127, '', 'cannot run %s: %s' % (netfence, e), {}
    texts = {}
    for fam, cp in counters.items():
        if os.path.exists(cp):
            with open(cp) as f:
                texts[fam] = f.read()
    with open(os.path.join(outdir, 'netfence.jsonl'), 'w') as f:
        f.write(r.stdout)
    return r.returncode, r.stdout, r.stderr, texts


def check_one(name, sdir, netfence, outdir, expected_dir=None, replay=None):
    """Compare netfence with the expected files of one scenario.  Returns (ok, text)."""
    edir = expected_dir or sdir
    lines = []
    if os.path.exists(os.path.join(edir, 'kernel_error.txt')):
        rc, out, err, _ = run_netfence(netfence, sdir, outdir)
        kerr = open(os.path.join(edir, 'kernel_error.txt')).read().strip()
        if rc != 0 and not out.strip():
            return True, 'PASS %s: both refuse the ruleset' % name
        lines.append('FAIL %s: the kernel refused the ruleset but netfence ran it (rc %d)' % (name, rc))
        lines.append('  kernel: ' + kerr.replace('\n', '\n          '))
    else:
        rc, out, err, counters = run_netfence(netfence, sdir, outdir)
        if rc != 0:
            lines.append('FAIL %s: netfence simulate exited %d: %s' % (name, rc, err.strip()[:1000]))
        else:
            ok, summary, report = compare.compare(sdir, out, counters, expected_dir, max_packets=8)
            if ok:
                return True, 'PASS %s: %s' % (name, summary)
            lines.append('FAIL %s: %s' % (name, summary))
            lines += ['  ' + l for l in report]
            if err.strip():
                lines.append('  netfence stderr: ' + err.strip()[:500])
    if replay:
        lines.append('  replay: ' + replay)
    return False, '\n'.join(lines)


def realistic(a):
    base = os.path.join(a.shared, 'scenarios', 'realistic')
    if not os.path.isdir(base):
        print('run_diff: no realistic scenarios under %s' % base, file=sys.stderr)
        return 2
    names = sorted(d for d in os.listdir(base) if os.path.isdir(os.path.join(base, d)))
    if a.only:
        names = [n for n in names if n in a.only.split(',')]
    bad = 0
    tmp = tempfile.mkdtemp(prefix='nfdiff-real-')
    t0 = time.time()
    for n in names:
        out = os.path.join(tmp, n)
        os.makedirs(out)
        replay = '%s %s --realistic --only %s --netfence %s' % (
            sys.executable, os.path.abspath(__file__), n, a.netfence)
        ok, text = check_one('realistic/' + n, os.path.join(base, n), a.netfence, out, replay=replay)
        print(text, flush=True)
        bad += not ok
    print('realistic: %d of %d scenarios match the kernel (%.1fs)' % (len(names) - bad, len(names),
                                                                       time.time() - t0))
    if bad and a.keep:
        print('netfence outputs kept in ' + tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if bad else 0


def kernel_available():
    """Why the kernel side cannot run here, or None."""
    if os.geteuid() != 0:
        return 'not root (kernel_sim needs network namespaces)'
    for prog in ('ip', 'nsenter', 'nft', 'iptables-legacy-restore', 'ip6tables-legacy-restore',
                 'iptables-legacy-save', 'ip6tables-legacy-save'):
        if not shutil.which(prog):
            return '%s is missing' % prog
    r = subprocess.run(['ip', 'netns', 'add', 'nfksim-probe-%d' % os.getpid()], capture_output=True,
                       text=True)
    if r.returncode != 0:
        return 'cannot create a network namespace: ' + r.stderr.strip()
    subprocess.run(['ip', 'netns', 'del', 'nfksim-probe-%d' % os.getpid()], capture_output=True)
    try:
        import scapy  # noqa: F401
    except ImportError:
        return 'scapy is not installed for %s' % sys.executable
    return None


_WORKER = {}


def _init_worker(cpus, counter):
    import kernel_sim
    with counter.get_lock():
        i = counter.value
        counter.value += 1
    cpu = cpus[i % len(cpus)]
    kernel_sim.pin_cpu(cpu)
    _WORKER['cpu'] = cpu


def one_seed(job):
    try:
        return _one_seed(job)
    except Exception:  # a harness bug must not stop the suite
        import traceback
        return job[0], False, 'FAIL seed %d: harness error:\n%s' % (job[0], traceback.format_exc()), 0, None


def _one_seed(job):
    seed, mode, netfence, keep, base, exclude, sctp = job
    import gen_scenario
    import kernel_sim
    t0 = time.time()
    d = os.path.join(base, 'seed-%d' % seed)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    stateful = mode == 'stateful' or (mode == 'mixed' and seed % 3 == 0)
    sctp = sctp and stateful
    replay = '%s %s --seed-list %d%s%s%s --keep /tmp/nfdiff --netfence %s' % (
        sys.executable if sys.executable else 'python3', os.path.abspath(__file__),
        seed, ' --stateful' if stateful else '', ' --sctp' if sctp else '',
        ' --exclude ' + ','.join(exclude) if exclude else '',
        netfence)
    try:
        gen_scenario.generate(seed, d, stateful=stateful, exclude=exclude, sctp=sctp)
    except Exception as e:  # a generator bug must not stop the suite
        return seed, False, 'FAIL seed %d: gen_scenario failed: %r\n  replay: %s' % (seed, e, replay), \
            time.time() - t0, None
    try:
        # a timed scenario needs the packets sent on time: try again when they were not
        for attempt in range(3):
            rep = kernel_sim.simulate(d, d)
            if rep.get('timing_ok', True):
                break
    except kernel_sim.KernelRefused:
        rep = {'warnings': []}
    except kernel_sim.SimError as e:
        return seed, False, 'FAIL seed %d: kernel_sim: %s\n  replay: %s' % (seed, e, replay), \
            time.time() - t0, None
    ok, text = check_one('seed %d' % seed, d, netfence, d, replay=replay)
    if not ok:
        # One more kernel run: a namespace hiccup (every packet dropped
        # before the hooks, say) or a limit token due on the very jiffy
        # varies between kernel runs; netfence's answer never does.
        try:
            rep = kernel_sim.simulate(d, d)
            ok, text = check_one('seed %d' % seed, d, netfence, d, replay=replay)
        except (kernel_sim.KernelRefused, kernel_sim.SimError):
            pass
    if not ok and not rep.get('timing_ok', True):
        text = text.replace('FAIL', 'INCONCLUSIVE (packets %.0f ms late in the kernel run; timed '
                            'scenario)' % rep.get('max_drift_ms', 0), 1)
        ok = None
    kw = [w for w in rep.get('warnings', [])]
    if not ok and kw:
        text += '\n  kernel_sim warnings: ' + '; '.join(kw[:5])
    if ok and not keep:
        shutil.rmtree(d, ignore_errors=True)
    return seed, ok, text, time.time() - t0, rep


def random_suite(a):
    why = kernel_available()
    if why:
        print('*' * 72, file=sys.stderr)
        print('run_diff: SKIPPING the kernel-differential suite: %s' % why, file=sys.stderr)
        print('*' * 72, file=sys.stderr)
        return 77
    import kernel_sim
    kernel_sim.cleanup_stale()
    if a.seed_list:
        seeds = [int(x) for x in a.seed_list.split(',') if x.strip()]
    else:
        seeds = list(range(a.start, a.start + a.random))
    mode = 'stateful' if a.stateful else ('mixed' if a.mixed else 'stateless')
    base = a.keep or tempfile.mkdtemp(prefix='nfdiff-')
    os.makedirs(base, exist_ok=True)
    cpus = sorted(os.sched_getaffinity(0))
    # the work is mostly waiting (for the kernel, subprocesses, timed gaps): two per CPU
    jobs = max(1, min(a.jobs or 2 * len(cpus), len(seeds)))
    t0 = time.time()
    bad = []
    inconclusive = []
    kw = 0
    counter = multiprocessing.Value('i', 0)
    exclude = [x for x in (a.exclude or os.environ.get('NETFENCE_DIFF_EXCLUDE', '')).split(',') if x]
    work = [(s, mode, a.netfence, bool(a.keep), base, exclude, a.sctp) for s in seeds]
    with multiprocessing.Pool(jobs, initializer=_init_worker, initargs=(cpus, counter)) as pool:
        for seed, ok, text, dt, rep in pool.imap_unordered(one_seed, work):
            if rep and rep.get('warnings'):
                kw += 1
            if ok is None:
                inconclusive.append(seed)
                print(text.splitlines()[0], flush=True)
                continue
            if not ok:
                bad.append(seed)
                if len(bad) <= a.max_report:
                    print(text, flush=True)
                else:
                    lines = text.splitlines()
                    print(lines[0] + ('  [' + lines[-1].strip() + ']' if len(lines) > 1 else ''), flush=True)
            elif a.verbose:
                print(text, flush=True)
    dt = time.time() - t0
    print('random: %d of %d scenarios match the kernel (%s%s; %.1fs, %.0f scenarios/min, %d jobs)%s%s' % (
        len(seeds) - len(bad) - len(inconclusive), len(seeds), mode, ' with SCTP' if a.sctp else '', dt, 60 * len(seeds) / max(dt, 1e-9),
        jobs, '; %d with kernel_sim warnings' % kw if kw else '',
        '; %d inconclusive (timing)' % len(inconclusive) if inconclusive else ''))
    # Known differences (tests/kernel/known_diffs.txt: "SEED reason"): a
    # listed seed that still differs is an expected failure, reported as
    # such; one that now matches must be taken off the list.
    # They are keyed by seed without --sctp (which makes other scenarios).
    known = load_known(a.known) if (a.known and not a.sctp) or a.known_given else {}
    xfail = sorted(s for s in bad if s in known)
    # A "timing:" or "random:" entry is a seed whose kernel answer varies
    # between runs (a token due on the very jiffy, a value the kernel draws
    # at random): it may match or not.
    fixed = sorted(s for s in seeds if s in known and s not in bad and s not in inconclusive
                   and not known[s].startswith(('timing:', 'random:')))
    bad = [s for s in bad if s not in known]
    for s in xfail:
        print('XFAIL seed %d: %s' % (s, known[s]))
    for s in fixed:
        print('FIXED seed %d now matches; remove it from %s' % (s, a.known))
    if bad:
        print('failing seeds: ' + ','.join(map(str, sorted(bad))))
        print('kept in ' + base)
    elif not a.keep:
        shutil.rmtree(base, ignore_errors=True)
    return 1 if bad or fixed else 0


def load_known(path):
    known = {}
    if path and os.path.exists(path):
        for line in open(path):
            line = line.split('#', 1)[0].strip()
            if line:
                seed, _, why = line.partition(' ')
                known[int(seed)] = why.strip()
    return known


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument('--realistic', action='store_true')
    g.add_argument('--random', type=int, metavar='N')
    g.add_argument('--seed-list', metavar='S1,S2,...')
    ap.add_argument('--start', type=int, default=1, help='first seed (--random)')
    ap.add_argument('--jobs', type=int, help='parallel scenarios (default: the CPUs we may use)')
    ap.add_argument('--stateful', action='store_true')
    ap.add_argument('--mixed', action='store_true', help='one scenario in three stateful')
    ap.add_argument('--keep', metavar='DIR', help='keep every scenario under DIR')
    ap.add_argument('--netfence', default=default_netfence())
    ap.add_argument('--shared', default=os.environ.get('NETFENCE_SHARED', os.path.join(ROOT, '..', 'shared')))
    ap.add_argument('--only', help='realistic scenarios to run (comma-separated names)')
    ap.add_argument('--exclude', help='extensions the random scenarios must not use (comma-separated, '
                    'e.g. u32,string,LOG; default $NETFENCE_DIFF_EXCLUDE)')
    ap.add_argument('--max-report', type=int, default=20,
                    help='failing seeds shown in full (the others get one line)')
    ap.add_argument('--known', default=None,
                    help='seeds with a known, documented difference (expected failures; default '
                    'known_diffs.txt, none with --sctp)')
    ap.add_argument('--sctp', action='store_true',
                    help='stateful scenarios get SCTP associations among their flows (gen_scenario --sctp)')
    ap.add_argument('-v', '--verbose', action='store_true')
    a = ap.parse_args(argv)
    a.known_given = a.known is not None
    if a.known is None:
        a.known = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'known_diffs.txt')
    if a.random is not None and os.environ.get('NETFENCE_DIFF_SEEDS'):
        a.random = int(os.environ['NETFENCE_DIFF_SEEDS'])
    if os.environ.get('NETFENCE_DIFF_START'):
        a.start = int(os.environ['NETFENCE_DIFF_START'])
    a.netfence = os.path.abspath(a.netfence) if os.path.exists(a.netfence) else a.netfence
    if a.realistic:
        return realistic(a)
    return random_suite(a)


if __name__ == '__main__':
    sys.exit(main())
