"""`omnicat check-server` against the dev server: each setting, grant and department the
livechat intake needs, read the way a real server lets the bot read them."""

from __future__ import annotations

import copy
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from devserver_fixtures import SEED

from bot.chat.errors import RocketChatError
from bot.devserver import DevServer
from bot.devserver.contracts import available
from bot.rocketchat.rest import RestClient
from bot.runtime.checkserver import MISSING, OK, UNKNOWN, ServerCheck, report
from bot.runtime.cli import main

BASE: dict[str, Any] = yaml.safe_load(Path(SEED).read_text(encoding="utf-8"))


def seeded(**changes: Any) -> dict[str, Any]:
    seed = copy.deepcopy(BASE)
    for key, value in changes.items():
        seed[key] = value
    return seed


def fully_configured() -> dict[str, Any]:
    """The README's setup, plus the read grant that lets the bot see privileged settings."""
    seed = seeded()
    for u in seed["users"]:
        if u["username"] == "omnicat":
            u["roles"] = ["bot", "livechat-agent", "livechat-manager"]
    seed["grants"] = {**seed["grants"], "view-privileged-setting": ["bot"]}
    return seed


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[DevServer]:
    srv = DevServer(getattr(request, "param", None) or fully_configured()).start()
    try:
        yield srv
    finally:
        srv.stop()


def run(server: DevServer, **kw: Any) -> tuple[list[Any], str, int]:
    rest = RestClient(server.url, username="omnicat", password="omnicat-dev")
    checks = ServerCheck(rest, **kw).run()
    text, status = report(checks)
    return checks, text, status


def line(text: str, needle: str) -> str:
    (found,) = [ln for ln in text.splitlines() if needle in ln]
    return found


