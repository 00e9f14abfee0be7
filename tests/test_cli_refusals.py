"""Bad input through the command-line entry point, with the stack down: refused as such, in one
sentence with exit 1, before anything connects; good input finds the stack unreachable (3)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import socket
import sys
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Callable, Iterator

import pytest

from app import bench_cli
from app.cli import build_parser, main
from app.config import Settings
from app.errors import InvalidInput
from app.service import OrderService
from workflows.model import OrderState
from app.tui.forms import quantity_check
from app.tui.simulate import count_check

ADDRESS = [
    "--name", "Ann", "--street", "1 Main St", "--city", "Springfield", "--postal-code", "12345", "--country", "US"
]
PORT_VARIABLES = [
    "ORDER_TRACKER_TEMPORAL_PORT",
    "ORDER_TRACKER_TEMPORAL_UI_PORT",
    "ORDER_TRACKER_POSTGRES_PORT",
    "ORDER_TRACKER_API_PORT",
    "ORDER_TRACKER_TEMPORAL_METRICS_PORT",
]

Run = Callable[..., "tuple[int, str]"]


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys) -> Iterator[Run]:
    """``main(argv)`` with a private data dir and Temporal and PostgreSQL on a port that refuses
    connections: bound, never listening, and held so that no one else takes it meanwhile."""
    closed, closed_too = socket.socket(), socket.socket()  # one each: two parts may not share a port
    closed.bind(("127.0.0.1", 0))
    closed_too.bind(("127.0.0.1", 0))
    monkeypatch.setenv("ORDER_TRACKER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ORDER_TRACKER_TEMPORAL_PORT", str(closed.getsockname()[1]))
    monkeypatch.setenv("ORDER_TRACKER_POSTGRES_PORT", str(closed_too.getsockname()[1]))
    for name in ("TEMPORAL_ADDRESS", "DATABASE_URL", "ORDER_TRACKER_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # main() points the root logger at its log

    def run(*argv: str) -> tuple[int, str]:
        code = main(list(argv))
        captured = capsys.readouterr()
        run.out = captured.out  # type: ignore[attr-defined]
        return code, captured.err

    try:
        yield run
    finally:
        root.handlers[:], root.level = handlers, level
        closed.close()
        closed_too.close()


def assert_refused(code: int, err: str, words: str) -> None:
    assert code == 1, err
    assert len(err.strip().splitlines()) == 1 and err.strip().endswith("."), err
    assert words in err and "not reachable" not in err and "Traceback" not in err


@pytest.mark.parametrize(
    "argv, words",
    [
        (["order", "create", "--id", "bad id", "--item", "WIDGET-1:1", *ADDRESS], "is malformed"),
        (["order", "create", "--item", "WIDGET-1:1", "--item", "widget-1:2", *ADDRESS], "appears twice"),
        (["order", "create", "--item", "WIDGET-1:1001", *ADDRESS], "over the limit"),
        (["order", "create", "--item", "WIDGET-1:1", *ADDRESS[:-1], "ZZ"], "ISO 3166"),
        (["order", "create", "--item", "WIDGET-1:1", *ADDRESS, "--payment-id", "pay me"], "Payment id"),
        (["order", "create", "--id", "", "--item", "WIDGET-1:1", *ADDRESS], "Order id '' is malformed"),
        (["order", "create", "--item", "WIDGET-1:1", *ADDRESS, "--payment-id", ""], "Payment id '' is malformed"),
        (["order", "create", "--item", "WIDGET-1:1", *ADDRESS, "--payment-id", "  "], "Payment id '  ' is malformed"),
        # The review window is the order's data: invalid input (exit 1), as the API's 422.
        (["order", "create", "--item", "WIDGET-1:1", *ADDRESS, "--review-window", "nan"], "review window"),
        (["order", "create", "--item", "WIDGET-1:1", *ADDRESS, "--review-window", "inf"], "review window"),
        (["order", "create", "--item", "WIDGET-1:1", *ADDRESS, "--review-window", "-1"], "review window"),
        (["order", "create", "--item", "WIDGET-1:1", *ADDRESS, "--review-window", "0.5"], "between 1 second"),
        (["order", "create", "--item", "WIDGET-1:\uff12", *ADDRESS], "whole number such as 2"),
        (["order", "create", "--item", "WIDGET-1:-1", *ADDRESS], "'WIDGET-1:-1' must be positive"),
        (["order", "create", "--item", "WIDGET-1:-0", *ADDRESS], "must be positive"),
        (["order", "create", "--item", "WIDGET-1:+", *ADDRESS], "whole number such as 2"),
        (["order", "create", "--item", "WIDGET-1:+-3", *ADDRESS], "whole number such as 2"),
        (["order", "create", "--item", "WIDGET-1:+1001", *ADDRESS], "over the limit"),
        (["order", "create", "--item", "WIDGET-1:" + "9" * 40, *ADDRESS], "over the limit"),
        (["order", "create", "--item", "WIDGET-1:1", *ADDRESS, "--address", '{"city": "Berlin"}'], "not both"),
        (["order", "status", "x" * 300 + "!"], "'" + "x" * 40 + "…' is malformed"),
        (["order", "create", "--item", "WIDGET-1:1", "--name", "\u200b", *ADDRESS[2:]], "name is missing"),
        (["order", "create", "--item", "WIDGET-1:1", "--name", "A\u202eveE", *ADDRESS[2:]], "reverse how text"),
        (["order", "approve", "ord-1", "--by", ""], "name of who decides is blank"),
        (["order", "cancel", "ord-1", "--by", "  \u200b "], "name of who decides is blank"),
        (["order", "reject", "ord-1", "--reason", "fraud \u2067x"], "reverse how text"),
        (["order", "address", "ord-1", *ADDRESS[:2], "--street", "\u202d1 Main", *ADDRESS[4:]], "reverse how text"),
        (["order", "approve", "bad;id"], "is malformed"),
        (["order", "approve", "ord-1", "--by", "dana\x1b[2J"], "control characters"),
        (["order", "reject", "ord-1", "--reason", "  "], "needs a reason"),
        (["order", "reject", "bad;id", "--reason", "fraud"], "is malformed"),
        (["order", "cancel", "ord-1", "--reason", "x" * 501], "longer than 500"),
        (["order", "cancel", "ord-1", "--by", "eve\udcff"], "not valid text"),
        (["order", "address", "ord-1", *ADDRESS[:-1], "ZZ"], "ISO 3166"),
        (["order", "address", "ord-1", "--name", "Ann"], "incomplete"),
        (["order", "address", "ord-1", "--city", "Berlin"], "takes the whole new address"),
        (["order", "address", "bad;id", *ADDRESS], "is malformed"),
        (["order", "status", "bad;id"], "is malformed"),
        (["order", "audit", "bad;id"], "is malformed"),
        (["order", "list", "--state", "LOST"], "Unknown state"),
    ],
)
def test_bad_input_is_refused_before_connecting(cli: Run, argv, words):
    assert_refused(*cli(*argv), words)


@pytest.mark.parametrize(
    "argv, said",
    [
        (["order", "list", "--limit", "0"], "argument --limit: give a whole number of orders from 1 to 1,000, not '0'."),
        (["order", "list", "--limit", "1" * 20], f"argument --limit: give a whole number of orders from 1 to 1,000, not '{'1' * 20}'."),
        (["order", "list", "--limit", "abc"], "argument --limit: give a whole number of orders from 1 to 1,000, not 'abc'."),
        (["order", "list", "--offset", "-1"], "argument --offset: give a whole number of orders to skip from 0 to 1,000,000,000, not '-1'."),
        (["order", "list", "--offset", "1" * 20], "argument --offset: give a whole number of orders to skip from 0 to 1,000,000,000, not"),
        (["bench", "--orders", "0"], "argument --orders: give a whole number of orders from 1 to 1,000,000, not '0'."),
        (["bench", "--orders", "-3"], "argument --orders: give a whole number of orders from 1 to 1,000,000, not '-3'."),
        (["bench", "--orders", "1000001"], "argument --orders: give a whole number of orders from 1 to 1,000,000, not '1000001'."),
        (["bench", "--orders", "9" * 20], "argument --orders: give a whole number of orders from 1 to 1,000,000, not"),
        (["bench", "--concurrency", "0"], "argument --concurrency: give a whole number of orders in flight, 1 or more, not '0'."),
        (["bench", "--review-wait", "-1"], "argument --review-wait: give a number of seconds, 0 or more, not '-1'."),
        (["bench", "--order-timeout", "0"], "argument --order-timeout: give a positive number of seconds, not '0'."),
        (["bench", "--poll-interval", "100"], "argument --poll-interval: give a number of seconds from 0.01 to 10, not '100'."),
        *(
            (["bench", f"{flag}={value}"], f"argument {flag}: give ")
            for flag in ("--review-wait", "--order-timeout", "--poll-interval") for value in ("nan", "inf", "-inf")
        ),
        (["logs", "-n", "0"], "argument -n/--lines: give a whole number of lines from 1 to 1,000,000, not '0'."),
        (["api", "--port", "0"], "argument --port: give a port number between 1 and 65535, not '0'."),
        # Not a number at all: argparse said "invalid float value: 'soon'" (out of range is the order's: exit 1).
        (
            ["order", "create", "--item", "WIDGET-1:1", *ADDRESS, "--review-window", "soon"],
            "argument --review-window: give a number of seconds from 1 to 2,592,000 (30 days), not 'soon'.",
        ),
        # What int() and float() read but an operator does not write: `--offset 1_0` skipped 10 orders.
        *(
            (["order", "list", "--offset", text], f"argument --offset: give a whole number of orders to skip from 0 to 1,000,000,000, not {text!r}.")
            for text in ("1_0", " 10", "10 ", "\uff11\uff10", "\u0661", "10.0", "1e1", "0x10", "+-5", "+")
        ),
        (["order", "list", "--limit", "5\n"], "argument --limit: give a whole number of orders from 1 to 1,000, not '5\\n'."),
        (["bench", "--orders", "2_0"], "argument --orders: give a whole number of orders from 1 to 1,000,000, not '2_0'."),
        (["bench", "--concurrency", "\uff15"], "argument --concurrency: give a whole number of orders in flight, 1 or more, not '\uff15'."),
        (["logs", "-n", "1_0"], "argument -n/--lines: give a whole number of lines from 1 to 1,000,000, not '1_0'."),
        (["logs", "-n", " 5"], "argument -n/--lines: give a whole number of lines from 1 to 1,000,000, not ' 5'."),
        (["api", "--port", "80_80"], "argument --port: give a port number between 1 and 65535, not '80_80'."),
        (["api", "--port", " 8080"], "argument --port: give a port number between 1 and 65535, not ' 8080'."),
        (["api", "--port", "\uff18\uff10"], "argument --port: give a port number between 1 and 65535, not '\uff18\uff10'."),
        *(
            (["bench", "--order-timeout", text], f"argument --order-timeout: give a positive number of seconds, not {text!r}.")
            for text in ("1_0", " 5", "5 ", "1e2", "\uff15", "0x1p3", "infinity")
        ),
        *(
            (
                ["order", "create", "--item", "WIDGET-1:1", *ADDRESS, "--review-window", text],
                f"argument --review-window: give a number of seconds from 1 to 2,592,000 (30 days), not {text!r}.",
            )
            for text in ("6_0", " 60", "60 ", "6e1", "\uff16\uff10")
        ),
    ],
)
def test_a_number_out_of_range_or_malformed_is_a_usage_error(cli: Run, capsys, argv, said):
    """`order list --limit 0` and `bench --orders 0` exited 1 ("The limit must be between 1 and
    1000."), `--limit abc`, `logs -n 0` and `api --port 0` 2: every number the command line
    cannot take is now a usage error, in one sentence, with --json's document too."""
    with pytest.raises(SystemExit) as exited:
        cli(*argv)
    assert exited.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"error: {said}") and last.endswith("."), last
    if argv[0] in ("order", "bench"):  # the commands that take --json
        with pytest.raises(SystemExit):
            cli(*argv, "--json")
        document = json.loads(capsys.readouterr().out)
        assert document["exit_code"] == 2 and f"Usage error: {said.rstrip('.')}" in document["error"], document


