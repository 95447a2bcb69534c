"""Pure domain rules of the ledger service (stdlib and shared.domain only)."""
