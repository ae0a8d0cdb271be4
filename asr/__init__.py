"""asr: end-to-end CTC speech-to-text and audio classification on Keras 3."""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = [
    "Classifier",
    "Transcriber",
    "Transcription",
    "Tokenizer",
    "normalize_text",
    "__version__",
]
__version__ = "0.1.0"

from asr.text import Tokenizer, normalize_text

if TYPE_CHECKING:
    from asr.classify import Classifier
    from asr.transcribe import Transcriber, Transcription


def __getattr__(name: str):
    """Import the Keras-backed parts on first use, so `import asr` stays light."""
    if name in ("Transcriber", "Transcription"):
        from asr import transcribe

        return getattr(transcribe, name)
    if name == "Classifier":
        from asr.classify import Classifier

        return Classifier
    raise AttributeError(f"module 'asr' has no attribute {name!r}")
