"""Error types the CLI turns into one-line messages instead of tracebacks."""

from __future__ import annotations


def one_line(text: str) -> str:
    """``text`` with CR/LF escaped, so a file name holding them cannot split a message."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


class AsrError(Exception):
    """Base of every error a user can cause with bad input; the CLI prints it in one line."""

    def __init__(self, message: str = "") -> None:
        super().__init__(one_line(str(message)))


class AudioError(AsrError, ValueError):
    """An audio file (or buffer) that cannot be read as speech."""


class ManifestError(AsrError, ValueError):
    """A manifest or corpus file that is malformed; the message names file and line."""


class ConfigError(AsrError, ValueError):
    """A model directory whose config.json or model.keras is missing, invalid or inconsistent."""


class SynthError(AsrError, RuntimeError):
    """A speech synthesizer that is missing or failed."""


class ProcessLost(AsrError, RuntimeError):
    """Another process of a multi-process run died or lost contact. The CLI exits at once
    after saying so: waiting for the engine's shutdown barrier would only time out."""
