"""What kws-synth says: keyword texts (spellings, espeak phonemes, prosody marks) and reject material.

Pronunciations were checked with `espeak-ng -x` and `flite -ps` for all 35 words: both engines say
each one sensibly from its plain spelling. The `[[...]]` alternatives (espeak phoneme input) add
accent variety the voices alone lack: US cot-caught merger ("dog" as /dɑg/), non-rhotic endings,
two-syllable "visual", a /ʃeɪlə/ "sheila", an affricated "tree". flite never receives `[[...]]`.
"""

from __future__ import annotations

from pathlib import Path

from kws_edge.labels import KEYWORDS

# Trailing punctuation changes the engines' intonation: statement, exclamation, question.
PROSODY_MARKS = ("", ".", "!", "?", ",")

KEYWORD_PHONEMES: dict[str, tuple[str, ...]] = {
    "backward": ("[[b'akw@d]]", "[[b'akw3:d]]"),
    "bird": ("[[b'3:d]]",),
    "dog": ("[[d'A:g]]", "[[d'O:g]]"),
    "follow": ("[[f'A:loU]]", "[[f'0l@U]]"),
    "forward": ("[[f'o@w3d]]", "[[f'O:w@d]]"),
    "four": ("[[f'O:]]",),
    "go": ("[[g'@U]]",),
    "happy": ("[[h'apI]]",),
    "learn": ("[[l'3:n]]",),
    "marvin": ("[[m'A:vIn]]",),
    "no": ("[[n'@U]]",),
    "off": ("[[O:f]]", "[['0f]]"),
    "on": ("[[A:n]]", "[['0n]]"),
    "one": ("[[w'Vn]]",),
    "sheila": ("[[S'eIl@]]",),
    "stop": ("[[st'A:p]]", "[[st'0p]]"),
    "tree": ("[[tS'ri:]]",),
    "visual": ("[[v'IZ@l]]", "[[v'IzjU@l]]", "[[v'IZu:@l]]"),
    "zero": ("[[z'i:roU]]", "[[z'Iroʊ]]"),
}


def keyword_texts(word: str, engine: str) -> tuple[str, ...]:
    """Every text variant kws-synth may feed `engine` for a keyword (or any other word)."""
    texts = [word + mark for mark in PROSODY_MARKS]
    if engine == "espeak":
        texts.extend(KEYWORD_PHONEMES.get(word, ()))
    return tuple(texts)


# Near misses: close in sound to a keyword, but not the keyword and not a homophone of one.
# Homophones ("know", "won", "write", "too", "for", "ate", German "nein") are left out on purpose:
# they sound exactly like "no", "one", "right", "two", "four", "eight", "nine", so as reject
# examples they would teach the model to miss the keywords themselves.
NEAR_MISSES: tuple[str, ...] = (
    "bad", "bet", "bid", "bud", "birds", "burred", "word", "heard", "cap", "cut", "cot", "kit", "hat",
    "dug", "dig", "dock", "doggy", "downs", "town", "gown", "eighty", "eighteen", "hate",
    "fight", "fife", "hive", "fifty", "fellow", "hollow", "swallow", "forwards",
    "fork", "fort", "floor", "goal", "gold", "goat", "hoe", "happen", "hippie", "happily", "houses",
    "mouse", "learning", "earn", "lean", "lift", "loft", "marvel", "martin", "marlin", "nineteen",
    "ninety", "night", "nose", "note", "often", "cough", "awful", "odd", "own", "gone", "wand",
    "wonder", "rights", "ride", "rye", "seventy", "seventeen", "heaven", "sheet", "shelter",
    "stella", "sticks", "sex", "sick", "sixty", "stock", "step", "shop", "top", "threes",
    "thread", "free", "trees", "treat", "true", "tool", "tune", "twin", "upper", "cup", "pup", "usual",
    "visa", "vision", "wowed", "vow", "how", "yet", "yeah", "yesterday", "guess", "zeros", "hero",
    "zebra", "backwards", "backyard", "bedroom", "bedtime",
)

