"""The scaled-out shape on one machine without Docker: docker-compose.yml's processes, started by hand.

    .venv/bin/python deploy/scaleout.py                  # up until Ctrl-C; prints the address
    .venv/bin/python deploy/scaleout.py --machines 1     # one web process and one worker machine
    .venv/bin/python deploy/scaleout.py --storage files  # videos in a shared local folder

What runs, each part a child process in its own process group, logging to <run>/logs/:

- PostgreSQL: the local server (DATABASE_URL's server, by default postgres@127.0.0.1:5432),
  in a database of this run's own, created here and dropped at the end;
- Redis: the local server (redis://127.0.0.1:6379/13 by default), with this run's own queue
  name and cache prefix, whose keys are removed at the end;
- S3: moto's standalone server on a free loopback port, with this run's bucket (`--storage s3`,
  the default); `--storage files` keeps videos in the run's data folder instead, which every
  process shares and nginx serves with X-Accel-Redirect;
- the demo provider, in this process, with one door (port) per worker machine, so that its
  request log knows which machine asked (`Shape.reads`);
- `manage.py migrate` once, as its own step, then `collectstatic` once;
- web: one gunicorn per machine (`--machines`, default 2), each on its own port;
- worker machines: one `manage.py qcluster` and one `manage.py sweep` per machine;
- nginx in front (installed with apt-get when missing): TLS with a self-signed certificate
  (deploy/make-cert.sh), every web process as an upstream, X-Accel-Redirect for local media,
  run in the foreground with a generated configuration in the run folder.

bench/bench_scaleout.py drives it: 200 generations through nginx, one worker machine killed
midway, and the checks. tests/test_scaleout_shape.py runs that with 20.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import string
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from studio.demoprovider.server import DemoHandler, DemoProvider, start_in_thread  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
X_ACCEL_PREFIX = "/protected-media/"
STOP_GRACE_SECONDS = 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, *, seconds: float, proc: subprocess.Popen | None = None, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while True:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what or proc.args[0]} exited with {proc.returncode} before listening")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what or 'a server'} is not listening on port {port}")
        time.sleep(0.1)


# --- The demo provider, one door per machine ---------------------------------------


@dataclass(frozen=True)
class Read:
    """One request a machine made to the provider, as the provider saw it."""

    machine: str
    # "create", "poll" (GET /v1/tasks/{id}), "batch" (POST /v1/tasks/batch), "file" (a result
    # download's request) or "download" (a result download that received every byte)
    kind: str
    task_ids: tuple[str, ...]  # the tasks read; for a create, its idempotency key
    started: float
    ended: float


class RecordingHandler(DemoHandler):
    """The demo provider's handler, noting which machine (door) made each create and task read."""

    def _timed(self, kind: str, ids: tuple[str, ...], handle) -> None:
        started = time.monotonic()
        try:
            if hold := self.server.hold:
                hold(kind)  # a drill holding the answer (bench_scaleout.py kills the machine meanwhile)
            handle()
        finally:
            self.server.note(Read(self.server.machine, kind, ids, started, time.monotonic()))

    def _create(self, raw: bytes) -> None:
        key = (self.headers.get("Idempotency-Key") or "").strip()
        self._timed("create", (key,), lambda: super(RecordingHandler, self)._create(raw))

    def _query(self, task_id: str) -> None:
        self._timed("poll", (task_id,), lambda: super(RecordingHandler, self)._query(task_id))

    def _file(self, token: str) -> None:
        task = self.server.find_file(token)
        before = task.downloads if task else 0

        def serve() -> None:
            super(RecordingHandler, self)._file(token)

        started = time.monotonic()
        self._timed("file", (task.id,) if task else (), serve)
        if task is not None and task.downloads > before:
            # Every byte was written; a machine killed meanwhile may never have read them.
            self.server.note(Read(self.server.machine, "download", (task.id,), started, time.monotonic()))

    def _batch(self, raw: bytes) -> None:
        try:
            ids = tuple(json.loads(raw).get("task_ids") or ())
        except (ValueError, AttributeError):
            ids = ()
        self._timed("batch", ids, lambda: super(RecordingHandler, self)._batch(raw))


