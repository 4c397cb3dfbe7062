"""Creates go out at once, fairly, in a burst too; and the studio at rest costs next to nothing.

Runs by itself: `.venv/bin/python bench/bench_submit.py [--checkout DIR] [--database URL] [--redis URL]`.
For each studio checkout measured (DIR first, as BEFORE, when given; then this one, AFTER), a child
process builds a throwaway data folder and database (SQLite by default; with `--database` a new
PostgreSQL database on that server, and REDIS_URL with `--redis`) and starts the whole studio as
`runstudio` does: the web server (runstudio's gunicorn command), `manage.py qcluster` and
`manage.py sweep`, each in its own process group, pointed at a stand-in provider: a small HTTP
server in its own process on loopback that answers every request after 100 ms and records when
each create arrived. Queries are counted by a settings module that wraps the studio's own and
appends a line per query to a file; nothing else differs from the default configuration.

(b) At rest (nothing in flight, after 10 s of start-up): CPU seconds and SQL queries per idle
    minute of each process group and of the whole studio. Goal: under 0.05 CPU s and 20 queries.
(p) Pickup at rest: Generate (`services.create_generation`, what the button calls) -> the create
    at the provider, with the studio idle before each. Goal: within 1 s.
(c) Bursts: 200 generations made at once (each its own transaction, as 200 Generate requests)
    and the time from each Generate to its create arriving at the provider.
    - two people: one makes 199 (runs of 24 takes), then the other one single: the single's
      wait, and the run's median and max. Goal: every create within 2 s.
    - 200 from 20 people, interleaved: median and max. Goal: every create within 2 s.
(a) Generate while a sweep over 1,000 in-flight generations runs: Generate -> create.
    Goal: under 2 s.
The load average is printed with every result (the machine may be shared).
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
LATENCY = 0.1
TICKS = os.sysconf("SC_CLK_TCK")

from bench_pipeline import throwaway_database  # noqa: E402

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


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


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


def start(argv: list[str], env: dict[str, str], code: Path) -> subprocess.Popen:
    # As runstudio starts its parts: own process group, in the checkout's folder.
    return subprocess.Popen(
        argv, cwd=code, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def stop(child: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGTERM)
    try:
        child.wait(timeout=20)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)


def wait_for_web(port: int) -> None:
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code < 600:
                return
        time.sleep(0.2)
    raise RuntimeError("the web server did not start")


def arrivals(base_url: str) -> dict[str, float]:
    """When each create arrived at the provider, by its prompt (the first arrival of each)."""
    found: dict[str, float] = {}
    for at, prompt in provider_state(base_url)["arrivals"]:
        found.setdefault(prompt, at)
    return found


def wait_for_creates(base_url: str, prompts: list[str], timeout: float = 300) -> dict[str, float]:
    """Until a create for each prompt arrived; when each did, by prompt.

    The provider gets the compiled prompt (the prompt and a full stop, here): the
    prompts are made so that none begins another (numbers of one width).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = arrivals(base_url)
        sent = {}
        for prompt in prompts:
            at = next((at for text, at in found.items() if text.startswith(prompt)), None)
            if at is None:
                break
            sent[prompt] = at
        else:
            return sent
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {len(prompts)} creates")


# --- The cases ------------------------------------------------------------------------------


def make_people(name: str, count: int):
    from django.contrib.auth.models import User

    from studio.accounts.models import Membership, Role, Team

    team = Team.objects.create(name=name)
    people = []
    for n in range(count):
        email = f"{name}-{n}@example.org"
        user = User.objects.create_user(email, email, "x")
        Membership.objects.create(team=team, user=user, role=Role.OWNER if n == 0 else Role.CREATOR)
        people.append(user)
    return team, people


def generate(team, user, prompt: str) -> float:
    """Generate as the button does; returns when it was pressed."""
    from studio.videos import prompting, services

    pressed = time.time()
    services.create_generation(team=team, author=user, draft=prompting.Draft(prompt=prompt, duration="5"))
    return pressed


