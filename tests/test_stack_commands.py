"""The dev server's command line as the stack builds it (app/stack/temporal.py)."""

import re
from pathlib import Path

from app.config import Settings
from app.stack import temporal


def _command(tmp_path: Path, **env: str) -> list[str]:
    settings = Settings.from_env({"ORDER_TRACKER_DATA_DIR": str(tmp_path), **env})
    return temporal.spec(settings).command


def _flag_values(command: list[str], flag: str) -> list[str]:
    return [command[i + 1] for i, part in enumerate(command) if part == flag]


def test_the_dev_server_binds_to_loopback_and_persists_under_the_data_dir(tmp_path):
    command = _command(tmp_path)
    assert _flag_values(command, "--ip") == ["127.0.0.1"]
    assert _flag_values(command, "--db-filename") == [str(tmp_path.resolve() / "temporal" / "temporal.db")]


def test_the_measured_server_settings_are_passed(tmp_path):
    values = _flag_values(_command(tmp_path), "--dynamic-config-value")
    assert "history.visibilityProcessorSchedulerWorkerCount=1" in values
    assert "history.shardIOConcurrency=2" in values
    assert "system.forceSearchAttributesCacheRefreshOnRead=false" in values
    assert "history.queueReaderStuckCriticalAttempts=1000000" in values


def test_the_metrics_port_is_the_dev_servers_own_choice_unless_one_is_given(tmp_path):
    assert "--metrics-port" not in _command(tmp_path)
    assert _flag_values(_command(tmp_path, ORDER_TRACKER_TEMPORAL_METRICS_PORT="49090"), "--metrics-port") == ["49090"]


def test_the_docker_stack_s_dev_server_has_the_same_server_settings():
    """docs/operations.md: `up --docker` runs Temporal's dev server "with the same server settings".
    docker-compose.yml had the 50 ms timer shift but not the reader-stuck check off (8a02dfc),
    the setting that keeps those short timers from firing seconds to a minute late."""
    compose = (Path(__file__).resolve().parents[1] / "docker-compose.yml").read_text()
    given = re.findall(r"^\s*- --dynamic-config-value=(\S+)\s*$", compose, re.MULTILINE)
    assert given == temporal.SERVER_SETTINGS
    pragmas = re.findall(r"^\s*- --sqlite-pragma=(\S+)\s*$", compose, re.MULTILINE)
    assert pragmas == temporal.SQLITE_PRAGMAS
