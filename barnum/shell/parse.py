"""Pure parsing of shell input: words, commands, and target-set changes.

The lexer is a small POSIX-like one rather than :mod:`shlex`, because the
shell needs two things shlex cannot give: an unquoted ``;`` as a command
separator that a quoted ``';'`` is not, and the unfinished last word of a
line (for completion), with the quote it is in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ACTIONS = ("start", "stop", "restart", "reload")
SCALERS = ("incr", "decr")
UNIT_VERBS = ("start", "stop", "restart", "reset-failed")  # systemctl, on the circus units
COMMANDS = ("status", "list", *ACTIONS, *SCALERS, "stats", "logs", "target", "hosts",
            "users", "groups", "circusctl", "unit", "help", "exit", "quit")
LOG_LINES_MAX = 10000


class ParseError(ValueError):
    """A line the shell cannot run; the message is one line for the operator."""


@dataclass
class Lexed:
    """Words of some input split into commands; ``partial`` is the unfinished last word."""

    commands: list[list[str]]
    partial: str | None = None  # the last word's text so far (quotes removed)
    quote: str | None = None  # the quote the input ends in, if any
    raw_partial: str = ""  # the last word as typed (what completion replaces)


def lex(text: str, allow_open: bool = False) -> Lexed:
    """Split ``text`` into commands of words.

    Quotes: '...' is literal; "..." keeps everything but \\", \\\\, \\$ and \\`;
    outside quotes a backslash keeps the next character.  An unquoted ``;``
    or newline ends a command; a line whose first word starts with ``#`` is a
    comment.  An unterminated quote is a ParseError unless ``allow_open``.
    """
    commands: list[list[str]] = [[]]
    word: list[str] | None = None
    raw_start = 0
    quote: str | None = None
    i, n = 0, len(text)
    comment = False
    while i < n:
        c = text[i]
        if comment:
            if c == "\n":
                comment = False
                commands.append([])
            i += 1
            continue
        if quote == "'" and word is not None:  # a quote always sits inside a word
            if c == "'":
                quote = None
            else:
                word.append(c)
        elif quote == '"' and word is not None:
            if c == '"':
                quote = None
            elif c == "\\" and i + 1 < n and text[i + 1] in '"\\$`':
                word.append(text[i + 1])
                i += 1
            else:
                word.append(c)
        elif c in " \t\r":
            if word is not None:
                commands[-1].append("".join(word))
                word = None
        elif c in ";\n":
            if word is not None:
                commands[-1].append("".join(word))
                word = None
            commands.append([])
        elif c == "#" and word is None and not commands[-1]:
            comment = True
        else:
            if word is None:
                word, raw_start = [], i
            if c in "'\"":
                quote = c
            elif c == "\\":
                if i + 1 < n:
                    word.append(text[i + 1])
                    i += 1
            else:
                word.append(c)
        i += 1
    if quote and not allow_open:
        raise ParseError(f"unterminated {quote} quote")
    partial = raw = None
    if word is not None:
        partial, raw = "".join(word), text[raw_start:]
        commands[-1].append(partial)
    elif not comment:
        partial, raw = "", ""
    if allow_open:  # the command being typed stays, even empty
        commands = [c for c in commands[:-1] if c] + commands[-1:]
    else:
        commands = [c for c in commands if c]
    return Lexed(commands, partial, quote, raw or "")


def split_commands(text: str) -> list[list[str]]:
    """The commands of a script or a ``-c`` string, as lists of words."""
    return lex(text).commands


@dataclass
class Command:
    """One parsed command: what to run, on which targets (None: the current set)."""

    name: str
    watcher: str | None = None
    number: int | None = None
    targets: list[str] | None = None
    lines: int = 10
    args: list[str] = field(default_factory=list)  # circusctl's, target's, help's


def parse_command(words: list[str]) -> Command:
    """Pure: the words of one command as a Command, or a one-line ParseError."""
    if not words:
        raise ParseError("empty command")
    name, rest = words[0], words[1:]
    if name == "list":
        name = "status"
    if name == "quit":
        name = "exit"
    if name in ("status", "stats"):
        return Command(name, targets=rest or None)
    if name in ACTIONS:
        if not rest:
            raise ParseError(f"usage: {name} WATCHER [targets]")
        return Command(name, watcher=_watcher(rest[0]), targets=rest[1:] or None)
    if name in SCALERS:
        if not rest:
            raise ParseError(f"usage: {name} WATCHER [N] [targets]")
        number = None
        tail = rest[1:]
        if tail and tail[0].isdigit() and tail[0].isascii():
            number = int(tail[0])
            if not 1 <= number <= 10000:
                raise ParseError(f"{name}: N must be from 1 to 10000: {tail[0]}")
            tail = tail[1:]
        return Command(name, watcher=_watcher(rest[0]), number=number, targets=tail or None)
    if name == "logs":
        return _logs(rest)
    if name == "unit":
        yes = "--yes" in rest or "-y" in rest
        rest = [w for w in rest if w not in ("--yes", "-y")]
        if not rest or rest[0] not in UNIT_VERBS:
            raise ParseError(f"usage: unit {'|'.join(UNIT_VERBS)} [--yes] [targets]")
        return Command(name, watcher=rest[0], targets=rest[1:] or None,
                       args=["--yes"] if yes else [])
    if name == "circusctl":
        if not rest:
            raise ParseError("usage: circusctl ARGS... (runs on the current targets)")
        return Command(name, args=rest)
    if name in ("target", "help"):
        return Command(name, args=rest)
    if name in ("hosts", "users", "groups"):
        if rest:
            raise ParseError(f"{name} takes no arguments")
        return Command(name)
    if name == "exit":
        if len(rest) > 1 or (rest and not (rest[0].isdigit() and int(rest[0]) < 256)):
            raise ParseError("usage: exit [N] (N from 0 to 255)")
        return Command(name, number=int(rest[0]) if rest else None)
    raise ParseError(f"unknown command {name!r} (help lists the commands)")


def _watcher(word: str) -> str:
    if not word or word.startswith("-"):
        raise ParseError(f"bad watcher name {word!r}")
    return word


def _logs(rest: list[str]) -> Command:
    targets: list[str] = []
    lines = 10
    it = iter(rest)
    for w in it:
        if w in ("-n", "--lines"):
            value = next(it, None)
            if value is None:
                raise ParseError("logs: -n needs a number")
            lines = _lines(value)
        elif w.startswith("-n") and len(w) > 2:
            lines = _lines(w[2:])
        else:
            targets.append(w)
    return Command("logs", targets=targets or None, lines=lines)


def _lines(text: str) -> int:
    if not (text.isdigit() and text.isascii()) or not 0 <= int(text) <= LOG_LINES_MAX:
        raise ParseError(f"logs: -n must be from 0 to {LOG_LINES_MAX}: {text!r}")
    return int(text)


# -- the target set ---------------------------------------------------------------------


@dataclass(frozen=True)
class TargetChange:
    """What ``target ...`` asks: show the set, or a new list of expressions."""

    show: bool = False
    exprs: tuple[str, ...] | None = None
    failed: bool = False  # `target @failed`: the instances the last command failed on


def change_targets(current: list[str], args: list[str]) -> TargetChange:
    """Pure: the target set after ``target ARGS``, ClusterShell style.

    ``?`` (or nothing) shows the set; ``+x`` adds x, ``-x`` removes x (kept
    as ``-x`` in the list, applied left to right when the set is resolved);
    ``@failed`` alone selects the last command's failures; other words
    replace the set; ``*`` (or ``all``) is every host.
    """
    if not args or args == ["?"]:
        return TargetChange(show=True)
    if args == ["@failed"]:
        return TargetChange(failed=True)
    if any(a.startswith(("+", "-")) for a in args):
        exprs = list(current)
        for a in args:
            if a.startswith("+") and len(a) > 1:
                _drop(exprs, "-" + a[1:])
                _drop(exprs, a[1:])
                exprs.append(a[1:])
            elif a.startswith("-") and len(a) > 1:
                _drop(exprs, a[1:])
                _drop(exprs, a)
                exprs.append(a)
            else:
                raise ParseError(f"target: {a!r}: mix +x/-x changes or give a new set, "
                                 "not both")
        return TargetChange(exprs=tuple(exprs))
    if args in (["*"], ["all"]):
        return TargetChange(exprs=())
    return TargetChange(exprs=tuple(args))


def _drop(items: list[str], value: str) -> None:
    while value in items:
        items.remove(value)


def split_exprs(exprs: list[str]) -> tuple[list[str], list[str]]:
    """(included, excluded) expressions: ``-x`` excludes x."""
    inc = [e for e in exprs if not e.startswith("-")]
    exc = [e[1:] for e in exprs if e.startswith("-")]
    return inc, exc


def set_text(exprs: list[str]) -> str:
    """The set as one target expression: ``host*,!host2`` for ``[host*, -host2]``."""
    return ",".join("!" + e[1:] if e.startswith("-") else e for e in exprs)


def prompt_text(exprs: list[str]) -> str:
    """``barnum[host1,user2@*]> `` (every host: ``barnum[*]> ``)."""
    return f"barnum[{set_text(exprs) if exprs else '*'}]> "
