"""Alert tones: generated WAVs with the intended length, loudness and pitch,
distinct per priority, without clicks."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np
import pytest

from commandcenter.wall import tones
from commandcenter.wall.tones import PATTERNS, SAMPLE_RATE, TONE_NAMES, describe, tone_wav, write_tones

EXPECTED_DURATION_S = {"high": 0.90, "medium": 0.70, "low": 0.50, "escalation": 1.40}


def samples_of(data: bytes) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(data), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getcomptype()) == (1, 2, "NONE")
        rate = w.getframerate()
        raw = w.readframes(w.getnframes())
    return np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0, rate


def window(x: np.ndarray, rate: int, start_s: float, end_s: float) -> np.ndarray:
    return x[round(start_s * rate) : round(end_s * rate)]


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x * x))) if len(x) else 0.0


def dominant_hz(x: np.ndarray, rate: int) -> float:
    """Peak of a DFT zero-padded to one second, so bin k is k Hz."""
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), n=rate))
    return float(np.argmax(spectrum))


def zero_crossing_hz(x: np.ndarray, rate: int) -> float:
    crossings = np.count_nonzero(np.signbit(x[1:]) != np.signbit(x[:-1]))
    return crossings / 2 / (len(x) / rate)


@pytest.mark.parametrize("name", TONE_NAMES)
def test_duration_format_and_loudness(name: str) -> None:
    x, rate = samples_of(tone_wav(name))
    assert rate == SAMPLE_RATE
    assert len(x) / rate == pytest.approx(EXPECTED_DURATION_S[name], abs=0.002)
    assert PATTERNS[name].duration_s == pytest.approx(EXPECTED_DURATION_S[name])
    assert rms(x) > 0.05, "not silent"
    assert np.max(np.abs(x)) < 0.99, "no clipping"


@pytest.mark.parametrize("name", TONE_NAMES)
def test_no_clicks_at_the_edges(name: str) -> None:
    x, _ = samples_of(tone_wav(name))
    assert abs(x[0]) < 0.01
    assert abs(x[-1]) < 0.01
    # Fades keep each step small: the largest step of a full-scale 1320 Hz sine
    # at 44.1 kHz is about 0.19; a click would be a jump near the amplitude.
    assert np.max(np.abs(np.diff(x))) < 0.2


def test_high_alternates_880_and_660_every_150_ms() -> None:
    x, rate = samples_of(tone_wav("high"))
    expected = [880, 660] * 3
    for i, freq in enumerate(expected):
        seg = window(x, rate, i * 0.15 + 0.01, (i + 1) * 0.15 - 0.01)
        assert dominant_hz(seg, rate) == pytest.approx(freq, abs=5), i
        assert zero_crossing_hz(seg, rate) == pytest.approx(freq, rel=0.03), i


def test_medium_is_two_660_hz_beeps_with_a_pause() -> None:
    x, rate = samples_of(tone_wav("medium"))
    first = window(x, rate, 0.01, 0.24)
    gap = window(x, rate, 0.26, 0.44)
    second = window(x, rate, 0.46, 0.69)
    assert dominant_hz(first, rate) == pytest.approx(660, abs=5)
    assert dominant_hz(second, rate) == pytest.approx(660, abs=5)
    assert rms(gap) == 0.0
    assert rms(first) > 0.3


def test_low_is_one_soft_520_hz_chime() -> None:
    x, rate = samples_of(tone_wav("low"))
    assert dominant_hz(x, rate) == pytest.approx(520, abs=5)
    high, _ = samples_of(tone_wav("high"))
    assert np.max(np.abs(x)) < 0.4 < np.max(np.abs(high)), "softer than the high tone"
    # A chime dies away: the last 100 ms are much quieter than the first.
    assert rms(window(x, rate, 0.4, 0.5)) < 0.3 * rms(window(x, rate, 0.0, 0.1))


def test_escalation_sweeps_upwards_three_times() -> None:
    x, rate = samples_of(tone_wav("escalation"))
    for start in (0.0, 0.5, 1.0):
        begin = zero_crossing_hz(window(x, rate, start + 0.005, start + 0.055), rate)
        end = zero_crossing_hz(window(x, rate, start + 0.345, start + 0.395), rate)
        assert 440 <= begin < 600, start
        assert 1150 < end <= 1320, start
    for gap_start in (0.4, 0.9):
        assert rms(window(x, rate, gap_start + 0.001, gap_start + 0.099)) == 0.0


def test_patterns_differ() -> None:
    data = {name: tone_wav(name) for name in TONE_NAMES}
    assert len(set(data.values())) == len(TONE_NAMES)
    signatures = set()
    for _name, wav in data.items():
        x, rate = samples_of(wav)
        head = window(x, rate, 0.01, 0.14)
        signatures.add((round(len(x) / rate, 2), round(dominant_hz(head, rate), -1)))
    assert len(signatures) == len(TONE_NAMES)


def test_alert_config_names_are_accepted() -> None:
    assert tone_wav("tone_high") == tone_wav("high")
    assert tones.tone_key("tone_escalation") == "escalation"
    with pytest.raises(KeyError, match="unknown tone"):
        tone_wav("siren")


def test_write_tones_writes_each_once(tmp_path: Path) -> None:
    folder = tmp_path / "tones"
    paths = write_tones(folder)
    assert set(paths) == set(TONE_NAMES)
    for name, path in paths.items():
        assert path.parent == folder
        assert path.read_bytes() == tone_wav(name)
    stamps = {name: path.stat().st_mtime_ns for name, path in paths.items()}
    inodes = {name: path.stat().st_ino for name, path in paths.items()}
    again = write_tones(folder)
    assert again == paths
    assert {n: p.stat().st_mtime_ns for n, p in again.items()} == stamps
    assert {n: p.stat().st_ino for n, p in again.items()} == inodes
    paths["low"].write_bytes(b"broken")
    write_tones(folder)
    assert paths["low"].read_bytes() == tone_wav("low")
    assert not list(folder.glob("*.tmp"))


def test_description_for_the_docs() -> None:
    text = describe()
    for name in TONE_NAMES:
        assert f"{name}: {EXPECTED_DURATION_S[name]:.2f} s" in text
    for freq in ("880 Hz", "660 Hz", "520 Hz", "440 Hz", "1320 Hz"):
        assert freq in text
