from __future__ import annotations

import threading

from bot.dispatch.ordering import KeyedSerialExecutor

TIMEOUT = 10


def test_one_room_in_order_while_other_rooms_run():
    ex = KeyedSerialExecutor(max_workers=4)
    release_a = threading.Event()
    done_b = threading.Event()
    order: dict[str, list[int]] = {"a": [], "b": []}
    active = {"a": 0, "b": 0}
    overlap: list[str] = []
    lock = threading.Lock()

    def job(room: str, n: int, gate: threading.Event | None = None) -> None:
        with lock:
            active[room] += 1
            if active[room] > 1:
                overlap.append(room)
        if gate is not None:
            assert gate.wait(TIMEOUT)
        with lock:
            order[room].append(n)
            active[room] -= 1

    ex.submit("a", job, "a", 0, release_a)  # room a is stuck on its first event
    for n in range(1, 20):
        ex.submit("a", job, "a", n)
    for n in range(20):
        ex.submit("b", job, "b", n)
    ex.submit("b", done_b.set)
    # room b finishes completely while room a is still blocked: rooms run concurrently
    assert done_b.wait(TIMEOUT)
    assert order["a"] == [] and order["b"] == list(range(20))
    release_a.set()
    assert ex.wait_idle(TIMEOUT)
    assert order["a"] == list(range(20))
    assert overlap == []
    assert ex.stop(TIMEOUT)


def test_a_failing_job_does_not_stop_the_room():
    ex = KeyedSerialExecutor(max_workers=2)
    seen = []

    def boom() -> None:
        raise RuntimeError("x")

    ex.submit("r", boom)
    ex.submit("r", seen.append, 1)
    assert ex.wait_idle(TIMEOUT)
    assert seen == [1]
    ex.stop(TIMEOUT)


def test_stop_finishes_queued_work_and_refuses_new():
    ex = KeyedSerialExecutor(max_workers=2)
    gate = threading.Event()
    seen = []
    ex.submit("r", gate.wait, TIMEOUT)
    ex.submit("r", seen.append, 1)
    stopper = threading.Thread(target=lambda: seen.append(("stopped", ex.stop(TIMEOUT))))
    stopper.start()
    gate.set()
    stopper.join(TIMEOUT)
    assert seen == [1, ("stopped", True)]
    assert ex.submit("r", seen.append, 2) is False


def test_jobs_wait_for_a_busy_pool_and_all_run_in_each_rooms_order():
    ex = KeyedSerialExecutor(max_workers=2)
    seen: dict[str, list[int]] = {}
    lock = threading.Lock()

    def job(room: str, n: int) -> None:
        with lock:
            seen.setdefault(room, []).append(n)

    for n in range(200):
        for room in ("a", "b", "c", "d", "e"):
            ex.submit(room, job, room, n)
    assert ex.wait_idle(30)
    assert seen == {room: list(range(200)) for room in ("a", "b", "c", "d", "e")}
    ex.stop(10)
