"""Tokens out of text: the one scrubber every shown message passes through.

Our own messages are built from redacted URLs (``config.urls.redact_url`` hides a secret
by where it sits in a URL) and never hold a token. This is the second line: a server's
reply, a library's exception or a config loader may echo the token itself, so the text is
searched for the secrets we know of before anyone sees it.
"""

from __future__ import annotations

import os

#: The environment variable that holds the default token: always scrubbed.
TOKEN_ENV = "LIBSQL_AUTH_TOKEN"
#: Shorter values are not treated as secrets: replacing them would mangle ordinary words.
MIN_LENGTH = 4
MASK = "***"


def scrub(text: str, *secrets: str | None) -> str:
    """``text`` with each given secret, and the token in ``LIBSQL_AUTH_TOKEN``, as ``***``."""
    for secret in (*secrets, os.environ.get(TOKEN_ENV)):
        if secret and len(secret) >= MIN_LENGTH:
            text = text.replace(secret, MASK)
    return text
