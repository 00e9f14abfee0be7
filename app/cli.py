"""``python -m app COMMAND``: parses the command line and hands off to the module that owns
the command. Every operator error becomes one sentence on stderr and an exit code:
0 done, 1 refused or invalid, 2 usage, 3 stack unreachable."""

from __future__ import annotations

import argparse
import asyncio
import codecs
import errno
import io
import json
import logging
import os
import re
import sys

from app.checks import QUOTED_LENGTH
from app.config import Settings
from app.errors import OperatorError, StackUnreachable, TemporalRefused, lost_database, temporal_refused

log = logging.getLogger("app.cli")

# A write that cannot succeed (stdout or a file on a full disk): said as such, not as a bug.
WRITE_FAILURES = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})


class UsageError(SystemExit):
    """argparse's refusal of a command line (exit 2); ``sentence`` is what --json reports."""

    def __init__(self, sentence: str) -> None:
        super().__init__(2)
        self.sentence = sentence


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors exit 2 with one sentence
        # argparse quotes the value it could not take whole ("invalid int value: 'AAAA…'").
        message = re.sub("'([^']{%d})[^']+'" % QUOTED_LENGTH, "'\\1…'", message)
        self.print_usage(sys.stderr)
        print(f"error: {message}", file=sys.stderr)
        raise UsageError(f"Usage error: {message.rstrip('.')}; see {self.prog} --help.")

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        """Unknown arguments are refused by the command they were given to, with its usage:
        `order create --bogus` printed the top-level usage, which names no option of create."""
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="./start.sh", description="Order Tracker: orders on Temporal and PostgreSQL.")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)
    # Each module owns its commands; the optional ones arrive with their features.
    for name in ("stack", "order", "test", "tui", "api", "bench"):
        module = _optional_module(name)
        if module is not None:
            module.register(commands)
    help_command = commands.add_parser("help", help="this help; help COMMAND shows what COMMAND --help does")
    help_command.add_argument("topic", nargs="*", metavar="COMMAND", help="the command, e.g. up or order create")
    help_command.set_defaults(handler=_help)
    return parser


def _help(args: argparse.Namespace) -> int:
    """`help [COMMAND ...]`: exactly what `[COMMAND ...] --help` prints, exit 0 (argparse said
    "invalid choice: 'help'", exit 2). An unknown command is the usual usage error (exit 2), and so
    is a word after a whole command (`help up down` showed up's help and ignored down)."""
    try:
        parser = build_parser()
        command = parser
        for at, word in enumerate(args.topic):
            choices = next((a.choices for a in command._actions if isinstance(a, argparse._SubParsersAction)), None)
            if choices is None:  # a whole command: what follows is refused as `up down` refuses it
                command.error(f"unrecognized arguments: {' '.join(args.topic[at:])}")
            if word not in choices:
                break  # argparse refuses it below, naming the choices
            command = choices[word]
        parser.parse_args([*args.topic, "--help"])
    except SystemExit as done:  # argparse leaves after the help, or after a usage error
        return int(done.code or 0)
    return 0


def _optional_module(name: str):
    import importlib

    try:
        return importlib.import_module(f"app.{name}_cli")
    except ModuleNotFoundError as error:
        if error.name != f"app.{name}_cli":
            raise
        return None


def _configure_logging() -> str:
    """Operator commands log to .data/logs/cli.log; ORDER_TRACKER_DEBUG=1 logs to stderr instead.
    Returns where the log goes, for the apology."""
    from app.config import Settings, debug_to_stderr
    from app.logging_setup import configure_logging

    if debug_to_stderr():
        configure_logging(logging.DEBUG)
        return "the log above"
    path = Settings.from_env().logs_dir / "cli.log"  # a bad setting is refused here, before anything
    configure_logging(path=path)
    return str(path)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = build_parser()
    if argv[:1] == ["test"] and "-h" not in argv[1:2] and "--help" not in argv[1:2]:
        # Everything after `test` belongs to pytest, options included.
        return argparse.Namespace(command="test", pytest_args=argv[1:], handler=_optional_module("test")._test)
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["tui", *argv])
    return args


def main(argv: list[str] | None = None) -> int:
    code = None
    _show_what_cannot_be_encoded()
    try:
        code = _run(sys.argv[1:] if argv is None else argv)
        sys.stdout.flush()  # output held in the buffer meets a reader that went away here
        return code
    except BrokenPipeError:  # also while saying why a command failed, with stdout and stderr in the pipe
        _reader_gone()
        return code or 0  # a command that failed (or a status that is not healthy) still says so
    except OSError as error:  # the output held in the buffer, on a full disk
        if error.errno not in WRITE_FAILURES:
            raise
        _reader_gone()  # what the buffer holds cannot go anywhere: no second try at exit
        print(_could_not_write(error), file=sys.stderr)
        return 1


