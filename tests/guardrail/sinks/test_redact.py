from __future__ import annotations

import pytest

from guardrail.sinks.redact import Redactor, redact


@pytest.mark.parametrize(("text", "expected"), [
    ("mail me at jane.doe+x@example.co.uk now", "mail me at [EMAIL] now"),
    ("call +1 (555) 123-4567 today", "call [PHONE] today"),
    ("or 555-123-4567, 555.123.4567 and (555) 123 4567", "or [PHONE], [PHONE] and [PHONE]"),
    ("UK +44 20 7946 0958, mobile 07700 900123", "UK [PHONE], mobile [PHONE]"),
    ("+4915112345678", "[PHONE]"),
    ("card 4111 1111 1111 1111 or 4111-1111-1111-1111 or 4111111111111111",
     "card [CARD] or [CARD] or [CARD]"),
    ("amex 3782 822463 10005", "amex [CARD]"),
])
def test_personal_data_is_replaced(text: str, expected: str) -> None:
    assert Redactor()(text) == expected


@pytest.mark.parametrize("text", [
    "On 2024-01-15 at 10:30 I paid $1,000,000.",
    "from 192.168.100.200 on 15/01/2024",
    "I am 34, room 1204, since 2019, order 12345, version 3.11.7",
    "no personal data here at all",
])
def test_ordinary_numbers_and_dates_are_kept(text: str) -> None:
    assert Redactor()(text) == text


def test_configured_names_whole_words_any_case() -> None:
    r = Redactor(["Maria", "Jean-Luc Picard", " ", ""])
    assert r("maria and JEAN-LUC PICARD met; Mariana stayed") == "[NAME] and [NAME] met; Mariana stayed"
    assert r.names == ("Jean-Luc Picard", "Maria")
    assert Redactor(["Maria", "Jonas", "Al"]).names == ("Jonas", "Maria", "Al")  # longest first, then a-z


def test_empty_and_none_pass_through() -> None:
    r = Redactor(["x"])
    assert r(None) is None
    assert r("") == ""


def test_everything_together() -> None:
    text = "Maria (maria@x.org, 555-123-4567) paid with 5500 0000 0000 0004."
    assert redact(text, ["Maria"]) == "[NAME] ([EMAIL], [PHONE]) paid with [CARD]."


def test_long_digit_runs_stay_fast() -> None:
    import time

    started = time.perf_counter()
    Redactor(["x"])("1" * 20_000 + "x" + "12 " * 5000)
    assert time.perf_counter() - started < 1.0
