"""The Revline web console (Reflex) and the revline command."""
