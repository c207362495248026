"""Settings: where each value comes from (one precedence function), URLs and their redaction."""
