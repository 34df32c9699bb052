"""A recording session: prompts word by word, keeps the good clips, then collects talk.

No audio I/O and no terminal here: `feed(chunk)` takes microphone audio, `command(key)` the
person's keys, and both return `Event`s for a UI to show (kws_edge/record_ui.py). The clock is
the count of samples fed, as in the cutter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .labels import SAMPLE_RATE
from .record_cutter import RECORD_MIN_DBFS, Cut, CutterOptions, FrameDcRemover, UtteranceCutter, is_phrase
from .record_store import TALK_FOLDER, DatasetDir
from .record_texts import KEYWORD_ROW_SEP, texts_for, tokens
from .vad import EnergyVad, VadOptions

KEYS_HELP = "r replay · d delete last · n next · b back · q quit"


@dataclass
class Event:
    """Something to tell the person. kind: prompt | kept | rejected | extra | silence | deleted |
    replay | word-done | text | talk | done | info."""

    kind: str
    message: str
    word: str | None = None
    path: Path | None = None
    cut: Cut | None = None
    audio: np.ndarray | None = None  # replay: what to play


@dataclass
class Status:
    """What a live display shows."""

    phase: str = "words"  # words | talk | done
    word: str = ""
    word_index: int = 0
    words: int = 0
    count: int = 0
    target: int = 0
    level_dbfs: float = -120.0
    peak_dbfs: float = -120.0
    floor_dbfs: float = -120.0
    hearing: bool = False
    text: str = ""
    talk_seconds: float = 0.0
    talk_target: float = 0.0
    seconds: float = 0.0
    last: list[str] = field(default_factory=list)


class WordRecorder:
    """Prompts each unfinished word in turn and keeps `count` clean clips of it."""

    def __init__(self, store: DatasetDir, words: list[str], count: int,
                 options: CutterOptions | None = None, silence_seconds: float = 10.0,
                 reaction_ms: int = 1200) -> None:
        self.store = store
        self.words = words
        self.target = count
        self.counts = {w: store.count(w) for w in words}
        self.cutter = UtteranceCutter(options)
        self.rate = self.cutter.rate
        self.silence = int(silence_seconds * self.rate)
        # Utterances starting within this long after a new prompt still belong to the old word:
        # the prompt changes half a second after the last word ends (when its clip is cut), and
        # a person in the rhythm of repeating says the old word once more before reading it.
        self.reaction = reaction_ms * self.rate // 1000
        self.index = -1
        self.changed_at = -self.reaction  # stream sample of the last prompt change
        self._quiet_since = 0
        self._quiet_peak = -120.0  # loudest block since the last word or silence message
        self._speech_seen = 0
        self._kept: list[tuple[str, Path, np.ndarray]] = []  # this session's clips, newest last
        self.done = False

    @property
    def word(self) -> str:
        return self.words[self.index] if 0 <= self.index < len(self.words) else ""

    def start(self) -> list[Event]:
        return self._advance(0)

    def _advance(self, start: int, step: int = 1) -> list[Event]:
        """Prompt the first unfinished word from `start` on (backwards with step -1)."""
        i = start
        while 0 <= i < len(self.words) and self.counts[self.words[i]] >= self.target:
            i += step
        if not 0 <= i < len(self.words):
            if step < 0:
                return [Event("info", "no earlier word left to record")]
            self.index = len(self.words)
            self.done = True
            full = sum(self.counts[w] >= self.target for w in self.words)
            if full < len(self.words):  # `n` past the last word, some words still short
                return [Event("done", f"past the last word: {full} of {len(self.words)} words have "
                                      f"{self.target} clips (run again to record the rest)")]
            every = "the word has" if len(self.words) == 1 else f"all {len(self.words)} words have"
            return [Event("done", f"{every} {self.target} clips")]
        if self.index >= 0:
            self.changed_at = self.cutter.samples
        if i != self.index:
            self.cutter.new_word(phrase=is_phrase(self.words[i]))
        self.index = i
        self._quiet_since = self.cutter.samples
        w = self.word
        left = self.target - self.counts[w]
        return [Event("prompt", f"say '{w}' {left} more time{'s' if left > 1 else ''} "
                                f"({self.counts[w]}/{self.target}), with a pause after each", word=w)]

    def feed(self, chunk: np.ndarray) -> list[Event]:
        events: list[Event] = []
        for cut in self.cutter.process(chunk):
            events += self._on_cut(cut)
        now = self.cutter.samples
        quiet_from = max(self.cutter.last_speech, self._quiet_since)
        if self.cutter.last_speech != self._speech_seen:  # speech since: a new quiet stretch
            self._speech_seen, self._quiet_peak = self.cutter.last_speech, -120.0
        self._quiet_peak = max(self._quiet_peak, self.cutter.peak_dbfs)
        if not self.done and now - quiet_from >= self.silence:
            self._quiet_since = now
            events.append(Event("silence", self._silence_message(), word=self.word))
            self._quiet_peak = -120.0
        return events

    def _silence_message(self) -> str:
        secs = self.silence / self.rate
        # The loudest block of the whole quiet stretch: speech too quiet to count as a word is not
        # "digital silence", even if the last block was.
        if self._quiet_peak <= -110:
            return (f"silence: the input has been digital silence for {secs:.0f} s "
                    "(a muted or disconnected microphone?)")
        return (f"silence: no word heard for {secs:.0f} s (input level {self.cutter.level_dbfs:.0f} dBFS, "
                f"loudest {self._quiet_peak:.0f} dBFS): say '{self.word}', louder or closer if you did, "
                "or check the microphone")

    def _on_cut(self, cut: Cut) -> list[Event]:
        if self.done:
            return []
        if cut.onset < self.changed_at + self.reaction:
            # Said before the person could read the new prompt: the previous word, once too often.
            return [Event("extra", f"{cut.span()}: said as the prompt changed, not kept", cut=cut)]
        w = self.word
        if not cut.kept:
            return [Event("rejected", f"{cut.span()}: not kept: {cut.describe()}", word=w, cut=cut)]
        path = self.store.add(w, cut.audio)
        self.counts[w] += 1
        self._kept.append((w, path, cut.audio))
        rel = f"{w}/{path.name}"
        events = [Event("kept", f"{rel}  kept  ({cut.span()}, loudest {cut.peak_dbfs:.0f} dBFS)  "
                                f"{self.counts[w]}/{self.target}", word=w, path=path, cut=cut)]
        if self.counts[w] >= self.target:
            events.append(Event("word-done", f"'{w}' done: {self.counts[w]} clips", word=w))
            events += self._advance(self.index + 1)
        return events

    def command(self, key: str) -> list[Event]:
        if key == "r":
            if not self._kept:
                return [Event("info", "no clip recorded in this session yet")]
            w, path, audio = self._kept[-1]
            # The microphone hears the replay: utterances starting while it plays are not cut.
            self.cutter.ignore_until(self.cutter.samples + len(audio) + self.rate // 2)
            return [Event("replay", f"replaying {w}/{path.name}", word=w, path=path, audio=audio)]
        if key == "d":
            if not self._kept:
                return [Event("info", "nothing to delete: only clips of this session can be deleted here")]
            w, path, _ = self._kept.pop()
            self.store.remove(path)
            self.counts[w] -= 1
            if w == self.word:
                self.cutter.forget_last_take()
            events = [Event("deleted", f"deleted {w}/{path.name} ({self.counts[w]}/{self.target})",
                            word=w, path=path)]
            if w != self.word or self.done:
                self.done = False
                events += self._advance(self.words.index(w))
            return events
        if key == "n":
            return self._advance(self.index + 1) if not self.done else []
        if key == "b":
            return self._advance(self.index - 1, step=-1) if self.index > 0 else []
        return []

    def flush(self) -> list[Event]:
        events: list[Event] = []
        for cut in self.cutter.flush(stopped=True):  # a microphone ends only when it is stopped
            events += self._on_cut(cut)
        return events


# A row read through without a pause holds about this much speech (s) a word, or more.
ROW_WORD_SPEECH = 0.35
# A row left unfinished for this long (s) is kept as far as it was read, and the next text shown:
# longer than the pause a person leaves between its words.
ROW_GIVE_UP_S = 5.0


class TalkRecorder:
    """Shows texts to read aloud and keeps what the person says, one file per text, until
    `target_seconds` of talk are in `DIR/_talk/`.

    A text is done once it has been spoken (at least `min_speech` s of speech) and the person
    paused `pause` s; its file runs from just before the first speech to just after the last."""

    def __init__(self, store: DatasetDir, target_seconds: float, avoid: list[str],
                 rate: int = SAMPLE_RATE, pause: float = 1.5, min_speech: float = 1.5,
                 pad: float = 0.3, max_piece: float = 30.0, reaction_ms: int = 1200) -> None:
        self.store = store
        # As WordRecorder's: speech starting this soon after the talk begins is the last word said
        # once more (the talk follows the last word's last clip at once).
        self.reaction = reaction_ms * rate // 1000
        self._ignoring = False
        self._ignore_until = 0
        self.rate = rate
        self.target = target_seconds
        self.seconds = store.talk_seconds()
        self.texts = texts_for(avoid)
        # A rerun goes on with the next texts instead of the same ones.
        self.text_index = store.talk_pieces() % len(self.texts)
        self.pause, self.min_speech, self.pad = int(pause * rate), int(min_speech * rate), int(pad * rate)
        self.max_piece = int(max_piece * rate)
        self._vad = EnergyVad(VadOptions(hangover_ms=300, min_level_dbfs=RECORD_MIN_DBFS), rate)
        self._dc = FrameDcRemover(self._vad.frame_samples)
        self.samples = 0
        self.level_dbfs = -120.0
        self._reset_piece()
        self._text_earlier = 0  # utterances of the text shown in its earlier files (a long row fills two)
        self._kept: list[tuple[Path, np.ndarray]] = []
        self.done = self.seconds >= self.target

    def _reset_piece(self) -> None:
        self._chunks: list[np.ndarray] = []
        self._piece_start = self.samples
        self._speech = 0
        self._utterances = 0
        self._waited_after: int | None = None  # where the speech before a row's latest pause ended
        self._pauses = 0  # a row's pauses so far
        self._first: int | None = None
        self._last = 0

    def _row_read(self) -> bool | None:
        """For a row of single words, at a pause: whether it has been read. Said alone, as asked,
        it has as many utterances as words; read through in one go, its first pause comes at its
        end, with its words' worth of speech (two words run together, or one left out: the pause
        goes on to ROW_GIVE_UP_S). None for a sentence."""
        words = tokens(self.text) if KEYWORD_ROW_SEP in self.text else []
        if not words:
            return None
        if self._waited_after != self._last:  # a new pause (this is called again as it goes on)
            self._waited_after = self._last
            self._pauses += 1
        return self._text_earlier + self._utterances >= len(words) or (
            self._pauses == 1 and self._speech >= len(words) * ROW_WORD_SPEECH * self.rate)

    @property
    def text(self) -> str:
        return self.texts[self.text_index]

    @property
    def in_speech(self) -> bool:
        return self._vad.in_speech

    def start(self, after_words: bool = False) -> list[Event]:
        """The first text; `after_words`: the talk follows the last word's last clip at once."""
        if self.target <= 0:
            return [Event("done", f"no talk recorded ({TALK_FOLDER}/ holds {self.seconds:.0f} s)")]
        if self.done:
            return [Event("done", f"{TALK_FOLDER}/ already holds {self.seconds:.0f} s of talk")]
        if after_words:
            self._ignore_until = self.samples + self.reaction
        return [Event("info", f"now some talk that is no keyword, about {self.target - self.seconds:.0f} s: "
                              "read each text aloud at your normal pace"), self._show()]

    def _show(self) -> Event:
        return Event("text", f"read aloud: {self.text}")

    def feed(self, chunk: np.ndarray) -> list[Event]:
        # Pauses are judged every 100 ms at most, so a file read in 1-s chunks splits like a microphone.
        step = self.rate // 10
        if len(chunk) > step:
            return [e for i in range(0, len(chunk), step) for e in self.feed(chunk[i:i + step])]
        raw = np.asarray(chunk, np.float32)
        before = self._vad.frames_done
        was_speech = self._vad.in_speech
        flags = self._vad.process(self._dc.process(raw))
        self.level_dbfs = 10.0 * np.log10(float(np.var(raw, dtype=np.float64)) + 1e-12)
        self._chunks.append(raw)
        self.samples += len(raw)
        fs = self._vad.frame_samples
        if self._first is None and flags.any() and (before + int(np.argmax(flags))) * fs < self._ignore_until:
            self._ignoring = True
        if self._ignoring:
            if self.in_speech:
                return []
            self._ignoring = False
            self._reset_piece()
            return [Event("extra", "said as the talk began, not kept as talk")]
        if flags.any():
            idx = np.flatnonzero(flags)
            if self._first is None:
                self._first = (before + int(idx[0])) * fs
            self._last = (before + int(idx[-1]) + 1) * fs
            self._speech += len(idx) * fs
            onsets = np.diff(np.concatenate([[was_speech], flags]).astype(np.int8)) > 0
            self._utterances += int(np.count_nonzero(onsets))
        if self.done:
            return []
        spoken = self._speech >= self.min_speech
        paused = self._first is not None and self.samples - self._last >= self.pause and not self.in_speech
        row_read = self._row_read() if paused else None
        if row_read is not None:
            # A row's words are said alone, as asked, however long the pause after each: the text
            # moves on once the row has been read (or the person stopped reading it).
            if row_read:
                return self._finish_text(advance=True)
            if self.samples - self._last < ROW_GIVE_UP_S * self.rate:
                return []
            if self._text_earlier + self._utterances >= 2:
                return self._finish_text(advance=True)
            # One word, then silence: most often a keyword said once more, as for a sentence.
            self._reset_piece()
            return [Event("extra", "one word alone, not kept as talk: say the row's words, one after "
                                   "the other")]
        if spoken and paused:
            return self._finish_text(advance=True)
        if paused:
            # A word or two, then a pause, before the text was read: most often a keyword said once
            # more as the talk began, which must not be taught as "no keyword".
            self._reset_piece()
            return [Event("extra", "a word or two alone, not kept as talk: read the text aloud")]
        if self.samples - self._piece_start >= self.max_piece:
            return self._finish_text(advance=False)
        return []

    def _finish_text(self, advance: bool) -> list[Event]:
        events = self._save()
        self._text_earlier = 0 if advance else self._text_earlier + self._utterances
        if advance:
            self.text_index = (self.text_index + 1) % len(self.texts)
        self._reset_piece()
        if self.seconds >= self.target:
            self.done = True
            events.append(Event("done", f"{TALK_FOLDER}/ holds {self.seconds:.0f} s of talk: enough"))
        elif advance:
            events.append(self._show())
        return events

    def _save(self) -> list[Event]:
        if self._first is None or self._speech < self.rate // 2:
            return []
        audio = np.concatenate(self._chunks)
        a = max(0, self._first - self.pad - self._piece_start)
        # The VAD's speech ends a hang-over after the voice does.
        hang = self._vad.hangover_frames * self._vad.frame_samples
        b = min(len(audio), self._last - hang + self.pad - self._piece_start)
        piece = audio[a:b] - np.float32(audio[a:b].mean(dtype=np.float64))  # a microphone's DC offset
        same = self.store.same_clip(TALK_FOLDER, piece)
        if same is not None:
            # `kws-record --talk --input F` run again on F: the talk is there already.
            return [Event("same", f"not kept: the same talk as {TALK_FOLDER}/{same.name} (cut before)")]
        path = self.store.add_talk(piece)
        self._kept.append((path, piece))
        secs = len(piece) / self.rate
        self.seconds += secs
        peak = float(np.max(np.abs(piece)))
        note = "  (clipped in places: speak a little softer)" if peak >= 0.98 else ""
        # Whole seconds rounded down: 19.9 s of a 20-s target is not "20/20" while a text is still asked for.
        total = f"{math.floor(self.seconds)}" + ("" if math.isinf(self.target) else f"/{self.target:.0f}")
        return [Event("talk", f"{TALK_FOLDER}/{path.name}  kept  ({secs:.1f} s; {total} s of talk){note}",
                      path=path)]

    def command(self, key: str) -> list[Event]:
        if key == "n":
            return self._finish_text(advance=True)
        if key == "d" and self._kept:
            path, audio = self._kept.pop()
            self.store.remove(path)
            self.seconds -= len(audio) / self.rate
            self.done = False
            return [Event("deleted", f"deleted {TALK_FOLDER}/{path.name} ({self.seconds:.0f}/"
                                     f"{self.target:.0f} s of talk)", path=path)]
        return []

    def flush(self) -> list[Event]:
        return [] if self.done else self._save()