def write_config(tmp_path: Path, url: str, **extra: Any) -> Path:
    path = tmp_path / "omnicat.yaml"
    config = {
        "server": {"url": url, "username": "omnicat", "password": "omnicat-dev"},
        "store": {"url": f"sqlite:///{tmp_path / 'omnicat.db'}"},
        **extra,
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_a_fully_configured_server_is_all_ok(server: DevServer, tmp_path, capsys) -> None:
    checks, text, status = run(server, departments=["Support", "dep-sales"])
    assert status == 0, text
    assert {c.status for c in checks} == {OK}, text
    assert "Livechat_assign_new_conversation_to_bot is on" in text
    assert "add-user-to-joined-room is granted to the bot (via bot)" in text
    assert "transfer-livechat-guest is granted to the bot (via bot, livechat-manager)" in text
    assert "the bot is an agent of department 'Support'" in text
    # The console command says the same, with the same exit status.
    assert main(["check-server", "-c", str(write_config(tmp_path, server.url))]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "OK       logged in as @omnicat"
    assert out.rstrip().endswith("The server is ready for Omnicat's livechat intake.")


def test_delete_message_is_recommended_not_required(server: DevServer) -> None:
    _, text, status = run(server, departments=["Support", "dep-sales"])
    assert "delete-message is granted to the bot (via bot" in text
    server.revoke("delete-message", "bot")
    _, text, status = run(server, departments=["Support", "dep-sales"])
    found = line(text, "delete-message")
    assert not found.startswith(OK) and "a command an agent typed" in found
    assert status == 0, text  # recommended: the server still works without it


def test_a_missing_grant_is_reported_with_its_fix_and_fails(
    server: DevServer, tmp_path, capsys
) -> None:
    server.revoke("add-user-to-joined-room", "bot")
    _, text, status = run(server)
    assert status == 1
    found = line(text, "add-user-to-joined-room")
    assert found.startswith(MISSING)
    assert "fix: Administration > Workspace > Permissions > add-user-to-joined-room" in found
    assert text.rstrip().endswith("1 required item missing")
    assert main(["check-server", "-c", str(write_config(tmp_path, server.url))]) == 1
    assert "MISSING  add-user-to-joined-room" in capsys.readouterr().out


def test_wrong_settings_and_roles_are_each_one_line(server: DevServer) -> None:
    server.set_setting("Livechat_assign_new_conversation_to_bot", False)
    server.set_setting("Livechat_agent_leave_action", "close")
    server.set_setting("Message_AllowUnrecognizedSlashCommand", False)
    server.set_roles("omnicat", ["bot"])
    checks, text, status = run(server)
    assert status == 1
    missing = [c.text for c in checks if c.status == MISSING]
    assert "Livechat_assign_new_conversation_to_bot is off" in missing
    assert "Livechat_agent_leave_action is 'close'" in missing
    assert "Message_AllowUnrecognizedSlashCommand is off" in missing
    assert any("lacks the role livechat-agent" in m for m in missing)
    # Without livechat-agent nor manager the bot holds neither view-l-room nor transfer.
    assert any(m.startswith("view-l-room is not granted") for m in missing)
    assert 'Routing > "Assign new conversations to bot agent": on' in line(
        text, "Livechat_assign_new_conversation_to_bot"
    )
    # Another prefix does not need the slash-command setting.
    _, text, _ = run(server, prefixes=["!!"])
    assert "Message_AllowUnrecognizedSlashCommand: not needed" in text


@pytest.mark.parametrize("server", [seeded()], indirect=True)
def test_settings_the_bot_may_not_read_are_unknown_not_a_crash(server: DevServer) -> None:
    """A bot without view-privileged-setting, against a dev server holding it to Rocket.Chat's
    request validators (the suite runs it strict): public settings come from `settings.public`,
    each privileged one is tried once with `settings/:_id`, and its 403 is said plainly."""
    server.clear_calls()
    _checks, text, status = run(server)
    assert status == 0, text
    for sid in ("Livechat_assign_new_conversation_to_bot", "Livechat_agent_leave_action"):
        found = line(text, sid)
        assert found.startswith(UNKNOWN)
        assert "the bot may not read it: a privileged setting needs view-privileged-setting" in (
            found
        )
    # Public settings still read.
    assert line(text, "Livechat_enabled").startswith(OK)
    assert line(text, "Livechat_Routing_Method").startswith(OK)
    assert line(text, "Message_AllowUnrecognizedSlashCommand").startswith(OK)
    calls = [(c.name, c.status) for c in server.calls if c.kind == "rest"]
    assert ("settings.public", 200) in calls
    # settings/:_id only for the two privileged settings, each refused; no request refused 400.
    assert [c for c in calls if c[0] == "settings"] == [("settings", 403)] * 2
    assert all(status != 400 for _, status in calls), calls


def test_a_privileged_bot_reads_every_setting_with_accepted_requests(server: DevServer) -> None:
    server.clear_calls()
    _checks, text, status = run(server)
    assert status == 0, text
    assert line(text, "Livechat_agent_leave_action").startswith(OK)
    calls = [(c.name, c.status) for c in server.calls if c.kind == "rest"]
    assert [c for c in calls if c[0] == "settings"] == [("settings", 200)] * 2
    assert all(status == 200 for _, status in calls), calls


@pytest.mark.skipif(available() is None, reason="no REST contracts: run tools/contracts.py")
def test_the_settings_read_rocket_chat_refuses(server: DevServer) -> None:
    """What check-server sent before: `settings` declares no `_id`, so a real server answers
    400 (the dev server used to filter by it anyway)."""
    rest = RestClient(server.url, username="omnicat", password="omnicat-dev")
    rest.login()
    with pytest.raises(RocketChatError) as refused:
        rest.get("settings", _id="Livechat_enabled", count=1)
    assert refused.value.reason.endswith(": must NOT have additional properties [invalid-params]")
    assert refused.value.error == "invalid-params"


def test_departments_mapped_in_the_config_must_hold_the_bot(server: DevServer) -> None:
    server.add_department("dep-humans", "Humans", ["bob"])
    _checks, text, status = run(server, departments=["Humans", "Nowhere", "Sales"])
    assert status == 1
    assert line(text, "'Humans'").startswith(MISSING)
    assert line(text, "'Nowhere'").startswith(MISSING)
    assert line(text, "department 'Sales'").startswith(OK)
    # An unmapped department without the bot is only a warning.
    _, text, status = run(server)
    assert status == 0 and line(text, "'Humans'").startswith("WARN")
    server.revoke("view-l-room", "livechat-agent")
    server.revoke("view-l-room", "livechat-manager")
    _, text, _ = run(server, departments=["Sales"])
    assert line(text, "departments: could not read").startswith(UNKNOWN)


def test_an_unreachable_server_is_one_missing_line(tmp_path, capsys) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = write_config(tmp_path, f"http://127.0.0.1:{port}")
    assert main(["check-server", "-c", str(path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("MISSING  log in as the bot:")
