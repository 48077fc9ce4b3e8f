"""Spoken announcements: templates, a pronunciation list, and one speech thread.

How speech works here, and why:

- pyttsx3 (espeak-ng driver) synthesises; ``pyttsx3.init()`` hands out one
  shared engine per process, so every use of it goes through
  :data:`_PYTTSX3_LOCK`, and the wall's :class:`SpeechWorker` creates it on its
  own daemon thread and is the only one speaking.
- pyttsx3 2.99's espeak driver synthesises in memory and then *plays with*
  ``os.system("aplay ...")``, ignoring the result: without aplay or without an
  audio device nothing is heard and nothing is reported (checked on this
  machine kind: "sh: aplay: not found", no error event). So the worker never
  uses ``engine.say()``: it has pyttsx3 write a WAV (``save_to_file``) and plays
  that with a player whose exit status it checks. A failure reaches
  ``on_failed`` and the wall plays the priority's tone instead. It also avoids a
  second pyttsx3 2.99 trap: ``save_to_file`` leaves the file name set, so a
  later ``say()`` on the same engine overwrites that file instead of speaking.
- Some pyttsx3 + espeak combinations write an empty or header-only WAV
  (pyttsx3 issue #142 and its duplicates); then :func:`synthesize` falls back
  to the ``espeak-ng`` program (``-w FILE``), which is the same synthesiser.
  In the running wall pyttsx3's callback writes only after runAndWait returned,
  so pyttsx3 writes a file of its own (moved into place when it holds audio)
  and, after PYTTSX3_MAX_MISSES misses in a row, is not asked again.
- Public text is never interpreted as SSML: neither pyttsx3's espeak driver nor
  ``espeak-ng`` without ``-m`` reads markup.

The worker speaks from a priority queue (high before medium before low, FIFO
within a priority) with one entry per key, so an incident is never announced
twice at once. Nothing here imports Qt: callbacks run on the worker thread and
the UI marshals them to the GUI thread.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import io
import itertools
import logging
import math
import os
import re
import shutil
import string
import subprocess
import sys
import tempfile
import threading
import time
import wave
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from commandcenter.core.i18n import strings_for
from commandcenter.core.model import PRIORITY_RANK, Priority
from commandcenter.core.text import strip_controls

if TYPE_CHECKING:
    from commandcenter.config import Config, SpeechConfig

log = logging.getLogger(__name__)

LANGUAGES: tuple[str, ...] = ("id", "en")
#: Template placeholder aliases: either name is filled from the other.
FIELD_ALIASES: tuple[tuple[str, str], ...] = (
    ("kategori", "category"),
    ("prioritas", "priority"),
    ("jumlah", "n"),
    ("pesan", "message"),
    ("instansi", "agency"),
    ("kecamatan", "district"),
    ("tiket", "ticket"),
)
#: Longest field value spoken; public text can be long, an announcement must not.
MAX_FIELD_CHARS = 120
#: Players tried in this order when speech.player is empty ("{file}" is the WAV).
PLAYERS: tuple[tuple[str, ...], ...] = (
    ("paplay", "{file}"),
    ("pw-play", "{file}"),
    ("aplay", "-q", "{file}"),
    ("play", "-q", "{file}"),
)
#: pyttsx3 shares one engine per process: whoever uses it holds this lock.
_PYTTSX3_LOCK = threading.RLock()
#: A strong reference to that engine. pyttsx3 keeps it in a WeakValueDictionary;
#: if it were collected, the next init() would build a new driver, and the old
#: driver's __del__ (whenever the GC runs it) unregisters espeak's callback,
#: under the new driver's feet.
_PYTTSX3_ENGINE: Any = None


def _release_pyttsx3() -> None:
    """Drop the engine while the interpreter is still whole: left to module
    teardown, pyttsx3's DriverProxy.__del__ fails noisily ("'NoneType' object
    has no attribute 'suppress'")."""
    global _PYTTSX3_ENGINE
    if _PYTTSX3_LOCK.acquire(timeout=1.0):  # a daemon worker may be mid-synthesis
        try:
            _PYTTSX3_ENGINE = None
        finally:
            _PYTTSX3_LOCK.release()


atexit.register(_release_pyttsx3)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class SpeechError(RuntimeError):
    """Speech could not be produced or played; the reason is the message."""


# --- pure text functions ------------------------------------------------------------


def _clean(value: object) -> str:
    text = _CONTROL.sub(" ", str(value))
    text = " ".join(text.split())
    if len(text) > MAX_FIELD_CHARS:
        text = text[:MAX_FIELD_CHARS].rsplit(" ", 1)[0]
    return text


def _with_aliases(fields: Mapping[str, object]) -> dict[str, str]:
    values = {k: _clean(v) for k, v in fields.items() if v is not None}
    for a, b in FIELD_ALIASES:
        if a in values and b not in values:
            values[b] = values[a]
        elif b in values and a not in values:
            values[a] = values[b]
    return values


def render(template: str, **fields: object) -> str:
    """Fill ``template``'s ``{placeholders}`` from ``fields``.

    Lenient on purpose (an announcement beats a traceback): Indonesian and
    English placeholder names are aliases (``kategori``/``category``, ...); a
    missing or empty field is empty, and a comma-separated part of the template
    whose placeholders are all empty is left out, so "Desa {desa}" disappears
    when the village is unknown. Values lose control characters, runs of
    spaces, and are cut at :data:`MAX_FIELD_CHARS`. Format specs, conversions
    and attribute access are ignored (config and public text stay inert).
    """
    values = _with_aliases(fields)
    parts: list[str] = []
    for piece in _split_top_level_commas(template):
        out: list[str] = []
        names = 0
        filled = 0
        for literal, name, _spec, _conv in string.Formatter().parse(piece):
            out.append(literal)
            if name is None:
                continue
            names += 1
            value = values.get(name, "")
            filled += bool(value)
            out.append(value)
        if names and not filled:
            continue
        text = " ".join("".join(out).split())
        if text:
            parts.append(text)
    return ", ".join(parts)


