"""How the processes connect to Temporal: no gzip to a server on this machine."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.service import GrpcCompression

from app.config import Settings
from app.errors import InvalidInput
from app.server_addresses import on_this_machine, redact_url


def _settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"ORDER_TRACKER_DATA_DIR": str(tmp_path), **env})


@pytest.fixture(autouse=True)
def _no_temporal_environment(monkeypatch):
    for name in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_PROFILE", "TEMPORAL_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)


def test_the_local_dev_server_is_reached_without_compression(tmp_path):
    config = _settings(tmp_path).temporal_connect_config()
    assert config["target_host"] == "127.0.0.1:7233"
    assert config["grpc_compression"] == GrpcCompression.NONE


@pytest.mark.parametrize("address", ["localhost:7233", "127.0.0.1:7233", "[::1]:7233", "127.0.0.2:7233"])
def test_a_server_brought_along_on_this_machine_is_reached_without_compression(tmp_path, address):
    config = _settings(tmp_path, TEMPORAL_ADDRESS=address).temporal_connect_config()
    assert config["target_host"] == address
    assert config["grpc_compression"] == GrpcCompression.NONE


@pytest.mark.parametrize("address", ["temporal:7233", "temporal.example.com:7233", "10.0.0.5:7233", "[2001:db8::1]:7233"])
def test_a_server_elsewhere_keeps_the_sdks_default_compression(tmp_path, address):
    config = _settings(tmp_path, TEMPORAL_ADDRESS=address).temporal_connect_config()
    assert config["target_host"] == address
    assert "grpc_compression" not in config  # temporalio's default: gzip


def test_on_this_machine_reads_the_host_of_an_address():
    assert on_this_machine("localhost")
    assert on_this_machine("LOCALHOST:1")
    assert on_this_machine("[::1]") and on_this_machine("::1") and on_this_machine("127.0.0.1")
    assert not on_this_machine("localhost.example.com:7233")
    assert not on_this_machine("")


def test_two_parts_given_one_port_are_refused_before_anything_starts(tmp_path):
    from app.errors import InvalidInput

    env = {"ORDER_TRACKER_DATA_DIR": str(tmp_path), "ORDER_TRACKER_TEMPORAL_PORT": "47312", "ORDER_TRACKER_POSTGRES_PORT": "47312"}
    with pytest.raises(InvalidInput, match="ORDER_TRACKER_TEMPORAL_PORT and ORDER_TRACKER_POSTGRES_PORT are both 47312"):
        Settings.from_env(env)
    with pytest.raises(InvalidInput, match="ORDER_TRACKER_API_PORT and ORDER_TRACKER_TEMPORAL_UI_PORT are both 8000"):
        Settings.from_env({"ORDER_TRACKER_DATA_DIR": str(tmp_path), "ORDER_TRACKER_TEMPORAL_UI_PORT": "8000"})


def test_a_part_brought_along_frees_its_port_for_the_others(tmp_path):
    # Temporal elsewhere: its local ports are not ours to start, so PostgreSQL may take 7233.
    env = {"ORDER_TRACKER_DATA_DIR": str(tmp_path), "TEMPORAL_ADDRESS": "temporal.example:7233", "ORDER_TRACKER_POSTGRES_PORT": "7233"}
    assert Settings.from_env(env).postgres_port == 7233


def test_what_to_do_about_a_silent_server_depends_on_who_runs_it(tmp_path):
    """`up` starts only the servers it runs itself: for one brought along it said 'start the
    stack with ./start.sh up' all the same (an operator walkthrough)."""
    ours = Settings.from_env({"ORDER_TRACKER_DATA_DIR": str(tmp_path)})
    assert ours.temporal_remedy == ours.database_remedy == "start the stack with ./start.sh up"
    theirs = Settings.from_env(
        {"ORDER_TRACKER_DATA_DIR": str(tmp_path), "TEMPORAL_ADDRESS": "t.example:7233", "DATABASE_URL": "postgresql://db.example/orders"}
    )
    assert theirs.temporal_remedy == "check TEMPORAL_ADDRESS and that the server there is running"
    assert theirs.database_remedy == "check DATABASE_URL and that the server there is running"


