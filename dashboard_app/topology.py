"""The production topology on one machine: N backend processes behind one HAProxy port, M job
workers, Reflex's state in Redis. `make run-scaled` and the topology test start it from here.

Each backend is one single-worker Granian process on a port of its own, serving the compiled
frontend and the event websocket (what `reflex run --env prod --single-port` runs, minus its
worker pool), so a process can be named, pinned to and killed. HAProxy spreads new visitors over
the live backends, keeps a browser on one through the `dash_backend` cookie (a browser can be
pinned to a backend by setting it) and sends the browser elsewhere when its backend dies.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BACKEND_COOKIE = "dash_backend"
REFLEX_APP = "dashboard_app.dashboard_app:app"


def haproxy_config(*, public_port: int, backends: Mapping[str, int], host: str = "0.0.0.0") -> str:
    """One frontend port; each backend `name` on its loopback port, checked every second and
    taken out after three failed checks (one slow answer from a busy backend is no reason to
    refuse its visitors); a connection refused by a dead backend is retried on another at once
    (redispatch), before the checks have noticed."""
    servers = "\n".join(
        f"    server {name} 127.0.0.1:{port} cookie {name} check inter 1s fall 3 rise 2"
        for name, port in backends.items()
    )
    return f"""global
    maxconn 4000

defaults
    mode http
    option forwardfor
    option redispatch
    retries 3
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
    timeout http-request 10s
    timeout check 5s

frontend dashboard
    bind {host}:{public_port}
    default_backend reflex

backend reflex
    balance leastconn
    cookie {BACKEND_COOKIE} insert indirect nocache httponly
    option httpchk GET /healthz
{servers}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def reflex_env(web_dir: Path) -> dict[str, str]:
    """What `reflex run --env prod --single-port` sets for its backend workers."""
    tools = PROJECT_ROOT / ".tools/node_modules/.bin"
    return {
        "PATH": f"{tools}{os.pathsep}{os.environ.get('PATH', '')}",
        "REFLEX_USE_SYSTEM_BUN": "1",
        "REFLEX_WEB_WORKDIR": str(web_dir),
        "REFLEX_ENV_MODE": "prod",
        # Reflex's internal switches (their names start with two underscores).
        "__REFLEX_SKIP_COMPILE": "true",
        "__REFLEX_MOUNT_FRONTEND_COMPILED_APP": "true",
        "PYTHONPATH": str(PROJECT_ROOT),
    }


def build_frontend(env: Mapping[str, str], web_dir: Path, log: Path) -> None:
    """Compile the app and build the frontend for PUBLIC_BASE_URL (the proxy's address, which
    the bundle embeds) into `web_dir`."""
    build_env = {**env, **reflex_env(web_dir)}
    for name in (
        "__REFLEX_SKIP_COMPILE",
        "__REFLEX_MOUNT_FRONTEND_COMPILED_APP",
        "REFLEX_ENV_MODE",
    ):
        build_env.pop(name)
    with log.open("ab") as out:
        subprocess.run(
            [
                str(PROJECT_ROOT / ".venv/bin/reflex"),
                "export",
                "--frontend-only",
                "--no-zip",
                "--env",
                "prod",
            ],
            cwd=PROJECT_ROOT,
            env=build_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
        )