def _split_top_level_commas(template: str) -> list[str]:
    """Split at commas outside ``{...}``; a malformed template stays whole."""
    pieces: list[str] = []
    depth = 0
    start = 0
    for i, ch in enumerate(template):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            pieces.append(template[start:i])
            start = i + 1
    pieces.append(template[start:])
    try:
        for piece in pieces:
            list(string.Formatter().parse(piece))
    except ValueError:
        return [template.replace("{", "{{").replace("}", "}}")]
    return pieces


def _is_acronym(word: str) -> bool:
    letters = [c for c in word if c.isalpha()]
    return bool(letters) and all(c.isupper() for c in letters)


def _key_norm(text: str) -> str:
    return " ".join(text.split())


@functools.lru_cache(maxsize=16)
def _compile(items: tuple[tuple[str, str], ...]) -> tuple[re.Pattern[str], dict[str, str], dict[str, str]]:
    exact: dict[str, str] = {}
    folded: dict[str, str] = {}
    alternatives: list[tuple[int, str]] = []
    for written, spoken in items:
        key = _key_norm(written)
        if not key:
            continue
        body = r"\s+".join(re.escape(w) for w in key.split())
        if _is_acronym(key):
            exact[key] = spoken
            alternatives.append((len(key), body))
        else:
            folded.setdefault(key.casefold(), spoken)
            alternatives.append((len(key), f"(?i:{body})"))
    # Longest first, so "Kayu Agung" wins over a shorter key inside it.
    alternatives.sort(key=lambda a: -a[0])
    pattern = "|".join(body for _, body in alternatives) or r"(?!x)x"
    return re.compile(rf"(?<!\w)(?:{pattern})(?!\w)"), exact, folded


def apply_pronunciation(text: str, mapping: Mapping[str, str]) -> str:
    """Replace whole words by their spoken form, in one pass (a replacement is
    never replaced again). All-capital keys (acronyms: BPBD, OKI, KM) match
    case-sensitively; other keys (Dinkes, Kayu Agung) ignore case, and spaces
    inside a key match any run of whitespace."""
    if not mapping or not text:
        return text
    regex, exact, folded = _compile(tuple(sorted(mapping.items())))

    def swap(m: re.Match[str]) -> str:
        found = _key_norm(m.group(0))
        return exact.get(found) or folded.get(found.casefold(), m.group(0))

    return regex.sub(swap, text)


def spell_letters(acronym: str, lang: str = "id") -> str:
    """An acronym spelled letter by letter (Indonesian or English names), for
    building pronunciation entries: ``spell_letters("BPBD") == "Be Pe Be De"``."""
    names = _LETTERS_ID if lang == "id" else {}
    return " ".join(names.get(c.upper(), c.upper()) for c in acronym if c.isalnum())


# Indonesian letter names, as people spell an acronym aloud.
_LETTERS_ID = {
    "A": "A", "B": "Be", "C": "Ce", "D": "De", "E": "E", "F": "Ef", "G": "Ge", "H": "Ha", "I": "I",
    "J": "Je", "K": "Ka", "L": "El", "M": "Em", "N": "En", "O": "O", "P": "Pe", "Q": "Ki", "R": "Er",
    "S": "Es", "T": "Te", "U": "U", "V": "Fe", "W": "We", "X": "Eks", "Y": "Ye", "Z": "Zet",
}  # fmt: skip


def speech_language(cfg: Config) -> str:
    """speech.language, or display.language when that is empty."""
    return cfg.speech.language or cfg.display.language


def announcement(speech: SpeechConfig, kind: str, lang: str, **fields: object) -> str:
    """The written text of an announcement (``kind``: incident, reminder,
    group, escalation) in ``lang``; ``priority`` values (high/medium/low) are
    put into words of that language. Show it on the wall; speak it through
    :meth:`SpeechWorker.say`, which applies the pronunciation list."""
    if kind not in ("incident", "reminder", "group", "escalation"):
        raise ValueError(f"unknown announcement kind {kind!r}")
    template: str = getattr(speech.for_language(lang), kind)
    values = dict(fields)
    for name in ("priority", "prioritas"):
        raw = values.get(name)
        if isinstance(raw, str):
            # The spoken word of a priority ("tinggi") from the speech catalog.
            strings = strings_for(lang if lang in LANGUAGES else "en")
            key = f"speech.priority.{raw}"
            values[name] = strings.t(key) if key in strings else raw
    return render(template, **values)


def incident_announcement(cfg: Config, incident: Any, lang: str | None = None) -> str:
    """The written announcement of a new incident (a commandcenter.core.model.Incident)."""
    lang = lang or speech_language(cfg)
    cat = cfg.category(incident.category)
    category = (cat.name_id if lang == "id" else cat.name_en) if cat else incident.category
    loc = incident.location
    kecamatan = loc.kecamatan
    if not kecamatan and loc.kecamatan_code and (d := cfg.district(loc.kecamatan_code)):
        kecamatan = d.name
    return announcement(
        cfg.speech,
        "incident",
        lang,
        category=category,
        priority=incident.priority,
        desa=loc.desa,
        kecamatan=kecamatan,
        km=loc.km_marker,
        ticket=incident.ticket,
    )


