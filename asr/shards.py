"""Feature shards on disk, so a corpus larger than memory trains in flat memory.

``asr pack MANIFEST --out DIR`` extracts each utterance's base features once (float16, as
the .npz packs do; deltas and CMN are applied on read) into ``DIR/shard-<hash>.npy`` files of
a few thousand utterances each, beside ``DIR/index.npz`` (per utterance: shard, row offset,
frame count, transcript, label, audio path, manifest line, duration) and ``DIR/pack.json``
(feature settings, shard list, lines left out). Training reads one utterance at a time with
positioned reads (``os.pread``), not a memory map: every page of a map that an epoch touches
counts towards the process's resident memory, so a mapped corpus ends up resident anyway.

A shard's file name is a hash of its utterances (audio path, size, modification time,
transcript, label) and of the base feature settings, so packing the same manifest again
re-extracts only the shards whose audio, text or settings changed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from asr.errors import AsrError, ManifestError
from asr.features import FeatureConfig, complete_features
from asr.fileio import atomic_path
from asr.manifest import Utterance

INDEX_NAME = "index.npz"
META_NAME = "pack.json"
SHARD_UTTERANCES = 2000  # ~2-4 h of speech: big enough for sequential reads, small to redo
FORMAT_VERSION = 1
_DERIVED_ON_READ = ("deltas", "cmn")
_STRING_COLUMNS = ("text", "label", "path", "source")


# .npy header readers by format version (np.save writes 1.0, or 2.0 for huge headers)
_NPY_HEADERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def _encode(strings: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Strings as one UTF-8 byte array and end offsets: numpy's fixed-width str arrays pad
    every entry to the longest (a 1,000-character transcript would make each row 4 KB)."""
    encoded = [s.encode() for s in strings]
    ends = np.cumsum([len(e) for e in encoded], dtype=np.int64)
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), ends


def _decode(data: np.ndarray, ends: np.ndarray) -> list[str]:
    blob = data.tobytes()
    starts = np.concatenate([[0], ends[:-1]])
    return [blob[a:b].decode() for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]


def is_pack_dir(path: Path) -> bool:
    """True for a directory written by :func:`write_pack`."""
    return path.is_dir() and (path / META_NAME).is_file()


def base_settings(config: FeatureConfig) -> dict:
    """The settings that shape stored base features (deltas and CMN come on read)."""
    settings = dataclasses.asdict(config)
    if not config.pitch:  # packs made before the pitch option keep their names
        del settings["pitch"]
    return {k: v for k, v in settings.items() if k not in _DERIVED_ON_READ}


def _fingerprint(utt: Utterance) -> str:
    """What must not change for an utterance's stored features and labels to stay valid."""
    try:
        st = os.stat(utt.audio_filepath)
        stamp = f"{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        stamp = "missing"  # extraction will report it (or skip it) with the manifest line
    return f"{utt.audio_filepath}\t{stamp}\t{utt.text}\t{utt.label}"


def _shard_name(utterances: Sequence[Utterance], config: FeatureConfig) -> str:
    digest = hashlib.sha256(json.dumps(base_settings(config), sort_keys=True).encode())
    for utt in utterances:
        digest.update(_fingerprint(utt).encode() + b"\n")
    return f"shard-{digest.hexdigest()[:20]}.npy"


@dataclasses.dataclass
class PackReport:
    """What one `asr pack` run did."""

    utterances: int
    hours: float
    shards: int
    reused: int  # shards whose audio and settings were unchanged: not extracted again
    skipped: list[str]
    bytes: int


