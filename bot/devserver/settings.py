"""Rocket.Chat settings the dev server knows, with RC's defaults and `public` flags.

Values are Rocket.Chat's defaults (RC `apps/meteor/server/settings/omnichannel.ts`,
`message.ts`, `accounts.ts`), so a seed states what an admin changed, as on a real server. The
`public` flag matters: `GET settings` shows a caller without `view-privileged-setting` only the
public ones, which is what `omnicat check-server` meets on a real server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SettingSpec:
    value: Any
    type: str
    public: bool
    group: str


def _s(value: Any, public: bool, group: str = "Omnichannel") -> SettingSpec:
    kind = {bool: "boolean", int: "int", str: "string"}[type(value)]
    return SettingSpec(value, kind, public, group)


DEFAULT_SETTINGS: dict[str, SettingSpec] = {
    "Livechat_enabled": _s(True, True),
    "Livechat_Routing_Method": SettingSpec("Auto_Selection", "select", True, "Omnichannel"),
    "Livechat_assign_new_conversation_to_bot": _s(False, False),
    "Livechat_accept_chats_with_no_agents": _s(False, False),
    "Livechat_agent_leave_action": SettingSpec("none", "select", False, "Omnichannel"),
    "Livechat_request_comment_when_closing_conversation": _s(True, True),
    "Omnichannel_allow_visitors_to_close_conversation": _s(True, True),
    "Livechat_enable_business_hours": _s(False, True),
    "Livechat_enable_message_character_limit": _s(False, True),
    "Livechat_message_character_limit": _s(0, True),
    "Livechat_show_agent_info": _s(True, True),
    "Livechat_show_agent_email": _s(True, True),
    "Livechat_enable_transcript": _s(False, True),
    "Livechat_transcript_send_always": _s(False, True),
    "Livechat_guest_count": _s(1, False),
    # What the widget reads through `livechat/config` (RC `app/livechat/server/api/lib/
    # livechat.ts settings()`), with RC's defaults.
    "Livechat_title": _s("Rocket.Chat", True),
    "Livechat_title_color": _s("#C1272D", True),
    "Livechat_offline_title": _s("Leave a message", True),
    "Livechat_offline_title_color": _s("#666666", True),
    "Livechat_offline_message": _s("We are not online right now. Please leave us a message:", True),
    "Livechat_offline_success_message": _s("", True),
    "Livechat_offline_form_unavailable": _s("", True),
    "Livechat_display_offline_form": _s(True, True),
    "Livechat_registration_form": _s(True, True),
    "Livechat_name_field_registration_form": _s(True, True),
    "Livechat_email_field_registration_form": _s(True, True),
    "Livechat_registration_form_message": _s("", True),
    "Livechat_allow_switching_departments": _s(True, True),
    "Livechat_transcript_message": _s("Would you like a copy of this chat emailed?", True),
    "Livechat_conversation_finished_message": _s("", True),
    "Livechat_conversation_finished_text": _s("", True),
    "Livechat_history_monitor_type": SettingSpec("url", "select", True, "Omnichannel"),
    "Livechat_Show_Connecting": _s(False, True),
    "Livechat_clear_local_storage_when_chat_ended": _s(False, True),
    "Livechat_force_accept_data_processing_consent": _s(False, True),
    "Livechat_data_processing_consent_text": _s("", True),
    "Livechat_fileupload_enabled": _s(True, True),
    "Livechat_widget_position": SettingSpec("right", "select", True, "Omnichannel"),
    "Livechat_Visitor_navigation_as_a_message": _s(False, True),
    "Livechat_Allow_collect_and_store_HTTP_header_informations": _s(False, True),
    "Omnichannel_call_provider": SettingSpec("none", "select", True, "Omnichannel"),
    "FileUpload_Enabled": _s(True, True, "FileUpload"),
    "Language": _s("", True, "General"),
    "Message_AllowUnrecognizedSlashCommand": _s(False, True, "Message"),
    "Message_MaxAllowedSize": _s(5000, True, "Message"),
    "Site_Name": _s("Rocket.Chat", True, "General"),
}

#: settings RC keeps out of every listing (`hidden: true`)
HIDDEN = {"Livechat_guest_count"}


def default_values() -> dict[str, Any]:
    return {k: spec.value for k, spec in DEFAULT_SETTINGS.items()}


def is_public(setting_id: str) -> bool:
    spec = DEFAULT_SETTINGS.get(setting_id)
    return bool(spec and spec.public)
