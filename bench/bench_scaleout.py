"""Scale-out bench: generations through nginx on the scaled-out shape, one worker machine killed.

    .venv/bin/python bench/bench_scaleout.py                    # 200: two machines, one machine, the kill
    .venv/bin/python bench/bench_scaleout.py --only kill -n 20  # one run
    .venv/bin/python bench/bench_scaleout.py --storage files    # local media behind X-Accel-Redirect

Each run brings up deploy/scaleout.py's shape (PostgreSQL, Redis, moto's S3 server, the demo
provider, migrate once, N web processes behind nginx with TLS, N worker machines of a qcluster
and a sweeper each), signs up through nginx and presses Generate N times as a browser does
(a POST of the composer's form with the session and CSRF cookies, 4 at a time). Then it waits
until every generation is ready and checks:

- stored exactly once: one video object per generation in the bucket (or folder), none for
  anything else; each written once (the S3 server's PUTs per key); each result downloaded from
  the provider once (the demo provider's ledger);
- submitted once: one provider task per generation (the ledger, per idempotency key), and the
  creates per generation (a replay, after a lost answer, is a second create of the same task);
- never polled by two at the same moment: the provider's reads of a task (one poll, or a batch
  naming it) never overlap in time; and polls spread over the machines (per machine counts);
- playback through nginx: the video answers (X-Accel-Redirect serves the file; with S3, a
  redirect to a presigned URL), and with Range.

Runs: `two` (2 web + 2 worker machines), `one` (1 + 1: the same shape on one machine) and
`kill` (2 + 2; once a third are ready, machine B is SIGKILLed, qcluster and sweeper at once,
in the middle of one of its provider reads, so rows it had claimed must be taken over by A
after the claims lapse). Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "deploy"))
sys.path.insert(0, str(ROOT))

from scaleout import Options, Read, Shape  # noqa: E402

PASSWORD = "scale out, seven horses"
SUBMITTERS = 4
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SETTLED = ("ready", "failed", "expired", "unknown")


# --- A person at the studio, through nginx ----------------------------------------------


class Person:
    def __init__(self, shape: Shape) -> None:
        self.url = shape.url
        self.client = httpx.Client(base_url=shape.url, verify=shape.tls(), timeout=30)

    def close(self) -> None:
        self.client.close()

    def _post(self, path: str, data: dict) -> httpx.Response:
        # Django checks the Referer of a secure POST, and the CSRF cookie against the form's token.
        data = {**data, "csrfmiddlewaretoken": self.client.cookies.get("csrftoken", "")}
        return self.client.post(path, data=data, headers={"Referer": self.url + path})

    def sign_up(self, email: str) -> None:
        self.client.get("/signup/").raise_for_status()
        answer = self._post("/signup/", {"name": "Scale Out", "email": email, "password": PASSWORD})
        if answer.status_code != 302:
            raise RuntimeError(f"sign-up answered {answer.status_code}: {answer.text[:500]}")
        self.client.get("/").raise_for_status()

    def try_generate(self, n: int) -> str:
        """generate(), or "" (and a line printed) when the answer is not the redirect."""
        try:
            return self.generate(n)
        except (RuntimeError, httpx.HTTPError) as exc:
            print(f"Generate {n}: {exc}", flush=True)
            return ""

    def generate(self, n: int) -> str:
        """Press Generate as the composer's form does; returns the generation's code."""
        answer = self._post(
            "/compose/",
            {
                "prompt": f"Scale-out clip {n}: a paper boat on a rain-soaked street",
                "duration": "3",
                "aspect_ratio": "16:9",
            },
        )
        match = UUID.search(answer.headers.get("location", ""))
        if answer.status_code != 302 or not match:
            raise RuntimeError(f"Generate answered {answer.status_code}: {answer.text[:500]}")
        return match.group(0)


# --- What the database says --------------------------------------------------------------


def rows(shape: Shape) -> list[tuple[str, str, str, str]]:
    """(code, status, video name, task id) of every generation."""
    import psycopg

    with psycopg.connect(shape.database_url) as conn:
        return [
            (str(code), status, video, task_id)
            for code, status, video, task_id in conn.execute(
                "SELECT code, status, video, task_id FROM videos_generation"
            )
        ]


def statuses(shape: Shape) -> Counter[str]:
    return Counter(status for _, status, _, _ in rows(shape))


def wait_until_settled(shape: Shape, count: int, *, timeout: float, on_progress=None) -> float | None:
    """Seconds until all `count` generations are settled (None: not within timeout)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        now = statuses(shape)
        if on_progress:
            on_progress(now)
        if sum(now[s] for s in SETTLED) >= count:
            return time.monotonic() - started
        time.sleep(0.25)
    return None


# --- The checks --------------------------------------------------------------------------