@pytest.mark.parametrize(
    "argv",
    [
        ["order", "create", "--item", "WIDGET-1:1", *ADDRESS, "--review-window", "60"],
        ["order", "create", "--item", "WIDGET-1:+3", *ADDRESS],  # a signed whole number, like --limit +3
        ["order", "approve", "ord-1", "--by", "dana"],
        ["order", "reject", "ord-1", "--reason", "fraud"],
        ["order", "cancel", "ord-1"],
        ["order", "address", "ord-1", *ADDRESS],
        ["order", "status", "ord-1"],
        ["order", "audit", "ord-1"],
        ["order", "list", "--state", "paid", "--limit", "1000", "--offset", "5"],
        ["order", "list", "--limit", "+3", "--offset", "007"],  # a sign, leading zeros: still plain decimal
        ["order", "create", "--item", "WIDGET-1:1", *ADDRESS, "--review-window", "90.5"],
        ["order", "create", "--item", "WIDGET-1:1", *ADDRESS, "--review-window", "+90."],
    ],
)
def test_good_input_with_the_stack_down_is_unreachable(cli: Run, argv):
    code, err = cli(*argv)
    assert code == 3, err
    assert "is not reachable; start the stack with ./start.sh up." in err and "Traceback" not in err


def test_the_numbers_of_the_command_line_are_read_in_plain_decimal():
    """A sign and leading zeros are plain decimal; what they read is the number written."""
    parse = build_parser().parse_args
    bench = parse(["bench", "--orders", "+20", "--concurrency", "05", "--review-wait", ".5", "--order-timeout", "30.25"])
    assert (bench.orders, bench.concurrency, bench.review_wait, bench.order_timeout) == (20, 5, 0.5, 30.25)
    assert parse(["logs", "-n", "+7"]).lines == 7
    assert parse(["api", "--port", "08080"]).port == 8080
    listing = parse(["order", "list", "--limit", "+3", "--offset", "-0"])
    assert (listing.limit, listing.offset) == (3, 0)


