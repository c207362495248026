"""The lint rules, one module per family; ``registry.checks()`` imports them all.

``build`` (LS0xx: the migration does not run on the schema before it), ``destructive``
(LS1xx), ``foreign_keys`` (LS2xx), ``data`` (LS3xx: depends on the rows already there),
``compat`` (LS4xx: breaks the application still running), ``targets`` (LS5xx:
transactions and what a server refuses), ``size`` (LS6xx), ``history`` (LS7xx).
"""
