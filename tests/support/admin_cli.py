"""`salon-bridge`'s admin commands run in the test's process on a given store."""

from __future__ import annotations

import argparse
import io

from bridge.admin import add_admin_commands, run_admin
from bridge.config import BridgeSettings
from bridge.store import Store
from tests.support.meetings_world import CHEAP


def admin(store: Store, *argv: str,
          settings: BridgeSettings | None = None) -> tuple[int, str, str]:
    """Run one admin command: (exit status, standard output, standard error)."""
    parser = argparse.ArgumentParser()
    add_admin_commands(parser.add_subparsers(dest="command", required=True))
    out, err = io.StringIO(), io.StringIO()
    args = parser.parse_args(argv)
    args.settings = settings  # as bridge.cli passes the configuration
    status = run_admin(args, store, stdin=io.StringIO(), stdout=out,
                       stderr=err, passwords=CHEAP)
    return status, out.getvalue(), err.getvalue()
