"""REST `statistics` (view-statistics): the counts RC's statistics object opens with (RC
`apps/meteor/app/api/server/v1/stats.ts`, `app/statistics/server/lib/statistics.ts`). The many
other keys of RC's object (apps, push, uploads, …) are left out: nothing here measures them."""

from __future__ import annotations

from .http import Req, Routes

routes = Routes()


@routes.get("statistics")
def statistics(req: Req) -> dict:
    req.need("view-statistics")
    st = req.st
    users = list(st.users.values())
    rooms = list(st.rooms.values())

    def count(t: str) -> int:
        return sum(1 for r in rooms if r["t"] == t)

    return {
        "_id": "dev-server-statistics",
        "uniqueId": "dev-server",
        "installedAt": min((u.created_at for u in users), default=None),
        "version": req.srv.rc_version_full,
        "totalUsers": len(users),
        "activeUsers": sum(1 for u in users if u.active),
        "nonActiveUsers": sum(1 for u in users if not u.active),
        "onlineUsers": sum(1 for u in users if u.status == "online"),
        "awayUsers": sum(1 for u in users if u.status == "away"),
        "busyUsers": sum(1 for u in users if u.status == "busy"),
        "offlineUsers": sum(1 for u in users if u.status == "offline"),
        "totalRooms": len(rooms),
        "totalChannels": count("c"),
        "totalPrivateGroups": count("p"),
        "totalDirect": count("d"),
        "totalLivechat": count("l"),
        "totalMessages": sum(len(m) for m in st.messages.values()),
        "totalLivechatVisitors": len(req.lc.visitors),
        "totalLivechatAgents": sum(1 for u in users if "livechat-agent" in u.roles),
        "totalLivechatManagers": sum(1 for u in users if "livechat-manager" in u.roles),
        "livechatEnabled": bool(st.settings.get("Livechat_enabled")),
    }
