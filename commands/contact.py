"""`/contact [#N|@contact]`: who the contact is; `/contact set key=value …` edits it (rules §12).

Custom fields are the ones in `contacts.fields` (each with an optional regex). Every value is
checked before anything is saved, so a bad phone number leaves the e-mail unchanged too.
"""

from __future__ import annotations

from bot.cmd import TEXT, Arg, BadArgument, Choice, Context, command
from bot.services import contacts as validation
from bot.store.contacts import Contact
from commands import kit as tk


@command(
    "contact",
    args=[
        Arg("action", Choice("set"), required=False),
        Arg("target", tk.TARGET, required=False),
        Arg("fields", TEXT, required=False, metavar="key=value…"),
    ],
    permission="view-livechat-contact",
    help=(
        "Show the contact of this conversation (or of #N, or @contact): name, e-mail, phone, "
        "custom fields, first seen, conversations, last agent.\n"
        '/contact set email=… phone=… name="…" <field>=… changes it (update-livechat-contact); '
        "an empty value clears a field."
    ),
    example='/contact set email=carol@example.com phone="+1 555 0100"',
)
def contact(ctx: Context) -> None:
    username, conv = tk.contact_of(ctx, ctx.args.target)
    if conv is None:  # `@contact`: only one whose conversations the caller may see
        tk.visible_contact(ctx, username)
    if ctx.args.action == "set":
        tk.ensure(ctx, "update-livechat-contact", "edit contacts")
        if ctx.services.repo.contact(username) is None:  # set never invents a contact
            raise tk.unknown_contact(username)
        pairs = [(t.key, t.value or "") for t in tk.command_tokens(ctx) if t.kind == "option"]
        if not pairs:
            raise BadArgument("What should change? e.g. email=carol@example.com phone=…")
        fields = dict(getattr(getattr(ctx.config, "contacts", None), "fields", {}) or {})
        builtin, custom = validation.validate(pairs, fields)
        values: dict[str, object] = {k: (v or None) for k, v in builtin.items()}
        if custom:
            values["custom_fields"] = custom
        ctx.services.repo.update_contact(username, at=ctx.clock(), **values)
        changed = ", ".join(k for k, _v in pairs)
        ctx.reply(f"Updated @{username}: {changed}.\n" + _card(ctx, username))
        return
    if ctx.args.fields:
        raise BadArgument(
            f"Unexpected '{ctx.args.fields}'. To change it: {ctx.prefix}contact set …"
        )
    ctx.reply(_card(ctx, username))


def _card(ctx: Context, username: str) -> str:
    found = ctx.services.repo.contact(username)
    if found is None:
        return f"I have never had a conversation with @{username}."
    tz = tk.zone(ctx)
    fields = dict(getattr(getattr(ctx.config, "contacts", None), "fields", {}) or {})
    lines = [
        f"Contact @{found.username}",
        f"Name: {found.name or '—'}",
        f"E-mail: {found.email or '—'}",
        f"Phone: {found.phone or '—'}",
    ]
    for key, spec in fields.items():
        label = getattr(spec, "label", None) or key
        lines.append(f"{label}: {found.custom_fields.get(key) or '—'}")
    for key, value in sorted(found.custom_fields.items()):
        if key not in fields:  # a field the config no longer lists: still the contact's data
            lines.append(f"{key}: {value}")
    lines += [
        f"First seen: {tk.when(found.first_seen, tz)}",
        f"Conversations: {ctx.services.repo.conversation_count(username)}",
        f"Last agent: {'@' + last if (last := _last_agent(ctx, found)) else '—'}",
    ]
    return "\n".join(lines)


def _last_agent(ctx: Context, found: Contact) -> str | None:
    """Who served the contact last: the newest conversation's agent (the stored value only
    changes at close, and an open chat's agent is the better answer)."""
    for conv in ctx.services.repo.for_contact(found.username):
        if conv.agent or conv.previous_agents:
            return conv.agent or conv.previous_agents[-1]
    return found.last_agent
