"""The ledger: SQLModel tables, the database engine and the queries the engine runs."""
