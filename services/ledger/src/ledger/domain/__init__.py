"""Pure domain rules of the ledger service (stdlib, shared.domain, rfc8785 and orjson only)."""
