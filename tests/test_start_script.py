"""start.sh on a fresh machine: the .venv it makes and mends. Run on a copy of the script with
an empty requirements.txt and a stand-in `app`, so that no package is installed."""

from __future__ import annotations

import shutil
import subprocess
import sys

from app.config import ROOT


def _copy_of_start_sh(tmp_path):
    shutil.copy(ROOT / "start.sh", tmp_path / "start.sh")
    (tmp_path / "requirements.txt").write_text("")
    (tmp_path / "constraints.txt").write_text("")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "__main__.py").write_text("import sys\nprint('app ran with', sys.argv[1:])\n")
    return tmp_path / "start.sh"


def test_a_venv_left_without_pip_is_made_again(tmp_path):
    """Where ensurepip is missing (Debian or Ubuntu without python3-venv), `python3 -m venv`
    fails after it has made .venv/bin/python: every later run, python3-venv installed or not,
    skipped the creation and said "installing requirements.txt failed; see .venv/pip.log"
    ("No module named pip"), until the operator thought of deleting .venv."""
    start = _copy_of_start_sh(tmp_path)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / ".venv")], check=True)
    done = subprocess.run(
        ["bash", str(start), "help"], cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable},
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "app ran with ['help']\n"
    assert subprocess.run([str(tmp_path / ".venv" / "bin" / "python"), "-m", "pip", "--version"]).returncode == 0


def test_a_relative_data_dir_is_taken_from_where_start_sh_was_run(tmp_path):
    """start.sh runs the app from the checkout, so ORDER_TRACKER_DATA_DIR=data given in another
    directory put the stack's data (and what `down --purge` deletes) inside the checkout."""
    checkout, elsewhere = tmp_path / "checkout", tmp_path / "elsewhere"
    checkout.mkdir()
    elsewhere.mkdir()
    start = _copy_of_start_sh(checkout)
    (checkout / "app" / "__main__.py").write_text("import os\nprint(os.environ['ORDER_TRACKER_DATA_DIR'])\n")
    env = {"PATH": "/usr/bin:/bin", "PYTHON": sys.executable}
    runs = {
        given: subprocess.run(
            ["bash", str(start), "status"], cwd=elsewhere, env={**env, "ORDER_TRACKER_DATA_DIR": given},
            capture_output=True, text=True, timeout=300,
        )
        for given in ("data", str(tmp_path / "absolute"))
    }
    assert [run.returncode for run in runs.values()] == [0, 0], [run.stderr for run in runs.values()]
    assert runs["data"].stdout.strip() == str(elsewhere / "data")
    assert runs[str(tmp_path / "absolute")].stdout.strip() == str(tmp_path / "absolute")


def test_start_sh_run_through_a_symlink_uses_its_checkout(tmp_path):
    """A link to start.sh on the PATH (~/bin/order-tracker) took the link's directory for the
    checkout: "cat: .../requirements.txt: No such file or directory", exit 1."""
    checkout, bin_dir = tmp_path / "checkout", tmp_path / "bin"
    checkout.mkdir()
    bin_dir.mkdir()
    start = _copy_of_start_sh(checkout)
    (bin_dir / "order-tracker").symlink_to(start)
    done = subprocess.run(
        [str(bin_dir / "order-tracker"), "status"], cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable}, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "app ran with ['status']\n"
    assert not (bin_dir / ".venv").exists()


def test_ctrl_c_while_the_command_is_still_loading_ends_it_quietly():
    """Ctrl-C in the second `python -m app` spends on its imports (more on a busy machine)
    printed a 40-line traceback ending in KeyboardInterrupt. Here the import of app.cli is
    where the Ctrl-C lands."""
    import textwrap

    script = textwrap.dedent("""
        import runpy, sys

        class CtrlC:
            def find_spec(self, name, path=None, target=None):
                if name == "app.cli":
                    raise KeyboardInterrupt

        sys.meta_path.insert(0, CtrlC())
        runpy.run_module("app", run_name="__main__", alter_sys=True)
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 130


def test_a_failed_install_names_its_log_where_it_is_whatever_the_directory(tmp_path):
    """Run from another directory (or through a link on the PATH), a failed install said "see
    .venv/pip.log", a file that is not there from where the operator stands."""
    checkout, elsewhere = tmp_path / "checkout", tmp_path / "elsewhere"
    checkout.mkdir()
    elsewhere.mkdir()
    start = _copy_of_start_sh(checkout)
    (checkout / "requirements.txt").write_text("./no-such-package-folder\n")  # fails at once, offline
    done = subprocess.run(
        ["bash", str(start), "status"], cwd=elsewhere, env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable},
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 1
    assert f"start.sh: installing requirements.txt failed; see {checkout / '.venv' / 'pip.log'}." in done.stderr