def stored_objects(shape: Shape) -> Counter[str]:
    """Video objects per generation code, in the bucket (or the media folder)."""
    if shape.options.storage == "s3":
        names = []
        for page in shape.s3.get_paginator("list_objects_v2").paginate(Bucket=shape.bucket):
            names += [item["Key"] for item in page.get("Contents", [])]
    else:
        names = [str(p) for p in shape.media_root.glob("teams/*/videos/*") if p.is_file()]
    return Counter(Path(name).name[:36] for name in names if "/videos/" in name)


def s3_writes(shape: Shape) -> Counter[str]:
    """Completed writes per video object, from the S3 server's request log (PUT, or a multipart's end)."""
    if shape.options.storage != "s3":
        return Counter()
    writes: Counter[str] = Counter()
    pattern = re.compile(r'"(PUT|POST) (/[^ ?]+)(\?[^ ]*)? HTTP/[\d.]+" 200')
    for match in pattern.finditer(shape.log("s3").read_text(errors="replace")):
        method, path, query = match.group(1), match.group(2), match.group(3) or ""
        single = method == "PUT" and "partNumber" not in query and "uploadId" not in query
        if "/videos/" in path and (single or (method == "POST" and "uploadId" in query)):
            writes[Path(path).name[:36]] += 1
    return writes


def overlapping_reads(reads: list[Read]) -> tuple[int, int]:
    """(pairs of reads of one task that overlapped in time, of those by two different machines)."""
    by_task: dict[str, list[Read]] = defaultdict(list)
    for read in reads:
        if read.kind in ("poll", "batch"):
            for task_id in read.task_ids:
                by_task[task_id].append(read)
    overlaps = across = 0
    for task_reads in by_task.values():
        task_reads.sort(key=lambda r: r.started)
        for i, first in enumerate(task_reads):
            for second in task_reads[i + 1 :]:
                if second.started >= first.ended:
                    break
                overlaps += 1
                across += first.machine != second.machine
    return overlaps, across


@dataclass
class Result:
    name: str
    generations: int
    machines: int
    submit_seconds: float = 0.0
    ready_seconds: float | None = None
    after_kill_seconds: float | None = None
    killed: str = ""
    figures: dict[str, object] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def check(shape: Shape, codes: list[str], result: Result, *, killed_at: float | None) -> None:
    table = {code: (status, video, task_id) for code, status, video, task_id in rows(shape)}
    problems = result.problems
    not_ready = [code for code in codes if table.get(code, ("missing",))[0] != "ready"]
    if not_ready:
        problems.append(
            f"{len(not_ready)} not ready: {Counter(table.get(c, ('missing',))[0] for c in not_ready)}"
        )
    if set(table) != set(codes):
        problems.append(f"{len(set(table) ^ set(codes))} generations the bench did not make, or lost")

    objects = stored_objects(shape)
    extra = sorted(set(objects) - set(codes))
    duplicated = {code: n for code, n in objects.items() if n > 1}
    missing = [code for code in codes if not objects.get(code)]
    writes = s3_writes(shape)
    written_twice = {code: n for code, n in writes.items() if n > 1}
    for what, found in (
        ("video objects for no generation", extra),
        ("generations with more than one video object", duplicated),
        ("ready generations without their object", missing if not not_ready else []),
        ("video objects written more than once", written_twice),
    ):
        if found:
            problems.append(f"{what}: {len(found)}")

    ledger = shape.provider.ledger_report()
    tasks_per_key = {key: len(entry["tasks"]) for key, entry in ledger["keys"].items()}
    creates_per_key = [ledger["keys"].get(code, {}).get("creates", 0) for code in codes]
    downloads = Counter(task["downloads"] for task in ledger["tasks"])
    submitted_twice = sum(1 for n in tasks_per_key.values() if n > 1) + ledger["unkeyed_tasks"]
    if submitted_twice:
        problems.append(f"submitted twice (more than one provider task): {submitted_twice}")
    if set(tasks_per_key) != set(codes):
        problems.append("provider tasks for unknown keys, or generations never submitted")
    # A result is fetched once, unless the machine that fetched it died before storing it.
    fetched: Counter[str] = Counter(
        r.task_ids[0] for r in shape.reads if r.kind == "download" and r.machine != result.killed
    )
    if not_fetched := [t["id"] for t in ledger["tasks"] if not t["downloads"]]:
        problems.append(f"provider results never fetched: {len(not_fetched)}")
    if twice := {task_id: n for task_id, n in fetched.items() if n > 1}:
        problems.append(f"provider results fetched twice by live machines: {len(twice)}")

    overlaps, across = overlapping_reads(shape.reads)
    if overlaps:
        problems.append(f"reads of one task at the same moment: {overlaps} ({across} by two machines)")
    per_machine: Counter[str] = Counter()
    creates_by: Counter[str] = Counter()
    for read in shape.reads:
        if read.kind == "create":
            creates_by[read.machine] += 1
        elif read.kind in ("poll", "batch"):
            per_machine[read.machine] += len(read.task_ids)
    requests_by = Counter(read.machine for read in shape.reads if read.kind in ("poll", "batch"))
    if result.machines > 1 and len(per_machine) < result.machines:
        problems.append(f"polls did not spread over the machines: {dict(per_machine)}")
    if killed_at is not None:
        victim = next(m for m in shape.machines if m.name == result.killed)
        if alive := [part.name for part in victim.parts if part.group_alive()]:
            problems.append(f"processes of the killed machine still run: {alive}")
        # Requests it had sent before it died can still be read and answered after (the
        # provider reads them from the socket later): a figure, not a fault.
        late = Counter(r.kind for r in shape.reads if r.machine == result.killed and r.started > killed_at)
        result.figures["requests of the killed machine handled after its death"] = dict(late) or 0

    result.figures.update(
        {
            "provider tasks per generation": f"max {max(tasks_per_key.values(), default=0)}",
            "creates per generation": f"mean {sum(creates_per_key) / max(1, len(codes)):.2f}, "
            f"max {max(creates_per_key, default=0)}",
            "submitted twice": submitted_twice,
            "video objects per generation": f"max {max(objects.values(), default=0)}",
            "writes per video object": f"max {max(writes.values(), default=0)}" if writes else "n/a (files)",
            "reads of one task at the same moment": overlaps,
            "task reads by machine": dict(sorted(per_machine.items())),
            "read requests by machine": dict(sorted(requests_by.items())),
            "creates by machine": dict(sorted(creates_by.items())),
            "results fetched per task": dict(sorted(downloads.items())),
        }
    )


