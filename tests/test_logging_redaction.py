"""Logs never show a password or token, whichever logger wrote them and in which format."""

from __future__ import annotations

import io
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from bot.config.load import parse_config
from bot.runtime.logsetup import REDACTED, Redactor, setup_from_config, setup_logging

PASSWORD = "pa55-w0rd-secret"
TOKEN = "tok-9f8e7d6c5b4a"
SMTP_PASSWORD = "smtp-hunter2"
SESSION = "ZxCvBnM-session-token"  # a token the server hands out at login: never configured


@pytest.fixture
def restore_root():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


class _Echo(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._ok()

    def do_GET(self):
        self._ok()

    def _ok(self):
        body = json.dumps({"status": "success", "data": {"authToken": SESSION}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _config(fmt: str):
    return parse_config(
        f"""
server:
  url: http://127.0.0.1:1
  username: bot
  password: ${{PW}}
log: {{level: DEBUG, format: {fmt}}}
transcripts:
  email: {{host: smtp, from: a@b.c, password: "${{SMTP}}"}}
""",
        "t.yaml",
        env={"PW": PASSWORD, "SMTP": SMTP_PASSWORD},
    )


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_debug_run_logs_no_secrets(restore_root, fmt):
    stream = io.StringIO()
    cfg = _config(fmt)
    setup_from_config(cfg, stream=stream)
    # The user id + token pair the bot gets after login; the runtime adds it to the redactor.
    log = logging.getLogger("bot.test")

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{httpd.server_address[1]}"
        session = requests.Session()
        session.headers["X-Auth-Token"] = TOKEN
        # urllib3 logs the request line, including the query string.
        session.get(f"{base}/api/v1/me?token={TOKEN}&password={PASSWORD}", timeout=10)
        session.post(f"{base}/api/v1/login", json={"user": "bot", "password": PASSWORD}, timeout=10)
    finally:
        httpd.shutdown()
        httpd.server_close()

    # What library loggers print at DEBUG: websocket-client traces headers and frames.
    logging.getLogger("websocket").debug("--- request header ---\nX-Auth-Token: %s\n", TOKEN)
    logging.getLogger("websocket").debug(
        '++Sent raw: {"msg":"method","method":"login","params":[{"resume":"%s"}]}', SESSION
    )
    logging.getLogger("urllib3.connectionpool").debug(
        "headers {'X-Auth-Token': '%s', 'X-User-Id': 'U1'}", SESSION
    )
    log.debug("login %s", {"user": "bot", "password": PASSWORD})
    log.info("smtp login with %s", SMTP_PASSWORD)
    try:
        raise RuntimeError(f"login failed for bot:{PASSWORD} token={TOKEN}")
    except RuntimeError:
        log.exception("boom")

    text = stream.getvalue()
    assert "api/v1/me" in text  # the library's own DEBUG lines were captured
    assert "Traceback" in text or '"exc"' in text
    for secret in (PASSWORD, TOKEN, SMTP_PASSWORD, SESSION):
        assert secret not in text, f"{secret} leaked:\n{text}"
    assert REDACTED in text
    if fmt == "json":
        for line in text.splitlines():
            entry = json.loads(line)
            assert {"ts", "level", "logger", "message"} <= entry.keys()


def test_redactor_patterns():
    r = Redactor(["s3cret-value"])
    assert r("x s3cret-value y") == "x *** y"
    assert r("X-Auth-Token: abcdef") == "X-Auth-Token: ***"
    assert r("{'X-Auth-Token': 'abcdef'}") == "{'X-Auth-Token': '***'}"
    assert r('{"password": "p w"}') == '{"password": "***"}'
    assert r('{"digest": "abc123"}') == '{"digest": "***"}'
    assert r("GET /x?authToken=abc&b=1") == "GET /x?authToken=***&b=1"
    assert r("Authorization: Bearer abc.def") == "Authorization: Bearer ***"
    assert r("nothing to hide") == "nothing to hide"


def test_secrets_added_later_are_redacted(restore_root):
    stream = io.StringIO()
    redactor = setup_logging("INFO", "text", [], stream=stream)
    redactor.add("late-session-token")
    logging.getLogger("x").info("got late-session-token")
    assert "late-session-token" not in stream.getvalue()


def test_setup_is_idempotent(restore_root):
    stream = io.StringIO()
    setup_logging("INFO", "text", stream=stream)
    setup_logging("INFO", "text", stream=stream)
    logging.getLogger("x").info("once")
    assert stream.getvalue().count("once") == 1


@pytest.mark.parametrize("given_apart", [True, False], ids=["store.password", "in store.url"])
def test_the_store_password_is_redacted_plain_and_as_escaped_into_the_url(
    restore_root, given_apart
):
    plain, escaped = "p@ss:w/rd%#?", "p%40ss%3Aw%2Frd%25%23%3F"
    url = "postgresql+psycopg://omnicat{}@db.example.org:5432/omnicat"
    store = (
        f"store: {{url: '{url.format('')}', password: '${{DB}}'}}"
        if given_apart
        else f"store: {{url: '{url.format(':' + escaped)}'}}"
    )
    text = f"server: {{url: http://127.0.0.1:1, username: bot, password: pw}}\n{store}\n"
    config = parse_config(text, "t.yaml", env={"DB": plain})
    assert escaped in config.store.url  # escaped into the URL either way
    assert plain in config.secrets() and escaped in config.secrets()
    stream = io.StringIO()
    setup_from_config(config, stream)
    logging.getLogger("sqlalchemy.engine").warning("cannot connect to %s", config.store.url)
    logging.getLogger("x").warning("the driver said: bad password %r", plain)
    logged = stream.getvalue()
    assert "omnicat:***@db.example.org" in logged
    assert plain not in logged and escaped not in logged
