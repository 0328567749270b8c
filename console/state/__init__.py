"""Reflex state, one class per page in its own module; services are the only way to the ledger."""
