"""Speech: real espeak-ng WAVs, the pronunciation list, templates, and the
speech worker's queue (priority order, one announcement per key, failures)."""

from __future__ import annotations

import io
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import msgspec
import pytest

from commandcenter.config import (
    DEFAULT_PRONUNCIATION_ID,
    Config,
    ConfigError,
    SpeechConfig,
    load_config,
    load_defaults,
)
from commandcenter.wall import speech as sp
from commandcenter.wall.speech import (
    SpeechError,
    SpeechItem,
    SpeechWorker,
    announcement,
    apply_pronunciation,
    render,
    say_main,
    spell_letters,
    wav_info,
)
from tests.factories import make_incident

WAIT = 10.0  # seconds; every wait is on an Event or a queue, never a sleep
SENTENCE_ID = "Kebakaran, prioritas tinggi, Desa Deling, Kecamatan Pangkalan Lampam"
SENTENCE_EN = "Fire, high priority, Deling village, Pangkalan Lampam district"
needs_espeak = pytest.mark.skipif(sp.espeak_program() is None, reason="espeak-ng not installed")
SOX = shutil.which("sox")


@pytest.fixture(scope="module")
def cfg() -> Config:
    return load_defaults()


def sox_rms(path: Path) -> float:
    proc = subprocess.run([SOX or "sox", str(path), "-n", "stat"], capture_output=True, text=True, check=True)
    m = re.search(r"RMS\s+amplitude:\s+([0-9.]+)", proc.stderr)
    assert m, proc.stderr
    return float(m.group(1))


# --- real WAVs through say_main --------------------------------------------------------------


@needs_espeak
def test_say_main_writes_a_real_indonesian_wav(cfg: Config, tmp_path: Path) -> None:
    out = tmp_path / "id.wav"
    stdout, stderr = io.StringIO(), io.StringIO()
    assert say_main("id", str(out), SENTENCE_ID, cfg, stdout=stdout, stderr=stderr) == 0, stderr.getvalue()
    info = wav_info(out)
    assert 1.5 <= info.duration_s <= 8.0
    assert info.rms > 0.02, "not silent"
    if SOX:
        assert sox_rms(out) == pytest.approx(info.rms, rel=0.05)
    printed = stdout.getvalue()
    assert f"spoken: {SENTENCE_ID}\n" in printed
    assert f"({info.duration_s:.2f} s" in printed
    assert "Audio saved to" not in printed  # pyttsx3's own chatter stays out


@needs_espeak
def test_english_voice_works_too(cfg: Config, tmp_path: Path) -> None:
    out = tmp_path / "en.wav"
    assert say_main("en", str(out), SENTENCE_EN, cfg, stdout=io.StringIO(), stderr=io.StringIO()) == 0
    info = wav_info(out)
    assert 1.5 <= info.duration_s <= 8.0
    assert info.rms > 0.02
    # A different voice and text: not the Indonesian file again.
    other = tmp_path / "id.wav"
    say_main("id", str(other), SENTENCE_ID, cfg, stdout=io.StringIO(), stderr=io.StringIO())
    assert other.read_bytes() != out.read_bytes()


@needs_espeak
def test_say_main_applies_the_pronunciation_list(cfg: Config, tmp_path: Path) -> None:
    out = tmp_path / "bpbd.wav"
    stdout = io.StringIO()
    assert say_main("id", str(out), "BPBD Kabupaten OKI", cfg, stdout=stdout, stderr=io.StringIO()) == 0
    assert "spoken: Be Pe Be De Kabupaten O Ka I\n" in stdout.getvalue()
    # The spelled form is longer spoken than the acronym read as one word.
    plain = tmp_path / "plain.wav"
    sp.espeak_ng_save("BPBD Kabupaten OKI", plain, "id", 150, 1.0)
    assert wav_info(out).duration_s > wav_info(plain).duration_s


def test_say_main_refuses_bad_input(cfg: Config, tmp_path: Path) -> None:
    err = io.StringIO()
    assert say_main("fr", str(tmp_path / "x.wav"), "halo", cfg, stdout=io.StringIO(), stderr=err) == 2
    assert "--lang" in err.getvalue()
    assert say_main("id", str(tmp_path / "x.wav"), "  ", cfg, stdout=io.StringIO(), stderr=io.StringIO()) == 2
    err = io.StringIO()
    missing_dir = tmp_path / "no" / "such" / "x.wav"
    assert say_main("id", str(missing_dir), "halo", cfg, stdout=io.StringIO(), stderr=err) == 1
    assert err.getvalue().startswith("error: ")