# Common English words and short phrases that are no keyword: the bulk of the reject class.
FILLER_WORDS: tuple[str, ...] = (
    "about", "above", "across", "after", "again", "against", "air", "all", "almost", "alone",
    "along", "also", "always", "among", "and", "animal", "another", "answer", "any", "apple",
    "around", "ask", "away", "baby", "back", "ball", "bank", "because", "been", "before", "begin",
    "behind", "believe", "below", "best", "better", "between", "big", "black", "blue", "boat",
    "body", "book", "both", "box", "boy", "bread", "bring", "brother", "brown", "build", "but",
    "call", "came", "can", "car", "care", "carry", "change", "child", "city", "class",
    "clean", "clear", "close", "cold", "color", "come", "company", "could", "country", "course",
    "cover", "cross", "dark", "day", "dear", "deep", "did", "different", "dinner", "doctor",
    "does", "done", "door", "draw", "dream", "drink", "drive", "during", "each", "early", "earth",
    "easy", "eat", "egg", "else", "end", "enough", "even", "evening", "ever", "every", "example",
    "eye", "face", "fact", "fall", "family", "far", "farm", "fast", "father", "feel", "few",
    "field", "fill", "find", "fine", "fire", "first", "fish", "flower", "fly", "food", "foot",
    "friend", "from", "front", "full", "game", "garden", "girl", "give", "glass", "good", "great",
    "green", "ground", "group", "grow", "had", "hair", "half", "hand", "hard", "has", "have",
    "head", "hear", "help", "her", "here", "high", "him", "his", "hold", "home", "hope", "horse",
    "hot", "hour", "idea", "important", "inside", "into", "island", "its", "just", "keep", "kind",
    "king", "kitchen", "knew", "land", "large", "last", "late", "laugh", "lay", "lead", "leave",
    "less", "let", "letter", "light", "like", "line", "list", "listen", "little", "live", "long",
    "look", "lot", "love", "low", "made", "make", "man", "many", "map", "mark", "may", "mean",
    "men", "might", "milk", "mind", "minute", "miss", "money", "moon", "more", "morning", "most",
    "mother", "mountain", "move", "much", "music", "must", "name", "near", "need", "never", "new",
    "next", "nice", "nothing", "now", "number", "ocean", "often", "old", "only", "open", "order",
    "other", "our", "out", "over", "page", "paper", "part", "party", "pass", "people", "person",
    "picture", "piece", "place", "plan", "plant", "play", "please", "point", "power", "problem",
    "pull", "push", "put", "question", "quick", "quiet", "rain", "read", "ready", "really", "red",
    "remember", "rest", "river", "road", "rock", "room", "round", "run", "said", "same", "saw",
    "say", "school", "sea", "second", "see", "seem", "sentence", "set", "she", "ship", "short",
    "should", "show", "side", "simple", "since", "sing", "sister", "sit", "sleep", "slow", "small",
    "snow", "some", "something", "song", "soon", "sound", "south", "space", "speak", "spell",
    "spring", "stand", "star", "start", "state", "still", "story", "street", "strong", "study",
    "such", "summer", "sun", "sure", "table", "take", "talk", "teacher", "tell", "than", "thank you",
    "that", "the", "their", "them", "then", "there", "these", "they", "thing", "think", "this",
    "those", "thought", "through", "time", "today", "together", "told", "took", "toward", "travel",
    "turn", "under", "until", "use", "very", "voice", "wait", "walk", "wall", "want", "war", "warm",
    "was", "watch", "water", "way", "weather", "week", "well", "went", "were", "what", "when",
    "where", "which", "while", "white", "who", "why", "will", "window", "winter", "with", "without",
    "woman", "wood", "work", "world", "would", "year", "young", "your",
    # short phrases: connected speech, several words in one second
    "hello there", "good morning", "thank you", "see you later", "what time is it", "never mind",
    "all set then", "excuse me", "how are you", "I am not sure", "maybe later",
    "not now", "come here", "let me see", "oh really", "hey", "okay", "hmm", "uh huh", "well then",
    "the music", "a cup of tea", "in the kitchen", "open the door", "hurry along please",
)


