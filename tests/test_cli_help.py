"""`./start.sh help [COMMAND]` and the flags' help texts."""

from __future__ import annotations

import argparse
import logging
from typing import Iterator

import pytest

from app.cli import build_parser, main


@pytest.fixture
def cli_help(tmp_path, monkeypatch, capsys) -> Iterator:
    """``main(argv)`` -> (exit code, stdout); a --help that argparse ends with SystemExit counts as its code."""
    monkeypatch.setenv("ORDER_TRACKER_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("ORDER_TRACKER_DEBUG", raising=False)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # main() points the root logger at its log

    def run(*argv: str) -> tuple[int, str]:
        try:
            code = main(list(argv))
        except SystemExit as done:
            code = int(done.code or 0)
        return code, capsys.readouterr().out

    try:
        yield run
    finally:
        root.handlers[:], root.level = handlers, level


@pytest.mark.parametrize("topic", [[], ["order"], ["order", "create"], ["up"], ["test"], ["help"]])
def test_help_prints_what_help_flag_prints(cli_help, topic):
    """`./start.sh help` was "invalid choice: 'help'", exit 2."""
    code, out = cli_help("help", *topic)
    assert (code, out) == cli_help(*topic, "--help")
    assert code == 0 and out.startswith("usage: ./start.sh")


def test_help_for_a_command_that_does_not_exist_is_a_usage_error(cli_help):
    assert cli_help("help", "nope") == (2, "")


@pytest.mark.parametrize("topic", [["up", "down"], ["order", "create", "list"], ["help", "up"]])
def test_help_with_a_word_after_a_whole_command_is_a_usage_error_naming_it(cli_help, capsys, topic):
    """`./start.sh help up down` printed up's help, exit 0, and said nothing of down: the word is
    refused as `./start.sh up down` refuses it."""
    assert main(["help", *topic]) == 2  # cli_help sets the private data dir; its capture would drop stderr
    out, err = capsys.readouterr()
    assert out == "" and err.splitlines()[-1] == f"error: unrecognized arguments: {topic[-1]}"


@pytest.mark.parametrize("argv", [["order", "create", "--bogus"], ["order", "list", "--bogus"], ["status", "--bogus"]])
def test_an_unknown_option_is_refused_with_its_commands_usage(cli_help, capsys, argv):  # cli_help: a private data dir
    """`order create --bogus` printed the top-level usage, which names none of create's options."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    code, err = exited.value.code, capsys.readouterr().err
    assert code == 2 and "error: unrecognized arguments: --bogus" in err
    assert err.startswith(f"usage: ./start.sh {' '.join(argv[:-1])} [-h]")


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_every_flag_of_every_command_says_what_it_is():
    """`order create --help` listed --name, --street, --city, ... and reject's --reason with no word."""
    silent = [
        f"{parser.prog} {action.option_strings or action.dest}"
        for parser in _parsers(build_parser())
        for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction) and not action.help
    ]
    assert silent == []


def test_order_create_help_says_items_are_required_and_their_form(cli_help):
    code, out = cli_help("order", "create", "--help")
    assert code == 0
    item_help = " ".join(out.split("--item SKU:QTY", 2)[2].split())
    assert item_help.startswith("required: a product and its quantity, e.g. WIDGET-1:2; repeat for more")
    assert "--country COUNTRY country as an ISO 3166 alpha-2 code" in " ".join(out.split())


def test_order_without_its_command_names_the_commands_not_an_internal_name(cli_help, capsys):
    """`./start.sh order` said "the following arguments are required: order_command", the name
    of a variable in the code."""
    with pytest.raises(SystemExit) as exited:
        main(["order"])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "order_command" not in err
    assert "error: the following arguments are required: {create,approve,reject,cancel,address,status,list,audit,catalog}" in err


def test_down_help_says_what_purge_removes_with_docker_too(cli_help):
    """`down --purge` said only ".data/"; with --docker it removes the compose stack's volumes
    (`docker compose down --volumes`), as README says."""
    code, out = cli_help("down", "--help")
    purge_help = " ".join(out.split("--purge", 2)[2].split())
    assert code == 0 and "with --docker, the compose stack's volumes" in purge_help
