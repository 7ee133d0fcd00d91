"""Who may use the agent commands, end to end: an agent listed only in the YAML (issue 4: "or
listed in any department") and department isolation of `#N` in the bot's DM."""

from __future__ import annotations

from typing import Any

from chat import Chat, default_seed


def seed_with_yara() -> dict[str, Any]:
    """`yara` has no livechat role on the server: only the YAML makes her an agent."""
    seed = default_seed()
    seed["users"].append(
        {
            "username": "yara",
            "password": "yara-dev",
            "name": "Yara Agent",
            "email": "yara@example.test",
            "roles": ["user"],
        }
    )
    return seed


def make_desk(make_chat: Any) -> Chat:
    config = {
        "departments": {"support": {"agents": ["yara"]}, "sales": {"agents": ["alice"]}},
        "intake": {"dm": {"department": "support"}},
        "commands": {"rate_limit": {"count": 0}},
    }
    return make_chat(config=config, seed=seed_with_yara())


def test_an_agent_listed_only_in_the_yaml_uses_the_agent_commands(make_chat: Any) -> None:
    desk = make_desk(make_chat)
    assert "Your conversation #" in desk.user("carol").dm_bot("Please help")
    desk.idle()
    n = desk.bot.services.repo.open_for_contact("carol").number
    yara = desk.user("yara")
    assert yara.dm_bot("/status available").startswith("You are now available")
    desk.idle()
    assert f"#{n} @carol" in yara.dm_bot("/queue")
    assert yara.dm_bot("/take").startswith(f"You took #{n} from @carol")
    assert desk.bot.services.repo.get(n).agent == "yara"
    assert yara.dm_bot("/mine").startswith("Your conversations (1):")


def test_another_departments_chat_reads_like_an_unknown_number(make_chat: Any) -> None:
    desk = make_desk(make_chat)
    assert "Your conversation #" in desk.user("carol").dm_bot("Please help")
    desk.idle()
    n = desk.bot.services.repo.open_for_contact("carol").number
    alice = desk.user("alice")  # sales: the support chat does not exist for her
    for text in ("/hold #{}", "/close #{} bye", "/invite #{} @bob", "/timers #{}", "/resume #{}"):
        assert alice.dm_bot(text.format(n)) == f"There is no conversation #{n}.", text
        assert alice.dm_bot(text.format(999)) == "There is no conversation #999.", text
    assert alice.dm_bot(f"/take {n}") == alice.dm_bot("/take 999").replace("999", str(n))
    assert alice.dm_bot("/contact @carol") == "I have never had a conversation with @carol."
    # a manager sees it
    assert desk.user("maria").dm_bot(f"/close #{n} done") == f"#{n} is closed."