def test_a_payment_id_past_64_characters_is_refused_naming_the_limit_and_shortened(cli: Run):
    """It used to say only "use letters, digits, '-' or '_'" (all it had) and echo all 300."""
    code, err = cli("order", "create", "--item", "WIDGET-1:1", *ADDRESS, "--payment-id", "p" * 300)
    assert_refused(code, err, "Payment id '" + "p" * 40 + "…' is malformed: use 1 to 64 letters")
    assert "p" * 41 not in err


class _ProductsOnly:
    """PostgreSQL up (a stand-in pool): one product, no orders yet."""

    async def fetch(self, sql: str, *args):
        if "FROM products" in sql:
            return [{"sku": "WIDGET-1", "name": "Widget", "price_cents": 1999}]
        return []  # the order list and its counts

    @contextlib.asynccontextmanager
    async def acquire(self):  # the list and its counts are read through one connection
        yield self

    def transaction(self, **_options):
        return contextlib.nullcontext()

    async def close(self) -> None:
        pass


@pytest.mark.parametrize(
    "argv, key, expected",
    [(["order", "catalog", "--json"], "products", 1), (["order", "list", "--json"], "orders", 0)],
)
def test_what_reads_only_the_database_works_with_temporal_down(cli: Run, monkeypatch, argv, key, expected):
    """Temporal refuses connections here; `order list` and `order catalog` used to exit 3 on it."""

    async def create_pool(*_args, **_kwargs) -> _ProductsOnly:
        return _ProductsOnly()

    monkeypatch.setattr("app.service.create_pool", create_pool)
    code, err = cli(*argv)
    assert (code, err) == (0, "")
    assert len(json.loads(cli.out)[key]) == expected  # type: ignore[attr-defined]


def test_a_refusal_with_json_is_one_json_document_on_stdout_too(cli: Run):
    code, err = cli("order", "approve", "bad;id", "--json")
    assert code == 1 and "is malformed" in err
    assert json.loads(cli.out) == {"error": err.strip(), "exit_code": 1}  # type: ignore[attr-defined]
    code, err = cli("order", "status", "ord-1", "--json")
    assert code == 3 and json.loads(cli.out)["exit_code"] == 3  # type: ignore[attr-defined]


class _Pool:
    async def close(self) -> None:
        pass

    async def fetchval(self, sql: str, *args):  # the order's state: not stored yet
        return None


async def _running(**kwargs) -> SimpleNamespace:
    """What a describe says of an order's workflow whose task is not failing."""
    return SimpleNamespace(raw_description=SimpleNamespace(pending_workflow_task=SimpleNamespace(attempt=1)))


