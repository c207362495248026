"""Presentation only: what the tasks print. Nothing below ``tasks`` imports it.

One module per thing shown: ``status`` (tables and summary lines), ``documents`` (every
JSON document), ``dryrun`` (dry-run SQL and the JSON plan), ``fleet`` (progress line and
table), ``verify``, ``logs`` (log lines on stderr), ``failure_json`` (the document of a
run that stopped part-way), ``render`` (parameters inlined for display).
"""
