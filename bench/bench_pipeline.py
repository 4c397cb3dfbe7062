"""How the generation pipeline holds up: sweep speed, memory while storing, time to ready.

Runs by itself: `.venv/bin/python bench/bench_pipeline.py`. It builds a throwaway
database (SQLite in a temporary data folder, or with `--database URL` a new
database on that PostgreSQL server, dropped at the end; never the real one) and
runs the demo provider on loopback.

(a) One poll sweep over 1,000 and over 10,000 in-flight generations, the demo
    provider (its own process) adding 100 ms to every read. Twice per sample:
    a sweep where every row changes (the rows say pending, the provider says
    processing) and then one where nothing is new. Goals: under 1 s for 1,000,
    under 5 s for 10,000. Prints the provider's reads and the SQL statements of
    the last sample. `--compare DIR` measures the studio code in DIR too (a
    checkout of the commit before), interleaved with this one, sample by sample.
(b) Peak memory of a worker process while it stores a 200 MB result (fetch,
    probe, poster, place), as VmHWM above its resting VmRSS, measured in a
    child process. Goal: under 30 MB.
(c) Time from the provider reporting a task completed to the video being ready
    in storage, with the sweeper's loop running. Goal: under 2 s plus the
    poll interval.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _code_root() -> Path:
    """The studio code to bench: this checkout, or the one after --code (for --compare)."""
    if "--code" in sys.argv:
        return Path(sys.argv[sys.argv.index("--code") + 1]).resolve()
    return ROOT


CODE = _code_root()
sys.path.insert(0, str(CODE))


def setup_django(data_dir: Path) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "studio.settings"
    os.environ["STUDIO_DATA_DIR"] = str(data_dir)
    os.environ["EVOLINK_API_KEY"] = ""  # demo mode: the local demo provider
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-not-for-anything-else-0123456789")
    os.environ.setdefault("STUDIO_LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def proc_status(field: str) -> int:
    """A /proc/self/status memory field in kB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def make_owner():
    from django.contrib.auth.models import User

    from studio.accounts.models import Membership, Role, Team

    team = Team.objects.create(name="Bench")
    user = User.objects.create_user("bench@example.org", "bench@example.org", "x")
    Membership.objects.create(team=team, user=user, role=Role.OWNER)
    return team, user


# --- (a) one poll sweep over 1,000 and 10,000 in-flight generations --------------


def serve_demo(count: int) -> None:
    """Runs in a child process: a demo provider with `count` tasks processing for an hour.

    Its own process, as in production (runstudio runs it apart; the real
    provider is remote), so its threads do not compete with the sweep's for the
    GIL. Reads commands on stdin: `count` prints the task reads seen since the
    last `count` (batch and single), an empty line or end of input stops it.
    """
    from studio.demoprovider import DemoTask, start_in_thread

    server, base_url = start_in_thread(generation_seconds=3)
    now = time.time()
    ids = [f"task-unified-{int(now)}-bench{i:05d}" for i in range(count)]
    with server._lock:
        for task_id in ids:
            server.tasks[task_id] = DemoTask(
                id=task_id,
                created=now,
                prompt="bench",
                duration=5,
                aspect_ratio="16:9",
                callback_url="",
                generation_seconds=3600,
                status="processing",
            )
    print(json.dumps({"base_url": base_url, "port": server.server_address[1], "ids": ids}), flush=True)
    while sys.stdin.readline().strip() == "count":
        seen, server.requests_seen[:] = list(server.requests_seen), []
        batch = sum(1 for _method, path in seen if path == "/v1/tasks/batch")
        single = sum(1 for method, path in seen if method == "GET" and path.startswith("/v1/tasks/task-"))
        print(json.dumps({"batch": batch, "single": single}), flush=True)
    server.shutdown()