class _CtrlCOnceSent:
    """The Update goes out, then the operator presses Ctrl-C while the order has not answered."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def get_workflow_handle(self, workflow_id: str) -> "_CtrlCOnceSent":
        return self

    describe = staticmethod(_running)

    async def start_update(self, name: str, args: list, wait_for_stage) -> "_CtrlCOnceSent":
        self.sent.append(name)
        signal.raise_signal(signal.SIGINT)
        await asyncio.Event().wait()  # no answer
        return self


class _CtrlCBeforeSending(_CtrlCOnceSent):
    """The operator presses Ctrl-C while the command is still being checked (Temporal is asked
    whether the order's workflow task is failing), before its Update goes out."""

    async def describe(self, **kwargs) -> SimpleNamespace:
        signal.raise_signal(signal.SIGINT)
        await asyncio.Event().wait()  # no answer
        return await _running()


_COMMANDS = [
    (["approve", "ord-1"], "approval"),
    (["reject", "ord-1", "--reason", "fraud"], "rejection"),
    (["cancel", "ord-1"], "cancel"),
    (["address", "ord-1", *ADDRESS], "address change"),
]


@pytest.mark.parametrize("goes_out", [True, False])
@pytest.mark.parametrize("argv, what", _COMMANDS)
def test_ctrl_c_during_a_command_says_whether_it_was_sent(cli: Run, monkeypatch, argv, what, goes_out):
    """It used to print only "Interrupted.", though the command had been sent and later applied;
    then "the <command>, if it was sent already, may still take effect" whether it had or not."""
    client = _CtrlCOnceSent() if goes_out else _CtrlCBeforeSending()

    async def connect(*_args, **_kwargs) -> OrderService:
        return OrderService(settings=None, client=client, pool=_Pool())  # type: ignore[arg-type]

    monkeypatch.setattr(OrderService, "connect", connect)
    code, err = cli("order", *argv)
    assert code == 130 and bool(client.sent) == goes_out
    if goes_out:
        assert err == f"Stopped waiting: the {what} was sent and may still take effect; check with ./start.sh order status ord-1.\n"
    else:
        assert err == f"Stopped: the {what} was not sent; nothing was changed.\n"


class _PoolToCreateWith(_Pool):
    """Connections for a create's checks (the queries themselves are faked)."""

    async def acquire(self, *, timeout: float | None = None) -> "_PoolToCreateWith":
        return self

    async def release(self, connection) -> None:
        pass


class _CtrlCOnceStarting:
    """Temporal answers, then the start goes out and the operator presses Ctrl-C while it waits
    (Temporal stopped in between: the start is held ~15-33 s)."""

    def __init__(self) -> None:
        from tests.test_service_commands import _Answering

        self.workflow_service = _Answering()
        self.sent: list[str] = []

    async def start_workflow(self, *args, id: str, **kwargs) -> None:
        self.sent.append(id)
        signal.raise_signal(signal.SIGINT)
        await asyncio.Event().wait()  # no answer


def test_ctrl_c_after_a_create_was_sent_names_the_order_that_may_still_start(cli: Run, monkeypatch):
    """`order create` without --id, stopped with Ctrl-C while its start waited: "Interrupted.",
    and the random id it had given the order, which might be running, was nowhere to be seen:
    created again, it was a second order."""
    from tests.test_service_commands import _creatable

    _creatable(monkeypatch)
    client = _CtrlCOnceStarting()

    async def connect(*_args, **_kwargs) -> OrderService:
        return OrderService(settings=Settings.from_env(), client=client, pool=_PoolToCreateWith())  # type: ignore[arg-type]

    monkeypatch.setattr(OrderService, "connect", connect)
    code, err = cli("order", "create", "--item", "SKU-1:1", *ADDRESS)
    [workflow_id] = client.sent
    order_id = workflow_id.removeprefix("order-")
    assert code == 130, err
    assert err == (
        f"Stopped waiting: order {order_id}, if its start reached Temporal, may still start; check with"
        f" ./start.sh order status {order_id}.\n"
    )


@pytest.mark.parametrize("argv, what", _COMMANDS)
def test_ctrl_c_while_a_command_connects_says_it_was_not_sent(cli: Run, monkeypatch, argv, what):
    """Connecting waits up to 5 s for a PostgreSQL that does not answer (stopped, say), when an
    operator presses Ctrl-C most: it said only "Interrupted.", not whether the command went."""
    async def connect(*_args, **_kwargs) -> OrderService:
        signal.raise_signal(signal.SIGINT)  # while connecting
        await asyncio.Event().wait()
        raise AssertionError("not interrupted")

    monkeypatch.setattr(OrderService, "connect", connect)
    assert cli("order", *argv) == (130, f"Stopped: the {what} was not sent; nothing was changed.\n")


def test_ctrl_c_while_the_tui_starts_the_stack_says_what_up_says(cli: Run, monkeypatch):
    """`./start.sh` with the stack down, stopped with Ctrl-C while it started the stack: only
    "Interrupted.", though what had started went on running (without its watchdog), where
    `./start.sh up` stopped so says that the stack may be partly up and how to see and stop it."""
    terminal = SimpleNamespace(isatty=lambda: True)
    monkeypatch.setattr("app.tui_cli.sys", SimpleNamespace(stdin=terminal, stdout=terminal))

    async def starting(*_args, **_kwargs) -> None:
        signal.raise_signal(signal.SIGINT)  # while the parts start
        await asyncio.Event().wait()
        raise AssertionError("not interrupted")

    monkeypatch.setattr("app.tui.app.ensure_up", starting)
    assert cli("tui") == (
        130, "Stopped: the stack may be partly up; see ./start.sh status (./start.sh down stops what runs).\n"
    )


def test_a_reader_that_goes_away_is_not_an_error(cli: Run, monkeypatch):
    """`./start.sh order list --json | head -1`: the pipe closes while we write."""

    async def write_into_a_closed_pipe(_args) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr("app.order_cli_handlers._catalog", write_into_a_closed_pipe)
    code, err = cli("order", "catalog")
    assert (code, err) == (0, "")


@pytest.mark.parametrize("variable", PORT_VARIABLES)
@pytest.mark.parametrize("argv", [["status"], ["order", "list"], []])  # [] is the TUI
def test_a_port_that_is_not_a_number_is_one_sentence(cli: Run, monkeypatch, variable, argv):
    monkeypatch.setenv(variable, "abc")
    code, err = cli(*argv)
    assert (code, err) == (1, f"{variable} must be a port number between 1 and 65535, not 'abc'.\n")


def test_a_bad_port_is_refused_where_a_command_reads_it_too(cli: Run, monkeypatch):
    # With ORDER_TRACKER_DEBUG the log goes to stderr, so the settings are first read by the command.
    monkeypatch.setenv("ORDER_TRACKER_DEBUG", "1")
    monkeypatch.setenv("ORDER_TRACKER_POSTGRES_PORT", "5433x")
    code, err = cli("order", "status", "ord-1")
    assert code == 1 and "Traceback" not in err
    last_line = err.strip().splitlines()[-1]
    assert last_line == "ORDER_TRACKER_POSTGRES_PORT must be a port number between 1 and 65535, not '5433x'."


@pytest.mark.parametrize("value", ["0", "off", "false"])
def test_debug_logging_switched_off_is_off(cli: Run, monkeypatch, tmp_path, value):
    """ORDER_TRACKER_DEBUG=0 turned the debug log on, to stderr: any value did, as if it were 1."""
    monkeypatch.setenv("ORDER_TRACKER_DEBUG", value)
    code, err = cli("order", "list")  # logs that PostgreSQL refused the connection
    assert code == 3 and len(err.strip().splitlines()) == 1 and "level=" not in err, err
    assert "event=database_unreachable" in (tmp_path / "logs" / "cli.log").read_text()


def test_a_debug_switch_that_is_neither_on_nor_off_is_one_sentence(cli: Run, monkeypatch):
    monkeypatch.setenv("ORDER_TRACKER_DEBUG", "verbose")
    code, err = cli("order", "list")
    assert (code, err) == (1, "ORDER_TRACKER_DEBUG must be 1 (on) or 0 (off), not 'verbose'.\n")


# Read as `api --port` reads its number (app.cli_numbers): "+80" is 80 there too, " 8000 " no port.
@pytest.mark.parametrize("value", ["0", "65536", "-1", " 8000 ", "8_0", "٨٠", "1e3", "99999999999999999999"])
def test_only_a_port_number_is_a_port(value):
    with pytest.raises(InvalidInput) as refused:
        Settings.from_env({"ORDER_TRACKER_API_PORT": value})
    assert str(refused.value) == f"ORDER_TRACKER_API_PORT must be a port number between 1 and 65535, not {value!r}."


def test_ports_unset_or_empty_take_their_defaults():
    settings = Settings.from_env({"ORDER_TRACKER_TEMPORAL_PORT": "17233", "ORDER_TRACKER_API_PORT": ""})
    assert (settings.temporal_port, settings.api_port, settings.postgres_port) == (17233, 8000, 5433)
    assert settings.temporal_metrics_port is None


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
@pytest.mark.parametrize("flag", ["--review-wait", "--order-timeout", "--poll-interval"])
def test_bench_refuses_a_number_of_seconds_that_is_not_finite(flag, value):
    with pytest.raises(SystemExit) as usage:  # before the command, which would bring the stack up
        build_parser().parse_args(["bench", f"{flag}={value}"])
    assert usage.value.code == 2


@pytest.mark.parametrize("orders", ["0", "-3", "1000001", "99999999999999999999"])
def test_bench_refuses_an_order_count_out_of_range(orders):
    """99999999999999999999 was taken, and the run went on until it was stopped (a review)."""
    with pytest.raises(SystemExit) as usage:
        build_parser().parse_args(["bench", "--orders", orders])
    assert usage.value.code == 2


LONGER = "--order-timeout must be longer than --review-wait, which it includes."


@pytest.mark.parametrize("argv", [["--json"], ["--json", "-"]])
def test_a_bench_refused_with_a_bare_json_is_one_json_document_on_stdout(cli: Run, argv):
    """A bare --json promises only the JSON on stdout; a refusal left it empty (its --json holds
    "-", not True as the order commands' do)."""
    code, err = cli("bench", "--review-wait", "200", *argv)
    assert (code, err) == (1, f"{LONGER}\n")
    assert json.loads(cli.out) == {"error": LONGER, "exit_code": 1}  # type: ignore[attr-defined]


def test_a_bench_refused_with_json_to_a_file_leaves_stdout_alone(cli: Run, tmp_path):
    code, err = cli("bench", "--review-wait", "200", "--json", str(tmp_path / "r.json"))
    assert (code, cli.out) == (1, "")  # type: ignore[attr-defined]


def test_bench_takes_finite_seconds():
    """The check that refuses nan and inf (above) lets finite numbers through."""
    args = build_parser().parse_args(["bench", "--review-wait", "0.5", "--order-timeout", "30"])
    bench_cli._check(args)  # raises InvalidInput on a refusal
    assert (args.review_wait, args.order_timeout) == (0.5, 30.0)


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "1e3"])
def test_the_tuis_number_prompts_refuse_what_is_not_a_whole_number(text):
    assert "positive whole number" in quantity_check(text)
    assert "whole number from 1" in count_check(text)