def test_a_server_of_ours_that_is_stopped_is_resumed_not_started(tmp_path):
    """A PostgreSQL stopped with SIGSTOP: commands said 'start the stack with ./start.sh up',
    which cannot resume it (`status` said kill -CONT)."""
    import signal
    import subprocess

    import psutil

    from tests.conftest import wait_until

    ours = Settings.from_env({"ORDER_TRACKER_DATA_DIR": str(tmp_path)})
    ours.run_dir.mkdir(parents=True)
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        created = psutil.Process(sleeper.pid).create_time()
        (ours.run_dir / "postgres.pid").write_text(f"{sleeper.pid} {created}\n")
        (ours.run_dir / "temporal.pid").write_text(f"{sleeper.pid} {created + 5}\n")  # a recycled pid
        assert ours.database_remedy == "start the stack with ./start.sh up"  # running: not stopped
        sleeper.send_signal(signal.SIGSTOP)
        wait_until(lambda: psutil.Process(sleeper.pid).status() == psutil.STATUS_STOPPED, f"pid {sleeper.pid} stopped by SIGSTOP")
        assert ours.database_remedy == f"its process here is stopped (SIGSTOP); kill -CONT {sleeper.pid} resumes it"
        assert ours.temporal_remedy == "start the stack with ./start.sh up"  # not the process its file named
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.parametrize("url", [
    "notaurl", "http://db.example/orders", "postgresql://u:secret@db.example:notaport/orders",
    "postgresql://u:secret@h1:5432,h2:port/orders",
])
def test_a_database_url_that_cannot_be_one_is_refused_as_such(tmp_path, url):
    """It was reported as a server that does not answer (the last session's note)."""
    from app.errors import InvalidInput

    with pytest.raises(InvalidInput, match="^DATABASE_URL must be a PostgreSQL URL") as refused:
        _settings(tmp_path, DATABASE_URL=url)
    assert "secret" not in str(refused.value)


@pytest.mark.parametrize("url", [
    "postgresql://u:p@db.example:5432/orders", "postgres:///orders?host=/tmp", "postgresql://db.example/orders",
    "postgresql://u:p@h1:5432,h2:5433/orders", "postgresql://u:p@h1:5432,h2/orders", "postgresql://u@[::1]:5432/orders",
    "postgresql://u@%2Fvar%2Frun%2Fpostgresql/orders?sslmode=disable",
])
def test_database_urls_postgresql_takes_are_taken(tmp_path, url):
    assert _settings(tmp_path, DATABASE_URL=url).database_url == url


@pytest.mark.parametrize(
    "address", ["temporal.example", ":7233", "temporal.example:0", "temporal.example:port", "http://temporal.example:7233",
                "temporal example:7233"]
)
def test_a_temporal_address_without_host_and_port_is_refused_as_such(tmp_path, address):
    from app.errors import InvalidInput

    with pytest.raises(InvalidInput, match="^TEMPORAL_ADDRESS must be host:port"):
        _settings(tmp_path, TEMPORAL_ADDRESS=address)


@pytest.mark.parametrize("address", ["temporal.example:7233", "[::1]:7233", "10.0.0.5:443"])
def test_temporal_addresses_with_host_and_port_are_taken(tmp_path, address):
    assert _settings(tmp_path, TEMPORAL_ADDRESS=address).temporal_address == address


def test_addresses_are_taken_without_the_spaces_around_them(tmp_path):
    settings = _settings(tmp_path, TEMPORAL_ADDRESS=" t.example:7233\n", DATABASE_URL=" postgresql://db.example/orders ")
    assert (settings.temporal_address, settings.database_url) == ("t.example:7233", "postgresql://db.example/orders")


