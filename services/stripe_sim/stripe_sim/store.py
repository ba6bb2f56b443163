"""In-memory objects keyed by id, Stripe-style ids, list pagination and `expand`.

All state lives in one asyncio event loop and every write runs under the simulator's
write lock, so no object is ever seen half-updated.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable, Iterable
from typing import Any

from aiaas import clock
from stripe_sim.errors import ParamError, StripeError, resource_missing
from stripe_sim.forms import Params

__all__ = ["Store", "new_id", "now"]

_ALPHABET = string.ascii_letters + string.digits
Obj = dict[str, Any]


def new_id(prefix: str, length: int = 24) -> str:
    """An id such as `cus_Nffr...`: prefix, underscore, random base62."""
    return f"{prefix}_{''.join(secrets.choice(_ALPHABET) for _ in range(length))}"


def now() -> int:
    """Unix seconds, the unit of every Stripe timestamp.

    On aiaas.clock so the stand-in lives at the same (possibly shifted) date as billing: meter-event
    timestamps billing stamps with that clock must fall in this Stripe's window. Webhook signature
    timestamps are not these: both sides sign and check them on the real clock.
    """
    return int(clock.now().timestamp())


class Store:
    """Every object by id, and the ids of each object type in creation order."""

    def __init__(self) -> None:
        self._objects: dict[str, Obj] = {}
        self._order: dict[str, list[str]] = {}

    def add(self, obj: Obj) -> Obj:
        self._objects[obj["id"]] = obj
        self._order.setdefault(obj["object"], []).append(obj["id"])
        return obj

    def find(self, object_id: str) -> Obj | None:
        """Any object by id (used by `expand` and the control API)."""
        return self._objects.get(object_id)

    def get(self, object_type: str, object_id: str, *, param: str = "id", status: int = 404) -> Obj:
        """The object of `object_type` with `object_id`, or Stripe's resource_missing error."""
        obj = self._objects.get(object_id)
        if obj is None or obj["object"] != object_type:
            raise resource_missing(object_type.split(".")[-1].replace("_", " "), object_id, param=param, status=status)
        return obj

    def all(self, object_type: str) -> list[Obj]:
        """Objects of a type, newest first (Stripe's list order)."""
        return [self._objects[object_id] for object_id in reversed(self._order.get(object_type, []))]

    def page(
        self, object_type: str, params: Params, url: str, *, where: Callable[[Obj], bool] = lambda _obj: True
    ) -> Obj:
        """A list object honouring `limit`, `starting_after` and `ending_before`."""
        limit = params.integer("limit", minimum=1)
        if limit is not None and limit > 100:
            raise ParamError("This value must be less than or equal to 100.", param="limit")
        limit = limit or 10
        items = [obj for obj in self.all(object_type) if where(obj)]
        after, before = params.text("starting_after"), params.text("ending_before")
        ids = [obj["id"] for obj in items]
        if after is not None:
            if after not in ids:
                raise resource_missing(object_type, after, param="starting_after", status=400)
            items = items[ids.index(after) + 1 :]
        elif before is not None:
            if before not in ids:
                raise resource_missing(object_type, before, param="ending_before", status=400)
            items = items[: ids.index(before)][-limit:]
        return list_object(url, items[:limit], has_more=len(items) > limit)

    def reset(self) -> None:
        self._objects.clear()
        self._order.clear()

    def expand(self, obj: Obj, paths: Iterable[str]) -> Obj:
        """A copy of `obj` with the id fields named by `paths` (`customer`, `data.customer`) replaced by objects."""
        out = dict(obj)
        for path in paths:
            head, _, rest = path.partition(".")
            value = out.get(head)
            if head not in out:
                raise ParamError(f"This property cannot be expanded ({path}).", param="expand")
            if rest:
                if isinstance(value, list):
                    out[head] = [self.expand(item, [rest]) if isinstance(item, dict) else item for item in value]
                elif isinstance(value, dict):
                    out[head] = self.expand(value, [rest])
                elif isinstance(value, str):
                    target = self._expanded(value, path)
                    out[head] = self.expand(target, [rest])
                continue
            if isinstance(value, str):
                out[head] = self._expanded(value, path)
        return out

    def _expanded(self, object_id: str, path: str) -> Obj:
        target = self._objects.get(object_id)
        if target is None:
            raise StripeError(400, f"This property cannot be expanded ({path}).", param="expand")
        return target


def list_object(url: str, data: list[Obj], *, has_more: bool = False) -> Obj:
    """Stripe's list envelope."""
    return {"object": "list", "data": data, "has_more": has_more, "url": url}
