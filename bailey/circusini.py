"""Read circus.ini the way circusd 0.19 reads it, for the endpoint and [env].

circusd parses with ``circus.util.StrictConfigParser`` (a RawConfigParser
with its own line reader) and substitutes ``$(circus.env.X)`` itself.  Any
drift from that changes which endpoint bailey talks to, so the reader below
is a line-for-line port of circus's loader (circus/util.py ``_read`` and
``replace_gnu_args``, circus/config.py ``read_config``/``get_config``),
checked by a differential test against ``circus.config.get_config``.
Quirks kept on purpose: first duplicate key wins, repeated sections merge,
keys are case-sensitive, ``;`` starts a comment only after whitespace,
``rem`` lines are comments, ``endpoint = ""`` is empty, no ``%``
interpolation, includes only from the main file, in glob (directory) order.

Files are read through bailey.safefile: regular files only, bounded, and
only what the circus user could read (an include the user cannot read is
skipped, as circusd's own configparser skips a file it cannot open).  Errors
cite the file and line, never the line's content.
"""

from __future__ import annotations

import configparser
import errno
import glob
import io
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bailey.safefile import Reader, UnsafeFile, read_text

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5555"
DEFAULT_PUBSUB = "tcp://127.0.0.1:5556"

_SECTION_NAME = r"\w\.\-"
_PATTERN1 = r"\$\(%s\.([" + _SECTION_NAME + r"]+)\)"
_PATTERN2 = r"\(\(%s\.([" + _SECTION_NAME + r"]+)\)\)"
_CIRCUS_VAR = re.compile(_PATTERN1 % "circus" + "|" + _PATTERN2 % "circus", re.I)


class CircusIniError(Exception):
    """circus.ini is missing, unreadable or malformed; str() is one line."""


@dataclass
class CircusIni:
    """What bailey needs from a circus.ini, and where it came from."""

    path: str
    endpoint: str
    endpoint_is_default: bool
    env: dict[str, str] = field(default_factory=dict)  # the [env] section, substituted
    files: list[str] = field(default_factory=list)  # main file, then includes read
    missing_includes: list[str] = field(default_factory=list)  # patterns matching nothing
    skipped_includes: list[str] = field(default_factory=list)  # one-line reasons
    pubsub_endpoint: str = DEFAULT_PUBSUB  # where circusd publishes its events
    watchers: list[str] = field(default_factory=list)  # [watcher:NAME] sections, in order
    # "stdout:NAME" / "stderr:NAME" -> the file circus writes that stream to, as configured
    # (substituted; relative to circusd's working directory when not absolute)
    stream_files: dict[str, str] = field(default_factory=dict)


def replace_circus_vars(data: str, env: Mapping[str, str]) -> str:
    """``$(circus.env.X)`` / ``((circus.env.X))`` as circus's replace_gnu_args does.

    Names match case-insensitively; when two keys differ only in case, the
    one iterated last wins (as in circus); unknown names stay literal.
    """
    options = {f"circus.env.{k.lower()}": v for k, v in env.items()}

    def repl(m: re.Match[str]) -> str:
        option = next(g for g in m.groups() if g is not None).lower()
        if not option.startswith("circus"):
            option = "circus." + option
        if option in options:
            return str(options[option])
        return m.group()

    return _CIRCUS_VAR.sub(repl, data)


