"""One style for every expected failure.

:class:`UserError` is the base of every error the user can fix: a missing or malformed file, an
unknown name, a config value of the wrong type, a rejected submission. Its message says what is
wrong, which file, and what to do; every ``msa-bench`` command prints it as one paragraph and
exits with status 2. OS errors a user can fix (permission denied, read-only or full disk) are
turned into such a message by :func:`os_error_message`. Anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import errno

#: errno values that mean "the user's disk or permissions", not a bug: permission denied,
#: read-only file system, no space left, quota exceeded.
USER_FIXABLE_ERRNOS: dict[int, str] = {
    errno.EACCES: "permission denied: check the folder's owner and mode, or choose another path",
    errno.EPERM: "operation not permitted: check the folder's owner and mode, or choose another path",
    errno.EROFS: "the file system is read-only: choose a writable folder",
    errno.ENOSPC: "no space left on the device: free some space or choose another disk",
    errno.EDQUOT: "disk quota exceeded: free some space or choose another disk",
}


class UserError(Exception):
    """An expected failure the user can fix; the message names the file and the problem."""


class ConfigError(UserError, ValueError):
    """A config value of the wrong type or out of range; the message names the field."""


def os_error_message(err: OSError) -> str | None:
    """A one-paragraph message for an OS error the user can fix (naming the path), else ``None``."""
    advice = USER_FIXABLE_ERRNOS.get(err.errno)
    if advice is None:
        return None
    path = err.filename if err.filename is not None else "(path unknown)"
    return f"{path}: {advice} ({err.strerror or err})"


def paragraph(message: str) -> str:
    """``message`` as one paragraph: no blank lines, no trailing space."""
    return "\n".join(line.rstrip() for line in str(message).strip().splitlines() if line.strip())


class UnknownNameError(UserError, KeyError):
    """An unknown dataset, model, metric or extractor name; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class MissingFileError(UserError, FileNotFoundError):
    """A file or folder the user named does not exist, or holds nothing usable."""


class SubmissionRejected(UserError, ValueError):
    """A submitted model, config or predictions file is invalid; the message says why. Nothing
    was trained or written."""
