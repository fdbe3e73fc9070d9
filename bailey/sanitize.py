"""The one sanitizing path from untrusted text to an operator's screen.

It lives in bailey (standard library only) so that bailey's own output on a
host and every barnum front end share it; ``barnum.text.sanitize`` re-exports it.

Every string that came from a host, a circus user or a file (watcher names,
unit names, endpoints, error texts, bailey's and circusctl's output, journal
lines) passes through :func:`clean` before any front end shows it: the
terminal renderers, ``watch``, ``logs``, the shell and the web page (which
HTML-escapes the result of :func:`clean`, see :func:`html`).

:func:`clean` makes control characters visible instead of letting them act:
C0 (ESC, BEL, CR, LF, TAB...), DEL, C1 (U+0080-U+009F, e.g. the 8-bit CSI),
lone surrogates (from ``surrogateescape`` decoding or a JSON ``\\udcXX``), the
Unicode line and paragraph separators, and the bidi overrides that reorder
what the eye reads.  So nothing from a host can set a title, clear the screen,
write the clipboard (OSC 52) or forge a line: one string stays one line.

The result is a :class:`Clean`, a ``str`` subclass; renderers that take only
``Clean`` values make "forgot to sanitize" a type error that tests catch.
"""

from __future__ import annotations

import re

__all__ = ["Clean", "clean", "clean_lines", "html", "is_clean"]

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\e"}
# C0, DEL, C1, lone surrogates, LINE/PARAGRAPH SEPARATOR, bidi embeddings,
# overrides and isolates, and the BOM / zero-width no-break space.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\ufeff]"
)


class Clean(str):
    """Text with no control character left in it: safe to write to a terminal."""

    __slots__ = ()


def _visible(m: re.Match[str]) -> str:
    ch = m.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(value: object) -> Clean:
    """``value`` as one line of text with every control character made visible.

    Anything may come in (a host can send numbers, lists or None where a
    string was due); it is turned into text first, never rejected.
    """
    if isinstance(value, Clean):
        return value
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    return Clean(_UNSAFE.sub(_visible, text))


def clean_lines(text: object) -> list[Clean]:
    """Multi-line output (bailey's raw stdout, a circusctl answer) as clean lines.

    Only ``\\n`` splits; a CR, ESC or any other control inside a line is shown.
    """
    raw = text if isinstance(text, str) else clean(text)
    return [clean(line) for line in raw.rstrip("\n").split("\n")] if raw else []


def is_clean(text: str) -> bool:
    """True when ``text`` holds nothing :func:`clean` would change."""
    return _UNSAFE.search(text) is None


def html(value: object) -> str:
    """For the web page: control characters made visible, then HTML-escaped (quotes too)."""
    import html as _html  # not on bailey's hot path: html.entities is large

    return _html.escape(clean(value), quote=True)
