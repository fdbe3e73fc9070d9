"""Names with numeric ranges, after ClusterShell's NodeSet: parse, match, fold.

A pattern is literal text, shell globs (``*`` any text, ``?`` one character)
and bracketed numeric range sets::

    host[1-12]           host1 ... host12
    node[01-10/2]        node01 node03 node05 node07 node09 (zero padding kept)
    host[1,3,5-7]        host1 host3 host5 host6 host7
    rack[1-2]-node[1-3]  every rack with every node (a product)

A bracket is always a range set.  One that cannot be read as one
(``host[a-c]``, ``host[!1]``) is a :class:`PatternError`, never an fnmatch
character class: ``host[10-12]`` must not mean "host1, host0, host2".
Padding is ClusterShell's: a number written with a leading zero fixes the
width (``08-10`` is 08 09 10; ``08-9`` and ``1-010`` are errors).

:func:`fold` prints names in the same grammar, so that what is printed,
parsed back, names exactly the same names.  Everything here is pure; nothing
is expanded to match (``host[1-1000000000]`` costs nothing).
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from barnum import BarnumError
from barnum.model.hostsort import natural_key

DIGITS = frozenset("0123456789")
_ITEM = re.compile(r"([0-9]+)(?:-([0-9]+)(?:/([0-9]+))?)?\Z")
_RUNS = re.compile(r"([0-9]+)")
RANGE_HELP = "numeric ranges read like [1-12], [01-10/2] or [1,3,5-7]"


class PatternError(BarnumError):
    """A bracket that is not a numeric range set, or brackets that do not pair up."""


@dataclass(frozen=True)
class Span:
    """``lo-hi/step``; ``pad`` is the width of zero-padded numbers (0: not padded)."""

    lo: int
    hi: int
    step: int = 1
    pad: int = 0

    def text(self, value: int) -> str:
        return str(value).zfill(self.pad)

    def __contains__(self, digits: object) -> bool:
        if not isinstance(digits, str) or not digits or not DIGITS.issuperset(digits):
            return False
        v = int(digits)
        return (self.lo <= v <= self.hi and (v - self.lo) % self.step == 0
                and digits == self.text(v))

    def __len__(self) -> int:
        return (self.hi - self.lo) // self.step + 1

    def values(self) -> Iterator[str]:
        return (self.text(v) for v in range(self.lo, self.hi + 1, self.step))


Spans = tuple[Span, ...]  # a range set: what one bracket holds


def _padding(digits: str) -> int:
    """The fixed width a number written this way asks for (0: none)."""
    return len(digits) if len(digits) > 1 and digits[0] == "0" else 0


def parse_rangeset(text: str) -> Spans:
    """Pure: what is between ``[`` and ``]``; a PatternError says what is wrong."""
    spans = []
    for item in text.split(","):
        m = _ITEM.match(item)
        if not m:
            what = "an empty range" if not item else f"{item!r} is not a number or N-M range"
            raise PatternError(f"[{text}]: {what} ({RANGE_HELP}; a bracket is never a "
                               "character class)")
        lo_s, hi_s, step_s = m.groups()
        pad = _padding(lo_s)
        if hi_s is None:
            spans.append(Span(int(lo_s), int(lo_s), 1, pad))
            continue
        if (pad and len(hi_s) != pad) or (not pad and _padding(hi_s)):
            raise PatternError(f"[{text}]: {item!r} mixes widths (write both ends with the "
                               "same zero padding, as 08-10)")
        lo, hi, step = int(lo_s), int(hi_s), int(step_s or 1)
        if lo > hi or step < 1:
            raise PatternError(f"[{text}]: {item!r} is empty (N-M needs N <= M and a step "
                               "of at least 1)")
        spans.append(Span(lo, hi, step, pad))
    return tuple(spans)


Token = str | Spans  # literal text, "*" or "?" (globs: GLOB), or a range set
GLOB = ("*", "?")  # as tokens; literal text is never one of them (see parse_pattern)


@dataclass(frozen=True)
class Pattern:
    """A parsed pattern: text, globs and range sets in order."""

    text: str
    tokens: tuple[Token, ...]

    @property
    def literal(self) -> str | None:
        """The one name it is, when it has no glob and no range."""
        if all(isinstance(t, str) and t not in GLOB for t in self.tokens):
            return "".join(t for t in self.tokens if isinstance(t, str))
        return None

    @property
    def has_glob(self) -> bool:
        return any(t in GLOB for t in self.tokens)

    def matches(self, name: str) -> bool:
        """Whether ``name`` is one of the names this pattern stands for."""
        lit = self.literal
        if lit is not None:
            return name == lit
        toks = self.tokens

        @functools.cache
        def at(t: int, p: int) -> bool:
            if t == len(toks):
                return p == len(name)
            tok = toks[t]
            if tok == "?":
                return p < len(name) and at(t + 1, p + 1)
            if tok == "*":
                return any(at(t + 1, q) for q in range(p, len(name) + 1))
            if isinstance(tok, str):
                return name.startswith(tok, p) and at(t + 1, p + len(tok))
            end = p
            while end < len(name) and name[end] in DIGITS:
                end += 1
            return any(at(t + 1, q) for q in range(p + 1, end + 1)
                       if any(name[p:q] in s for s in tok))

        return at(0, 0)

    def expand(self, limit: int = 100_000) -> list[str]:
        """Every name, in order (no globs); more than ``limit`` is a PatternError."""
        if self.has_glob:
            raise PatternError(f"{self.text!r}: a glob cannot be listed, only matched")
        choices: list[list[str]] = []
        total = 1
        for tok in self.tokens:
            if isinstance(tok, str):
                choices.append([tok])
                continue
            total *= sum(len(s) for s in tok)
            if total > limit:
                raise PatternError(f"{self.text!r} names more than {limit} names")
            seen: dict[str, None] = {}
            for s in tok:
                seen.update(dict.fromkeys(s.values()))
            choices.append(list(seen))
        return ["".join(p) for p in itertools.product(*choices)]


@functools.lru_cache(maxsize=4096)
def parse_pattern(text: str) -> Pattern:
    """Pure: a name pattern; a bracket that is not a range set is a PatternError."""
    tokens: list[Token] = []
    buf: list[str] = []

    def flush() -> None:
        if buf:
            tokens.append("".join(buf))
            buf.clear()

    i = 0
    while i < len(text):
        c = text[i]
        if c == "[":
            j = text.find("]", i + 1)
            if j < 0:
                raise PatternError(f"{text!r}: '[' without its ']' ({RANGE_HELP})")
            inner = text[i + 1 : j]
            if "[" in inner:
                raise PatternError(f"{text!r}: a bracket inside a bracket ({RANGE_HELP})")
            if not buf and tokens and not isinstance(tokens[-1], str):
                raise PatternError(f"{text!r}: two brackets side by side are ambiguous "
                                   "(put text between them, as rack[1-2]-node[1-3])")
            flush()
            tokens.append(parse_rangeset(inner))
            i = j + 1
            continue
        if c == "]":
            raise PatternError(f"{text!r}: ']' without its '[' ({RANGE_HELP})")
        if c in GLOB:
            flush()
            tokens.append(c)
        else:
            buf.append(c)
        i += 1
    flush()
    return Pattern(text, tuple(tokens))


# -- printing ---------------------------------------------------------------------------


def _order(digits: str) -> tuple[int, str]:
    """ClusterShell's order of numbers in a range set: shorter first, then by value."""
    return (len(digits), digits)