def spoken_form(speech: SpeechConfig, text: str, lang: str) -> str:
    # The written form isolates feed names (FSI..PDI): marks for the eye, not the voice.
    return apply_pronunciation(strip_controls(text), speech.for_language(lang).pronunciation)


# --- WAV helpers ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WavInfo:
    frames: int
    rate: int
    rms: float  # 0..1 of full scale

    @property
    def duration_s(self) -> float:
        return self.frames / self.rate if self.rate else 0.0


def wav_info(path: str | Path) -> WavInfo:
    """Length and loudness of a 16-bit PCM WAV (stdlib only)."""
    import array

    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise SpeechError(f"{path}: expected 16-bit samples, got {8 * w.getsampwidth()}-bit")
        frames = w.getnframes()
        rate = w.getframerate()
        raw = w.readframes(frames)
        channels = w.getnchannels()
    samples = array.array("h")
    samples.frombytes(raw[: len(raw) - len(raw) % 2])
    if sys.byteorder != "little":
        samples.byteswap()
    rms = math.sqrt(sum(s * s for s in samples) / len(samples)) / 32768.0 if samples else 0.0
    del channels  # getnframes() already counts frames, not samples
    return WavInfo(frames=frames, rate=rate, rms=rms)


def _wav_has_audio(path: Path) -> bool:
    try:
        with wave.open(str(path), "rb") as w:
            return w.getnframes() > 0
    except (OSError, EOFError, wave.Error):
        return False


def _wav_duration_s(path: Path) -> float | None:
    """A WAV's length from its header (None when it cannot be read)."""
    try:
        with wave.open(str(path), "rb") as w:
            rate = w.getframerate()
            return w.getnframes() / rate if rate else None
    except (OSError, EOFError, wave.Error):
        return None


# --- espeak-ng directly --------------------------------------------------------------


def espeak_program() -> str | None:
    return shutil.which("espeak-ng") or shutil.which("espeak")


def espeak_ng_save(text: str, path: str | Path, voice: str, rate_wpm: int, volume: float) -> None:
    """Write ``text`` to a WAV with the espeak-ng program. The fallback for
    when pyttsx3's save_to_file writes nothing (see the module docstring). The
    text goes through stdin: no argument-length limit, and a text starting with
    "-" cannot pass for an option."""
    exe = espeak_program()
    if exe is None:
        raise SpeechError("espeak-ng program not found (Debian package espeak-ng)")
    amplitude = str(round(max(0.0, min(1.0, volume)) * 100))  # espeak: 0..200, default 100
    cmd = [exe, "-v", voice, "-s", str(rate_wpm), "-a", amplitude, "-b", "1", "-w", str(path), "--stdin"]
    try:
        proc = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SpeechError(f"espeak-ng failed: {exc}") from exc
    if proc.returncode != 0 or not _wav_has_audio(Path(path)):
        detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise SpeechError(f"espeak-ng wrote no audio (exit {proc.returncode}): {' / '.join(detail[-2:])}")


@functools.lru_cache(maxsize=8)
def _espeak_voice_table(exe: str) -> tuple[tuple[str, str, str], ...]:
    """(language, name, file) of every voice espeak-ng knows."""
    proc = subprocess.run([exe, "--voices"], capture_output=True, timeout=20, check=False)
    rows = []
    for line in proc.stdout.decode("utf-8", "replace").splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 5:
            rows.append((cols[1].lower(), cols[3].lower(), cols[4].lower()))
    return tuple(rows)


def find_voice(voice: str) -> str | None:
    """The espeak-ng voice file matching ``voice`` (a language such as "id", a
    voice file such as "poz/id", or a voice name), or None. MBROLA voices are
    skipped: they need separately installed databases."""
    exe = espeak_program()
    if exe is None:
        return None
    want = voice.lower()
    for lang, name, file in _espeak_voice_table(exe):
        if file.startswith("mb/"):
            continue
        if want in (lang, name, file) or file.endswith("/" + want):
            return file
    return None


# --- players ---------------------------------------------------------------------------


def resolve_player(configured: list[str] | tuple[str, ...] = ()) -> list[str] | None:
    """The player command ("{file}" for the WAV): the configured one, else the
    first known player installed; None when there is none."""
    if configured:
        return list(configured)
    for cmd in PLAYERS:
        if shutil.which(cmd[0]):
            return list(cmd)
    return None


def _player_argv(player: list[str], path: Path) -> list[str]:
    return [arg.replace("{file}", str(path)) for arg in player]


