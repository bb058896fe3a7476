"""The bridge's side of Janus: which Janus server hosts a room, and each participant's
Janus session with its publisher and its one multistream subscriber.

Rooms are spread over the configured Janus servers (the local supervised one by
default; each a bridge/janus/server.py JanusServer). If a server's connection drops
(Janus died or restarted), the rooms on it are recreated once it answers again and
``on_server_back`` lets the live rooms tell their clients to publish again; a large
meeting's listeners on other servers (bridge/janus/cascade.py) are placed anew at once
(``on_server_lost``).
"""

from bridge.gateway.pool import MediaGateway
from bridge.gateway.session import (
    CONTENT_SUFFIX,
    MediaRefused,
    OfferSink,
    ParticipantMedia,
    content_feed,
    feed_owner,
    media_errors,
)
from bridge.janus.server import MediaUnavailable

__all__ = ["CONTENT_SUFFIX", "MediaGateway", "MediaRefused", "MediaUnavailable", "OfferSink",
           "ParticipantMedia", "content_feed", "feed_owner", "media_errors"]
