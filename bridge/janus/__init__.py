"""Everything that speaks Janus: config for a local Janus, its supervisor, the API client."""
