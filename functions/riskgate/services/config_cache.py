"""Scopes, custom roles and assurance policies kept by a function instance for as long as the
configuration version says they are current (docs/architecture.md, "Verdict requests (issue 13)").

Every change of a managed entity bumps one version item in its own transaction
(riskgate.adapters.config_version). A request reads that item — strongly consistent, in the same
BatchGetItem as its own first items — and gets the `Snapshot` of that version: the one it had, when the
version is the one it was made for, else a new, empty one. A snapshot loads what it is asked for on first
use, with strongly consistent reads made *after* the read that found its version, and keeps it:

- a later request that finds the same version knows that no entity changed since that read, so what
  the snapshot loaded then is still exactly what is stored;
- one that finds another version starts a new snapshot, so a changed, created or deleted scope, role or
  policy is seen by the very next request after the change's transaction.

Nothing here is held longer than the instance lives, nothing is kept for a time: there is no TTL to
tune and no staleness to accept. What the snapshot does not hold (images, tag pointers, acceptances) is
read by every request.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from riskgate.adapters.config_version import ConfigVersion, FirstReads, Key, key_of
from riskgate.domain.access import ScopeDefinition
from riskgate.domain.permissions import GLOBAL_SCOPE, SYSTEM_ROLES, Permission
from riskgate.domain.policies import AssurancePolicy
from riskgate.services.policies import PoliciesFor, policies_for_images

Definitions = tuple[dict[str, frozenset[Permission]], dict[str, ScopeDefinition]]


class ConfigSource(Protocol):
    """The reads a snapshot is made of, all strongly consistent (riskgate.adapters.config_source)."""

    def read_with(
        self, keys: Sequence[dict[str, str]]
    ) -> tuple[ConfigVersion, dict[Key, dict[str, Any]]]: ...
    def definitions(self, role_names: set[str], scope_ids: set[str]) -> Definitions: ...
    def policies(self, known_ids: Iterable[str]) -> list[AssurancePolicy]: ...


class Snapshot:
    """What was read under one configuration version; make it through `ConfigCache.read`."""

    def __init__(self, source: ConfigSource, version: ConfigVersion) -> None:
        self.version = version
        self._source = source
        # None: read, and not stored (a binding to it grants nothing; a policy in it covers nothing).
        self._roles: dict[str, frozenset[Permission] | None] = {}
        self._scopes: dict[str, ScopeDefinition | None] = {}
        self._policies: list[AssurancePolicy] | None = None

    def definitions(self, role_names: Iterable[str], scope_ids: Iterable[str]) -> Definitions:
        """The custom roles and scopes named that exist; those not yet in the snapshot are read in one
        BatchGetItem and kept."""
        role_names, scope_ids = set(role_names) - set(SYSTEM_ROLES), set(scope_ids) - {GLOBAL_SCOPE}
        missing_roles, missing_scopes = role_names - set(self._roles), scope_ids - set(self._scopes)
        if missing_roles or missing_scopes:
            roles, scopes = self._source.definitions(missing_roles, missing_scopes)
            self._roles.update({name: roles.get(name) for name in missing_roles})
            self._scopes.update({scope_id: scopes.get(scope_id) for scope_id in missing_scopes})
        return (
            {name: permissions for name in role_names if (permissions := self._roles[name]) is not None},
            {scope_id: scope for scope_id in scope_ids if (scope := self._scopes[scope_id]) is not None},
        )

    def scope_definitions(self, scope_ids: set[str]) -> dict[str, ScopeDefinition]:
        """Scopes by id (a `ScopeSource`; those that do not exist are left out)."""
        return self.definitions((), scope_ids)[1]

    def load_policies(self) -> list[AssurancePolicy]:
        """Every policy in force (a `PolicySource`), read once per version."""
        if self._policies is None:
            self._policies = self._source.policies(self.version.policy_ids)
        return self._policies

    def policies_for(self) -> PoliciesFor:
        """The policies that apply to an image, and their scopes, from this snapshot."""
        return policies_for_images(self)


class ConfigCache:
    """One function instance's snapshot, replaced whenever a read finds another version."""

    def __init__(self, source: ConfigSource) -> None:
        self._source = source
        self._snapshot: Snapshot | None = None

    def read(self, keys: Sequence[dict[str, str]] = ()) -> tuple[Snapshot, FirstReads]:
        """One BatchGetItem: the version and the items at `keys`; the snapshot of that version."""
        version, items = self._source.read_with(keys)
        snapshot = self._snapshot
        if snapshot is None or snapshot.version.stamp != version.stamp:
            snapshot = self._snapshot = Snapshot(self._source, version)
        return snapshot, FirstReads(items, frozenset(key_of(key) for key in keys))
