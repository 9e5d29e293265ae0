"""Exceptions that separate user mistakes from bugs.

The CLI prints a :class:`UserError` as one line and exits non-zero; anything else is a bug and
keeps its traceback under ``--verbose``. Workloads raise :class:`Unsupported` so that a dtype or
feature the device lacks becomes a stored result with status ``unsupported`` rather than a crash.
"""

from __future__ import annotations


class AccelbenchError(Exception):
    """Base class of every error accelbench raises on purpose."""


class UserError(AccelbenchError):
    """A mistake in what the user asked for: a bad option, file or config value."""


class ConfigError(UserError):
    """A suite or config file that does not validate; the message names the file and field."""


class DeviceError(UserError):
    """A device that was asked for but is not present or cannot be used."""


class StoreError(UserError):
    """A result store that cannot be opened, read or written as asked."""


class Unsupported(AccelbenchError):
    """The device or runtime cannot run this case; recorded as status ``unsupported``."""
