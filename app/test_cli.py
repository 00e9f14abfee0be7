"""`test`: the whole suite (tests/ and eval_tests/) with pytest, in this environment."""

from __future__ import annotations

import argparse
import subprocess
import sys

from app.config import ROOT


def register(commands: argparse._SubParsersAction) -> None:
    test = commands.add_parser("test", help="run every test (unit and end to end, on a private stack)")
    test.add_argument("pytest_args", nargs="*", help="passed on to pytest, options included (e.g. -k cancel -x)")
    test.set_defaults(handler=_test)


def _test(args: argparse.Namespace) -> int:
    command = [sys.executable, "-m", "pytest", *args.pytest_args]
    return subprocess.call(command, cwd=ROOT, stdin=subprocess.DEVNULL)
