"""The agent's runtime: scheduling, state, the event log, metrics and the HTTP API."""
