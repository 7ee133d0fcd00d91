"""REST `method.call/:method` (any DDP method over REST, RC's ddp-rest bridge) and
`commands.run` with the `/invite` slash command (RC `apps/meteor/app/api/server/v1/misc.ts`,
`v1/commands.ts`)."""

from __future__ import annotations

import json
from typing import Any

from ..ddp import Session
from ..ddp_methods import MatchFailed
from ..membership import invite_command
from ..model import MeteorError, wire
from .http import Req, Routes, failure, invalid

routes = Routes()


@routes.post("method.call")
@routes.post("method.call/:method")
async def method_call(req: Req) -> dict:
    raw = req.params.get("message")
    if not isinstance(raw, str):
        raise invalid("must have required property 'message'")
    try:
        data = json.loads(raw)
    except ValueError:
        raise failure("Invalid message") from None
    if not isinstance(data, dict):
        raise failure("Invalid message")
    mid, name, params = data.get("id"), data.get("method"), data.get("params", [])
    if "method" in req.path and req.path["method"] != name:
        raise failure("Method name does not match the URL")
    if not isinstance(name, str) or not isinstance(params, list):
        raise failure("Invalid message")
    answer: dict[str, Any] = {"msg": "result", "id": mid}
    # The REST caller acts as a DDP session of its own, logged in as itself.
    session = Session(ws=None, user=req.user, connected=True)  # type: ignore[arg-type]
    try:
        if name in ("login", "logout"):
            raise MeteorError(404, f"Method '{name}' not found")
        result = await req.srv.ddp.call(session, name, params, rate_limit=False)
        answer["result"] = wire(result, "ddp")
    except MeteorError as e:
        answer["error"] = e.ddp()
    except (TypeError, KeyError, AttributeError, IndexError, ValueError):
        answer["error"] = MatchFailed().ddp()
    except Exception:
        req.srv.log.exception("method.call %s failed", name)
        answer["error"] = MeteorError(500, "Internal server error").ddp()
    req.srv.record("ddp", name, req.user, params, answer.get("error", {}).get("error", "ok"))
    return {"message": json.dumps(answer, separators=(",", ":"))}


@routes.post("commands.run")
def commands_run(req: Req) -> dict:
    command = req.params.get("command")
    if not isinstance(command, str):
        raise failure("The command provided is not valid")
    rid = req.params.get("roomId")
    params = req.params.get("params") or ""
    if not isinstance(rid, str) or not isinstance(params, str):
        raise invalid("must have required property 'roomId'")
    if command.lower() != "invite":
        raise failure("The command provided does not exist (or is disabled).")
    room = req.st.room(rid)
    if room is None or not req.st.can_access(req.user, room):
        raise req.api.forbidden()
    invite_command(req.st, req.user, room, params)
    return {}
