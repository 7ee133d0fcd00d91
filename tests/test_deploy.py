"""Issue 17: what a deployer copies works the first time: the README's YAML, the default config
against the dev server, the Docker image's health check, the compose file, the store URL."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from chat import default_seed, free_port, wait_until

from bot.config.load import load_config, parse_config

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
# The snippets are parts of a file: they need a server and the departments they name.
BASE = """\
server: {url: http://chat.example.org, username: omnicat, password: pw}
departments:
  support: {}
  sales: {}
"""


def yaml_snippets(markdown: str) -> list[str]:
    return re.findall(r"^```yaml\n(.*?)^```", markdown, flags=re.M | re.S)


@pytest.mark.parametrize("snippet", yaml_snippets(README))
def test_every_yaml_snippet_of_the_readme_passes_check_config(snippet: str) -> None:
    env = {"OMNICAT_DB_PASSWORD": "p@ss:w/rd", "HOSTNAME": "box-1"}
    parse_config(BASE + snippet, "README.md", env=env)


def test_the_readme_has_yaml_snippets_to_check() -> None:
    assert len(yaml_snippets(README)) >= 2


# --- the store URL -------------------------------------------------------------------------

PASSWORD = "p@ss:w/rd%#?"


def store_config(url: str) -> Any:
    text = BASE + f"store:\n  url: {url}\n  password: ${{DB_PASSWORD}}\n"
    return parse_config(text, "omnicat.yaml", env={"DB_PASSWORD": PASSWORD})


def test_a_database_password_with_url_characters_keeps_the_url_whole() -> None:
    from sqlalchemy.engine import make_url

    url = make_url(
        store_config("postgresql+psycopg://omnicat@db.example.org:5432/omnicat").store.url
    )
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "omnicat",
        PASSWORD,
        "db.example.org",
        5432,
        "omnicat",
    )


def test_store_password_and_a_password_in_the_url_is_refused() -> None:
    from bot.config.load import ConfigError

    with pytest.raises(ConfigError) as info:
        store_config("postgresql+psycopg://omnicat:other@db:5432/omnicat")
    assert info.value.errors == [
        "omnicat.yaml:7 store.password: store.url has a password too; give it in one place"
    ]


def test_the_store_opens_postgresql_with_such_a_password(pg_database: Any) -> None:
    from sqlalchemy.engine import make_url

    from bot.store import Store

    database = make_url(pg_database())
    bare = database.set(password=None).render_as_string(hide_password=False)
    config = store_config(bare)
    store = Store(config.store.url)
    try:
        assert store.engine.url.host == database.host and store.engine.url.password == PASSWORD
        assert store.engine.url.database == database.database
    finally:
        store.close()


# --- Docker and compose ---------------------------------------------------------------------


def test_dockerignore_keeps_the_venv_git_and_caches_out() -> None:
    entries = (ROOT / ".dockerignore").read_text().split()
    for needed in (".venv/", ".git/", "**/__pycache__/", ".pytest_cache/", ".ruff_cache/", "*.db"):
        assert needed in entries
    # ... and not what the image builds from
    for kept in ("bot", "commands", "config", "README.md", "setup.cfg", "pyproject.toml"):
        assert not any(e.strip("/") == kept for e in entries)


def test_license_is_the_mit_licence_setup_cfg_names() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n\nCopyright (c) 2026 the Omnicat authors\n")
    assert "license = MIT" in (ROOT / "setup.cfg").read_text()


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.example.yml").read_text())


def test_compose_file_starts_without_values_only_its_own_steps_create() -> None:
    services = compose()["services"]
    text = (ROOT / "docker-compose.example.yml").read_text()
    # Required up front: only secrets the deployer chooses; never the token made later.
    required = set(re.findall(r"\$\{(\w+):\?", text))
    assert required == {"OMNICAT_PASSWORD", "OMNICAT_DB_PASSWORD"}
    for name in ("omnicat-a", "omnicat-b"):
        env = services[name]["environment"]
        assert "OMNICAT_TOKEN" not in env and "OMNICAT_USER_ID" not in env
        assert env["OMNICAT_INSTANCE"] == name
    # No config file to write first: the image's own is used unless one is mounted.
    assert "volumes" not in services["omnicat-a"]


def test_compose_environment_makes_the_image_config_valid() -> None:
    """The variables compose gives (with .env's secrets) load the image's config as HA on
    PostgreSQL, with the password put into the URL escaped."""
    env = {
        k: str(v).replace("${PORT:-3000}", "3000")
        for k, v in compose()["services"]["omnicat-a"]["environment"].items()
    }
    env.update(OMNICAT_PASSWORD="bot:pw", OMNICAT_DB_PASSWORD="a@b:c/d", OMNICAT_USERNAME="omnicat")
    env["OMNICAT_HTTP_LISTEN"] = dockerfile_env()["OMNICAT_HTTP_LISTEN"]
    cfg = load_config(ROOT / "config" / "omnicat.yaml", env=env)
    assert cfg.ha.enabled and cfg.ha.instance == "omnicat-a"
    assert cfg.server.url == "http://rocketchat:3000" and cfg.server.password == "bot:pw"
    assert cfg.store.url == "postgresql+psycopg://omnicat:a%40b%3Ac%2Fd@postgres:5432/omnicat"
    assert cfg.http.listen == "0.0.0.0:9090"


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def dockerfile_env() -> dict[str, str]:
    env = {}
    for line in re.findall(r"^ENV (.+)$", dockerfile(), flags=re.M):
        if "=" in line and "\\" not in line:
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def healthcheck_command() -> list[str]:
    match = re.search(r"^HEALTHCHECK .*?CMD (\[.*?\])$", dockerfile(), flags=re.M | re.S)
    assert match, "the Dockerfile has no HEALTHCHECK CMD [...]"
    return json.loads(match.group(1))


def test_the_image_copies_its_default_config_where_the_entrypoint_reads_it() -> None:
    text = dockerfile()
    assert "COPY config/omnicat.yaml /config/omnicat.yaml" in text
    assert 'ENTRYPOINT ["omnicat", "run", "-c", "/config/omnicat.yaml"]' in text


def test_healthcheck_passes_against_omnicat_run_with_the_default_config(tmp_path: Path) -> None:
    """The image's HEALTHCHECK, as written, against `omnicat run` with the shipped config and
    the image's environment, logging in to the dev server with the config's default password.
    (Only the port moves off 9090, which may be taken on a shared test machine.)"""
    from bot.devserver import DevServer

    listen = dockerfile_env()["OMNICAT_HTTP_LISTEN"]
    assert listen.endswith(":9090")
    port = free_port()
    command = [sys.executable if part == "python" else part for part in healthcheck_command()]
    command = [part.replace(":9090/", f":{port}/") for part in command]
    assert any(f":{port}/healthz" in part for part in command), command

    def healthcheck() -> int:
        return subprocess.run(command, capture_output=True, timeout=10).returncode

    server = DevServer(default_seed(), port=free_port()).start()
    run = None
    try:
        assert healthcheck() != 0  # nothing listens yet: unhealthy
        run = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bot.runtime.cli",
                "run",
                "-c",
                str(ROOT / "config" / "omnicat.yaml"),
            ],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={
                **{k: v for k, v in os.environ.items() if not k.startswith("OMNICAT_")},
                "PYTHONPATH": str(ROOT),
                "OMNICAT_SERVER_URL": server.url,
                "OMNICAT_HTTP_LISTEN": listen.replace("0.0.0.0:9090", f"127.0.0.1:{port}"),
            },
        )

        def healthy() -> bool:
            if run.poll() is not None:
                raise AssertionError(f"omnicat run exited: {run.communicate()[1]}")
            return healthcheck() == 0

        wait_until(healthy, 40, "the image's healthcheck to pass")
    finally:
        if run is not None:
            run.terminate()
            run.communicate(timeout=30)
        server.stop()


def test_readme_and_ci_install_the_same_apt_packages() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    listed = re.search(r"apt_packages=\((.*?)\)", ci).group(1).split()
    command = re.search(r"sudo apt-get install -y ([^&]+)&&", README).group(1).split()
    assert set(listed) <= set(command), (listed, command)
