from __future__ import annotations

from riskgate.auth.tokens import bearer_secret, generate_token, hash_token, looks_like_token
from riskgate.domain.access import Access, grants_for
from riskgate.domain.permissions import SYSTEM_ROLES, Permission


def test_tokens_are_long_random_and_prefixed() -> None:
    tokens = {generate_token() for _ in range(100)}
    assert len(tokens) == 100
    for token in tokens:
        assert token.startswith("rg_")
        assert looks_like_token(token)
        # 32 random bytes → 43 base64 characters: 256 bits
        assert len(token) == 3 + 43
    assert hash_token("rg_x") != "rg_x"
    assert len(hash_token("rg_x")) == 64


def test_bearer_header_parsing() -> None:
    assert bearer_secret("Bearer rg_abc") == "rg_abc"
    assert bearer_secret("bearer   rg_abc ") == "rg_abc"
    assert bearer_secret("Basic abc") is None
    assert bearer_secret("Bearer ") is None
    assert bearer_secret(None) is None


def test_system_roles_follow_the_product_definition() -> None:
    assert SYSTEM_ROLES["administrator"] == frozenset(Permission)
    assert Permission.USERS_MANAGE not in SYSTEM_ROLES["security_officer"]
    assert SYSTEM_ROLES["ci_pipeline"] == {Permission.SCANS_WRITE, Permission.IMAGES_READ}
    assert Permission.AUDIT_READ in SYSTEM_ROLES["auditor"]
    assert all(p.value.endswith(":read") or p is Permission.AUDIT_READ for p in SYSTEM_ROLES["auditor"])
    ci = Access("ci", "tok", grants_for([("ci_pipeline", "global")], {}, {}))
    assert ci.has_anywhere(Permission.SCANS_WRITE)
    assert not ci.has_anywhere(Permission.USERS_MANAGE)
