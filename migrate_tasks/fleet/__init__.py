"""Many databases at once: targets (files, globs, sqld namespaces), the sqld admin API, the runner."""
