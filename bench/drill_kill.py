"""Kill drill: SIGKILL the studio's workers at random moments and count what went wrong.

    .venv/bin/python bench/drill_kill.py                    # 100 generations, 20 kills
    .venv/bin/python bench/drill_kill.py --during-create 20 # 20 kills, each during a create

The studio runs as it does in production, in its own data folder: its worker
processes (`manage.py sweep` and `manage.py qcluster`, each in its own process
group) against the demo provider, which honours Idempotency-Key and keeps the
gateway's ledger (which key made which task, which task was billed and
downloaded). The drill SIGKILLs the workers at random moments while creates,
polls or downloads are under way, restarts them, waits until every generation
has settled, and prints:

- lost: generations that did not end ready (every one should: no faults but kills);
- sent twice: generation codes that made more than one provider task;
- billed and unfetched: completed (charged) provider tasks no ready generation holds;
- stuck: generations still in flight when the drill gave up waiting;
- partial files visible: files in the video or poster folders that are not a
  ready generation's complete file;
- temporary files left: files in the download folder once all is settled.

--during-create makes each create slow at the provider (the task is made at
once, the answer comes later) and kills the workers while one is outstanding;
it also prints how long each such create took to be resolved (adopted).
`DATABASE_URL` is honoured (default: SQLite in the drill's own folder).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SETTLED_STATUSES = ("ready", "failed", "expired", "unknown")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def configure(data: Path, port: int) -> dict[str, str]:
    """The studio's environment, for this process and the workers alike (demo mode)."""
    env = {
        "DJANGO_SETTINGS_MODULE": "studio.settings",
        "STUDIO_DATA_DIR": str(data),
        "EVOLINK_API_KEY": "",
        "STUDIO_DEMO_PROVIDER_PORT": str(port),
        "STUDIO_LOG_LEVEL": os.environ.get("STUDIO_LOG_LEVEL", "WARNING"),
        "STUDIO_WORKERS": os.environ.get("STUDIO_WORKERS", "2"),
        "STUDIO_PUBLIC_URL": "",
        # The clips are tiny: a smaller cap gives a killed download's claim (its
        # deadline at the slowest rate accepted) minutes, not the default's eleven.
        "STUDIO_MAX_VIDEO_MB": os.environ.get("STUDIO_MAX_VIDEO_MB", "20"),
    }
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    return {**os.environ, **env}


class Workers:
    """The worker processes, each in its own process group so a kill takes its children too."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.procs: list[subprocess.Popen] = []
        self.started = None  # when they were last started
        self.commands = [["qcluster"], ["sweep"]]

    def start(self) -> None:
        from django.utils import timezone

        self.started = timezone.now()
        with self.log.open("a") as out:
            self.procs = [
                subprocess.Popen(
                    [PYTHON, str(ROOT / "manage.py"), *command],
                    cwd=ROOT,
                    env=self.env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
                for command in self.commands
            ]

    def kill(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        self.procs = []

    def stop(self) -> None:
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs = []


class Team:
    """The drill's team and person, who make the generations."""

    def __init__(self) -> None:
        from django.contrib.auth.models import User

        from studio.accounts.models import Membership, Role
        from studio.accounts.models import Team as TeamModel

        self.team = TeamModel.objects.create(name="Drill")
        self.user = User.objects.create_user("drill@example.org", "drill@example.org", "drill-password")
        Membership.objects.create(team=self.team, user=self.user, role=Role.OWNER)
        self.made = 0

    def generate(self, count: int) -> list[int]:
        """Generate as the composer does: the row, and its submit queued after commit."""
        from django.db import transaction

        from studio.videos import prompting, services

        ids = []
        for _ in range(count):
            self.made += 1
            with transaction.atomic():
                generation = services.create_generation(
                    team=self.team,
                    author=self.user,
                    draft=prompting.Draft(
                        prompt=f"Drill clip {self.made}: a paper boat on a rain-soaked street", duration="3"
                    ),
                )
            ids.append(generation.pk)
        return ids


def counts() -> dict[str, int]:
    from django.db.models import Count

    from studio.videos.models import Generation

    return dict(Generation.objects.values_list("status").annotate(n=Count("id")))


def wait_for(phase: str, deadline: float, since, pk: int | None = None) -> bool:
    """Until a generation (any, or `pk`) is in the middle of `phase` (create, poll or download).

    Only a claim taken `since` the workers started counts: a killed worker's claim lingers.
    """
    from django.db.models import Q
    from django.utils import timezone

    from studio.videos.models import Generation, Status

    held = Q(claimed_until__gt=timezone.now(), updated__gte=since)
    rows = {
        "create": Q(status=Status.SUBMITTING, task_id="") & held,
        "poll": Q(status__in=[Status.PENDING, Status.PROCESSING]) & held,
        "download": Q(status=Status.DOWNLOADING) & held,
    }[phase]
    if pk is not None:
        rows &= Q(pk=pk)
    while time.monotonic() < deadline:
        if Generation.objects.filter(rows).exists():
            return True
        time.sleep(0.02)
    return False


