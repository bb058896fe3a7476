"""``salon-bridge``: run the meeting service, or administer it.

    salon-bridge [--config FILE] [run]            the bridge (the default)
    salon-bridge [--config FILE] check-config     validate the file and exit
    salon-bridge [--config FILE] user add|passwd|list|disable|enable ...
    salon-bridge [--config FILE] room add|list|show ...
    salon-bridge [--config FILE] schedule add|list|import|remove|sync ...

The admin commands work on the database the config file names (``database_url``, or
the SQLite file in ``state_dir``), whether or not the bridge is running.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import pwd
import signal
import sys
from pathlib import Path

from bridge.admin import add_admin_commands, run_admin
from bridge.config import BridgeConfigError, BridgeSettings, load_bridge_config
from bridge.store.db import StoreUnavailable
from salon.logs import setup_logging

DEFAULT_CONFIG = Path("/etc/salon-bridge/bridge.toml")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="salon-bridge", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                        help=f"bridge configuration file (default {DEFAULT_CONFIG})")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the bridge (the default)")
    sub.add_parser("check-config", help="validate the configuration file and exit")
    add_admin_commands(sub)
    sub.add_parser("turn-config", help="print coturn's turnserver.conf for the [turn] table")
    return parser


async def _run_until_signalled(config: Path) -> None:
    from bridge.web.app import serve

    settings = load_bridge_config(config)
    setup_logging("salon-bridge", settings.log_level.upper())
    task = asyncio.create_task(serve(settings))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _wrong_user(settings: BridgeSettings) -> str | None:
    """root writing the bridge's SQLite file would leave root-owned journal files the
    bridge (its own user) can no longer write: say whom to run as instead."""
    if settings.database_url is not None or os.geteuid() != 0:
        return None
    try:
        owner = settings.state_dir.stat().st_uid
    except OSError:
        return None  # not there yet: the bridge has never run, nothing to spoil
    if owner == 0:
        return None
    try:
        name = pwd.getpwuid(owner).pw_name
    except KeyError:
        name = str(owner)
    return (f"{settings.state_dir} belongs to {name}: run the admin commands as that user, "
            f"e.g. sudo -u {name} salon-bridge ...")


def _admin(args: argparse.Namespace) -> int:
    from bridge.store.db import Store, default_url

    settings = load_bridge_config(args.config)
    problem = _wrong_user(settings)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    args.settings = settings  # the [schedule] calendars, for `schedule list|sync`
    with Store(settings.database_url or default_url(settings.state_dir)) as store:
        return run_admin(args, store)


def check_files(settings: BridgeSettings) -> None:
    """The files the configuration names can be read and fit together."""
    if settings.tls is not None:
        from bridge.tls import CertificateReloader

        CertificateReloader(settings.tls)
    if settings.turn is not None:
        from bridge.turn import read_secret

        read_secret(settings.turn.secret_file)
    for n, calendar in enumerate(settings.schedule.calendars):
        if calendar.password_file is not None and not os.access(calendar.password_file, os.R_OK):
            raise BridgeConfigError(f"schedule.calendars.{n}.password_file: cannot read "
                                    f"{calendar.password_file}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    admin = getattr(args, "admin", None) is not None
    # An admin command's output is its answer: only problems go to the log.
    setup_logging("salon-bridge", "WARNING" if admin else "INFO")
    try:
        if admin:
            return _admin(args)
        if args.command == "check-config":
            check_files(load_bridge_config(args.config))
            print(f"{args.config}: OK")
            return 0
        if args.command == "turn-config":
            from bridge.turn import coturn_config

            print(coturn_config(load_bridge_config(args.config)), end="")
            return 0
        asyncio.run(_run_until_signalled(args.config))
    except BridgeConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    except StoreUnavailable as exc:  # e.g. a read-only state directory: one clear line
        print(f"salon-bridge: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
