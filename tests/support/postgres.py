"""A throwaway PostgreSQL cluster on 127.0.0.1 for tests, from Debian's `postgresql`
package (or server binaries in /usr/local/bin), run as the `postgres` user under root."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy.exc
from sqlalchemy import create_engine


def server_binaries() -> Path | None:
    """The directory holding initdb and postgres, or None."""
    candidates = [Path("/usr/local/bin"),
                  *sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)]
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "postgres").exists():
            return directory
    return None


@contextlib.contextmanager
def postgres_cluster() -> Iterator[str]:
    """A fresh cluster; yields the SQLAlchemy URL of its `postgres` database."""
    binaries = server_binaries()
    if binaries is None:
        raise RuntimeError("no PostgreSQL server binaries (apt-get install postgresql)")
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    root = Path(tempfile.mkdtemp(prefix="salon-pg-"))
    server: subprocess.Popen[bytes] | None = None
    try:
        if as_user:
            shutil.chown(root, "postgres")
        data = root / "data"
        subprocess.run([*as_user, str(binaries / "initdb"), "-D", str(data), "-A", "trust",
                        "-U", "salon", "--no-sync"], check=True, capture_output=True,
                       timeout=120)
        with socket.socket() as probe:  # a free port on loopback
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = subprocess.Popen(
            [*as_user, str(binaries / "postgres"), "-D", str(data), "-k", str(root),
             "-c", "listen_addresses=127.0.0.1", "-p", str(port), "-c", "fsync=off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"postgresql+psycopg://salon@127.0.0.1:{port}/postgres"
        deadline = time.monotonic() + 30
        while True:
            try:
                create_engine(url).connect().close()
                break
            except sqlalchemy.exc.OperationalError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)