# Words for measuring, never for training: the non-keyword talk of benchmark streams. Disjoint
# from the training lists, so a false-alarm rate is measured on vocabulary no model learnt to reject.
EVAL_WORDS: tuple[str, ...] = (
    "agree", "airport", "allow", "already", "although", "ancient", "angry", "argue", "arrive",
    "autumn", "basket", "birthday", "bitter", "blanket", "borrow", "bottle", "brave", "break",
    "bright", "bucket", "busy", "butter", "camera", "careful", "carpet", "catch", "center",
    "chain", "chair", "cheese", "chicken", "choose", "clever", "climb", "coffee", "common",
    "computer", "cook", "cookie", "cool", "corner", "cost", "cry", "dance", "decide",
    "describe", "discuss", "double", "drop", "eagle", "edge", "email", "empty", "engine",
    "enormous", "enter", "expect", "explain", "famous", "finish", "fix", "forest", "forget",
    "fresh", "friendly", "gentle", "giant", "golden", "hammer", "heavy", "holiday", "honest",
    "hotel", "however", "huge", "hungry", "improve", "increase", "jacket", "jump",
    "knife", "ladder", "lazy", "lend", "lesson", "lion", "loud", "lucky", "machine", "market",
    "meeting", "mention", "message", "middle", "mirror", "modern", "moment", "monkey", "movie",
    "nail", "narrow", "nearly", "nervous", "noodle", "office", "onion", "orange", "outside",
    "paint", "pay", "pencil", "pepper", "perhaps", "phone", "pillow", "plate", "polite", "poor",
    "potato", "practice", "prepare", "pretty", "private", "probably", "project", "promise",
    "protect", "public", "purple", "quite", "rabbit", "rather", "reason", "reduce", "refuse",
    "return", "rice", "rich", "rope", "salad", "salty", "save", "secret", "sell", "sheep",
    "shirt", "shoes", "silver", "single", "smile", "snake", "soft", "sometimes", "sorry",
    "soup", "spend", "spider", "spoon", "station", "strange", "student", "sugar", "suggest",
    "support", "sweet", "swim", "system", "thick", "thin", "thirsty", "though", "throw",
    "ticket", "tiger", "tiny", "tired", "tomato", "tomorrow", "triple", "turtle", "ugly",
    "usually", "village", "visit", "wake", "wash", "weak", "wedding", "wheel", "wide", "wish",
    "within", "worry", "yellow",
)


def reject_texts(texts: tuple[str, ...], keywords: tuple[str, ...]) -> tuple[str, ...]:
    """`texts` minus any that contain one of `keywords` (custom --words may clash with the lists)."""
    banned = {k.lower() for k in keywords}
    return tuple(t for t in texts if not banned & set(t.lower().split()))


def _common_words() -> tuple[str, ...]:
    path = Path(__file__).with_name("common_words.txt")
    lines = path.read_text(encoding="utf-8").splitlines()
    return tuple(w.strip() for w in lines if w.strip() and not w.startswith("#"))


# The most frequent English words (scripts/make_common_words.py): said alone, the isolated
# non-keyword words a spotter hears all day. A short list of fillers taught the base to reject
# those words only; on other isolated words it fired on about half.
COMMON_WORDS: tuple[str, ...] = _common_words()

HOMOPHONES = frozenset({"know", "won", "write", "rite", "wright", "too", "to", "for", "fore", "ate",
                        "nein", "bye", "buy", "by", "sicks", "hi"})


def _check_lists() -> None:
    """Import-time guard against editing a keyword (or its homophone) into the reject lists,
    alone or inside a phrase: such clips would be labelled `_unknown_` but sound like a keyword."""
    banned = set(KEYWORDS) | HOMOPHONES
    bad = sorted(w for w in (*NEAR_MISSES, *FILLER_WORDS, *COMMON_WORDS, *EVAL_WORDS)
                 if banned & set(w.lower().split()))
    if bad:
        raise RuntimeError(f"synth_words: keywords in the reject lists: {bad}")
    trained = {w for t in (*NEAR_MISSES, *FILLER_WORDS, *COMMON_WORDS) for w in t.lower().split()}
    leaked = sorted(trained & set(EVAL_WORDS))
    if leaked:
        raise RuntimeError(f"synth_words: evaluation words also in the training lists: {leaked}")


_check_lists()
