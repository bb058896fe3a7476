"""``salon-appliance``: run the room, check a provisioning file, show status, draw screens.

Heavy imports (aiortc, pygame) happen inside the commands that need them, so
``check-config`` runs on an admin's laptop with a plain ``pip install salon``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

try:
    VERSION = version("salon")
except PackageNotFoundError:
    VERSION = "0+src"


def _run(args: argparse.Namespace) -> int:
    from appliance.provisioning.loader import load_with_fallback
    from appliance.service.runtime import run_event_loop, state_directory
    from salon.logs import setup_logging

    setup_logging("salon-appliance")
    state_dir = args.state_dir or state_directory()
    state_dir.mkdir(parents=True, exist_ok=True)
    loaded = load_with_fallback(args.config, state_dir)
    for problem in loaded.problems:
        print(f"config: {problem}", file=sys.stderr)
    if loaded.settings is None:
        from appliance.unconfigured import show_config_problems

        return show_config_problems(loaded.problems, VERSION)
    setup_logging("salon-appliance", loaded.settings.logging.level.upper())
    code = run_event_loop(_serve(loaded, state_dir))
    _leave_without_finalizing(code)
    return code


def _leave_without_finalizing(code: int) -> None:
    """Exit once the room has left and its state is written, skipping interpreter teardown.

    livekit's echo canceller runs on a Rust (tokio) runtime whose worker threads can panic
    while CPython finalizes ("panic in a function that cannot unwind", then SIGABRT): a
    clean stop would then reach systemd as a core dump and a failed unit. Everything the
    appliance keeps is written before the event loop returns, so there is nothing left
    for finalization to do but race that runtime.
    """
    if "livekit" not in sys.modules:
        return
    import logging
    import os

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


async def _serve(loaded: object, state_dir: Path) -> int:
    from appliance.app import Appliance
    from appliance.provisioning.loader import LoadResult
    from appliance.screen.config_problems import screen_problems

    assert isinstance(loaded, LoadResult) and loaded.settings is not None
    problems = screen_problems(  # warnings are logged
        [x for x in loaded.problems if x.severity == "error"])
    app = Appliance(loaded.settings, state_dir, version=VERSION, config_problems=problems,
                    using_last_good=loaded.using_last_good,
                    config_hash=loaded.config_hash or "")
    task = asyncio.create_task(app.run())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return 0


def _screenshots(args: argparse.Namespace) -> int:
    import os

    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    from appliance.screen.screenshots import write_screenshots

    for path in write_screenshots(args.directory):
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="salon-appliance", description=__doc__)
    parser.add_argument("--version", action="version", version=VERSION)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the room appliance")
    run.add_argument("--config", type=Path, default=None,
                     help="provisioning file (default: /boot/firmware/salon.toml, "
                          "then /etc/salon/appliance.toml)")
    run.add_argument("--state-dir", type=Path, default=None,
                     help="state directory (default: $STATE_DIRECTORY or /var/lib/salon)")
    sub.add_parser("check-config", help="validate a provisioning file", add_help=False)
    status = sub.add_parser("status", help="what the running appliance is doing")
    from appliance.service.status import add_arguments

    add_arguments(status)
    sub.add_parser("self-test", help="check media, crypto and display libraries work here",
                   add_help=False)
    shots = sub.add_parser("screenshots", help="draw every screen into PNG files")
    shots.add_argument("directory", type=Path)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["check-config"]:  # its own parser, importable without media libraries
        from appliance.provisioning.loader import check_config_main

        return check_config_main(argv[1:])
    if argv[:1] == ["self-test"]:
        from appliance.service.selftest import main as selftest_main

        return selftest_main(argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "run":
        return _run(args)
    if args.command == "status":
        from appliance.service.status import run as status_run

        return status_run(args)
    return _screenshots(args)


if __name__ == "__main__":
    sys.exit(main())
