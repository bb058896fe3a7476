"""The appliance's bridge client: the protocol over one WebSocket and the aiortc
PeerConnections, with reconnect and rebuild."""
