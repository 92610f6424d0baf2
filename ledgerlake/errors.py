"""The one exception type for errors a user can cause (bad config, bad file, unreachable source)."""

from __future__ import annotations


class LedgerlakeError(Exception):
    """A user-facing error. The message names the file/field/URL and what to do.

    The CLI prints it as one line on stderr and exits with code 2, without a traceback.
    """

    exit_code = 2