def settle(team) -> None:
    """The case's generations out of the way (nothing left in flight for the next case)."""
    from studio.videos.models import Generation

    Generation.objects.filter(team=team).delete()


def bench_idle(groups: dict[str, subprocess.Popen], query_dir: Path, *, seconds: float) -> dict:
    marks = {}
    for name, child in groups.items():
        pids = group_pids(child.pid)
        marks[name] = (pids, cpu_seconds(child.pid), queries_of(query_dir, pids))
    time.sleep(seconds)
    result = {}
    per_minute = 60 / seconds
    for name, child in groups.items():
        pids, cpu, queries = marks[name]
        pids |= group_pids(child.pid)
        result[name] = {
            "cpu": (cpu_seconds(child.pid) - cpu) * per_minute,
            "queries": (queries_of(query_dir, pids) - queries) * per_minute,
            "processes": len(group_pids(child.pid)),
        }
    result["studio"] = {
        "cpu": sum(r["cpu"] for r in result.values()),
        "queries": sum(r["queries"] for r in result.values()),
        "processes": sum(r["processes"] for r in result.values()),
    }
    result["load"] = load()
    return result


def bench_pickup(base_url: str, *, samples: int, rest: float) -> dict:
    team, (user,) = make_people("pickup", 1)
    waits = []
    for n in range(samples):
        time.sleep(rest)  # at rest again before each
        prompt = f"Pickup {n:03d}: a lighthouse in the fog"
        pressed = generate(team, user, prompt)
        waits.append(wait_for_creates(base_url, [prompt], timeout=120)[prompt] - pressed)
        settle(team)
    return {"median": statistics.median(waits), "max": max(waits), "load": load()}


def bench_burst_two(base_url: str, *, total: int, run: int) -> dict:
    team, (runner, colleague) = make_people("burst-two", 2)
    pressed: dict[str, float] = {}
    for n in range(total - 1):
        prompt = f"Run {n // run:03d} take {n % run:03d} of the red fox"
        pressed[prompt] = generate(team, runner, prompt)
    single = "The colleague's single lighthouse"
    pressed[single] = generate(team, colleague, single)
    found = wait_for_creates(base_url, list(pressed))
    waits = {prompt: found[prompt] - at for prompt, at in pressed.items()}
    run_waits = [w for p, w in waits.items() if p != single]
    settle(team)
    return {
        "single": waits[single],
        "median": statistics.median(run_waits),
        "max": max(run_waits),
        "span": max(found[p] for p in pressed) - min(pressed.values()),
        "load": load(),
    }


def bench_burst_many(base_url: str, *, total: int, people: int) -> dict:
    team, users = make_people("burst-many", people)
    pressed: dict[str, float] = {}
    for n in range(total):
        prompt = f"Person {n % people:03d} idea {n // people:03d}: a paper boat"
        pressed[prompt] = generate(team, users[n % people], prompt)
    found = wait_for_creates(base_url, list(pressed))
    waits = [found[p] - at for p, at in pressed.items()]
    settle(team)
    return {
        "median": statistics.median(waits),
        "max": max(waits),
        "span": max(found[p] for p in pressed) - min(pressed.values()),
        "load": load(),
    }


