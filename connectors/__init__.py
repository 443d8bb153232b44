"""Connectors to the external systems: one package per system, sharing ``base`` (the protocol,
errors, registry and the interfaces the engine implements) and ``http`` (the client)."""