class _StrictParser(configparser.RawConfigParser):
    """circus's StrictConfigParser: its own ``_read``, everything else stdlib."""

    # configparser's private state, which the port of _read uses (typeshed omits it)
    _sections: dict[str, dict[str, Any]]  # values: a list of lines while reading
    _defaults: dict[str, Any]
    _dict: type[dict[str, Any]]
    _optcre: re.Pattern[str]

    def _read(self, fp, fpname):  # a faithful port, kept in one piece
        cursect = None
        optname = None
        lineno = 0
        e = None
        while True:
            line = fp.readline()
            if not line:
                break
            lineno += 1
            if line.strip() == "" or line[0] in "#;":
                continue
            if line.split(None, 1)[0].lower() == "rem" and line[0] in "rR":
                continue
            if line[0].isspace() and cursect is not None and optname:
                value = line.strip()
                if value:
                    try:
                        cursect[optname].append(value)
                    except AttributeError:
                        # circus crashes here (a continuation of a key first
                        # set by an earlier file); report the line instead.
                        raise configparser.ParsingError(fpname) from None
            else:
                mo = self.SECTCRE.match(line)
                if mo:
                    sectname = mo.group("header")
                    if sectname in self._sections:
                        cursect = self._sections[sectname]
                    elif sectname == configparser.DEFAULTSECT:
                        cursect = self._defaults
                    else:
                        cursect = self._dict()
                        cursect["__name__"] = sectname
                        self._sections[sectname] = cursect
                    optname = None
                elif cursect is None:
                    raise configparser.MissingSectionHeaderError(fpname, lineno, line)
                else:
                    mo = self._optcre.match(line)
                    if mo:
                        optname, vi, optval = mo.group("option", "vi", "value")
                        # keep the case, as circus does; typeshed sees a method here
                        self.optionxform = str  # type: ignore[method-assign,assignment]
                        optname = self.optionxform(optname.rstrip())
                        if optname in cursect:
                            continue
                        if optval is not None:
                            if vi in ("=", ":") and ";" in optval:
                                pos = optval.find(";")
                                if pos != -1 and optval[pos - 1].isspace():
                                    optval = optval[:pos]
                            optval = optval.strip()
                            if optval == '""':
                                optval = ""
                            cursect[optname] = [optval]
                        else:
                            cursect[optname] = optval
                    else:
                        if not e:
                            e = configparser.ParsingError(fpname)
                        e.append(lineno, repr(line))
        if e:
            raise e
        all_sections = [self._defaults]
        all_sections.extend(self._sections.values())
        for options in all_sections:
            for name, val in options.items():
                if isinstance(val, list):
                    options[name] = "\n".join(val)

    # circus's DefaultConfigParser.dget for strings: None when absent.
    def dget(self, section: str, option: str, env: Mapping[str, str]) -> str | None:
        if not self.has_option(section, option):
            return None
        return replace_circus_vars(self.get(section, option), env)


# circus.stream's classes that write to ``filename`` (circus resolves a dotless class
# name among them; a dotted one by import).  Anything else (StdoutStream, a custom
# class) writes no file bailey can name.
FILE_STREAMS = frozenset({"FileStream", "TimedRotatingFileStream", "WatchedFileStream"})


def stream_files(cfg: configparser.RawConfigParser, global_env: Mapping[str, str],
                 ) -> dict[str, str]:
    """``stdout:NAME`` / ``stderr:NAME`` -> filename, as circus.config builds the streams.

    circus collects ``stdout_stream.*`` keys per watcher, adds ``[env:PATTERN]``
    sections to the watcher's env and substitutes ``$(circus.env.X)`` with it;
    circus.stream.get_stream then takes ``class`` (a FileStream without one
    when only ``filename`` is given).
    """
    import fnmatch

    names = {s: s.split("watcher:", 1)[1] for s in cfg.sections() if s.startswith("watcher:")}
    extra: dict[str, dict[str, str]] = {n: {} for n in names.values()}
    for section in cfg.sections():
        if not section.startswith("env:"):
            continue
        items = {k: v for k, v in cfg.items(section) if k != "__name__"}
        for pattern in (p.strip() for p in section.split("env:", 1)[1].split(",")):
            for name in names.values():
                if fnmatch.fnmatch(name, pattern):
                    extra[name].update(items)  # as circus: a later section wins
    out: dict[str, str] = {}
    for section, name in names.items():
        items = dict(cfg.items(section))
        if list(items) in ([], ["__name__"]):
            continue  # circus skips an empty section
        env = {**global_env, **extra[name]}
        for stream in ("stdout", "stderr"):
            prefix = f"{stream}_stream."
            conf = {k[len(prefix):]: v for k, v in items.items() if k.startswith(prefix)}
            cls = conf.get("class", "FileStream" if "filename" in conf else "")
            cls = cls.removeprefix("circus.stream.").removeprefix("file_stream.")
            filename = conf.get("filename")
            if cls in FILE_STREAMS and filename:
                out[f"{stream}:{name}"] = replace_circus_vars(filename, env)
    return out


def resolve_stream_file(filename: str, circusd_cwd: str) -> str:
    """Where circusd opens a stream's ``filename``: relative to its own working directory."""
    return os.path.normpath(os.path.join(circusd_cwd or "/", filename))


