"""Presentation only: what the tasks print. Nothing below ``tasks`` imports it.

One module per thing shown: ``status`` (tables and summary lines), ``documents`` (every
JSON document), ``dryrun`` (dry-run SQL and the JSON plan), ``fleet`` (progress line and
table), ``verify``, ``logs`` (log lines on stderr), ``render`` (parameters inlined for
display).
"""