def bench_during_sweep(base_url: str, *, count: int, samples: int) -> dict:
    from django.utils import timezone

    from studio.videos.models import Generation, Status

    team, (user,) = make_people("during-sweep", 1)
    now = timezone.now()
    Generation.objects.bulk_create(
        Generation(
            team=team,
            author=user,
            prompt="in flight",
            compiled_prompt="in flight.",
            status=Status.PROCESSING,
            task_id=f"task-unified-1-flight{i:05d}",
            submitted_at=now,
            next_poll_at=now + timezone.timedelta(days=1),
        )
        for i in range(count)
    )
    in_flight = Generation.objects.filter(team=team, status=Status.PROCESSING)
    lags, passes = [], []
    for sample in range(samples):
        before = provider_state(base_url)["queries"]
        in_flight.update(next_poll_at=timezone.now())  # all due at once: the next pass polls them all
        wait_for_queries(base_url, before + 100, "the sweep to start")
        prompt = f"During a sweep {sample:03d}: a lighthouse in the fog"
        pressed = generate(team, user, prompt)
        found = wait_for_creates(base_url, [prompt], timeout=120)
        lags.append(found[prompt] - pressed)
        passes.append(provider_state(base_url)["queries"] - before)
        wait_for_queries(base_url, before + count, "the sweep to finish")
    settle(team)
    return {
        "median": statistics.median(lags),
        "max": max(lags),
        "during": (min(passes), max(passes)),
        "load": load(),
    }


def wait_for_queries(base_url: str, at_least: int, what: str) -> int:
    deadline = time.monotonic() + 180
    while (answered := provider_state(base_url)["queries"]) < at_least:
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.02)
    return answered


# --- One checkout, in a child process -----------------------------------------------------


def measure(code: Path, args: argparse.Namespace) -> dict:
    sys.path.insert(0, str(code))
    # Short: the studio keeps sockets in its data folder (107 bytes at most for a path).
    data_dir = Path(tempfile.mkdtemp(prefix="bsub-", dir="/tmp"))
    query_dir = data_dir / "queries"
    query_dir.mkdir()
    (data_dir / "bench_counting_settings.py").write_text(COUNTING_SETTINGS)
    provider = subprocess.Popen(
        [sys.executable, __file__, "--serve-provider"], stdout=subprocess.PIPE, text=True
    )
    drop = None
    children: dict[str, subprocess.Popen] = {}
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
            PYTHONPATH=os.pathsep.join([str(data_dir), str(code)]),
            BENCH_QUERY_DIR=str(query_dir),
        )
        if args.database:
            env["DATABASE_URL"], drop = throwaway_database(args.database, "bench_submit")
        if args.redis:
            env["REDIS_URL"] = args.redis
        os.environ.update(env)
        sys.path.insert(0, str(data_dir))
        import django

        django.setup()
        from django.core.management import call_command

        from studio.accounts.management.commands.runstudio import free_port, gunicorn_command

        call_command("migrate", verbosity=0)
        if args.redis:
            from django_q.brokers import get_broker

            get_broker().purge_queue()  # nothing left from an earlier run on this Redis
        port = free_port()
        manage = [sys.executable, str(code / "manage.py")]
        children = {
            "web": start(gunicorn_command("127.0.0.1", port, 2), env, code),
            "qcluster": start([*manage, "qcluster"], env, code),
            "sweeper": start([*manage, "sweep"], env, code),
        }
        wait_for_web(port)
        time.sleep(10)  # past start-up (imports, first queries)
        result = {"code": str(code), "load_start": load()}
        result["idle"] = bench_idle(children, query_dir, seconds=args.idle_seconds)
        if args.idle_only:
            return result
        result["pickup"] = bench_pickup(base_url, samples=args.pickups, rest=5)
        result["burst_two"] = bench_burst_two(base_url, total=args.burst, run=args.run)
        result["burst_many"] = bench_burst_many(base_url, total=args.burst, people=args.people)
        if args.generations:
            result["sweep"] = bench_during_sweep(base_url, count=args.generations, samples=args.samples)
        return result
    finally:
        for child in children.values():
            stop(child)
        provider.terminate()
        provider.wait(timeout=10)
        if drop:
            drop()
        shutil.rmtree(data_dir, ignore_errors=True)


# --- Both checkouts, side by side ---------------------------------------------------------


