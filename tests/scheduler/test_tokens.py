"""Signed tokens: audiences, pinned algorithm, required claims, expiry and key rotation."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from scheduler.errors import TokenExpired, TokenInvalid
from scheduler.tokens import Audience, TokenService, _derive

ISSUER = "https://termine.example.org"
SECRET = "first-secret-that-is-long-enough-000000"
NEW_SECRET = "second-secret-that-is-long-enough-11111"
NOW = datetime(2031, 1, 6, 7, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def service(*secrets: str, clock: Clock | None = None) -> TokenService:
    return TokenService(list(secrets or [SECRET]), ISSUER, clock=clock or Clock())


def claims(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "iss": ISSUER,
        "aud": Audience.MANAGE.value,
        "sub": "ABCD-EFGH",
        "ver": 1,
        "iat": int(NOW.timestamp()),
        "exp": int((NOW + HOUR).timestamp()),
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def craft(body: dict[str, object], secret: str = SECRET, kid: str | None = None) -> str:
    """A token signed by hand with the key `TokenService` derives from `secret`."""
    derived_kid, key = _derive(secret)
    return jwt.encode(body, key, algorithm="HS256", headers={"kid": kid or derived_kid})


def test_issue_and_decode_round_trip():
    tokens = service()
    token = tokens.issue(Audience.MANAGE, "ABCD-EFGH", 3, NOW, HOUR)
    decoded = tokens.decode(token, Audience.MANAGE)
    assert decoded.subject == "ABCD-EFGH"
    assert decoded.version == 3
    assert decoded.expires_at == NOW + HOUR


def test_a_hand_crafted_token_with_all_claims_is_accepted():
    assert service().decode(craft(claims()), Audience.MANAGE).subject == "ABCD-EFGH"


def test_the_header_pins_hs256_and_names_the_key():
    token = service().issue(Audience.JOIN, "ABCD-EFGH", 1, NOW, HOUR)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256"
    assert header["kid"] == _derive(SECRET)[0]


@pytest.mark.parametrize(
    ("issued_for", "used_for"),
    [
        (Audience.MANAGE, Audience.JOIN),
        (Audience.JOIN, Audience.MANAGE),
        (Audience.MANAGE, Audience.STAFF),
        (Audience.STAFF, Audience.MANAGE),
    ],
)
def test_a_token_for_another_audience_is_invalid(issued_for, used_for):
    tokens = service()
    token = tokens.issue(issued_for, "1", 1, NOW, HOUR)
    with pytest.raises(TokenInvalid):
        tokens.decode(token, used_for)


def test_a_token_from_another_issuer_is_invalid():
    token = craft(claims(iss="https://elsewhere.example.org"))
    with pytest.raises(TokenInvalid):
        service().decode(token, Audience.MANAGE)


def test_a_tampered_signature_is_invalid():
    token = service().issue(Audience.MANAGE, "ABCD-EFGH", 1, NOW, HOUR)
    header, payload, signature = token.split(".")
    middle = len(signature) // 2
    flipped = "A" if signature[middle] != "A" else "B"
    tampered = f"{header}.{payload}.{signature[:middle]}{flipped}{signature[middle + 1 :]}"
    with pytest.raises(TokenInvalid):
        service().decode(tampered, Audience.MANAGE)


def test_a_tampered_payload_is_invalid():
    token = service().issue(Audience.MANAGE, "ABCD-EFGH", 1, NOW, HOUR)
    header, _, signature = token.split(".")
    forged = json.dumps(claims(sub="ZZZZ-ZZZZ")).encode()
    payload = base64.urlsafe_b64encode(forged).rstrip(b"=").decode()
    with pytest.raises(TokenInvalid):
        service().decode(f"{header}.{payload}.{signature}", Audience.MANAGE)


def test_an_unsigned_alg_none_token_is_invalid():
    token = jwt.encode(claims(), None, algorithm="none", headers={"kid": _derive(SECRET)[0]})
    with pytest.raises(TokenInvalid):
        service().decode(token, Audience.MANAGE)


def test_a_token_signed_with_another_key_is_invalid():
    other_key = b"k" * 32
    token = jwt.encode(claims(), other_key, algorithm="HS256", headers={"kid": _derive(SECRET)[0]})
    with pytest.raises(TokenInvalid):
        service().decode(token, Audience.MANAGE)


@pytest.mark.parametrize("missing", ["exp", "iat", "iss", "aud", "sub", "ver"])
def test_a_token_without_a_required_claim_is_invalid(missing):
    body = claims()
    del body[missing]
    with pytest.raises(TokenInvalid):
        service().decode(craft(body), Audience.MANAGE)


def test_a_token_with_a_non_integer_version_is_invalid():
    with pytest.raises(TokenInvalid):
        service().decode(craft(claims(ver="1")), Audience.MANAGE)


def test_an_expired_token_is_reported_as_expired():
    clock = Clock()
    tokens = service(clock=clock)
    token = tokens.issue(Audience.MANAGE, "ABCD-EFGH", 1, NOW, HOUR)
    clock.now = NOW + HOUR
    with pytest.raises(TokenExpired):
        tokens.decode(token, Audience.MANAGE)


def test_a_token_is_valid_until_just_before_its_expiry():
    clock = Clock()
    tokens = service(clock=clock)
    token = tokens.issue(Audience.MANAGE, "ABCD-EFGH", 1, NOW, HOUR)
    clock.now = NOW + HOUR - timedelta(seconds=1)
    assert tokens.decode(token, Audience.MANAGE).subject == "ABCD-EFGH"


def test_expiry_is_judged_by_the_services_clock_not_the_wall_clock():
    past = datetime(2001, 1, 1, tzinfo=UTC)
    tokens = service(clock=Clock(past))
    token = tokens.issue(Audience.MANAGE, "ABCD-EFGH", 1, past, HOUR)
    assert tokens.decode(token, Audience.MANAGE).version == 1


def test_a_token_signed_with_a_previous_key_verifies_while_that_key_is_configured():
    old_token = service(SECRET).issue(Audience.MANAGE, "ABCD-EFGH", 1, NOW, HOUR)
    assert service(NEW_SECRET, SECRET).decode(old_token, Audience.MANAGE).subject == "ABCD-EFGH"


def test_a_token_signed_with_a_removed_key_is_invalid():
    old_token = service(SECRET).issue(Audience.MANAGE, "ABCD-EFGH", 1, NOW, HOUR)
    with pytest.raises(TokenInvalid):
        service(NEW_SECRET).decode(old_token, Audience.MANAGE)


def test_after_rotation_new_tokens_are_signed_with_the_first_key():
    rotated = service(NEW_SECRET, SECRET)
    token = rotated.issue(Audience.MANAGE, "ABCD-EFGH", 1, NOW, HOUR)
    assert jwt.get_unverified_header(token)["kid"] == _derive(NEW_SECRET)[0]
    with pytest.raises(TokenInvalid):
        service(SECRET).decode(token, Audience.MANAGE)


def test_an_unknown_key_id_is_invalid():
    with pytest.raises(TokenInvalid):
        service().decode(craft(claims(), kid="000000000000"), Audience.MANAGE)


def test_a_token_without_key_id_is_invalid():
    token = jwt.encode(claims(), _derive(SECRET)[1], algorithm="HS256")
    with pytest.raises(TokenInvalid):
        service().decode(token, Audience.MANAGE)


@pytest.mark.parametrize("garbage", ["", "not-a-token", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30."])
def test_malformed_tokens_are_invalid(garbage):
    with pytest.raises(TokenInvalid):
        service().decode(garbage, Audience.MANAGE)


def test_a_token_service_needs_a_secret():
    with pytest.raises(ValueError, match="secret"):
        TokenService([], ISSUER)
