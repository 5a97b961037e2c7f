"""What evaluation needs of risk acceptances: those whose scope contains an image, each target and scope
read once (`acceptances_for_images`), and the caller's own change laid over them (`with_change`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from riskgate.domain.acceptances import RiskAcceptance, targets_for
from riskgate.domain.access import ScopeDefinition
from riskgate.domain.permissions import GLOBAL_SCOPE
from riskgate.services.acceptances import AcceptancePort, AcceptancesFor, ScopeSource


def acceptances_for_images(port: AcceptancePort, scopes: ScopeSource) -> AcceptancesFor:
    """An `AcceptancesFor` that reads each target (an image, a repository, `all`) and each scope once.

    Make one per request or stream batch, as `policies_for_images`.
    """
    by_target: dict[str, list[RiskAcceptance]] = {}
    definitions: dict[str, ScopeDefinition] = {}

    def acceptances_for(image: Mapping[str, Any]) -> list[RiskAcceptance]:
        image_id, registry, repository = (
            str(image["image_id"]),
            str(image["registry"]),
            str(image["repository"]),
        )
        found: list[RiskAcceptance] = []
        for target in targets_for(registry, repository):
            if target not in by_target:
                by_target[target] = [
                    RiskAcceptance.from_fields(item) for item in port.active_for_target(target)
                ]
            for acceptance in by_target[target]:
                missing = set(acceptance.scope.within) - set(definitions) - {GLOBAL_SCOPE}
                if missing:
                    definitions.update(scopes(missing))
                if acceptance.scope.contains(
                    image_id, registry, repository, image.get("tags") or (), definitions
                ):
                    found.append(acceptance)
        return found

    return acceptances_for


def with_change(
    acceptances_for: AcceptancesFor, include: RiskAcceptance | None, exclude: str | None
) -> AcceptancesFor:
    """`acceptances_for` with the caller's own change applied, whatever the index shows yet."""

    def changed(image: Mapping[str, Any]) -> list[RiskAcceptance]:
        found = [
            a for a in acceptances_for(image) if a.id != exclude and (include is None or a.id != include.id)
        ]
        return [*found, include] if include is not None else found

    return changed