class RecordSession:
    """The words, then the talk: one `feed`/`command` for the whole run."""

    def __init__(self, words: WordRecorder | None, talk: TalkRecorder | None) -> None:
        self.words = words
        self.talk = talk
        self.phase = "words" if words is not None else "talk"
        self.last: list[str] = []
        self.quit = False  # `q` ended the run, not the last word and the talk

    @property
    def done(self) -> bool:
        return self.phase == "done"

    def start(self) -> list[Event]:
        if self.words is not None:
            return self._next_phase(self.words.start())
        return self._next_phase(self.talk.start() if self.talk is not None else [])

    def _next_phase(self, events: list[Event]) -> list[Event]:
        if self.phase == "words" and (self.words is None or self.words.done):
            self.phase = "talk"
            if self.talk is not None:
                events += self.talk.start(after_words=True)
        if self.phase == "talk" and (self.talk is None or self.talk.done):
            self.phase = "done"
        self._remember(events)
        return events

    def feed(self, chunk: np.ndarray) -> list[Event]:
        if self.phase == "words":
            events = self.words.feed(chunk)
        elif self.phase == "talk":
            events = self.talk.feed(chunk)
        else:
            return []
        return self._next_phase(events)

    def command(self, key: str) -> list[Event]:
        if key == "q":
            self.phase, self.quit = "done", True
            return [Event("info", "quit")]
        if self.phase == "words":
            events = self.words.command(key)
        elif self.phase == "talk":
            events = self.talk.command(key)
        else:
            events = []
        return self._next_phase(events)

    def flush(self) -> list[Event]:
        """End of the run (quit, Ctrl-C, end of input): keep what is pending."""
        events: list[Event] = []
        if self.phase in ("words", "done") and self.words is not None and not self.words.done:
            events += self.words.flush()
        if self.phase in ("talk", "done") and self.talk is not None:
            events += self.talk.flush()
        self._remember(events)
        return events

    def _remember(self, events: list[Event]) -> None:
        for event in events:
            if event.kind not in ("prompt", "text"):
                self.last = (self.last + [event.message])[-4:]

    def status(self) -> Status:
        st = Status(phase=self.phase, last=list(self.last))
        if self.phase == "words" and self.words is not None:
            w, c = self.words, self.words.cutter
            st.word, st.word_index, st.words = w.word, w.index, len(w.words)
            st.count, st.target = w.counts.get(w.word, 0), w.target
            st.level_dbfs, st.peak_dbfs, st.floor_dbfs = c.level_dbfs, c.peak_dbfs, c.floor_dbfs
            st.hearing, st.seconds = c.in_speech, c.seconds
        elif self.phase == "talk" and self.talk is not None:
            t = self.talk
            st.text, st.talk_seconds, st.talk_target = t.text, t.seconds, t.target
            st.level_dbfs, st.hearing, st.seconds = t.level_dbfs, t.in_speech, t.samples / t.rate
        return st
