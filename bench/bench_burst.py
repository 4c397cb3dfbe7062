"""A burst of finished videos: 200 generations at once against one alone, and the studio's memory.

    .venv/bin/python bench/bench_burst.py                                   # this checkout, SQLite
    .venv/bin/python bench/bench_burst.py --checkout /work/wt-before        # BEFORE and AFTER
    .venv/bin/python bench/bench_burst.py --database postgres://postgres@127.0.0.1:5432/x \\
        --redis redis://127.0.0.1:6379/13                                   # PostgreSQL + Redis

For each studio code measured (this checkout; with --checkout also that one, run first) a
child process of that code makes a throwaway data folder (SQLite, the runstudio default) or
a throwaway PostgreSQL database on the server of --database (and, with --redis, uses that
Redis database for django-q2 and the cache, emptied first), migrates it, and starts the
studio's processes as `runstudio` does (gunicorn, `manage.py qcluster`, `manage.py sweep`,
each in its own process group, from that code's folder). The provider is the demo provider
(real MP4s: H.264 720p with sound; `--render tiny` by default, one plain clip per shape, so
the provider's own CPU does not drown the studio's on a small machine) in a process of its
own, always from this checkout, which notes when each create arrives.

Then, pressing Generate as the composer does (`services.create_generation`, in the child):
- one alone, until ready (the baseline: the median of --alone runs);
- --burst at once, until all are ready: the ratio to one alone (goal: 2x on SQLite, 1.5x on
  PostgreSQL + Redis), and for each generation the wait from Generate to its create arriving
  at the provider (median, max; issue 17's row 2);
- the memory of all the studio's processes (web, qcluster and its workers, sweeper; not the
  provider), summed as PSS (shared pages split between the processes sharing them), sampled
  every 0.2 s: at rest before the burst, the peak during it, and --settle seconds after
  (goal: the peak under 300 MB above rest, and back near rest after).
The load average is printed with every result: the ratios are what to compare.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

# bench_pipeline puts the code after --code first on sys.path (this checkout without it).
from bench_pipeline import CODE, make_owner, setup_django, throwaway_database  # noqa: E402
from bench_submit import group_pids, stop  # noqa: E402

SETTLED = ("ready", "failed", "expired", "unknown")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- The provider stand-in, in its own process ---------------------------------------------


def serve_provider(port: int, generation_seconds: float, render: str, arrivals: Path) -> None:
    """The demo provider (this checkout's), noting `<idempotency key> <time.time()>` per create."""
    from studio.demoprovider.cli import add_arguments, build_server

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    options = parser.parse_args(
        ["--port", str(port), "--generation-seconds", str(generation_seconds), "--render", render]
    )
    server = build_server(vars(options))
    create, lock = server.create_task, threading.Lock()

    def noted(*args, **kwargs):
        arrived = time.time()
        answer = create(*args, **kwargs)
        with lock, open(arrivals, "a") as out:
            out.write(f"{kwargs.get('idempotency_key', '')} {arrived}\n")
        return answer

    server.create_task = noted
    server.serve_forever()


# --- The studio's processes and their memory ------------------------------------------------


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """As runstudio starts its parts: the measured code's folder, a process group of its own."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            argv, cwd=CODE, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def studio_memory_mb(children: list[subprocess.Popen]) -> float:
    """PSS of every process of the studio's process groups, summed."""
    return sum(pss_kb(pid) for child in children for pid in group_pids(child.pid)) / 1024


class MemorySampler(threading.Thread):
    def __init__(self, children: list[subprocess.Popen]) -> None:
        super().__init__(daemon=True)
        self.children, self.peak, self.stopping = children, 0.0, threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            self.peak = max(self.peak, studio_memory_mb(self.children))
            self.stopping.wait(0.2)


# --- Generate, and wait ---------------------------------------------------------------------


def generate(team, user, n: int) -> tuple[str, float]:
    from studio.videos import prompting, services

    pressed = time.time()
    generation = services.create_generation(
        team=team,
        author=user,
        draft=prompting.Draft(prompt=f"Burst clip {n}: a paper boat on a rain-soaked street", duration="4"),
    )
    return str(generation.code), pressed


def wait_settled(codes: list[str], timeout: float) -> float:
    """Until every one of `codes` is settled; returns time.time() then. Fails on any not ready."""
    from collections import Counter

    from studio.videos.models import Generation

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = Counter(Generation.objects.filter(code__in=codes).values_list("status", flat=True))
        if sum(statuses[s] for s in SETTLED) == len(codes):
            if statuses["ready"] != len(codes):
                raise RuntimeError(f"not all ready: {dict(statuses)}")
            return time.time()
        time.sleep(0.1)
    raise RuntimeError(f"not settled within {timeout:.0f} s: {dict(statuses)}")


def measure(args: argparse.Namespace) -> dict:
    """In a child process running the measured code: everything, as JSON-ready figures."""
    data_dir = Path(tempfile.mkdtemp(prefix="bench-burst-"))
    drop = None
    children: list[subprocess.Popen] = []
    provider = None
    try:
        if args.database:
            os.environ["DATABASE_URL"], drop = throwaway_database(args.database)
        if args.redis:
            import redis

            redis.Redis.from_url(args.redis).flushdb()
            os.environ["REDIS_URL"] = args.redis
        port = free_port()
        os.environ["STUDIO_DEMO_PROVIDER_PORT"] = str(port)
        arrivals = data_dir / "arrivals.txt"
        arrivals.touch()
        serve = ["--serve-provider", str(port), "--code", str(ROOT), "--arrivals", str(arrivals)]
        serve += ["--generation-seconds", str(args.generation_seconds), "--render", args.render]
        provider = subprocess.Popen(
            [sys.executable, __file__, *serve],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        setup_django(data_dir)
        from django.conf import settings

        settings.STUDIO_PUBLIC_URL = ""
        env = {**os.environ}
        from studio.accounts.management.commands.runstudio import gunicorn_command

        python = sys.executable
        logs = data_dir / "studio.log"
        children = [
            start(gunicorn_command("127.0.0.1", free_port(), 2), env, logs),
            start([python, "manage.py", "qcluster"], env, logs),
            start([python, "manage.py", "sweep"], env, logs),
        ]
        team, user = make_owner()
        time.sleep(args.warmup)

        # Warm (imports, first connections), then the baseline: one alone, --alone times.
        code, _pressed = generate(team, user, 0)
        wait_settled([code], 120)
        alone = []
        for n in range(args.alone):
            code, pressed = generate(team, user, n + 1)
            alone.append(wait_settled([code], 120) - pressed)
        time.sleep(2)
        rest = studio_memory_mb(children)

        sampler = MemorySampler(children)
        sampler.start()
        load_start = os.getloadavg()
        pressed = dict(generate(team, user, 1000 + n) for n in range(args.burst))
        first = min(pressed.values())
        sent = max(pressed.values()) - first
        done = wait_settled(list(pressed), args.timeout)
        load_end = os.getloadavg()
        time.sleep(args.settle)
        sampler.stopping.set()
        sampler.join()
        after = studio_memory_mb(children)

        from studio.videos.models import Generation

        # Where the burst's time went: the provider and the polls (Generate -> completed seen),
        # and saving (completed seen -> ready).
        rows = Generation.objects.filter(code__in=list(pressed)).values_list(
            "code", "completed_at", "ready_at"
        )
        seen = sorted(done_at.timestamp() - pressed[str(code)] for code, done_at, _ in rows)
        saving = sorted((ready - done_at).total_seconds() for _, done_at, ready in rows)
        arrived = {}
        for line in arrivals.read_text().splitlines():
            key, _, at = line.partition(" ")
            arrived.setdefault(key, float(at))
        waits = [arrived[code] - at for code, at in pressed.items() if code in arrived]
        return {
            "code": str(CODE),
            "engine": ("PostgreSQL" if args.database else "SQLite") + (" + Redis" if args.redis else ""),
            "alone": statistics.median(alone),
            "alone_runs": alone,
            "burst": done - first,
            "sent_in": sent,
            "create_wait_median": statistics.median(waits) if waits else None,
            "create_wait_max": max(waits) if waits else None,
            "creates_seen": len(waits),
            "completed_median": statistics.median(seen),
            "completed_max": max(seen),
            "saving_median": statistics.median(saving),
            "saving_max": max(saving),
            "rest_mb": rest,
            "peak_mb": max(sampler.peak, rest),
            "after_mb": after,
            "processes": sum(len(group_pids(child.pid)) for child in children),
            "load": [round(x, 2) for x in (*load_start[:2], *load_end[:2])],
        }
    finally:
        for child in reversed(children):
            stop(child)
        if provider is not None:
            stop(provider)
        if drop:
            drop()
        shutil.rmtree(data_dir, ignore_errors=True)


def run_child(code: Path, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--measure", "--code", str(code)]
    for name in ("burst", "alone", "generation_seconds", "render", "settle", "warmup", "timeout"):
        command += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    if args.database:
        command += ["--database", args.database]
    if args.redis:
        command += ["--redis", args.redis]
    out = subprocess.run(command, check=True, capture_output=True, text=True, cwd=code)
    return json.loads(out.stdout.splitlines()[-1])


def print_result(label: str, r: dict, burst: int) -> None:
    goal = 1.5 if "PostgreSQL" in r["engine"] else 2.0
    ratio = r["burst"] / r["alone"]
    print(
        f"{label} {r['engine']}  ({r['code']}; load average {r['load'][0]:.1f} {r['load'][1]:.1f} "
        f"at the burst's start, {r['load'][2]:.1f} {r['load'][3]:.1f} at its end)"
    )
    print(
        f"  {burst} at once, all ready in {r['burst']:.1f} s vs {r['alone']:.1f} s for one alone: "
        f"{ratio:.2f}x   (goal < {goal:g}x; Generate x{burst} took {r['sent_in']:.1f} s)"
    )
    if r["create_wait_median"] is not None:
        print(
            f"  Generate -> create at the provider: median {r['create_wait_median']:.2f} s, "
            f"max {r['create_wait_max']:.2f} s ({r['creates_seen']} creates)   (row 2's goal: < 2 s)"
        )
    if "saving_max" in r:
        print(
            f"  Generate -> completion seen by a poll: median {r['completed_median']:.1f} s, max "
            f"{r['completed_max']:.1f} s; completion -> ready (saving): median {r['saving_median']:.2f} s, "
            f"max {r['saving_max']:.2f} s"
        )
    print(
        f"  studio memory, {r['processes']} processes (PSS summed): rest {r['rest_mb']:.0f} MB, "
        f"peak {r['peak_mb']:.0f} MB (+{r['peak_mb'] - r['rest_mb']:.0f} MB), "
        f"after {r['after_mb']:.0f} MB (+{r['after_mb'] - r['rest_mb']:.0f} MB)   (goal: peak < +300 MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkout", type=Path, help="also measure the studio code in this folder (BEFORE)")
    parser.add_argument("--database", help="a PostgreSQL server URL: a throwaway database is made on it")
    parser.add_argument("--redis", help="a Redis database URL for django-q2 and the cache (emptied first)")
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--alone", type=int, default=3, help="runs of one alone (the median is the baseline)")
    parser.add_argument("--generation-seconds", type=float, default=3.0, help="the provider's time per video")
    parser.add_argument("--render", choices=["tiny", "full"], default="tiny")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds after the burst to sample memory")
    parser.add_argument("--warmup", type=float, default=6.0)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--code", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-provider", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--arrivals", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.serve_provider:
        serve_provider(args.serve_provider, args.generation_seconds, args.render, args.arrivals)
        return
    if args.measure:
        print(json.dumps(measure(args)))
        return
    runs = []
    if args.checkout:
        runs.append(("BEFORE", run_child(args.checkout.resolve(), args)))
    runs.append(("AFTER " if args.checkout else "", run_child(ROOT, args)))
    for label, result in runs:
        print_result(label, result, args.burst)
    if len(runs) == 2:
        (_, before), (_, after) = runs
        print(
            f"ratio to one alone: {before['burst'] / before['alone']:.2f}x before, "
            f"{after['burst'] / after['alone']:.2f}x after; memory at peak above rest: "
            f"+{before['peak_mb'] - before['rest_mb']:.0f} MB before, +{after['peak_mb'] - after['rest_mb']:.0f} MB after"
        )


if __name__ == "__main__":
    main()
