"""One error type for bad user input: it always names the file, the field and the fix."""

from __future__ import annotations


class InputError(Exception):
    """Bad input a user can fix. Rendered as one line: file, field, problem, fix."""

    def __init__(self, file: str, field: str, problem: str, fix: str):
        self.file, self.field, self.problem, self.fix = str(file), str(field), problem, fix
        super().__init__(f"{self.file}: field '{self.field}': {problem}. Fix: {fix}")

    def naming(self, origins: dict) -> InputError:
        """The same error naming the user's file where it was raised on a staged copy
        (`origins`: staged path -> the file or URL it was made from)."""
        origin = origins.get(self.file)
        if origin is None:
            return self
        return InputError(origin, self.field, f"{self.problem} (read from its staged copy {self.file})", self.fix)


class DownloadError(RuntimeError):
    """A download that failed for a reason the user can act on; its message is one line naming the
    URL, the config field and the fix."""
