"""aiohttp routes, the WebSocket protocol handler and the static web client."""
