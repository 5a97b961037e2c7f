"""The table as the source of a configuration snapshot (riskgate.services.config_cache): the version item
with a request's first items, then custom roles, scopes and policies — every read strongly consistent."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from riskgate.adapters.access_definitions import definition_keys, definitions_from_items
from riskgate.adapters.config_version import ConfigReads, ConfigVersion, Key
from riskgate.adapters.policies import PolicyStore
from riskgate.adapters.store import default_store
from riskgate.domain.access import ScopeDefinition
from riskgate.domain.permissions import Permission
from riskgate.domain.policies import AssurancePolicy


class TableConfigSource:
    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self._reads = ConfigReads(table_name, client)
        self._policies = PolicyStore(table_name, client=client)

    def read_with(self, keys: Sequence[dict[str, str]]) -> tuple[ConfigVersion, dict[Key, dict[str, Any]]]:
        return self._reads.read_with(keys)

    def definitions(
        self, role_names: set[str], scope_ids: set[str]
    ) -> tuple[dict[str, frozenset[Permission]], dict[str, ScopeDefinition]]:
        """Custom roles and scopes by key, in one BatchGetItem (per 100)."""
        keys = definition_keys(role_names, scope_ids)
        return definitions_from_items(self._reads.get_many(keys) if keys else [])

    def policies(self, known_ids: Iterable[str]) -> list[AssurancePolicy]:
        return self._policies.load_policies_exactly(known_ids)


def default_config_source() -> TableConfigSource:
    """The configured table's, sharing the store's client (and its lifetime)."""
    store = default_store()
    return TableConfigSource(store.table_name, client=store.client)
