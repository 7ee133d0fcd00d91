"""REST `dev.*`: the dev server's own test hooks, admin only (a real server has none)."""

from __future__ import annotations

from .http import Req, Routes

routes = Routes()


def admin(req: Req) -> None:
    if "admin" not in req.user.roles:
        raise req.api.forbidden()


@routes.route("POST", "dev.dropSockets")
async def dev_drop(req: Req) -> dict:
    admin(req)
    return {"dropped": await req.srv.ddp.drop_all()}


@routes.route("GET", "dev.calls")
def dev_calls(req: Req) -> dict:
    admin(req)
    return {"calls": [c.__dict__ for c in req.srv.calls]}


@routes.route("POST", "dev.clearCalls")
def dev_clear(req: Req) -> dict:
    admin(req)
    req.srv.clear_calls()
    return {}


@routes.route("POST", "dev.pause")
def dev_pause(req: Req) -> dict:
    admin(req)
    req.srv.ddp.pause()
    return {}


@routes.route("POST", "dev.resume")
def dev_resume(req: Req) -> dict:
    admin(req)
    req.srv.ddp.resume()
    return {}


@routes.route("POST", "dev.rateLimits")
def dev_rate(req: Req) -> dict:
    admin(req)
    req.srv.set_rate_limits(
        req.bool("enabled"),
        rest_calls=req.int("rest_calls", 10),
        rest_window_ms=req.int("rest_window_ms", 60000),
        send_message_per_sec=req.int("send_message_per_sec", 5),
        exempt_bots=req.bool("exempt_bots", True),
    )
    return {}


@routes.route("POST", "dev.businessHours")
def dev_business_hours(req: Req) -> dict:
    admin(req)
    req.srv.set_business_hours_closed(req.bool("closed"))
    return {}


@routes.route("POST", "dev.setPresence")
def dev_presence(req: Req) -> dict:
    admin(req)
    req.srv.set_presence(req.str("username", required=True), req.str("status", required=True))
    return {}
