"""The pure domain: canonical records, mappings, ownership rules, changes and errors."""
