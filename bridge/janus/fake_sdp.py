"""The fake Janus's SDP (bridge/janus/fake.py): just enough for a valid offer/answer
exchange without media."""

from __future__ import annotations

CODECS = {"audio": ("111", "opus/48000/2"), "video": ("96", "VP8/90000")}


def m_lines(sdp: str) -> list[tuple[str, str, str]]:
    """(kind, mid, "pt codec") of each audio/video m-line of an offer: its first format."""
    found: list[tuple[str, str, str]] = []
    kind = mid = pt = ""
    rtpmap: dict[str, str] = {}

    def close_section() -> None:
        if kind in ("audio", "video") and mid:
            found.append((kind, mid, f"{pt} {rtpmap.get(pt, CODECS[kind][1])}"))

    for line in sdp.splitlines():
        if line.startswith("m="):
            close_section()
            parts = line[2:].split()
            kind, mid, pt, rtpmap = parts[0], "", (parts[3] if len(parts) > 3 else ""), {}
        elif line.startswith("a=mid:"):
            mid = line[len("a=mid:"):].strip()
        elif line.startswith("a=rtpmap:"):
            number, _, codec = line[len("a=rtpmap:"):].partition(" ")
            rtpmap[number] = codec.strip()
    close_section()
    return found


def _media_section(kind: str, mid: str, direction: str, codec: str = "",
                   port: int = 9) -> list[str]:
    pt, _, name = (codec or " ".join(CODECS[kind])).partition(" ")
    return [f"m={kind} {port} UDP/TLS/RTP/SAVPF {pt}", "c=IN IP4 127.0.0.1",
            "a=ice-ufrag:fake", "a=ice-pwd:fakejanusfakejanusfakejan",
            "a=fingerprint:sha-256 " + ":".join(["00"] * 32),
            "a=setup:active" if direction == "recvonly" else "a=setup:actpass",
            f"a=mid:{mid}", f"a={direction}", "a=rtcp-mux", f"a=rtpmap:{pt} {name}"]


def _session_head(mids: list[str]) -> list[str]:
    return ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=Fake Janus", "t=0 0",
            "a=group:BUNDLE " + " ".join(mids)]


def answer(offered: list[tuple[str, str, str]]) -> str:
    lines = _session_head([mid for _, mid, _ in offered])
    for kind, mid, codec in offered:
        lines += _media_section(kind, mid, "recvonly", codec)
    return "\r\n".join([*lines, ""])


def subscriber_offer(streams: list[tuple[str, str, bool]]) -> str:
    """An offer of the streams (kind, mid, active) of a subscription."""
    lines = _session_head([mid for _, mid, _ in streams])
    for kind, mid, active in streams:
        lines += _media_section(kind, mid, "sendonly" if active else "inactive",
                                port=9 if active else 0)
    return "\r\n".join([*lines, ""])