def check_playback(shape: Shape, person: Person, code: str, result: Result) -> None:
    """One video through nginx: whole and a range, served as this storage serves it."""
    path = f"/videos/{code}/video.mp4"
    whole = person.client.get(path)
    ranged = person.client.get(path, headers={"Range": "bytes=0-99"})
    if shape.options.storage == "s3":
        public = shape.env["STUDIO_S3_PUBLIC_ENDPOINT_URL"]
        ok = whole.status_code == 302 and whole.headers["location"].startswith(public + "/")
        if ok:
            # The bucket's public endpoint is nginx again (TLS), the S3 server behind it.
            signed = httpx.get(whole.headers["location"], headers={"Range": "bytes=0-99"}, verify=shape.tls())
            ok = signed.status_code == 206 and len(signed.content) == 100
        how = "302 to a presigned URL on the bucket's https endpoint (nginx), which answers Range with 206"
    else:
        size = next(shape.media_root.glob(f"teams/*/videos/{code}.mp4")).stat().st_size
        ok = (
            whole.status_code == 200
            and len(whole.content) == size
            and "x-accel-redirect" not in whole.headers
            and ranged.status_code == 206
            and len(ranged.content) == 100
        )
        how = "200 and 206 from nginx through X-Accel-Redirect"
    result.figures["playback through nginx"] = (
        how if ok else f"FAILED ({whole.status_code}, {ranged.status_code})"
    )
    if not ok:
        result.problems.append(f"playback through nginx: {whole.status_code} {whole.headers}")


# --- A run -------------------------------------------------------------------------------


def run(name: str, args: argparse.Namespace) -> Result:
    machines = 1 if name == "one" else 2
    result = Result(name, args.generations, machines)
    options = Options(
        machines=machines,
        web_workers=args.web_workers,
        storage=args.storage,
        generation_seconds=args.generation_seconds,
        keep=args.keep,
        environment=getattr(args, "environment", None) or {},
    )
    started = time.monotonic()
    result.figures["load average (1 min) at the start"] = f"{os.getloadavg()[0]:.1f}"
    with Shape(options) as shape:
        print(f"[{name}] up in {time.monotonic() - started:.1f} s: {shape.url} ({shape.dir})", flush=True)
        person = Person(shape)
        try:
            person.sign_up(f"scaleout-{name}@example.org")
            began = time.monotonic()
            with ThreadPoolExecutor(SUBMITTERS) as pool:
                sent = list(pool.map(person.try_generate, range(1, args.generations + 1)))
            codes = [code for code in sent if code]
            if failed := [answer for answer in sent if not answer]:
                result.problems.append(f"Generate did not answer 302 {len(failed)} times")
            result.submit_seconds = time.monotonic() - began
            print(f"[{name}] {len(codes)} generations sent in {result.submit_seconds:.1f} s", flush=True)

            killed_at = None
            if name == "kill":
                killed_at = kill_midway(shape, person, codes, result, mode=args.kill_mode)
            result.generations = len(codes)
            remaining = args.timeout - (time.monotonic() - began)
            waited = wait_until_settled(shape, len(codes), timeout=max(1.0, remaining))
            if waited is not None:
                result.ready_seconds = time.monotonic() - began
                if killed_at is not None:
                    result.after_kill_seconds = time.monotonic() - killed_at
            print(f"[{name}] settled: {dict(statuses(shape))}", flush=True)
            check(shape, codes, result, killed_at=killed_at)
            if codes and statuses(shape)["ready"]:
                check_playback(shape, person, codes[0], result)
            health = person.client.get("/healthz")
            result.figures["/healthz through nginx"] = f"{health.status_code} {health.json().get('status')}"
            if health.status_code != 200:
                result.problems.append(f"/healthz through nginx: {health.status_code} {health.text[:300]}")
        finally:
            person.close()
    return result


