"""A small realtime (DDP) test client on websocket-client, for any test that needs one.

    c = DDPTestClient(server.ws_url).connect("1")
    c.login_password("alice", "alice-dev")          # or login_digest / login_resume
    c.sub("stream-room-messages", "__my_messages__", True)
    frame = c.wait(lambda f: f.get("msg") == "changed")

A reader thread collects every frame in `frames` and answers server pings (like real clients).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import websocket

Frame = dict[str, Any]


class DDPError(Exception):
    def __init__(self, error: dict[str, Any]):
        super().__init__(error.get("reason"))
        self.error = error


class DDPTestClient:
    def __init__(self, url: str, *, answer_pings: bool = True, timeout: float = 10.0) -> None:
        self.url = url
        self.answer_pings = answer_pings
        self.timeout = timeout
        self.frames: list[Frame] = []
        self.raw: list[str] = []
        self.closed = threading.Event()
        self.close_code: int | None = None
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self.ws = websocket.create_connection(url, timeout=timeout)
        self.user_id: str | None = None
        self.token: str | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            while True:
                opcode, data = self.ws.recv_data(control_frame=False)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    if len(data) >= 2:
                        self.close_code = int.from_bytes(data[:2], "big")
                    break
                text = data.decode("utf-8", "replace")
                try:
                    frame = json.loads(text)
                except ValueError:
                    frame = {"_unparsed": text}
                if self.answer_pings and isinstance(frame, dict) and frame.get("msg") == "ping":
                    self.send({"msg": "pong", **({"id": frame["id"]} if "id" in frame else {})})
                with self._cond:
                    self.raw.append(text)
                    self.frames.append(frame)
                    self._cond.notify_all()
        except Exception:
            pass
        finally:
            self.closed.set()
            with self._cond:
                self._cond.notify_all()

    # ---- sending -----------------------------------------------------------------------------

    def send(self, frame: Frame | str) -> None:
        self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    def next_id(self) -> str:
        return str(next(self._ids))

    def connect(self, version: str = "1") -> DDPTestClient:
        self.send({"msg": "connect", "version": version, "support": [version]})
        self.wait(lambda f: f.get("msg") in ("connected", "failed"))
        return self

    def call(self, method: str, *params: Any, timeout: float | None = None) -> Frame:
        """Send a method and return its `result` frame (which may carry `error`)."""
        mid = self.next_id()
        self.send({"msg": "method", "id": mid, "method": method, "params": list(params)})
        return self.wait(lambda f: f.get("msg") == "result" and f.get("id") == mid, timeout)

    def result(self, method: str, *params: Any) -> Any:
        frame = self.call(method, *params)
        if "error" in frame:
            raise DDPError(frame["error"])
        return frame.get("result")

    def _logged_in(self, result: dict) -> dict:
        self.user_id, self.token = result["id"], result["token"]
        return result

    def login_digest(self, username: str, password: str) -> dict:
        digest = hashlib.sha256(password.encode()).hexdigest()
        return self._logged_in(
            self.result(
                "login",
                {
                    "user": {"username": username},
                    "password": {"digest": digest, "algorithm": "sha-256"},
                },
            )
        )

    def login_password(self, username: str, password: str) -> dict:
        return self._logged_in(
            self.result("login", {"password": password, "user": {"username": username}})
        )

    def login_resume(self, token: str) -> dict:
        return self._logged_in(self.result("login", {"resume": token}))

    def sub(self, name: str, *params: Any, wait: bool = True) -> tuple[str, Frame | None]:
        """Subscribe; with `wait`, return the `ready` or `nosub` frame."""
        sid = self.next_id()
        self.send({"msg": "sub", "id": sid, "name": name, "params": list(params)})
        if not wait:
            return sid, None
        return sid, self.wait(
            lambda f: (
                (f.get("msg") == "ready" and sid in f.get("subs", []))
                or (f.get("msg") == "nosub" and f.get("id") == sid)
            )
        )

    # ---- receiving ---------------------------------------------------------------------------

    def wait(
        self, pred: Callable[[Frame], bool], timeout: float | None = None, *, start: int = 0
    ) -> Frame:
        """The first frame (from index `start`) matching `pred`; TimeoutError otherwise."""
        deadline = time.monotonic() + (timeout or self.timeout)
        with self._cond:
            while True:
                for f in self.frames[start:]:
                    if isinstance(f, dict) and pred(f):
                        return f
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.closed.is_set() and not remaining > 0):
                    raise TimeoutError(f"no matching frame; got {self.frames[-5:]}")
                if self.closed.is_set():
                    # Nothing more will come; one last scan happened above.
                    raise TimeoutError(f"socket closed; last frames {self.frames[-5:]}")
                self._cond.wait(min(remaining, 0.5))

    def events(self, collection: str | None = None, event: str | None = None) -> list[Frame]:
        with self._cond:
            return [
                f
                for f in self.frames
                if isinstance(f, dict)
                and f.get("msg") == "changed"
                and (collection is None or f.get("collection") == collection)
                and (event is None or f.get("fields", {}).get("eventName") == event)
            ]

    def wait_event(
        self,
        collection: str,
        event: str,
        pred: Callable[[list], bool] = lambda a: True,
        timeout: float | None = None,
    ) -> list:
        """The `args` of the first matching stream event."""
        frame = self.wait(
            lambda f: (
                f.get("msg") == "changed"
                and f.get("collection") == collection
                and f.get("fields", {}).get("eventName") == event
                and pred(f["fields"]["args"])
            ),
            timeout,
        )
        return frame["fields"]["args"]

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:
            pass
        self._reader.join(5)

    def __enter__(self) -> DDPTestClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