@needs_espeak
@pytest.mark.parametrize("failure", ["empty file", "driver exception"])
def test_espeak_ng_fallback_when_pyttsx3_gives_nothing(cfg: Config, tmp_path: Path, failure: str) -> None:
    engine = sp.Pyttsx3Engine(cfg.speech)
    try:
        # Simulate pyttsx3 builds that leave an empty file behind, or a driver that raises.
        def broken_save(text: str, voice: str, path: Path) -> None:
            path.write_bytes(b"")
            if failure == "driver exception":
                raise RuntimeError("run loop already started")

        engine._pyttsx3_save = broken_save  # type: ignore[method-assign]
        out = tmp_path / "fallback.wav"
        engine.synthesize("Banjir di Kecamatan Jejawi", "id", out)
    finally:
        engine.close()
    info = wav_info(out)
    assert info.duration_s > 1.0
    assert info.rms > 0.02


@needs_espeak
def test_a_late_pyttsx3_write_never_touches_the_file_played_and_pyttsx3_is_left_after_three_misses(
        cfg: Config, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """In the running wall pyttsx3's espeak callback wrote its WAV after runAndWait returned:
    every announcement was synthesised twice (pyttsx3, then the espeak-ng program), logged a
    warning, and the late write went into the very file the player was reading. pyttsx3 now
    writes a file of its own, and after three misses in a row the espeak-ng program speaks
    alone."""
    engine = sp.Pyttsx3Engine(cfg.speech)
    given: list[Path] = []
    try:
        def late_save(text: str, voice: str, path: Path) -> None:
            given.append(path)  # writes nothing now: its callback comes later

        engine._pyttsx3_save = late_save  # type: ignore[method-assign]
        out = tmp_path / "utterance.wav"
        engine.synthesize("Banjir di Kecamatan Jejawi", "id", out)
        played = out.read_bytes()
        given[0].write_bytes(b"RIFF late pyttsx3 callback")  # the late write
        assert given[0] != out and out.read_bytes() == played
        assert wav_info(out).duration_s > 1.0
        for n in range(4):
            engine.synthesize(f"Kebakaran lahan {n}", "id", tmp_path / f"u{n}.wav")
            assert wav_info(tmp_path / f"u{n}.wav").rms > 0.02
    finally:
        engine.close()
    assert len(given) == sp.PYTTSX3_MAX_MISSES == 3
    said = [r.getMessage() for r in caplog.records if "pyttsx3 wrote no audio" in r.getMessage()]
    assert len(said) == 3 and "speaks from now on" in said[-1], said


@needs_espeak
def test_a_pyttsx3_call_that_never_returns_is_left_and_the_espeak_ng_program_speaks(
        cfg: Config, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """espeak's runAndWait hangs for good while its callback is stuck. A real one: pyttsx3 is
    given a FIFO that nobody reads for one utterance; its callback blocks opening it, and that
    runAndWait or the next one never returns. That held the speech thread: every later
    announcement went unheard. Now the hung call is left running, the espeak-ng program speaks
    that utterance and the next ones at once, stdout is the process's again, and pyttsx3 is used
    again once the call returns."""
    engine = sp.Pyttsx3Engine(cfg.speech)
    if engine.init_error:
        pytest.skip(engine.init_error)
    monkeypatch.setattr(sp, "PYTTSX3_TIMEOUT_S", 2.0)
    fifo = tmp_path / "nobody-reads.wav"
    os.mkfifo(fifo)
    real_save = engine._pyttsx3_save
    given: list[Path] = []

    def save(text: str, voice: str, path: Path) -> None:
        given.append(path)
        real_save(text, voice, fifo if len(given) == 1 else path)

    def say(text: str, name: str) -> None:
        # The old code hung here for good: fail instead of hanging the suite.
        errors: list[BaseException] = []

        def run() -> None:
            try:
                engine.synthesize(text, "id", tmp_path / name)
            except BaseException as exc:
                errors.append(exc)

        speaking = threading.Thread(target=run, daemon=True)
        speaking.start()
        speaking.join(WAIT)
        assert not speaking.is_alive(), f"the speech thread hung with pyttsx3 on {name}"
        if errors:
            raise errors[0]

    engine._pyttsx3_save = save  # type: ignore[method-assign]
    stdout = sys.stdout
    freed = False
    try:
        say("Banjir di Kecamatan Jejawi", "a.wav")  # its callback blocks on the FIFO
        say("Kebakaran lahan di Tulung Selapan", "b.wav")  # if that call returned, this one hangs
        hung = engine._pyttsx3_thread
        assert hung is not None and hung.is_alive(), "pyttsx3 did not hang: the test proves nothing"
        assert sp._PYTTSX3_STUCK.is_set()
        tried = len(given)
        say("Ambulans menuju Kayu Agung", "c.wav")
        assert len(given) == tried, "pyttsx3 was tried again while a call of it hung"
        assert sys.stdout is stdout
        for name in "abc":
            info = wav_info(tmp_path / f"{name}.wav")
            assert info.duration_s > 1.0 and info.rms > 0.02, (name, info)
        said = [r for r in caplog.records if "did not return" in r.getMessage()]
        assert [r.levelname for r in said] == ["ERROR"], said
        # Someone reads at last: the callback ends, the hung call returns, pyttsx3 is tried again.
        threading.Thread(target=fifo.read_bytes, daemon=True).start()
        freed = True
        hung.join(WAIT)
        assert not hung.is_alive() and not sp._PYTTSX3_STUCK.is_set()
        say("Banjir di Pedamaran", "d.wav")
        assert len(given) == tried + 1 and wav_info(tmp_path / "d.wav").rms > 0.02
    finally:
        if not freed:  # free a callback still blocked on the FIFO
            threading.Thread(target=fifo.read_bytes, daemon=True).start()
        engine.close()
        sp._PYTTSX3_STUCK.clear()


@needs_espeak
def test_pyttsx3_audio_is_moved_into_place(cfg: Config, tmp_path: Path) -> None:
    """When pyttsx3 does write audio (outside the wall it does), that file is the one played."""
    engine = sp.Pyttsx3Engine(cfg.speech)
    if engine.init_error:
        pytest.skip(engine.init_error)
    try:
        out = tmp_path / "utterance.wav"
        engine.synthesize("Ambulans menuju Kayu Agung", "id", out)
        assert not sp._pyttsx3_path(out).exists()
        assert wav_info(out).duration_s > 1.0 and wav_info(out).rms > 0.02
        assert engine._pyttsx3_misses == 0  # pyttsx3's own file, not the fallback
    finally:
        engine.close()


@needs_espeak
def test_unknown_voice_is_reported(cfg: Config) -> None:
    bad = msgspec.structs.replace(cfg.speech, id=msgspec.structs.replace(cfg.speech.id, voice="xx-nope"))
    ok, reason = sp.check_available(bad, "id", probe_audio=False)
    assert not ok
    assert reason.startswith("no voice: ") and "xx-nope" in reason
    ok, reason = sp.check_available(cfg.speech, "id", probe_audio=False)
    assert ok, reason
    assert "poz/id" in reason
    err = io.StringIO()
    tree = msgspec.structs.replace(cfg, speech=bad)
    assert say_main("id", "/tmp/never-written.wav", "halo", tree, stdout=io.StringIO(), stderr=err) == 1
    assert "xx-nope" in err.getvalue()


def test_no_audio_output_is_detected(cfg: Config) -> None:
    ok, reason = sp.probe_audio_output(["false", "{file}"])
    assert not ok and reason.startswith("no audio output: false")
    ok, reason = sp.probe_audio_output(["/nonexistent/player", "{file}"])
    assert not ok and "not found" in reason
    ok, reason = sp.probe_audio_output(None)
    assert not ok and reason.startswith("no audio output: no audio player found")
    if SOX:
        assert sp.probe_audio_output([SOX, "-q", "{file}", "-n"]) == (True, f"audio output via {SOX}")


# --- pronunciation and templates ---------------------------------------------------------------


def test_pronunciation_whole_words_and_case(cfg: Config) -> None:
    table = cfg.speech.id.pronunciation
    assert apply_pronunciation("BPBD", table) == "Be Pe Be De"
    assert apply_pronunciation("Tim BPBD dan DPPPA tiba.", table) == "Tim Be Pe Be De dan De Pe Pe Pe A tiba."
    assert apply_pronunciation("BNN, DLH (OKI)", table) == "Be En En, De El Ha (O Ka I)"
    assert apply_pronunciation("KM 338 Jejawi", table) == "kilometer 338 Jejawi"
    # Acronyms are case-sensitive and whole words only.
    assert apply_pronunciation("bpbd BPBDX XBPBD oki km", table) == "bpbd BPBDX XBPBD oki km"
    # Names ignore case, and spaces inside them may vary.
    assert apply_pronunciation("DINKES dan dinkes", table) == "Dinas Kesehatan dan Dinas Kesehatan"
    assert apply_pronunciation("kayuagung", table) == "Kayu Agung"
    assert apply_pronunciation("Air  Sugihan", table) == "A-ir Sugihan"
    assert apply_pronunciation("Damkar, Dishub, Dinsos", table) == (
        "Dam kar, Dinas Perhubungan, Dinas Sosial"
    )
    # One pass: a replacement is never replaced again.
    assert apply_pronunciation("A B", {"A": "B", "B": "C"}) == "B C"
    # Longest key wins.
    assert apply_pronunciation("Kayu Agung", {"Kayu": "X", "Kayu Agung": "Y"}) == "Y"
    assert apply_pronunciation("text", {}) == "text"


def test_acronyms_are_spelled_the_indonesian_way() -> None:
    for acronym in ("BPBD", "DPPPA", "BNN", "DLH", "OKI", "OPD", "BMKG", "PP"):
        assert DEFAULT_PRONUNCIATION_ID[acronym] == spell_letters(acronym), acronym
    assert spell_letters("BPBD") == "Be Pe Be De"


def test_render_templates() -> None:
    tpl = "{kategori}, prioritas {prioritas}, Desa {desa}, Kecamatan {kecamatan}"
    full = render(tpl, kategori="Kebakaran", prioritas="tinggi", desa="Deling", kecamatan="Pangkalan Lampam")
    assert full == SENTENCE_ID
    # English field names fill Indonesian placeholders and the other way round.
    assert render(tpl, category="Banjir", priority="sedang", desa="Kandis", district="Pampangan") == (
        "Banjir, prioritas sedang, Desa Kandis, Kecamatan Pampangan"
    )
    # A part whose placeholders are all empty is left out, not spoken as "Desa ,".
    assert render(tpl, kategori="Banjir", prioritas="tinggi", kecamatan="Jejawi") == (
        "Banjir, prioritas tinggi, Kecamatan Jejawi"
    )
    assert render("{n} laporan {kategori} baru di Kecamatan {kecamatan}", n=7, kategori="banjir",
                  kecamatan="Lempuing") == "7 laporan banjir baru di Kecamatan Lempuing"  # fmt: skip
    # Public text is tidied and stays inert.
    assert render("Desa {desa}", desa="Deling\n\x07  Ilir") == "Desa Deling Ilir"
    assert render("{desa.__class__}", desa="x") == ""
    assert len(render("{pesan}", pesan="kata " * 100)) <= sp.MAX_FIELD_CHARS
    assert render("broken {", desa="x") == "broken {"


def test_announcements_in_both_languages(cfg: Config) -> None:
    speech = cfg.speech
    fields = {"category": "Kebakaran", "priority": "high", "desa": "Deling", "kecamatan": "Pangkalan Lampam"}
    assert announcement(speech, "incident", "id", **fields) == SENTENCE_ID
    fields["category"] = "Fire"
    assert announcement(speech, "incident", "en", **fields) == SENTENCE_EN
    assert announcement(speech, "reminder", "id", message="Kebakaran di Deling") == (
        "Peringatan belum dikonfirmasi: Kebakaran di Deling"
    )
    assert (
        announcement(speech, "reminder", "en", message="Fire at Deling")
        == "Still unacknowledged: Fire at Deling"
    )
    assert announcement(speech, "group", "en", n=5, category="flood", kecamatan="Lempuing") == (
        "5 new flood reports in Lempuing district"
    )
    with pytest.raises(ValueError, match="unknown announcement kind"):
        announcement(speech, "song", "id")
    incident = make_incident(priority="medium")
    assert sp.incident_announcement(cfg, incident, "id") == (
        "Kebakaran, prioritas sedang, Desa Deling, Kecamatan Pangkalan Lampam"
    )
    assert sp.incident_announcement(cfg, incident, "en").endswith(
        "medium priority, Deling village, Pangkalan Lampam district"
    )


# --- config -------------------------------------------------------------------------------------


def test_speech_config_defaults_match_the_shipped_file(cfg: Config) -> None:
    assert cfg.speech == SpeechConfig()
    assert cfg.speech.rate_wpm == 150
    assert (cfg.speech.id.voice, cfg.speech.en.voice) == ("id", "en")
    assert sp.speech_language(cfg) == "id"


def test_speech_language_follows_the_display(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[display]\nlanguage = "en"\n', encoding="utf-8")
    assert sp.speech_language(load_config(path, env={}, use_user_dir=False)) == "en"
    path.write_text('[display]\nlanguage = "en"\n[speech]\nlanguage = "id"\n', encoding="utf-8")
    assert sp.speech_language(load_config(path, env={}, use_user_dir=False)) == "id"


def test_user_pronunciation_adds_to_the_shipped_list(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[speech.id.pronunciation]\nSPBU = "Es Pe Be U"\n', encoding="utf-8")
    table = load_config(path, env={}, use_user_dir=False).speech.id.pronunciation
    assert table["SPBU"] == "Es Pe Be U"
    assert table["BPBD"] == "Be Pe Be De"


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ('[speech.id]\nincident = "{kota}"\n', "speech.id.incident", "unknown placeholder {kota}"),
        ('[speech.en]\ngroup = "{n!r}"\n', "speech.en.group", "must not carry a format"),
        ('[speech.id]\nreminder = "{"\n', "speech.id.reminder", "bad template"),
        ('[speech]\nplayer = ["paplay"]\n', "speech.player", "{file}"),
        ("[speech]\nrate_wpm = 20\n", "speech.rate_wpm", ">= 80"),
        ('[speech]\nlanguage = "fr"\n', "speech.language", "Invalid enum value"),
        ('[speech.id.pronunciation]\nBPBD = ""\n', "speech.id.pronunciation.BPBD", "1 to 200 characters"),
        ("[speech.id.pronunciation]\nBPBD = 1\n", "speech.id.pronunciation.BPBD", "must be text, got int"),
        ('[speech.en.pronunciation]\n"Kayu Agung" = []\n', "speech.en.pronunciation", "'Kayu Agung'"),
        ('[speech.en.pronunciation]\n" " = "x"\n', "speech.en.pronunciation", "written form"),
    ],
)
def test_bad_speech_config_is_refused(tmp_path: Path, text: str, key: str, reason: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={}, use_user_dir=False)
    assert info.value.key == key
    assert reason in info.value.reason
    assert info.value.file == str(path)


# --- the worker -----------------------------------------------------------------------------------


class FakeEngine:
    """Records what it speaks; blocks on ``gate`` for texts listed in ``hold``;
    raises for texts in ``fail``."""

    def __init__(self, hold: Iterable[str] = (), fail: Iterable[str] = ()) -> None:
        self.spoken: list[str] = []
        self.gate = threading.Event()
        self.hold = set(hold)
        self.fail = set(fail)
        self.interrupted = threading.Event()
        self.interrupts = 0

    def speak(self, text: str, lang: str, started: Callable[[], None]) -> bool:
        if text in self.fail:
            raise SpeechError(f"no audio output: cannot say {text}")
        self.interrupted.clear()
        started()
        self.spoken.append(text)
        if text in self.hold:
            assert self.gate.wait(WAIT)
            if self.interrupted.is_set():
                self.gate.clear()  # hold the next one again
                return False
        return True

    def synthesize(self, text: str, lang: str, path: Path) -> None:
        sp.espeak_ng_save(text, path, lang, 150, 1.0)

    def interrupt(self) -> None:
        self.interrupted.set()
        self.gate.set()
        self.interrupts += 1

    def close(self) -> None:
        pass


class Recorder:
    def __init__(self) -> None:
        self.events: queue.Queue[tuple[str, SpeechItem, object]] = queue.Queue()

    def started(self, item: SpeechItem) -> None:
        self.events.put(("started", item, None))

    def finished(self, item: SpeechItem) -> None:
        self.events.put(("finished", item, None))

    def failed(self, item: SpeechItem, error: BaseException) -> None:
        self.events.put(("failed", item, error))

    def dropped(self, item: SpeechItem, reason: str) -> None:
        self.events.put(("dropped", item, reason))

    def next(self, kind: str | None = None) -> tuple[str, SpeechItem, object]:
        event = self.events.get(timeout=WAIT)
        if kind is not None:
            assert event[0] == kind, event
        return event

    def finished_texts(self, count: int) -> list[str]:
        texts: list[str] = []
        while len(texts) < count:
            kind, item, _ = self.next()
            if kind == "finished":
                texts.append(item.text)
        return texts


def make_worker(cfg: SpeechConfig, engine: FakeEngine, rec: Recorder, **kwargs: object) -> SpeechWorker:
    return SpeechWorker(
        cfg,
        engine_factory=lambda _cfg: engine,
        on_started=rec.started,
        on_finished=rec.finished,
        on_failed=rec.failed,
        on_dropped=rec.dropped,
        **kwargs,  # type: ignore[arg-type]
    )


def test_queue_order_priority_then_fifo_and_one_per_key(cfg: Config) -> None:
    engine, rec = FakeEngine(hold={"blocker"}), Recorder()
    with make_worker(cfg.speech, engine, rec) as worker:
        worker.say("blocker", "high")  # high: nothing below may cut it short
        rec.next("started")  # the worker is busy: everything below waits
        worker.say("low", "low")
        worker.say("medium", "medium")
        worker.say("high", "high")
        first_x = worker.say("high X", "high", key="X")
        second_x = worker.say("high X again", "high", key="X")
        assert second_x is first_x, "merged into the waiting one"
        assert [i.text for i in worker.pending()] == ["high", "high X again", "medium", "low"]
        engine.gate.set()
        assert rec.finished_texts(5) == ["blocker", "high", "high X again", "medium", "low"]
    assert engine.spoken == ["blocker", "high", "high X again", "medium", "low"]


def test_merge_raises_priority_but_keeps_the_place_in_line(cfg: Config) -> None:
    engine, rec = FakeEngine(hold={"blocker"}), Recorder()
    with make_worker(cfg.speech, engine, rec) as worker:
        worker.say("blocker", "high")
        rec.next("started")
        worker.say("fire Deling", "low", key="inc-1")
        worker.say("medical", "medium")
        worker.say("fire Deling, escalated", "high", key="inc-1")
        engine.gate.set()
        assert rec.finished_texts(3) == ["blocker", "fire Deling, escalated", "medical"]


def test_urgent_announcement_cuts_a_routine_one_short(cfg: Config) -> None:
    engine, rec = FakeEngine(hold={"routine"}), Recorder()
    with make_worker(cfg.speech, engine, rec) as worker:
        worker.say("routine", "low")
        rec.next("started")
        worker.say("urgent", "high")
        _, item, _ = rec.next("started")
        assert item.text == "urgent"
        _, item, _ = rec.next("finished")
        assert item.text == "urgent"
        # The routine one is said again, in full.
        _, item, _ = rec.next("started")
        assert item.text == "routine"
        assert engine.interrupts == 1
        # Equal or lower priority never interrupts.
        worker.say("other routine", "low")
        worker.say("medium", "medium")  # more urgent than low: interrupts once more
        _, item, _ = rec.next("started")
        assert item.text == "medium"
        rec.next("finished")
        _, item, _ = rec.next("started")
        assert item.text == "routine"
        engine.gate.set()
        assert rec.finished_texts(2) == ["routine", "other routine"]
        assert engine.interrupts == 2
    assert engine.spoken == ["routine", "urgent", "routine", "medium", "routine", "other routine"]


def test_a_key_being_spoken_is_not_queued_again(cfg: Config) -> None:
    engine, rec = FakeEngine(hold={"fire"}), Recorder()
    with make_worker(cfg.speech, engine, rec) as worker:
        worker.say("fire", "high", key="inc-7")
        _, item, _ = rec.next("started")
        assert worker.current is item
        assert worker.say("fire again", "high", key="inc-7") is None
        assert worker.pending() == []
        engine.gate.set()
        rec.next("finished")
        # Once said, the same incident may be announced again (a reminder).
        worker.say("fire", "high", key="inc-7")
        rec.next("started")
        rec.next("finished")
    assert engine.spoken == ["fire", "fire"]


def test_cancel_drops_a_waiting_or_speaking_announcement(cfg: Config) -> None:
    engine, rec = FakeEngine(hold={"speaking"}), Recorder()
    with make_worker(cfg.speech, engine, rec) as worker:
        worker.say("speaking", "high", key="a")
        rec.next("started")
        worker.say("waiting", "high", key="b")
        assert worker.cancel("b")
        _, item, reason = rec.next("dropped")
        assert (item.text, reason) == ("waiting", "cancelled")
        assert worker.cancel("a")
        assert engine.interrupted.wait(WAIT)
        _, item, reason = rec.next("dropped")
        assert (item.text, reason) == ("speaking", "cancelled")
        assert not worker.cancel("nothing")


def test_failures_go_to_on_failed_and_the_worker_goes_on(cfg: Config) -> None:
    engine, rec = FakeEngine(fail={"broken"}), Recorder()
    with make_worker(cfg.speech, engine, rec) as worker:
        worker.say("broken", "high")
        _, item, error = rec.next("failed")
        assert item.text == "broken"
        assert isinstance(error, SpeechError) and "no audio output" in str(error)
        worker.say("fine", "low")
        rec.next("started")
        rec.next("finished")


def test_engine_that_cannot_start_fails_every_item(cfg: Config) -> None:
    rec = Recorder()

    def broken_factory(_cfg: SpeechConfig) -> FakeEngine:
        raise RuntimeError("could not initialize espeak")

    worker = SpeechWorker(cfg.speech, engine_factory=broken_factory, on_failed=rec.failed).start()
    try:
        worker.say("halo", "high")
        _, _, error = rec.next("failed")
        assert "could not initialize espeak" in str(error)
        ok, reason = worker.available()
        assert not ok and reason == "no speech engine: could not initialize espeak"
    finally:
        worker.stop()


def test_callback_errors_do_not_kill_the_worker(cfg: Config) -> None:
    engine, rec = FakeEngine(), Recorder()
    worker = make_worker(cfg.speech, engine, rec)

    def bad_started(item: SpeechItem) -> None:
        raise ValueError("UI bug")

    worker.on_started = bad_started
    with worker:
        worker.say("one", "high")
        worker.say("two", "high")
        assert rec.finished_texts(2) == ["one", "two"]


def test_full_queue_drops_the_least_urgent_newest(cfg: Config) -> None:
    small = msgspec.structs.replace(cfg.speech, max_queue=2)
    engine, rec = FakeEngine(hold={"blocker"}), Recorder()
    with make_worker(small, engine, rec) as worker:
        worker.say("blocker", "high")
        rec.next("started")
        worker.say("low 1", "low")
        worker.say("high 1", "high")
        worker.say("medium 1", "medium")  # pushes "low 1" out
        _, item, reason = rec.next("dropped")
        assert (item.text, reason) == ("low 1", "queue full")
        assert worker.say("low 2", "low") is None  # the newest least urgent: itself
        _, item, reason = rec.next("dropped")
        assert item.text == "low 2"
        engine.gate.set()
        assert rec.finished_texts(3) == ["blocker", "high 1", "medium 1"]


def test_stale_announcements_are_not_spoken_late(cfg: Config) -> None:
    now = [1000.0]
    engine, rec = FakeEngine(hold={"blocker"}), Recorder()
    with make_worker(cfg.speech, engine, rec, clock=lambda: now[0]) as worker:
        worker.say("blocker", "high")
        rec.next("started")
        worker.say("old news", "low")
        now[0] += cfg.speech.max_age_s + 1
        engine.gate.set()
        rec.next("finished")
        _, item, reason = rec.next("dropped")
        assert (item.text, reason) == ("old news", "stale")


def test_worker_applies_pronunciation_and_language(cfg: Config) -> None:
    engine, rec = FakeEngine(), Recorder()
    with make_worker(cfg.speech, engine, rec, language="en") as worker:
        item = worker.say("Dinkes to Kayuagung", "medium")
        assert item is not None and item.lang == "en"
        rec.next("started")
        rec.next("finished")
        id_item = worker.say("BPBD ke Kayuagung", "medium", lang="id")
        assert id_item is not None
        rec.next("started")
        rec.next("finished")
    assert engine.spoken == ["Din kes to Kah-yoo Ah-goong", "Be Pe Be De ke Kayu Agung"]
    assert id_item.text == "BPBD ke Kayuagung"  # the written form stays for the screen
    with pytest.raises(ValueError, match="unknown priority"):
        worker.say("x", "urgent")  # type: ignore[arg-type]


def test_stop_drops_what_waits(cfg: Config) -> None:
    engine, rec = FakeEngine(hold={"blocker"}), Recorder()
    worker = make_worker(cfg.speech, engine, rec).start()
    worker.say("blocker", "high")
    rec.next("started")
    worker.say("never", "low")
    worker.stop()
    assert not worker.running
    assert engine.interrupted.is_set()
    kinds = {}
    while not rec.events.empty():
        kind, item, reason = rec.events.get_nowait()
        kinds[item.text] = (kind, reason)
    assert kinds["never"] == ("dropped", "stopped")
    assert worker.say("after", "high") is None


@needs_espeak
def test_save_runs_on_the_worker_thread_while_running(cfg: Config, tmp_path: Path) -> None:
    threads: list[str] = []

    class Tracking(FakeEngine):
        def synthesize(self, text: str, lang: str, path: Path) -> None:
            threads.append(threading.current_thread().name)
            super().synthesize(text, lang, path)

    engine, rec = Tracking(), Recorder()
    with make_worker(cfg.speech, engine, rec) as worker:
        info = worker.save("Banjir di Jejawi", tmp_path / "a.wav")
    assert threads == ["speech"]
    assert info.duration_s > 0.5 and info.rms > 0.02
    stopped = make_worker(cfg.speech, Tracking(), Recorder())
    stopped.save("Banjir", tmp_path / "b.wav")  # not started: the calling thread does it
    assert wav_info(tmp_path / "b.wav").rms > 0.02


# --- the real engine -----------------------------------------------------------------------------


@needs_espeak
def test_real_engine_no_audio_device_goes_to_on_failed(cfg: Config) -> None:
    speech = msgspec.structs.replace(cfg.speech, player=["/nonexistent/player", "{file}"])
    rec = Recorder()
    with SpeechWorker(speech, on_failed=rec.failed, on_finished=rec.finished) as worker:
        worker.say("Kebakaran di Deling", "high")
        _, _, error = rec.next("failed")
    assert str(error).startswith("no audio output: cannot start /nonexistent/player")


@needs_espeak
def test_a_player_that_never_returns_is_ended_and_the_next_announcement_still_speaks(
        cfg: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A player stuck for ever (an audio server that hangs) held the speech thread: that
    announcement and every later one went unheard and nothing said so. It is now ended after
    the utterance's length and a margin (shortened here), reported like no audio output (the
    wall plays the tone and marks it), and the next announcement is spoken."""
    monkeypatch.setattr(sp, "PLAYER_MARGIN_S", 0.5)
    stuck = tmp_path / "stuck"
    # Hangs the first time it is started (a real process that never ends), plays after.
    player = ["sh", "-c", f'if [ ! -e {stuck} ]; then : > {stuck}; exec sleep 1000; fi; exit 0', "{file}"]
    rec = Recorder()
    with SpeechWorker(msgspec.structs.replace(cfg.speech, player=player),
                      on_failed=rec.failed, on_finished=rec.finished) as worker:
        worker.say("Kebakaran di Deling", "high")
        _, _, error = rec.next("failed")
        worker.say("Banjir di Jejawi", "high")
        rec.next("finished")
    assert str(error).startswith("no audio output: sh did not finish in"), error
    assert stuck.exists()


@needs_espeak
@pytest.mark.skipif(SOX is None, reason="sox not installed")
def test_real_engine_latency_from_say_to_started(cfg: Config) -> None:
    # sox plays into its null device: real pyttsx3 synthesis and a real player
    # process, no sound card needed. The wall's target is 1 s to speech started.
    speech = msgspec.structs.replace(cfg.speech, player=[SOX or "sox", "-q", "{file}", "-n"])
    rec = Recorder()
    with SpeechWorker(
        speech, on_started=rec.started, on_finished=rec.finished, on_failed=rec.failed
    ) as worker:
        latencies = []
        for _ in range(3):
            t0 = time.monotonic()
            worker.say(SENTENCE_ID, "high")
            rec.next("started")
            latencies.append(time.monotonic() - t0)
            rec.next("finished")
        ok, reason = worker.available()
    assert max(latencies) < 1.0, latencies
    assert ok, reason


def test_a_repeated_failure_is_logged_once_then_recovery_once(
    cfg: Config, caplog: pytest.LogCaptureFixture
) -> None:
    """A wall without audio must not write a warning per announcement for
    months: the first failure of a kind warns, repeats are debug, and speech
    working again is said once."""

    class NoDevice(FakeEngine):
        def speak(self, text: str, lang: str, started: Callable[[], None]) -> bool:
            if text.startswith("x"):
                raise SpeechError("no audio output: no default device")
            if text.startswith("cut"):
                return False  # cut short (stop, preemption): proves nothing about the output
            return super().speak(text, lang, started)

    caplog.set_level("DEBUG", logger="commandcenter.wall.speech")
    engine, rec = NoDevice(), Recorder()
    with make_worker(cfg.speech, engine, rec) as worker:
        for i in range(2):
            worker.say(f"x{i}", "high")
            rec.next("failed")
        worker.say("cut short", "low")
        rec.next("started")
        rec.next("finished")
        assert not any("speech works again" in r.getMessage() for r in caplog.records)
        worker.say("x2", "high")
        rec.next("failed")
        worker.say("fine", "low")
        rec.next("started")
        rec.next("finished")
    failures = [r for r in caplog.records if "speech failed" in r.getMessage()]
    assert [r.levelname for r in failures] == ["WARNING", "DEBUG", "DEBUG"]
    assert sum("speech works again" in r.getMessage() for r in caplog.records) == 1


@needs_espeak
@pytest.mark.skipif(SOX is None, reason="sox not installed")
def test_each_utterance_plays_its_own_file_and_nothing_reaches_stdout(
    cfg: Config, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """pyttsx3's espeak driver prints "Audio saved to ..." from a callback that can run after
    runAndWait returned (seen on the demo wall's stdout), and may write its WAV late: each
    utterance gets a file of its own, removed once played, and the driver's lines go to the log."""
    import builtins

    played = tmp_path / "played.txt"
    # The player notes which file it got and its size, then plays it into sox's null device.
    player = ["sh", "-c", f'printf "%s %s\\n" "$0" "$(wc -c < "$0")" >> {played}; {SOX} -q "$0" -n', "{file}"]
    engine = sp.Pyttsx3Engine(msgspec.structs.replace(cfg.speech, player=player))
    try:
        for _ in range(3):
            assert engine.speak(SENTENCE_ID, "id", lambda: None)
        left = sorted(p.name for p in engine._tmp.glob("utterance*.wav"))
    finally:
        engine.close()
    lines = played.read_text().split("\n")[:-1]
    files = [line.split()[0] for line in lines]
    assert len(set(files)) == 3, files
    assert all(int(line.split()[1]) > 10_000 for line in lines), lines  # real audio, not a header
    assert left == [], left
    assert "Audio saved" not in capfd.readouterr().out
    driver = __import__("sys").modules.get("pyttsx3.drivers.espeak")
    assert driver is None or getattr(driver, "print", builtins.print) is not builtins.print