def kill_midway(shape: Shape, person: Person, codes: list[str], result: Result, *, mode: str) -> float:
    """SIGKILL machine B (qcluster and sweeper at once) in the middle of its work.

    mode "poll": once a third of the generations reached the provider, at B's next
    provider read, whose answer B's door holds until B is dead: the kill lands
    mid-poll for certain, and the rows B's pass claimed wait for their claims to
    lapse (90 s) before A takes them (and rows it was storing, the download claim's
    170 s). mode "create": once all are ready, more generations are made and B is killed while the provider holds the answer of
    one of its creates (the task exists, B never hears of it): A must send that
    create again with the same key and adopt the task, not make a second one.
    """
    victim = shape.machines[-1]
    caught, release = threading.Event(), threading.Event()
    wanted = ("poll", "batch") if mode == "poll" else ("create",)

    def hold(read_kind: str) -> None:
        if read_kind in wanted and not caught.is_set():
            caught.set()
            release.wait(30)

    if mode == "poll":
        third = max(1, len(codes) // 3)
        wait_until(
            shape,
            lambda now: sum(now[s] for s in ("pending", "processing", "downloading", *SETTLED)) >= third,
        )
        victim.door.hold = hold
    else:
        # B has polled, and is idle: what the kill leaves behind is the one create.
        wait_until(shape, lambda now: now["ready"] >= len(codes))
        victim.door.hold = hold
        extra = len(codes) + 1
        while not caught.is_set() and extra <= len(codes) + 20:
            codes.append(person.generate(extra))
            extra += 1
            caught.wait(0.5)
    during = f"one of its provider {mode}s" if caught.wait(60) else f"no {mode} (none came within 60 s)"
    victim.kill()
    killed_at = time.monotonic()
    victim.door.hold = None
    release.set()
    now = statuses(shape)
    result.killed = victim.name
    result.figures["killed"] = (
        f"machine {victim.name} (qcluster + sweep, SIGKILL) during {during}, at {dict(now)}"
    )
    if now["ready"] >= len(codes):
        result.problems.append("the kill came after every generation was ready")
    if not caught.is_set():
        result.problems.append(f"the kill did not land during a {mode}")
    print(f"[{result.name}] killed machine {victim.name} during {during}", flush=True)
    return killed_at


def wait_until(shape: Shape, condition, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not condition(statuses(shape)):
        time.sleep(0.2)


def print_results(results: list[Result]) -> None:
    print()
    for result in results:
        ready = f"{result.ready_seconds:.1f} s" if result.ready_seconds is not None else "NOT SETTLED"
        print(
            f"== {result.name}: {result.generations} generations, {result.machines} web + "
            f"{result.machines} worker machines: sent in {result.submit_seconds:.1f} s, all ready after {ready}"
        )
        if result.after_kill_seconds is not None:
            print(f"   the survivor finished everything {result.after_kill_seconds:.1f} s after the kill")
        for key, value in result.figures.items():
            print(f"   {key}: {value}")
        print(f"   problems: {'; '.join(result.problems) or 'none'}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--generations", type=int, default=200)
    parser.add_argument("--only", choices=("two", "one", "kill"), action="append")
    parser.add_argument("--storage", choices=("s3", "files"), default="s3")
    parser.add_argument("--web-workers", type=int, default=1, help="gunicorn workers per web process")
    parser.add_argument("--generation-seconds", type=float, default=6.0, help="how long the provider takes")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for all to settle")
    parser.add_argument(
        "--kill-mode",
        choices=("poll", "create"),
        default="poll",
        help="kill machine B mid-poll or mid-create",
    )
    parser.add_argument("--keep", action="store_true", help="keep each run's folder (logs)")
    args = parser.parse_args()
    results = []
    for name in args.only or ("two", "one", "kill"):
        results.append(run(name, args))
        print_results(results[-1:])
    print_results(results)
    return 1 if any(r.problems or r.ready_seconds is None for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