def rows(result: dict, args: argparse.Namespace) -> list[tuple[str, str, str]]:
    idle = result["idle"]
    out = []
    for name in ("web", "qcluster", "sweeper", "studio"):
        label = "whole studio" if name == "studio" else name
        out.append(
            (
                f"(b) at rest, per idle minute: {label} ({idle[name]['processes']} processes)",
                f"{idle[name]['cpu']:.3f} CPU s, {idle[name]['queries']:.0f} SQL queries (load {idle['load']})",
                "< 0.05 CPU s, < 20 queries" if name == "studio" else "",
            )
        )
    if "pickup" not in result:
        return out
    pickup = result["pickup"]
    out.append(
        (
            f"(p) pickup at rest: Generate -> create, {args.pickups} samples",
            f"median {pickup['median']:.2f} s, max {pickup['max']:.2f} s (load {pickup['load']})",
            "< 1 s",
        )
    )
    two = result["burst_two"]
    out.append(
        (
            f"(c) burst of {args.burst}, 2 people: the single after {args.burst - 1} (runs of {args.run})",
            f"{two['single']:.2f} s; the run: median {two['median']:.2f} s, max {two['max']:.2f} s, "
            f"all sent in {two['span']:.1f} s (load {two['load']})",
            "every create < 2 s",
        )
    )
    many = result["burst_many"]
    out.append(
        (
            f"(c) burst of {args.burst} from {args.people} people",
            f"median {many['median']:.2f} s, max {many['max']:.2f} s, all sent in {many['span']:.1f} s "
            f"(load {many['load']})",
            "every create < 2 s",
        )
    )
    if "sweep" in result:
        sweep = result["sweep"]
        out.append(
            (
                f"(a) Generate -> create during a sweep of {args.generations:,} (+{LATENCY * 1000:.0f} ms per answer)",
                f"median {sweep['median']:.2f} s, max {sweep['max']:.2f} s (load {sweep['load']})",
                "< 2 s",
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkout", type=Path, help="also measure the studio in this folder, as BEFORE")
    parser.add_argument("--database", help="a PostgreSQL server URL: each run gets a new database there")
    parser.add_argument("--redis", help="REDIS_URL for the studio (the queue, the cache and wake-ups)")
    parser.add_argument("--idle-seconds", type=float, default=60)
    parser.add_argument("--pickups", type=int, default=5)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--run", type=int, default=24, help="takes in one person's run")
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--generations", type=int, default=1000, help="in flight for (a); 0: skip (a)")
    parser.add_argument("--samples", type=int, default=3, help="(a)'s samples")
    parser.add_argument("--idle-only", action="store_true", help="measure (b) only")
    parser.add_argument("--serve-provider", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--code", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_provider:
        serve_provider()
        return
    if args.code:
        print(json.dumps(measure(args.code.resolve(), args)))
        return

    checkouts = [("BEFORE", args.checkout.resolve())] if args.checkout else []
    checkouts.append(("AFTER", ROOT))
    forwarded = sys.argv[1:]
    if args.checkout:
        at = forwarded.index("--checkout")
        del forwarded[at : at + 2]
    where = "PostgreSQL" if args.database else "SQLite"
    if args.redis:
        where += " + Redis"
    print(f"bench_submit on {where}, load average at start {load()}", flush=True)
    for label, code in checkouts:
        child = subprocess.run(
            [sys.executable, __file__, "--code", str(code), *forwarded], capture_output=True, text=True
        )
        if child.returncode:
            sys.exit(f"{label} ({code}) failed:\n{child.stderr[-4000:]}")
        out = child.stdout
        result = json.loads(out.strip().splitlines()[-1])
        table = rows(result, args)
        width = max(len(r[0]) for r in table)
        result_width = max(len(r[1]) for r in table)
        print(f"\n{label}: {code} (load average at its start {result['load_start']})")
        print(f"{'measure'.ljust(width)}  {'result'.ljust(result_width)}  goal")
        for name, value, goal in table:
            print(f"{name.ljust(width)}  {value.ljust(result_width)}  {goal}".rstrip())
        sys.stdout.flush()


if __name__ == "__main__":
    main()
