"""Run as root, PostgreSQL runs as a user of its own, which must pass through the folders
above its data and its programs. A review cloned the project under a folder only root could
enter: the test stacks (data under /tmp) could not start PostgreSQL ("Permission denied:
.../pginstall/bin/initdb")."""

import stat

from app.stack.postgres import let_others_pass


def test_others_may_pass_through_every_folder_above_and_read_none_they_could_not(tmp_path):
    home = tmp_path / "home"
    inner = home / "checkout" / ".venv"
    inner.mkdir(parents=True)
    home.chmod(0o700)
    (home / "checkout").chmod(0o750)
    let_others_pass(inner / "initdb")
    assert stat.S_IMODE(home.stat().st_mode) == 0o711
    assert stat.S_IMODE((home / "checkout").stat().st_mode) == 0o751
    assert stat.S_IMODE(inner.stat().st_mode) & (stat.S_IXGRP | stat.S_IXOTH) == stat.S_IXGRP | stat.S_IXOTH
    home.chmod(0o755)  # for tmp_path's clean-up


def test_folders_others_already_pass_are_left_as_they_are(tmp_path):
    folder = tmp_path / "open"
    folder.mkdir()
    folder.chmod(0o711)
    let_others_pass(folder / "data")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o711
