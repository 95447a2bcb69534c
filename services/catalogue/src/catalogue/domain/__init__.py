"""Pure domain rules of the catalogue (stdlib and shared.domain only)."""