def _show_what_cannot_be_encoded() -> None:
    """A terminal whose encoding is not UTF-8 (LANG=en_US.ISO-8859-1, PYTHONIOENCODING=ascii)
    cannot show the ×, ✓ and → we print: every `order status` raised UnicodeEncodeError and said
    "something unexpected went wrong". Such characters show as '?' instead, the rest as it is."""
    if isinstance(sys.stdout, io.TextIOWrapper) and codecs.lookup(sys.stdout.encoding).name != "utf-8":
        sys.stdout.reconfigure(errors="replace")


def _run(argv: list[str]) -> int:
    args, cli_log = None, "the log"
    try:
        # Settings are read from here on (ports from the environment, when a module is
        # imported or a command runs): a bad one is an OperatorError like any other input.
        cli_log = _configure_logging()
        args = _parse(argv)
        result = args.handler(args)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result or 0)
    except OperatorError as error:
        return _fail(args, str(error), error.exit_code, argv)
    except BrokenPipeError:
        return _reader_gone() or _verdict(args)
    except SystemExit as leaving:
        # Rich's Console meets a closed stdout by raising SystemExit(1) from its BrokenPipeError:
        # that is a reader that went away too, not a failure (`./start.sh order list | head -1`).
        if isinstance(leaving.__context__, BrokenPipeError):
            return _reader_gone() or _verdict(args)
        if isinstance(leaving, UsageError) and _json_on_stdout(None, argv):
            print(json.dumps({"error": leaving.sentence, "exit_code": 2}))
        raise  # argparse's --help and usage errors; app/__main__.py turns them into an exit code
    except KeyboardInterrupt:
        # A command that was already sent says so (order_cli_handlers._sent): it may still take effect.
        return _fail(args, getattr(args, "on_interrupt", None) or "Interrupted.", 130, argv)
    except Exception as error:  # never a traceback to an operator; the log keeps the details
        if (lost := _lost_database(error)) is not None:  # it went away during the command
            log.warning("event=database_lost command=%s error=%r", getattr(args, "command", None), error)
            return _fail(args, str(lost), lost.exit_code, argv)
        if (refused := _temporal_refused(error)) is not None:  # Temporal answered: not a bug
            log.warning("event=temporal_refused command=%s error=%r", getattr(args, "command", None), error)
            return _fail(args, str(refused), refused.exit_code, argv)
        if isinstance(error, OSError) and error.errno in WRITE_FAILURES:
            # The output (or a file) on a full disk: the apology would point to cli.log, on it too.
            log.warning("event=write_failed command=%s error=%r", getattr(args, "command", None), error)
            return _fail(args, _could_not_write(error), 1, argv)
        log.exception("event=unexpected_error command=%s", getattr(args, "command", None))
        return _fail(args, f"Sorry, something unexpected went wrong; the details are in {cli_log}.", 1, argv)


def _fail(args: argparse.Namespace | None, sentence: str, exit_code: int, argv: list[str]) -> int:
    """A command that did not do its job: the sentence on stderr and, under --json, which promises
    one document on stdout whatever happens, {"error": sentence, "exit_code": N} there too."""
    print(sentence, file=sys.stderr)
    if _json_on_stdout(args, argv):
        try:
            print(json.dumps({"error": sentence, "exit_code": exit_code}))
        except BrokenPipeError:
            _reader_gone()  # nobody reads it, but the command still failed
        except OSError as error:  # nor can anyone read it here (a full disk): stderr has the sentence
            if error.errno not in WRITE_FAILURES:
                raise
    return exit_code


def _could_not_write(error: OSError) -> str:
    return f"Could not write: {(error.strerror or str(error)).lower()}."


def _json_on_stdout(args: argparse.Namespace | None, argv: list[str]) -> bool:
    """Whether the command line asked for its one JSON document on stdout: the order commands'
    --json is True, bench's is its FILE ("-" when bare). Before the command line is read (a usage
    error, a setting refused first) the words decide, --json FILE of bench excepted."""
    if args is not None:
        return getattr(args, "json", None) in (True, "-")
    for at, word in enumerate(argv):
        if word == "--":
            break
        if word == "--json":
            following = argv[at + 1 : at + 2]
            return argv[:1] != ["bench"] or not following or following[0].startswith("-")
    return False


def _lost_database(error: BaseException) -> StackUnreachable | None:
    try:
        return lost_database(error, Settings.from_env())
    except OperatorError:  # settings that cannot be read were refused before any connection
        return None


def _temporal_refused(error: BaseException) -> TemporalRefused | None:
    try:
        return temporal_refused(error, Settings.from_env().temporal_address)
    except OperatorError:  # as in _lost_database
        return None


def _verdict(args: argparse.Namespace | None) -> int:
    """The exit code a command knew before it printed (``args.verdict``: status's 3 for a stack
    that is not healthy), kept when the reader goes away mid-output (`status | head -1` said 0)."""
    return getattr(args, "verdict", 0) or 0


def _reader_gone() -> int:
    """The reader of our output went away (`| head`): that alone is no failure, so exit 0, as
    `| head` expects (a script under `set -o pipefail` sees no failure), unless the command had
    failed already (main keeps its code). What stdout still holds goes to /dev/null, so that no
    later flush raises or prints again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a file descriptor (captured)
        pass
    finally:
        os.close(devnull)
    return 0
