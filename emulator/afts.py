"""A subset of Alfresco Full Text Search (AFTS): enough for incremental scans and the queries clients send.

Supported:
- field terms `ANCESTOR:`, `PARENT:`, `ID:`, `TYPE:` / `EXACTTYPE:`, `ASPECT:` / `EXACTASPECT:`, `SITE:`, `PATH:`,
  `cm:name:`, `cm:title:`, `cm:description:`, `cm:content:`, `TEXT:`, `cm:creator:`, `cm:modifier:`,
  `cm:modified:` / `cm:created:` (a value, or a range `[X TO Y]` / `<X TO Y>` with MIN, MAX, NOW and date maths);
- bare terms and "quoted phrases", matched against TEXT (cm:name, cm:title, cm:description, cm:content);
- AND, OR, NOT, `-term`, `+term`, `!term`, parentheses; juxtaposed terms are ANDed (defaultFTSOperator AND);
  `=cm:name:"x"` is an exact (untokenized) match of the whole name.
Anything else is a 400, so a client never gets silently wrong results from a query the emulator does not know.

Each query compiles to a function node -> score (None = no match); text terms score by how often they occur,
which gives the relevance order Alfresco uses when a search names no sort.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from emulator.clock import parse
from emulator.errors import ApiError
from emulator.store import Node, Store

_TOKEN = re.compile(r'\s*(?:(?P<q>"(?:[^"\\]|\\.)*")|(?P<p>[()\[\]<>])|(?P<w>[^\s()\[\]<>"]+))')
FIELDS = (
    "ancestor",
    "parent",
    "exacttype",
    "type",
    "exactaspect",
    "aspect",
    "site",
    "path",
    "id",
    "text",
    "cm:name",
    "cm:title",
    "cm:description",
    "cm:content",
    "cm:creator",
    "cm:modifier",
    "cm:modified",
    "cm:created",
)
DATE_FIELDS = {"cm:modified": "modified_at", "cm:created": "created_at"}
TEXT_FIELDS = ("cm:name", "cm:title", "cm:description", "cm:content")
"""AlfrescoDefaultTextFields: what TEXT (and a bare term) searches when the request names no textAttributes."""
TEXT_CONTENT_LIMIT = 1 << 20
"""Content read for cm:content matching, per file: enough for the text files tests and demos search."""
_TEXT_MIMES = ("text/", "application/json", "application/xml")
_WORD = re.compile(r"\w+", re.UNICODE)
_DATE_MATH = re.compile(r"(?:([+-]\d+)|/)(SECOND|MINUTE|HOUR|DAY|WEEK|MONTH|YEAR)S?")
_ROOT_QNAMES = {"Company Home": "app:company_home", "Sites": "st:sites", "User Homes": "app:user_homes"}
_ISO9075 = re.compile(r"_x([0-9A-Fa-f]{4})_")
MIN_MS, MAX_MS = -(2**62), 2**62

Score = float | None
Query = Callable[[Node], Score]


@dataclass
class Bounds:
    """The modification window and parent a query requires at its top level; lets the store pre-filter by index."""

    since: int | None = None
    until: int | None = None
    parent: str | None = None

    def narrow(self, other: Bounds) -> Bounds:
        """Both must hold (a query and its filter queries)."""
        since = max((b for b in (self.since, other.since) if b is not None), default=None)
        until = min((b for b in (self.until, other.until) if b is not None), default=None)
        return Bounds(since, until, self.parent or other.parent)


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


def iso9075_decode(text: str) -> str:
    """ISO9075.decode: `_x0020_` is a space in a path QName."""
    return _ISO9075.sub(lambda m: chr(int(m.group(1), 16)), text)


def _add_months(dt: datetime, months: int) -> datetime:
    month = dt.month - 1 + months
    year, month = dt.year + month // 12, month % 12 + 1
    days = [31, 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    return dt.replace(year=year, month=month, day=min(dt.day, days[month - 1]))


def _round(dt: datetime, unit: str) -> datetime:
    if unit == "YEAR":
        return dt.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == "MONTH":
        return dt.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == "WEEK":
        day = dt.replace(hour=0, minute=0, second=0, microsecond=0)
        return day - timedelta(days=day.weekday())
    keep = {"DAY": 3, "HOUR": 4, "MINUTE": 5, "SECOND": 6}[unit]
    parts = [dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second][:keep]
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def date_value(text: str, now_ms: int) -> int:
    """A date of a query in ms: MIN, MAX, NOW or an ISO date, then any date maths (DateMathConverter: `+N`/`-N`
    of SECOND, MINUTE, HOUR, DAY, WEEK, MONTH or YEAR, plural allowed, and `/UNIT` to round down), e.g.
    `NOW-1DAY`, `NOW/DAY+1HOUR`, `2026-11-27T00:00:00Z+7DAYS`."""
    upper = text.strip().upper()
    if upper == "MIN":
        return MIN_MS
    if upper == "MAX":
        return MAX_MS
    base, math = (upper[:3], upper[3:]) if upper.startswith("NOW") else _split_math(text.strip())
    if base == "NOW":
        dt = datetime.fromtimestamp(now_ms / 1000, tz=UTC)
    else:
        ms = parse(base)
        if ms is None:
            raise ApiError(400, f"Invalid date in query: {text}")
        dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    pos = 0
    math = math.upper()
    while pos < len(math):
        m = _DATE_MATH.match(math, pos)
        if not m:
            raise ApiError(400, f"Invalid date maths in query: {text}")
        amount, unit = m.group(1), m.group(2)
        if amount is None:
            dt = _round(dt, unit)
        elif unit in ("MONTH", "YEAR"):
            dt = _add_months(dt, int(amount) * (12 if unit == "YEAR" else 1))
        else:
            seconds = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400, "WEEK": 604800}[unit]
            dt = dt + timedelta(seconds=int(amount) * seconds)
        pos = m.end()
    return int(dt.timestamp() * 1000)


def _split_math(text: str) -> tuple[str, str]:
    """`2026-11-27T00:00:00Z+1DAY` -> (the date, `+1DAY`): the maths start at the first operator after the time."""
    m = re.search(r"(?:[+-]\d+|/)(?:SECOND|MINUTE|HOUR|DAY|WEEK|MONTH|YEAR)S?(?:(?:[+-]\d+|/)[A-Z]+)*$", text.upper())
    return (text[: m.start()], text[m.start() :]) if m else (text, "")


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _term_pattern(term: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(term.lower()).replace(r"\*", ".*").replace(r"\?", ".") + "$")


class _Parser:
    def __init__(self, store: Store, text: str, now_ms: int) -> None:
        self.store = store
        self.toks = _tokens(text)
        self.i = 0
        self.now_ms = now_ms
        self.bounds = Bounds()
        self.texts: dict[tuple[str, str], list[str]] = {}
        self.parents: dict[str, str | None] = {}
        """parent id of each node met while answering ANCESTOR terms (one query's worth)."""

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise ApiError(400, "Unexpected end of query")
        self.i += 1
        return tok

    def parse(self) -> Query:
        if not self.toks:
            raise ApiError(400, "Empty query")
        query = self.or_expr(top=True)
        if self.peek() is not None:
            raise ApiError(400, f"Unexpected token in query: {self.peek()[1]}")  # type: ignore[index]
        return query

    def or_expr(self, top: bool = False) -> Query:
        parts = [self.and_expr(top)]
        while (tok := self.peek()) and tok == ("w", "OR"):
            self.take()
            parts.append(self.and_expr(False))
        if len(parts) == 1:
            return parts[0]
        if top:
            self.bounds = Bounds()

        def either(n: Node) -> Score:
            scores = [s for s in (p(n) for p in parts) if s is not None]
            return sum(scores) if scores else None

        return either

    def and_expr(self, top: bool) -> Query:
        parts = [self.unary(top)]
        while (tok := self.peek()) and tok != ("w", "OR") and tok != ("p", ")"):
            if tok == ("w", "AND"):
                self.take()
            parts.append(self.unary(top))
        if len(parts) == 1:
            return parts[0]

        def both(n: Node) -> Score:
            total = 0.0
            for p in parts:
                s = p(n)
                if s is None:
                    return None
                total += s
            return total

        return both

    def unary(self, top: bool) -> Query:
        tok = self.peek()
        if tok in (("w", "NOT"), ("w", "-"), ("w", "!")):
            self.take()
            return self._not(self.unary(False))
        if tok is not None and tok[0] == "w" and len(tok[1]) > 1 and tok[1][0] in "-!+":
            self.toks[self.i] = ("w", tok[1][1:])
            inner = self.unary(top and tok[1][0] == "+")
            return self._not(inner) if tok[1][0] in "-!" else inner
        if tok == ("p", "("):
            self.take()
            inner = self.or_expr(False)
            if self.take() != ("p", ")"):
                raise ApiError(400, "Missing closing parenthesis")
            return inner
        return self.term(top)

    @staticmethod
    def _not(inner: Query) -> Query:
        return lambda n: 0.0 if inner(n) is None else None

    def term(self, top: bool) -> Query:
        kind, word = self.take()
        if kind == "q":
            return self._text(TEXT_FIELDS, word)
        if kind != "w":
            raise ApiError(400, f"Unexpected token in query: {word}")
        exact = word.startswith("=")
        word = word.lstrip("@=")
        low = word.lower()
        name = next((f for f in FIELDS if low.startswith(f + ":")), None)
        if name is None:
            if re.match(r"^[A-Za-z]+:", word) or ":" in word.split("*")[0]:
                raise ApiError(400, f"Unsupported query field: {word.split(':', 1)[0]}")
            return self._text(TEXT_FIELDS, word)
        rest = word[len(name) + 1 :]
        if name in DATE_FIELDS and not rest and self.peek() in (("p", "["), ("p", "<")):
            return self.range(name, top)
        value = rest or self.take()[1]
        if exact and name == "cm:name":
            return lambda n: 1.0 if n.name == value else None
        return self._field(name, value, top)

    def _field(self, name: str, value: str, top: bool) -> Query:
        if name == "ancestor":
            # Answered from each candidate's own ancestry, as Solr does: SOLRTrackingComponentImpl#getNodesMetadata
            # sends every node's paths (nodeDAO.getPaths) and the index keeps its ancestors with the document, so the
            # term costs what the candidates cost, not the size of the tree below the ancestor.
            ancestor = _strip_ref(value)
            return lambda n: 1.0 if ancestor in self._ancestry(n) else None
        if name == "parent":
            parent = _strip_ref(value)
            if top:
                self.bounds.parent = parent
            return lambda n: 1.0 if n.parent_id == parent else None
        if name == "id":
            ident = _strip_ref(value)
            return lambda n: 1.0 if n.id == ident else None
        if name in ("type", "exacttype"):
            return self._type(value, exact=name == "exacttype")
        if name in ("aspect", "exactaspect"):
            # LuceneQueryParser#aspectQuery; a lock shows as cm:lockable (see serialize.aspect_names).
            return lambda n: 1.0 if value in n.aspects or (value == "cm:lockable" and n.lock_owner) else None
        if name == "site":
            return self._site(value)
        if name == "path":
            return self._path(value)
        if name == "text":
            return self._text(TEXT_FIELDS, value)
        if name in ("cm:name", "cm:title", "cm:description", "cm:content"):
            return self._text((name,), value)
        if name in ("cm:creator", "cm:modifier"):
            attr = "created_by" if name == "cm:creator" else "modified_by"
            return lambda n: 1.0 if getattr(n, attr) == value else None
        stamp = date_value(value, self.now_ms)
        col = DATE_FIELDS[name]
        return lambda n: 1.0 if getattr(n, col) // 1000 == stamp // 1000 else None

    def _ancestry(self, node: Node) -> list[str]:
        """The ids above a node, nearest first (its primary parents up to the store's root)."""
        out: list[str] = []
        current = node.parent_id
        while current is not None and current not in out:
            out.append(current)
            if current not in self.parents:
                self.parents[current] = self.store.parent_id(current)
            current = self.parents[current]
        return out

    @staticmethod
    def _site(value: str) -> Query:
        """LuceneQueryParser#siteQuery: the nodes whose primary hierarchy holds the site's node, i.e. everything in
        the site but the st:site node itself; `_ALL_SITES_` any site, `_EVERYTHING_` every node."""
        if value == "_EVERYTHING_":
            return lambda n: 1.0
        site = value.lower()

        def in_site(n: Node) -> Score:
            if n.site_id is None or n.node_type == "st:site":
                return None
            return 1.0 if value == "_ALL_SITES_" or n.site_id.lower() == site else None

        return in_site

    def _type(self, value: str, *, exact: bool) -> Query:
        """LuceneQueryParser#typeQuery: TYPE includes subtypes (st:site is a cm:folder), EXACTTYPE does not."""
        if value == "cm:content":
            return lambda n: 1.0 if not n.is_folder and (not exact or n.node_type == value) else None
        if value == "cm:folder":
            return lambda n: 1.0 if n.is_folder and (not exact or n.node_type == value) else None
        return lambda n: 1.0 if n.node_type == value else None

    def _path(self, value: str) -> Query:
        """PathQueryConverter#toLucenePathQuery: the ISO9075-decoded XPath as a regular expression over the node's
        path of prefixed QNames, `*` one step, `//` any number of steps."""
        adjusted = iso9075_decode(value)
        if not adjusted.startswith("/"):
            adjusted = "/" + adjusted
        pattern = re.escape(adjusted).replace(r"\*", "[^/]+").replace("//", "/(.*/)?")
        regex = re.compile(f"^{pattern}$")
        return lambda n: 1.0 if regex.match(self._qname_path(n)) else None

    def _qname_path(self, node: Node) -> str:
        """`/app:company_home/st:sites/cm:engineering/cm:documentLibrary/cm:Specs` for a node (itself included)."""
        names: list[str] = []
        current: Node | None = node
        while current is not None:
            if current.parent_id is None:
                names.append(_ROOT_QNAMES["Company Home"])
                break
            parent = self.store.get_node(current.parent_id, state=None)
            is_root_child = parent is not None and parent.parent_id is None
            names.append(_ROOT_QNAMES.get(current.name, f"cm:{current.name}") if is_root_child else f"cm:{current.name}")
            current = parent
        return "/" + "/".join(reversed(names))

    def _field_words(self, node: Node, field: str) -> list[str]:
        key = (node.id, field)
        if key not in self.texts:
            if field == "cm:name":
                text = node.name
            elif field == "cm:content":
                text = self._content(node)
            else:
                text = str(node.props.get(field) or "")
            self.texts[key] = _words(text)
        return self.texts[key]

    def _content(self, node: Node) -> str:
        if node.is_folder or not node.blob or not (node.mime_type or "").startswith(_TEXT_MIMES):
            return ""
        with open(self.store.blobs.path(node.blob), "rb") as f:
            return f.read(TEXT_CONTENT_LIMIT).decode("utf-8", "replace")

    def _text(self, fields: tuple[str, ...], value: str) -> Query:
        """LuceneQueryParser#textFieldQuery: a disjunction over the text fields; a phrase must match word for word
        in order, a single term may use `*` and `?`. The score is the number of matches."""
        terms = _words(value) if not re.search(r"[*?]", value) else [value.lower()]
        if not terms:
            raise ApiError(400, f"Nothing to search for in: {value!r}")
        patterns = [_term_pattern(t) for t in terms]

        def matches(n: Node) -> Score:
            hits = 0
            for name in fields:
                words = self._field_words(n, name)
                span = len(patterns)
                for start in range(len(words) - span + 1):
                    if all(p.match(words[start + k]) for k, p in enumerate(patterns)):
                        hits += 1
            return float(hits) if hits else None

        return matches

    def range(self, name: str, top: bool) -> Query:
        _, opening = self.take()
        low = date_value(self.take()[1], self.now_ms)
        if self.take() != ("w", "TO"):
            raise ApiError(400, "Expected TO in range")
        high = date_value(self.take()[1], self.now_ms)
        _, closing = self.take()
        if closing not in ("]", ">"):
            raise ApiError(400, "Unclosed range")
        incl_low, incl_high = opening == "[", closing == "]"
        col = DATE_FIELDS[name]
        if top and col == "modified_at":
            self.bounds.since = low if low > MIN_MS else None
            self.bounds.until = high if high < MAX_MS else None

        def within(n: Node) -> Score:
            v = getattr(n, col)
            ok = (v >= low if incl_low else v > low) and (v <= high if incl_high else v < high)
            return 1.0 if ok else None

        return within


@dataclass
class Compiled:
    query: Query
    bounds: Bounds = field(default_factory=Bounds)


def compile_query(store: Store, text: str, now_ms: int) -> Compiled:
    p = _Parser(store, text, now_ms)
    query = p.parse()
    return Compiled(query, p.bounds)
