"""``barnum`` without a command: run bailey on the targets once, show the fleet."""

from __future__ import annotations

import argparse
import os
import sys
import threading
from typing import TYPE_CHECKING

from barnum.context import Err, load_context, refuse_skipped

if TYPE_CHECKING:
    from barnum.model.config import Config
    from barnum.model.discovery import Discovery
    from barnum.transport.options import Options


def quiet_stdout() -> None:
    """After a closed pipe: send the rest of stdout (and its final flush) nowhere."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _preconnect(args: argparse.Namespace, found: Discovery, options: Options,
                config: Config) -> None:
    """Open the targets' TCP connections before paramiko is imported."""
    from barnum.model.targets import TargetError, resolve
    from barnum.model.thishost import local_names
    from barnum.transport.preconnect import MAX_EARLY, preconnect
    from barnum.transport.sshconfig import SshConfigError, load_text

    try:
        hosts = list(resolve([*args.targets, *args.explicit_targets], found.hosts,
                             config.groups))
        text = load_text(options.ssh_config)
    except (TargetError, SshConfigError, OSError):
        return  # the same problem is reported, in its place, by what follows
    here = local_names() if options.local else set()
    options.preconnect = preconnect([h for h in hosts if h not in here], text,
                                    min(options.fanout, MAX_EARLY))


def _run_with_progress(p, options, err: Err):
    """run_fleet, with the transient progress line when stderr is a terminal."""
    from barnum.oneshot.pool import run_fleet
    from barnum.views.progress import ProgressLine

    line = ProgressLine(err.stream, len(p.hosts), err.lock) \
        if ProgressLine.wanted(err.stream) else None
    err.transient = line
    try:
        return run_fleet(p, options, log=err, progress=line.update if line else None)
    finally:
        if line is not None:
            with err.lock:
                line.erase()
        err.transient = None
        if options.preconnect is not None:
            options.preconnect.close()  # sockets no host took (local ones, errors)


def _dry_run(p, options) -> int:
    """Print, per host, the command barnum would run; run nothing anywhere."""
    from barnum.transport.connector import Connector
    from barnum.transport.remote import display, ssh_command

    connector = Connector(options)
    for hp in p.hosts:
        argv = p.argv(hp, options)
        if options.ship:
            argv = connector.shipped(argv, hp.local)
        cmd = display(argv) if hp.local else ssh_command(hp.host, argv, options.ssh_config)
        print(f"DRY RUN; would execute: {cmd}")
    return 0


def _action_log(ctx, p):
    """For ``barnum [targets] -- -- stop W`` (an action, not a read): the history gets a
    row when it starts and one with each instance's result; who is the local user."""
    from barnum.history.actions import ActionLog, circusctl_action, result_word

    action = circusctl_action(p.circusctl_args)
    if action is None:
        return None
    watcher = p.circusctl_args[1] if len(p.circusctl_args) > 1 else None
    log = ActionLog(ctx.config.history, ctx.err, action, "barnum")
    log.record([{"host": hp.host, "user": u, "watcher": watcher}
                for hp in p.hosts for u in (hp.users or [None])], "started")

    def done(result) -> None:
        rows = []
        for h in result.hosts:
            if h.error or h.report is None:
                rows.append({"host": h.host, "ok": False, "error": h.error or "no answer"})
                continue
            rows += [{"host": h.host, "user": i.user, "watcher": watcher,
                      "ok": i.state in ("ok", "inactive"), "error": i.error}
                     for i in h.report.instances]
        log.record(rows, result_word(rows))

    return done


def run(args: argparse.Namespace, err: Err) -> int:
    """Plan, run bailey on every target host at once, print the fleet (or its JSON)."""
    from barnum.oneshot.plan import plan

    split = args.passthrough
    early = None if args.dry_run or os.environ.get("BARNUM_NO_PRECONNECT") else \
        lambda found, options, config: _preconnect(args, found, options, config)
    ctx = load_context(args, err, early)
    refuse_skipped(ctx)
    p = plan(ctx.config, ctx.targets, split.bailey, split.circusctl, discovery=ctx.discovery,
             local=bool(ctx.options.local))
    options = ctx.options

    if args.dry_run:
        return _dry_run(p, options)

    if not args.json:  # import rich while the hosts work
        threading.Thread(target=__import__, args=("barnum.views.render",), daemon=True).start()

    record = _action_log(ctx, p)
    result = _run_with_progress(p, options, err)
    if record is not None:
        record(result)
    if args.json:
        import json

        from barnum.model.results import error_lines

        try:
            sys.stdout.write(json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n")
            sys.stdout.flush()
        except BrokenPipeError:
            quiet_stdout()
        for line in error_lines(result):
            err(line)
    else:
        from barnum.views.render import render

        try:
            render(result, group_by=args.group_by)
            sys.stdout.flush()
        except BrokenPipeError:  # `barnum | head`: the reader had enough; not an error
            quiet_stdout()
    return result.exit_code

