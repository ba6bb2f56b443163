"""Stripe's form encoding: `items[0][price]=p&expand[]=x&metadata[k]=v` to nested dicts and lists.

`Params` then reads typed values out of the decoded tree and names the offending
parameter the way Stripe does (`items[0][price]`) when one is missing or malformed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from stripe_sim.errors import ParamError

__all__ = ["Params", "decode_form"]

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
_INTEGER = re.compile(r"^-?[0-9]+$")
_MAX_INDEX = 1000
_MAX_STRING = 5000
_METADATA_KEYS = 50


def decode_form(raw: bytes | str) -> dict[str, Any]:
    """Decode a form body or query string; arrays come back as lists in index order."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise ParamError("The request body could not be decoded as UTF-8 form data.", param=None) from exc
    root: dict[str, Any] = {}
    for key, value in pairs:
        _assign(root, key, value)
    return _listify(root)


def _assign(root: dict[str, Any], key: str, value: str) -> None:
    match = _KEY.match(key)
    if match is None:
        raise ParamError(f"Invalid parameter name: {key[:100]}", param=key[:100], code="parameter_unknown")
    path = [match.group(1), *_SEGMENT.findall(match.group(2))]
    node = root
    for depth, segment in enumerate(path):
        if segment == "":
            if depth != len(path) - 1:
                raise ParamError(f"Invalid array parameter: {key[:100]}", param=key[:100])
            segment = str(sum(1 for existing in node if existing.isdigit()))
        elif segment.isdigit() and int(segment) > _MAX_INDEX:
            raise ParamError(f"Array index too large in {key[:100]}", param=key[:100])
        last = depth == len(path) - 1
        current = node.get(segment)
        if last:
            if isinstance(current, dict):
                raise ParamError(f"Conflicting values for {key[:100]}", param=key[:100])
            node[segment] = value
            return
        if current is None:
            current = node[segment] = {}
        elif not isinstance(current, dict):
            raise ParamError(f"Conflicting values for {key[:100]}", param=key[:100])
        node = current


def _listify(node: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        out[key] = _listify_value(value)
    return out


def _listify_value(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    if value and all(key.isdigit() for key in value):
        return [_listify_value(value[key]) for key in sorted(value, key=int)]
    return _listify(value)


class Params:
    """Typed access to one request's decoded parameters, with Stripe's error messages."""

    def __init__(self, data: Mapping[str, Any], prefix: str = "") -> None:
        self.data = dict(data)
        self._prefix = prefix

    def name(self, key: str) -> str:
        """The parameter's wire name (`items[0][price]`)."""
        return f"{self._prefix}[{key}]" if self._prefix else key

    def only(self, allowed: Iterable[str]) -> Params:
        """Reject any parameter outside `allowed` (`expand` is always allowed)."""
        known = {*allowed, "expand"}
        for key in self.data:
            if key not in known:
                raise ParamError(
                    f"Received unknown parameter: {self.name(key)}", param=self.name(key), code="parameter_unknown"
                )
        return self

    def pick(self, keys: Iterable[str]) -> Params:
        """The same parameters restricted to `keys` (names in errors keep their prefix)."""
        return Params({key: self.data[key] for key in keys if key in self.data}, self._prefix)

    def has(self, key: str) -> bool:
        return key in self.data

    def text(self, key: str, *, required: bool = False, max_length: int = _MAX_STRING) -> str | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise _missing(self.name(key))
            return None
        if not isinstance(value, str):
            raise ParamError(f"Invalid string: {self.name(key)} must be a string", param=self.name(key))
        if len(value) > max_length:
            raise ParamError(
                f"Invalid string: {self.name(key)} must be at most {max_length} characters", param=self.name(key)
            )
        return value

    def required_text(self, key: str, *, max_length: int = _MAX_STRING) -> str:
        value = self.text(key, required=True, max_length=max_length)
        if not value:
            raise _missing(self.name(key))
        return value

    def integer(self, key: str, *, required: bool = False, minimum: int | None = None) -> int | None:
        raw = self.text(key, required=required, max_length=20)
        if raw is None:
            return None
        if not _INTEGER.match(raw):
            raise ParamError(f"Invalid integer: {raw[:40]}", param=self.name(key), code="parameter_invalid_integer")
        value = int(raw)
        if minimum is not None and value < minimum:
            raise ParamError(
                f"This value must be greater than or equal to {minimum}.",
                param=self.name(key),
                code="parameter_invalid_integer",
            )
        return value

    def decimal(self, key: str, *, required: bool = False) -> Decimal | None:
        raw = self.text(key, required=required, max_length=40)
        if raw is None:
            return None
        try:
            value = Decimal(raw)
        except InvalidOperation:
            value = Decimal("NaN")
        if not value.is_finite():
            raise ParamError(f"Invalid decimal: {raw[:40]}", param=self.name(key))
        return value

    def boolean(self, key: str) -> bool | None:
        raw = self.text(key, max_length=5)
        if raw is None:
            return None
        if raw not in ("true", "false"):
            raise ParamError(f"Invalid boolean: {raw}", param=self.name(key), code="parameter_invalid_boolean")
        return raw == "true"

    def choice(self, key: str, choices: tuple[str, ...], *, required: bool = False) -> str | None:
        value = self.text(key, required=required, max_length=100)
        if value is not None and value not in choices:
            raise ParamError(
                f"Invalid {self.name(key)}: must be one of {', '.join(choices)}",
                param=self.name(key),
                code="parameter_invalid_string",
            )
        return value

    def hash(self, key: str, *, required: bool = False) -> Params | None:
        """A nested hash parameter (`recurring[...]`)."""
        value = self.data.get(key)
        if value is None or value == "":
            if required:
                raise _missing(self.name(key))
            return None
        if not isinstance(value, dict):
            raise ParamError(f"Invalid object: {self.name(key)} must be a hash", param=self.name(key))
        return Params(value, self.name(key))

    def hashes(self, key: str, *, required: bool = False) -> list[Params]:
        """An array of hashes (`items[0][price]`)."""
        value = self.data.get(key)
        if value is None or value == "":
            if required:
                raise _missing(self.name(key))
            return []
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise ParamError(f"Invalid array: {self.name(key)} must be an array of hashes", param=self.name(key))
        return [Params(item, f"{self.name(key)}[{index}]") for index, item in enumerate(value)]

    def strings(self, key: str) -> list[str]:
        """An array of strings (`expand[]=a`); a single value is taken as a one-item array."""
        value = self.data.get(key)
        if value is None:
            return []
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(item, str) for item in items):
            raise ParamError(f"Invalid array: {self.name(key)} must be an array of strings", param=self.name(key))
        return list(items)

    def metadata(self) -> dict[str, str] | None:
        """`metadata[k]=v` pairs (an empty value unsets k on update), with Stripe's limits."""
        value = self.data.get("metadata")
        if value is None:
            return None
        if value == "":
            return {}
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ParamError("Invalid metadata: must be a hash of strings", param=self.name("metadata"))
        if len(value) > _METADATA_KEYS:
            raise ParamError("Invalid metadata: at most 50 keys", param=self.name("metadata"))
        for key, item in value.items():
            if len(key) > 40 or len(item) > 500:
                raise ParamError(
                    "Invalid metadata: keys are at most 40 characters and values at most 500",
                    param=f"{self.name('metadata')}[{key[:40]}]",
                )
        return dict(value)


def _missing(name: str) -> ParamError:
    return ParamError(f"Missing required param: {name}.", param=name, code="parameter_missing")
