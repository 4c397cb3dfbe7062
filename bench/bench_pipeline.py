"""How the generation pipeline holds up: sweep speed, memory while storing, time to ready.

Runs by itself: `.venv/bin/python bench/bench_pipeline.py`. It builds a throwaway
SQLite database in a temporary data folder (never the real one) and runs the
demo provider in a thread on loopback.

(a) One poll sweep over 1,000 in-flight generations, the demo provider adding
    100 ms to every query answer. Goal: under 5 s per sweep.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


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


# --- (a) one sweep over 1,000 in-flight generations ------------------------------


def serve_demo(count: int) -> None:
    """Runs in a child process: a demo provider with `count` tasks processing for an hour.

    Its own process, as in production (runstudio runs it apart; the real
    provider is remote), so its threads do not compete with the sweep's.
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
    sys.stdin.readline()  # until the parent is done
    server.shutdown()


def bench_sweep(team, user, *, count: int, latency: float, threads: int) -> dict:
    import httpx
    from django.conf import settings
    from django.utils import timezone

    from studio.videos import services
    from studio.videos.models import Generation, Status

    child = subprocess.Popen(
        [sys.executable, __file__, "--serve-demo", str(count)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin and child.stdout
    try:
        info = json.loads(child.stdout.readline())
        ids = info["ids"]
        past = timezone.now() - timezone.timedelta(seconds=1)
        Generation.objects.bulk_create(
            Generation(
                team=team,
                author=user,
                prompt="bench",
                compiled_prompt="bench.",
                status=Status.PROCESSING,
                task_id=task_id,
                submitted_at=past,
                next_poll_at=past,
            )
            for task_id in ids
        )
        if latency:
            httpx.post(
                info["base_url"] + "/_demo/faults",
                json={"fault": f"slow:{latency}", "count": count, "on": "query"},
            ).raise_for_status()
        port, settings.STUDIO_DEMO_PROVIDER_PORT = settings.STUDIO_DEMO_PROVIDER_PORT, info["port"]
        started = time.monotonic()
        report = services.sweep(threads=threads)
        elapsed = time.monotonic() - started
        settings.STUDIO_DEMO_PROVIDER_PORT = port
        recorded = Generation.objects.filter(
            task_id__in=ids, poll_count=1, claimed_until__isnull=True
        ).count()
        Generation.objects.filter(task_id__in=ids).delete()
    finally:
        child.stdin.close()
        child.wait(timeout=30)
    return {"seconds": elapsed, "polled": report.done["poll"], "recorded": recorded, "errors": report.errors}


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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--generations", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--threads", type=int, default=None, help="sweep threads (default: the studio's)")
    parser.add_argument("--megabytes", type=int, default=200)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--child-store", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--serve-demo", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.serve_demo:
        serve_demo(args.serve_demo)
        return

    if args.child_store:
        setup_django(Path(args.child_store[2]).parent)
        child_store(*args.child_store)
        return

    data_dir = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    try:
        setup_django(data_dir)
        from django.conf import settings

        from studio.demoprovider import start_in_thread
        from studio.videos import services

        server, base_url = start_in_thread(generation_seconds=3)
        settings.STUDIO_DEMO_PROVIDER_PORT = server.server_address[1]
        settings.STUDIO_PUBLIC_URL = ""
        threads = args.threads or int(
            getattr(settings, "STUDIO_SWEEP_THREADS", services.DEFAULT_SWEEP_THREADS)
        )
        interval = float(getattr(settings, "STUDIO_SWEEP_INTERVAL", 3.0))
        team, user = make_owner()
        try:
            sweep = bench_sweep(team, user, count=args.generations, latency=args.latency, threads=threads)
            memory = bench_memory(server, base_url, data_dir, megabytes=args.megabytes)
            ready = bench_time_to_ready(server, team, user, samples=args.samples, interval=interval)
        finally:
            server.shutdown()

        rows = [
            (
                f"(a) one sweep, {args.generations:,} in flight, +{args.latency * 1000:.0f} ms per answer, "
                f"{threads} threads",
                f"{sweep['seconds']:.2f} s ({sweep['recorded']:,} recorded, {sweep['errors']} errors)",
                "< 5 s",
            ),
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
        width = max(len(r[0]) for r in rows)
        result_width = max(len(r[1]) for r in rows)
        print(f"{'measure'.ljust(width)}  {'result'.ljust(result_width)}  goal")
        for name, result, goal in rows:
            print(f"{name.ljust(width)}  {result.ljust(result_width)}  {goal}")
        if not memory["hwm_reset"]:
            print("note: VmHWM could not be reset after warm-up; (b) may include import peaks")
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
