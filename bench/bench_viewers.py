"""Everyone else's gallery while 50 people watch video over slow links, embedded and behind nginx.

Runs by itself: `.venv/bin/python bench/bench_viewers.py [--viewers 50] [--kbps 200]
[--requests 200] [--setups embedded,nginx] [--code DIR]`.

1. A throwaway SQLite studio (bench_gallery's settings, team and rows: 2,000 generations),
   one of them with a real H.264 MP4 (encoded here with PyAV, a few MB of moving noise).
2. For each set-up: `embedded` is gunicorn exactly as `runstudio` starts it (bench_gallery's
   start_gunicorn); `nginx` is the same gunicorn behind nginx with the deployed
   configuration (deploy/nginx/studio.conf.template, TLS, X-Accel-Redirect for local media,
   as deploy/scaleout.py renders it).
3. Quiet: N sequential gallery requests by one person (alice), half before the viewers and
   half after them: median and p95.
4. Loaded: the same while V viewers (bob, in another process) each play the MP4 as a browser
   does: `Range: bytes=N-` on a kept-alive connection, read at K KB/s on the client side
   (a small receive buffer, so the server feels the slow link), from the start again at the
   end. The viewers' achieved rate is printed, so a viewer that was not served shows.
5. The ratio of loaded to quiet p95 in the same run (goal: within 2x), and the load average.

--code DIR measures another checkout of the studio (e.g. `/work/wt-before`, a worktree of an
older commit): its settings, its gunicorn.conf.py, its nginx template.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_gallery  # reads --code: ROOT is the checkout measured
from bench_gallery import free_port, load_average, populate, setup_django, start_gunicorn

ROOT = bench_gallery.ROOT
sys.path.insert(0, str(ROOT / "deploy"))
import scaleout  # noqa: E402  (the nginx configuration as the deployed shape renders it)

GOAL = 2.0
X_ACCEL_PREFIX = "/protected-media/"


def encode_mp4(width: int = 640, height: int = 360, seconds: int = 8, fps: int = 24) -> bytes:
    """A real H.264 MP4 (index first, as the studio stores them) of moving noise: a few MB."""
    import av
    from PIL import Image

    # faststart rewrites the file in a second pass, which needs a real file.
    folder = tempfile.mkdtemp()
    out = Path(folder) / "watched.mp4"
    with av.open(str(out), mode="w", format="mp4", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "23"}
        tile = Image.frombytes("RGB", (width // 8, height // 8), os.urandom(width * height * 3 // 64))
        for index in range(seconds * fps):
            frame = tile.rotate(index * 7).resize((width, height))
            container.mux(stream.encode(av.VideoFrame.from_image(frame)))
        container.mux(stream.encode())
    data = out.read_bytes()
    shutil.rmtree(folder)
    return data


# --- the viewers (another process, one asyncio loop) ---------------------------------------


async def _viewer(host, port, tls, path, cookie, rate, counter, started, stop, drops) -> None:
    """One person playing the video at `rate` bytes/s; a dropped connection is reopened where it was.

    A kept-alive connection the server closed between two answers (its keep-alive timer runs
    from the end of its writing, while a slow link may still be reading the tail) is reopened
    at once, as a browser does, and not counted; one that ends inside an answer is a drop.
    """
    state = {"position": 0, "first": True, "between": False}
    while not stop.value:
        try:
            await _play(host, port, tls, path, cookie, rate, counter, started, stop, state)
        except (OSError, asyncio.IncompleteReadError, ConnectionError) as exc:
            if state["between"]:
                continue
            with drops.get_lock():
                if not drops.value:
                    print(f"first dropped connection: {exc!r} at byte {state['position']:,}", flush=True)
                drops.value += 1
            await asyncio.sleep(0.5)


async def _play(host, port, tls, path, cookie, rate, counter, started, stop, state) -> None:
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    # A small window: the server meets the slow link, not loopback's megabytes of buffer.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    sock.setblocking(False)
    await loop.sock_connect(sock, (host, port))
    reader, writer = await asyncio.open_connection(
        sock=sock, ssl=tls, server_hostname="localhost" if tls else None, limit=64 * 1024
    )
    tick = 0.25
    state["between"] = False
    try:
        while not stop.value:
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: localhost\r\nCookie: {cookie}\r\n"
                f"Range: bytes={state['position']}-\r\n\r\n".encode()
            )
            head = await reader.readuntil(b"\r\n\r\n")
            state["between"] = False
            if head.split(b" ", 2)[1] != b"206":
                raise SystemExit(f"a viewer got {head[:200]!r}")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            if state["first"]:
                with started.get_lock():
                    started.value += 1
                state["first"] = False
            left = length
            while left and not stop.value:
                began = time.monotonic()
                want = min(left, int(rate * tick))
                while want:
                    chunk = await reader.read(want)
                    if not chunk:
                        raise ConnectionError("the server closed a viewer's connection")
                    want -= len(chunk)
                    left -= len(chunk)
                    state["position"] += len(chunk)
                    with counter.get_lock():
                        counter.value += len(chunk)
                await asyncio.sleep(max(0.0, tick - (time.monotonic() - began)))
            if not left:
                state["position"] = 0  # played to the end: from the start again
                state["between"] = True  # the next request may find the connection closed
    finally:
        writer.close()


def run_viewers(
    base: str, path: str, cookie: str, viewers: int, rate: int, counter, started, stop, drops
) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(base)
    tls = None
    if parts.scheme == "https":
        tls = ssl.create_default_context()
        tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE  # the run's own self-signed nginx

    async def main() -> None:
        tasks = [
            _viewer(parts.hostname, parts.port, tls, path, cookie, rate, counter, started, stop, drops)
            for _ in range(viewers)
        ]
        await asyncio.gather(*tasks)

    asyncio.run(main())


# --- the set-ups ---------------------------------------------------------------------------


def wait_until_served(base: str, cookie: dict, seconds: float = 90) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=base, headers=cookie, timeout=5, verify=False) as http:  # noqa: S501
        while time.monotonic() < deadline:
            try:
                if http.get("/").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
    raise SystemExit(f"{base} did not answer")


def start_nginx(work: Path, upstream_port: int, media_root: Path) -> tuple[subprocess.Popen, int]:
    nginx = scaleout.ensure_nginx()
    nginx_dir = work / "nginx"
    nginx_dir.mkdir(parents=True)
    certs = work / "certs"
    subprocess.run(["sh", str(ROOT / "deploy" / "make-cert.sh"), str(certs)], check=True, capture_output=True)
    https_port = free_port()
    values = {
        "STUDIO_UPSTREAMS": f"server 127.0.0.1:{upstream_port};",
        "NGINX_HTTP_PORT": f"127.0.0.1:{free_port()}",
        "NGINX_HTTPS_PORT": f"127.0.0.1:{https_port}",
        "NGINX_CERT_DIR": str(certs),
        "STUDIO_X_ACCEL_REDIRECT_PREFIX": X_ACCEL_PREFIX,
        "STUDIO_MEDIA_ROOT": str(media_root),
        "NGINX_ACCESS_LOG": str(work / "nginx-access.log"),
        "NGINX_S3_PORT": f"127.0.0.1:{free_port()}",
        "STUDIO_S3_UPSTREAM": "server 127.0.0.1:9 down;",
    }
    conf = scaleout.render_template(ROOT / "deploy" / "nginx" / "studio.conf.template", values)
    (nginx_dir / "studio.conf").write_text(
        conf.replace(f"$host:127.0.0.1:{https_port}", f"$host:{https_port}")
    )
    # The main file exactly as deploy/scaleout.py writes it (it uses nothing of the shape).
    (nginx_dir / "nginx.conf").write_text(scaleout.Shape._nginx_main_conf(None, nginx_dir))
    proc = subprocess.Popen(
        [
            nginx,
            "-p",
            str(nginx_dir),
            "-c",
            str(nginx_dir / "nginx.conf"),
            "-e",
            str(work / "nginx-error.log"),
            "-g",
            "daemon off;",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, https_port


def gallery_times(
    base: str, cookie: dict, n: int, budget: float = 120, warm: int = 20
) -> tuple[list[float], int]:
    """Times of up to n gallery requests within `budget` seconds, and how many answered.

    A request still waiting when the budget runs out counts with the time it waited
    (a lower bound): a server that makes pages wait minutes is measured in minutes, not hours.
    """
    import httpx

    times = []
    answered = 0
    deadline = time.monotonic() + budget
    with httpx.Client(base_url=base, headers=cookie, timeout=120, verify=False) as http:  # noqa: S501
        for _ in range(warm):  # both worker processes' connections and caches warm (within the budget)
            began = time.perf_counter()
            try:
                http.get("/", timeout=max(deadline - time.monotonic(), 0.001))
            except httpx.TimeoutException:
                return [(time.perf_counter() - began) * 1000], 0
        for _ in range(n):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            began = time.perf_counter()
            try:
                response = http.get("/", timeout=left)
            except httpx.TimeoutException:
                times.append((time.perf_counter() - began) * 1000)
                break
            times.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200, response.status_code
            answered += 1
    return times, answered


def p95(values: list[float]) -> float:
    # Inclusive: never beyond the slowest request measured (a handful of them, before).
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]


def measure_setup(name, base, alice, bob_cookie, video_path, args) -> dict:
    wait_until_served(base, alice)
    # Quiet before and after the viewers (half each): a machine shared with others drifts.
    quiet, _ = gallery_times(base, alice, args.requests // 2)
    counter = multiprocessing.Value("q", 0)
    started = multiprocessing.Value("i", 0)
    stop = multiprocessing.Value("b", 0)
    drops = multiprocessing.Value("i", 0)
    viewers = multiprocessing.get_context("fork").Process(
        target=run_viewers,
        args=(base, video_path, bob_cookie, args.viewers, args.kbps * 1024, counter, started, stop, drops),
    )
    began = time.monotonic()
    viewers.start()
    # Every viewer playing; a server that holds a thread per viewer never gets there: go on after 20 s.
    while started.value < args.viewers and time.monotonic() - began < 20:
        if not viewers.is_alive():
            raise SystemExit(f"{name}: the viewers failed")
        time.sleep(0.05)
    playing = started.value
    time.sleep(2)  # every viewer's first window is full: now they read at the slow link's pace
    bytes_before, t_before = counter.value, time.monotonic()
    loaded, answered = gallery_times(base, alice, args.requests, budget=args.budget, warm=0)
    rate = (counter.value - bytes_before) / (time.monotonic() - t_before) / args.viewers / 1024
    load = load_average()
    stop.value = 1
    viewers.join(timeout=30)
    if viewers.is_alive():
        viewers.terminate()
    quiet += gallery_times(base, alice, args.requests - args.requests // 2)[0]
    result = {
        "quiet_median": statistics.median(quiet),
        "quiet_p95": p95(quiet),
        "loaded_median": statistics.median(loaded),
        "loaded_p95": p95(loaded),
        "viewer_kbps": rate,
        "playing": playing,
        "answered": answered,
        "drops": drops.value,
        "load": load,
    }
    result["ratio"] = result["loaded_p95"] / result["quiet_p95"]
    print(
        f"{name:<9} quiet p50 {result['quiet_median']:7.1f} ms  p95 {result['quiet_p95']:7.1f} ms | "
        f"{args.viewers} viewers p50 {result['loaded_median']:7.1f} ms  p95 {result['loaded_p95']:7.1f} ms "
        f"({answered} of {args.requests} answered within {args.budget:g} s) | "
        f"p95 ratio {result['ratio']:5.2f}x (goal <= {GOAL:g}x: {'yes' if result['ratio'] <= GOAL else 'NO'}) | "
        f"{playing} of {args.viewers} viewers playing within 20 s, {rate:5.1f} KB/s each, "
        f"{drops.value} dropped connections | load {load}",
        flush=True,
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--kbps", type=int, default=200, help="each viewer's link, KB/s (default 200)")
    parser.add_argument("--requests", type=int, default=200, help="gallery requests per phase (default 200)")
    parser.add_argument("--size", type=int, default=2000, help="generations in the team (default 2,000)")
    parser.add_argument("--budget", type=float, default=120, help="longest the loaded phase takes, seconds")
    parser.add_argument("--setups", default="embedded,nginx")
    parser.add_argument("--code", help="the studio checkout to measure (default: this one)")
    args = parser.parse_args()
    setups = [s for s in args.setups.split(",") if s]

    print(f"load average at the start: {load_average()} (1, 5, 15 min); code: {ROOT}", flush=True)
    data_dir = Path(tempfile.mkdtemp(prefix="studio-bench-viewers-"))
    procs: list[subprocess.Popen] = []
    try:
        setup_django(data_dir)
        from django.contrib.auth.models import User
        from django.core.files.base import ContentFile
        from django.test import Client
        from django.urls import reverse
        from django.utils import timezone

        from studio.accounts.models import Membership, Role, Team
        from studio.videos.models import Generation, Status

        team = Team.objects.create(name="Bench team")
        people = []
        for name in ("alice", "bob", "carol"):
            user = User.objects.create_user(
                f"{name}@example.org", f"{name}@example.org", None, first_name=name
            )
            Membership.objects.create(
                team=team, user=user, role=Role.OWNER if name == "alice" else Role.CREATOR
            )
            people.append(user)
        populate(team, people, start=0, upto=args.size, newest=timezone.now())
        mp4 = encode_mp4()
        watched = Generation.objects.filter(team=team, status=Status.READY).first()
        watched.video.save("watched.mp4", ContentFile(mp4), save=True)
        print(f"{args.size:,} generations; the watched MP4: {len(mp4) / 1e6:.1f} MB", flush=True)

        def cookie_of(user) -> str:
            client = Client()
            client.force_login(user)
            client.get(reverse("home"))  # the first visit stores the team in the session
            return "; ".join(f"{k}={client.cookies[k].value}" for k in ("sessionid", "csrftoken"))

        alice = {"Cookie": cookie_of(people[0])}
        bob = cookie_of(people[1])
        video_path = reverse("generation_video", args=[watched.code])
        from django.conf import settings

        results = {}
        for setup in setups:
            port = free_port()
            if setup == "embedded":
                server = start_gunicorn(port)
                procs.append(server)
                base = f"http://127.0.0.1:{port}"
            elif setup == "nginx":
                os.environ["STUDIO_X_ACCEL_REDIRECT_PREFIX"] = X_ACCEL_PREFIX
                try:
                    server = start_gunicorn(port)
                finally:
                    del os.environ["STUDIO_X_ACCEL_REDIRECT_PREFIX"]
                procs.append(server)
                nginx, https_port = start_nginx(data_dir / "run-nginx", port, Path(settings.MEDIA_ROOT))
                procs.append(nginx)
                base = f"https://127.0.0.1:{https_port}"
            else:
                raise SystemExit(f"unknown set-up {setup!r}")
            try:
                results[setup] = measure_setup(setup, base, alice, bob, video_path, args)
            finally:
                for proc in procs:
                    proc.terminate()
                    proc.wait(timeout=30)
                procs.clear()
        print(f"load average at the end: {load_average()} (1, 5, 15 min)")
        ok = all(
            r["ratio"] <= GOAL and r["playing"] == args.viewers and r["answered"] == args.requests
            for r in results.values()
        )
        return 0 if ok else 1
    finally:
        for proc in procs:
            proc.kill()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
