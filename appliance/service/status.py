"""`salon-appliance status`: the /healthz document, for a person at the console.

Standard library only (urllib), so it works in a rescue shell and never pulls in
the media stack. Exit codes follow `systemctl status`: 0 healthy, 1 unhealthy,
3 not running (nothing answers on the health port).
"""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

__all__ = ["EXIT_NOT_RUNNING", "add_arguments", "fetch_health", "format_status", "main", "run"]

EXIT_OK, EXIT_UNHEALTHY, EXIT_NOT_RUNNING = 0, 1, 3
DEFAULT_URL = "http://127.0.0.1:8765"


def fetch_health(base_url: str = DEFAULT_URL, timeout_s: float = 3.0) -> dict[str, Any]:
    """GET /healthz; a 503 still carries the document. Raises OSError if nothing answers."""
    url = base_url.rstrip("/") + "/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        if exc.code != 503:
            raise
        body = exc.read()
    document: dict[str, Any] = json.loads(body)
    return document


def _uptime(seconds: float) -> str:
    minutes, sec = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return (f"{days}d " if days else "") + f"{hours:02d}:{minutes:02d}:{sec:02d}"


def _percent(ratio: float | None) -> str:
    return "?" if ratio is None else f"{ratio * 100:.1f} %"


def format_status(doc: dict[str, Any]) -> str:
    """A few aligned lines: what an admin needs to see first, problems last and loud."""
    config, meeting = doc.get("config", {}), doc.get("meeting", {})
    lines = [
        f"Salon appliance {doc.get('version', '?')}  "
        f"{'OK' if doc.get('ok') else 'PROBLEM'}  up {_uptime(doc.get('uptime_s', 0))}",
        f"  meeting    {meeting.get('state', '?')}"
        + (f" in {meeting['room']}" if meeting.get("room") else "")
        + (f" as {meeting['name']}" if meeting.get("name") else ""),
    ]
    rtt, sent, received = (meeting.get(k) for k in
                           ("rtt_ms", "packet_loss_sent", "packet_loss_received"))
    if (rtt, sent, received) != (None, None, None):
        lines.append(f"  network    rtt {'?' if rtt is None else f'{rtt:.0f} ms'}, "
                     f"loss sent {_percent(sent)}, received {_percent(received)}")
    validity = "valid" if config.get("valid") else "INVALID"
    lines.append(f"  config     {validity} ({config.get('source') or '?'}) "
                 f"hash {str(config.get('hash') or '-')[:12]}")
    if config.get("error"):
        lines.append(f"             {config['error']}")
    for name, device in doc.get("devices", {}).items():
        backend = f" [{device['backend']}]" if device.get("backend") else ""
        detail = f" — {device['detail']}" if device.get("detail") else ""
        lines.append(f"  {name:<10} {device.get('state', '?')}{backend}{detail}")
    if doc.get("cpu_temperature_c") is not None:
        lines.append(f"  cpu temp   {doc['cpu_temperature_c']:.1f} °C")
    for reason in doc.get("watchdog", {}).get("reasons", []):
        lines.append(f"  watchdog   {reason}")
    if doc.get("last_error"):
        err = doc["last_error"]
        lines.append(f"  last error {err.get('at', '')}: {err.get('message', '')}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=DEFAULT_URL, help="health endpoint base URL")
    parser.add_argument("--json", action="store_true", help="print the raw /healthz JSON")


def run(args: argparse.Namespace) -> int:
    """The `status` subcommand, given arguments from add_arguments()."""
    try:
        doc = fetch_health(args.url)
    except (OSError, ValueError) as exc:
        print(f"salon-appliance is not answering on {args.url}: {exc}")
        print("  see: systemctl status salon-appliance; journalctl -u salon-appliance -b")
        return EXIT_NOT_RUNNING
    print(json.dumps(doc, indent=2) if args.json else format_status(doc))
    return EXIT_OK if doc.get("ok") else EXIT_UNHEALTHY


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="salon-appliance status", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
