from __future__ import annotations

from pathlib import Path

import pytest

from server.cli import build_parser
from server.settings import Settings


def test_settings_from_env_reads_overrides(tmp_path: Path) -> None:
    s = Settings.from_env({"LIFTSTREAM_DATA_DIR": str(tmp_path), "LIFTSTREAM_PORT": "9123"})
    assert s.data_dir == tmp_path.resolve()
    assert s.port == 9123
    assert s.effective_database_url == f"sqlite:///{tmp_path.resolve() / 'liftstream.db'}"


def test_cli_rejects_unknown_command() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["frobnicate"])