def test_bench_refuses_a_results_file_it_could_not_write_before_the_run(tmp_path, monkeypatch):
    """It found out after the whole run, said "something unexpected went wrong" and lost the results.
    Each case says what is wrong: a directory given was told to "give a file in a directory that exists"."""
    said = {
        tmp_path / "missing" / "r.json": f"there is no directory {tmp_path / 'missing'}.",
        tmp_path: "it is a directory; give the name of a file in it.",
    }
    for where, why in said.items():
        args = build_parser().parse_args(["bench", "--json", str(where)])
        with pytest.raises(InvalidInput) as refused:
            bench_cli._check(args)
        assert str(refused.value) == f"Cannot write the results to {where}: {why}"
    bench_cli._check(build_parser().parse_args(["bench", "--json", str(tmp_path / "r.json")]))
    bench_cli._check(build_parser().parse_args(["bench", "--json"]))  # on stdout
    monkeypatch.setattr(bench_cli.os, "access", lambda *_args: False)  # as root, every directory is writable
    with pytest.raises(InvalidInput) as refused:
        bench_cli._check(build_parser().parse_args(["bench", "--json", str(tmp_path / "r.json")]))
    why = f"the directory {tmp_path} is not writable."
    assert str(refused.value) == f"Cannot write the results to {tmp_path / 'r.json'}: {why}"


