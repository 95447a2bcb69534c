"""Pure domain rules of the ledger service (stdlib, shared.domain and rfc8785 only)."""
