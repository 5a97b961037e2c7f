"""What a verdict request reads first, by key, in the same BatchGetItem as the configuration version: the
image summary, or the tag pointer of a reference by tag — with the image the tag pointed at when this
instance last answered for it, so that a tag asked for again (a deploy gate, an admission check) costs
no second round trip.

Keys (docs/architecture.md, "The table"; written by riskgate.adapters.store): image summary
`IMAGE#<image_id>` / `META`; tag pointer `REF#<registry>/<repository>:<tag>` / `REF`, whose `image_id`
names the image and `updated_at` the `received_at` of the scan that last moved it there. The store
moves a pointer only in the transaction that makes that scan its image's current one, which sets the
summary's `last_scan_at` to the same `received_at`.

**Why the summary read beside the pointer is used only when `last_scan_at >= updated_at`.** Read one
after the other (pointer, then summary), the summary is at least as new as the pointer. Read in one
BatchGetItem, each read is consistent but their order is not: the summary may have been read just before
a transaction that moved the pointer back to this image with a newer scan, and the pointer just after it.
Such a summary predates the pointer's last move (`last_scan_at < updated_at`) and is read again on its
own. A summary at or after the move is one the sequential reads could have returned: another transaction
between the two reads that did not move this pointer leaves a state in which both held.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from riskgate.adapters.config_version import FirstReads
from riskgate.adapters.store import Store, image_pk
from riskgate.domain.images import ImageRef

# Tags remembered per instance (a few hundred bytes each).
TAG_HINTS = 1024


def image_key(image_id: str) -> dict[str, str]:
    return {"pk": image_pk(image_id), "sk": "META"}


def tag_pointer_key(ref: ImageRef) -> dict[str, str]:
    return {"pk": f"REF#{ref.name}:{ref.tag}", "sk": "REF"}


class TagHints:
    """The image each tag pointed at when last read here: least recently used ones forgotten first."""

    def __init__(self, size: int = TAG_HINTS) -> None:
        self._size = size
        self._images: OrderedDict[str, str] = OrderedDict()

    def get(self, ref: ImageRef) -> str | None:
        key = tag_pointer_key(ref)["pk"]
        image_id = self._images.get(key)
        if image_id is not None:
            self._images.move_to_end(key)
        return image_id

    def remember(self, ref: ImageRef, image_id: str | None) -> None:
        key = tag_pointer_key(ref)["pk"]
        if image_id is None:
            self._images.pop(key, None)
            return
        self._images[key] = image_id
        self._images.move_to_end(key)
        while len(self._images) > self._size:
            self._images.popitem(last=False)


def first_keys_for_reference(ref: ImageRef, hints: TagHints) -> list[dict[str, str]]:
    """The keys to read first for `GET /v1/verdict?image=<ref>`: the image itself for a digest; for a
    tag, its pointer and the image it pointed at last time (if this instance knows)."""
    if ref.digest:
        return [image_key(ref.image_id)]
    hinted = hints.get(ref)
    return [tag_pointer_key(ref), *([image_key(hinted)] if hinted else [])]


def image_for_reference(
    ref: ImageRef, first: FirstReads, store: Store, hints: TagHints
) -> tuple[str | None, dict[str, Any] | None]:
    """The image id a reference names and its summary (None, None: no such tag; an id and None: no such
    image), from the first reads where they answer, else read now."""
    if ref.digest:
        return ref.image_id, image_by_id(ref.image_id, first, store)
    read, pointer = first.get(tag_pointer_key(ref))
    image_id = (pointer or {}).get("image_id") if read else store.image_for_tag(ref)
    hints.remember(ref, image_id)
    if image_id is None:
        return None, None
    read, image = first.get(image_key(image_id))
    if read and image is not None and pointer is not None and _not_older(image, pointer):
        return image_id, image
    return image_id, store.get_image(image_id)


def image_by_id(image_id: str, first: FirstReads, store: Store) -> dict[str, Any] | None:
    """An image summary, from the first reads when they hold it (found or not), else read now."""
    read, image = first.get(image_key(image_id))
    return image if read else store.get_image(image_id)


def _not_older(image: dict[str, Any], pointer: dict[str, Any]) -> bool:
    """Whether the summary is at least as new as the pointer's last move (see the module's docstring)."""
    scanned, moved = image.get("last_scan_at"), pointer.get("updated_at")
    return bool(scanned and moved and str(scanned) >= str(moved))
