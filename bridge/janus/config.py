"""Write a minimal configuration for a local Janus.

Only the VideoRoom plugin and the WebSocket transport are loaded (the plugin and
transport folders are private folders of symlinks, so a Janus package that gains
plugins never loads them here), every listener is bound to 127.0.0.1 and both
the API and admin secrets are generated per state directory.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

JANUS_LIB_DIRS = (
    Path("/usr/lib/x86_64-linux-gnu/janus"),
    Path("/usr/lib/aarch64-linux-gnu/janus"),
    Path("/usr/lib/arm-linux-gnueabihf/janus"),
    Path("/usr/lib/janus"),
)
PLUGINS = ("libjanus_videoroom.so",)
TRANSPORTS = ("libjanus_websockets.so",)
# Packets of one m-line lost in a second (from a subscriber's receiver reports, or by
# Janus from a publisher) that make Janus send `slowlink`: the receive ceiling's signal
# (bridge/janus/ceiling.py). 10 is ~9 % of a 1.2 Mbit/s layer or 20 % of a voice: a
# congested link, while 3 % random loss stays under it.
SLOWLINK_THRESHOLD = 10


@dataclass(frozen=True)
class LocalJanusLayout:
    """Paths and secrets of one local Janus instance."""

    root: Path
    ws_port: int
    admin_ws_port: int
    api_secret: str
    admin_secret: str
    room_admin_key: str
    media_ip: str | None
    rtp_port_range: str
    public_ip: str | None = None

    @property
    def config_file(self) -> Path:
        return self.root / "janus.jcfg"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/"


def find_janus_lib_dir() -> Path:
    for candidate in JANUS_LIB_DIRS:
        if (candidate / "plugins" / PLUGINS[0]).exists():
            return candidate
    raise FileNotFoundError(
        "Janus plugins not found in " + ", ".join(str(d) for d in JANUS_LIB_DIRS)
        + " (is the Debian package 'janus' installed?)"
    )


def _load_or_make_secrets(root: Path) -> dict[str, str]:
    path = root / "secrets.json"
    if path.exists():
        return dict(json.loads(path.read_text()))
    made = {k: secrets.token_urlsafe(24) for k in ("api", "admin", "room_admin")}
    path.touch(mode=0o600)
    path.write_text(json.dumps(made))
    return made


def _str(value: str) -> str:
    return json.dumps(value)  # libconfig strings use the same escaping as JSON


def _link_only(folder: Path, source: Path, names: tuple[str, ...]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    for name in names:
        (folder / name).symlink_to(source / name)


def write_local_janus_config(
    root: Path,
    ws_port: int,
    admin_ws_port: int,
    media_ip: str | None = None,
    rtp_port_range: str = "20000-40000",
    debug_level: int = 3,
    public_ip: str | None = None,
) -> LocalJanusLayout:
    """Write janus.jcfg and the plugin/transport configs into ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    lib = find_janus_lib_dir()
    _link_only(root / "plugins", lib / "plugins", PLUGINS)
    _link_only(root / "transports", lib / "transports", TRANSPORTS)
    _link_only(root / "events", lib / "events", ())
    _link_only(root / "loggers", lib / "loggers", ())
    keys = _load_or_make_secrets(root)
    layout = LocalJanusLayout(
        root=root, ws_port=ws_port, admin_ws_port=admin_ws_port,
        api_secret=keys["api"], admin_secret=keys["admin"], room_admin_key=keys["room_admin"],
        media_ip=media_ip, rtp_port_range=rtp_port_range, public_ip=public_ip,
    )
    nat = [
        "nice_debug = false",
        "full_trickle = false",
        "ignore_mdns = true",
    ]
    if media_ip:
        nat.append(f"ice_enforce_list = {_str(media_ip)}")
    if public_ip:
        # Behind a 1:1 NAT (a cloud VM): candidates carry the public address; the private
        # one is kept too, for a TURN server on the same machine to relay to.
        nat += [f"nat_1_1_mapping = {_str(public_ip)}", "keep_private_host = true"]
    (root / "janus.jcfg").write_text(f"""\
general: {{
    configs_folder = {_str(str(root))}
    plugins_folder = {_str(str(root / "plugins"))}
    transports_folder = {_str(str(root / "transports"))}
    events_folder = {_str(str(root / "events"))}
    loggers_folder = {_str(str(root / "loggers"))}
    log_to_stdout = true
    debug_level = {debug_level}
    debug_timestamps = true
    server_name = "salon"
    session_timeout = 60
    api_secret = {_str(layout.api_secret)}
    admin_secret = {_str(layout.admin_secret)}
    protected_folders = [
        "/bin", "/boot", "/dev", "/etc", "/lib", "/proc", "/root", "/sys", "/usr", "/var"
    ]
}}
certificates: {{
}}
media: {{
    ipv6 = false
    rtp_port_range = {_str(rtp_port_range)}
    no_media_timer = 2
    slowlink_threshold = {SLOWLINK_THRESHOLD}
}}
nat: {{
    {chr(10).join('    ' + line for line in nat).strip()}
}}
plugins: {{
}}
transports: {{
}}
events: {{
    broadcast = false
}}
""")
    (root / "janus.transport.websockets.jcfg").write_text(f"""\
general: {{
    json = "compact"
    ws = true
    ws_port = {ws_port}
    ws_ip = "127.0.0.1"
    wss = false
}}
admin: {{
    admin_ws = true
    admin_ws_port = {admin_ws_port}
    admin_ws_ip = "127.0.0.1"
    admin_wss = false
}}
""")
    (root / "janus.plugin.videoroom.jcfg").write_text(f"""\
general: {{
    admin_key = {_str(layout.room_admin_key)}
    lock_rtp_forward = true
    string_ids = true
}}
""")
    return layout
