"""One e-mail check everywhere: `/close +email=`, `/transcript email` and `/contact set email`
accept and refuse the same addresses (`bot.domain.emailaddr`)."""

from __future__ import annotations

import pytest

from bot.cmd import EMAIL, BadArgument
from bot.domain import Refused
from bot.domain.emailaddr import is_email
from bot.services import contacts
from bot.services.transcripts.email import valid_address

GOOD = ["maria@example.com", "a.b+c@sub.ex-ample.org", "x@y.io"]
BAD = ['a"b@x.io', "a b@x.io", "a@b", "a@-b.io", "a@b..io", "<a@b.io>", "a,b@x.io", "a\\b@x.io"]


def converter_accepts(address: str) -> bool:
    try:
        EMAIL.convert(address, None)
    except BadArgument:
        return False
    return True


def contact_accepts(address: str) -> bool:
    try:
        contacts.email(address)
    except Refused:
        return False
    return True


@pytest.mark.parametrize("address", GOOD + BAD + ["a@" + "b" * 250 + ".io"])
def test_every_check_agrees(address: str) -> None:
    expected = address in GOOD
    assert is_email(address) is expected
    assert converter_accepts(address) is expected
    assert valid_address(address) is expected
    assert contact_accepts(address) is expected