TUNING = {
    "ORDER_TRACKER_WORKFLOW_TASK_POLLS": ("workflow_task_polls", 40),
    "ORDER_TRACKER_NORMAL_POLL_RATIO": ("normal_poll_ratio", 0.5),
    "ORDER_TRACKER_MAX_WORKFLOW_TASKS": ("max_workflow_tasks", 200),
    "ORDER_TRACKER_MAX_LOCAL_ACTIVITIES": ("max_local_activities", 1000),
    "ORDER_TRACKER_MAX_ACTIVITIES": ("max_activities", 500),
    "ORDER_TRACKER_DB_POOL_SIZE": ("db_pool_size", 20),
}


def test_the_workers_tuning_has_the_readmes_defaults_and_takes_its_variables(tmp_path):
    tuning = _settings(tmp_path).worker_tuning
    assert {name: getattr(tuning, field) for name, (field, _) in TUNING.items()} == {
        name: default for name, (_, default) in TUNING.items()
    }
    given = _settings(tmp_path, ORDER_TRACKER_DB_POOL_SIZE="8", ORDER_TRACKER_NORMAL_POLL_RATIO="1").worker_tuning
    assert (given.db_pool_size, given.normal_poll_ratio) == (8, 1.0)
    assert _settings(tmp_path, ORDER_TRACKER_DB_POOL_SIZE="").worker_tuning.db_pool_size == 20


@pytest.mark.parametrize("name", sorted(TUNING))
@pytest.mark.parametrize("value", ["abc", "0", "-3", "1.5e", "nan", "inf"])
def test_a_worker_tuning_that_cannot_be_one_is_refused_in_a_sentence_naming_it(tmp_path, name, value):
    """`ORDER_TRACKER_DB_POOL_SIZE=abc ./start.sh up` started the servers, then said "The order
    worker exited during start-up (ValueError: invalid literal for int() with base 10: 'abc')",
    naming no variable; 0 polls or a pool of 0 failed the same way, or deep in the SDK."""
    with pytest.raises(InvalidInput) as refused:
        _settings(tmp_path, **{name: value})
    assert str(refused.value).startswith(f"{name} must be ") and str(refused.value).endswith(f", not {value!r}.")


@pytest.mark.parametrize(("value", "on"), [("", False), ("0", False), ("off", False), ("1", True), (" Yes ", True), ("on", True)])
def test_the_workflow_sandbox_is_a_switch_like_every_other(tmp_path, value, on):
    assert _settings(tmp_path, ORDER_TRACKER_WORKFLOW_SANDBOX=value).worker_tuning.workflow_sandbox is on


def test_a_workflow_sandbox_value_that_is_no_switch_is_refused_in_a_sentence(tmp_path):
    """ORDER_TRACKER_WORKFLOW_SANDBOX took 1, true and yes, and ran unsandboxed on any other
    value without a word ("on", "TRUE", "enabled"), where every other switch refuses a typo."""
    with pytest.raises(InvalidInput) as refused:
        _settings(tmp_path, ORDER_TRACKER_WORKFLOW_SANDBOX="enabled")
    assert str(refused.value) == "ORDER_TRACKER_WORKFLOW_SANDBOX must be 1 (on) or 0 (off), not 'enabled'."


@pytest.mark.parametrize(
    ("parameter", "choices"),
    [
        ("sslmode", "disable, allow, prefer, require, verify-ca, verify-full"),
        ("target_session_attrs", "any, primary, standby, prefer-standby, read-write, read-only"),
        ("sslnegotiation", "postgres, direct"),
        ("gsslib", "gssapi, sspi"),
        ("ssl_min_protocol_version", "TLSv1, TLSv1.1, TLSv1.2, TLSv1.3"),
        ("ssl_max_protocol_version", "TLSv1, TLSv1.1, TLSv1.2, TLSv1.3"),
    ],
)
def test_a_database_url_parameter_the_driver_cannot_take_is_named_not_reported_unreachable(tmp_path, parameter, choices):
    """DATABASE_URL=...?sslmode=bogus: every command said PostgreSQL "is not reachable" (exit 3), and
    `status` "no answer at": asyncpg refuses the URL before it connects."""
    url = f"postgresql://u:s3cret@db.example/orders?{parameter}=bogus"
    with pytest.raises(InvalidInput) as refused:
        _settings(tmp_path, DATABASE_URL=url)
    assert str(refused.value) == f"DATABASE_URL's {parameter} must be one of {choices}, not 'bogus'."


