"""Pure domain rules of the transfer service (stdlib and shared.domain only)."""
