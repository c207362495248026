"""Migration files on disk: discovery, names, checksums, the parser and streaming of big files."""
