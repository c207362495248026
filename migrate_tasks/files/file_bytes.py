"""A migration file's bytes as they arrive: refused unless UTF-8 text, decoded, hashed.

The byte half of ``files.parser.MigrationScanner``, a module of its own because it
knows nothing of sections or statements: the text keeps every byte (CRLF included),
a BOM is dropped from the start of the text only, and the checksum is that of
``source.checksum`` (CRLF counted as LF), so that a file streamed in pieces of any size
gets the same text, line numbers, errors and checksum as one read whole.
"""

from __future__ import annotations

import codecs
import hashlib

from migrate_tasks.errors import MigrationFileError

_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class FileBytes:
    """Check, hash and decode a file's bytes, piece by piece.

    UTF-16 and NUL bytes raise at once (nothing outranks them); invalid UTF-8 is kept in
    ``utf8_error`` for the caller to raise at the end of the file, since nothing after
    it is decoded.
    """

    def __init__(self, path: str, *, checksum: bool) -> None:
        self.path = path
        #: Bytes fed so far.
        self.size = 0
        self.utf8_error: MigrationFileError | None = None
        self._sha = hashlib.sha256() if checksum else None
        self._head = b""  # the first two bytes, for the UTF-16 check
        self._cr = b""  # for the checksum: a trailing "\r", held until we know if "\n" follows
        self._newlines = 0  # "\n" bytes before the current piece
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._text_started = False  # a BOM is dropped from the first text only

    @property
    def checksum(self) -> str | None:
        """``source.checksum`` of the bytes so far; None unless made with ``checksum=True``."""
        return None if self._sha is None else "sha256:" + self._sha.hexdigest()

    def decode(self, chunk: bytes, final: bool) -> str | None:
        """Checksum and check the next piece; its text, or None once UTF-8 failed."""
        self.size += len(chunk)
        if len(self._head) < 2:
            self._head += chunk[: 2 - len(self._head)]
            if self._head in _UTF16_BOMS:
                raise MigrationFileError(
                    self.path,
                    1,
                    "file is UTF-16 encoded; save it as UTF-8 (without a byte order mark)",
                )
        data = chunk  # the text keeps every byte: only the checksum ignores line endings
        if self._sha is not None:
            self._hash(data, final)
        nul = data.find(b"\x00")
        if nul >= 0:
            raise MigrationFileError(
                self.path,
                self._newlines + data.count(b"\n", 0, nul) + 1,
                "file contains a NUL byte; a migration must be a UTF-8 text file (is this a"
                " binary file, or saved as UTF-16?)",
            )
        text = None
        if self.utf8_error is None:
            try:
                text = self._decoder.decode(data, final)
            except UnicodeDecodeError as exc:  # exc.object: bytes held back before + data
                bad = exc.object[exc.start : exc.start + 1].hex().upper()
                self.utf8_error = MigrationFileError(
                    self.path,
                    self._newlines + exc.object.count(b"\n", 0, exc.start) + 1,
                    f"file is not valid UTF-8 (byte 0x{bad}); re-save it as UTF-8, e.g."
                    " `iconv -f latin1 -t utf-8`",
                )
            else:
                if text and not self._text_started:
                    self._text_started = True
                    if text[0] == "\ufeff":
                        text = text[1:]
        if not final:
            self._newlines += data.count(b"\n")
        return text

    def _hash(self, data: bytes, final: bool) -> None:
        """Add ``data`` to ``checksum``, as ``source.checksum``: CRLF counted as LF.

        A trailing CR is held until the next piece shows whether LF follows it.
        """
        assert self._sha is not None
        if self._cr:
            data, self._cr = self._cr + data, b""
        if not final and data.endswith(b"\r"):
            data, self._cr = data[:-1], b"\r"
        self._sha.update(data.replace(b"\r\n", b"\n"))
