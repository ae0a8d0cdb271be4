"""asr: end-to-end CTC speech-to-text on Keras 3."""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["Transcriber", "Transcription", "Tokenizer", "normalize_text", "__version__"]
__version__ = "0.1.0"

from asr.text import Tokenizer, normalize_text

if TYPE_CHECKING:
    from asr.transcribe import Transcriber, Transcription


def __getattr__(name: str):
    """Import the Keras-backed parts on first use, so `import asr` stays light."""
    if name in ("Transcriber", "Transcription"):
        from asr import transcribe

        return getattr(transcribe, name)
    raise AttributeError(f"module 'asr' has no attribute {name!r}")