class Door(DemoProvider):
    """Another port of the same demo provider: its tasks, ledger and files, one machine's address.

    Every attribute the handler reads that the door does not have itself is the provider's.
    """

    def __init__(self, provider: DemoProvider, machine: str, reads: list[Read], lock: threading.Lock):
        # Only the socket server's own parts: the provider's state is used through __getattr__.
        super(DemoProvider, self).__init__(("127.0.0.1", 0), RecordingHandler)
        self.provider, self.machine, self._reads, self._reads_lock = provider, machine, reads, lock
        self._serving = False
        self.hold = None  # called with the kind of each request before it is answered

    def __getattr__(self, name: str):
        return getattr(self.__dict__["provider"], name)

    def note(self, read: Read) -> None:
        with self._reads_lock:
            self._reads.append(read)

    def handle_error(self, request, client_address) -> None:
        # A machine killed mid-request breaks its connection: that is the drill, not an error.
        pass

    def shutdown(self) -> None:
        if self._serving:
            super(DemoProvider, self).shutdown()
        super(DemoProvider, self).server_close()

    @property
    def port(self) -> int:
        return self.server_address[1]


# --- Processes ----------------------------------------------------------------------


@dataclass
class Part:
    """A child process in its own process group (a kill takes what it started too)."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen | None = None

    def start(self) -> Part:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, signum: int) -> None:
        """SIGKILL to the whole group; any other signal to the leader, which stops its own children
        (django-q2's cluster, sent SIGTERM all at once, waits out its 30 s grace)."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                if signum == signal.SIGKILL:
                    os.killpg(self.proc.pid, signum)
                else:
                    self.proc.send_signal(signum)

    def group_alive(self) -> bool:
        """Whether any process of its group is left."""
        if self.proc is None:
            return False
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()

    def stop(self, deadline: float) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        # A django-q2 worker or a gunicorn worker can outlive its parent: end the whole group.
        self.kill()


@dataclass
class Machine:
    """A worker machine: its qcluster and its sweeper, and its door to the provider."""

    name: str
    door: Door
    parts: list[Part] = field(default_factory=list)

    def kill(self) -> None:
        """SIGKILL every process of the machine at once, as a machine that loses power."""
        for part in self.parts:
            part.signal(signal.SIGKILL)
        for part in self.parts:
            part.kill()

    @property
    def running(self) -> bool:
        return any(part.running for part in self.parts)


# --- The shape ----------------------------------------------------------------------


@dataclass
class Options:
    machines: int = 2
    web_workers: int = 1
    storage: str = "s3"  # or "files"
    database_url: str = ""  # a server: this run makes its own database there
    redis_url: str = ""
    https_port: int = 0  # 0: a free one
    generation_seconds: float = 6.0
    sweep_interval: float = 3.0
    run_dir: Path | None = None
    keep: bool = False
    log_level: str = "INFO"
    # More settings for every process (e.g. shorter timeouts for a test), over the ones made here.
    environment: dict[str, str] = field(default_factory=dict)


def _database_server(url: str) -> str:
    url = url or os.environ.get("TEST_POSTGRES_URL") or ""
    if not url:
        given = os.environ.get("DATABASE_URL", "")
        url = given if given.startswith(("postgres://", "postgresql://")) else DEFAULT_DATABASE_URL
    return url


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


def ensure_nginx() -> str:
    """The nginx binary; installed with apt-get when missing (as root, or with sudo)."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "")
    if found:
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    print("nginx is missing: apt-get install -y nginx", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "install", "-y", "-q", "nginx"], check=True, env=env)
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(found).exists():
        raise RuntimeError("apt-get did not install nginx")
    return found


def gunicorn_command(port: int, workers: int) -> list[str]:
    """One web process: gunicorn with the studio's settings file, on its own port.

    No control socket: two web processes on one machine share the data folder.
    """
    config = ROOT / "gunicorn.conf.py"
    if config.exists():
        settings = ["-c", str(config)]
    else:  # before gunicorn.conf.py: the flags runstudio used
        settings = [
            "studio.wsgi:application", "--threads", "4", "--timeout", "120", "--limit-request-line", "8190",
            "--access-logfile", "-", "--logger-class", "studio.lib.gunicorn_logging.RedactingLogger",
        ]  # fmt: skip
    return [
        sys.executable, "-m", "gunicorn", *settings,
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--no-control-socket",
    ]  # fmt: skip


def render_template(path: Path, values: dict[str, str]) -> str:
    """${NAME} filled from values, as the nginx image's envsubst does; nginx's own $vars stay."""
    return string.Template(path.read_text()).safe_substitute(values)


def s3_environment(endpoint: str, bucket: str) -> dict[str, str]:
    """The studio's S3 settings for a bucket on an S3-compatible server (see the README)."""
    return {
        "STUDIO_S3_ENDPOINT_URL": endpoint,
        "STUDIO_S3_BUCKET": bucket,
        "STUDIO_S3_REGION": "us-east-1",
        "STUDIO_S3_ACCESS_KEY": "scaleout",
        "STUDIO_S3_SECRET_KEY": "scaleout-secret",
        "STUDIO_S3_PREFIX": "media",
    }


class Shape:
    """Everything of the scaled-out shape on this machine; `up()` then `down()` (or `with`)."""

    def __init__(self, options: Options | None = None) -> None:
        self.options = options or Options()
        self.run = secrets.token_hex(4)
        self.parts: list[Part] = []
        self.web: list[Part] = []
        self.machines: list[Machine] = []
        self.reads: list[Read] = []
        self._reads_lock = threading.Lock()
        self.provider: DemoProvider | None = None
        self.database_url = ""
        self._database_created = False
        self._saved_environ: dict[str, str | None] = {}
        self.url = ""
        self.bucket = ""
        self.s3_endpoint = ""
        self.s3_public_port = free_port()

    # Paths

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    @property
    def media_root(self) -> Path:
        return self.data_dir / "media"

    @property
    def cert(self) -> Path:
        return self.dir / "certs" / "studio.crt"

    def tls(self) -> ssl.SSLContext:
        """A client's TLS settings that trust this run's certificate (nginx's)."""
        return ssl.create_default_context(cafile=str(self.cert))

    def log(self, name: str) -> Path:
        return self.dir / "logs" / f"{name}.log"

    # Up

    def up(self) -> Shape:
        o = self.options
        self.dir = Path(o.run_dir or tempfile.mkdtemp(prefix="scaleout-")).resolve()
        (self.dir / "logs").mkdir(parents=True, exist_ok=True)
        try:
            self._up()
        except BaseException:
            self.down()
            raise
        return self

    def _up(self) -> None:
        o = self.options
        subprocess.run(
            ["sh", str(DEPLOY / "make-cert.sh"), str(self.dir / "certs")], check=True, capture_output=True
        )
        # The demo provider calls the studio back through nginx, whose certificate is this one.
        self._set_environ("SSL_CERT_FILE", str(self.cert))
        nginx = ensure_nginx()
        self._create_database()
        env = self._environment()
        if o.storage == "s3":
            env.update(self._start_s3())
        elif o.storage == "files":
            env["STUDIO_X_ACCEL_REDIRECT_PREFIX"] = X_ACCEL_PREFIX
        else:
            raise ValueError("storage must be s3 or files")
        self.env = env

        self.provider, _ = start_in_thread(
            generation_seconds=o.generation_seconds, render="tiny", allow_insecure_callbacks=True
        )
        self.provider.handle_error = lambda request, client_address: None
        env["STUDIO_DEMO_PROVIDER_PORT"] = str(self.provider.server_address[1])

        # migrate once, as its own step: no web process or worker migrates.
        for step in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
            done = subprocess.run(
                [sys.executable, "manage.py", *step, "-v", "0"],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
            )
            if done.returncode:
                raise RuntimeError(f"manage.py {step[0]} failed:\n{done.stdout}{done.stderr}")

        ports = []
        for n in range(o.machines):
            port = free_port()
            part = Part(f"web-{n + 1}", gunicorn_command(port, o.web_workers), env, self.log(f"web-{n + 1}"))
            self.web.append(part.start())
            self.parts.append(part)
            ports.append(port)

        for n in range(o.machines):
            name = "ab"[n] if o.machines <= 2 else str(n + 1)
            door = Door(self.provider, name, self.reads, self._reads_lock)
            thread = threading.Thread(target=door.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            door._serving = True
            thread.start()
            machine_env = {**env, "STUDIO_DEMO_PROVIDER_PORT": str(door.port)}
            machine = Machine(name, door)
            for command in ("qcluster", "sweep"):
                part = Part(
                    f"{command}-{name}",
                    [sys.executable, "manage.py", command],
                    machine_env,
                    self.log(f"{command}-{name}"),
                )
                machine.parts.append(part.start())
                self.parts.append(part)
            self.machines.append(machine)

        https_port = o.https_port or free_port()
        self.url = f"https://localhost:{https_port}"
        nginx_dir = self.dir / "nginx"
        nginx_dir.mkdir(exist_ok=True)
        values = {
            "STUDIO_UPSTREAMS": " ".join(f"server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;" for p in ports),
            "NGINX_HTTP_PORT": f"127.0.0.1:{free_port()}",
            "NGINX_HTTPS_PORT": f"127.0.0.1:{https_port}",
            "NGINX_CERT_DIR": str(self.dir / "certs"),
            "STUDIO_X_ACCEL_REDIRECT_PREFIX": X_ACCEL_PREFIX,
            "STUDIO_MEDIA_ROOT": str(self.media_root),
            "NGINX_ACCESS_LOG": str(self.log("nginx-access")),
            "NGINX_S3_PORT": f"127.0.0.1:{self.s3_public_port}",
            # Without S3 the bucket's endpoint has nothing behind it.
            "STUDIO_S3_UPSTREAM": f"server {urlsplit(self.s3_endpoint).netloc};"
            if self.s3_endpoint
            else "server 127.0.0.1:9 down;",
        }
        # The http server's redirect names the port only: `listen` takes the address too.
        studio_conf = render_template(DEPLOY / "nginx" / "studio.conf.template", values)
        studio_conf = studio_conf.replace(f"$host:127.0.0.1:{https_port}", f"$host:{https_port}")
        (nginx_dir / "studio.conf").write_text(studio_conf)
        (nginx_dir / "nginx.conf").write_text(self._nginx_main_conf(nginx_dir))
        self.nginx = Part(
            "nginx",
            [
                nginx,
                "-p",
                str(nginx_dir),
                "-c",
                str(nginx_dir / "nginx.conf"),
                "-e",
                str(self.log("nginx-error")),
                "-g",
                "daemon off;",
            ],
            env,
            self.log("nginx"),
        ).start()
        self.parts.append(self.nginx)

        self.web_ports = ports
        for part, port in zip(self.web, ports, strict=True):
            wait_for_port(port, seconds=60, proc=part.proc, what=part.name)
        wait_for_port(https_port, seconds=30, proc=self.nginx.proc, what="nginx")
        self._wait_until_served()

    def _set_environ(self, name: str, value: str) -> None:
        self._saved_environ.setdefault(name, os.environ.get(name))
        os.environ[name] = value

    def _environment(self) -> dict[str, str]:
        o = self.options
        (self.dir / "scaleout_settings.py").write_text(
            "# This run's own queue name and cache prefix on a shared Redis (deploy/scaleout.py).\n"
            "from studio.settings import *  # noqa: F403\n"
            f"Q_CLUSTER = {{**Q_CLUSTER, 'name': 'scaleout-{self.run}'}}  # noqa: F405\n"
            "for _alias in CACHES:  # noqa: F405\n"
            f"    CACHES[_alias]['KEY_PREFIX'] += '-scaleout-{self.run}'  # noqa: F405\n"
        )
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DJANGO_", "STUDIO_", "DATABASE_URL", "REDIS_URL", "EVOLINK_", "PYTEST_"))
        }
        env.update(
            DJANGO_SETTINGS_MODULE="scaleout_settings",
            PYTHONPATH=os.pathsep.join([str(self.dir), str(ROOT)]),
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            # One secret for every machine: sessions, CSRF and callback tokens are signed with it.
            DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
            DJANGO_ALLOWED_HOSTS="localhost,127.0.0.1",
            STUDIO_DATA_DIR=str(self.data_dir),
            STUDIO_STATIC_ROOT=str(self.dir / "static"),
            STUDIO_BEHIND_PROXY="1",
            STUDIO_PROXY_COUNT="1",
            EVOLINK_API_KEY="",
            STUDIO_LOG_LEVEL=o.log_level,
            STUDIO_SWEEP_INTERVAL=str(o.sweep_interval),
            STUDIO_WORKERS="2",
            # Tiny clips: a killed download's claim (its deadline at the slowest rate) is short.
            STUDIO_MAX_VIDEO_MB="20",
            # The provider is on loopback: a create whose answer is lost is known lost sooner
            # (a submit's claim is these two and 5 s).
            EVOLINK_CONNECT_TIMEOUT="5",
            EVOLINK_READ_TIMEOUT="10",
        )
        # Known once nginx's port is: the public address, https (secure cookies, callbacks).
        https_port = o.https_port or free_port()
        o.https_port = https_port
        env["STUDIO_PUBLIC_URL"] = f"https://localhost:{https_port}"
        env.update(o.environment)
        return env

    @property
    def redis_url(self) -> str:
        return self.options.redis_url or os.environ.get("TEST_REDIS_URL") or DEFAULT_REDIS_URL

    def _create_database(self) -> None:
        import psycopg

        server = _database_server(self.options.database_url)
        name = f"omni_scaleout_{self.run}"
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self._database_created = True
        self.database_url = _with_database(server, name)
        self._database_server = server
        self._database_name = name

    def _start_s3(self) -> dict[str, str]:
        import boto3

        port = free_port()
        moto = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
        part = Part(
            "s3", [moto, "-H", "127.0.0.1", "-p", str(port)], dict(os.environ), self.log("s3")
        ).start()
        self.parts.append(part)
        wait_for_port(port, seconds=30, proc=part.proc, what="moto_server")
        self.s3_endpoint = f"http://127.0.0.1:{port}"
        self.bucket = f"studio-{self.run}"
        values = s3_environment(self.s3_endpoint, self.bucket)
        # Browsers follow presigned links to the bucket through nginx, over TLS, as in docker-compose.yml.
        values["STUDIO_S3_PUBLIC_ENDPOINT_URL"] = f"https://localhost:{self.s3_public_port}"
        self.s3 = boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint,
            region_name=values["STUDIO_S3_REGION"],
            aws_access_key_id=values["STUDIO_S3_ACCESS_KEY"],
            aws_secret_access_key=values["STUDIO_S3_SECRET_KEY"],
        )
        self.s3.create_bucket(Bucket=self.bucket)
        return values

    def _nginx_main_conf(self, nginx_dir: Path) -> str:
        user = f"user {getpass.getuser()};\n" if os.geteuid() == 0 else ""
        mime = "include /etc/nginx/mime.types;" if Path("/etc/nginx/mime.types").exists() else ""
        temp = "\n".join(
            f"    {kind}_temp_path {nginx_dir / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        return (
            "# Generated by deploy/scaleout.py: nginx in the foreground, everything in this folder.\n"
            f"{user}worker_processes 1;\npid {nginx_dir / 'nginx.pid'};\n"
            "events { worker_connections 1024; }\n"
            f"http {{\n    {mime}\n    default_type application/octet-stream;\n    sendfile on;\n{temp}\n"
            f"    include {nginx_dir / 'studio.conf'};\n}}\n"
        )

    def _wait_until_served(self) -> None:
        """Until every web process answers /healthz with 200 (its database, Redis, storage and a
        sweeper's heartbeat), as a load balancer would see it, and nginx serves the sign-in page."""
        import httpx

        deadline = time.monotonic() + 90
        urls = [f"http://127.0.0.1:{port}/healthz" for port in self.web_ports]
        with httpx.Client(verify=self.tls(), timeout=5) as client:
            while True:
                try:
                    health = [client.get(url) for url in urls]
                    healthy = all(h.status_code == 200 for h in health)
                    if healthy and client.get(f"{self.url}/login/").status_code == 200:
                        self.health = [h.json() for h in health]
                        return
                except httpx.TransportError:
                    health = []
                if time.monotonic() > deadline:
                    answers = [f"{h.status_code} {h.text[:300]}" for h in health]
                    raise TimeoutError(
                        f"the web processes are not healthy ({answers}); see {self.dir / 'logs'}"
                    )
                time.sleep(0.3)

    # Down

    def down(self) -> None:
        for part in self.parts:
            part.signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for part in self.parts:
            part.stop(deadline)
        for machine in self.machines:
            machine.door.shutdown()
        if self.provider is not None:
            self.provider.shutdown()
        self._clean_redis()
        if self._database_created:
            import psycopg

            with psycopg.connect(self._database_server, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self._database_name}" WITH (FORCE)')
            self._database_created = False
        for name, value in self._saved_environ.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environ.clear()
        if not self.options.keep and getattr(self, "dir", None):
            shutil.rmtree(self.dir, ignore_errors=True)

    def _clean_redis(self) -> None:
        with contextlib.suppress(Exception):
            import redis

            client = redis.Redis.from_url(self.redis_url)
            for key in client.scan_iter(match=f"*scaleout-{self.run}*", count=1000):
                client.delete(key)

    def __enter__(self) -> Shape:
        return self.up()

    def __exit__(self, *exc_info: object) -> None:
        self.down()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--machines", type=int, default=2, help="web processes and worker machines (default 2)"
    )
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers per web process")
    parser.add_argument("--storage", choices=("s3", "files"), default="s3")
    parser.add_argument("--port", type=int, default=0, help="nginx's https port (default: a free one)")
    parser.add_argument(
        "--database-url", default="", help=f"a PostgreSQL server (default {DEFAULT_DATABASE_URL})"
    )
    parser.add_argument("--redis-url", default="", help=f"default {DEFAULT_REDIS_URL}")
    parser.add_argument("--keep", action="store_true", help="keep the run folder (logs, configuration)")
    args = parser.parse_args()
    options = Options(
        machines=args.machines,
        web_workers=args.web_workers,
        storage=args.storage,
        https_port=args.port,
        database_url=args.database_url,
        redis_url=args.redis_url,
        keep=args.keep,
    )
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with Shape(options) as shape:
        print(f"Omni Studio, scaled out: open {shape.url}/ (self-signed certificate {shape.cert})")
        print(
            f"web processes: {len(shape.web)}, worker machines: {len(shape.machines)}, storage: {options.storage}"
        )
        print(f"logs: {shape.dir / 'logs'}; Ctrl-C stops everything.", flush=True)
        while not stop.wait(1):
            if dead := [p.name for p in shape.parts if not p.running]:
                print(f"stopped unexpectedly: {', '.join(dead)}; stopping the rest", flush=True)
                return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