def test_ctrl_c_during_a_bench_says_its_orders_carry_on_and_which_wait_for_an_approval(cli: Run, monkeypatch):
    """It printed only "Interrupted.", though the orders it had started went on, and those
    awaiting review then waited out their review window for approvals that never came."""

    async def stack_up(*_args, **_kwargs) -> None:
        return None

    async def connect(*_args, **_kwargs) -> OrderService:
        signal.raise_signal(signal.SIGINT)  # the run is under way
        await asyncio.Event().wait()
        raise AssertionError("not interrupted")

    monkeypatch.setattr(bench_cli, "ensure_up", stack_up)
    monkeypatch.setattr(OrderService, "connect", connect)
    code, err = cli("bench", "--orders", "5", "--concurrency", "2")
    assert code == 130
    assert err.startswith("Stopped: the orders of run ") and "carry on in their workflows" in err
    assert "./start.sh order list --state AWAITING_APPROVAL" in err


def test_bench_refuses_an_order_timeout_the_review_wait_alone_would_use_up():
    """With --review-wait 200 and the default 120 s timeout every order counted as lost."""
    args = build_parser().parse_args(["bench", "--review-wait", "200"])
    with pytest.raises(InvalidInput, match="--order-timeout must be longer than --review-wait"):
        bench_cli._check(args)
    bench_cli._check(build_parser().parse_args(["bench", "--review-wait", "200", "--order-timeout", "300"]))


def test_rich_meeting_a_reader_that_went_away_is_not_an_error(cli: Run, monkeypatch):
    """`./start.sh order list | head -1` exited 1 in silence: Rich's Console answers a
    BrokenPipeError with SystemExit(1) (rich.console.Console.on_broken_pipe)."""

    async def rich_into_a_closed_pipe(_args) -> int:
        try:
            raise BrokenPipeError(32, "Broken pipe")
        except BrokenPipeError:
            raise SystemExit(1)  # as Rich does, after pointing stdout at /dev/null

    monkeypatch.setattr("app.order_cli_handlers._list", rich_into_a_closed_pipe)
    assert cli("order", "list") == (0, "")


def test_usage_errors_still_leave_as_usage_errors(cli: Run):
    with pytest.raises(SystemExit) as exited:
        cli("order", "nope")
    assert exited.value.code == 2


@pytest.mark.parametrize(
    "argv",
    [
        ["order", "list", "--limit", "abc", "--json"],
        ["order", "reject", "ord-1", "--json"],  # --reason is required
        ["order", "create", "--json", "--review-window", "soon"],
        ["bench", "--orders", "many", "--json"],
        ["status", "--json", "--bogus"],
    ],
)
def test_a_usage_error_with_json_is_one_json_document_on_stdout_too(cli: Run, capsys, argv):
    """`order list --limit abc --json` printed argparse's usage on stderr and nothing on stdout."""
    with pytest.raises(SystemExit) as exited:
        cli(*argv)
    assert exited.value.code == 2
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    said = captured.err.strip().splitlines()[-1].removeprefix("error: ").rstrip(".")
    assert document["exit_code"] == 2 and said in document["error"] and "usage:" in captured.err
    assert document["error"].endswith("--help.")


def test_a_usage_error_without_json_leaves_stdout_alone(cli: Run, capsys):
    with pytest.raises(SystemExit):
        cli("bench", "--orders", "many", "--json", "r.json")  # the JSON goes to a file
    assert capsys.readouterr().out == ""


def test_a_setting_refused_before_the_command_is_read_keeps_the_json_document(cli: Run, monkeypatch):
    monkeypatch.setenv("ORDER_TRACKER_TEMPORAL_PORT", "abc")
    code, err = cli("status", "--json")
    assert code == 1
    assert json.loads(cli.out) == {"error": err.strip(), "exit_code": 1}  # type: ignore[attr-defined]


class _TemporalTakesIt:
    """Temporal up: the order's validator accepts the Update and the handler answers."""

    def __init__(self, answer: str | None) -> None:
        self.sent: list[str] = []
        self.answer = answer

    def get_workflow_handle(self, workflow_id: str) -> "_TemporalTakesIt":
        return self

    describe = staticmethod(_running)

    async def start_update(self, name: str, args: list, wait_for_stage) -> "_TemporalTakesIt":
        self.sent.append(name)
        return self

    async def result(self) -> str:
        if self.answer is None:  # carried out only once the database is back (a cancel's ending)
            await asyncio.Event().wait()
        return self.answer


def _temporal_answers(monkeypatch, answer: str | None) -> _TemporalTakesIt:
    client = _TemporalTakesIt(answer)

    async def connect(*_args, **_kwargs) -> _TemporalTakesIt:
        return client

    monkeypatch.setattr("app.service.Client.connect", connect)
    return client


@pytest.mark.parametrize(
    "argv, name",
    [
        (["approve", "ord-1"], "approve"),
        (["reject", "ord-1", "--reason", "fraud"], "reject"),
    ],
)
def test_what_temporal_carries_is_sent_with_postgresql_down(cli: Run, monkeypatch, argv, name):
    """Here PostgreSQL refuses connections (a real pool, not a stand-in). The CLI used to refuse
    these commands because it could not open its pool, while the API, whose pool was open, took
    them; the order records them once the database answers again."""
    client = _temporal_answers(monkeypatch, "Order ord-1: done.")
    code, err = cli("order", *argv)
    assert (code, err, client.sent) == (0, "", [name])
    out = " ".join(cli.out.split())  # type: ignore[attr-defined]
    assert out.startswith("Order ord-1: done.")
    assert "is not reachable, so the order records this and goes on once it answers again;" in out


@pytest.mark.parametrize(
    "argv, name", [(["cancel", "ord-1"], "cancel"), (["address", "ord-1", *ADDRESS], "update_address")]
)
def test_a_cancel_or_address_change_done_while_this_cli_cannot_reach_postgresql_has_no_warning(
    cli: Run, monkeypatch, argv, name
):
    """Their answer comes only once the order has recorded the outcome in the database (the
    cancel's ending, the new address): with the postmaster stopped (SIGSTOP), whose running
    backends still served the workers, `order cancel` said "Order d3c cancelled." and then
    that the order records this once PostgreSQL answers again, which it already had."""
    client = _temporal_answers(monkeypatch, "Order ord-1: done.")
    code, err = cli("order", *argv)
    assert (code, err, client.sent) == (0, "", [name])
    assert " ".join(cli.out.split()) == "Order ord-1: done."  # type: ignore[attr-defined]


