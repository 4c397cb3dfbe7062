"""A submit never waits behind the sweep, and the studio at rest costs next to nothing.

Runs by itself: `.venv/bin/python bench/bench_submit.py [--workers 1 2] [--samples N]`.
It builds a throwaway SQLite database in a temporary data folder (the default
configuration) and starts the background processes exactly as `runstudio` does
(`manage.py qcluster` and `manage.py sweep`, each in its own process group),
pointed at a stand-in provider: a small HTTP server in its own process on
loopback that answers every request after 100 ms and records when each create
arrived.

(a) Generate while a sweep over 1,000 in-flight generations runs: the time from
    `services.create_generation` (what the Generate button calls) to the create
    request arriving at the provider, for each worker count asked for.
    Goal: under 2 s.
(b) At rest (nothing in flight): CPU seconds and SQL queries per idle minute of
    the sweeper and of the qcluster (all its processes). Queries are counted by
    a settings module that wraps the studio's own and appends a line per query
    to a file; nothing else differs from the default configuration.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
LATENCY = 0.1
TICKS = os.sysconf("SC_CLK_TCK")

# Wraps the studio's settings to count queries per process; nothing else changes.
COUNTING_SETTINGS = """\
import os
from studio.settings import *  # noqa: F403
from django.db.backends.signals import connection_created

_log = os.path.join(os.environ["BENCH_QUERY_DIR"], f"queries-{os.getpid()}.log")


def _count(execute, sql, params, many, context):
    with open(_log, "a") as f:
        f.write(sql.split(None, 1)[0] + "\\n")
    return execute(sql, params, many, context)


def _wrap(sender, connection, **kwargs):
    if _count not in connection.execute_wrappers:
        connection.execute_wrappers.append(_count)


connection_created.connect(_wrap)
"""


# --- The stand-in provider, in its own process ------------------------------------------


class Provider(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    arrivals: list[tuple[float, str]] = []
    queries = 0
    lock = threading.Lock()

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, body: dict, status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        arrived = time.time()
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        with Provider.lock:
            Provider.arrivals.append((arrived, body.get("prompt", "")))
            number = len(Provider.arrivals)
        time.sleep(LATENCY)
        task_id = f"task-unified-{int(arrived)}-bench{number:06d}"
        self._answer(task(task_id, "pending", 0))

    def do_GET(self) -> None:
        if self.path == "/_bench":
            with Provider.lock:
                self._answer({"arrivals": Provider.arrivals, "queries": Provider.queries})
            return
        with Provider.lock:
            Provider.queries += 1
        time.sleep(LATENCY)
        self._answer(task(self.path.rsplit("/", 1)[-1], "processing", 50))


def task(task_id: str, status: str, progress: int) -> dict:
    return {
        "id": task_id,
        "created": int(time.time()),
        "model": "gemini-omni-flash-text-to-video",
        "object": "video.generation.task",
        "status": status,
        "progress": progress,
        "task_info": {"can_cancel": False, "estimated_time": 60},
        "type": "video",
        "usage": {"billing_rule": "per_token", "credits_reserved": 1.0, "user_group": "default"},
    }


def serve_provider() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Provider)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


def provider_state(base_url: str) -> dict:
    import httpx

    return httpx.get(base_url + "/_bench", timeout=10).json()


# --- The studio's processes ------------------------------------------------------------


def cpu_seconds(pgid: int) -> float:
    """User + system CPU of every live process in a process group (children's included once reaped)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields[2] is the process group (stat field 5)
            total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total / TICKS


def queries_of(query_dir: Path, pids: set[int]) -> int:
    count = 0
    for path in query_dir.glob("queries-*.log"):
        if int(path.stem.split("-")[1]) in pids:
            count += len(path.read_text().splitlines())
    return count


def group_pids(pgid: int) -> set[int]:
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2]) == pgid:
                    pids.add(int(entry.name))
            except OSError:
                continue
    return pids


def start(command: str, env: dict[str, str]) -> subprocess.Popen:
    # As runstudio starts its parts: own process group, the studio's manage.py.
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop(child: subprocess.Popen) -> None:
    child.send_signal(signal.SIGTERM)
    try:
        child.wait(timeout=20)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)


def wait_for_queries(base_url: str, at_least: int, what: str) -> int:
    """Until the provider has answered `at_least` polls in all; returns how many it has."""
    deadline = time.monotonic() + 120
    while (answered := provider_state(base_url)["queries"]) < at_least:
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.02)
    return answered


