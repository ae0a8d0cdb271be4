"""The model directory's config.json: task, features, alphabet or labels, normalization and
architecture.

Transcribe and evaluate rebuild the featurizer and tokenizer from this file, never from
command-line defaults, so a checkpoint always travels with how it was made.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asr.architectures import CLASSIFY, CTC, ENCODER, TASKS, get_architecture
from asr.errors import ConfigError
from asr.features import FeatureConfig
from asr.fieldtypes import check_field_types
from asr.fileio import atomic_write_text
from asr.text import DEFAULT_ALPHABET

CONFIG_NAME = "config.json"
MODEL_NAME = "model.keras"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ModelConfig:
    """Acoustic model shape: optional strided conv front end, then a bidirectional RNN stack."""

    arch: str = "bigru"  # a name in asr.architectures.ARCHITECTURES
    rnn_units: int = 160  # per direction
    rnn_layers: int = 3
    conv_filters: int = 160  # 0 disables the conv front end
    conv_kernel: int = 11  # odd, so padding is symmetric and lengths follow ceil(T / stride)
    conv_stride: int = 2  # the model's time reduction
    dropout: float = 0.1

    def __post_init__(self) -> None:
        check_field_types(self)
        get_architecture(self.arch)  # ValueError naming the registered choices
        if self.rnn_units < 1 or self.rnn_layers < 1:
            raise ValueError("rnn_units and rnn_layers must be >= 1")
        if self.conv_filters < 0:
            raise ValueError(
                f"conv_filters must be >= 0 (0: no conv front end), got {self.conv_filters}"
            )
        if self.conv_filters > 0 and (self.conv_kernel < 1 or self.conv_kernel % 2 == 0):
            raise ValueError(f"conv_kernel must be odd and >= 1, got {self.conv_kernel}")
        if self.conv_stride < 1:
            raise ValueError(f"conv_stride must be >= 1, got {self.conv_stride}")
        if self.conv_filters == 0 and self.conv_stride != 1:
            raise ValueError("conv_stride > 1 needs the conv front end (conv_filters > 0)")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def time_reduction(self) -> int:
        """Feature frames per model output frame (the architecture's to say)."""
        return get_architecture(self.arch).time_reduction(self)

    def output_length(self, frames: int) -> int:
        """Model output frames for ``frames`` input frames."""
        return math.ceil(frames / self.time_reduction)


@dataclass(frozen=True)
class ClassifierModelConfig:
    """A classifier's shape (task "classify"): which family, how many frames, how wide.

    ``frames`` > 0 pads or crops every clip to that many frames (dense, cnn and matchbox need it);
    0 feeds each clip at its own length, masked (recurrent families only).
    """

    arch: str = "cnn"  # a classify name in asr.architectures.ARCHITECTURES
    frames: int = 99  # 99 frames = 1 s at a 10 ms hop
    per_frame: bool = False  # a label per frame (detection) instead of one per clip
    units: int = 64  # hidden units of the dense layer, the LSTM and the auxiliary branch
    filters: int = 64  # conv filters (cnn: every block; crnn: its per-frame conv)
    conv_layers: int = 3  # cnn conv blocks
    kernel: int = 5  # Conv1D width: along time (cnn), along each frame's features (crnn)
    dropout: float = 0.25
    aux: bool = False  # crnn: a second branch on the deltas + zero-crossing rate
    bidirectional: bool = False  # lstm/crnn: also read each clip backwards (offline only)
    # encoder: the shape of the trained speech model whose conv + RNN layers it reads through
    encoder: ModelConfig | None = None
    # encoder: a cnn on the clip's own features beside it (asr.transfer)
    cnn_branch: bool = False
    # encoder: how many of its top RNN layers train too (fine-tuned); the rest stay frozen.
    # One more than its RNN layers: the conv front end too, the whole encoder
    encoder_tune: int = 0

    def __post_init__(self) -> None:
        check_field_types(self)
        arch = get_architecture(self.arch, CLASSIFY)  # ValueError naming the choices
        if (self.arch == ENCODER) != (self.encoder is not None):
            raise ValueError(
                f"the {ENCODER} architecture, and only it, reads through a speech model's "
                "layers: pass --encoder DIR (a model made by asr train) with it"
            )
        if self.cnn_branch and self.arch != ENCODER:
            raise ValueError(f"cnn_branch goes beside a speech encoder (--arch {ENCODER})")
        groups = len(encoder_tune_groups(self.encoder)) if self.encoder else 0
        if self.encoder_tune and not 0 <= self.encoder_tune <= groups:
            raise ValueError(
                f"encoder_tune {self.encoder_tune}: it fine-tunes the top RNN layers of a "
                f"speech encoder (--arch {ENCODER}), then its conv front end: 0 to {groups} here"
            )
        if self.arch == ENCODER and self.bidirectional:
            raise ValueError(f"{ENCODER} reads through the speech model's own (bidirectional) RNNs")
        if self.arch == ENCODER and self.per_frame:
            raise ValueError(f"{ENCODER} gives one label per clip; per-frame output is lstm/crnn's")
        if self.frames < 0 or (self.frames == 0 and not arch.recurrent):
            raise ValueError(
                f"{self.arch} needs a fixed frame count (frames > 0, e.g. 99); "
                "only recurrent architectures take frames = 0 (variable length)"
            )
        if self.per_frame and not arch.recurrent:
            raise ValueError(f"per-frame output needs a recurrent architecture, not {self.arch}")
        if self.bidirectional and not arch.recurrent:
            raise ValueError(f"bidirectional needs a recurrent architecture, not {self.arch}")
        if self.aux and not (self.arch == "crnn" and self.per_frame):
            raise ValueError("the auxiliary deltas/zero-crossing branch is crnn --per-frame's")
        if min(self.units, self.filters, self.conv_layers, self.kernel) < 1:
            raise ValueError("units, filters, conv_layers and kernel must be >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def recurrent(self) -> bool:
        """Whether the model takes ``input_length`` and masks padding."""
        return get_architecture(self.arch, CLASSIFY).recurrent

    @property
    def time_reduction(self) -> int:
        """Classifiers keep every frame."""
        return 1

    def output_length(self, frames: int) -> int:
        """Output frames of a per-frame model for ``frames`` input frames."""
        return frames


@dataclass(frozen=True)
class Config:
    """Everything needed to turn audio into text (or labels) with the weights in model.keras."""

    task: str = CTC  # which registry of architectures and which pipeline the model belongs to
    features: FeatureConfig = field(default_factory=FeatureConfig)
    model: ModelConfig | ClassifierModelConfig = field(default_factory=ModelConfig)
    alphabet: str = DEFAULT_ALPHABET
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    version: int = FORMAT_VERSION
    labels: tuple[str, ...] = ()  # a classifier's classes, in output order

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; this asr knows {list(TASKS)}")
        want = ClassifierModelConfig if self.task == CLASSIFY else ModelConfig
        if not isinstance(self.model, want):
            raise ValueError(f"a {self.task} config needs a {want.__name__} model")
        get_architecture(self.model.arch, self.task)
        if self.task == CTC and (not self.alphabet or len(set(self.alphabet)) < len(self.alphabet)):
            raise ValueError(f"the alphabet must be distinct characters, got {self.alphabet!r}")
        if self.task == CLASSIFY:
            if len(self.labels) < 2 or len(set(self.labels)) != len(self.labels):
                raise ValueError(f"a classifier needs two or more distinct labels: {self.labels}")
            if isinstance(self.model, ClassifierModelConfig) and self.model.aux:
                if not (self.features.zcr and self.features.deltas):
                    raise ValueError("the auxiliary branch needs features with zcr and deltas")
        if len(self.mean) != len(self.std):
            raise ValueError(f"mean has {len(self.mean)} dims but std has {len(self.std)}")
        if self.mean and len(self.mean) != self.features.dim:
            raise ValueError(
                f"normalization has {len(self.mean)} dims but features have {self.features.dim}"
            )

    @property
    def num_classes(self) -> int:
        """Model output units: a classifier's labels, or the alphabet plus the CTC blank."""
        if self.task == CLASSIFY:
            return len(self.labels)
        return len(self.alphabet) + 1

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (a CTC config has no labels to list; features without the
        pitch leave the key out, so releases from before that option read the file)."""
        data = dataclasses.asdict(self)
        if self.task != CLASSIFY:
            del data["labels"]
        if not self.features.pitch:
            del data["features"]["pitch"]
        if self.task == CLASSIFY and data["model"]["encoder"] is None:
            del data["model"]["encoder"]
            del data["model"]["cnn_branch"]
        if self.task == CLASSIFY and not data["model"]["encoder_tune"]:
            del data["model"]["encoder_tune"]  # as before the option, when it is off
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        """Build and validate from a dict; unknown keys are an error, missing ones default."""
        data = dict(data)
        features = FeatureConfig(**data.pop("features", {}))
        model_data = dict(data.pop("model", {}))
        if data.get("task") == CLASSIFY:
            if model_data.get("encoder") is not None:
                model_data["encoder"] = ModelConfig(**model_data["encoder"])
            model: ModelConfig | ClassifierModelConfig = ClassifierModelConfig(**model_data)
        else:
            model = ModelConfig(**model_data)
        for key in ("mean", "std", "labels"):  # a string would pass as a list of characters
            if not isinstance(data.get(key, []), list | tuple):
                raise ValueError(f"{key} must be a list, got {data[key]!r}")
        mean = tuple(float(x) for x in data.pop("mean", ()))
        std = tuple(float(x) for x in data.pop("std", ()))
        labels = tuple(str(x) for x in data.pop("labels", ()))
        return cls(features=features, model=model, mean=mean, std=std, labels=labels, **data)


def encoder_tune_groups(m: ModelConfig) -> list[tuple[str, ...]]:
    """The speech encoder's weighted layers by name, bottom to top, grouped as
    ``--encoder-tune N`` unfreezes them from the top: each RNN layer, then the conv front end
    (the conv and its norm, one group)."""
    front = [("conv", "conv_norm")] if m.conv_filters > 0 else []
    return front + [(f"{m.arch}_{i}",) for i in range(m.rnn_layers)]


def shipped_model_dir(name: str) -> Path:
    """A shipped model directory: checkpoints/NAME in a checkout, or the copy a wheel installs.

    pyproject.toml maps checkpoints/NAME to the package data ``asr/checkpoints/NAME``, so an
    installed asr finds it beside this file, from any working directory.
    """
    here = Path(__file__).resolve().parent
    checkout = here.parent / "checkpoints" / name
    if (checkout / MODEL_NAME).is_file():
        return checkout
    return here / "checkpoints" / name


def save_config(config: Config, model_dir: Path) -> Path:
    """Write DIR/config.json atomically."""
    path = Path(model_dir) / CONFIG_NAME
    atomic_write_text(path, json.dumps(config.to_dict(), indent=2) + "\n")
    return path


# What to do with a model of one task where another task's model was needed.
_OTHER_TASK_HINT = {
    CTC: "use it with asr transcribe, evaluate or stream",
    CLASSIFY: "use it with asr classify predict, evaluate or detect",
}


def load_config(model_dir: Path, task: str | None = None) -> Config:
    """Read DIR/config.json; any problem is a ConfigError naming the file and the fix.
    ``task``: the task the caller runs; a model of another task is refused here, before a
    network built for one task is fed the other's inputs."""
    path = Path(model_dir) / CONFIG_NAME
    if Path(model_dir).exists() and not Path(model_dir).is_dir():
        raise ConfigError(
            f"{model_dir}: a file, not a model directory; pass the folder that holds "
            "config.json and model.keras"
        )
    if not path.is_file():
        raise ConfigError(
            f"{path}: not found; a model directory needs config.json beside model.keras "
            "(train one with `asr train --out DIR`)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: cannot be read as JSON ({e}); restore it from training") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object, got {type(data).__name__}")
    try:
        config = Config.from_dict(data)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{path}: invalid config ({e})") from e
    if task is not None and config.task != task:
        raise ConfigError(
            f"{model_dir}: a {config.task} model, where a {task} model is needed; "
            + _OTHER_TASK_HINT.get(config.task, "")
        )
    return config


def parse_config_overrides(path: Path) -> dict[str, Any]:
    """Read a user's --config JSON of partial settings: {"model": {...}, "features": {...}}."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: cannot be read as JSON ({e})") from e
    if not isinstance(data, dict) or not set(data) <= {"model", "features", "alphabet", "task"}:
        raise ConfigError(
            f"{path}: expected an object with keys among 'model', 'features', 'alphabet'"
        )
    return data