class QueryCounter:
    """Counts the SQL statements of every connection, in any thread, and the time spent in them."""

    def __init__(self) -> None:
        from django.db.backends.utils import CursorWrapper

        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.seconds = 0.0
        counter = self
        original = CursorWrapper._execute_with_wrappers

        def counted(self, sql, params, many, executor):
            started = time.perf_counter()
            try:
                return original(self, sql, params, many, executor)
            finally:
                spent = time.perf_counter() - started
                verb = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "?"
                with counter.lock:
                    counter.counts[verb] = counter.counts.get(verb, 0) + 1
                    counter.seconds += spent

        CursorWrapper._execute_with_wrappers = counted

    def take(self) -> tuple[dict[str, int], float]:
        with self.lock:
            counts, seconds = self.counts, self.seconds
            self.counts, self.seconds = {}, 0.0
        return counts, seconds


def measure_sweeps(
    team, user, *, sizes: list[int], latency: float, threads: int, repeat: int, profile: str
) -> dict:
    """(a) for each size: `repeat` sweeps where every row changes, each followed by one where none does."""
    import httpx
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from studio.videos import services
    from studio.videos.models import Generation, Status

    counter = QueryCounter()
    results = {}
    for size in sizes:
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve-demo", str(size), "--code", str(CODE)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdin and child.stdout

        def requests_seen(child: subprocess.Popen = child) -> dict:
            child.stdin.write("count\n")
            child.stdin.flush()
            return json.loads(child.stdout.readline())

        try:
            info = json.loads(child.stdout.readline())
            ids = info["ids"]
            Generation.objects.bulk_create(
                (
                    Generation(
                        team=team,
                        author=user,
                        prompt="bench",
                        compiled_prompt="bench.",
                        status=Status.PENDING,
                        task_id=task_id,
                        submitted_at=timezone.now(),
                    )
                    for task_id in ids
                ),
                batch_size=2000,
            )
            if connection.vendor == "postgresql":
                # As autovacuum would soon after such an insert: the planner's statistics.
                with connection.cursor() as cursor:
                    cursor.execute("ANALYZE videos_generation")
            if latency:
                httpx.post(
                    info["base_url"] + "/_demo/faults",
                    json={"fault": f"slow:{latency}", "count": 10**9, "on": "query"},
                ).raise_for_status()
            settings.STUDIO_DEMO_PROVIDER_PORT = info["port"]
            runs: dict[str, list[dict]] = {"changed": [], "unchanged": []}
            for run in range(repeat):
                for variant in ("changed", "unchanged"):
                    past = timezone.now() - timezone.timedelta(seconds=1)
                    # Due now; "changed": the rows say pending where the provider says processing.
                    reset = {"next_poll_at": past, "claimed_until": None}
                    if variant == "changed":
                        reset.update(status=Status.PENDING, progress=0, provider_task={}, poll_count=0)
                    Generation.objects.filter(task_id__in=ids).update(**reset)
                    requests_seen()
                    counter.take()
                    profiler = start_profile(profile) if run == 0 and size == sizes[0] else None
                    started, cpu = time.monotonic(), time.process_time()
                    report = services.sweep(threads=threads)
                    elapsed, cpu = time.monotonic() - started, time.process_time() - cpu
                    if profiler:
                        stop_profile(profiler, profile, f"{size:,} in flight, {variant}")
                    queries, db_seconds = counter.take()
                    polls = 1 if variant == "changed" else 2
                    recorded = Generation.objects.filter(
                        task_id__in=ids, status=Status.PROCESSING, poll_count=polls
                    ).count()
                    runs[variant].append(
                        {
                            "seconds": elapsed,
                            "cpu": cpu,
                            "polled": report.done["poll"],
                            "errors": report.errors,
                            "recorded": recorded,
                            "requests": requests_seen(),
                            "queries": queries,
                            "db_seconds": db_seconds,
                        }
                    )
            Generation.objects.filter(task_id__in=ids).delete()
        finally:
            child.stdin.close()
            child.wait(timeout=60)
        results[size] = runs
    return results


def start_profile(kind: str):
    if not kind:
        return None
    if kind == "pyinstrument":
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001)
    else:
        import cProfile

        profiler = cProfile.Profile()
    profiler.enable() if kind == "cprofile" else profiler.start()
    return profiler


def stop_profile(profiler, kind: str, title: str) -> None:
    print(f"--- profile of the calling thread: one sweep, {title} ---", file=sys.stderr)
    if kind == "pyinstrument":
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False, show_all=False), file=sys.stderr)
    else:
        import pstats

        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(40)


