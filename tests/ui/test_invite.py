"""Invites: what people paste is parsed leniently, and formatting round-trips."""

from __future__ import annotations

import pytest

from optiverse.ui.invite import DEFAULT_PORT, Invite, InviteError, format_invite, parse_invite


def test_parse_full_invite() -> None:
    invite = parse_invite("optiverse://192.168.1.20:9000/AbC_12-x")
    assert invite == Invite("192.168.1.20", 9000, "AbC_12-x")
    assert invite.server_url == "ws://192.168.1.20:9000"


@pytest.mark.parametrize(
    "text",
    [
        "  optiverse://bench.local:8765/S1 \n",
        "bench.local:8765/S1",
        "ws://bench.local:8765/S1",
        "OPTIVERSE://bench.local/S1",
        "optiverse://bench.local:8765/S1/",
    ],
)
def test_parse_is_lenient_about_what_is_pasted(text: str) -> None:
    assert parse_invite(text) == Invite("bench.local", DEFAULT_PORT, "S1")


def test_ipv6_host_round_trips() -> None:
    text = format_invite("::1", 8765, "S1")
    assert text == "optiverse://[::1]:8765/S1"
    assert parse_invite(text) == Invite("::1", 8765, "S1")
    assert str(Invite("::1", 8765, "S1")) == text


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "not an invite"),
        ("optiverse://host:8765", "no session id"),
        ("optiverse://host:8765/", "no session id"),
        ("optiverse://host:99999/S", "invalid port"),
        ("optiverse://host:abc/S", "invalid port"),
        ("http://host:8765/S", "unsupported scheme"),
        ("optiverse://host:8765/bad id", "invalid session id"),
        ("optiverse://ho st:8765/S", "invalid host"),
    ],
)
def test_parse_refuses_with_a_reason(text: str, complaint: str) -> None:
    with pytest.raises(InviteError, match=complaint):
        parse_invite(text)


def test_server_without_session() -> None:
    invite = parse_invite("10.0.0.5:8800", require_session=False)
    assert (invite.server_url, invite.session) == ("ws://10.0.0.5:8800", "")


def test_session_ids_from_the_server_parse() -> None:
    # new_session_id() is token_urlsafe: letters, digits, '-' and '_'.
    from server.app import new_session_id

    for _ in range(50):
        sid = new_session_id()
        assert parse_invite(format_invite("h", 1, sid)).session == sid