@dataclass
class Process:
    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    port: int | None = None
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        out = self.log.open("ab")
        self.popen = subprocess.Popen(
            self.args,
            cwd=PROJECT_ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            # Its own process group, so stopping it stops any children it forked.
            start_new_session=True,
        )
        out.close()

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} was not started"
        return self.popen.pid

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL, as when a machine or container dies: nothing gets to clean up."""
        if self.running():
            os.killpg(self.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)  # type: ignore[union-attr]

    def stop(self, timeout: float = 15) -> None:
        if not self.running():
            return
        os.killpg(self.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)  # type: ignore[union-attr]
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


@dataclass
class Topology:
    """`backends` Granian processes, `workers` job workers and HAProxy on `public_port`.
    `env` holds the app's settings (DATABASE_URL, REDIS_URL, SECRET_KEY, ...)."""

    env: dict[str, str]
    run_dir: Path
    public_port: int
    backends: int = 2
    workers: int = 2
    host: str = "127.0.0.1"
    # Where the frontend is built; topologies on the same public port can share one build.
    frontend_dir: Path | None = None
    processes: dict[str, Process] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://localhost:{self.public_port}"

    @property
    def web_dir(self) -> Path:
        return self.frontend_dir or self.run_dir / "web"

    def app_env(self) -> dict[str, str]:
        return {
            **os.environ,
            **self.env,
            "PUBLIC_BASE_URL": self.base_url,
            # Development's default is a debug line per query: too much for many processes.
            "LOG_LEVEL": self.env.get("LOG_LEVEL") or os.environ.get("LOG_LEVEL") or "INFO",
            # One hop: HAProxy appends the visitor's address to X-Forwarded-For.
            "TRUSTED_PROXY_HOPS": "1",
            # Jobs run in the worker processes, not in the backends.
            "JOBS_EMBEDDED_WORKER": "false",
        }

    def backend_names(self) -> list[str]:
        return [f"backend-{index}" for index in range(1, self.backends + 1)]

    def backend(self, name: str) -> Process:
        return self.processes[name]

    def build(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        build_frontend(self.app_env(), self.web_dir, self.run_dir / "build.log")

    def start(self, *, build: bool = True, timeout: float = 120) -> None:
        if not self.env.get("REDIS_URL"):
            # Without it each process keeps its tabs' state to itself.
            raise RuntimeError("several backend processes need REDIS_URL (Reflex's state manager)")
        if shutil.which("haproxy") is None:
            raise RuntimeError("haproxy is not installed: run scripts/install-system-deps")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if build:
            self.build()
        env = {**self.app_env(), **reflex_env(self.web_dir)}
        for name in self.backend_names():
            port = free_port()
            self.processes[name] = Process(
                name=name,
                port=port,
                env={**env, "BACKEND_NAME": name},
                log=self.run_dir / f"{name}.log",
                args=[
                    str(PROJECT_ROOT / ".venv/bin/python"),
                    "-m",
                    "granian",
                    "--interface",
                    "asgi",
                    "--factory",
                    "--workers",
                    "1",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                    REFLEX_APP,
                ],
            )
        for index in range(1, self.workers + 1):
            name = f"worker-{index}"
            self.processes[name] = Process(
                name=name,
                env=self.app_env(),
                log=self.run_dir / f"{name}.log",
                args=[
                    str(PROJECT_ROOT / ".venv/bin/python"),
                    "-m",
                    "dashboard_app",
                    "worker",
                    "--executor-id",
                    name,
                ],
            )
        config = self.run_dir / "haproxy.cfg"
        config.write_text(
            haproxy_config(
                public_port=self.public_port,
                backends={name: self.processes[name].port for name in self.backend_names()},  # type: ignore[misc]
                host=self.host,
            )
        )
        self.processes["proxy"] = Process(
            name="proxy",
            port=self.public_port,
            env=dict(os.environ),
            log=self.run_dir / "haproxy.log",
            args=["haproxy", "-db", "-f", str(config)],
        )
        try:
            for process in self.processes.values():
                if process.name != "proxy":
                    process.start()
            for name in self.backend_names():
                self.wait_for_backend(name, timeout=timeout)
            # The proxy last, so its first health checks find every backend up.
            self.processes["proxy"].start()
            wait_until(lambda: self._proxy_serves(), timeout=timeout, what="HAProxy to serve")
        except Exception:
            self.stop()
            raise

    def _proxy_serves(self) -> bool:
        import httpx

        if not self.processes["proxy"].running():
            raise RuntimeError(f"haproxy exited; log:\n{self.processes['proxy'].log_tail()}")
        try:
            return httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_for_backend(self, name: str, *, timeout: float) -> None:
        import httpx

        process = self.processes[name]

        def serving() -> bool:
            if not process.running():
                raise RuntimeError(f"{name} exited; log:\n{process.log_tail()}")
            try:
                response = httpx.get(f"http://127.0.0.1:{process.port}/sign-in/", timeout=2)
            except httpx.HTTPError:
                return False
            return response.status_code == 200

        wait_until(serving, timeout=timeout, what=f"{name} to serve pages")

    def stop(self) -> None:
        # The proxy first (no new connections), then the backends, then the workers.
        for process in reversed(list(self.processes.values())):
            process.stop()

    def wait(self) -> None:
        """Until Ctrl-C or one process dies; then stop everything."""
        try:
            while all(process.running() for process in self.processes.values()):
                time.sleep(0.5)
            dead = [p for p in self.processes.values() if not p.running()]
            for process in dead:
                print(f"{process.name} stopped; its log:\n{process.log_tail()}", file=sys.stderr)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
