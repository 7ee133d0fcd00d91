"""Config loading: every validation error names file, line and dotted key."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from bot.config.load import ConfigError, load_config
from bot.config.schema import Config
from bot.config.values import parse_duration

ROOT = Path(__file__).resolve().parents[1]
SERVER = """\
server:
  url: http://chat.example.com
  username: bot
  password: pw-secret
"""  # four lines: the snippets below start at line 5


def write(tmp_path: Path, body: str, server: bool = True) -> Path:
    path = tmp_path / "omnicat.yaml"
    path.write_text((SERVER if server else "") + textwrap.dedent(body))
    return path


def errors(tmp_path: Path, body: str, server: bool = True, env: dict | None = None) -> list[str]:
    path = write(tmp_path, body, server)
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env or {})
    assert str(info.value) == "\n".join(info.value.errors)
    return info.value.errors


def one_error(tmp_path: Path, body: str, line: int, key: str, **kw) -> str:
    errs = errors(tmp_path, body, **kw)
    assert len(errs) == 1, errs
    prefix = f"{tmp_path / 'omnicat.yaml'}:{line} {key}: "
    assert errs[0].startswith(prefix), errs[0]
    return errs[0][len(prefix) :]


# --- the shipped example and the defaults ---------------------------------------------------


def test_example_config_loads_and_documents_every_key():
    cfg = load_config(ROOT / "config" / "omnicat.yaml", env={})
    assert cfg.server.username == "omnicat"
    assert cfg.store.url == "sqlite:///omnicat.db"
    assert cfg.commands.prefixes == ("/",)
    assert cfg.intake.room_name == "omni-{number}-{contact}"
    assert cfg.close.require_comment is True
    assert cfg.transcripts.timezone == "UTC"
    assert "support" in cfg.departments
    text = (ROOT / "config" / "omnicat.yaml").read_text()
    # Every schema key appears in the example (documented), at least by name.
    import dataclasses

    def keys(cls, seen=None):
        for f in dataclasses.fields(cls):
            if f.metadata.get("internal"):
                continue
            yield f.metadata.get("key") or f.name
            tp = cls.__dataclass_fields__[f.name].type
            del tp

    from bot.config import schema as configschema

    for name in dir(configschema):
        cls = getattr(configschema, name)
        if dataclasses.is_dataclass(cls):
            for key in keys(cls):
                assert f"{key}:" in text, f"{name}.{key} is not documented in omnicat.yaml"


def test_example_config_with_env_overrides():
    cfg = load_config(
        ROOT / "config" / "omnicat.yaml",
        env={"OMNICAT_PASSWORD": "hunter22", "OMNICAT_SERVER_URL": "https://chat.example.org"},
    )
    assert cfg.server.password == "hunter22"
    assert cfg.server.url == "https://chat.example.org"
    assert "hunter22" in cfg.secrets()


def test_defaults_are_usable_without_a_file():
    cfg = Config.defaults()
    assert cfg.commands.prefixes == ("/",)
    assert cfg.log.level == "INFO" and cfg.log.format == "text"
    assert cfg.http.listen is None and cfg.http.address is None
    assert cfg.departments == {}
    assert cfg.calls.provider is None
    assert cfg.timers.abandoned.after == timedelta(0)


def test_minimal_file_gets_defaults(tmp_path):
    cfg = load_config(write(tmp_path, ""), env={})
    assert cfg.server.url == "http://chat.example.com"
    assert cfg.store.url == "sqlite:///omnicat.db"
    assert cfg.commands.rate_limit.burst == 20 and cfg.commands.rate_limit.per_second == 2.0
    assert cfg.source == str(tmp_path / "omnicat.yaml")


def test_full_sections_parse_to_typed_values(tmp_path):
    cfg = load_config(
        write(
            tmp_path,
            """\
            http: {listen: "0.0.0.0:9090"}
            log: {level: debug, format: json}
            departments:
              sales:
                agents: [alice, bob]
                routing: load_balancing
                max_chats: 2
                closing_tags: [billing, refund]
                require_tags: true
                forward_to: [support]
                fallback: support
                timers:
                  abandoned: {after: 15m}
              support:
                agents: carol
            agents:
              alice: {max_chats: 3}
            routing: {max_chats_per_agent: 5}
            intake:
              channels: [{room: help, department: support}]
            timers:
              on_hold_auto_close: 1h30m
              abandoned: {after: 1h, action: hold}
            canned:
              - {shortcut: hi, text: "Hello {{contact.name}}", scope: "department:sales"}
            contacts:
              fields:
                customer_id: {label: Customer ID, regex: "^C-[0-9]{6}$"}
            calls: {provider: template, url_template: "https://meet/{room}"}
            permissions:
              overrides: {close-others-livechat-room: [admin]}
            """,
        ),
        env={},
    )
    assert cfg.http.address == ("0.0.0.0", 9090)
    assert cfg.log.level == "DEBUG" and cfg.log.format == "json"
    sales = cfg.departments["sales"]
    assert sales.agents == ("alice", "bob") and sales.routing == "load_balancing"
    assert cfg.departments["support"].agents == ("carol",)
    assert cfg.agents["alice"].max_chats == 3 and cfg.routing.max_chats_per_agent == 5
    assert cfg.timers.on_hold_auto_close == timedelta(hours=1, minutes=30)
    merged = cfg.timers_for("sales")
    assert merged.abandoned.after == timedelta(minutes=15)
    assert merged.abandoned.action == "hold"  # inherited from the global timer
    assert cfg.timers_for("support").abandoned.after == timedelta(hours=1)
    assert cfg.canned[0].scope == "department:sales"
    assert cfg.contacts.fields["customer_id"].label == "Customer ID"
    assert cfg.permissions.overrides["close-others-livechat-room"] == ("admin",)
    with pytest.raises(TypeError):
        cfg.departments["x"] = sales  # frozen all the way down


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("30m", timedelta(minutes=30)),
        ("1h", timedelta(hours=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2d", timedelta(days=2)),
        ("0", timedelta(0)),
        (0, timedelta(0)),
    ],
)
def test_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "5", 5, "1x", "m30", "1.5h", "h"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


# --- error paths: each names file, line and key ---------------------------------------------


def test_wrong_enum_value(tmp_path):
    msg = one_error(
        tmp_path,
        """\
        departments:
          sales:
            routing: round-robin
        """,
        7,
        "departments.sales.routing",
    )
    assert msg == ("expected one of manual, auto, load_balancing, load_rotation, got 'round-robin'")


def test_unknown_key_did_you_mean(tmp_path):
    msg = one_error(tmp_path, "comands:\n  prefixes: ['!']\n", 5, "comands")
    assert msg == "unknown key; did you mean 'commands'?"


def test_unknown_nested_key_lists_the_allowed(tmp_path):
    msg = one_error(tmp_path, "log:\n  zzz: 1\n", 6, "log.zzz")
    assert msg == "unknown key; expected one of level, format"


def test_wrong_bool(tmp_path):
    msg = one_error(tmp_path, "close:\n  require_comment: sometimes\n", 6, "close.require_comment")
    assert "expected true or false" in msg


def test_wrong_int_and_below_minimum(tmp_path):
    errs = errors(
        tmp_path, "routing:\n  max_chats_per_agent: lots\nagents:\n  al: {max_chats: -1}\n"
    )
    path = tmp_path / "omnicat.yaml"
    assert errs == [
        f"{path}:6 routing.max_chats_per_agent: expected a whole number, got 'lots'",
        f"{path}:8 agents.al.max_chats: expected a number >= 0, got -1",
    ]


def test_wrong_duration(tmp_path):
    msg = one_error(
        tmp_path, "timers:\n  abandoned:\n    after: 5 minutes\n", 7, "timers.abandoned.after"
    )
    assert "expected a duration like 30s, 30m, 1h" in msg and "'5 minutes'" in msg


def test_wrong_duration_in_department_override(tmp_path):
    one_error(
        tmp_path,
        "departments:\n  s:\n    timers:\n      on_hold_auto_close: soon\n",
        8,
        "departments.s.timers.on_hold_auto_close",
    )


def test_missing_env_var(tmp_path):
    msg = one_error(
        tmp_path, "store:\n  url: ${OMNICAT_DB_URL}\n", 6, "store.url", env={"OTHER": "x"}
    )
    assert "environment variable OMNICAT_DB_URL is not set" in msg


def test_env_interpolation_defaults_escape_and_types(tmp_path):
    cfg = load_config(
        write(
            tmp_path,
            """\
            store: {url: "sqlite:///${DATA:-/data}/omnicat.db"}
            site_name: "Costs $$5 ${NAME}"
            transcripts:
              email: {host: smtp, port: "${SMTP_PORT}", from: a@b.c, password: "${SMTP_PW:-}"}
            close: {require_comment: "${REQ}"}
            """,
        ),
        env={"NAME": "Acme", "SMTP_PORT": "2525", "REQ": "false"},
    )
    assert cfg.store.url == "sqlite:////data/omnicat.db"
    assert cfg.site_name == "Costs $5 Acme"
    assert cfg.transcripts.email.port == 2525
    assert cfg.close.require_comment is False


def test_env_value_of_wrong_type(tmp_path):
    msg = one_error(
        tmp_path,
        "transcripts:\n  email:\n    port: ${PORT}\n",
        7,
        "transcripts.email.port",
        env={"PORT": "smtp"},
    )
    assert msg == "expected a whole number, got 'smtp'"


def test_broken_yaml_names_the_line(tmp_path):
    errs = errors(tmp_path, "log:\n  level: [INFO\nhttp: {}\n")
    assert len(errs) == 1
    assert errs[0].startswith(f"{tmp_path / 'omnicat.yaml'}:6: invalid YAML: this [ is not closed")


def test_tab_indentation_is_broken_yaml(tmp_path):
    errs = errors(tmp_path, "log:\n\tlevel: INFO\n")
    assert errs[0].startswith(f"{tmp_path / 'omnicat.yaml'}:6: invalid YAML")


def test_empty_file(tmp_path):
    errs = errors(tmp_path, "", server=False)
    assert errs == [
        f"{tmp_path / 'omnicat.yaml'}: the file is empty; at least `server` is required"
    ]


def test_unreadable_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "missing.yaml")
    assert info.value.errors[0].startswith(f"{tmp_path / 'missing.yaml'}: cannot read")


def test_top_level_not_a_mapping(tmp_path):
    errs = errors(tmp_path, "- a\n- b\n", server=False)
    assert errs[0].startswith(f"{tmp_path / 'omnicat.yaml'}:1: expected a mapping")


def test_section_given_a_scalar(tmp_path):
    msg = one_error(tmp_path, "log: loud\n", 5, "log")
    assert msg == "expected a mapping with keys level, format"


def test_list_given_a_mapping(tmp_path):
    msg = one_error(tmp_path, "canned: {a: 1}\n", 5, "canned")
    assert msg == "expected a list"


def test_scalar_given_a_list(tmp_path):
    msg = one_error(tmp_path, "site_name: [a, b]\n", 5, "site_name")
    assert msg == "expected a single value, got a list"


def test_duplicate_key(tmp_path):
    msg = one_error(tmp_path, "log:\n  level: INFO\n  level: DEBUG\n", 7, "log.level")
    assert msg == "duplicate key"


def test_duplicate_department(tmp_path):
    msg = one_error(tmp_path, "departments:\n  a: {}\n  a: {}\n", 7, "departments.a")
    assert msg == "duplicate key"


def test_missing_server_section(tmp_path):
    errs = errors(tmp_path, "log: {level: INFO}\n", server=False)
    assert errs == [f"{tmp_path / 'omnicat.yaml'}:1 server: required section is missing"]


def test_server_needs_one_auth_pair(tmp_path):
    path = tmp_path / "omnicat.yaml"
    errs = errors(tmp_path, "server:\n  url: http://x\n", server=False)
    assert errs == [f"{path}:1 server: expected username + password or user_id + token"]
    errs = errors(
        tmp_path,
        "server:\n  url: http://x\n  username: a\n  password: b\n  user_id: c\n  token: d\n",
        server=False,
    )
    assert errs == [
        f"{path}:1 server: give either username + password or user_id + token, not both"
    ]
    errs = errors(tmp_path, "server:\n  url: http://x\n  user_id: abc\n", server=False)
    assert errs == [f"{path}:1 server.token: required with user_id"]
    errs = errors(tmp_path, "server:\n  url: http://x\n  password: abc\n", server=False)
    assert errs == [f"{path}:1 server.username: required with password"]


def test_token_login_is_accepted(tmp_path):
    path = tmp_path / "omnicat.yaml"
    path.write_text("server:\n  url: https://x\n  user_id: U1\n  token: ${TOK}\n")
    cfg = load_config(path, env={"TOK": "tok-123456"})
    assert cfg.server.token == "tok-123456" and cfg.secrets() == ["tok-123456"]


def test_server_url_must_be_http(tmp_path):
    errs = errors(
        tmp_path, "server:\n  url: chat.example.com\n  username: a\n  password: b\n", False
    )
    assert errs == [
        f"{tmp_path / 'omnicat.yaml'}:2 server.url: expected an http:// or https:// URL, "
        "got 'chat.example.com'"
    ]


@pytest.mark.parametrize(
    ("body", "line", "key", "expected"),
    [
        ("http:\n  listen: 9090\n", 6, "http.listen", "expected host:port"),
        ("http:\n  listen: 'localhost:99999'\n", 6, "http.listen", "expected host:port"),
        ("commands:\n  prefixes: []\n", 6, "commands.prefixes", "at least one prefix"),
        ("commands:\n  prefixes: ['a b']\n", 6, "commands.prefixes", "without spaces"),
        ("commands:\n  rate_limit:\n    per: often\n", 7, "commands.rate_limit.per", "duration"),
        (
            "commands:\n  rate_limit:\n    per_second: fast\n",
            7,
            "commands.rate_limit.per_second",
            "expected a number, got 'fast'",
        ),
        (
            "commands:\n  rate_limit:\n    per_second: 0\n",
            7,
            "commands.rate_limit.per_second",
            "expected a number > 0",
        ),
        (
            "commands:\n  rate_limit:\n    burst: 20\n    count: 5\n",
            8,
            "commands.rate_limit.count",
            "give burst + per_second, or the older count + per, not both",
        ),
        (
            "commands:\n  rate_limit:\n    per: 10s\n",
            7,
            "commands.rate_limit.per",
            "goes with count",
        ),
        ("transcripts:\n  timezone: Mars/Base\n", 6, "transcripts.timezone", "time zone"),
        (
            "transcripts:\n  email:\n    security: tls\n",
            7,
            "transcripts.email.security",
            "expected one of starttls, ssl, none, got 'tls'",
        ),
        (
            "contacts:\n  fields:\n    id: {regex: '(['}\n",
            7,
            "contacts.fields.id.regex",
            "expected a regular expression",
        ),
        (
            "canned:\n  - {shortcut: 'two words', text: x}\n",
            6,
            "canned[0].shortcut",
            "expected a shortcut word",
        ),
        (
            "canned:\n  - {shortcut: a, text: x, scope: team}\n",
            6,
            "canned[0].scope",
            "expected global or department:<name>",
        ),
        ("intake:\n  room_name: 'omni-{num}'\n", 6, "intake.room_name", "name template"),
        ("calls:\n  provider: zoom\n", 6, "calls.provider", "expected one of jitsi, template"),
        (
            "timers:\n  agent_offline: {action: kick}\n",
            6,
            "timers.agent_offline.action",
            "expected one of none, forward, close",
        ),
        ("log:\n  format: xml\n", 6, "log.format", "expected one of text, json, got 'xml'"),
        ("departments:\n  - sales\n", 6, "departments", "expected a mapping of name: settings"),
    ],
)
def test_value_checks(tmp_path, body, line, key, expected):
    msg = one_error(tmp_path, body, line, key)
    assert expected in msg


def test_channel_intake_requires_room(tmp_path):
    msg = one_error(
        tmp_path, "intake:\n  channels:\n    - {department: null}\n", 7, "intake.channels[0].room"
    )
    assert msg == "required key is missing"


def test_canned_requires_text(tmp_path):
    msg = one_error(tmp_path, "canned:\n  - shortcut: hi\n", 6, "canned[0].text")
    assert msg == "required key is missing"


def test_unknown_departments_in_references(tmp_path):
    errs = errors(
        tmp_path,
        """\
        departments:
          sales:
            fallback: suport
            forward_to: [support, billing]
          support: {}
        intake:
          dm: {department: sale}
          channels:
            - {room: help, department: nope}
        canned:
          - {shortcut: a, text: x, scope: "department:x"}
        """,
    )
    path = tmp_path / "omnicat.yaml"
    assert errs == [
        f"{path}:7 departments.sales.fallback: unknown department 'suport'; "
        "did you mean 'support'?",
        f"{path}:8 departments.sales.forward_to[1]: unknown department 'billing'; "
        "known departments: sales, support",
        f"{path}:11 intake.dm.department: unknown department 'sale'; did you mean 'sales'?",
        f"{path}:13 intake.channels[0].department: unknown department 'nope'; "
        "known departments: sales, support",
        f"{path}:15 canned[0].scope: unknown department 'x'; known departments: sales, support",
    ]


def test_department_without_departments(tmp_path):
    msg = one_error(tmp_path, "intake:\n  dm:\n    department: sales\n", 7, "intake.dm.department")
    assert msg == "unknown department 'sales'; no departments are configured"


def test_fallback_to_itself(tmp_path):
    msg = one_error(tmp_path, "departments:\n  a: {fallback: a}\n", 6, "departments.a.fallback")
    assert msg == "a department cannot fall back to itself"


def test_require_tags_without_tags(tmp_path):
    msg = one_error(
        tmp_path, "departments:\n  a:\n    require_tags: true\n", 7, "departments.a.require_tags"
    )
    assert msg == "requires closing_tags to list the tags"


def test_duplicate_canned_shortcut(tmp_path):
    msg = one_error(
        tmp_path,
        "canned:\n  - {shortcut: hi, text: a}\n  - {shortcut: '!HI', text: b}\n",
        7,
        "canned[1].shortcut",
    )
    assert msg == "duplicate shortcut (also canned[0])"


def test_template_calls_need_a_template(tmp_path):
    msg = one_error(tmp_path, "calls:\n  provider: template\n", 5, "calls.url_template")
    assert msg == "required when calls.provider is template"


def test_email_host_needs_a_sender(tmp_path):
    msg = one_error(
        tmp_path,
        "transcripts:\n  email:\n    host: smtp.example.com\n",
        6,
        "transcripts.email.from",
    )
    assert msg == "required when transcripts.email.host is set"


def test_all_errors_are_collected(tmp_path):
    errs = errors(
        tmp_path,
        """\
        log: {level: LOUD, format: xml}
        departments:
          a: {routing: x, max_chats: -2, agents: [1, [2]]}
        http: {listen: nowhere}
        unknown_thing: 1
        """,
    )
    keys = [e.split(" ", 1)[1].split(":", 1)[0] for e in errs]
    assert keys == [
        "log.level",
        "log.format",
        "departments.a.routing",
        "departments.a.max_chats",
        "departments.a.agents[1]",
        "http.listen",
        "unknown_thing",
    ]


# --- fuzz: any YAML gives a Config or a ConfigError, never a crash ---------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from bot.config.load import parse_config  # noqa: E402

_KEYS = st.sampled_from(
    [
        "server",
        "url",
        "username",
        "password",
        "departments",
        "sales",
        "routing",
        "agents",
        "max_chats",
        "fallback",
        "timers",
        "abandoned",
        "after",
        "action",
        "intake",
        "channels",
        "room",
        "department",
        "canned",
        "shortcut",
        "text",
        "scope",
        "log",
        "level",
        "http",
        "listen",
        "transcripts",
        "email",
        "from",
        "contacts",
        "fields",
        "regex",
        "xx",
    ]
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**6),
    st.text(max_size=12),
    st.sampled_from(["30m", "0", "${NOPE}", "${A:-1}", "manual", "department:sales", "a:1"]),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_KEYS, inner, max_size=4)),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_KEYS, _VALUES, max_size=6))
def test_fuzz_random_configs(data):
    import yaml

    text = yaml.safe_dump(data)
    try:
        parse_config(text, "fuzz.yaml", env={})
    except ConfigError as exc:
        assert exc.errors and all(e.startswith("fuzz.yaml") for e in exc.errors)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_fuzz_random_text(text):
    try:
        parse_config(text, "fuzz.yaml", env={})
    except ConfigError as exc:
        assert exc.errors


def test_unsafe_yaml_tag_is_an_error_not_a_crash(tmp_path):
    msg = one_error(tmp_path, "site_name: !!python/name:os.system x\n", 5, "site_name")
    assert msg.startswith("unsupported YAML tag")


def test_aliases_cannot_expand_errors_or_values(tmp_path):
    """Anchors are fine, but the schema's fixed depth keeps a hostile alias chain small."""
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        levels.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    body = "x-anchors:\n" + "\n".join("  " + line for line in levels) + "\ncanned: *a8\n"
    errs = errors(tmp_path, body)
    assert 1 < len(errs) <= 11


def test_rate_limit_new_and_older_spellings(tmp_path):
    from bot.dispatch.ratelimit import settings_of

    body = "commands:\n  rate_limit:\n    burst: 30\n    per_second: 0.5\n"
    limit = load_config(write(tmp_path, body), env={}).commands.rate_limit
    assert settings_of(limit) == (30, 0.5)
    body = "commands:\n  rate_limit:\n    count: 5\n    per: 10s\n"
    limit = load_config(write(tmp_path, body), env={}).commands.rate_limit
    assert settings_of(limit) == (5, 0.5)
    body = "commands:\n  rate_limit: {count: 0}\n"
    assert settings_of(load_config(write(tmp_path, body), env={}).commands.rate_limit)[0] == 0
