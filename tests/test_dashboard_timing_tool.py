"""tools/dashboard_timing.py fills a scratch database on the stack's server, never the operator's."""

from tools.dashboard_timing import _with_database


def test_the_scratch_database_is_on_the_same_server_with_the_same_credentials():
    url = "postgresql://ann:s3cret@db.example:6543/orders?sslmode=require"
    assert _with_database(url, "dashboard_timing_7") == (
        "postgresql://ann:s3cret@db.example:6543/dashboard_timing_7?sslmode=require"
    )


def test_a_url_without_a_database_gets_the_scratch_one():
    assert _with_database("postgresql://127.0.0.1:5432", "scratch") == "postgresql://127.0.0.1:5432/scratch"
