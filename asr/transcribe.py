"""Library entry point for transcription: ``Transcriber.load(dir).transcribe(...)``."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asr.architectures import CTC
from asr.audio import AudioStream, audio_duration, load_audio, resample
from asr.buckets import bucket_width
from asr.config import Config, load_config, shipped_model_dir
from asr.decoding import (
    AUTO_DECODER,
    DECODERS,
    Decoder,
    Hotwords,
    LMBeamDecoder,
    TokenSpan,
    forced_alignment,
    geometric_mean,
    log_softmax,
    split_at_blanks,
    split_words,
    token_spans,
    with_words,
)
from asr.errors import AudioError, ConfigError
from asr.features import Normalizer, compute_features
from asr.lm import LM_NAME, CharLM
from asr.runtime import ONNX_NAME, TFLITE_NAME, OnnxModel, model_dims, uses_onnx, uses_tflite
from asr.text import Tokenizer, normalize_text
from asr.vad import VAD_DEFAULT, blank_outside, frame_energies, speech_mask
from asr.wordlm import WORDS_NAME, WordLM

MAX_BATCH_FRAMES = 32 * 1000  # feature frames per forward pass (~5 min of audio)
MAX_BATCH_SIZE = 64
# Long audio runs through the model in windows of WINDOW_SECONDS, each with CONTEXT_SECONDS
# of audio on both sides that the bidirectional RNN sees but whose outputs are discarded;
# every output frame comes from exactly one window, so no word is dropped or doubled at a
# seam, and memory stays that of a few windows whatever the file's length.
WINDOW_SECONDS = 30.0
CONTEXT_SECONDS = 5.0  # 3 s changed ~0.1% of characters vs whole-file decoding; 5 s none
WINDOWS_PER_BATCH = 2  # 4 was 50 MiB more peak memory for ~5% speed
DECODE_PIECE_SECONDS = 15.0  # posteriors are decoded in pieces cut at blank frames
ENERGY_BLOCK_SECONDS = 60.0  # audio read at a time to judge where speech is (asr.vad)


def default_model_dir() -> Path:
    """The shipped speech-to-text model (checkpoints/default)."""
    return shipped_model_dir("default")


@dataclass(frozen=True)
class Word:
    """A word with its time span in seconds and its confidence in [0, 1]."""

    word: str
    start: float
    end: float
    confidence: float


@dataclass(frozen=True)
class Transcription:
    """One file's result.

    ``confidence`` is the geometric mean of the emitted characters' peak posteriors (a word's
    confidence likewise over its letters): 1.0 means the model was sure of every character.
    """

    path: str | None
    text: str
    duration: float  # seconds of audio
    confidence: float = 1.0
    words: tuple[Word, ...] = ()


class Transcriber:
    """A trained model with the featurizer and tokenizer its config.json describes."""

    def __init__(
        self,
        model,
        config: Config,
        lm: str | os.PathLike | None = None,
        word_lm: str | os.PathLike | None = None,
        hotwords: Hotwords | None = None,
        word_weight: float | None = None,
        vad: bool = VAD_DEFAULT,
    ) -> None:
        if not config.mean:
            raise ConfigError("config.json has no normalization statistics; retrain the model")
        self.model = model
        self.config = config
        self.tokenizer = Tokenizer(config.alphabet)
        self.normalizer = Normalizer(np.array(config.mean), np.array(config.std))
        self._check_shapes()
        self.lm_path = Path(lm) if lm is not None else None  # used by the beam decoder
        self._lm: tuple[Path, CharLM] | None = None
        # fused beside the character LM by the beam decoder (see asr.decoding.with_words)
        self.word_lm_path = Path(word_lm) if word_lm is not None else None
        self._word_lm: tuple[Path, WordLM] | None = None
        self.hotwords = hotwords
        self.word_weight = word_weight  # None: the word LM file's
        # frames far from any speech the pause detector hears decode as blank (asr.vad)
        self.vad = vad

    @classmethod
    def load(
        cls,
        model_dir: str | os.PathLike | None = None,
        lm: str | os.PathLike | None = "auto",
        runtime: str = "auto",
        word_lm: str | os.PathLike | None = "auto",
        hotwords: Hotwords | None = None,
        word_weight: float | None = None,
        vad: bool = VAD_DEFAULT,
    ) -> Transcriber:
        """Load DIR/config.json and the network: DIR/model.onnx under onnxruntime (no
        TensorFlow) when it is there and onnxruntime is installed, else DIR/model.keras
        (safe_mode=True).

        ``lm``: the character language model for beam search; "auto" takes DIR/lm.npz when
        there is one, None decodes without. ``runtime``: "auto", "onnx" or "keras".
        ``word_lm``: the word LM (ARPA) beam search fuses beside it, "auto" taking
        DIR/words.arpa when there is one; ``hotwords`` and ``word_weight`` go with it.
        ``vad``: decode frames away from any speech the pause detector hears (see
        ``asr.vad.speech_mask``) as blank, so no words are read into silence or steady noise.
        """
        model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        config = load_config(model_dir, task=CTC)
        if lm == "auto":
            lm = model_dir / LM_NAME if (model_dir / LM_NAME).is_file() else None
        if word_lm == "auto":
            word_lm = model_dir / WORDS_NAME if (model_dir / WORDS_NAME).is_file() else None
        options = {"word_lm": word_lm, "hotwords": hotwords, "word_weight": word_weight, "vad": vad}
        if uses_tflite(model_dir, runtime):
            from asr.tflite_runtime import TfliteModel

            return cls(TfliteModel(model_dir / TFLITE_NAME), config, lm, **options)
        if uses_onnx(model_dir, runtime):
            return cls(OnnxModel(model_dir / ONNX_NAME), config, lm, **options)
        from asr.modelio import load_inference_model

        return cls(load_inference_model(model_dir, config), config, lm, **options)

    @property
    def lm(self) -> CharLM | None:
        """The language model at ``lm_path`` (settable; None: none), read on first use so
        greedy decoding never pays for it."""
        if self.lm_path is None:
            return None
        if self._lm is None or self._lm[0] != self.lm_path:
            lm = CharLM.load(self.lm_path)
            if lm.alphabet != self.config.alphabet:
                raise ConfigError(
                    f"{self.lm_path}: language model alphabet {lm.alphabet!r} differs from the "
                    f"model's {self.config.alphabet!r}; build it with `asr lm` for this model"
                )
            self._lm = (self.lm_path, lm)
        return self._lm[1]

    @property
    def word_lm(self) -> WordLM | None:
        """The word language model at ``word_lm_path`` (settable; None: none), read on first
        use like ``lm``."""
        if self.word_lm_path is None:
            return None
        if self._word_lm is None or self._word_lm[0] != self.word_lm_path:
            self._word_lm = (self.word_lm_path, WordLM.load(self.word_lm_path))
        return self._word_lm[1]

    def _check_shapes(self) -> None:
        """Refuse a config.json that does not describe this model.keras."""
        in_dim, out_dim = model_dims(self.model)
        if in_dim != self.config.features.dim or out_dim != self.config.num_classes:
            raise ConfigError(
                f"config.json describes {self.config.features.dim} feature dims and "
                f"{self.config.num_classes} classes but the model takes {in_dim} and emits "
                f"{out_dim}; the two files come from different models"
            )

    def features(self, samples: np.ndarray) -> np.ndarray:
        """Normalized features of float samples at the model's sample rate."""
        return self.normalizer(compute_features(samples, self.config.features))

    def logits(self, feats: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Per-utterance (frames, classes) logits, run in length-sorted padded batches."""
        out: list[np.ndarray | None] = [None] * len(feats)
        order = np.argsort([f.shape[0] for f in feats], kind="stable")
        for batch in _batches(order, [f.shape[0] for f in feats]):
            width = bucket_width(max(feats[i].shape[0] for i in batch))
            x = np.zeros((len(batch), width, self.config.features.dim), dtype=np.float32)
            lengths = np.zeros(len(batch), dtype=np.int32)
            for row, i in enumerate(batch):
                x[row, : feats[i].shape[0]] = feats[i]
                lengths[row] = self.config.model.output_length(feats[i].shape[0])
            y = np.asarray(self.model.predict_on_batch({"features": x, "input_length": lengths}))
            for row, i in enumerate(batch):
                out[i] = y[row, : lengths[row]]
        return out  # type: ignore[return-value]

    @property
    def seconds_per_output_frame(self) -> float:
        """Duration of one model output frame (feature hop x the model's time reduction)."""
        return self.config.model.time_reduction / self.config.features.frames_per_second

    @property
    def samples_per_output_frame(self) -> int:
        """Samples per model output frame (feature hop x time reduction; 480 for the shipped
        model): windows whose edges lie on this grid give frames aligned with the whole's."""
        hop = round(self.config.features.sample_rate / self.config.features.frames_per_second)
        return hop * self.config.model.time_reduction

    def window_logits(
        self, windows: Sequence[tuple[np.ndarray, int, int | None]]
    ) -> list[np.ndarray]:
        """Logits of audio windows with context, each cut to the frames it owns.

        A window is ``(samples, first, stop)``: samples starting on the output-frame grid
        (``samples_per_output_frame``), of which output frames ``[first, stop)`` are kept
        (``stop`` None: to the end). The frames outside are context: the bidirectional RNN
        sees them but their outputs, made without their own context, are discarded. Shared
        by long-audio windows (``long_logits``) and live streaming (``asr.stream``).
        """
        feats = [self.features(samples) for samples, _, _ in windows]
        return [
            lg[first:stop] for (_, first, stop), lg in zip(windows, self.logits(feats), strict=True)
        ]

    def long_logits(self, audio: np.ndarray | AudioStream) -> np.ndarray:
        """(frames, classes) logits of any-length audio, computed window by window.

        ``audio`` is a sample array or a AudioStream, which is read one window at a time.
        """
        total, read = _reader(audio)
        rate = self.config.features.sample_rate
        unit = self.samples_per_output_frame
        window = max(1, round(WINDOW_SECONDS * rate / unit))
        context = round(CONTEXT_SECONDS * rate / unit)
        total_units = -(-total // unit)
        if total_units <= window + 2 * context:
            return self.logits([self.features(read(0, total))])[0]
        owned = [(a, min(a + window, total_units)) for a in range(0, total_units, window)]
        pieces: list[np.ndarray] = []
        for i in range(0, len(owned), WINDOWS_PER_BATCH):
            group = owned[i : i + WINDOWS_PER_BATCH]
            windows = []
            for a, b in group:
                s = max(0, a - context)
                last = b == total_units  # the final window keeps everything to the end
                windows.append(
                    (read(s * unit, (b + context) * unit), a - s, None if last else b - s)
                )
            pieces += self.window_logits(windows)
        return np.concatenate(pieces)

    def resolve_decoder(self, name: str) -> str:
        """``name``, with "auto" made "beam" when this transcriber has a language model
        (character or word) or hotwords, and "greedy" when it has none: the best decoder the
        model directory supports, so a user gets its LMs without knowing to ask."""
        if name != AUTO_DECODER:
            return name
        fused = self.lm_path or self.word_lm_path or self.hotwords is not None
        return "beam" if fused else "greedy"

    def decoder(self, name: str = AUTO_DECODER, beam_width: int = 16) -> Decoder:
        """The registered decoder ``name`` (or "auto", see ``resolve_decoder``); "beam" fuses
        this model's LM when it has one, and the word LM and hotwords when there are any."""
        name = self.resolve_decoder(name)
        if name not in DECODERS:
            choices = [AUTO_DECODER, *sorted(DECODERS)]
            raise ConfigError(f"unknown decoder {name!r}; choose one of {choices}")
        if beam_width < 1:
            raise ConfigError(f"beam width must be >= 1, got {beam_width}")
        decoder = DECODERS[name](beam_width, self.lm if name == "beam" else None)
        if isinstance(decoder, LMBeamDecoder):
            decoder = dataclasses.replace(decoder, name=f"character LM {self.lm_path}")
        if name == "beam":
            decoder = with_words(
                decoder,
                self.config.alphabet,
                self.word_lm,
                self.hotwords,
                self.word_weight,
                word_name=f"word LM {self.word_lm_path}",
            )
        return decoder

    def decode(
        self, logits: np.ndarray, decoder: str | Decoder = AUTO_DECODER, beam_width: int = 16
    ) -> tuple[str, float, tuple[Word, ...]]:
        """Text, confidence and timed words of one utterance's (frames, classes) logits.

        ``decoder``: a registered name (with ``beam_width``) or a Decoder object.
        """
        if isinstance(decoder, str):
            decoder = self.decoder(decoder, beam_width)
        log_probs = log_softmax(logits)
        spf = self.seconds_per_output_frame
        piece = max(2, round(DECODE_PIECE_SECONDS / spf))
        bounds = [(a, b) for a, b in split_at_blanks(log_probs, piece) if b > a]
        parts = [log_probs[a:b] for a, b in bounds]
        spans = []
        for (a, _), lp, (ids, owner) in zip(bounds, parts, decoder.decode(parts), strict=True):
            for sp in token_spans(ids, owner, lp):
                spans.append(dataclasses.replace(sp, first=sp.first + a, last=sp.last + a))
        words = self._timed_words(spans)
        text = " ".join(w.word for w in words)
        return text, round(geometric_mean([sp.prob for sp in spans]), 4), words

    def _timed_words(self, spans: Sequence[TokenSpan]) -> tuple[Word, ...]:
        """Token spans grouped into words at spaces, timed in seconds."""
        spf = self.seconds_per_output_frame
        space = self.tokenizer.encode(" ")[0]
        return tuple(
            Word(
                self.tokenizer.decode([sp.id for sp in group]),
                round(group[0].first * spf, 3),
                round((group[-1].last + 1) * spf, 3),
                round(geometric_mean([sp.prob for sp in group]), 4),
            )
            for group in split_words(spans, space)
        )

    def align(
        self, signals: Sequence[np.ndarray], texts: Sequence[str]
    ) -> list[tuple[Word, ...] | None]:
        """Forced alignment: each known transcript's words timed in its signal.

        Texts are normalized as for training. A word's confidence is its letters' geometric
        mean posterior on the forced path, low where audio and text disagree. None for a
        text too long to fit its audio (CTC needs a frame per letter and between repeats).
        """
        out: list[tuple[Word, ...] | None] = []
        for samples, text, lg in zip(signals, texts, self.signal_logits(signals), strict=True):
            label = self.tokenizer.encode(normalize_text(text))
            log_probs = log_softmax(lg)
            try:
                owner = forced_alignment(log_probs, label)
            except ValueError:
                out.append(None)
                continue
            duration = len(samples) / self.config.features.sample_rate
            words = self._timed_words(token_spans(label.tolist(), owner, log_probs))
            out.append(tuple(dataclasses.replace(w, end=min(w.end, duration)) for w in words))
        return out

    def describe_decoder(self, decoder: str, beam_width: int) -> str:
        """How text is decoded, for reports: "greedy", "beam 16" or "beam 16 + ... LM ..."."""
        return self.decoder(decoder, beam_width).describe()

    def transcribe_arrays(
        self,
        signals: Sequence[np.ndarray],
        decoder: str | Decoder = AUTO_DECODER,
        beam_width: int = 16,
    ) -> list[str]:
        """Texts for float signals already at the model's sample rate."""
        return [r.text for r in self._results(signals, [None] * len(signals), decoder, beam_width)]

    def signal_logits(self, signals: Sequence[np.ndarray]) -> list[np.ndarray]:
        """(frames, classes) logits of each signal: short ones share padded batches, long
        ones go window by window."""
        long_samples = (WINDOW_SECONDS + 2 * CONTEXT_SECONDS) * self.config.features.sample_rate
        short = [i for i, s in enumerate(signals) if len(s) <= long_samples]
        logits = dict(
            zip(short, self.logits([self.features(signals[i]) for i in short]), strict=True)
        )
        return [logits[i] if i in logits else self.long_logits(s) for i, s in enumerate(signals)]

    def _results(
        self,
        signals: Sequence[np.ndarray],
        paths: Sequence[str | None],
        decoder: str | Decoder,
        beam_width: int,
    ) -> list[Transcription]:
        """Short signals share padded batches; long ones go window by window."""
        rate = self.config.features.sample_rate
        results = []
        logits = self.signal_logits(signals)
        for samples, path, lg in zip(signals, paths, logits, strict=True):
            text, conf, words = self.decode(self.gate(samples, lg), decoder, beam_width)
            duration = len(samples) / rate
            words = tuple(dataclasses.replace(w, end=min(w.end, duration)) for w in words)
            results.append(Transcription(path, text, duration, conf, words))
        return results

    def transcribe(
        self,
        audio: str | os.PathLike | np.ndarray,
        sample_rate: int | None = None,
        decoder: str | Decoder = AUTO_DECODER,
        beam_width: int = 16,
    ) -> str:
        """Text of one file path or sample array (``sample_rate`` defaults to the model's)."""
        if isinstance(audio, np.ndarray):
            samples = np.asarray(audio, dtype=np.float32)
            if samples.ndim == 2:  # (samples, channels)
                samples = samples.mean(axis=1)
            rate = sample_rate or self.config.features.sample_rate
            samples = resample(samples, rate, self.config.features.sample_rate)
        else:
            samples = load_audio(audio, self.config.features.sample_rate)
        return self.transcribe_arrays([samples], decoder, beam_width)[0]

    def transcribe_files(
        self,
        paths: Iterable[str | os.PathLike],
        decoder: str | Decoder = AUTO_DECODER,
        beam_width: int = 16,
        on_error: Callable[[AudioError], None] | None = None,
        batch_seconds: float = 600.0,
    ) -> list[Transcription]:
        """Transcribe many files; one result per readable input, in input order.

        A bad file raises AudioError, or, with ``on_error``, is reported to it and skipped.
        ``"-"`` reads one audio file from standard input. At most ~``batch_seconds`` of short audio
        is held in memory at a time; files longer than a window stream from disk.
        """
        indexed = self.transcribe_indexed(
            paths,
            decoder,
            beam_width,
            on_error=None if on_error is None else (lambda _i, e: on_error(e)),
            batch_seconds=batch_seconds,
        )
        return [indexed[i] for i in sorted(indexed)]

    def transcribe_indexed(
        self,
        paths: Iterable[str | os.PathLike],
        decoder: str | Decoder = AUTO_DECODER,
        beam_width: int = 16,
        on_error: Callable[[int, AudioError], None] | None = None,
        batch_seconds: float = 600.0,
    ) -> dict[int, Transcription]:
        """``{input position: result}`` for every readable input of ``paths``.

        Why positions: long files are transcribed as they come while short ones wait for a
        batch to fill, so results finish out of order; callers that pair them with other
        data (references in ``evaluate``) key on the position, never on the finishing order.
        ``on_error(position, error)`` is called, while that input is current, for a bad file.
        """
        if isinstance(decoder, str):  # resolved once: a bad name fails before any work
            decoder = self.decoder(decoder, beam_width)
        rate = self.config.features.sample_rate
        results: dict[int, Transcription] = {}
        held: dict[int, tuple[np.ndarray, str]] = {}  # short files waiting for a batch

        def flush() -> None:
            keys = list(held)
            signals = [held[k][0] for k in keys]
            names = [held[k][1] for k in keys]
            done = self._results(signals, names, decoder, beam_width)
            results.update(zip(keys, done, strict=True))
            held.clear()

        for i, p in enumerate(paths):
            try:
                if str(p) != "-" and audio_duration(p) > WINDOW_SECONDS + 2 * CONTEXT_SECONDS:
                    results[i] = self._transcribe_long(p, decoder, beam_width)
                    continue
                source = sys.stdin.buffer if str(p) == "-" else p
                held[i] = (load_audio(source, rate), str(p))
            except AudioError as e:
                if on_error is None:
                    raise
                on_error(i, e)
                continue
            if sum(len(s) for s, _ in held.values()) >= batch_seconds * rate:
                flush()
        if held:
            flush()
        return results

    def _transcribe_long(
        self, path: str | os.PathLike, decoder: str | Decoder, beam_width: int
    ) -> Transcription:
        """A long file, streamed window by window when its sample format allows."""
        rate = self.config.features.sample_rate
        try:
            audio: np.ndarray | AudioStream = AudioStream(path, rate)
            duration = audio.duration
        except AudioError:  # e.g. GSM 6.10: libsndfile cannot seek in it, so load it whole
            audio = load_audio(path, rate)
            duration = len(audio) / rate
        logits = self.gate(audio, self.long_logits(audio))
        text, conf, words = self.decode(logits, decoder, beam_width)
        words = tuple(dataclasses.replace(w, end=min(w.end, duration)) for w in words)
        return Transcription(str(path), text, duration, conf, words)

    def gate(self, audio: np.ndarray | AudioStream, logits: np.ndarray) -> np.ndarray:
        """``logits`` with frames far from speech made blank when ``vad`` is on (asr.vad)."""
        if not self.vad:
            return logits
        keep = speech_mask(self.energies(audio), len(logits), self.seconds_per_output_frame)
        return blank_outside(logits, keep)

    def energies(self, audio: np.ndarray | AudioStream) -> np.ndarray:
        """dBFS per output frame of a sample array or stream (a last shorter frame too), read
        in blocks of whole frames. A streamed file is decoded a second time for it."""
        unit = self.samples_per_output_frame
        total, read = _reader(audio)
        block = unit * max(1, round(ENERGY_BLOCK_SECONDS * self.config.features.sample_rate / unit))
        parts = [
            frame_energies(read(start, min(start + block, total)), unit, partial=True)
            for start in range(0, total, block)
        ]
        return np.concatenate(parts) if parts else np.zeros(0)


def _reader(
    audio: np.ndarray | AudioStream,
) -> tuple[int, Callable[[int, int], np.ndarray]]:
    """(samples in all, read(start, stop)) of a sample array or an AudioStream."""
    if isinstance(audio, np.ndarray):
        return len(audio), lambda a, b: audio[a:b]
    return audio.num_samples, audio.read


def _batches(order: np.ndarray, frames: Sequence[int]) -> Iterable[list[int]]:
    """Split length-sorted indices into batches bounded in count and padded frames."""
    batch: list[int] = []
    for i in order:
        longest = max([frames[j] for j in batch] + [frames[i]])
        if batch and (
            len(batch) >= MAX_BATCH_SIZE or longest * (len(batch) + 1) > MAX_BATCH_FRAMES
        ):
            yield batch
            batch = []
        batch.append(int(i))
    if batch:
        yield batch
