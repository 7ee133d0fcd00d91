"""The high-availability lease on a real PostgreSQL: one holder, takeover after expiry, fencing.

Time on the local side is a fake monotonic clock (a "frozen" process is one whose clock jumped);
the database's expiry is real, so the takeover tests use a lease of about a second.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from chat import config_from_dict

from bot.config.load import ConfigError, parse_config
from bot.runtime.lease import Fenced, FencedChat, Lease
from bot.store import Store
from bot.store.schema_runtime import kv


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def pg_url(pg_database: Any) -> str:
    url = pg_database()
    Store(url).close()  # migrations: the lease row's table
    return url


def make(url: str, name: str, *, ttl: float = 1.0, clock: Any = time.monotonic) -> Lease:
    return Lease(url, ttl=ttl, heartbeat=ttl / 4, holder=name, clock=clock)


def test_one_holder_then_takeover_after_expiry_with_the_next_epoch(pg_url: str) -> None:
    a, b = make(pg_url, "a"), make(pg_url, "b")
    try:
        assert a.try_acquire() and a.epoch == 1
        assert not b.try_acquire()
        assert b.current().holder == "a"
        assert a.renew()
        time.sleep(1.3)  # a stops renewing (dead): the row expires in the database's clock
        assert b.try_acquire() and b.epoch == 2
        assert not a.renew() and a.lost.is_set()  # the old holder learns it lost
        assert b.current().holder == "b" and b.current().epoch == 2
    finally:
        a.close()
        b.close()


def test_a_clean_release_lets_the_standby_in_at_once(pg_url: str) -> None:
    a, b = make(pg_url, "a", ttl=30), make(pg_url, "b", ttl=30)
    try:
        assert a.try_acquire()
        a.release()
        assert b.try_acquire() and b.epoch == 2
    finally:
        a.close()
        b.close()


def test_store_writes_of_a_deposed_holder_are_fenced(pg_url: str) -> None:
    behind = [0.0]  # how far a's local clock lags behind the real one
    a = make(pg_url, "a", clock=lambda: time.monotonic() - behind[0])
    b = make(pg_url, "b")
    store_a = Store(pg_url, fence=a.fence)
    store_b = Store(pg_url, fence=b.fence)
    try:
        assert a.try_acquire()
        store_a.kv_set("owner", "a")
        with pytest.raises(Fenced):
            store_b.kv_set("owner", "b")  # b never held it
        time.sleep(1.3)
        assert b.try_acquire()
        # a's local clock says it still holds it (a real clock that did not notice a pause
        # would be worse: here only the database can tell) -> the database fence refuses
        behind[0] = 60.0
        with pytest.raises(Fenced):
            store_a.kv_set("owner", "a again")
        assert a.lost.is_set()
        store_b.kv_set("owner", "b")
        assert store_b.kv_get("owner") == "b"
    finally:
        store_a.close()
        store_b.close()
        a.close()
        b.close()


def test_a_takeover_waits_for_the_old_holders_transaction_in_flight(pg_url: str) -> None:
    """The old holder's transaction that passed the fence commits before the new epoch exists:
    the new holder's reads after its takeover see everything the old one did."""
    a, b = make(pg_url, "a"), make(pg_url, "b")
    store_a = Store(pg_url, fence=a.fence)
    inside, took = threading.Event(), threading.Event()
    try:
        assert a.try_acquire()

        def slow_write() -> None:
            with store_a.transaction() as conn:
                inside.set()
                time.sleep(1.6)  # past a's expiry, while b tries to take over
                conn.execute(kv.insert().values(key="last-act", value="a"))

        writer = threading.Thread(target=slow_write)
        writer.start()
        inside.wait(5)
        time.sleep(1.1)
        deadline = time.monotonic() + 10
        while not b.try_acquire():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        took.set()
        writer.join(10)
        with Store(pg_url).reading() as conn:
            assert conn.execute(sa.select(kv.c.value).where(kv.c.key == "last-act")).scalar() == "a"
    finally:
        store_a.close()
        a.close()
        b.close()


def test_a_lapsed_lease_refuses_chat_effects_and_is_never_renewed(pg_url: str) -> None:
    clock = FakeClock()
    lease = make(pg_url, "a", ttl=10, clock=clock)
    lost: list[str] = []
    lease.on_lost(lost.append)
    sent: list[str] = []

    class Chat:
        bot_user = "omnicat"

        def post(self, rid: str, text: str) -> None:
            sent.append(text)

    chat = FencedChat(Chat(), lease)
    try:
        assert lease.try_acquire()
        chat.post("r", "hello")
        clock.now += 30  # SIGSTOP for 30 s, then SIGCONT
        with pytest.raises(Fenced):
            chat.post("r", "a reply from the past")
        assert sent == ["hello"] and chat.bot_user == "omnicat"
        assert len(lost) == 1 and "lapsed" in lost[0]
        assert not lease.renew()  # even though nobody took over yet
    finally:
        lease.close()