def test_an_accepted_cancel_waiting_for_postgresql_says_so_after_a_moment(cli: Run, monkeypatch):
    """Not "a worker may be down or busy" after 20 s: what it waits for is known."""
    monkeypatch.setattr("app.service.sending.NO_WORKER_CHECK_S", 0.1)
    client = _temporal_answers(monkeypatch, None)
    code, err = cli("order", "cancel", "ord-1")
    assert (code, client.sent) == (3, ["cancel"])
    assert err.startswith("Order ord-1 accepted the cancel and carries it out once PostgreSQL at postgresql://")
    assert "then check with ./start.sh order status ord-1." in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv", [["order", "status", "ord-1"], ["order", "create", "--item", "WIDGET-1:1", *ADDRESS]])
def test_what_needs_postgresql_still_says_it_is_down(cli: Run, monkeypatch, argv):
    _temporal_answers(monkeypatch, "unused")
    code, err = cli(*argv)
    assert code == 3 and "PostgreSQL at postgresql://" in err and "is not reachable; start the stack" in err


def test_postgresql_lost_during_a_command_is_one_sentence_not_something_unexpected(cli: Run, monkeypatch):
    import asyncpg

    async def create_pool(*_args, **_kwargs) -> _ProductsOnly:
        return _ProductsOnly()

    async def gone(*_args, **_kwargs):
        raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")

    monkeypatch.setattr("app.service.create_pool", create_pool)
    monkeypatch.setattr(OrderService, "list_orders", gone)
    code, err = cli("order", "list")
    assert code == 3, err
    assert err.startswith("PostgreSQL at postgresql://postgres@127.0.0.1:") and err.endswith(
        "is not reachable; start the stack with ./start.sh up.\n"
    )


def test_temporal_refusing_the_cli_s_credentials_is_one_sentence_not_something_unexpected(cli: Run, monkeypatch):
    """The API answers it with 502 and a sentence; the CLI said "something unexpected" (exit 1)."""
    from temporalio.service import RPCError, RPCStatusCode

    async def create_pool(*_args, **_kwargs) -> _ProductsOnly:
        return _ProductsOnly()

    async def refused(*_args, **_kwargs):
        raise RPCError("Request unauthorized.", RPCStatusCode.PERMISSION_DENIED, b"")

    monkeypatch.setattr("app.service.create_pool", create_pool)
    monkeypatch.setattr(OrderService, "list_orders", refused)
    code, err = cli("order", "list")
    assert code == 1, err
    assert err.startswith("Temporal at 127.0.0.1:") and "refused the request (permission denied: Request unauthorized.)" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("failure", ["database lost", "bug", "ctrl-c"])
def test_a_failure_that_is_no_refusal_with_json_is_one_json_document_on_stdout_too(cli: Run, monkeypatch, failure):
    """`order list --json` with PostgreSQL gone mid-command (exit 3), a bug (exit 1) or Ctrl-C
    (130) said so on stderr only: stdout stayed empty, and a script reading it got no document."""
    import asyncpg

    async def create_pool(*_args, **_kwargs) -> _ProductsOnly:
        return _ProductsOnly()

    async def fails(*_args, **_kwargs):
        if failure == "database lost":
            raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")
        if failure == "bug":
            raise ZeroDivisionError("a bug")
        raise KeyboardInterrupt

    monkeypatch.setattr("app.service.create_pool", create_pool)
    monkeypatch.setattr(OrderService, "list_orders", fails)
    code, err = cli("order", "list", "--json")
    assert code == {"database lost": 3, "bug": 1, "ctrl-c": 130}[failure], err
    assert json.loads(cli.out) == {"error": err.strip(), "exit_code": code}  # type: ignore[attr-defined]


def test_order_status_prints_the_web_ui_link_whole_after_the_panel(cli: Run, monkeypatch):
    """Folded inside the panel at 80 columns, a copy of the link took the box's borders along
    (an operator walkthrough)."""
    url = "http://127.0.0.1:8233/namespaces/default/workflows/order-ord-c185d60e/0199ab36-1c6e-7d4e-9a7b-2f1c0e8d5a61/history"
    status = {
        "order_id": "ord-c185d60e", "state": "PAID", "step": "packing and dispatching", "terminal": False,
        "items": [], "amount_cents": 1999, "address": {}, "payment": {"payment_id": "pay-ord-c185d60e", "status": "CHARGED"},
        "attempts": {}, "retries": 0, "last_error": None, "processing_seconds": 1.0, "review_seconds": 0.0,
        "web_ui_url": url,
    }

    class _Service:
        async def status(self, order_id: str) -> dict:
            return status

        async def __aenter__(self) -> "_Service":
            return self

        async def __aexit__(self, *exc: object) -> None:
            pass

    async def connect(*_args, **_kwargs) -> _Service:
        return _Service()

    monkeypatch.setattr(OrderService, "connect", connect)
    monkeypatch.setenv("COLUMNS", "80")
    code, err = cli("order", "status", "ord-c185d60e")
    assert (code, err) == (0, "")
    assert f"Workflow history: {url}" in cli.out.splitlines()  # type: ignore[attr-defined]


class _ShippedOrders:
    """A PostgreSQL that answers, and has every order SHIPPED."""

    async def fetchval(self, sql: str, *args):
        return "SHIPPED"

    async def close(self) -> None:
        pass


