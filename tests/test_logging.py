"""One logging setup for every process: the CLI (and the workers it starts) log JSON lines in
production, through the same handler as the standard library's loggers."""

from __future__ import annotations

import json

from tests.test_cli import run_cli


def json_lines(stderr: str) -> list[dict]:
    lines = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def test_the_cli_logs_json_lines_in_production(db_url, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SLOW_QUERY_MS", "0")
    result = run_cli(db_url, tmp_path, "ledger", "check", app_env="production")
    assert result.returncode == 0, result.stderr
    slow = [e for e in json_lines(result.stderr) if e.get("event") == "slow query"]
    assert slow, result.stderr[-2000:]
    assert {"timestamp", "level", "logger", "duration_ms", "statement"} <= slow[0].keys()
    assert slow[0]["level"] == "warning" and slow[0]["logger"] == "dashboard_app.queries"


def test_the_cli_logs_console_lines_in_development(db_url, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SLOW_QUERY_MS", "0")
    result = run_cli(db_url, tmp_path, "ledger", "check", app_env="development")
    assert result.returncode == 0, result.stderr
    assert json_lines(result.stderr) == []
    assert "slow query" in result.stderr and "duration_ms=" in result.stderr
