"""The scaled topology's set-up, without starting it: HAProxy accepts its configuration, which
health-checks every backend and lets a browser be pinned to one; several backends refuse to
start without Redis."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from dashboard_app.topology import BACKEND_COOKIE, Topology, haproxy_config


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed")
def test_haproxy_accepts_the_configuration(tmp_path) -> None:
    config = tmp_path / "haproxy.cfg"
    config.write_text(haproxy_config(public_port=3000, backends={"backend-1": 8001, "b-2": 8002}))
    checked = subprocess.run(["haproxy", "-c", "-f", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_every_backend_is_health_checked_and_can_be_pinned_to() -> None:
    config = haproxy_config(public_port=3000, backends={"backend-1": 8001, "backend-2": 8002})
    servers = [line.split() for line in config.splitlines() if line.strip().startswith("server")]
    assert [(s[1], s[2]) for s in servers] == [
        ("backend-1", "127.0.0.1:8001"),
        ("backend-2", "127.0.0.1:8002"),
    ]
    for server in servers:
        assert server[server.index("cookie") + 1] == server[1]
        assert "check" in server
    assert f"cookie {BACKEND_COOKIE} insert" in config
    assert "option httpchk GET /healthz" in config


def test_several_backends_need_redis(tmp_path) -> None:
    topology = Topology(env={"DATABASE_URL": "sqlite://"}, run_dir=tmp_path, public_port=3000)
    with pytest.raises(RuntimeError, match="REDIS_URL"):
        topology.start(build=False)
    assert topology.processes == {}


def test_the_scaled_topology_logs_at_info_unless_told_otherwise(tmp_path, monkeypatch) -> None:
    """A production topology run locally: a line per request, not a line per query."""
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    quiet = Topology(env={"APP_ENV": "development"}, run_dir=tmp_path, public_port=3000)
    assert quiet.app_env()["LOG_LEVEL"] == "INFO"
    told = Topology(env={"LOG_LEVEL": "DEBUG"}, run_dir=tmp_path, public_port=3000)
    assert told.app_env()["LOG_LEVEL"] == "DEBUG"
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    assert quiet.app_env()["LOG_LEVEL"] == "WARNING"