def wait_for_create(base_url: str, prompt: str) -> tuple[float, int]:
    """Until the create with this prompt arrived: when, and how many polls were answered by then."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = provider_state(base_url)
        for at, sent in state["arrivals"]:
            if sent.startswith(prompt):
                return at, state["queries"]
        time.sleep(0.02)
    raise RuntimeError("timed out waiting for the create to arrive")


# --- (a) Generate while the sweep works ---------------------------------------------------


def bench_submit(env: dict[str, str], base_url: str, *, workers: int, count: int, samples: int) -> dict:
    from django.utils import timezone

    from studio.videos import prompting, services
    from studio.videos.models import Generation, Status

    team, user = make_owner(f"submit-{workers}")
    now = timezone.now()
    Generation.objects.bulk_create(
        Generation(
            team=team,
            author=user,
            prompt="in flight",
            compiled_prompt="in flight.",
            status=Status.PROCESSING,
            task_id=f"task-unified-1-flight{workers}{i:05d}",
            submitted_at=now,
            next_poll_at=now + timezone.timedelta(days=1),
        )
        for i in range(count)
    )
    in_flight = Generation.objects.filter(team=team, status=Status.PROCESSING)
    worker = start("qcluster", {**env, "STUDIO_WORKERS": str(workers)})
    sweeper = start("sweep", env)
    lags, passes = [], []
    try:
        time.sleep(5)  # both up and idle
        for sample in range(samples):
            before = provider_state(base_url)["queries"]
            in_flight.update(next_poll_at=timezone.now())  # all 1,000 due: the next pass polls them all
            # Generate once the pass is well under way.
            wait_for_queries(base_url, before + 100, "the sweep to start")
            prompt = f"Submit sample {sample} with {workers} worker(s): a lighthouse in the fog"
            pressed = time.time()
            services.create_generation(
                team=team,
                author=user,
                draft=prompting.Draft(prompt=prompt, duration="5"),
            )
            arrived, answered = wait_for_create(base_url, prompt)
            lags.append(arrived - pressed)
            passes.append(answered - before)
            wait_for_queries(base_url, before + count, "the sweep to finish")
    finally:
        stop(sweeper)
        stop(worker)
    Generation.objects.filter(team=team).delete()
    return {
        "median": statistics.median(lags),
        "max": max(lags),
        "during": (min(passes), max(passes)),
    }


# --- (b) the studio at rest --------------------------------------------------------------


def bench_idle(env: dict[str, str], query_dir: Path, *, seconds: float) -> dict:
    worker = start("qcluster", env)
    sweeper = start("sweep", env)
    try:
        time.sleep(10)  # past start-up (imports, first queries)
        marks = {}
        for name, child in (("sweeper", sweeper), ("qcluster", worker)):
            pids = group_pids(child.pid)
            marks[name] = (pids, cpu_seconds(child.pid), queries_of(query_dir, pids))
        time.sleep(seconds)
        result = {}
        for name, child in (("sweeper", sweeper), ("qcluster", worker)):
            pids, cpu, queries = marks[name]
            pids |= group_pids(child.pid)
            per_minute = 60 / seconds
            result[name] = {
                "cpu": (cpu_seconds(child.pid) - cpu) * per_minute,
                "queries": (queries_of(query_dir, pids) - queries) * per_minute,
                "processes": len(group_pids(child.pid)),
            }
    finally:
        stop(sweeper)
        stop(worker)
    return result


def make_owner(name: str):
    from django.contrib.auth.models import User

    from studio.accounts.models import Membership, Role, Team

    team = Team.objects.create(name=name)
    user = User.objects.create_user(f"{name}@example.org", f"{name}@example.org", "x")
    Membership.objects.create(team=team, user=user, role=Role.OWNER)
    return team, user


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 1], help="qcluster worker counts")
    parser.add_argument("--generations", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--idle-seconds", type=float, default=60)
    parser.add_argument("--serve-provider", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_provider:
        serve_provider()
        return

    data_dir = Path(tempfile.mkdtemp(prefix="bench-submit-"))
    query_dir = data_dir / "queries"
    query_dir.mkdir()
    (data_dir / "bench_counting_settings.py").write_text(COUNTING_SETTINGS)
    provider = subprocess.Popen(
        [sys.executable, __file__, "--serve-provider"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert provider.stdout
        base_url = f"http://127.0.0.1:{provider.stdout.readline().strip()}"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DJANGO_", "STUDIO_", "DATABASE_URL", "REDIS_URL", "EVOLINK_"))
        }
        env.update(
            STUDIO_DATA_DIR=str(data_dir),
            DJANGO_SECRET_KEY="bench-only-secret-key-not-for-anything-else-0123456789",
            EVOLINK_API_KEY="sk-bench",
            EVOLINK_BASE_URL=base_url,
            STUDIO_LOG_LEVEL="WARNING",
            DJANGO_SETTINGS_MODULE="bench_counting_settings",
            PYTHONPATH=os.pathsep.join([str(data_dir), str(ROOT)]),
            BENCH_QUERY_DIR=str(query_dir),
        )
        os.environ.update(env)
        sys.path.insert(0, str(data_dir))
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)

        rows = []
        idle = bench_idle(env, query_dir, seconds=args.idle_seconds)
        for workers in args.workers:
            submit = bench_submit(
                env, base_url, workers=workers, count=args.generations, samples=args.samples
            )
            rows.append(
                (
                    f"(a) Generate -> create at the provider, {workers} worker(s), "
                    f"during a sweep of {args.generations:,} (+{LATENCY * 1000:.0f} ms per answer)",
                    f"median {submit['median']:.2f} s, max {submit['max']:.2f} s "
                    f"(the sweep had answered {submit['during'][0]}-{submit['during'][1]} of its "
                    f"{args.generations:,} polls by then)",
                    "< 2 s",
                )
            )
        for name in ("sweeper", "qcluster"):
            rows.append(
                (
                    f"(b) at rest, per idle minute: {name} ({idle[name]['processes']} processes)",
                    f"{idle[name]['cpu']:.2f} CPU s, {idle[name]['queries']:.0f} SQL queries",
                    "next to nothing",
                )
            )
        width = max(len(r[0]) for r in rows)
        result_width = max(len(r[1]) for r in rows)
        print(f"{'measure'.ljust(width)}  {'result'.ljust(result_width)}  goal")
        for name, result, goal in rows:
            print(f"{name.ljust(width)}  {result.ljust(result_width)}  {goal}")
    finally:
        provider.terminate()
        provider.wait(timeout=10)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
