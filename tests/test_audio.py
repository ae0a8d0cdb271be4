"""Tests for asr.audio: every WAV flavour loads, every bad input is a one-line AudioError."""

from __future__ import annotations

import io
import math
import shutil
import struct
import subprocess
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.io import wavfile

from asr.audio import (
    DEFAULT_SAMPLE_RATE,
    audio_duration,
    find_audio_files,
    is_audio_file,
    load_audio,
    read_wav,
    resample,
)
from asr.errors import AudioError

# Any warning (e.g. scipy's WavFileWarning) leaking out of asr.audio fails the test.
pytestmark = pytest.mark.filterwarnings("error")

PCM, FLOAT, EXTENSIBLE = 0x0001, 0x0003, 0xFFFE  # WAVE format tags
GUID_TAIL = b"\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"  # KSDATAFORMAT_SUBTYPE_*


def build_wav(
    payload: bytes,
    *,
    tag: int = PCM,
    channels: int = 1,
    rate: int = 16000,
    bits: int = 16,
    subformat: int | None = None,
    data_size: int | None = None,
    byte_rate: int | None = None,
    before_data: bytes = b"",
    after_data: bytes = b"",
    big_endian: bool = False,
) -> bytes:
    """A WAV byte string with full control over the header (scipy.io.wavfile.write has little)."""
    e = ">" if big_endian else "<"
    block_align = channels * ((bits + 7) // 8)
    byte_rate = rate * block_align if byte_rate is None else byte_rate
    if subformat is not None:
        tag = EXTENSIBLE
    fmt = struct.pack(e + "HHIIHH", tag, channels, rate, byte_rate, block_align, bits)
    if subformat is not None:
        fmt += struct.pack(e + "HHI", 22, bits, 0) + struct.pack("<I", subformat) + GUID_TAIL
    size = len(payload) if data_size is None else data_size
    body = (
        b"WAVE"
        + b"fmt "
        + struct.pack(e + "I", len(fmt))
        + fmt
        + before_data
        + b"data"
        + struct.pack(e + "I", size)
        + payload
        + after_data
    )
    return (b"RIFX" if big_endian else b"RIFF") + struct.pack(e + "I", len(body)) + body


def chunk(chunk_id: bytes, body: bytes) -> bytes:
    """A RIFF chunk, padded to an even size as the spec says."""
    return chunk_id + struct.pack("<I", len(body)) + body + b"\x00" * (len(body) % 2)


def scipy_wav(data: np.ndarray, rate: int = 16000) -> bytes:
    """WAV bytes as scipy.io.wavfile.write makes them."""
    buf = io.BytesIO()
    wavfile.write(buf, rate, data)
    return buf.getvalue()


def pcm24(values: np.ndarray) -> bytes:
    """Packed little-endian 24-bit samples (scipy cannot write them)."""
    return values.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()


I16 = np.array([-32768, -1000, 0, 1000, 32767], dtype=np.int16)
I24 = np.array([-(2**23), -1000, 0, 1000, 2**23 - 1], dtype=np.int32)
I32 = np.array([-(2**31), -1000, 0, 1000, 2**31 - 1], dtype=np.int32)
U8 = np.array([0, 64, 128, 192, 255], dtype=np.uint8)
F = np.array([-1.0, -0.5, 0.0, 0.25, 1.0])

# id -> (WAV bytes, expected float samples)
ROUND_TRIPS: dict[str, tuple[bytes, np.ndarray]] = {
    "pcm8-unsigned": (scipy_wav(U8), (U8 - 128.0) / 128),
    "pcm16": (scipy_wav(I16), I16 / 2**15),
    "pcm24": (build_wav(pcm24(I24), bits=24), I24 / 2**23),
    "pcm32": (scipy_wav(I32), I32 / 2**31),
    "float32": (scipy_wav(F.astype(np.float32)), F),
    "float64": (scipy_wav(F), F),
    "pcm16-extensible": (build_wav(I16.tobytes(), subformat=PCM), I16 / 2**15),
    "pcm24-extensible": (build_wav(pcm24(I24), bits=24, subformat=PCM), I24 / 2**23),
    "float32-extensible": (
        build_wav(F.astype("<f4").tobytes(), bits=32, subformat=FLOAT),
        F,
    ),
    "float64-extensible": (build_wav(F.astype("<f8").tobytes(), bits=64, subformat=FLOAT), F),
    "float32-tag3-no-fact": (build_wav(F.astype("<f4").tobytes(), bits=32, tag=FLOAT), F),
    "pcm16-big-endian-rifx": (build_wav(I16.astype(">i2").tobytes(), big_endian=True), I16 / 2**15),
}


@pytest.mark.parametrize("case", ROUND_TRIPS, ids=str)
def test_round_trip(tmp_path: Path, case: str) -> None:
    raw, expected = ROUND_TRIPS[case]
    path = tmp_path / f"{case}.wav"
    path.write_bytes(raw)
    samples, rate = read_wav(path)
    assert rate == 16000
    assert samples.dtype == np.float32 and samples.ndim == 1
    np.testing.assert_allclose(samples, expected, atol=1e-6)
    assert samples.min() >= -1.0 and samples.max() <= 1.0
    np.testing.assert_array_equal(load_audio(path), samples)  # already at 16 kHz
    assert audio_duration(path) == pytest.approx(len(expected) / 16000)


# id -> (frames x channels, expected mono samples)
MIXDOWNS: dict[str, tuple[np.ndarray, np.ndarray]] = {
    "int16-stereo": (
        np.array([[1000, 3000], [-2000, 0], [32767, 32767]], np.int16),
        np.array([2000, -1000, 32767]) / 2**15,
    ),
    "uint8-stereo": (np.array([[0, 255], [128, 128]], np.uint8), np.array([-0.5, 0.0]) / 128),
    "float32-3ch": (
        np.array([[0.5, -0.5, 0.3], [0.9, 0.0, 0.0]], np.float32),
        np.array([0.1, 0.3]),
    ),
}


@pytest.mark.parametrize("case", MIXDOWNS, ids=str)
def test_multichannel_mixes_down_by_mean(case: str) -> None:
    data, expected = MIXDOWNS[case]
    samples, _ = read_wav(scipy_wav(data))
    assert samples.shape == (len(data),) and samples.dtype == np.float32
    np.testing.assert_allclose(samples, expected, atol=1e-6)


def test_float_beyond_full_scale_is_scaled_by_peak_not_clipped() -> None:
    samples, _ = read_wav(scipy_wav(np.array([2.0, -4.0, 1.0], np.float32)))
    np.testing.assert_allclose(samples, [0.5, -1.0, 0.25])


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_resampling_to_16k_keeps_length_ratio_and_pitch(rate: int) -> None:
    tone = 1000.0  # Hz, below every rate's Nyquist
    t = np.arange(rate // 2) / rate  # 0.5 s
    raw = scipy_wav((0.5 * np.sin(2 * np.pi * tone * t)).astype(np.float32), rate)
    out = load_audio(raw)
    assert out.dtype == np.float32
    assert len(out) == math.ceil(len(t) * 16000 / rate)
    spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out))))
    peak_hz = np.argmax(spectrum) * 16000 / len(out)
    assert abs(peak_hz - tone) <= 16000 / len(out)
    core = out[len(out) // 10 : -len(out) // 10]  # skip filter edges
    assert np.sqrt(np.mean(core**2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)


def test_resample_function() -> None:
    x = np.random.default_rng(0).uniform(-1, 1, 4410).astype(np.float32)
    np.testing.assert_array_equal(resample(x, 16000, 16000), x)
    y = resample(x, 44100, 16000)
    assert y.dtype == np.float32 and len(y) == 1600
    assert len(resample(x[:1], 8000, 16000)) == 2
    with pytest.raises(AudioError, match="invalid sample rate"):
        resample(x, 0, 16000)
    with pytest.raises(AudioError, match="invalid sample rate"):
        load_audio(scipy_wav(I16), sample_rate=-8000)


def test_one_sample_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "one.wav"
    path.write_bytes(scipy_wav(np.array([16384], np.int16), 8000))
    np.testing.assert_allclose(read_wav(path)[0], [0.5])
    assert len(load_audio(path)) == 2  # 1 sample at 8 kHz is 2 at 16 kHz
    assert audio_duration(path) == 1 / 8000


def test_bytes_and_streams_equal_path(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    path.write_bytes(scipy_wav((np.sin(np.arange(3000) / 7) * 9000).astype(np.int16), 8000))
    want = load_audio(path)
    assert len(want) == 6000
    np.testing.assert_array_equal(load_audio(str(path)), want)
    np.testing.assert_array_equal(load_audio(path.read_bytes()), want)
    np.testing.assert_array_equal(load_audio(bytearray(path.read_bytes())), want)
    np.testing.assert_array_equal(load_audio(io.BytesIO(path.read_bytes())), want)
    with path.open("rb") as f:
        np.testing.assert_array_equal(load_audio(f), want)
    assert audio_duration(path.read_bytes()) == audio_duration(path) == 3000 / 8000


@pytest.mark.parametrize(
    ("source", "name"),
    [(b"junk", "<bytes>"), (io.BytesIO(b"junk"), "<stdin>")],
    ids=["bytes", "nameless-stream"],
)
def test_errors_without_a_path_use_placeholder_names(source: object, name: str) -> None:
    with pytest.raises(AudioError, match=f"^{name}: not a WAV file"):
        load_audio(source)  # type: ignore[arg-type]


def test_open_file_errors_use_its_path(tmp_path: Path) -> None:
    path = tmp_path / "song.wav"
    path.write_bytes(b"ID3\x03" + bytes(100))
    with path.open("rb") as f, pytest.raises(AudioError, match=f"^{path}: not a WAV"):
        load_audio(f)


def test_text_mode_stream_is_a_type_error(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    path.write_bytes(scipy_wav(I16))
    with path.open(encoding="latin-1") as f, pytest.raises(TypeError, match="'rb'"):
        load_audio(f)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [0x7FFFF000, 0xFFFFFFFF], ids=["sox-espeak", "ffmpeg"])
def test_streamed_wav_with_placeholder_size_reads_to_eof(size: int) -> None:
    raw = build_wav(I16.tobytes() + b"\x01", data_size=size)  # plus half a frame
    np.testing.assert_allclose(read_wav(raw)[0], I16 / 2**15)
    assert audio_duration(raw) == len(I16) / 16000


def test_extra_chunks_wrong_byte_rate_and_trailing_junk_are_tolerated() -> None:
    extras = chunk(b"PEAK", bytes(24)) + chunk(b"bext", b"x" * 7) + chunk(b"LIST", b"INFO")
    raw = build_wav(
        I16.tobytes(),
        byte_rate=12345,  # scipy alone rejects this; nothing reads it
        before_data=chunk(b"fact", bytes(4)) + extras,
        after_data=chunk(b"LIST", b"INFOISFT") + b"\x00\x01\x02",
    )
    np.testing.assert_allclose(read_wav(raw)[0], I16 / 2**15)


def test_absurd_declared_size_fails_fast_without_allocating() -> None:
    raw = build_wav(I16.tobytes(), data_size=0x40000000)  # 1 GiB declared, 10 bytes present
    tracemalloc.start()
    try:
        with pytest.raises(AudioError, match="truncated WAV"):
            load_audio(raw)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


def _write(name: str, data: bytes) -> Callable[[Path], Path]:
    """A maker writing `data` to tmp_path/name."""

    def make(tmp: Path) -> Path:
        (tmp / name).write_bytes(data)
        return tmp / name

    return make


def _mkdir(tmp: Path) -> Path:
    (tmp / "dir.wav").mkdir()
    return tmp / "dir.wav"


GOOD = scipy_wav(I16)
NAN = scipy_wav(np.array([0.1, np.nan, 0.2], np.float32))
INF = scipy_wav(np.array([0.1, -np.inf], np.float64))
ZERO_CH = build_wav(I16.tobytes())[:22] + b"\x00\x00" + build_wav(I16.tobytes())[24:]
# id -> (maker, expected message part, also raised by audio_duration)
BAD_CASES: dict[str, tuple[Callable[[Path], Path], str, bool]] = {
    "missing": (lambda tmp: tmp / "nope.wav", "no such file", True),
    "directory": (_mkdir, "is a directory", True),
    "empty": (_write("empty.wav", b""), "empty file (0 bytes)", True),
    "header-only": (_write("hdr.wav", scipy_wav(np.zeros(0, np.int16))), "no audio samples", True),
    "no-data-chunk": (_write("nodata.wav", GOOD[:36]), "no 'data' chunk", True),
    "half-a-frame": (_write("half.wav", build_wav(b"\x01")), "no audio samples", True),
    "truncated-data": (_write("cut.wav", GOOD[:-3]), "truncated WAV", True),
    "truncated-header": (_write("cut2.wav", GOOD[:30]), "truncated WAV", True),
    "truncated-riff": (_write("cut3.wav", GOOD[:6]), "truncated WAV", True),
    "absurd-size": (
        _write("big.wav", build_wav(b"\x00" * 64, data_size=0x20000000)),
        "truncated WAV",
        True,
    ),
    "random-bytes": (
        _write("rand.wav", np.random.default_rng(1).bytes(300)),
        "not a WAV file",
        True,
    ),
    "text": (_write("notes.wav", b"hello, this is text\n"), "starts with b'hell'", True),
    "mp3": (_write("clip.wav", b"ID3\x03" + bytes(200)), "looks like MP3", True),
    "flac": (_write("f.wav", b"fLaC" + bytes(200)), "looks like FLAC", True),
    "riff-avi": (_write("avi.wav", b"RIFF\x10\0\0\0AVI LIST" + bytes(8)), "RIFF b'AVI '", True),
    "alaw": (_write("alaw.wav", build_wav(bytes(10), tag=6, bits=8)), "A-law", True),
    "mulaw": (_write("ulaw.wav", build_wav(bytes(10), tag=7, bits=8)), "mu-law", True),
    "adpcm": (_write("adpcm.wav", build_wav(bytes(10), tag=2, bits=4)), "ADPCM", True),
    "mulaw-extensible": (
        _write("ext.wav", build_wav(bytes(10), bits=8, subformat=7)),
        "mu-law",
        True,
    ),
    "float16": (_write("f16.wav", build_wav(bytes(10), tag=FLOAT, bits=16)), "16-bit float", True),
    "zero-channels": (_write("zch.wav", ZERO_CH), "0 channels", True),
    "rate-zero": (_write("r0.wav", build_wav(I16.tobytes(), rate=0)), "sample rate 0 Hz", True),
    "data-before-fmt": (
        _write("order.wav", b"RIFF\x20\0\0\0WAVE" + chunk(b"data", bytes(8))),
        "no 'fmt ' chunk",
        True,
    ),
    "nan": (_write("nan.wav", NAN), "NaN or infinite", False),
    "inf": (_write("inf.wav", INF), "NaN or infinite", False),
}


@pytest.mark.parametrize("case", BAD_CASES, ids=str)
def test_bad_input_is_one_line_audio_error(tmp_path: Path, case: str) -> None:
    make, part, header_level = BAD_CASES[case]
    path = make(tmp_path)
    with pytest.raises(AudioError) as info:
        load_audio(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert part in message
    assert "; " in message  # the fix
    if header_level:
        with pytest.raises(AudioError) as info2:
            audio_duration(path)
        assert str(info2.value) == message


def test_file_name_with_newline_still_gives_one_line(tmp_path: Path) -> None:
    path = tmp_path / "a\nb.wav"
    path.write_bytes(b"nope")
    with pytest.raises(AudioError) as info:
        load_audio(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.wav", True),
        ("A.WAV", True),
        ("dir/x.Wav", True),
        ("a.mp3", False),
        ("wav", False),
        ("a.wav.txt", False),
        (Path("a/b.wav"), True),
    ],
)
def test_is_audio_file(name: str | Path, expected: bool) -> None:
    assert is_audio_file(name) is expected


def test_find_audio_files(tmp_path: Path) -> None:
    for rel in ["b.wav", "a.WAV", "sub/c.wav", "sub/deep/d.wav", "sub/notes.txt", ".hid/e.wav"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(GOOD)
    (tmp_path / "sub" / "folder.wav").mkdir()  # a directory named like audio is not a file
    single = tmp_path / "sub" / "notes.txt"
    found = find_audio_files([single, str(tmp_path)])
    assert found == [single] + sorted(
        tmp_path / r for r in ["a.WAV", "b.wav", "sub/c.wav", "sub/deep/d.wav"]
    )
    assert find_audio_files(str(tmp_path / "sub")) == [
        tmp_path / "sub/c.wav",
        tmp_path / "sub/deep/d.wav",
    ]
    assert find_audio_files([]) == []
    missing = tmp_path / "gone"
    with pytest.raises(AudioError, match=f"^{missing}: no such file or directory; "):
        find_audio_files([tmp_path / "b.wav", missing])


# Small valid WAVs of every flavour for the fuzzer to damage.
FUZZ_BASES = [
    scipy_wav((np.arange(40) * 500 - 10000).astype(np.int16), 8000),
    scipy_wav(np.arange(60, dtype=np.uint8).reshape(30, 2), 16000),
    scipy_wav(np.linspace(-1, 1, 25, dtype=np.float32), 44100),
    build_wav(pcm24(I24), bits=24, subformat=PCM, rate=48000),
    build_wav(F.astype("<f8").tobytes(), bits=64, subformat=FLOAT),
    build_wav(I16.tobytes(), data_size=0xFFFFFFFF, before_data=chunk(b"LIST", b"abc")),
]


@st.composite
def damaged_wavs(draw: st.DrawFn) -> bytes:
    """A valid WAV with a few bytes after 'WAVE' overwritten (often in the header), maybe cut."""
    raw = bytearray(draw(st.sampled_from(FUZZ_BASES)))
    for _ in range(draw(st.integers(1, 4))):
        limit = draw(st.sampled_from([60, len(raw)]))
        raw[draw(st.integers(12, min(limit, len(raw)) - 1))] = draw(st.integers(0, 255))
    if draw(st.integers(0, 3)) == 0:
        raw = raw[: draw(st.integers(0, len(raw)))]
    return bytes(raw)


FUZZ_INPUTS = st.one_of(
    st.binary(max_size=300),
    st.binary(max_size=200).map(lambda b: b"RIFF" + b[:4] + b"WAVE" + b[4:]),
    damaged_wavs(),
    damaged_wavs(),  # twice: damaged WAVs reach deeper than random bytes
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(FUZZ_INPUTS)
def test_fuzz_returns_finite_float32_or_audio_error(raw: bytes) -> None:
    try:
        out = load_audio(raw)
    except AudioError as exc:
        assert str(exc).startswith("<bytes>: ") and "\n" not in str(exc)
    else:
        assert out.dtype == np.float32 and out.ndim == 1 and out.size >= 1
        assert np.isfinite(out).all() and np.abs(out).max() <= 1.0
    try:
        assert audio_duration(raw) > 0
    except AudioError:
        pass


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_real_espeak_ng_wav(tmp_path: Path) -> None:
    path = tmp_path / "hello.wav"
    subprocess.run(["espeak-ng", "-w", str(path), "hello"], check=True, capture_output=True)
    samples = load_audio(path)
    assert samples.dtype == np.float32 and np.isfinite(samples).all()
    assert 0.2 < len(samples) / DEFAULT_SAMPLE_RATE < 3.0
    assert audio_duration(path) == pytest.approx(len(samples) / DEFAULT_SAMPLE_RATE, abs=1e-3)
    assert np.sqrt(np.mean(samples**2)) > 0.01  # speech, not silence
    # The same speech piped through stdout has placeholder sizes in its header.
    piped = subprocess.run(["espeak-ng", "--stdout", "hello"], check=True, capture_output=True)
    np.testing.assert_array_equal(load_audio(piped.stdout), samples)