def test_an_active_instance_that_loses_the_database_lets_the_lease_lapse(pg_url: str) -> None:
    """Renewals fail (the database is gone for this instance): the lease is not lost at the
    first failure, but once a whole lease passed without a renewal it is, and never comes
    back by itself: the instance steps down and competes again as a standby."""
    from chat import free_port

    clock = FakeClock()
    lease = make(pg_url, "a", ttl=10, clock=clock)
    try:
        assert lease.try_acquire()
        good = lease.engine
        lease.engine = sa.create_engine(
            f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/x",
            connect_args={"connect_timeout": 1},
        )
        clock.now += 3
        assert lease.renew() and not lease.lost.is_set()  # one failure: still ours
        clock.now += 8
        assert not lease.renew() and lease.lost.is_set()
        lease.engine.dispose()
        lease.engine = good
        assert not lease.renew()  # the database is back; the lapsed lease stays lost
        lease.forget()
        assert not lease.try_acquire()  # the row is still ours and unexpired in the db
    finally:
        lease.close()


def test_ha_needs_postgresql_and_a_sane_heartbeat(tmp_path: Path) -> None:
    base = {"server": {"url": "http://127.0.0.1:9", "username": "omnicat", "password": "x"}}
    with pytest.raises(ConfigError) as err:
        parse_config(yaml.safe_dump({**base, "ha": {"enabled": True}}), "bot.yaml", env={})
    assert "ha.enabled: needs a PostgreSQL store.url" in str(err.value)
    with pytest.raises(ConfigError) as err:
        parse_config(
            yaml.safe_dump(
                {
                    **base,
                    "store": {"url": "postgresql://db/omnicat"},
                    "ha": {"enabled": True, "lease_ttl": "4s", "heartbeat": "3s"},
                }
            ),
            "bot.yaml",
            env={},
        )
    assert "ha.heartbeat: must be positive and at most half of ha.lease_ttl" in str(err.value)
    cfg = config_from_dict(
        {**base, "store": {"url": "postgresql://db/omnicat"}, "ha": {"enabled": True}}
    )
    assert cfg.ha.lease_ttl.total_seconds() == 6 and cfg.ha.heartbeat.total_seconds() == 2


def test_two_runners_one_active_healthz_metrics_and_a_clean_handover(
    tmp_path: Path, pg_url: str
) -> None:
    """Two `HaRunner`s (what `omnicat run` does with ha.enabled) in threads on one dev server:
    one serves, the other stands by without a chat connection; `/healthz` and `/metrics` say
    which; a clean stop hands the lease over at once and the standby answers commands."""
    import json
    import urllib.request

    from chat import base_config, deep_merge, free_port, wait_until
    from reliability.scripts import Person

    from bot.devserver import DevServer
    from bot.runtime.ha import HaRunner
    from bot.runtime.root import Bot

    server = DevServer(Path(__file__).parent.parent / "config" / "devserver-seed.yaml").start()
    runners: dict[str, HaRunner] = {}
    threads: dict[str, threading.Thread] = {}
    stops: dict[str, threading.Event] = {}
    ports: dict[str, int] = {}

    def get(name: str, path: str) -> tuple[int, str]:
        url = f"http://127.0.0.1:{ports[name]}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except urllib.error.URLError:
            return 0, ""  # not listening yet

    try:
        for name in ("a", "b"):
            ports[name] = free_port()
            data = deep_merge(
                base_config(server.url, tmp_path / "unused.db"),
                {
                    "store": {"url": pg_url},
                    "http": {"listen": f"127.0.0.1:{ports[name]}"},
                    "ha": {"enabled": True, "lease_ttl": "4s", "heartbeat": "1s", "instance": name},
                },
            )
            stops[name] = threading.Event()
            runners[name] = HaRunner(config_from_dict(data), stops[name], bot_factory=Bot)
            threads[name] = threading.Thread(target=runners[name].run, daemon=True)
            threads[name].start()
            if name == "a":
                wait_until(lambda: runners["a"].role == "active", 30, "a active")
        wait_until(lambda: get("b", "/healthz")[0] == 200, 30, "b's /healthz")
        status, body = get("b", "/healthz")
        health = json.loads(body)
        assert status == 200 and health["role"] == "standby" and health["instance"] == "b"
        assert health["reason"] == "standby; active: a (epoch 1)"
        assert runners["b"].bot is None  # no connection to the chat server while standing by
        # active from the lease on, healthy once connected and caught up
        wait_until(lambda: get("a", "/healthz")[0] == 200, 30, "a's /healthz")
        status, body = get("a", "/healthz")
        assert status == 200 and json.loads(body)["role"] == "active"
        assert json.loads(body)["epoch"] == 1
        assert 'omnicat_ha_role{role="active"} 1.0' in get("a", "/metrics")[1]
        assert 'omnicat_ha_role{role="standby"} 1.0' in get("b", "/metrics")[1]

        alice = Person(server, "alice")
        assert alice.ask("/status available", 30) == "You are now available for chats."
        stops["a"].set()  # a clean stop: the lease is released, not left to expire
        threads["a"].join(30)
        wait_until(lambda: runners["b"].role == "active", 30, "b to take over")
        assert runners["b"].lease.epoch == 2
        told = alice.ask("/status not-available", 30) or ""
        assert told.startswith("You are now not available"), told
        metrics = get("b", "/metrics")[1]
        assert "omnicat_ha_takeovers_total 1.0" in metrics and "omnicat_ha_epoch 2.0" in metrics
    finally:
        for name, stop in stops.items():
            stop.set()
            threads[name].join(30)
        server.stop()
