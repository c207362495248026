"""Many databases at once: targets (files, globs, sqld namespaces), the sqld admin API, the
runner, and where it runs each database (``workers``: threads, or processes for files)."""