def sweep_rows(label: str, results: dict, *, latency: float, threads: int) -> list[tuple[str, str, str]]:
    goals = {1000: "< 1 s", 10000: "< 5 s"}
    rows = []
    for size, runs in results.items():
        for variant, samples in runs.items():
            seconds = sorted(s["seconds"] for s in samples)
            last = samples[-1]
            queries = last["queries"]
            writes = sum(n for verb, n in queries.items() if verb in ("UPDATE", "INSERT", "DELETE"))
            requests = last["requests"]
            what = "every row changes" if variant == "changed" else "nothing new"
            rows.append(
                (
                    f"{label}(a) one sweep, {int(size):,} in flight, {what}, +{latency * 1000:.0f} ms, "
                    f"{threads} threads",
                    f"median {statistics.median(seconds):.2f} s (min {seconds[0]:.2f}, n={len(seconds)}, "
                    f"CPU {statistics.median(s['cpu'] for s in samples):.2f} s); "
                    f"{requests['batch']} batch + {requests['single']} single reads; "
                    f"{sum(queries.values())} queries ({writes} writes, {last['db_seconds']:.2f} s); "
                    f"{last['recorded']:,} recorded, {last['errors']} errors",
                    goals.get(int(size), ""),
                )
            )
    return rows


# --- (b) memory while storing a 200 MB result, in a child process -----------------


def child_store(small_url: str, big_url_file: str, media_root: str) -> None:
    """Runs in the child: warm up on a small result, then store the big one; prints JSON."""
    from django.conf import settings
    from django.core.files.storage import default_storage

    from studio.videos import storage

    settings.MEDIA_ROOT = media_root
    settings.STUDIO_MAX_VIDEO_BYTES = 400 * 1024 * 1024
    files = {"storage": default_storage, "allow_private": True}
    storage.store_result(
        small_url, video_name="warm/v.mp4", poster_name="warm/p.jpg", tmp_name="warm", **files
    )
    # Forget the import and warm-up peaks: from here VmHWM is the peak of the big store.
    try:
        Path("/proc/self/clear_refs").write_text("5")
        reset = True
    except OSError:
        reset = False
    resting = proc_status("VmRSS")
    print(json.dumps({"ready": True}), flush=True)
    sys.stdin.readline()  # the parent has made the next download big
    started = time.monotonic()
    stored = storage.store_result(
        Path(big_url_file).read_text(),
        video_name="big/v.mp4",
        poster_name="big/p.jpg",
        tmp_name="big",
        **files,
    )
    print(
        json.dumps(
            {
                "resting_kb": resting,
                "peak_kb": proc_status("VmHWM"),
                "hwm_reset": reset,
                "bytes": stored.info.bytes,
                "seconds": time.monotonic() - started,
            }
        ),
        flush=True,
    )