def _one_line(path: str, err: Exception) -> str:
    """A parse error as ``file:line: what`` (configparser's messages span lines)."""
    # Never the line itself: the file may be one the operator should not see.
    if isinstance(err, configparser.MissingSectionHeaderError):
        return f"{err.source}:{err.lineno}: no [section] header before this line"
    if isinstance(err, configparser.ParsingError):
        if err.errors:
            lineno, _line = err.errors[0]
            more = f" (and {len(err.errors) - 1} more)" if len(err.errors) > 1 else ""
            return f"{err.source}:{lineno}: not 'key = value' nor [section]{more}"
        return f"{err.source}: continuation of a key already set in an earlier file"
    if isinstance(err, UnicodeDecodeError):
        return f"{path}: not valid text ({err.reason} at byte {err.start})"
    return f"{path}: {err}"


_MAGIC = re.compile(r"[*?[]")


def _user_globs_it(pattern: str, match: str, reader: Reader) -> bool:
    """Would a glob run by the circus user have found ``match`` (bailey's glob runs
    as the operator)?  Each folder it searched must be searchable by the user, and
    listable where the pattern has a wildcard; so names in folders the user cannot
    see are neither read nor named."""
    from bailey.safefile import can_see

    pat, got = pattern.split("/"), match.split("/")
    if len(pat) != len(got):
        pat = ["*"] * len(got)  # be strict: as if every component had a wildcard
    for i in range(1, len(got)):
        folder = "/".join(got[:i]) or "/"
        if not can_see(folder, reader, bool(_MAGIC.search(pat[i]))):
            return False
    return True


def read_circus_ini(path: str, environ: Mapping[str, str] | None = None,
                    reader: Reader | None = None) -> CircusIni:
    """The endpoint and [env] circusd would take from ``path``.

    ``environ`` stands for circusd's own environment (default: this
    process's); ``reader``, the circus user whose rights bound what is read
    (default: no check).  Raises CircusIniError with a one-line message
    naming the file (and line) on any problem circusd would also stumble on.
    """
    environ = dict(os.environ if environ is None else environ)
    reader = reader or Reader()
    cfg = _StrictParser()
    try:
        text = read_text(path, reader)
    except FileNotFoundError:
        raise CircusIniError(f"{path}: no such file") from None
    except OSError as err:
        raise CircusIniError(str(err) if isinstance(err, UnsafeFile)
                             else f"{path}: {err.strerror or err}") from None
    try:
        cfg.read_file(io.StringIO(text, newline=None), source=path)
    except configparser.Error as err:
        raise CircusIniError(_one_line(path, err)) from None

    current_dir = os.path.dirname(path)
    includes: list[str] = []
    missing: list[str] = []

    def scan(filename: str) -> None:
        if os.path.abspath(filename) != filename:
            filename = os.path.join(current_dir, filename)
        paths = [p for p in glob.glob(filename) if _user_globs_it(filename, p, reader)]
        if not paths:
            missing.append(filename)
        includes.extend(paths)

    # Include paths see only the OS environment, as in circus.
    for include_file in (cfg.dget("circus", "include", environ) or "").split():
        scan(include_file)
    for include_dir in (cfg.dget("circus", "include_dir", environ) or "").split():
        scan(os.path.join(include_dir, "*.ini"))
    read: list[str] = []
    skipped: list[str] = []
    for inc in includes:
        try:
            inc_text = read_text(inc, reader)
        except OSError as err:  # circusd's configparser.read skips what it cannot open
            if err.errno == errno.EILSEQ:  # ...but stops at what it cannot decode
                raise CircusIniError(str(err)) from None
            skipped.append(str(err) if isinstance(err, UnsafeFile) else f"{inc}: {err}")
            continue
        try:
            cfg.read_file(io.StringIO(inc_text, newline=None), source=inc)
        except configparser.Error as err:
            raise CircusIniError(_one_line(inc, err)) from None
        read.append(inc)

    global_env = dict(environ)
    local_env: dict[str, str] = {}
    if "env" in cfg.sections():
        local_env.update(
            (k, replace_circus_vars(v, environ)) for k, v in cfg.items("env")
        )
        global_env.update(local_env)
    endpoint = cfg.dget("circus", "endpoint", global_env)
    pubsub = cfg.dget("circus", "pubsub_endpoint", global_env)
    local_env.pop("__name__", None)
    return CircusIni(
        path=path,
        endpoint=DEFAULT_ENDPOINT if endpoint is None else endpoint,
        endpoint_is_default=endpoint is None,
        env=local_env,
        files=[path, *read],
        missing_includes=missing,
        skipped_includes=skipped,
        pubsub_endpoint=DEFAULT_PUBSUB if pubsub is None else pubsub,
        watchers=[s[len("watcher:"):] for s in cfg.sections() if s.startswith("watcher:")],
        stream_files=stream_files(cfg, global_env),
    )
