"""``generate``: SQLAlchemy models -> a migration (docs/generate.md).

One job per module; only ``target`` and ``adapt`` import SQLAlchemy (lazily), so the
rest of migrate_tasks never needs it:

    target.py    ``package.module:Base`` -> MetaData; a clear error without SQLAlchemy
    adapt.py     a copy of the MetaData adjusted for SQLite, advice on PostgreSQL-isms,
                 and the DDL SQLAlchemy's SQLite dialect renders for it
    reflect.py   a database's tables as comparable shapes (SQLite's PRAGMAs + CREATE text)
    diff.py      two shapes -> a list of Change objects (pure data)
    render.py    changes -> up and down SQL (in place, or SQLite's table rebuild)
    generate.py  the whole flow, and the proof of each migration on a scratch database
"""
