"""What a pull request's migrations change, for the review report: the schema before and
after on scratch databases (``schema_change``). The Markdown and the Mermaid diagram are
drawn by ``report.review`` and ``report.mermaid``."""