def write_pack(
    utterances: Sequence[Utterance],
    config: FeatureConfig,
    out: Path,
    jobs: int | None = None,
    skip_invalid: bool = False,
    shard_utterances: int = SHARD_UTTERANCES,
    progress: Callable[[str], None] | None = None,
) -> PackReport:
    """Extract ``utterances`` into shards under ``out``, reusing unchanged shards.

    One shard is in memory at a time. A bad audio file raises naming its manifest line, or
    with ``skip_invalid`` is left out and listed in pack.json.
    """
    from asr.data import extract_features  # the TensorFlow-free part of training data

    if out.exists() and not out.is_dir():
        raise AsrError(f"{out}: exists and is not a pack directory; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not is_pack_dir(out):
        raise AsrError(f"{out}: a non-empty directory that is not a pack; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    columns: dict[str, list] = {
        k: [] for k in ("shard", "offset", "frames", "text", "label", "path", "source", "dur")
    }
    shards: list[str] = []
    skipped: list[str] = []
    reused = 0
    for start in range(0, len(utterances), shard_utterances):
        part = utterances[start : start + shard_utterances]
        name = _shard_name(part, config)
        meta_path = out / (name + ".json")
        if (out / name).is_file() and meta_path.is_file():
            meta = json.loads(meta_path.read_text())
            reused += 1
        else:
            data = extract_features(
                part, config, jobs=jobs, desc=f"shard {len(shards) + 1}", skip_invalid=skip_invalid
            )
            base = [f[:, : config.base_dim] for f in data.features]
            meta = {
                "frames": [int(b.shape[0]) for b in base],
                "text": data.texts,
                "label": data.labels or [""] * len(base),
                "path": data.paths,
                "source": data.sources or [""] * len(base),
                "dur": data.durations,
                "skipped": data.skipped,
            }
            with atomic_path(out / name, suffix=".npy") as tmp:
                np.save(tmp, np.concatenate(base).astype(np.float16))
            with atomic_path(meta_path, suffix=".json") as tmp:
                Path(tmp).write_text(json.dumps(meta))
        offsets = np.concatenate([[0], np.cumsum(meta["frames"])[:-1]]).astype(np.int64)
        columns["shard"] += [len(shards)] * len(meta["frames"])
        columns["offset"] += offsets.tolist()
        for key in ("frames", "text", "label", "path", "source", "dur"):
            columns[key] += meta[key]
        skipped += meta["skipped"]
        shards.append(name)
        if progress is not None:
            progress(f"{len(shards)} shards, {len(columns['frames'])} utterances")
    if not columns["frames"]:
        raise AsrError(f"no readable audio in {len(utterances)} utterances; nothing packed")
    with atomic_path(out / INDEX_NAME, suffix=".npz") as tmp:
        np.savez(
            tmp,
            shard=np.array(columns["shard"], dtype=np.int32),
            offset=np.array(columns["offset"], dtype=np.int64),
            frames=np.array(columns["frames"], dtype=np.int64),
            dur=np.array(columns["dur"], dtype=np.float64),
            **{
                f"{k}_{part}": array
                for k in _STRING_COLUMNS
                for part, array in zip(("utf8", "ends"), _encode(columns[k]), strict=True)
            },
        )
    meta = {
        "version": FORMAT_VERSION,
        "features": base_settings(config),
        "base_dim": config.base_dim,
        "shards": shards,
        "skipped": skipped,
    }
    with atomic_path(out / META_NAME, suffix=".json") as tmp:
        Path(tmp).write_text(json.dumps(meta, indent=1))
    keep = set(shards) | {s + ".json" for s in shards} | {INDEX_NAME, META_NAME}
    for stale in out.glob("shard-*"):
        if stale.name not in keep:
            stale.unlink()
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    return PackReport(
        len(columns["frames"]),
        float(np.sum(columns["dur"])) / 3600.0,
        len(shards),
        reused,
        skipped,
        size,
    )


class ShardedFeatures(Sequence[np.ndarray]):
    """A pack's utterances as a read-on-demand sequence of completed (frames, dim) features."""

    def __init__(self, folder: Path, config: FeatureConfig, index: dict) -> None:
        meta = json.loads((folder / META_NAME).read_text())
        self.config = config
        self.lengths = index["frames"]
        self._shard = index["shard"]
        self._offset = index["offset"]
        self._dim = int(meta["base_dim"])
        self._files = [folder / name for name in meta["shards"]]
        self._data_start: dict[int, int] = {}
        self._fds: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.lengths)

    def _fd(self, shard: int) -> tuple[int, int]:
        """Open file descriptor of a shard and where its array data starts (after the header)."""
        if shard not in self._fds:
            path = self._files[shard]
            try:  # the header only; a shard cut short is caught per utterance by base()
                with open(path, "rb") as f:
                    version = np.lib.format.read_magic(f)
                    read_header = _NPY_HEADERS.get(version)
                    if read_header is None:
                        raise ValueError(f".npy format {version}")
                    shape, _, dtype = read_header(f)
                    start = f.tell()
            except (OSError, ValueError) as e:
                raise ManifestError(f"{path}: not a readable shard ({e}); pack again") from e
            if dtype != np.float16 or len(shape) != 2 or shape[1] != self._dim:
                raise ManifestError(f"{path}: not a float16 shard of {self._dim} dims; pack again")
            self._data_start[shard] = start
            self._fds[shard] = os.open(path, os.O_RDONLY)
        return self._fds[shard], self._data_start[shard]

    def base(self, i: int) -> np.ndarray:
        """Stored base features of utterance ``i`` as float32."""
        fd, start = self._fd(int(self._shard[i]))
        rows = int(self.lengths[i])
        nbytes = rows * self._dim * 2
        raw = os.pread(fd, nbytes, start + int(self._offset[i]) * self._dim * 2)
        if len(raw) != nbytes:
            raise ManifestError(f"{self._files[self._shard[i]]}: truncated shard; pack again")
        base = np.frombuffer(raw, dtype=np.float16).reshape(rows, self._dim).astype(np.float32)
        if not np.isfinite(base).all():
            shard = self._files[self._shard[i]]
            raise ManifestError(
                f"{shard}: utterance {i} holds NaN or infinite features; pack again"
            )
        return base

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        return complete_features(self.base(i), self.config)

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[i] for i in range(len(self)))

    def __del__(self) -> None:
        for fd in self._fds.values():
            try:
                os.close(fd)
            except OSError:
                pass

    def __getstate__(self) -> dict:
        # file descriptors do not cross process boundaries; each process reopens its own
        state = dict(self.__dict__)
        state["_fds"] = {}
        return state


