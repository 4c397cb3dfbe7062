"""Memory while storing to an S3 bucket, and while moving files to it and back.

Runs by itself: `.venv/bin/python bench/bench_s3.py [--megabytes 200]`. It starts
moto's S3 server (moto[server], tests/requirements.txt) in its own process on a
free loopback port, creates a bucket, points the studio at it (STUDIO_S3_*) and
builds a throwaway SQLite database in a temporary data folder.

(b-s3) The pipeline bench's store measurement (bench_pipeline.bench_memory: a
       child process fetches, probes, makes a poster for and places a 200 MB
       result, peak VmHWM above its resting VmRSS) with the bucket as storage:
       the upload is multipart from the downloaded file.
(m)    Peak RSS of `manage.py movefiles` moving that 200 MB object to the local
       folder and back to the bucket (each verified by size and SHA-256), above
       the peak of the same command moving only a 1 KB file (most of a run's
       peak is Python, Django and botocore's S3 model, whatever the file size).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

BUCKET = "bench-media"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_moto() -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.put(f"{endpoint}/{BUCKET}", timeout=2).raise_for_status()
            return process, endpoint
        except httpx.HTTPError:
            if process.poll() is not None:
                raise RuntimeError("moto's server stopped at start") from None
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("moto's server did not answer within 60 s")


def movefiles_peak_kb(data_dir: Path, to: str) -> tuple[int, float, str]:
    """Runs `manage.py movefiles --to TO` in a child; its peak RSS (kB), seconds and last line."""
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the forked parent.
            "import sys, django; from django.core.management import call_command;"
            "django.setup(); call_command('movefiles', '--to', sys.argv[1]);"
            "print('peak_kb', next(int(l.split()[1]) for l in open('/proc/self/status')"
            " if l.startswith('VmHWM:')))",
            to,
        ],
        cwd=ROOT,
        env={**os.environ, "STUDIO_DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode:
        raise RuntimeError(f"movefiles --to {to} failed:\n{result.stdout}\n{result.stderr}")
    lines = result.stdout.strip().splitlines()
    return int(lines[-1].split()[1]), time.monotonic() - started, lines[-2]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--megabytes", type=int, default=200)
    args = parser.parse_args()

    moto, endpoint = start_moto()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-s3-"))
    try:
        os.environ.update(
            {
                "STUDIO_S3_BUCKET": BUCKET,
                "STUDIO_S3_ENDPOINT_URL": endpoint,
                "STUDIO_S3_REGION": "us-east-1",
                "STUDIO_S3_ACCESS_KEY": "bench",
                "STUDIO_S3_SECRET_KEY": "bench",
                "STUDIO_S3_PREFIX": "media",
            }
        )
        import bench_pipeline

        bench_pipeline.setup_django(data_dir)
        from django.conf import settings
        from django.core.files.base import ContentFile
        from django.core.files.storage import default_storage

        from studio.demoprovider import start_in_thread
        from studio.videos.models import Generation
        from studio.videos.objectstorage import MediaS3Storage

        assert isinstance(
            default_storage._wrapped if default_storage._setup() is None else None, MediaS3Storage
        )
        server, base_url = start_in_thread(generation_seconds=1)
        settings.STUDIO_DEMO_PROVIDER_PORT = server.server_address[1]
        try:
            memory = bench_pipeline.bench_memory(server, base_url, data_dir, megabytes=args.megabytes)
        finally:
            server.shutdown()
        bucket = MediaS3Storage(**settings.STUDIO_S3)
        size = bucket.size("big/v.mp4")

        team, user = bench_pipeline.make_owner()
        # A 1 KB file alone first: the command's own peak, without a big file.
        bucket.save("small/v.mp4", ContentFile(b"x" * 1024))
        small = Generation.objects.create(
            team=team, author=user, prompt="s", compiled_prompt="s", video="small/v.mp4"
        )
        base_kb, _, _ = movefiles_peak_kb(data_dir, "local")
        Generation.objects.filter(pk=small.pk).delete()
        Generation.objects.create(team=team, author=user, prompt="b", compiled_prompt="b", video="big/v.mp4")
        down_kb, down_s, down_line = movefiles_peak_kb(data_dir, "local")
        bucket.delete("big/v.mp4")  # so the way back really copies
        up_kb, up_s, up_line = movefiles_peak_kb(data_dir, "s3")
        assert bucket.size("big/v.mp4") == size

        rows = [
            (
                f"(b-s3) storing a {memory['bytes'] / 1024 / 1024:.0f} MB result to the bucket: peak RSS above resting",
                f"{memory['delta_mb']:.1f} MB (resting {memory['resting_kb'] / 1024:.0f} MB, {memory['seconds']:.1f} s)",
                "< 30 MB",
            ),
            (
                f"(m) movefiles --to local, {size / 1024 / 1024:.0f} MB object: peak RSS above a 1 KB run",
                f"{(down_kb - base_kb) / 1024:+.1f} MB (peak {down_kb / 1024:.0f} MB, 1 KB run {base_kb / 1024:.0f} MB, "
                f"{down_s:.1f} s)",
                "< 30 MB",
            ),
            (
                f"(m) movefiles --to s3, {size / 1024 / 1024:.0f} MB file: peak RSS above a 1 KB run",
                f"{(up_kb - base_kb) / 1024:+.1f} MB (peak {up_kb / 1024:.0f} MB, {up_s:.1f} s)",
                "< 30 MB",
            ),
        ]
        width = max(len(r[0]) for r in rows)
        result_width = max(len(r[1]) for r in rows)
        print(f"{'measure'.ljust(width)}  {'result'.ljust(result_width)}  goal")
        for name, result, goal in rows:
            print(f"{name.ljust(width)}  {result.ljust(result_width)}  {goal}")
        print(f"movefiles said: {down_line!r} then {up_line!r}")
        if not memory["hwm_reset"]:
            print("note: VmHWM could not be reset after warm-up; (b-s3) may include import peaks")
    finally:
        moto.terminate()
        moto.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
