"""Data access: URLs, the engine and pool, the embedded server, tables, migrations."""
