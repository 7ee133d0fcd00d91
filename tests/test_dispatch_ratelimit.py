"""The command rate limit on its own: the token bucket, what a refused sender is told, and the
older `count`/`per` spelling. A fake clock, so nothing here depends on how fast the machine is."""

from __future__ import annotations

import threading
from datetime import timedelta
from types import SimpleNamespace

from bot.dispatch.ratelimit import (
    DEFAULT_BURST,
    DEFAULT_PER_SECOND,
    NOTICE_BURST,
    CommandLimit,
    TokenBucket,
    quote,
    settings_of,
)


def test_a_bucket_allows_its_burst_then_refills_at_its_rate():
    now = [100.0]
    bucket = TokenBucket(3, 2.0, clock=lambda: now[0])
    assert [bucket.take("u") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take("u") == 0.5  # one token every half second
    assert bucket.take("other") == 0.0  # per key
    now[0] += 0.5
    assert bucket.take("u") == 0.0
    assert bucket.wait("u") == 0.5
    now[0] += 60  # never more than the burst, however long one waits
    assert [bucket.take("u") for _ in range(4)] == [0.0, 0.0, 0.0, 0.5]


def test_a_burst_of_zero_is_unlimited():
    bucket = TokenBucket(0, 0.0)
    assert all(bucket.take("u") == 0.0 for _ in range(1000))


def test_defaults_let_a_quick_agent_work_and_old_settings_keep_their_meaning():
    assert settings_of(None) == (DEFAULT_BURST, DEFAULT_PER_SECOND)
    assert DEFAULT_BURST >= 20 and DEFAULT_PER_SECOND >= 2
    new = SimpleNamespace(burst=30, per_second=5.0, count=None, per=None)
    assert settings_of(new) == (30, 5.0)
    old = SimpleNamespace(count=5, per=timedelta(seconds=10))
    assert settings_of(old) == (5, 0.5)  # 5 at once, the same 5 per 10 s on average
    assert settings_of(SimpleNamespace(count=3, per=None)) == (3, 0.3)  # `per` was 10 s
    assert settings_of(SimpleNamespace(count=0, per=timedelta(seconds=10)))[0] == 0


def limit_with(clock, burst=2, per_second=1.0):
    delivered: list[tuple[str, str | None, str]] = []
    got = threading.Event()

    def deliver(rid, tmid, text):
        delivered.append((rid, tmid, text))
        got.set()

    return CommandLimit(burst, per_second, deliver=deliver, clock=clock), delivered, got


def test_a_refused_command_is_named_with_when_to_send_it_again():
    now = [0.0]
    limit, _delivered, _got = limit_with(lambda: now[0], burst=2, per_second=0.5)
    assert limit.admit("alice", "/take 3", ("dm", None)).allowed
    assert limit.admit("alice", "/hold", ("dm", None)).allowed
    verdict = limit.admit("alice", '/close "done" tags=billing', ("dm", None))
    assert not verdict.allowed
    assert verdict.notice == (
        "Too many commands at once (the limit is 2 at once, then one every 2 s): "
        'I did not run `/close "done" tags=billing`. Send it again in 2 s.'
    )
    limit.close()


def test_after_a_few_notices_the_rest_are_named_in_one_summary_per_room():
    now = [0.0]
    limit, delivered, got = limit_with(lambda: now[0], burst=1, per_second=1.0)
    assert limit.admit("bot-script", "/help", ("dm", None)).allowed
    notices = [limit.admit("bot-script", "/help", ("dm", None)) for _ in range(NOTICE_BURST)]
    assert all(not v.allowed and v.notice and "`/help`" in v.notice for v in notices)
    later = [limit.admit("bot-script", "/help", ("dm", None)) for _ in range(150)]
    later.append(limit.admit("bot-script", "/take 7", ("conv", "t1")))
    assert all(not v.allowed and v.notice is None for v in later)
    assert delivered == []
    assert got.wait(10)  # the summary timer (a real one: a few seconds)
    limit.close()
    by_room = {rid: (tmid, text) for rid, tmid, text in delivered}
    assert set(by_room) == {"dm", "conv"}
    assert "I did not run these 150 commands either: `/help` (150 times)." in by_room["dm"][1]
    assert by_room["conv"] == (
        "t1",
        "Still too many commands at once (the limit is 1 at once, then 1 per second): "
        "I did not run this command either: `/take 7`. "
        "Send again what you still need, at most 1 per second.",
    )


def test_a_clean_stop_delivers_the_pending_summary_at_once():
    now = [0.0]
    limit, delivered, _got = limit_with(lambda: now[0], burst=1, per_second=1.0)
    for n in range(1 + NOTICE_BURST + 2):
        limit.admit("u", f"/echo {n}", ("dm", None))
    limit.close()
    assert len(delivered) == 1
    assert "`/echo 4`, `/echo 5`" in delivered[0][2]


def test_a_summary_names_many_distinct_commands_and_counts_the_rest():
    limit, _delivered, _got = limit_with(lambda: 0.0)
    text = limit.summary({f"/echo {n}": 1 for n in range(40)})
    assert "`/echo 0`" in text and "`/echo 29`" in text and "`/echo 30`" not in text
    assert "and 10 other commands" in text and "these 40 commands" in text
    limit.close()


def test_quotes_are_one_short_line_without_backticks():
    assert quote("/close `x`\n  tags=a") == "/close 'x' tags=a"
    assert len(quote("/echo " + "x" * 500)) == 80
