"""What uses what: a scope, custom role or integration cannot be deleted while something uses it.

Whatever uses a scope or custom role (a user's role bindings, policies) or an integration (response
policies) has a reference item `USES#<kind>#<key>` / `<referrer type>#<referrer id>`, written in the
referrer's own transaction. A Query cannot be a transaction condition, so the transaction that *adds* a
reference also bumps `uses_version` on the target's item, conditional on `attribute_exists(pk)` (which
is also the check that the target exists). A delete reads the target (version v, uses_version u), then
queries the references with a strongly consistent read, and deletes only on the condition
`version = v AND uses_version = u`:

- a reference added before the read is found by the query (409 naming its referrers);
- a reference added after the read changed `uses_version`, so the delete fails and is retried from a
  fresh read, which then finds it;
- a reference added after the delete fails on `attribute_exists(pk)`: the target is gone.

`uses_version` is not `version` so that binding a scope does not make a concurrent edit of the scope
stale; edits use UpdateExpressions that never write `uses_version`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from riskgate.adapters.access_definitions import role_key, scope_key
from riskgate.adapters.dynamo import expression_values, from_item, to_item
from riskgate.adapters.transactions import Transaction
from riskgate.domain.errors import Conflict, InvalidInput

ReferenceKind = Literal["scope", "role", "integration"]

# How many referrers a 409 on a delete names; the rest are summed up as "and more".
REFERRERS_NAMED = 25


def integration_key(name: str) -> dict[str, str]:
    """An integration's item (riskgate.adapters.integrations): its name is its key."""
    return {"pk": f"INTEGRATION#{name}", "sk": "META"}


_TARGET_KEYS: dict[str, Callable[[str], dict[str, str]]] = {
    "scope": scope_key,
    "role": role_key,
    "integration": integration_key,
}


@dataclass(frozen=True, order=True)
class Reference:
    """Something a referrer depends on: a scope (by id), a custom role or an integration (by name)."""

    kind: ReferenceKind
    key: str

    @property
    def partition(self) -> str:
        return f"USES#{self.kind}#{self.key}"

    @property
    def target_key(self) -> dict[str, str]:
        return _TARGET_KEYS[self.kind](self.key)


def referrers(
    client: Any, table_name: str, reference: Reference, limit: int = REFERRERS_NAMED
) -> tuple[list[dict[str, Any]], bool]:
    """Who uses a scope, role or integration (strongly consistent: the delete's safety depends on it),
    and whether there are more than `limit`."""
    response = client.query(
        TableName=table_name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues=expression_values({":pk": reference.partition}),
        ConsistentRead=True,
        Limit=limit,
    )
    items = [from_item(item) for item in response.get("Items", [])]
    found = [
        {"type": item["referrer_type"], "id": item["referrer_id"], "name": item.get("referrer_name")}
        for item in items
    ]
    return found, bool(response.get("LastEvaluatedKey"))


def refuse_if_used(client: Any, table_name: str, reference: Reference, what: str) -> None:
    """A 409 naming the referrers of `reference`, if it has any. The delete that follows must be
    conditional on the `uses_version` read before this query (see the module's docstring)."""
    found, more = referrers(client, table_name, reference)
    if not found:
        return
    named = ", ".join(f"{r['type']} {r['name'] or r['id']} ({r['id']})" for r in found)
    raise Conflict(
        f"{what} is in use by {named}{', and more' if more else ''}: remove those uses first",
        details=found,
    )


def reference_key(reference: Reference, referrer_type: str, referrer_id: str) -> dict[str, str]:
    return {"pk": reference.partition, "sk": f"{referrer_type}#{referrer_id}"}


def reference_item(
    reference: Reference, referrer_type: str, referrer_id: str, referrer_name: str
) -> dict[str, Any]:
    return {
        **reference_key(reference, referrer_type, referrer_id),
        "item_type": "reference",
        "referrer_type": referrer_type,
        "referrer_id": referrer_id,
        "referrer_name": referrer_name,
    }


def add_reference(
    transaction: Transaction,
    reference: Reference,
    referrer_type: str,
    referrer_id: str,
    referrer_name: str,
    location: str,
    *,
    must_have: Mapping[str, Any] | None = None,
) -> None:
    """The reference item, and the bump of the target's `uses_version` that makes any delete of the
    target decided on an older read fail (see the module's docstring). A missing target (or one without
    the attribute values of `must_have`, e.g. an integration's type) is a 422 on `location`, the request
    field that named it."""
    transaction.put(reference_item(reference, referrer_type, referrer_id, referrer_name))
    condition, names, values = "attribute_exists(pk)", {}, {":one": 1}
    for number, (attribute, value) in enumerate(sorted((must_have or {}).items())):
        names[f"#m{number}"] = attribute
        values[f":m{number}"] = value
        condition += f" AND #m{number} = :m{number}"
    update: dict[str, Any] = {
        "Key": to_item(reference.target_key),
        "UpdateExpression": "ADD uses_version :one",
        "ConditionExpression": condition,
        "ExpressionAttributeValues": expression_values(values),
    }
    if names:
        update["ExpressionAttributeNames"] = names
    wanted = "".join(f" with {attribute} {value}" for attribute, value in sorted((must_have or {}).items()))
    transaction.add(
        {"Update": update},
        InvalidInput(
            f"{reference.kind} {reference.key} does not exist{wanted}",
            details=[{"location": location, "message": f"unknown {reference.kind}{wanted}"}],
        ),
    )
