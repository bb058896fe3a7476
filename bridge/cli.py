"""``salon-bridge``: run the meeting service, or administer it."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

from bridge.config import BridgeConfigError, BridgeSettings, load_bridge_config
from bridge.logs import setup_logging

DEFAULT_CONFIG = Path("/etc/salon-bridge/bridge.toml")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="salon-bridge", description=__doc__)
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                        help=f"bridge configuration file (default {DEFAULT_CONFIG})")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the bridge (the default)")
    sub.add_parser("check-config", help="validate the configuration file and exit")
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


def check_files(settings: BridgeSettings) -> None:
    """The files the configuration names can be read and fit together."""
    if settings.tls is not None:
        from bridge.tls import CertificateReloader

        CertificateReloader(settings.tls)
    if settings.turn is not None:
        from bridge.turn import read_secret

        read_secret(settings.turn.secret_file)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging("salon-bridge")
    try:
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
