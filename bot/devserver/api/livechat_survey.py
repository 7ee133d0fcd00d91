"""REST `livechat/room.survey`: the visitor's satisfaction survey (RC
`apps/meteor/app/livechat/server/api/v1/room.ts`), and the survey the widget is offered in
`livechat/config` (RC's `settings().survey`)."""

from __future__ import annotations

from ..livechat_model import LivechatError
from .http import Req, Routes, invalid
from .livechat_visitor import guest
from .params import string_param

routes = Routes()

SURVEY = {
    "items": ["satisfaction", "agentKnowledge", "agentResposiveness", "agentFriendliness"],
    "values": ["1", "2", "3", "4", "5"],
}


@routes.route("POST", "livechat/room.survey", auth=False)
def room_survey(req: Req) -> dict:
    """The room's `surveyFeedback` becomes the answers the survey knows (an item of
    `SURVEY["items"]` with a value of `SURVEY["values"]`) plus `additionalFeedback`; the rest is
    dropped. The room may be closed already (RC's findRoom does not ask), and Rocket.Chat tells
    nobody: `updateSurveyFeedbackById` is a plain `$set`, so a second survey replaces the first."""
    token = string_param(req, "token", required=True)
    rid = string_param(req, "rid", required=True)
    data = req.params.get("data")
    if not isinstance(data, list) or not data:
        raise invalid("must have required property 'data'")
    for item in data:
        if not (
            isinstance(item, dict)
            and isinstance(item.get("name"), str)
            and isinstance(item.get("value"), str)
        ):
            raise invalid("'data' items must have required properties 'name' and 'value'")
    guest(req, token)
    found = req.lc.room_of(token, rid)
    if found is None:
        raise LivechatError("invalid-room")
    answers = {
        item["name"]: item["value"]
        for item in data
        if (item["name"] in SURVEY["items"] and item["value"] in SURVEY["values"])
        or item["name"] == "additionalFeedback"
    }
    if not answers:
        raise LivechatError("invalid-data")
    with req.st.lock:
        found["surveyFeedback"] = answers
    return {"rid": rid, "data": answers}
