"""The `omnicat` console script: check-config, db upgrade, lazy subcommands, help."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot import __version__
from bot.runtime.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def write_config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "omnicat.yaml"
    path.write_text(
        f"""\
server:
  url: http://127.0.0.1:3000
  username: omnicat
  password: pw
store:
  url: sqlite:///{tmp_path / "bot.db"}
departments:
  sales: {{agents: [alice, bob], routing: auto, max_chats: 2, fallback: support}}
  support: {{agents: [carol]}}
agents:
  alice: {{max_chats: 3}}
intake:
  channels: [{{room: help, department: support}}]
{extra}"""
    )
    return path


def test_check_config_prints_a_summary(tmp_path, capsys):
    path = write_config(tmp_path)
    assert main(["check-config", "-c", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{path}: OK" in out
    assert "sales: routing auto; agents @alice, @bob; max 2 chats, fallback support" in out
    assert "support: routing manual; agents @carol" in out
    assert "@alice: max chats 3" in out
    assert "channel #help -> support" in out
    assert "pw" not in out.replace("password of", "")


def test_check_config_reports_every_error_on_stderr(tmp_path, capsys):
    path = write_config(tmp_path, "log: {level: LOUD}\nhtp: {}\n")
    assert main(["check-config", "-c", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{path}:14 log.level: expected one of DEBUG" in captured.err
    assert f"{path}:15 htp: unknown key; did you mean 'http'?" in captured.err
    assert "2 errors in the configuration" in captured.err


def test_check_config_of_the_shipped_example(capsys):
    assert main(["check-config", "-c", str(ROOT / "config" / "omnicat.yaml")]) == 0


def test_db_upgrade(tmp_path, capsys):
    path = write_config(tmp_path)
    assert main(["db", "upgrade", "-c", str(path)]) == 0
    assert "m0001_runtime" in capsys.readouterr().out
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'bot.db'}")
    with engine.connect() as conn:
        versions = [r[0] for r in conn.execute(sa.text("SELECT version FROM schema_migrations"))]
    engine.dispose()
    assert 1 in versions
    assert main(["db", "upgrade", "-c", str(path)]) == 0
    assert "up to date" in capsys.readouterr().out


def test_lazy_subcommands_fail_clearly_when_their_module_is_missing(monkeypatch, capsys):
    import bot.runtime.cli as cli

    def missing(module, name, what):
        raise cli.CliError(f"{what} is not available in this build ({module} is missing)")

    monkeypatch.setattr(cli, "_lazy", missing)
    assert main(["demo"]) == 1
    assert "the demo is not available" in capsys.readouterr().err


def test_lazy_calls_the_named_function(monkeypatch, tmp_path):
    import bot.runtime.cli as cli

    calls = []
    monkeypatch.setattr(
        cli, "_lazy", lambda module, name, what: lambda *a: calls.append((module, name, a))
    )
    assert main(["devserver", "--port", "0", "--seed", "s.yaml", "--rc-version", "8.0.0"]) == 0
    assert main(["run", "-c", str(write_config(tmp_path))]) == 0
    assert calls[0] == ("bot.devserver.server", "serve", ("127.0.0.1", 0, "s.yaml", None, "8.0.0"))
    assert calls[1][:2] == ("bot.runtime.root", "run_bot")
    assert calls[1][2][0].server.username == "omnicat"


def test_lazy_missing_module_is_a_clear_error():
    from bot.runtime.cli import CliError, _lazy

    with pytest.raises(CliError, match=r"bot\.nonexistent_xyz is missing"):
        _lazy("bot.nonexistent_xyz", "f", "x")


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["run"],
        ["check-config"],
        ["check-server"],
        ["db"],
        ["db", "upgrade"],
        ["devserver"],
        ["demo"],
    ],
)
def test_help_on_every_subcommand(argv, capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args([*argv, "--help"])
    assert info.value.code == 0
    assert "usage: omnicat" in capsys.readouterr().out


def test_console_script_version_and_no_command():
    result = subprocess.run(
        [sys.executable, "-m", "bot.runtime.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stdout.strip() == f"omnicat {__version__}"
    result = subprocess.run(
        [sys.executable, "-m", "bot.runtime.cli"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "check-config" in result.stdout


def test_check_config_subprocess_exit_code(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("server: [\n")
    result = subprocess.run(
        [sys.executable, "-m", "bot.runtime.cli", "check-config", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert f"{path}:2: invalid YAML" in result.stderr
