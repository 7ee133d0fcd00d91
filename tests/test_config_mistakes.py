"""Issue 17: the configuration refuses what cannot work, and YAML errors point at the mistake."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bot.config.load import ConfigError, load_config, parse_config
from bot.config.usability import PLACEHOLDERS
from bot.domain import placeholders

ROOT = Path(__file__).resolve().parents[1]
SERVER = "server: {url: http://chat.example.com, username: bot, password: pw}\n"


def errors_of(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "omnicat.yaml", env=env or {})
    return info.value.errors


# --- YAML syntax errors name the line of the mistake ---------------------------------------


def test_unclosed_bracket_in_the_shipped_config_is_reported_at_its_line(tmp_path: Path) -> None:
    lines = (ROOT / "config" / "omnicat.yaml").read_text().splitlines()
    number = lines.index('  prefixes: ["/"]') + 1  # line 54 when the issue was filed
    lines[number - 1] = '  prefixes: ["/"'
    path = tmp_path / "omnicat.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    [error] = info.value.errors
    assert error.startswith(f"{path}:{number}: invalid YAML: this [ is not closed by a ]"), error


def test_unclosed_quote_is_reported_where_it_opens_not_past_the_end() -> None:
    text = SERVER.replace("pw}", "pw}\nlog:") + textwrap.dedent(
        """\
          level: "INFO
        http:
          listen: 127.0.0.1:9090
        site_name: x
        """
    )
    assert len(text.splitlines()) == 6 and '"INFO' in text.splitlines()[2]
    [error] = errors_of(text)
    assert error.startswith("omnicat.yaml:3: invalid YAML: this quoted text has no closing quote")
    assert "the end of the file" in error


def test_a_closed_bracket_with_a_real_error_further_down_keeps_that_line() -> None:
    [error] = errors_of(SERVER + "log:\n  level: INFO\n\tformat: text\n")
    assert error.startswith("omnicat.yaml:4: invalid YAML"), error


@pytest.mark.parametrize(
    "body, line, ref",
    [
        ("server: {url: http://x, username: bot, password: ${PW}}\n", 1, "${PW}"),
        (SERVER + "departments:\n  support:\n    agents: [alice, ${AGENT:-bob}]\n", 4, None),
        (SERVER + "departments:\n  support:\n    agents: [alice,\n      ${AGENT}]\n", 5, None),
    ],
)
def test_env_reference_in_flow_style_gets_a_hint_to_quote_it(body, line, ref) -> None:
    [error] = errors_of(body, env={"PW": "x", "AGENT": "bob"})
    assert error.startswith(f"omnicat.yaml:{line}: invalid YAML: $"), error
    assert "quote it" in error and "inside [ ] or { }" in error
    if ref:
        assert f'("{ref}")' in error
    # The advice works: quoted, the same file loads.
    fixed = body.replace("${PW}", '"${PW}"').replace("${AGENT:-bob}", '"${AGENT:-bob}"')
    fixed = fixed.replace("      ${AGENT}]", '      "${AGENT}"]')
    parse_config(fixed, "omnicat.yaml", env={"PW": "x", "AGENT": "bob"})


def test_bad_contact_field_regex_is_one_clean_line(tmp_path: Path) -> None:
    path = tmp_path / "omnicat.yaml"
    path.write_text(SERVER + "contacts:\n  fields:\n    account:\n      regex: '(unclosed'\n")
    done = subprocess.run(
        [sys.executable, "-m", "bot.runtime.cli", "check-config", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 1
    output = done.stdout + done.stderr
    assert f"{path}:5 contacts.fields.account.regex: expected a regular expression" in output
    assert "missing ): (unclosed" in output
    assert "b'" not in output and "absl" not in output and "re2.cc" not in output, output


# --- settings that parse but cannot work ----------------------------------------------------


def test_queue_alert_without_a_supervisor_room_is_refused() -> None:
    [error] = errors_of(SERVER + "timers:\n  queue_max_wait: {after: 3s, action: alert}\n")
    assert error.startswith("omnicat.yaml:3 timers.queue_max_wait.action: alert needs "), error
    assert "timers.supervisor_room" in error


def test_queue_alert_with_a_supervisor_room_or_another_action_loads() -> None:
    alert = "timers:\n  queue_max_wait: {after: 3s, action: alert}\n"
    parse_config(SERVER + alert + "  supervisor_room: supervisors\n", "x", env={})
    parse_config(SERVER + alert.replace("alert}", "close}"), "x", env={})
    parse_config(SERVER + alert.replace("3s", "0"), "x", env={})  # off


def test_a_department_turning_the_alert_on_needs_the_room_too() -> None:
    body = SERVER + textwrap.dedent(
        """\
        departments:
          support:
            timers:
              queue_max_wait: {after: 5m, action: alert}
          sales: {}
        """
    )
    [error] = errors_of(body)
    assert error.startswith("omnicat.yaml:5 departments.support.timers.queue_max_wait.action:")


def test_canned_response_with_an_unknown_placeholder_is_refused() -> None:
    body = SERVER + textwrap.dedent(
        """\
        canned:
          - shortcut: hi
            text: "Hello {{contact.name}}, I am {{ agent.name }}"
          - shortcut: bye
            text: "Bye {{contact.nosuch}} {{agent.name}}"
        """
    )
    [error] = errors_of(body)
    assert error.startswith("omnicat.yaml:6 canned[1].text: unknown placeholder {{contact.nosuch}}")
    assert "{{contact.email}}" in error  # the list to pick from


def test_config_knows_the_placeholders_the_domain_fills() -> None:
    assert set(PLACEHOLDERS) == set(placeholders.PLACEHOLDERS)
