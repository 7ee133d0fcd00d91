"""`store.password` apart from `store.url`: put into the URL escaped, so that a password with
`@`, `:`, `/` or `%` (the characters that break a URL written by hand) works as given."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from bot.config.schema import Config


def with_store_password(
    cfg: Config, source: str, lines: Mapping[str, int], errors: list[str]
) -> Config:
    """`cfg` with `store.password` in `store.url`; a conflict is appended to `errors`."""
    if not cfg.store.password:
        return cfg
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    line = lines.get("store.password")
    where = f"{source}:{line}" if line else source
    try:
        url = make_url(cfg.store.url)
    except ArgumentError:
        return cfg  # the URL itself is wrong: reported when the store opens it
    if url.password:
        errors.append(f"{where} store.password: store.url has a password too; give it in one place")
        return cfg
    escaped = url.set(password=cfg.store.password).render_as_string(hide_password=False)
    return dataclasses.replace(cfg, store=dataclasses.replace(cfg.store, url=escaped))