def bench_memory(server, base_url: str, data_dir: Path, *, megabytes: int) -> dict:
    from studio.videos.evolink import EvolinkClient

    with EvolinkClient(base_url, "sk-bench") as client:
        task = client.create_task(prompt="memory bench", duration=3, aspect_ratio="16:9")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            task = client.get_task(task.id)
            if task.status == "completed":
                break
            time.sleep(0.2)
    url = task.result_url
    url_file = data_dir / "big-url.txt"
    url_file.write_text(url)
    child = subprocess.Popen(
        [sys.executable, __file__, "--child-store", url, str(url_file), str(data_dir / "child-media")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    assert child.stdout and child.stdin
    first = child.stdout.readline()
    if not first:
        raise RuntimeError("the child process failed before warming up")
    server.queue_fault(f"big:{megabytes}", count=1, on="file")
    child.stdin.write("go\n")
    child.stdin.flush()
    result = json.loads(child.stdout.readline())
    child.wait(timeout=60)
    result["delta_mb"] = (result["peak_kb"] - result["resting_kb"]) / 1024
    return result


# --- (c) provider completed -> ready in storage ---------------------------------------


def bench_time_to_ready(server, team, user, *, samples: int, interval: float) -> dict:
    from studio.videos import prompting, services
    from studio.videos.models import Generation, Status

    server.generation_seconds = 4
    stop = threading.Event()

    def worker_loop() -> None:
        # What `manage.py sweep` runs, with the configured interval.
        services.run_sweeper(stop=stop, interval=interval)

    generations = []
    for i in range(samples):
        generation = services.create_generation(
            team=team,
            author=user,
            draft=prompting.Draft(
                prompt=f"Time to ready, sample {i}: a paper boat on a rainy street", duration="3"
            ),
        )
        services.submit_generation(generation_id=generation.pk)
        generations.append(generation)
        time.sleep(0.7)  # spread completions over the poll schedule
    thread = threading.Thread(target=worker_loop, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if (
            not Generation.objects.filter(pk__in=[g.pk for g in generations])
            .exclude(status=Status.READY)
            .exists()
        ):
            break
        time.sleep(0.2)
    stop.set()
    thread.join(timeout=60)
    lags, stores = [], []
    for generation in Generation.objects.filter(pk__in=[g.pk for g in generations]):
        if generation.status != Status.READY:
            raise RuntimeError(f"generation ended {generation.status}: {generation.error_message}")
        finished = server.tasks[generation.task_id].finished_at
        lags.append(generation.ready_at.timestamp() - finished)
        stores.append((generation.ready_at - generation.completed_at).total_seconds())
    return {
        "median": statistics.median(lags),
        "max": max(lags),
        "store_median": statistics.median(stores),
        "store_max": max(stores),
        "max_poll_interval": services.MAX_POLL_INTERVAL,
    }


def throwaway_database(server_url: str, prefix: str = "bench_pipeline") -> tuple[str, Callable[[], None]]:
    """A new PostgreSQL database on the server of `server_url`: its URL, and how to drop it.

    The benches share this one (bench_gallery, bench_submit, bench_burst); `prefix` names whose it is.
    """
    from urllib.parse import urlsplit

    import psycopg

    parts = urlsplit(server_url)
    base = f"{parts.scheme}://{parts.netloc}"
    name = f"{prefix}_{os.getpid()}"
    with psycopg.connect(base + "/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(base + "/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{base}/{name}", drop


def measure_in_child(code: Path, args: argparse.Namespace) -> dict:
    """(a) for the studio code in `code`, in a child process of its own (its own database)."""
    command = [sys.executable, __file__, "--measure-sweep", "--code", str(code)]
    command += ["--generations", args.generations, "--latency", str(args.latency)]
    command += ["--repeat", "1", "--threads", str(args.threads or 0)]
    if args.database:
        command += ["--database", args.database]
    out = subprocess.run(command, check=True, capture_output=True, text=True, cwd=code).stdout
    return {int(size): runs for size, runs in json.loads(out.splitlines()[-1]).items()}


def merge(into: dict, sample: dict) -> None:
    for size, runs in sample.items():
        for variant, samples in runs.items():
            into.setdefault(size, {}).setdefault(variant, []).extend(samples)


def print_rows(rows: list[tuple[str, str, str]]) -> None:
    width = max(len(r[0]) for r in rows)
    result_width = max(len(r[1]) for r in rows)
    print(f"{'measure'.ljust(width)}  {'result'.ljust(result_width)}  goal")
    for name, result, goal in rows:
        print(f"{name.ljust(width)}  {result.ljust(result_width)}  {goal}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--generations", default="1000,10000", help="(a) sizes, comma-separated")
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--threads", type=int, default=None, help="sweep threads (default: the studio's)")
    parser.add_argument("--repeat", type=int, default=3, help="(a) samples per size")
    parser.add_argument("--only", choices=["sweep"], help="run (a) alone")
    parser.add_argument("--compare", type=Path, help="(a) also for the studio code in this folder")
    parser.add_argument("--database", help="a PostgreSQL server URL (default: SQLite)")
    parser.add_argument("--profile", choices=["pyinstrument", "cprofile"], help="(a) profile one sweep")
    parser.add_argument("--megabytes", type=int, default=200)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--code", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--measure-sweep", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-store", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--serve-demo", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [int(n) for n in args.generations.split(",")]

    if args.serve_demo:
        serve_demo(args.serve_demo)
        return

    if args.child_store:
        setup_django(Path(args.child_store[2]).parent)
        child_store(*args.child_store)
        return

    if args.compare:
        # Sample by sample, the two codes in turn, so a busy spell of the machine falls on both.
        load = os.getloadavg()
        ours: dict = {}
        theirs: dict = {}
        for _ in range(args.repeat):
            merge(theirs, measure_in_child(args.compare.resolve(), args))
            merge(ours, measure_in_child(ROOT, args))
        threads = args.threads or 32
        rows = sweep_rows("before ", theirs, latency=args.latency, threads=threads)
        rows += sweep_rows("after  ", ours, latency=args.latency, threads=threads)
        end = os.getloadavg()
        print(f"load average {load[0]:.1f} {load[1]:.1f} at the start, {end[0]:.1f} {end[1]:.1f} at the end")
        print_rows(rows)
        for size in ours:
            for variant in ours[size]:
                before, after = theirs[size][variant], ours[size][variant]
                wall = statistics.median(s["seconds"] for s in before) / statistics.median(
                    s["seconds"] for s in after
                )
                # Per poll recorded: the code before may take fewer rows per pass (its SWEEP_BATCH).
                cpu = statistics.median(s["cpu"] / max(1, s["polled"]) for s in before) / statistics.median(
                    s["cpu"] / max(1, s["polled"]) for s in after
                )
                print(f"{size:,} in flight, {variant}: {wall:.1f}x less time, {cpu:.1f}x less CPU per poll")
        return

    data_dir = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    drop = None
    try:
        if args.database:
            os.environ["DATABASE_URL"], drop = throwaway_database(args.database)
        setup_django(data_dir)
        from django.conf import settings

        from studio.demoprovider import start_in_thread
        from studio.videos import services

        settings.STUDIO_PUBLIC_URL = ""
        threads = args.threads or int(
            getattr(settings, "STUDIO_SWEEP_THREADS", services.DEFAULT_SWEEP_THREADS)
        )
        team, user = make_owner()
        if args.measure_sweep:
            results = measure_sweeps(
                team, user, sizes=sizes, latency=args.latency, threads=threads, repeat=args.repeat, profile=""
            )
            print(json.dumps(results))
            return
        load = os.getloadavg()
        sweeps = measure_sweeps(
            team,
            user,
            sizes=sizes,
            latency=args.latency,
            threads=threads,
            repeat=args.repeat,
            profile=args.profile,
        )
        rows = sweep_rows("", sweeps, latency=args.latency, threads=threads)
        if args.only != "sweep":
            server, base_url = start_in_thread(generation_seconds=3)
            settings.STUDIO_DEMO_PROVIDER_PORT = server.server_address[1]
            interval = float(getattr(settings, "STUDIO_SWEEP_INTERVAL", 3.0))
            try:
                memory = bench_memory(server, base_url, data_dir, megabytes=args.megabytes)
                ready = bench_time_to_ready(server, team, user, samples=args.samples, interval=interval)
            finally:
                server.shutdown()
            rows += [
                (
                    f"(b) storing a {memory['bytes'] / 1024 / 1024:.0f} MB result: peak RSS above resting",
                    f"{memory['delta_mb']:.1f} MB (resting {memory['resting_kb'] / 1024:.0f} MB, "
                    f"{memory['seconds']:.1f} s)",
                    "< 30 MB",
                ),
                (
                    f"(c) completed -> ready, {args.samples} samples, sweep every {interval:g} s",
                    f"median {ready['median']:.2f} s, max {ready['max']:.2f} s "
                    f"(saving alone: median {ready['store_median']:.2f} s, max {ready['store_max']:.2f} s)",
                    f"< 2 s + poll interval (<= {ready['max_poll_interval']:g} s)",
                ),
            ]
        end = os.getloadavg()
        engine = "PostgreSQL" if args.database else "SQLite"
        print(
            f"{engine}; load average {load[0]:.1f} {load[1]:.1f} at the start, "
            f"{end[0]:.1f} {end[1]:.1f} at the end"
        )
        print_rows(rows)
        if args.only != "sweep" and not memory["hwm_reset"]:
            print("note: VmHWM could not be reset after warm-up; (b) may include import peaks")
    finally:
        if drop:
            drop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
