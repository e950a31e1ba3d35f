"""The database every area stores into: one SQLite connection, its migrations, group commit."""
