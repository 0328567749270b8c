"""Revline's sync engine: the ledger, the sync loop and the services the console calls."""