def test_a_database_url_query_the_driver_cannot_read_is_refused_without_its_password(tmp_path):
    with pytest.raises(InvalidInput) as refused:
        _settings(tmp_path, DATABASE_URL="postgresql://u@db.example/orders?password=s3cret&sslmode")
    assert str(refused.value) == "DATABASE_URL's parameters must be name=value pairs joined by &, not 'password=***&sslmode'."


@pytest.mark.parametrize(
    "query", ["sslmode=verify-full", "sslmode=bogus&sslmode=require", "target_session_attrs=read-write", "ssl_min_protocol_version=TLSv1.2",
              "application_name=x", "sslmode=require&password=s3cret"],
)
def test_a_database_url_with_parameters_the_driver_takes_is_taken(tmp_path, query):
    url = f"postgresql://u@db.example/orders?{query}"
    assert _settings(tmp_path, DATABASE_URL=url).database_url == url


def test_a_single_workflow_task_slot_is_refused(tmp_path):
    """With ORDER_TRACKER_MAX_WORKFLOW_TASKS=1 the SDK takes the worker, but `up` then took
    52-61 s against its 60 s limit (h4's walkthrough; 58.6 s again, and 1.6 s with 2)."""
    with pytest.raises(InvalidInput) as refused:
        _settings(tmp_path, ORDER_TRACKER_MAX_WORKFLOW_TASKS="1")
    assert str(refused.value) == "ORDER_TRACKER_MAX_WORKFLOW_TASKS must be a whole number from 2 to 999,999,999, not '1'."
    assert _settings(tmp_path, ORDER_TRACKER_MAX_WORKFLOW_TASKS="2").worker_tuning.max_workflow_tasks == 2


def test_a_single_workflow_task_poll_is_refused_before_the_worker_would_refuse_it(tmp_path):
    """The SDK refuses a worker with fewer than 2 workflow task polls while it caches workflows
    ("Invalid worker config: `max_cached_workflows` > 0 requires `workflow_task_poller_behavior`
    to be at least 2"): ORDER_TRACKER_WORKFLOW_TASK_POLLS=1 passed the check, and the order worker
    then exited during start-up, naming no variable."""
    with pytest.raises(InvalidInput) as refused:
        _settings(tmp_path, ORDER_TRACKER_WORKFLOW_TASK_POLLS="1")
    assert str(refused.value) == "ORDER_TRACKER_WORKFLOW_TASK_POLLS must be a whole number from 2 to 999,999,999, not '1'."
    assert _settings(tmp_path, ORDER_TRACKER_WORKFLOW_TASK_POLLS="2").worker_tuning.workflow_task_polls == 2
    assert _settings(tmp_path, ORDER_TRACKER_DB_POOL_SIZE="1").worker_tuning.db_pool_size == 1


def test_a_count_of_a_billion_is_refused_as_too_large_not_as_too_small(tmp_path):
    """ORDER_TRACKER_DB_POOL_SIZE=1000000000 was refused as "must be a whole number of 1 or
    more", which it is."""
    with pytest.raises(InvalidInput) as refused:
        _settings(tmp_path, ORDER_TRACKER_DB_POOL_SIZE="1000000000")
    assert str(refused.value) == "ORDER_TRACKER_DB_POOL_SIZE must be a whole number from 1 to 999,999,999, not '1000000000'."
    assert _settings(tmp_path, ORDER_TRACKER_DB_POOL_SIZE="999999999").worker_tuning.db_pool_size == 999999999


