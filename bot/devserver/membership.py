"""Methods that add people to rooms or read a room's history, over DDP and REST.

- DDP `addUsersToRoom({rid, users})`, `removeUserFromRoom({rid, username})`,
  `loadHistory(rid, end, limit, ls)` (RC `apps/meteor/app/lib/server/methods/addUsersToRoom.ts`,
  `server/methods/removeUserFromRoom.ts`, `server/methods/loadHistory.ts`);
- REST `method.call/:method` (any DDP method over REST, RC's ddp-rest bridge) and
  `commands.run` with the `/invite` slash command, which reports failures only as ephemeral
  messages (RC `app/slashcommands-invite/server/server.ts`).
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import TYPE_CHECKING, Any

from bot.rocketchat.models import parse_date

from . import contracts
from .ddp import MatchFailed, Session
from .livechat import add_users_to_room, remove_user_from_room
from .rest import Req, failure, invalid
from .state import MeteorError, State, User, wire

if TYPE_CHECKING:
    from .rest import Rest


def load_history(st: State, user: User, params: list) -> Any:
    rid = params[0] if params else None
    end = parse_date(params[1]) if len(params) > 1 else None
    limit = params[2] if len(params) > 2 and isinstance(params[2], int) else 20
    ls = parse_date(params[3]) if len(params) > 3 else None
    room = st.room(rid)
    if room is None or not st.can_access(user, room):
        return False
    msgs = st.history(room["_id"], latest=end)
    page = msgs[:limit] if limit > 0 else msgs
    first_unread, not_loaded = None, 0
    if ls is not None and page:
        oldest = page[-1]["ts"]
        if oldest > ls:
            unread = [m for m in st.messages.get(room["_id"], []) if ls < m["ts"] < oldest]
            not_loaded = len(unread)
            first_unread = unread[0] if unread else None
    return {"messages": page, "firstUnread": first_unread, "unreadNotLoaded": not_loaded}


def invite_command(st: State, user: User, room: dict[str, Any], params: str) -> None:
    """`/invite @a @b`: every problem becomes an ephemeral message to the caller."""
    names = [n.lstrip("@") for n in re.split(r"[\s,]+", params or "") if n.strip("@ ")]
    if not names:
        return
    users = [u for n in names if (u := st.find_user(n)) is not None and u.username == n]
    if not users:
        st.ephemeral(user, room["_id"], f"User {' @'.join(names)} does not exist.")
        return
    for target in users:
        if (room["_id"], target.id) in st.subs:
            st.ephemeral(user, room["_id"], f"Username {target.username} is already in here.")
            continue
        try:
            add_users_to_room(st, user, room["_id"], [target.username])
        except MeteorError as e:
            st.ephemeral(user, room["_id"], e.reason)


def register(rest: Rest) -> None:
    st, R, hub = rest.state, rest.route, rest.srv.ddp

    def ddp_add(s: Session, params: list) -> bool:
        user = hub._need_user(s, "addUsersToRoom")
        data = params[0] if params else None
        if not isinstance(data, dict) or not isinstance(data.get("rid"), str):
            raise MatchFailed()
        users = data.get("users")
        if not isinstance(users, list) or not all(isinstance(u, str) for u in users):
            raise MatchFailed()
        return add_users_to_room(st, user, data["rid"], users)

    def ddp_remove(s: Session, params: list) -> bool:
        user = hub._need_user(s, "removeUserFromRoom")
        data = params[0] if params else None
        if not isinstance(data, dict) or not isinstance(data.get("rid"), str):
            raise MatchFailed()
        if not isinstance(data.get("username"), str):
            raise MatchFailed()
        return remove_user_from_room(st, user, data["rid"], data["username"])

    def ddp_history(s: Session, params: list) -> Any:
        user = hub._need_user(s, "loadHistory")
        if not params or not isinstance(params[0], str):
            raise MatchFailed()
        return load_history(st, user, params)

    def ddp_users_of_room(s: Session, params: list) -> dict:
        """getUsersOfRoom(rid, showAll): the members, online ones only unless showAll."""
        user = hub._need_user(s, "getUsersOfRoom")
        if not params or not isinstance(params[0], str):
            raise MatchFailed()
        room = st.room(params[0])
        if room is None or not st.can_access(user, room):
            raise MeteorError("error-not-allowed", "Not allowed", {"method": "getUsersOfRoom"})
        show_all = bool(params[1]) if len(params) > 1 else False
        members = [u for u in st.members(room["_id"]) if show_all or u.status != "offline"]
        records = [
            {
                "_id": u.id,
                "username": u.username,
                "name": u.name,
                "status": u.status,
                "utcOffset": u.utc_offset,
            }
            for u in sorted(members, key=lambda u: u.username)
        ]
        return {"total": len(records), "records": records}

    hub.methods.update(
        {
            "addUsersToRoom": ddp_add,
            "removeUserFromRoom": ddp_remove,
            "loadHistory": ddp_history,
            "getUsersOfRoom": ddp_users_of_room,
        }
    )

    @R("POST", "method.call")
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
        if req.args and req.args[0] != name:
            raise failure("Method name does not match the URL")
        if not isinstance(name, str) or not isinstance(params, list):
            raise failure("Invalid message")
        answer: dict[str, Any] = {"msg": "result", "id": mid}
        fn = hub.methods.get(name)
        # The REST caller acts as a DDP session of its own, logged in as itself.
        session = Session(ws=None, user=req.user, connected=True)  # type: ignore[arg-type]
        try:
            if fn is None or name in ("login", "logout"):
                raise MeteorError(404, f"Method '{name}' not found")
            if (refusal := contracts.check_ddp(name, params)) is not None:  # issue 21
                raise MeteorError(refusal["error"], refusal["reason"], refusal.get("details"))
            result = fn(session, params)
            if asyncio.iscoroutine(result):
                result = await result
            answer["result"] = wire(result, "ddp")
        except MeteorError as e:
            answer["error"] = e.ddp()
        except (TypeError, KeyError, AttributeError, IndexError, ValueError):
            answer["error"] = MatchFailed().ddp()
        except Exception:
            rest.srv.log.exception("method.call %s failed", name)
            answer["error"] = MeteorError(500, "Internal server error").ddp()
        rest.srv.record("ddp", name, req.user, params, answer.get("error", {}).get("error", "ok"))
        return {"message": json.dumps(answer, separators=(",", ":"))}

    @R("POST", "commands.run")
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
        room = st.room(rid)
        if room is None or not st.can_access(req.user, room):
            raise rest.forbidden()
        invite_command(st, req.user, room, params)
        return {}
