"""``generate``: SQLAlchemy models -> a migration (docs/generate.md).

One job per module; only ``target`` and ``adapt`` import SQLAlchemy (lazily), so the
rest of migrate_tasks never needs it:

    target.py    ``package.module:Base`` -> MetaData; a clear error without SQLAlchemy
    adapt.py     a copy of the MetaData adjusted for SQLite, advice on PostgreSQL-isms,
                 and the DDL SQLAlchemy's SQLite dialect renders for it
    schema.py    the shapes compared: tables, columns, keys, indexes, views (values)
    sqltext.py   expressions in canonical form; identifiers quoted and found
    create_table.py  what only a CREATE TABLE's text says (checks, constraint names)
    reflect.py   a database's tables as those shapes (SQLite's PRAGMAs + CREATE text)
    diff.py      two shapes -> a list of Change objects (pure data)
    migration.py operations (an up and the down that undoes it) and the file's text
    render.py    changes -> up and down SQL: the order of the operations
    alter.py     one table's changes: in place with ALTER TABLE, or a rebuild
    rebuild.py   SQLite's table rebuild, and the rebuild back for down
    generate.py  the whole flow, and the proof of each migration on a scratch database
"""
