"""Who may do what, where: selectors, scopes, grants and the checks routes make (plain logic)."""

from __future__ import annotations

import pytest

from riskgate.domain.access import (
    GLOBAL,
    Access,
    Grant,
    ImageTarget,
    ResourceSelector,
    ScopeDefinition,
    grants_for,
)
from riskgate.domain.permissions import ALL_PERMISSIONS, SYSTEM_ROLES, Permission

TEAM_A = ScopeDefinition("scp-a", (ResourceSelector(registry="ghcr.io", repository="team-a/*"),))
RELEASES = ScopeDefinition("scp-rel", (ResourceSelector(tag="v[0-9]*"),))
READ = frozenset({Permission.IMAGES_READ})


def access(*grants: Grant) -> Access:
    return Access(user_id="u", token_id="t", grants=grants)


@pytest.mark.parametrize(
    ("selector", "registry", "repository", "tags", "matches"),
    [
        (ResourceSelector(), "docker.io", "library/alpine", [], True),
        (ResourceSelector(registry="ghcr.io"), "ghcr.io", "x/y", [], True),
        (ResourceSelector(registry="ghcr.io"), "docker.io", "x/y", [], False),
        (ResourceSelector(repository="team-a/*"), "ghcr.io", "team-a/api", [], True),
        (ResourceSelector(repository="team-a/*"), "ghcr.io", "team-a/api/worker", [], True),
        (ResourceSelector(repository="team-a/*"), "ghcr.io", "team-ab/api", [], False),
        # Globs are case-sensitive, as registries' repository names are
        (ResourceSelector(repository="team-a/*"), "ghcr.io", "Team-A/api", [], False),
        (ResourceSelector(tag="v?.*"), "ghcr.io", "x", ["latest", "v1.2"], True),
        (ResourceSelector(tag="v?.*"), "ghcr.io", "x", ["latest"], False),
        # A tag selector needs a tag: an image known only by digest has none
        (ResourceSelector(tag="*"), "ghcr.io", "x", [], False),
        (
            ResourceSelector(registry="*.io", repository="team-[ab]/*", tag="prod-*"),
            "ghcr.io",
            "team-b/x",
            ["prod-1"],
            True,
        ),
        (
            ResourceSelector(registry="*.io", repository="team-[ab]/*", tag="prod-*"),
            "ghcr.io",
            "team-c/x",
            ["prod-1"],
            False,
        ),
    ],
)
def test_a_selector_matches_by_glob_on_each_field_it_names(
    selector: ResourceSelector, registry: str, repository: str, tags: list[str], matches: bool
) -> None:
    assert selector.matches(registry, repository, tags) is matches


def test_an_image_is_in_a_scope_when_any_selector_matches() -> None:
    scope = ScopeDefinition(
        "scp-x", (ResourceSelector(repository="team-a/*"), ResourceSelector(registry="quay.io"))
    )
    assert scope.contains_image("ghcr.io", "team-a/api", [])
    assert scope.contains_image("quay.io", "other/api", [])
    assert not scope.contains_image("ghcr.io", "other/api", [])
    # Tags may be any iterable, read more than once across selectors
    assert RELEASES.contains_image("ghcr.io", "x", iter(["latest", "v2"]))


def test_a_scope_without_selectors_contains_nothing_but_global_contains_everything() -> None:
    assert not ScopeDefinition("scp-empty").contains_image("ghcr.io", "x", ["1"])
    assert GLOBAL.is_global
    assert GLOBAL.contains_image("anything.example", "any/thing", [])
    assert GLOBAL.contains_scope("scp-a")
    assert TEAM_A.contains_scope("scp-a")
    assert not TEAM_A.contains_scope("scp-b")
    assert not TEAM_A.contains_scope("global")


def test_grants_for_turns_bindings_into_roles_in_scopes() -> None:
    grants = grants_for(
        [("developer", "scp-a"), ("image-reader", "global"), ("administrator", "global")],
        custom_roles={"image-reader": READ},
        scopes={"scp-a": TEAM_A},
    )
    assert grants == (
        Grant(SYSTEM_ROLES["developer"], TEAM_A),
        Grant(READ, GLOBAL),
        Grant(ALL_PERMISSIONS, GLOBAL),
    )


