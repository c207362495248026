"""SQL text without a database: the lexer, statement shapes, SQLite's keywords."""
