"""Real servers for the tests, started on loopback: PostgreSQL, Redis and the app itself."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str, interval=0.1) -> None:
    """Poll until `condition` holds; fail naming `what` if it does not within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _as_postgres_user(args: list[str]) -> list[str]:
    # initdb refuses to run as root.
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


class PostgresServer:
    """A throwaway PostgreSQL cluster with trust authentication on 127.0.0.1."""

    def __init__(self) -> None:
        binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not binaries:
            raise RuntimeError("PostgreSQL is not installed: run scripts/install-system-deps")
        self.bin_dir = Path(binaries[-1]).parent
        self.port = free_port()
        self.data_dir = Path(tempfile.mkdtemp(prefix="dash-pg-"))
        self.socket_dir = Path(tempfile.mkdtemp(prefix="dash-pg-sock-"))

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def url_for(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.data_dir, "postgres", "postgres")
            shutil.chown(self.socket_dir, "postgres", "postgres")
        subprocess.run(
            _as_postgres_user(
                [
                    str(self.bin_dir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                ]
            ),
            check=True,
            capture_output=True,
        )
        subprocess.run(
            _as_postgres_user(
                [
                    str(self.bin_dir / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.data_dir / "server.log"),
                    "-w",
                    "-o",
                    f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
                    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                    "-c max_connections=300",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )
        wait_for(lambda: _port_open(self.port), timeout=30, what="PostgreSQL to listen")

    def stop(self) -> None:
        subprocess.run(
            _as_postgres_user(
                [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "stop"]
            ),
            capture_output=True,
        )
        shutil.rmtree(self.data_dir, ignore_errors=True)
        shutil.rmtree(self.socket_dir, ignore_errors=True)


class RedisServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run scripts/install-system-deps")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: _port_open(self.port), timeout=15, what="Redis to listen")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)


class AppServer:
    """The dashboard in Reflex production mode (one port), as `make run` starts it."""

    def __init__(self, *, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://localhost:{self.port}"
        tools = PROJECT_ROOT / ".tools/node_modules/.bin"
        self.env = {
            **os.environ,
            **env,
            "PUBLIC_BASE_URL": self.base_url,
            # The bun that `make install` put in .tools/; Reflex must not download its own.
            "PATH": f"{tools}{os.pathsep}{os.environ.get('PATH', '')}",
            "REFLEX_USE_SYSTEM_BUN": "1",
        }
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 600) -> None:
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                str(PROJECT_ROOT / ".venv/bin/reflex"),
                "run",
                "--env",
                "prod",
                "--single-port",
                "--frontend-port",
                str(self.port),
                "--backend-port",
                str(self.port),
            ],
            cwd=PROJECT_ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"the app exited early; log:\n{self.log_tail()}")
            try:
                health = httpx.get(f"{self.base_url}/healthz", timeout=2)
                page = httpx.get(f"{self.base_url}/sign-in/", timeout=2)
            except httpx.HTTPError:
                return False
            return health.status_code == 200 and page.status_code == 200

        try:
            wait_for(ready, timeout=timeout, what="the app to serve pages", interval=0.5)
        except TimeoutError:
            raise TimeoutError(f"the app did not start; log:\n{self.log_tail()}") from None

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
