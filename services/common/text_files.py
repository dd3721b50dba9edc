"""Reading the files an operator names (settings, policies, templates), with one wording for what is wrong."""

from __future__ import annotations

from pathlib import Path


def unreadable(subject: str, error: OSError) -> str:
    """`<subject>: cannot be read: <why>`, the subject naming the file or the setting that names it."""
    return f"{subject}: cannot be read: {error.strerror or error}"


def read_utf8(path: Path, subject: str, error: type[ValueError]) -> str:
    """The file's text; else `error` naming `subject` and why: the file cannot be read, or is not UTF-8."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as cause:
        raise error(unreadable(subject, cause)) from None
    except UnicodeDecodeError:
        raise error(f"{subject}: is not UTF-8 text") from None
