"""`./start.sh up --docker` / `down --docker` with a stand-in for subprocess (never real docker):
a missing compose plugin and an engine that does not answer are each said as such."""

from __future__ import annotations

import logging
import subprocess
from typing import Callable, Iterator

import pytest

from app.cli import main

Docker = Callable[..., "tuple[int, str, list[list[str]]]"]


@pytest.fixture
def docker(tmp_path, monkeypatch, capsys) -> Iterator[Docker]:
    """Runs ``main(argv)`` with ``subprocess.run`` answering docker's commands as told:
    ``answers`` maps a command's start ("docker compose version") to (returncode, stderr), or to
    an exception to raise; the rest succeed. Returns the exit code, stderr and the commands run."""
    monkeypatch.setenv("ORDER_TRACKER_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("ORDER_TRACKER_DEBUG", raising=False)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # main() points the root logger at its log

    def run(*argv: str, answers: dict | None = None) -> tuple[int, str, list[list[str]]]:
        ran: list[list[str]] = []

        def fake_run(command, *_args, **_kwargs) -> subprocess.CompletedProcess:
            ran.append(list(command))
            for start, answer in (answers or {}).items():
                if " ".join(command).startswith(start):
                    if isinstance(answer, BaseException):
                        raise answer
                    returncode, stderr = answer
                    return subprocess.CompletedProcess(command, returncode, "", stderr)
            return subprocess.CompletedProcess(command, 0, "", "")

        monkeypatch.setattr(subprocess, "run", fake_run)
        code = main(list(argv))
        return code, capsys.readouterr().err, ran

    try:
        yield run
    finally:
        root.handlers[:], root.level = handlers, level


NO_COMPOSE = {"docker compose": (1, "unknown shorthand flag: 'd' in -d\n")}  # the CLI without the plugin
NO_ENGINE = {"docker info": (1, "Cannot connect to the Docker daemon at unix:///var/run/docker.sock.\n")}


@pytest.mark.parametrize("argv", [["up", "--docker"], ["down", "--docker"]])
def test_a_missing_compose_plugin_is_said_as_such_and_nothing_is_run(docker: Docker, argv):
    """It ran `docker compose up -d ...`, showed docker's "unknown shorthand flag: 'd' in -d" and
    then blamed the engine ("is the Docker engine running?")."""
    code, err, ran = docker(*argv, answers=NO_COMPOSE)
    assert code == 3
    assert err == (
        "The Docker Compose plugin is not installed (`docker compose version` fails); install it,"
        " or use the local stack with ./start.sh up.\n"
    )
    assert ran == [["docker", "compose", "version"]]


@pytest.mark.parametrize("argv", [["up", "--docker"], ["down", "--docker"]])
def test_an_engine_that_does_not_answer_is_said_as_such(docker: Docker, argv):
    code, err, ran = docker(*argv, answers=NO_ENGINE)
    assert code == 3
    assert err == (
        "The Docker engine is not running (`docker info` cannot reach it); start it,"
        " or use the local stack with ./start.sh up.\n"
    )
    assert not any(command[:3] == ["docker", "compose", argv[0]] for command in ran)


def test_an_engine_that_refuses_the_user_says_so(docker: Docker):
    denied = {"docker info": (1, "permission denied while trying to connect to the Docker daemon socket\n")}
    code, err, _ran = docker("up", "--docker", answers=denied)
    assert code == 3 and "refuses this user (permission denied on its socket)" in err
    assert len(err.strip().splitlines()) == 1


def test_docker_not_installed_is_one_sentence(docker: Docker):
    code, err, _ran = docker("up", "--docker", answers={"docker": FileNotFoundError(2, "No such file", "docker")})
    assert (code, err) == (3, "Docker is not installed; use ./start.sh up for the local stack.\n")


def test_with_compose_and_an_engine_the_stack_is_brought_up(docker: Docker):
    code, err, ran = docker("up", "--docker")
    assert (code, err) == (0, "")
    assert ran[-1] == ["docker", "compose", "up", "-d", "--build", "--wait"]


def test_a_compose_command_that_fails_after_the_checks_does_not_guess_why(docker: Docker):
    code, err, _ran = docker("up", "--docker", answers={"docker compose up": (1, "")})
    assert code == 3
    assert err == "docker compose up failed (its output is above); ./start.sh up runs the stack without Docker.\n"
