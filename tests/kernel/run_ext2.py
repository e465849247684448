#!/usr/bin/python3
"""The kernel-differential suite for the stateful and timed extensions.

    run_ext2.py --random N [--start S] [--jobs J] [--keep DIR] [--netfence PATH]
    run_ext2.py --seed-list 17,42 [...]

Each seed: gen_ext2.py (recent, hashlimit, limit, connlimit, statistic, sctp,
esp/ah, IPv6 extension headers, tcpmss/TCPMSS, NETMAP, CT; every packet timed)
-> kernel_sim.py (namespaces, root) -> netfence simulate -> compare.py, with
run_diff.py's reporting.  Seeds whose difference is known and explained are in
known_diffs_ext2.txt ("SEED reason"): they are expected failures, and one that
starts to match fails the run until it is taken off the list.

Exit status: 0 all matched, 1 some differ, 77 the kernel side cannot run here
(no root, no network namespaces, no iptables-legacy or no scapy), 2 harness error.
"""

import argparse
import multiprocessing
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run_diff  # noqa: E402


def one_seed(job):
    try:
        return _one_seed(job)
    except Exception:  # a harness bug must not stop the suite
        import traceback
        return job[0], False, 'FAIL ext2 seed %d: harness error:\n%s' % (job[0], traceback.format_exc()), None


def _one_seed(job):
    seed, netfence, keep, base, exclude = job
    import gen_ext2
    import kernel_sim
    d = os.path.join(base, 'ext2-%d' % seed)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    replay = '%s %s --seed-list %d%s --keep /tmp/nfdiff --netfence %s' % (
        sys.executable or 'python3', os.path.abspath(__file__), seed,
        ' --exclude ' + ','.join(exclude) if exclude else '', netfence)
    try:
        gen_ext2.generate(seed, d, exclude=exclude)
    except Exception as e:  # a generator bug must not stop the suite
        import traceback
        return seed, False, 'FAIL ext2 seed %d: gen_ext2 failed: %r\n%s  replay: %s' % (
            seed, e, traceback.format_exc(), replay), None
    try:
        for attempt in range(3):      # timed: again when the packets left late
            rep = kernel_sim.simulate(d, d)
            if rep.get('timing_ok', True):
                break
    except kernel_sim.KernelRefused:
        rep = {'warnings': []}
    except kernel_sim.SimError as e:
        return seed, False, 'FAIL ext2 seed %d: kernel_sim: %s\n  replay: %s' % (seed, e, replay), None
    ok, text = run_diff.check_one('ext2 seed %d' % seed, d, netfence, d, replay=replay)
    if not ok:
        # One more kernel run (see run_diff.run_one): kernel-side hiccups.
        try:
            rep = kernel_sim.simulate(d, d)
            ok, text = run_diff.check_one('ext2 seed %d' % seed, d, netfence, d, replay=replay)
        except (kernel_sim.KernelRefused, kernel_sim.SimError):
            pass
    if not ok and not rep.get('timing_ok', True):
        text = text.replace('FAIL', 'INCONCLUSIVE (packets %.0f ms late in the kernel run)'
                            % rep.get('max_drift_ms', 0), 1)
        ok = None
    if not ok and rep.get('warnings'):
        text += '\n  kernel_sim warnings: ' + '; '.join(rep['warnings'][:5])
    if ok and not keep:
        shutil.rmtree(d, ignore_errors=True)
    return seed, ok, text, rep


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument('--random', type=int, metavar='N')
    g.add_argument('--seed-list', metavar='S1,S2,...')
    ap.add_argument('--start', type=int, default=1, help='first seed (--random)')
    ap.add_argument('--jobs', type=int, help='parallel scenarios (default: 3 per CPU: they mostly sleep)')
    ap.add_argument('--keep', metavar='DIR', help='keep every scenario under DIR')
    ap.add_argument('--netfence', default=run_diff.default_netfence())
    ap.add_argument('--exclude', help='extensions the scenarios must not use (comma-separated)')
    ap.add_argument('--max-report', type=int, default=20)
    ap.add_argument('--known', default=os.path.join(HERE, 'known_diffs_ext2.txt'),
                    help='seeds with a known, documented difference (expected failures)')
    ap.add_argument('-v', '--verbose', action='store_true')
    a = ap.parse_args(argv)
    a.netfence = os.path.abspath(a.netfence) if os.path.exists(a.netfence) else a.netfence
    why = run_diff.kernel_available()
    if why:
        print('*' * 72, file=sys.stderr)
        print('run_ext2: SKIPPING the kernel-differential ext2 suite: %s' % why, file=sys.stderr)
        print('*' * 72, file=sys.stderr)
        return 77
    import kernel_sim
    kernel_sim.cleanup_stale()
    if a.seed_list:
        seeds = [int(x) for x in a.seed_list.split(',') if x.strip()]
    else:
        seeds = list(range(a.start, a.start + a.random))
    base = a.keep or tempfile.mkdtemp(prefix='nfdiff-ext2-')
    os.makedirs(base, exist_ok=True)
    cpus = sorted(os.sched_getaffinity(0))
    jobs = max(1, min(a.jobs or 3 * len(cpus), len(seeds)))
    exclude = [x for x in (a.exclude or '').split(',') if x]
    t0 = time.time()
    bad, inconclusive = [], []
    counter = multiprocessing.Value('i', 0)
    work = [(s, a.netfence, bool(a.keep), base, exclude) for s in seeds]
    with multiprocessing.Pool(jobs, initializer=run_diff._init_worker, initargs=(cpus, counter)) as pool:
        for seed, ok, text, rep in pool.imap_unordered(one_seed, work):
            if ok is None:
                inconclusive.append(seed)
                print(text.splitlines()[0], flush=True)
            elif not ok:
                bad.append(seed)
                if len(bad) <= a.max_report:
                    print(text, flush=True)
                else:
                    print(text.splitlines()[0], flush=True)
            elif a.verbose:
                print(text, flush=True)
    dt = time.time() - t0
    print('ext2: %d of %d scenarios match the kernel (%.1fs, %d jobs)%s' % (
        len(seeds) - len(bad) - len(inconclusive), len(seeds), dt, jobs,
        '; %d inconclusive (timing)' % len(inconclusive) if inconclusive else ''))
    known = run_diff.load_known(a.known)
    xfail = sorted(s for s in bad if s in known)
    fixed = sorted(s for s in seeds if s in known and s not in bad and s not in inconclusive
                   and not known[s].startswith(('timing:', 'random:')))
    bad = [s for s in bad if s not in known]
    for s in xfail:
        print('XFAIL ext2 seed %d: %s' % (s, known[s]))
    for s in fixed:
        print('FIXED ext2 seed %d now matches; remove it from %s' % (s, a.known))
    if bad:
        print('failing ext2 seeds: ' + ','.join(map(str, sorted(bad))))
        print('kept in ' + base)
    elif not a.keep:
        shutil.rmtree(base, ignore_errors=True)
    return 1 if bad or fixed else 0


if __name__ == '__main__':
    sys.exit(main())
