"""REST `livechat/config` (the widget's first request) and `livechat/agent.next/:token`
(RC `apps/meteor/app/livechat/server/api/v1/{config,agent}.ts`, `api/lib/livechat.ts`)."""

from __future__ import annotations

from typing import Any

from ..livechat_model import LivechatError
from .http import Req, Routes
from .livechat_survey import SURVEY
from .livechat_visitor import agent_doc

routes = Routes()


def widget_settings(req: Req) -> dict[str, Any]:
    """RC's `settings()` of api/lib/livechat.ts: the widget's settings, theme and texts."""
    s = req.st.settings.get
    limit = s("Livechat_enable_message_character_limit") and (
        s("Livechat_message_character_limit") or s("Message_MaxAllowedSize")
    )
    departments = [
        {
            "_id": d["_id"],
            "name": d["name"],
            "showOnRegistration": d.get("showOnRegistration", True),
            "showOnOfflineForm": d.get("showOnOfflineForm", True),
        }
        for d in req.lc.departments.values()
        if d["enabled"] and req.lc.department_agents.get(d["_id"])
    ]
    return {
        "enabled": s("Livechat_enabled"),
        "settings": {
            "registrationForm": s("Livechat_registration_form"),
            "allowSwitchingDepartments": s("Livechat_allow_switching_departments"),
            "nameFieldRegistrationForm": s("Livechat_name_field_registration_form"),
            "emailFieldRegistrationForm": s("Livechat_email_field_registration_form"),
            "displayOfflineForm": s("Livechat_display_offline_form"),
            "videoCall": s("Omnichannel_call_provider") == "default-provider",
            "fileUpload": bool(s("Livechat_fileupload_enabled") and s("FileUpload_Enabled")),
            "language": s("Language"),
            "transcript": s("Livechat_enable_transcript"),
            "historyMonitorType": s("Livechat_history_monitor_type"),
            "forceAcceptDataProcessingConsent": s("Livechat_force_accept_data_processing_consent"),
            "showConnecting": s("Livechat_Show_Connecting"),
            "agentHiddenInfo": s("Livechat_show_agent_info") is False,
            "clearLocalStorageWhenChatEnded": s("Livechat_clear_local_storage_when_chat_ended"),
            "limitTextLength": limit,
        },
        "theme": {
            "title": s("Livechat_title"),
            "color": s("Livechat_title_color"),
            "offlineTitle": s("Livechat_offline_title"),
            "offlineColor": s("Livechat_offline_title_color"),
            "position": s("Livechat_widget_position") or "right",
            "actionLinks": {
                "webrtc": [
                    {
                        "actionLinksAlignment": "flex-start",
                        "i18nLabel": "Join_call",
                        "label": "Join call",
                        "method_id": "joinLivechatWebRTCCall",
                    },
                    {
                        "i18nLabel": "End_call",
                        "label": "End call",
                        "method_id": "endLivechatWebRTCCall",
                        "danger": True,
                    },
                ],
                "jitsi": [
                    {"icon": "icon-videocam", "i18nLabel": "Accept"},
                    {"icon": "icon-cancel", "i18nLabel": "Decline"},
                ],
            },
        },
        "messages": {
            "offlineMessage": s("Livechat_offline_message"),
            "offlineSuccessMessage": s("Livechat_offline_success_message"),
            "offlineUnavailableMessage": s("Livechat_offline_form_unavailable"),
            "conversationFinishedMessage": s("Livechat_conversation_finished_message"),
            "conversationFinishedText": s("Livechat_conversation_finished_text"),
            "transcriptMessage": s("Livechat_transcript_message"),
            "registrationFormMessage": s("Livechat_registration_form_message"),
            "dataProcessingConsentText": s("Livechat_data_processing_consent_text"),
        },
        "survey": SURVEY,
        "triggers": [],
        "departments": departments,
        "resources": {
            "sound": f"{origin(req)}/sounds/chime.mp3",
            "emojis": [],
        },
    }


def origin(req: Req) -> str:
    return f"{req.request.scheme}://{req.request.host}"


def online(req: Req, department: str | None) -> bool:
    """RC's Livechat.online: chats accepted without agents, else an online agent (a bot agent
    counts when new chats go to bots)."""
    if req.st.settings.get("Livechat_accept_chats_with_no_agents"):
        return True
    return req.lc.any_online(department or None)


@routes.get("livechat/config", auth=False)
def config(req: Req) -> dict:
    if not req.st.settings.get("Livechat_enabled"):
        return {"config": {"enabled": False}}
    token = req.str("token")
    out: dict[str, Any] = {**widget_settings(req), "online": online(req, req.str("department"))}
    guest = req.lc.visitor_by_token(token) if token else None
    if guest is not None:
        out["guest"] = guest.doc()
        room = req.lc.open_room_of(guest.token)
        if room is not None:
            out["room"] = {
                k: room[k] for k in ("_id", "departmentId", "servedBy", "open") if k in room
            }
            agent = req.st.users.get((room.get("servedBy") or {}).get("_id", ""))
            if agent is not None:
                out["agent"] = agent_doc(req, agent)
    return {"config": out}


@routes.get("livechat/agent.next/:token", auth=False)
def agent_next(req: Req) -> dict:
    token = req.path["token"]
    if req.lc.open_room_of(token) is not None:
        return {}
    department = req.str("department")
    manual = req.st.settings.get("Livechat_Routing_Method") != "Auto_Selection"
    agent = None if manual else req.lc.next_agent(department)
    if agent is None:
        raise LivechatError("agent-not-found")
    return {"agent": agent_doc(req, agent)}