@pytest.mark.parametrize(
    "url, shown",
    [
        ("postgresql://u:s3cret@db.example/orders", "postgresql://u:***@db.example/orders"),
        ("postgresql://u@db.example/orders?password=s3cret", "postgresql://u@db.example/orders?password=***"),
        (
            "postgresql://u:s3cret@db.example/orders?sslmode=require&password=s3cret&application_name=x",
            "postgresql://u:***@db.example/orders?sslmode=require&password=***&application_name=x",
        ),
        ("postgresql://u@db.example/orders?sslmode=require", "postgresql://u@db.example/orders?sslmode=require"),
        # The password of the client's TLS key, which asyncpg takes too.
        (
            "postgresql://u@db.example/orders?sslkey=k.pem&sslpassword=s3cret",
            "postgresql://u@db.example/orders?sslkey=k.pem&sslpassword=***",
        ),
    ],
)
def test_a_database_password_is_never_shown_wherever_the_url_gives_it(url, shown):
    """asyncpg also takes the password as a query parameter (`?password=`), and
    `DATABASE_URL=postgresql://u@host/db?password=... ./start.sh order list` printed and logged it
    whole ("PostgreSQL at postgresql://u@host/db?password=... is not reachable")."""
    assert redact_url(url) == shown


def test_the_settings_repr_does_not_carry_the_database_password():
    """Settings is a dataclass, and its repr (in a `%r` log line, a failed assertion, a
    traceback that shows locals) gave DATABASE_URL whole, password included."""
    settings = Settings.from_env({"DATABASE_URL": "postgresql://u:s3cret@db.example/orders?password=s3cret"})
    assert settings.external_database_url is not None
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize("text", ["+80", "80", "00080", " 8000 ", "8_0", "８０", "1e3", "-80", "0", "65536", " "])
def test_a_port_in_a_variable_is_read_as_the_same_port_given_as_a_flag(tmp_path, text):
    """ORDER_TRACKER_API_PORT=+80 was refused while `api --port +80` took 80, and " 8000 " taken
    while `--port " 8000 "` was refused: one rule (plain decimal) for both, and a refusal that
    names the variable."""
    import argparse

    from app.api_cli import _port_number

    try:
        flag = _port_number(text)
    except argparse.ArgumentTypeError:
        flag = None
    if flag is None:
        with pytest.raises(InvalidInput) as refused:
            _settings(tmp_path, ORDER_TRACKER_API_PORT=text)
        assert str(refused.value) == f"ORDER_TRACKER_API_PORT must be a port number between 1 and 65535, not {text!r}."
    else:
        assert _settings(tmp_path, ORDER_TRACKER_API_PORT=text).api_port == flag


@pytest.mark.parametrize(
    ("variable", "text", "read"),
    [
        ("ORDER_TRACKER_DB_POOL_SIZE", "+4", 4),
        ("ORDER_TRACKER_DB_POOL_SIZE", " 4", None),
        ("ORDER_TRACKER_DB_POOL_SIZE", "4_0", None),
        ("ORDER_TRACKER_NORMAL_POLL_RATIO", "0.5", 0.5),
        ("ORDER_TRACKER_NORMAL_POLL_RATIO", ".5", 0.5),
        ("ORDER_TRACKER_NORMAL_POLL_RATIO", "5e-1", None),
        ("ORDER_TRACKER_NORMAL_POLL_RATIO", "0_5", None),
        ("ORDER_TRACKER_NORMAL_POLL_RATIO", " 0.5", None),
    ],
)
def test_the_other_numbers_in_variables_are_plain_decimal_too(tmp_path, variable, text, read):
    if read is None:
        with pytest.raises(InvalidInput, match=f"^{variable} must be .*, not {text!r}.$"):
            _settings(tmp_path, **{variable: text})
        return
    tuning = _settings(tmp_path, **{variable: text}).worker_tuning
    assert (tuning.db_pool_size if "POOL" in variable else tuning.normal_poll_ratio) == read
