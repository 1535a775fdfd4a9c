"""A subset of Alfresco Full Text Search: enough for incremental scans.

Supported: `ANCESTOR:"workspace://SpacesStore/ID"`, `PARENT:`, `TYPE:"cm:content"|"cm:folder"`, `ID:`,
`cm:name:`, `cm:modified:` / `cm:created:` ranges (`[X TO Y]`, `<X TO Y>`, MIN/MAX/NOW), AND, OR, NOT,
parentheses; juxtaposed terms are ANDed. Anything else is a 400, so a client never gets silently
wrong results from a query the emulator does not understand.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from emulator.clock import parse
from emulator.errors import ApiError
from emulator.store import Node, Store

_TOKEN = re.compile(r'\s*(?:(?P<q>"(?:[^"\\]|\\.)*")|(?P<p>[()\[\]<>])|(?P<w>[^\s()\[\]<>"]+))')
FIELDS = ("ancestor", "parent", "type", "id", "cm:name", "cm:modified", "cm:created")
Pred = Callable[[Node], bool]


@dataclass
class Bounds:
    """The modification window a query requires at its top level; lets the store pre-filter by index."""

    since: int | None = None
    until: int | None = None
    parent: str | None = None


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ApiError(400, f"Cannot parse query near: {text[pos : pos + 20]}")
        kind = m.lastgroup or "w"
        value = m.group(kind)
        out.append((kind, value[1:-1].replace('\\"', '"') if kind == "q" else value))
        pos = m.end()
    return out


def _strip_ref(value: str) -> str:
    return value.rsplit("/", 1)[-1] if value.startswith("workspace://") else value


class _Parser:
    def __init__(self, store: Store, text: str, now_ms: int) -> None:
        self.store = store
        self.toks = _tokens(text)
        self.i = 0
        self.now_ms = now_ms
        self.bounds = Bounds()

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise ApiError(400, "Unexpected end of query")
        self.i += 1
        return tok

    def parse(self) -> Pred:
        if not self.toks:
            raise ApiError(400, "Empty query")
        pred = self.or_expr(top=True)
        if self.peek() is not None:
            raise ApiError(400, f"Unexpected token in query: {self.peek()[1]}")  # type: ignore[index]
        return pred

    def or_expr(self, top: bool = False) -> Pred:
        parts = [self.and_expr(top)]
        while (tok := self.peek()) and tok == ("w", "OR"):
            self.take()
            parts.append(self.and_expr(False))
        if len(parts) > 1:
            self.bounds = Bounds() if top else self.bounds
            return lambda n: any(p(n) for p in parts)
        return parts[0]

    def and_expr(self, top: bool) -> Pred:
        parts = [self.unary(top)]
        while (tok := self.peek()) and tok != ("w", "OR") and tok != ("p", ")"):
            if tok == ("w", "AND"):
                self.take()
            parts.append(self.unary(top))
        return parts[0] if len(parts) == 1 else (lambda n: all(p(n) for p in parts))

    def unary(self, top: bool) -> Pred:
        tok = self.peek()
        if tok in (("w", "NOT"), ("w", "-")):
            self.take()
            inner = self.unary(False)
            return lambda n: not inner(n)
        if tok == ("p", "("):
            self.take()
            inner = self.or_expr(False)
            if self.take() != ("p", ")"):
                raise ApiError(400, "Missing closing parenthesis")
            return inner
        return self.term(top)

    def term(self, top: bool) -> Pred:
        kind, word = self.take()
        if kind != "w":
            raise ApiError(400, f"Unexpected token in query: {word}")
        word = word.lstrip("@=")
        low = word.lower()
        field = next((f for f in FIELDS if low.startswith(f + ":")), None)
        if field is None:
            raise ApiError(400, f"Unsupported query term: {word}")
        rest = word[len(field) + 1 :]
        if field in ("cm:modified", "cm:created") and not rest:
            return self.range(field, top)
        value = rest or self.take()[1]
        if field == "ancestor":
            below = set(self.store.descendant_ids(_strip_ref(value)))
            return lambda n: n.id in below
        if field == "parent":
            parent = _strip_ref(value)
            if top:
                self.bounds.parent = parent
            return lambda n: n.parent_id == parent
        if field == "id":
            ident = _strip_ref(value)
            return lambda n: n.id == ident
        if field == "type":
            return self._type(value)
        if field == "cm:name":
            pattern = re.compile("^" + re.escape(value.lower()).replace(r"\*", ".*").replace(r"\?", ".") + "$")
            return lambda n: bool(pattern.match(n.name.lower()))
        stamp = self._date(value)
        col = "modified_at" if field == "cm:modified" else "created_at"
        return lambda n: getattr(n, col) // 1000 == stamp // 1000

    def _type(self, value: str) -> Pred:
        if value == "cm:content":
            return lambda n: not n.is_folder
        if value == "cm:folder":
            return lambda n: n.is_folder and n.node_type != "st:site"
        return lambda n: n.node_type == value

    def _date(self, value: str) -> int:
        if value.upper() in ("MIN",):
            return -(2**62)
        if value.upper() in ("MAX",):
            return 2**62
        if value.upper() == "NOW":
            return self.now_ms
        ms = parse(value)
        if ms is None:
            raise ApiError(400, f"Invalid date in query: {value}")
        return ms

    def range(self, field: str, top: bool) -> Pred:
        _, opening = self.take()
        if opening not in ("[", "<"):
            raise ApiError(400, f"Expected a range after {field}:")
        low = self._date(self.take()[1])
        if self.take() != ("w", "TO"):
            raise ApiError(400, "Expected TO in range")
        high = self._date(self.take()[1])
        _, closing = self.take()
        if closing not in ("]", ">"):
            raise ApiError(400, "Unclosed range")
        incl_low, incl_high = opening == "[", closing == "]"
        col = "modified_at" if field == "cm:modified" else "created_at"
        if top and col == "modified_at":
            self.bounds.since = low if low > -(2**62) else None
            self.bounds.until = high if high < 2**62 else None

        def pred(n: Node) -> bool:
            v = getattr(n, col)
            return (v >= low if incl_low else v > low) and (v <= high if incl_high else v < high)

        return pred


def compile_query(store: Store, text: str, now_ms: int) -> tuple[Pred, Bounds]:
    p = _Parser(store, text, now_ms)
    return p.parse(), p.bounds