def test_a_binding_to_a_missing_role_or_scope_grants_nothing() -> None:
    grants = grants_for(
        [("deleted-role", "global"), ("developer", "scp-deleted"), ("developer", "scp-a")],
        custom_roles={},
        scopes={"scp-a": TEAM_A},
    )
    assert grants == (Grant(SYSTEM_ROLES["developer"], TEAM_A),)
    # A custom role without permissions grants nothing either
    assert grants_for([("empty", "global")], custom_roles={"empty": frozenset()}, scopes={}) == ()


def test_a_custom_role_cannot_shadow_a_system_role() -> None:
    grants = grants_for([("developer", "global")], custom_roles={"developer": ALL_PERMISSIONS}, scopes={})
    assert grants == (Grant(SYSTEM_ROLES["developer"], GLOBAL),)


def test_permissions_anywhere_globally_and_on_images() -> None:
    caller = access(Grant(READ, TEAM_A), Grant(frozenset({Permission.SCANS_WRITE}), GLOBAL))
    assert caller.has_anywhere(Permission.IMAGES_READ)
    assert not caller.has_globally(Permission.IMAGES_READ)
    assert caller.has_globally(Permission.SCANS_WRITE)
    assert not caller.has_anywhere(Permission.USERS_MANAGE)
    inside = ImageTarget("ghcr.io", "team-a/api", ("1",))
    outside = ImageTarget("ghcr.io", "team-b/api", ("1",))
    assert caller.may_on_image(Permission.IMAGES_READ, inside)
    assert not caller.may_on_image(Permission.IMAGES_READ, outside)
    assert caller.may_on_image(Permission.SCANS_WRITE, outside)


def test_an_object_in_a_scope_is_covered_by_that_scope_or_global() -> None:
    scoped = access(Grant(frozenset({Permission.RISKS_ACCEPT}), TEAM_A))
    assert scoped.may_in_scope(Permission.RISKS_ACCEPT, "scp-a")
    assert not scoped.may_in_scope(Permission.RISKS_ACCEPT, "scp-b")
    broad = access(Grant(frozenset({Permission.RISKS_ACCEPT}), GLOBAL))
    assert broad.may_in_scope(Permission.RISKS_ACCEPT, "scp-b")


def test_acting_in_the_global_scope_also_needs_scopes_global() -> None:
    officer = access(Grant(frozenset({Permission.RISKS_ACCEPT}), GLOBAL))
    assert not officer.may_in_scope(Permission.RISKS_ACCEPT, "global")
    with_global = access(Grant(frozenset({Permission.RISKS_ACCEPT, Permission.SCOPES_GLOBAL}), GLOBAL))
    assert with_global.may_in_scope(Permission.RISKS_ACCEPT, "global")
    # scopes:global held only in a narrow scope does not count
    narrow = access(
        Grant(frozenset({Permission.RISKS_ACCEPT}), GLOBAL),
        Grant(frozenset({Permission.SCOPES_GLOBAL}), TEAM_A),
    )
    assert not narrow.may_in_scope(Permission.RISKS_ACCEPT, "global")
    # and a grant in a narrow scope never reaches a global object, whatever else is held
    team_admin = access(Grant(ALL_PERMISSIONS, TEAM_A))
    assert not team_admin.may_in_scope(Permission.RISKS_ACCEPT, "global")


def test_visible_scopes() -> None:
    assert access(Grant(READ, GLOBAL)).visible_scope_ids(Permission.IMAGES_READ) is None
    caller = access(
        Grant(READ, TEAM_A), Grant(READ, RELEASES), Grant(frozenset({Permission.RISKS_READ}), GLOBAL)
    )
    assert caller.visible_scope_ids(Permission.IMAGES_READ) == {"scp-a", "scp-rel"}
    assert access().visible_scope_ids(Permission.IMAGES_READ) == set()