@pytest.mark.parametrize(
    "argv",
    [["approve", "ord-1"], ["reject", "ord-1", "--reason", "fraud"], ["cancel", "ord-1"], ["address", "ord-1", *ADDRESS]],
)
def test_a_command_to_an_ended_order_is_refused_as_such_with_temporal_down(cli: Run, monkeypatch, argv):
    """Here Temporal refuses connections. `order cancel` of a shipped order said Temporal was not
    reachable (exit 3), though the database says the order has ended: docs/commands.md has such a cancel
    refused at once (exit 1), as the API, whose client was open, refused it."""

    async def create_pool(*_args, **_kwargs) -> _ShippedOrders:
        return _ShippedOrders()

    monkeypatch.setattr("app.service.create_pool", create_pool)
    code, err = cli("order", *argv)
    assert_refused(code, err, "Order ord-1 is already SHIPPED; nothing can change it now.")


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_an_answer_with_characters_the_terminal_cannot_show_is_shown_not_an_apology(cli: Run, monkeypatch, encoding):
    """Under a locale that is not UTF-8 (LANG=en_US.ISO-8859-1, PYTHONIOENCODING=ascii) every
    `order status` said "Sorry, something unexpected went wrong": its panel has × and ✓, which
    such a terminal cannot encode. Those characters now show as '?', and the rest is there."""
    import io

    _temporal_answers(monkeypatch, "Order ord-1 → approved ✓.")
    shown = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(shown, encoding=encoding))
    code, err = cli("order", "approve", "ord-1")
    sys.stdout.flush()
    assert (code, err) == (0, "")
    assert shown.getvalue().decode(encoding).startswith("Order ord-1 ? approved ?.")


HUGE = "A" * 5000
UNKNOWN_STATE = f"Unknown state 'LOST'; use one of {', '.join(state.value for state in OrderState)}."


@pytest.mark.parametrize(
    "argv",
    [
        ["order", "list", "--state", HUGE],
        ["order", "create", "--item", HUGE, *ADDRESS],
        ["order", "create", "--item", f"WIDGET-1:{HUGE}", *ADDRESS],
        ["order", "create", "--item", "WIDGET-1:1", "--address", json.dumps({HUGE: "x"})],
        ["order", "create", "--item", "WIDGET-1:1", *ADDRESS, "--review-window", HUGE],  # argparse's own words
        ["order", "list", "--limit", HUGE],
    ],
)
def test_a_refusal_quotes_a_huge_value_cut_short(cli: Run, capsys, argv):
    """`order list --state` with 5,000 characters answered a 5,152-character "sentence" quoting
    all of them (the order id and payment id were already cut at 40 characters)."""
    try:
        code, err = cli(*argv)
    except SystemExit as usage:
        code, err = usage.code, capsys.readouterr().err.strip().splitlines()[-1]
    assert code in (1, 2) and "A…" in err
    assert len(err.strip()) < 300 and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["status"], "Could not write: no space left on device."),
        # Its refusal stands, on stderr; the --json document cannot be written.
        (["order", "list", "--state", "LOST", "--json"], UNKNOWN_STATE),
    ],
)
def test_output_that_cannot_be_written_is_said_so(cli: Run, monkeypatch, argv, said):
    """`./start.sh status > file` on a full disk: "Sorry, something unexpected went wrong; the
    details are in .../cli.log", a log on the same full disk; and a refusal's --json document
    raised out of main, a traceback. It says what went wrong instead."""
    import errno
    import io

    class Full(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sys, "stdout", Full())
    assert cli(*argv) == (1, f"{said}\n")


def test_output_held_until_the_last_flush_that_cannot_be_written_is_said_so(cli: Run, monkeypatch):
    """Written to the buffer, refused at the flush as the command ends: it raised out of main."""
    import errno
    import io

    class FullAtFlush(io.StringIO):
        def flush(self) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sys, "stdout", FullAtFlush())
    assert cli("help") == (1, "Could not write: no space left on device.\n")


class _FrozenOrder:
    """An order PAID 30 s ago that has recorded nothing since (its worker stopped)."""

    def __init__(self) -> None:
        paid = datetime.now(timezone.utc) - timedelta(seconds=30)
        self.document = {
            "order": {"order_id": "ord-1", "state": "PAID"},
            "timeline": [{"at": paid.isoformat(), "kind": "event", "type": "payment_charged", "payload": {"state": "PAID"}}],
        }

    async def __aenter__(self) -> "_FrozenOrder":
        return self

    async def __aexit__(self, *exc) -> None:
        pass

    async def audit(self, order_id: str) -> dict:
        return self.document


def test_order_audit_says_an_order_in_flight_has_recorded_nothing_for_a_while(cli: Run, monkeypatch):
    """The TUI's audit said so; `order audit` ended on the last row as if all were well."""

    async def connect(**_kwargs) -> _FrozenOrder:
        return _FrozenOrder()

    monkeypatch.setattr("app.order_cli_handlers.OrderService.connect", connect)
    code, err = cli("order", "audit", "ord-1")
    assert (code, err) == (0, "")
    assert "so far: the order waits" in " ".join(cli.out.split())  # type: ignore[attr-defined]
    code, _ = cli("order", "audit", "ord-1", "--json")
    assert code == 0 and "so far" not in cli.out  # type: ignore[attr-defined]


@pytest.mark.parametrize("command", ["audit", "status"])
def test_an_order_started_and_not_yet_recorded_is_to_be_asked_again_not_missing(cli: Run, monkeypatch, command):
    """It exited 1, as for an order that does not exist (the API's 404): it is there in a moment,
    so exit 3, as the API's 503; an order that does not exist is still refused (exit 1)."""
    from tests.test_api_errors import started_not_recorded

    for started, said, exit_code in (
        (True, "Order o-1 has been started but not yet recorded; try again in a moment.", 3),
        (False, "There is no order o-1.", 1),
    ):
        service = started_not_recorded(monkeypatch, started)

        async def connect(*_args, **_kwargs) -> OrderService:
            return service

        monkeypatch.setattr(OrderService, "connect", connect)
        assert cli("order", command, "o-1") == (exit_code, f"{said}\n")
        assert cli("order", command, "o-1", "--json") == (exit_code, f"{said}\n")
        assert json.loads(cli.out) == {"error": said, "exit_code": exit_code}  # type: ignore[attr-defined]