def rangeset_text(numbers: Iterable[str]) -> str:
    """``{"1","2","3","5"}`` -> ``1-3,5``; zero-padded numbers keep their width.

    A run grows while the next number (in ClusterShell's order) is one more
    and written at the run's width: ``9,10`` is ``9-10``, ``09,10`` is ``09-10``,
    ``9,09`` stays two items.
    """
    out: list[str] = []
    run: list[str] = []
    pad = 0
    for d in sorted(set(numbers), key=_order):
        if run and int(d) == int(run[-1]) + 1 and (
                len(d) == pad if pad else not _padding(d)):
            run.append(d)
            continue
        if run:
            out.append(run[0] if len(run) == 1 else f"{run[0]}-{run[-1]}")
        run, pad = [d], _padding(d)
    if run:
        out.append(run[0] if len(run) == 1 else f"{run[0]}-{run[-1]}")
    return ",".join(out)


Axes = tuple[frozenset[str], ...]


def _fold_axes(vectors: set[tuple[str, ...]]) -> list[Axes]:
    """Vectors of numbers as disjoint products of per-axis sets (their union is exact).

    The first axis is outermost: the rest is folded for each of its values,
    then values whose rest folded the same are merged.
    """
    if not vectors:
        return []
    if not next(iter(vectors)):
        return [()]
    by_first: dict[str, set[tuple[str, ...]]] = {}
    for v in vectors:
        by_first.setdefault(v[0], set()).add(v[1:])
    by_rest: dict[Axes, set[str]] = {}
    for first, rest in by_first.items():
        for r in _fold_axes(rest):
            by_rest.setdefault(r, set()).add(first)
    return [(frozenset(firsts), *r) for r, firsts in by_rest.items()]


def fold(names: Iterable[str]) -> str:
    """Names as one comma-separated pattern text: ``host1,host2,host3`` -> ``host[1-3]``.

    Names that differ only in their numbers fold into ranges, on every
    number (``rack[1-2]-node[1-3]``); padding is kept (``node[08-10]``).
    Parsed back (:func:`parse_pattern` on each part), the text names exactly
    ``names``: the parts are disjoint products of what was given.
    """
    groups: dict[tuple[str, ...], set[tuple[str, ...]]] = {}
    for name in set(names):
        pieces = _RUNS.split(name)
        groups.setdefault(tuple(pieces[0::2]), set()).add(tuple(pieces[1::2]))
    parts: list[tuple[tuple, str]] = []
    for texts, vectors in groups.items():
        for axes in _fold_axes(vectors):
            out = [texts[0]]
            for numbers, text in zip(axes, texts[1:], strict=True):
                inner = rangeset_text(numbers)
                out.append(inner if len(numbers) == 1 else f"[{inner}]")
                out.append(text)
            first = "".join(itertools.chain.from_iterable(
                zip(texts, [*(min(n, key=_order) for n in axes), ""], strict=True)))
            parts.append((natural_key(first), "".join(out)))
    return ",".join(text for _, text in sorted(parts))