class MappedFeatures(Sequence[np.ndarray]):
    """``fn`` applied on read to chosen items of a lazy sequence (normalization, selection)."""

    def __init__(
        self,
        base: Sequence[np.ndarray],
        indices: Sequence[int],
        fn: Callable[[np.ndarray], np.ndarray],
    ) -> None:
        self._base = base
        self._indices = np.asarray(indices, dtype=np.int64)
        self._fn = fn
        self.lengths = frame_lengths(base)[self._indices]

    def __len__(self) -> int:
        return len(self._indices)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return self._fn(self._base[int(self._indices[i])])


class ChainedFeatures(Sequence[np.ndarray]):
    """Several feature sequences (lists or lazy) read as one, in order."""

    def __init__(self, parts: Sequence[Sequence[np.ndarray]]) -> None:
        self._parts = list(parts)
        self._ends = np.cumsum([len(p) for p in self._parts])
        self.lengths = np.concatenate([frame_lengths(p) for p in self._parts])

    def __len__(self) -> int:
        return int(self._ends[-1]) if len(self._ends) else 0

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        part = int(np.searchsorted(self._ends, i, side="right"))
        before = int(self._ends[part - 1]) if part else 0
        return self._parts[part][i - before]


def frame_lengths(features: Sequence[np.ndarray]) -> np.ndarray:
    """Frame count per utterance without reading a lazy sequence's features."""
    lengths = getattr(features, "lengths", None)
    if lengths is not None:
        return np.asarray(lengths, dtype=np.int64)
    return np.array([f.shape[0] for f in features], dtype=np.int64)


def is_lazy(features: Sequence[np.ndarray]) -> bool:
    """True when features are read on demand (keep them that way: do not materialize)."""
    return not isinstance(features, list)


def read_index(folder: Path, config: FeatureConfig) -> dict:
    """A pack's index, after checking it was made with ``config``'s base settings."""
    try:
        meta = json.loads((folder / META_NAME).read_text())
        with np.load(folder / INDEX_NAME, allow_pickle=False) as stored:
            index: dict = {k: stored[k] for k in ("shard", "offset", "frames", "dur")}
            for k in _STRING_COLUMNS:
                index[k] = _decode(stored[f"{k}_utf8"], stored[f"{k}_ends"])
    except (OSError, ValueError, KeyError) as e:
        raise ManifestError(f"{folder}: not a readable pack ({e}); pack it again") from e
    if meta.get("version") != FORMAT_VERSION:
        raise ManifestError(f"{folder}: pack format {meta.get('version')}; pack it again")
    stored = {**base_settings(FeatureConfig()), **meta["features"]}
    if stored != base_settings(config):
        raise ManifestError(
            f"{folder}: packed with features {meta['features']}, but the model uses "
            f"{base_settings(config)}; pack it again with the model's --config"
        )
    missing = [s for s in meta["shards"] if not (folder / s).is_file()]
    if missing:
        raise ManifestError(f"{folder}: shard {missing[0]} is missing; pack it again")
    index["skipped"] = list(meta["skipped"])
    return index