def _last_line(data: bytes) -> str:
    lines = [ln.strip() for ln in data.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def probe_audio_output(player: list[str] | None, timeout: float = 5.0) -> tuple[bool, str]:
    """Play 50 ms of silence: the only reliable way to learn whether the
    player reaches an audio device (ALSA, PulseAudio and PipeWire each fail
    differently)."""
    if player is None:
        names = ", ".join(p[0] for p in PLAYERS)
        return False, f"no audio output: no audio player found ({names}) and speech.player is empty"
    with tempfile.TemporaryDirectory(prefix="oki-probe-") as tmp:
        path = Path(tmp) / "silence.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(22050)
            w.writeframes(b"\0\0" * 1102)
        try:
            proc = subprocess.run(
                _player_argv(player, path), capture_output=True, timeout=timeout, check=False
            )
        except FileNotFoundError:
            return False, f"no audio output: player {player[0]!r} not found"
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, f"no audio output: {player[0]} failed: {exc}"
    if proc.returncode != 0:
        why = _last_line(proc.stderr) or _last_line(proc.stdout) or f"exit status {proc.returncode}"
        return False, f"no audio output: {player[0]}: {why}"
    return True, f"audio output via {player[0]}"


# --- engines -----------------------------------------------------------------------------


class SpeechEngine(Protocol):
    """What the worker needs from a speech engine. Created by an engine
    factory on the worker thread; only ``interrupt`` is called from others."""

    def speak(self, text: str, lang: str, started: Callable[[], None]) -> bool:
        """Say ``text``; return True when it was said in full, False when
        ``interrupt`` cut it short. Call ``started()`` when audio begins.
        Raise SpeechError when it cannot be heard."""

    def synthesize(self, text: str, lang: str, path: Path) -> None:
        """Write ``text`` as a WAV to ``path``."""

    def interrupt(self) -> None:
        """Cut the current utterance short (any thread)."""

    def close(self) -> None: ...


EngineFactory = Callable[["SpeechConfig"], SpeechEngine]


def _driver_print(*args: object, **_: object) -> None:
    """pyttsx3's espeak driver prints "Audio saved to ..." for every file, from espeak's
    callback, which can run outside the redirect around runAndWait (seen under the demo's
    wall): its lines go to the log at debug level, never to the wall's stdout."""
    log.debug("pyttsx3: %s", " ".join(str(a) for a in args))


def _quiet_driver() -> None:
    driver = sys.modules.get("pyttsx3.drivers.espeak")
    if driver is not None:
        # A module-level name shadows the builtin for that module's code only.
        driver.print = _driver_print  # type: ignore[attr-defined]


#: A player gets an utterance's length x 1.5 plus this before it counts as hung.
PLAYER_MARGIN_S = 10.0
#: pyttsx3 results in a row without audio after which the engine leaves pyttsx3 to the
#: espeak-ng program for the rest of the process.
PYTTSX3_MAX_MISSES = 3
#: Seconds one pyttsx3 call gets (plus one per 50 characters) before it counts as hung.
#: Writing a WAV takes well under a second; espeak's runAndWait is known to hang for good
#: when its callback is stuck (seen: one writing into a file nobody reads).
PYTTSX3_TIMEOUT_S = 10.0
#: Set while a pyttsx3 call in this process has not returned: that call holds the shared
#: engine and its lock, so every engine uses the espeak-ng program until it does.
_PYTTSX3_STUCK = threading.Event()


class _Pyttsx3Hung(Exception):
    """A pyttsx3 call did not return in time (it is left running, see _PYTTSX3_STUCK)."""


def _pyttsx3_path(path: Path) -> Path:
    """Where pyttsx3 writes the WAV that becomes ``path`` once it holds audio."""
    return path.with_name(f"{path.stem}.pyttsx3{path.suffix}")


class Pyttsx3Engine:
    """pyttsx3 (espeak-ng) synthesis into a WAV, played by a player command
    whose exit status is checked. See the module docstring for why."""

    def __init__(self, cfg: SpeechConfig, *, player: list[str] | None = None) -> None:
        self.cfg = cfg
        self.player = player if player is not None else resolve_player(cfg.player)
        self._errors: list[BaseException] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._proc_lock = threading.Lock()
        self._interrupted = False
        self._utterances = 0
        self._pyttsx3_misses = 0  # pyttsx3 results in a row without audio
        self._tmp = Path(tempfile.mkdtemp(prefix="oki-speech-"))
        self._engine: Any = None
        self.init_error = ""
        self._pyttsx3_thread: threading.Thread | None = None
        try:
            import pyttsx3

            global _PYTTSX3_ENGINE
            # A hung pyttsx3 call holds the lock for good: never wait on it without a limit.
            if _PYTTSX3_STUCK.is_set() or not _PYTTSX3_LOCK.acquire(timeout=PYTTSX3_TIMEOUT_S):
                raise RuntimeError("an earlier pyttsx3 call never returned")
            try:
                if _PYTTSX3_ENGINE is None:
                    _PYTTSX3_ENGINE = pyttsx3.init()
                    _quiet_driver()
                self._engine = _PYTTSX3_ENGINE
                self._token = self._engine.connect("error", self._on_error)
            finally:
                _PYTTSX3_LOCK.release()
        except Exception as exc:  # ImportError, RuntimeError("could not initialize espeak"), ...
            # espeak-ng alone can still synthesise: keep going without pyttsx3.
            self.init_error = f"pyttsx3 unavailable: {exc}"
            log.warning("%s; using the espeak-ng program", self.init_error)

    def _on_error(self, exception: BaseException | None = None, **_: Any) -> None:
        self._errors.append(exception or SpeechError("pyttsx3 reported an error"))

    def voice_for(self, lang: str) -> str:
        return self.cfg.for_language(lang).voice

    def synthesize(self, text: str, lang: str, path: Path) -> None:
        voice = self.voice_for(lang)
        path = Path(path)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a stale file must not pass for fresh output
        if (self._engine is not None and self._pyttsx3_misses < PYTTSX3_MAX_MISSES
                and not _PYTTSX3_STUCK.is_set()):
            # pyttsx3 writes into a file of its own, moved into place once it holds audio:
            # its espeak callback can write after runAndWait returned, and a late write
            # into ``path`` would cut the espeak-ng fallback's file while it is played.
            side = _pyttsx3_path(path)
            with contextlib.suppress(FileNotFoundError):
                side.unlink()
            try:
                self._pyttsx3_save_bounded(text, voice, side)
            except SpeechError:
                raise  # pyttsx3 reported it (an unknown voice): espeak-ng would fail alike
            except _Pyttsx3Hung as exc:
                # Logged once where it was found; this utterance and the next ones are
                # the espeak-ng program's until the hung call returns.
                log.debug("%s", exc)
                espeak_ng_save(text, path, voice, self.cfg.rate_wpm, self.cfg.volume)
                return
            except Exception as exc:
                # A driver exception leaves pyttsx3's Engine._inLoop set, and every
                # later runAndWait() would then refuse with "run loop already started".
                log.warning("pyttsx3 failed (%s); falling back to the espeak-ng program", exc)
                with contextlib.suppress(AttributeError):
                    self._engine._inLoop = False
            if _wav_has_audio(side):
                os.replace(side, path)
                self._pyttsx3_misses = 0
                return
            self._pyttsx3_misses += 1
            if self._pyttsx3_misses < PYTTSX3_MAX_MISSES:
                log.warning("pyttsx3 wrote no audio to %s; falling back to the espeak-ng program", side)
            else:
                # Seen in the running wall: every announcement was synthesised twice and
                # logged a warning, for as long as the wall ran.
                log.warning("pyttsx3 wrote no audio %d times in a row; the espeak-ng program "
                            "speaks from now on (the same synthesiser)", PYTTSX3_MAX_MISSES)
        espeak_ng_save(text, path, voice, self.cfg.rate_wpm, self.cfg.volume)

    def _pyttsx3_save_bounded(self, text: str, voice: str, path: Path) -> None:
        """:meth:`_pyttsx3_save` in a thread of its own, given a time limit.

        A thread cannot be killed: a call that does not return in time is left running,
        the process uses the espeak-ng program until it returns, and the speech thread
        goes on. Before, a hung runAndWait held the speech thread, and every later
        announcement went unheard without a word."""
        limit = PYTTSX3_TIMEOUT_S + len(text) / 50
        outcome: list[BaseException | None] = []
        state = threading.Lock()
        done = threading.Event()
        late = False
        stdout = sys.stdout

        def run() -> None:
            nonlocal late
            started = time.monotonic()
            try:
                self._pyttsx3_save(text, voice, path)
                outcome.append(None)
            except BaseException as exc:  # handed to the waiting thread
                outcome.append(exc)
            finally:
                with state:
                    done.set()
                    if late:
                        _PYTTSX3_STUCK.clear()
                        log.warning("pyttsx3 returned after %.0f s; it is used again",
                                    time.monotonic() - started)

        thread = threading.Thread(target=run, name="pyttsx3", daemon=True)
        self._pyttsx3_thread = thread
        thread.start()
        done.wait(limit)
        with state:
            if not done.is_set():
                late = True
                _PYTTSX3_STUCK.set()
        if late:
            # Its redirect of stdout would swallow the process's own output while it hangs.
            if sys.stdout is not stdout:
                sys.stdout = stdout
            log.error("pyttsx3 did not return in %.0f s (espeak hung); the espeak-ng program "
                      "speaks until it does", limit)
            raise _Pyttsx3Hung(f"pyttsx3 did not return in {limit:.0f} s")
        if outcome and outcome[0] is not None:
            raise outcome[0]

    def _pyttsx3_save(self, text: str, voice: str, path: Path) -> None:
        with _PYTTSX3_LOCK:
            self._errors.clear()
            eng = self._engine
            # Properties are queued and applied inside runAndWait; set them every
            # time because the engine is shared with anyone else in the process.
            eng.setProperty("voice", voice)
            eng.setProperty("rate", self.cfg.rate_wpm)
            eng.setProperty("volume", self.cfg.volume)
            eng.save_to_file(text, str(path))
            sink = io.StringIO()
            # pyttsx3 2.99 prints "Audio saved to ..." for every file; keep the
            # wall's stdout clean (the lock makes the swap brief and serial).
            with contextlib.redirect_stdout(sink):
                eng.runAndWait()
            for line in sink.getvalue().splitlines():
                if line and not line.startswith("Audio saved to"):
                    log.info("pyttsx3: %s", line)
            if self._errors:
                err = self._errors[0]
                self._errors.clear()
                raise SpeechError(f"pyttsx3 failed (voice {voice!r}): {err}")

    def speak(self, text: str, lang: str, started: Callable[[], None]) -> bool:
        if self.player is None:
            raise SpeechError(probe_audio_output(None)[1])
        with self._proc_lock:
            # An interrupt meant for an earlier utterance must not eat this one.
            self._interrupted = False
        # A file of its own per utterance: pyttsx3's espeak callback can write its WAV after
        # runAndWait returned (then the espeak-ng program was used instead), and that late
        # write must not truncate the file a player is reading.
        self._utterances += 1
        path = self._tmp / f"utterance-{self._utterances}.wav"
        try:
            return self._play(text, lang, path, started)
        finally:
            for done in (path, _pyttsx3_path(path)):
                with contextlib.suppress(OSError):
                    done.unlink()

    def _play(self, text: str, lang: str, path: Path, started: Callable[[], None]) -> bool:
        player = self.player
        if player is None:
            raise SpeechError(probe_audio_output(None)[1])
        self.synthesize(text, lang, path)
        with self._proc_lock:
            if self._interrupted:
                return False  # cut short while synthesising
            try:
                self._proc = subprocess.Popen(
                    _player_argv(player, path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
                )
            except OSError as exc:
                raise SpeechError(f"no audio output: cannot start {player[0]}: {exc}") from exc
        started()
        proc = self._proc
        # A player that never returns (an audio server that hangs, a device that blocks)
        # would stop every later announcement without a word: it gets the utterance's length
        # and then some, and is then ended as a failure (the wall plays the tone and says so).
        duration = _wav_duration_s(path)
        limit = PLAYER_MARGIN_S * 6 if duration is None else duration * 1.5 + PLAYER_MARGIN_S
        hung = False
        try:
            _, err = proc.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            hung = True
            proc.kill()
            _, err = proc.communicate()
        with self._proc_lock:
            self._proc = None
            interrupted, self._interrupted = self._interrupted, False
        if hung:
            raise SpeechError(f"no audio output: {player[0]} did not finish in {limit:.0f} s; ended")
        if interrupted:
            return False
        if proc.returncode != 0:
            why = _last_line(err) or f"exit status {proc.returncode}"
            raise SpeechError(f"no audio output: {player[0]}: {why}")
        return True

    def interrupt(self) -> None:
        with self._proc_lock:
            self._interrupted = True
            if self._proc is not None and self._proc.poll() is None:
                self._proc.terminate()

    def close(self) -> None:
        self.interrupt()
        if self._engine is not None:
            # Not without a limit: a hung pyttsx3 call holds the lock (see _PYTTSX3_STUCK).
            if _PYTTSX3_LOCK.acquire(timeout=1.0):
                try:
                    with contextlib.suppress(Exception):
                        self._engine.disconnect(self._token)
                finally:
                    _PYTTSX3_LOCK.release()
            self._engine = None
        shutil.rmtree(self._tmp, ignore_errors=True)


def default_engine_factory(cfg: SpeechConfig) -> SpeechEngine:
    return Pyttsx3Engine(cfg)


def synthesize(
    text: str, path: str | Path, lang: str, cfg: SpeechConfig, *, engine_factory: EngineFactory | None = None
) -> WavInfo:
    """Write the spoken form's WAV in the calling thread (CLI, tests) and
    return its length and loudness. ``text`` is used as given: apply the
    pronunciation list first (:func:`spoken_form`)."""
    engine = (engine_factory or default_engine_factory)(cfg)
    try:
        engine.synthesize(text, lang, Path(path))
    finally:
        engine.close()
    return wav_info(path)


def check_available(
    cfg: SpeechConfig, lang: str, *, player: list[str] | None = None, probe_audio: bool = True
) -> tuple[bool, str]:
    """Whether speech in ``lang`` can be heard, and why not. Blocking (runs
    espeak-ng and the player for a moment): call it off the GUI thread.

    The reason starts with "no voice:", "no audio output:" or "speech
    disabled" when the answer is no; the wall shows it and uses tones only.
    """
    if not cfg.enabled:
        return False, "speech disabled (speech.enabled = false)"
    voice = cfg.for_language(lang).voice
    exe = espeak_program()
    if exe is None:
        return False, "no voice: espeak-ng is not installed (Debian package espeak-ng)"
    file = find_voice(voice)
    if file is None:
        return False, (
            f"no voice: espeak-ng has no voice {voice!r} for language {lang!r} "
            f"(see `espeak-ng --voices`; set speech.{lang}.voice)"
        )
    if probe_audio:
        ok, why = probe_audio_output(player if player is not None else resolve_player(cfg.player))
        if not ok:
            return False, why
        return True, f"speech ready: espeak-ng voice {file}, {why}"
    return True, f"speech ready: espeak-ng voice {file}"


# --- the worker --------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class SpeechItem:
    """One announcement. ``text`` is the written form (for the screen),
    ``spoken`` what the engine is given (pronunciation list applied)."""

    text: str
    spoken: str
    priority: Priority
    lang: str
    key: str | None
    seq: int
    enqueued_at: float = field(default_factory=time.monotonic)
    started_at: float | None = None
    finished_at: float | None = None
    #: Cancelled (cancel(key)) while being spoken: reported as dropped.
    cancelled: bool = False
    #: Cut short by a more urgent announcement: goes back into the queue.
    preempted: bool = False

    @property
    def latency_s(self) -> float | None:
        """From say() (or the latest merge into this item) to audio start."""
        return None if self.started_at is None else self.started_at - self.enqueued_at


@dataclass(slots=True, eq=False)
class _SaveJob:
    text: str
    path: Path
    lang: str
    done: threading.Event = field(default_factory=threading.Event)
    result: WavInfo | None = None
    error: BaseException | None = None


ItemCallback = Callable[[SpeechItem], None]
FailCallback = Callable[[SpeechItem, BaseException], None]
DropCallback = Callable[[SpeechItem, str], None]


def _noop(*_: object) -> None:
    return None


class SpeechWorker:
    """One daemon thread owning the speech engine, fed by a priority queue.

    - ``say(text, priority, key)``: high before medium before low, FIFO
      within a priority. A key already waiting is merged (newest text, higher
      priority, original place in line); a key being spoken is not queued again.
    - A more urgent announcement cuts a less urgent one short (an utterance
      lasts seconds; the wall's target is speech within 1 s); the interrupted
      one goes back to the head of its priority and is said again in full,
      with a second ``on_started``.
    - Callbacks run on the worker thread: ``on_started(item)`` when audio
      begins, ``on_finished(item)``, ``on_failed(item, error)`` when it could
      not be heard (play the tone instead), ``on_dropped(item, reason)`` when
      it was cancelled, stale, or pushed out of a full queue.
    """

    def __init__(
        self,
        cfg: SpeechConfig,
        *,
        language: str = "id",
        engine_factory: EngineFactory | None = None,
        on_started: ItemCallback | None = None,
        on_finished: ItemCallback | None = None,
        on_failed: FailCallback | None = None,
        on_dropped: DropCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg = cfg
        self.language = language if language in LANGUAGES else "id"
        self._factory = engine_factory or default_engine_factory
        self.on_started: ItemCallback = on_started or _noop
        self.on_finished: ItemCallback = on_finished or _noop
        self.on_failed: FailCallback = on_failed or _noop
        self.on_dropped: DropCallback = on_dropped or _noop
        self._clock = clock
        self._cond = threading.Condition()
        self._queue: list[SpeechItem] = []
        self._saves: deque[_SaveJob] = deque()
        self._current: SpeechItem | None = None
        self._seq = itertools.count()
        self._stopping = False
        self._engine: SpeechEngine | None = None
        self._engine_error: BaseException | None = None
        self._last_failure = ""  # the last speech error, logged once per kind
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self, timeout: float = 10.0) -> SpeechWorker:
        """Start the thread and wait until the engine exists (or failed)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="speech", daemon=True)
            self._thread.start()
        self._ready.wait(timeout)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop speaking, drop what waits, end the thread."""
        with self._cond:
            self._stopping = True
            pending, self._queue = self._queue, []
            saves, self._saves = list(self._saves), deque()
            self._cond.notify_all()
        if self._engine is not None:
            self._engine.interrupt()
        for job in saves:
            job.error = SpeechError("speech worker stopped")
            job.done.set()
        for item in pending:
            self._call(self.on_dropped, item, "stopped")
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def __enter__(self) -> SpeechWorker:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stopping

    @property
    def engine_error(self) -> BaseException | None:
        return self._engine_error

    # -- queue

    def say(
        self, text: str, priority: Priority = "medium", key: str | None = None, lang: str | None = None
    ) -> SpeechItem | None:
        """Queue ``text`` (written form). Returns the queued item (a merged
        one when ``key`` was waiting), or None when it was not queued (key
        being spoken now, queue full of more urgent items, stopped)."""
        if priority not in PRIORITY_RANK:
            raise ValueError(f"unknown priority {priority!r}")
        lang = lang if lang in LANGUAGES else self.language
        spoken = spoken_form(self.cfg, text, lang)
        dropped: list[tuple[SpeechItem, str]] = []
        with self._cond:
            if self._stopping:
                return None
            if key is not None and self._current is not None and self._current.key == key:
                log.debug("speech: %s is being spoken now; not queued again", key)
                return None
            existing = next((i for i in self._queue if key is not None and i.key == key), None)
            if existing is not None:
                existing.text, existing.spoken, existing.lang = text, spoken, lang
                existing.enqueued_at = self._clock()  # fresh content: not stale
                if PRIORITY_RANK[priority] < PRIORITY_RANK[existing.priority]:
                    existing.priority = priority
                item = existing
            else:
                item = SpeechItem(text, spoken, priority, lang, key, next(self._seq), self._clock())
                self._queue.append(item)
                while len(self._queue) > self.cfg.max_queue:
                    worst = max(self._queue, key=lambda i: (PRIORITY_RANK[i.priority], i.seq))
                    self._queue.remove(worst)
                    dropped.append((worst, "queue full"))
            cur = self._current
            preempt = (
                cur is not None
                and not cur.preempted
                and PRIORITY_RANK[item.priority] < PRIORITY_RANK[cur.priority]
                and not any(v is item for v, _ in dropped)
            )
            if preempt and cur is not None:
                cur.preempted = True
            self._cond.notify_all()
        if preempt and self._engine is not None:
            self._engine.interrupt()
        for victim, reason in dropped:
            self._call(self.on_dropped, victim, reason)
        return None if any(v is item for v, _ in dropped) else item

    def cancel(self, key: str) -> bool:
        """Forget the announcement with ``key`` (an alert acknowledged): drop
        it from the queue, or cut it short if it is being spoken."""
        with self._cond:
            waiting = [i for i in self._queue if i.key == key]
            for item in waiting:
                self._queue.remove(item)
            speaking = self._current is not None and self._current.key == key
            if speaking and self._current is not None:
                self._current.cancelled = True
        for item in waiting:
            self._call(self.on_dropped, item, "cancelled")
        if speaking and self._engine is not None:
            self._engine.interrupt()
        return bool(waiting) or speaking

    def pending(self) -> list[SpeechItem]:
        """Waiting items in the order they will be spoken."""
        with self._cond:
            return sorted(self._queue, key=_order)

    @property
    def current(self) -> SpeechItem | None:
        return self._current

    # -- files and status

    def save(self, text: str, path: str | Path, lang: str | None = None, timeout: float = 60.0) -> WavInfo:
        """Write what the wall would say (pronunciation applied) to a WAV.

        On a running worker the job runs on the worker thread, which owns the
        engine (after the utterance in progress, before the queue); otherwise
        a fresh engine from the factory does it in the calling thread (pyttsx3
        access is serialised by a process-wide lock either way)."""
        lang = lang if lang in LANGUAGES else self.language
        spoken = spoken_form(self.cfg, text, lang)
        if not self.running or threading.current_thread() is self._thread:
            return synthesize(spoken, path, lang, self.cfg, engine_factory=self._factory)
        job = _SaveJob(spoken, Path(path), lang)
        with self._cond:
            self._saves.append(job)
            self._cond.notify_all()
        if not job.done.wait(timeout):
            raise SpeechError(f"saving speech timed out after {timeout:g} s")
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def available(self, lang: str | None = None, *, probe_audio: bool = True) -> tuple[bool, str]:
        """(True, description) when speech can be heard in ``lang``; else
        (False, reason). Blocking for a moment; not on the GUI thread."""
        if self._engine_error is not None:
            return False, f"no speech engine: {self._engine_error}"
        lang = lang if lang in LANGUAGES else self.language
        player = getattr(self._engine, "player", None)
        return check_available(self.cfg, lang, player=player, probe_audio=probe_audio)

    # -- the thread

    def _run(self) -> None:
        try:
            self._engine = self._factory(self.cfg)
        except Exception as exc:
            log.exception("speech engine could not start")
            self._engine_error = exc
        finally:
            self._ready.set()
        try:
            while True:
                with self._cond:
                    while not self._stopping and not self._queue and not self._saves:
                        self._cond.wait()
                    if self._stopping:
                        return
                    if self._saves:
                        job: _SaveJob | None = self._saves.popleft()
                        item = None
                    else:
                        job = None
                        item = min(self._queue, key=_order)
                        self._queue.remove(item)
                        self._current = item
                if job is not None:
                    self._do_save(job)
                elif item is not None:
                    try:
                        self._do_say(item)
                    finally:
                        with self._cond:
                            self._current = None
        finally:
            if self._engine is not None:
                with contextlib.suppress(Exception):
                    self._engine.close()

    def _do_save(self, job: _SaveJob) -> None:
        try:
            if self._engine is None:
                raise SpeechError(f"no speech engine: {self._engine_error}")
            self._engine.synthesize(job.text, job.lang, job.path)
            job.result = wav_info(job.path)
        except Exception as exc:
            job.error = exc
        finally:
            job.done.set()

    def _do_say(self, item: SpeechItem) -> None:
        if self._clock() - item.enqueued_at > self.cfg.max_age_s:
            self._call(self.on_dropped, item, "stale")
            return
        if self._engine is None:
            self._call(self.on_failed, item, SpeechError(f"no speech engine: {self._engine_error}"))
            return

        def started() -> None:
            if item.started_at is None:
                item.started_at = self._clock()
                self._call(self.on_started, item)

        try:
            completed = self._engine.speak(item.spoken, item.lang, started)
        except Exception as exc:
            # A wall without audio would log this every few seconds for months:
            # the first of a kind is a warning, repeats of it are debug (the
            # screens show "TANPA AUDIO" meanwhile).
            reason = str(exc)
            same = reason == self._last_failure
            self._last_failure = reason
            log.log(logging.DEBUG if same else logging.WARNING, "speech failed for %r: %s", item.text, exc)
            self._call(self.on_failed, item, exc)
            return
        # Only an utterance played in full proves the output works: one cut short (stop,
        # preemption, an acknowledgement) may have ended a player that was failing anyway.
        if completed and self._last_failure:
            log.warning("speech works again (after: %s)", self._last_failure)
            self._last_failure = ""
        if not completed and item.cancelled:
            self._call(self.on_dropped, item, "cancelled")
            return
        if not completed and item.preempted:
            # Said again in full after the more urgent one; its original seq
            # puts it first among its priority.
            item.preempted = False
            item.started_at = None
            with self._cond:
                if not self._stopping:
                    self._queue.append(item)
            return
        # Said in full (or cut short by stop()): a late cancel or preemption is moot.
        item.cancelled = item.preempted = False
        started()  # an engine that never said so still started
        item.finished_at = self._clock()
        self._call(self.on_finished, item)

    @staticmethod
    def _call(callback: Callable[..., None], *args: object) -> None:
        try:
            callback(*args)
        except Exception:
            log.exception("speech callback %r failed", callback)


def _order(item: SpeechItem) -> tuple[int, int]:
    return PRIORITY_RANK[item.priority], item.seq


# --- the `commandcenter say` command -----------------------------------------------------


def say_main(
    lang: str,
    out: str,
    text: str,
    cfg: Config | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """``commandcenter say --lang id --out FILE.wav "text"``: write what the
    wall would say (pronunciation list applied) and print the spoken form and
    the duration. Exit status 0, or 1 with a one-line reason."""
    so = stdout or sys.stdout
    se = stderr or sys.stderr
    if lang not in LANGUAGES:
        se.write(f"error: --lang must be one of {', '.join(LANGUAGES)}, not {lang!r}\n")
        return 2
    if not text.strip():
        se.write("error: nothing to say (empty text)\n")
        return 2
    if cfg is None:
        from commandcenter.config import ConfigError, load_config

        try:
            cfg = load_config()
        except ConfigError as exc:
            se.write(f"config error: {exc}\n")
            return 1
    speech = cfg.speech
    spoken = spoken_form(speech, text, lang)
    voice = speech.for_language(lang).voice
    if espeak_program() is not None and find_voice(voice) is None:
        se.write(f"error: espeak-ng has no voice {voice!r} for {lang!r} (see `espeak-ng --voices`)\n")
        return 1
    target = Path(out)
    try:
        if target.parent and not target.parent.is_dir():
            raise SpeechError(f"directory {target.parent} does not exist")
        info = synthesize(spoken, target, lang, speech)
    except (SpeechError, OSError) as exc:
        se.write(f"error: {exc}\n")
        return 1
    so.write(f"spoken: {spoken}\n")
    so.write(
        f"wrote {target} ({info.duration_s:.2f} s, {info.rate} Hz, voice {voice}, {speech.rate_wpm} wpm)\n"
    )
    if info.rms < 1e-3:
        se.write(f"warning: {target} is silent\n")
        return 1
    return 0


__all__ = [
    "FIELD_ALIASES",
    "LANGUAGES",
    "PLAYERS",
    "EngineFactory",
    "Pyttsx3Engine",
    "SpeechEngine",
    "SpeechError",
    "SpeechItem",
    "SpeechWorker",
    "WavInfo",
    "announcement",
    "apply_pronunciation",
    "check_available",
    "default_engine_factory",
    "espeak_ng_save",
    "find_voice",
    "incident_announcement",
    "probe_audio_output",
    "render",
    "resolve_player",
    "say_main",
    "speech_language",
    "spell_letters",
    "spoken_form",
    "synthesize",
    "wav_info",
]
