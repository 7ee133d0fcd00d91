"""A support desk for load tests: the dev server with N agents and M contacts, and the config
that puts every agent into one department.

Usernames are `ag01…` and `ct01…` (password `<name>-dev`), so they never collide with the seed's
people. `desk_config` is merged over the e2e harness's base config (server, store, http).
"""

from __future__ import annotations

from typing import Any

from chat import default_seed


def agent_names(count: int) -> list[str]:
    return [f"ag{i:02d}" for i in range(1, count + 1)]


def contact_names(count: int) -> list[str]:
    return [f"ct{i:02d}" for i in range(1, count + 1)]


def desk_seed(agents: int, contacts: int) -> dict[str, Any]:
    seed = default_seed()
    for name in agent_names(agents):
        seed["users"].append(
            {
                "username": name,
                "password": f"{name}-dev",
                "name": f"Agent {name}",
                "email": f"{name}@example.test",
                "roles": ["user", "livechat-agent"],
            }
        )
    for name in contact_names(contacts):
        seed["users"].append(
            {
                "username": name,
                "password": f"{name}-dev",
                "name": f"Contact {name}",
                "email": f"{name}@example.test",
                "roles": ["user"],
            }
        )
    return seed


def desk_config(
    agents: int, *, routing: str = "manual", rate_limit: int = 0, intake: str = "dm"
) -> dict[str, Any]:
    """One department `desk` with every agent; no per-user command limit unless asked.
    `intake="livechat"`: the contacts are livechat visitors, queued for `desk` too."""
    config: dict[str, Any] = {
        "departments": {"desk": {"agents": agent_names(agents), "routing": routing}},
        "commands": {"rate_limit": {"count": rate_limit}},
    }
    if intake == "livechat":
        config["intake"] = {"livechat": {"enabled": True, "department": "desk"}}
    return config


def livechat_ready(server: Any, agents: list[str]) -> None:
    """Rocket.Chat's side of a livechat desk beyond the seed's: agents present (a transfer
    goes only to a present agent, and the scripts' agents talk REST only)."""
    for name in agents:
        server.set_presence(name, "online")
