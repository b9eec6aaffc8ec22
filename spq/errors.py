# SPDX-License-Identifier: MIT
"""Exceptions that the CLI turns into one `error:` line and exit code 2."""


class SpqError(Exception):
    """A user-facing error: bad input, a missing file, a model that cannot be exported."""


class SpqFormatError(SpqError):
    """A checkpoint or export that is not a valid spq file (or comes from a newer spq)."""