def settle(timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if set(counts()) <= set(SETTLED_STATUSES):
            return True
        time.sleep(1)
    return False


def report(server) -> dict[str, int]:
    from django.conf import settings

    from studio.videos.models import Generation, Status

    generations = list(Generation.objects.all())
    ready = [g for g in generations if g.status == Status.READY]
    ledger = server.ledger_report()
    per_code = {key: len(entry["tasks"]) for key, entry in ledger["keys"].items()}
    ready_tasks = {g.task_id for g in ready}
    billed = [t["id"] for t in ledger["tasks"] if t["billed"]]

    media = Path(settings.MEDIA_ROOT)
    complete = {media / g.video.name: g.video_bytes for g in ready} | {
        media / g.poster.name: None for g in ready
    }
    visible = [
        p
        for folder in ("videos", "posters")
        for p in media.glob(f"teams/*/{folder}/*")
        if p.is_file()
        and (p not in complete or (complete[p] is not None and p.stat().st_size != complete[p]))
    ]
    tmp = media / "tmp"
    return {
        "generations": len(generations),
        "lost": sum(1 for g in generations if g.status != Status.READY),
        "sent twice": sum(1 for n in per_code.values() if n > 1) + ledger["unkeyed_tasks"],
        "billed and unfetched": sum(1 for task_id in billed if task_id not in ready_tasks),
        "stuck": sum(1 for g in generations if g.in_flight),
        "partial files visible": len(visible),
        "temporary files left": sum(1 for p in tmp.rglob("*") if p.is_file()) if tmp.exists() else 0,
    }


def drill(args: argparse.Namespace, server, workers: Workers) -> dict[str, int]:
    rng = random.Random(args.seed)
    Team().generate(args.generations)
    workers.start()
    phases = ("create", "poll", "download")
    kills: list[str] = []
    for n in range(args.kills):
        phase = phases[n % 3]
        # Creates answer slowly (the task is made first) so that kills land inside them too.
        if phase == "create":
            server.queue_fault("slow:2", count=3, on="create")
        if not wait_for(phase, time.monotonic() + 20, workers.started):
            phase = "random"
        time.sleep(rng.uniform(0, 0.4))
        workers.kill()
        kills.append(phase)
        print(f"kill {n + 1:2d} during {phase:8s} {counts()}", flush=True)
        time.sleep(rng.uniform(0.5, 3))
        workers.start()
    settled = settle(args.settle)
    workers.stop()
    print(f"kills by moment: { {p: kills.count(p) for p in (*phases, 'random')} }; settled: {settled}")
    return report(server)


def during_create(args: argparse.Namespace, server, workers: Workers) -> dict[str, int]:
    """Each round: a generation whose create is slow at the provider, the workers killed during it.

    The task is made at once and its answer held back, so the kill loses the
    answer of a create that was billed. The rounds do not wait for each other:
    the restarted workers resolve the earlier ones meanwhile.
    """
    from studio.videos.models import Generation

    rng = random.Random(args.seed)
    team = Team()
    attempts: dict[int, object] = {}  # generation -> when its killed create was sent
    workers.start()
    for n in range(args.during_create):
        server.queue_fault("slow:3", count=1, on="create")
        (pk,) = team.generate(1)
        if not wait_for("create", time.monotonic() + 60, workers.started, pk=pk):
            print(f"round {n + 1}: the create was never seen under way", flush=True)
        time.sleep(rng.uniform(0, 1.5))
        workers.kill()
        attempts[pk] = Generation.objects.get(pk=pk).submit_attempted_at
        print(f"kill {n + 1:2d} during the create of generation {pk}", flush=True)
        time.sleep(rng.uniform(0.2, 1))
        workers.start()
    settled = settle(args.settle)
    workers.stop()
    # submitted_at is when the task id was recorded: the doubt resolved.
    rows = Generation.objects.filter(pk__in=attempts, submitted_at__isnull=False).values_list(
        "pk", "submitted_at"
    )
    resolved = sorted((at - attempts[pk]).total_seconds() for pk, at in rows if attempts[pk])
    print(f"settled: {settled}; creates killed: {len(attempts)}, resolved: {len(resolved)}")
    if resolved:
        print(
            f"killed create -> task adopted: median {resolved[len(resolved) // 2]:.1f} s, max {resolved[-1]:.1f} s"
        )
    return report(server)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--generations", type=int, default=100)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--during-create", type=int, default=0, metavar="N")
    parser.add_argument(
        "--generation-seconds", type=float, default=6.0, help="how long the provider takes (spreads the work)"
    )
    parser.add_argument("--settle", type=float, default=600, help="seconds to wait for everything to settle")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the drill's data folder")
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="drill-kill-"))
    port = free_port()
    env = configure(data, port)
    from django.core.management import call_command

    from studio.demoprovider import start_in_thread

    call_command("migrate", verbosity=0)
    server, _ = start_in_thread(port=port, generation_seconds=args.generation_seconds, render="tiny")
    # A killed worker's connection breaks while the provider answers: expected here, not worth a traceback.
    server.handle_error = lambda request, client_address: None
    workers = Workers(env, data / "workers.log")
    try:
        results = during_create(args, server, workers) if args.during_create else drill(args, server, workers)
    finally:
        workers.kill()
        server.shutdown()
        if not args.keep:
            shutil.rmtree(data, ignore_errors=True)
    width = max(len(name) for name in results)
    for name, value in results.items():
        print(f"{name:<{width}}  {value}")
    problems = {k: v for k, v in results.items() if k != "generations" and v}
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
