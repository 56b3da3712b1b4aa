#!/usr/bin/env python3
"""Self-test of bench/compare.py's pair loop and report, with no broker and no client.

run_workload's processes (the mock cluster, both load generators, the core round trip probe)
and /proc/stat are replaced by fakes, so that the steal screen (--max-steal) is checked for
what it keeps, what it runs again, when it gives up, and what the report says of it.
"""
import contextlib
import io
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402


class FakeMock:
    def __init__(self, host, partitions):
        self.bootstrap = "127.0.0.1:1"

    def close(self):
        pass


class Harness:
    """Feeds run_workload: run i (kprod, librdkafka, kprod, ...) sees steals[i] percent of
    steal and reports p99 = p99s[i] (default: 1.0 for kprod, 2.0 for librdkafka)."""

    def __init__(self, steals, p99s=None):
        self.steals, self.p99s, self.i = steals, p99s, 0
        self.steal_ticks, self.ticks = 0, 0  # each run adds 1000 ticks, steals[i]% of them stolen

    def install(self):
        compare.MockCluster = FakeMock
        compare.commands = lambda build, w, bootstrap, quick: (["kprod"], ["librdkafka"])
        compare.core_round_trips = lambda build: (200, 40.0)
        compare.host_cpu_ticks = self.cpu_ticks
        compare.run_one = self.run_one

    def cpu_ticks(self):
        return self.steal_ticks, self.ticks

    def run_one(self, cmd):
        i = self.i
        self.i += 1
        # cpu_ticks() was read before this run; after it, these ticks have passed.
        self.steal_ticks += round(self.steals[i] * 10)
        self.ticks += 1000
        p99 = self.p99s[i] if self.p99s else (1.0 if cmd == ["kprod"] else 2.0)
        return dict(ok=True, wall_s=2.0, result=dict(records_per_s=10000.0, p50=0.1, p99=p99, p999=p99 * 2,
                                                      cpu_us_per_record=50.0))


def workload(group="latency"):
    return dict(name="lat-test" if group == "latency" else "tp-test", group=group, note="",
                settings=dict(compare.BASE, partitions=6, rate=10000 if group == "latency" else None))


class Args:
    librdkafka_version = "test"
    pairs = 2
    quick = False
    idle_poll = False
    max_steal = 0.5


class PairScreen(unittest.TestCase):
    def run_pairs(self, steals, pairs=2, max_steal=0.5, group="latency", p99s=None):
        h = Harness(steals, p99s)
        h.install()
        raw = []
        with contextlib.redirect_stderr(io.StringIO()):  # the progress lines
            runs = compare.run_workload("build", workload(group), pairs, False, raw, max_steal)
        return runs, raw, h

    def test_clean_pairs_are_kept_and_nothing_rerun(self):
        runs, raw, h = self.run_pairs([0.0, 0.2, 0.1, 0.0])
        self.assertEqual(h.i, 4)
        self.assertEqual(len(runs["kprod"]), 2)
        self.assertEqual(runs["rerun"], [])
        self.assertFalse(any(r.get("rerun") for r in raw))

    def test_a_pair_with_steal_in_either_run_is_run_again(self):
        # pair 1: librdkafka saw 3% -> run again; pairs 2 and 3 clean.
        p99s = [9.0, 9.0, 1.0, 2.0, 1.2, 2.2]
        runs, raw, h = self.run_pairs([0.0, 3.0, 0.1, 0.2, 0.0, 0.0], p99s=p99s)
        self.assertEqual(h.i, 6)
        self.assertEqual(len(runs["rerun"]), 1)
        self.assertEqual([r["p99"] for r in runs["kprod"]], [1.0, 1.2])
        self.assertEqual([r["p99"] for r in runs["librdkafka"]], [2.0, 2.2])
        self.assertEqual(len(runs["all"]["kprod"]), 3)  # the rerun pair is still reported
        self.assertEqual([r.get("rerun", False) for r in raw], [True, True, False, False, False, False])
        self.assertEqual(len(runs["steal_pct"]), 4)  # steal of the kept runs only

    def test_gives_up_after_four_times_the_pairs_and_uses_every_pair(self):
        runs, raw, h = self.run_pairs([5.0] * 100)
        self.assertEqual(h.i, 2 * 4 * 2)
        self.assertTrue(runs["no_clean_pair"])
        self.assertEqual(len(runs["kprod"]), 8)
        self.assertIsNone(runs["max_steal"])

    def test_throughput_workloads_are_not_screened(self):
        runs, raw, h = self.run_pairs([5.0, 5.0, 5.0, 5.0], group="throughput")
        self.assertEqual(h.i, 4)
        self.assertEqual(len(runs["kprod"]), 2)
        self.assertEqual(runs["rerun"], [])

    def test_without_max_steal_nothing_is_screened(self):
        runs, raw, h = self.run_pairs([5.0, 5.0, 5.0, 5.0], max_steal=None)
        self.assertEqual(h.i, 4)
        self.assertEqual(len(runs["kprod"]), 2)


class Report(unittest.TestCase):
    def report(self, steals, p99s=None):
        h = Harness(steals, p99s)
        h.install()
        w = workload()
        with contextlib.redirect_stderr(io.StringIO()):
            runs = compare.run_workload("build", w, 2, False, [], 0.5)
        summ = compare.summarise([(w, runs)])
        return summ, compare.markdown(summ, Args(), 60.0, None)

    def test_report_gives_the_kept_pairs_and_every_pair(self):
        p99s = [9.0, 9.0, 1.0, 2.0, 1.2, 2.2]
        summ, md = self.report([0.0, 3.0, 0.1, 0.2, 0.0, 0.0], p99s)
        m = summ[0][1]
        self.assertAlmostEqual(m["p99"]["kprod"]["median"], 1.1)
        self.assertAlmostEqual(m["p99"]["ratio"], 1.1 / 2.1)
        self.assertAlmostEqual(m["screen"]["every"]["p99"]["kprod"]["median"], 1.2)
        self.assertIn("more than 0.5% host steal", md)
        self.assertIn("lat-test: 1 of 3 pairs run again", md)
        self.assertIn("kprod 1.20 vs librdkafka 2.20 ms, ratio 0.55", md)

    def test_report_says_when_no_pair_was_clean(self):
        summ, md = self.report([5.0] * 100)
        self.assertIn("lat-test: no pair without it in 8, so every pair is used", md)

    def test_idle_poll_is_named_in_the_report(self):
        h = Harness([0.0] * 4)
        h.install()
        w = workload()
        with contextlib.redirect_stderr(io.StringIO()):
            summ = compare.summarise([(w, compare.run_workload("build", w, 2, False, [], None))])
        args = Args()
        self.assertNotIn("Idle CPUs polled", compare.markdown(summ, args, 60.0, None))
        args.idle_poll = True
        self.assertIn("Idle CPUs polled", compare.markdown(summ, args, 60.0, None))


class Arguments(unittest.TestCase):
    def test_max_steal_below_zero_is_refused_naming_the_flag(self):
        for bad in ("-1", "nan"):
            err = io.StringIO()
            argv = sys.argv
            sys.argv = ["compare", "--list", "--max-steal", bad]
            try:
                with contextlib.redirect_stderr(err), self.assertRaises(SystemExit) as ex:
                    compare.main()
            finally:
                sys.argv = argv
            self.assertEqual(ex.exception.code, 2)
            self.assertIn("--max-steal must be a percentage >= 0", err.getvalue())


if __name__ == "__main__":
    unittest.main()
