"""The audience guard itself (tests/audience_guard.py) catches a leak and spares staff rooms."""

from __future__ import annotations

from audience_guard import Recorder
from chat import default_seed

from bot.devserver import DevServer


def test_the_guard_flags_agent_only_text_where_a_contact_reads() -> None:
    server = DevServer(default_seed(), port=0).start()
    try:
        recorder = Recorder()
        recorder.servers.append(server)
        general = server.room_by_name("general")["_id"]  # carol and dave are members
        staff_only = server.room_by_name("support-intake")["_id"]
        recorder.sending(general, "not recorded: nobody is telling agents anything")
        assert recorder.leaks() == []
        with recorder.agents_only():
            recorder.sending(staff_only, "Returned to the queue by @bob: rude customer")
        assert recorder.leaks() == []
        with recorder.agents_only():
            recorder.sending(general, "Returned to the queue by @bob: rude customer")
        (leak,) = recorder.leaks()
        assert general in leak and "rude customer" in leak
    finally:
        server.stop()
