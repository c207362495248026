"""What a pull request's migrations change, for the review report (docs/review.md):

    branch.py         the migrations a branch adds, edits and removes since its branch point
    schema_change.py  the schema before and after, table by table (and views)
    build.py          ``review_branch``: both schemas on scratch databases, plus lint

The Markdown, the JSON and the Mermaid diagram are drawn by ``report.review``,
``report.review_output`` and ``report.mermaid``.
"""
