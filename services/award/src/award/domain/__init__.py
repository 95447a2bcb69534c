"""Pure domain rules of the award service (stdlib and shared.domain only)."""
