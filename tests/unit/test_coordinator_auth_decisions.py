"""The coordinator's auth decisions without a database (issue 13 §2): roles, the claims a token
must carry for a route, names, passwords and their hashes."""

from __future__ import annotations

import time

import jwt
import pytest

from shipyard.coordinator import passwords
from shipyard.coordinator.tokens import (
    Kind,
    Role,
    check_claims,
    generate_key_pair,
    make_claims,
    name_problem,
    role_allows,
)
from shipyard.errors import CoordinatorError, ShipyardError

NOW = 1_800_000_000


@pytest.mark.parametrize(
    ("held", "needed", "allowed"),
    [
        (None, Role.READ, False),
        (Role.READ, Role.READ, True),
        (Role.READ, Role.WRITE, False),
        (Role.WRITE, Role.READ, True),
        (Role.WRITE, Role.WRITE, True),
        (Role.WRITE, Role.ADMIN, False),
        (Role.ADMIN, Role.WRITE, True),
        (Role.ADMIN, Role.ADMIN, True),
    ],
)
def test_a_role_includes_the_ones_below_it(held: Role | None, needed: Role, allowed: bool) -> None:
    assert role_allows(held, needed) is allowed


@pytest.mark.parametrize(
    ("text", "role"), [("Read", Role.READ), ("write", Role.WRITE), (" ADMIN ", Role.ADMIN)]
)
def test_roles_parse_from_their_labels(text: str, role: Role) -> None:
    assert Role.parse(text) is role
    assert Role.parse(role.label) is role


@pytest.mark.parametrize("text", ["owner", "", "2", "Admin; DROP TABLE users"])
def test_an_unknown_role_is_refused_with_the_choices(text: str) -> None:
    with pytest.raises(ShipyardError) as refused:
        Role.parse(text)
    assert refused.value.hint == "one of Read, Write, Admin"


def _claims(**changes: object) -> dict[str, object]:
    claims = make_claims("ada", Kind.USER, 7, NOW - 10, 3600)
    claims.update(changes)
    return {key: value for key, value in claims.items() if value is not None}


@pytest.mark.parametrize(
    ("claims", "expected", "status", "words"),
    [
        (_claims(sub=None), Kind.USER, 401, "no subject"),
        (_claims(sub=""), Kind.USER, 401, "no subject"),
        (_claims(sub=12), Kind.USER, 401, "no subject"),
        (_claims(sig=None), Kind.USER, 401, "no signature version"),
        (_claims(sig="7"), Kind.USER, 401, "no signature version"),
        (_claims(sig=True), Kind.USER, 401, "no signature version"),
        (_claims(exp=None), Kind.USER, 401, "no expiry"),
        (_claims(exp=float(NOW + 5)), Kind.USER, 401, "no expiry"),
        (_claims(kind="root"), Kind.USER, 401, "no known kind"),
        (_claims(kind=None), Kind.USER, 401, "no known kind"),
        (_claims(exp=NOW), Kind.USER, 401, "expired"),
        (_claims(exp=NOW - 1), Kind.WORKER, 401, "expired"),
        (_claims(), Kind.WORKER, 403, "takes a worker token, not a user token"),
        (_claims(kind="worker"), Kind.USER, 403, "takes a user token, not a worker token"),
        (_claims(kind="manager"), Kind.WORKER, 403, "not a manager token"),
    ],
)
def test_claims_a_route_refuses(
    claims: dict[str, object], expected: Kind, status: int, words: str
) -> None:
    with pytest.raises(CoordinatorError) as refused:
        check_claims(claims, expected, NOW)
    assert refused.value.http_status == status
    assert words in refused.value.message


@pytest.mark.parametrize("kind", list(Kind))
def test_claims_of_the_right_kind_before_expiry_pass(kind: Kind) -> None:
    checked = check_claims(_claims(kind=kind.value, exp=NOW + 1), kind, NOW)
    assert (checked.subject, checked.kind, checked.signature, checked.expires) == (
        "ada", kind, 7, NOW + 1,
    )  # fmt: skip


def test_an_expired_users_token_says_to_log_in_again() -> None:
    with pytest.raises(CoordinatorError) as refused:
        check_claims(_claims(exp=NOW - 1), Kind.USER, NOW)
    assert refused.value.hint == "log in again (POST /login)"


def test_tokens_are_ed25519_and_other_keys_do_not_verify() -> None:
    private_pem, public_pem = generate_key_pair()
    _, other_public = generate_key_pair()
    now = int(time.time())
    token = jwt.encode(make_claims("ada", Kind.USER, 7, now, 60), private_pem, algorithm="EdDSA")
    assert jwt.get_unverified_header(token)["alg"] == "EdDSA"
    assert jwt.decode(token, public_pem, algorithms=["EdDSA"])["sub"] == "ada"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, other_public, algorithms=["EdDSA"])


@pytest.mark.parametrize(
    ("name", "fine"),
    [
        ("ada", True),
        ("a.b_c-9", True),
        ("9lives", True),
        ("x" * 64, True),
        ("x" * 65, False),
        ("", False),
        ("-ada", False),
        (".hidden", False),
        ("a/b", False),
        ("../etc", False),
        ("ada lovelace", False),
        ("ada\n", False),
        ("adá", False),
        ("<script>", False),
    ],
)
def test_names_that_may_appear_in_urls(name: str, fine: bool) -> None:
    problem = name_problem("a user", name)
    assert (problem is None) is fine
    if problem:
        assert "1 to 64 letters, digits" in problem


@pytest.mark.parametrize(
    ("password", "words"),
    [("short", "needs at least 8"), ("", "needs at least 8"), ("x" * 1025, "longer than 1024")],
)
def test_passwords_too_short_or_too_long(password: str, words: str) -> None:
    problem = passwords.password_problem(password)
    assert problem is not None and words in problem


def test_a_hash_verifies_its_password_only_and_carries_its_parameters() -> None:
    stored = passwords.hash_password("correct horse")
    assert stored.startswith(f"scrypt${passwords.COST_N}$8$1$")
    assert passwords.verify_password("correct horse", stored)
    assert not passwords.verify_password("correct hors", stored)
    # A salt per password: the same password hashes differently.
    assert passwords.hash_password("correct horse") != stored


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plain",
        "bcrypt$12$abc$def$ghi$jkl",
        "scrypt$16384$8$1$!!notbase64$AAAA",
        "scrypt$16385$8$1$AAAA$AAAA",  # N not a power of two
        f"scrypt${2**30}$8$1$AAAA$AAAA",  # a cost no login should pay
        "scrypt$16384$8$1$AAAA$",  # no key
        "scrypt$x$8$1$AAAA$AAAA",
    ],
)
def test_a_stored_hash_this_module_did_not_write_verifies_nothing(stored: str) -> None:
    assert passwords.decode(stored) is None
    assert not passwords.verify_password("anything", stored)


def test_the_dummy_hash_costs_a_real_check_and_matches_nothing() -> None:
    assert passwords.decode(passwords.DUMMY_HASH) is not None
    assert not passwords.verify_password("", passwords.DUMMY_HASH)
