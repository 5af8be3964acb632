"""Domain errors: small classes carrying a message, turned into HTTP responses in one place."""


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """An unknown room, preset, session or cue."""


class Conflict(DomainError):
    """An action that the session's current state does not allow."""
