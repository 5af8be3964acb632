"""Domain errors: small classes carrying a message and the HTTP status they stand for.

The status is a class attribute, so a subclass inherits it and the API turns any of them into
a response in one handler.
"""


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """An unknown room, preset, session or cue."""

    status = 404


class Conflict(DomainError):
    """An action that the room's or the session's current state does not allow."""

    status = 409


class Invalid(DomainError):
    """Values that are well-formed but do not fit the preset (a missing reading, a dose in the wrong unit)."""

    status = 422


class Unavailable(DomainError):
    """Something the action needs cannot be reached now (the record's database server): the action
    was not done, and may be asked for again."""

    status = 503
