"""What kws-record asks a person to read aloud for the non-keyword talk (`DIR/_talk/`).

The talk becomes the reject class of the person's own model: speech it must stay quiet on. So no
text holds a Speech Commands word, or a word that sounds like one ("to", "for", "know", "write",
"won", "ate": as reject examples they would teach the model to miss "two", "four", "no", "right",
"one", "eight"), or one that starts with one ("going", "upon", "nobody"). tests/test_record_texts.py
checks every text against the 35 words and these lists. Sentences give connected speech; the
rows of single words give isolated words with pauses, the way the keywords themselves are said.
One exception: a person who records only some of the 35 words (or new ones) reads the keywords
they left out first, as single words: to their model those are no keyword.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

from .labels import KEYWORDS

SENTENCES: tuple[str, ...] = (
    "The weather was mild and the sky stayed clear all afternoon.",
    "Please put the kettle in the kitchen and bring some milk.",
    "We walked along the river and watched the boats pass by.",
    "My neighbour grows tomatoes and beans in a small garden.",
    "Could you pass me the salt and the pepper, please?",
    "The train was late again, so we waited in the cold.",
    "She painted the kitchen a pale shade of green.",
    "Most mornings I drink a cup of coffee at breakfast.",
    "The children built a castle out of sand and shells.",
    "There is a small bakery around the corner from the station.",
    "He lost his keys and searched every pocket twice.",
    "The library closes early at the weekend.",
    "A strong wind blew the leaves across the road.",
    "I think the meeting will take about an hour.",
    "Her brother plays the piano in a jazz band.",
    "We need bread, cheese, apples and a bottle of water.",
    "The film was long, but the ending was worth it.",
    "Turn the lights out when you leave the room.",
    "The museum has a fine collection of old maps.",
    "It rained all night and the streets were wet in the morning.",
    "They painted the fence white and planted roses by the gate.",
    "My phone battery is almost empty again.",
    "The soup needs a little more salt and pepper.",
    "We should invite the whole family at the end of the month.",
    "The bus was crowded, so I walked home instead.",
    "This recipe uses butter, sugar and a pinch of cinnamon.",
    "The lake was calm and quiet at sunset.",
    "He fixed the bicycle with a wrench and some patience.",
    "What time does the concert start this evening?",
    "I like reading a good book in a comfortable chair.",
    "The market sells fresh fish and vegetables every Saturday.",
    "Please remember the umbrella, the clouds look dark.",
    "The engineer checked the bridge after the storm.",
    "Our teacher asked us questions about the history lesson.",
    "The candle flickered as the door opened slowly.",
    "My grandmother makes the best apple pie in the world.",
    "The package arrived this morning in a brown box.",
    "We played cards and talked until midnight.",
    "The mountain path was steep and covered in snow.",
    "Can you tell me where the nearest pharmacy is?",
)

# Rows of single words, read with a short pause after each. The last rows are near misses (close
# in sound to a keyword, not one and not a homophone): the model must learn they are not keywords.
WORD_ROWS: tuple[str, ...] = (
    "apple   garden   window   purple   table   river",
    "monkey   pencil   rocket   yellow   basket   candle",
    "bottle   ladder   orange   carpet   button   lemon",
    "silver   doctor   wallet   jacket   tiger   planet",
    "rabbit   hammer   cookie   pillow   mirror   island",
    "camera   guitar   banana   ticket   forest   kitten",
    "dinner   morning   letter   music   sister   summer",
    "winter   paper   honey   bucket   finger   blanket",
    "yet   fellow   town   mouse   hero   lift",
    "bet   sheet   heaven   stock   true   marble",
)

# Words a text must not hold besides the keywords themselves: homophones of keywords, and common
# words that start with a keyword's sound.
HOMOPHONES: frozenset[str] = frozenset({
    "to", "too", "for", "fore", "know", "write", "rite", "wright", "won", "ate", "nein",
    "oh",  # said for zero in numbers
})
DERIVED: frozenset[str] = frozenset({
    "going", "gone", "goes", "upon", "upper", "into", "onto", "nobody", "nothing", "none", "noone",
    "someone", "anyone", "everyone", "today", "tonight", "together", "downstairs", "often", "offer",
    "office", "stopped", "learned", "learning", "lefty", "sixty", "seventy", "eighty", "ninety",
    "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "thirteen", "housework",
    "before", "forget", "forgot", "happen", "happened", "birds", "dogs", "cats", "trees", "beds",
    "houses", "rights", "yesterday", "upstairs", "onion", "once", "only", "following",
})

_TOKEN = re.compile(r"[a-z']+")
KEYWORDS_PER_ROW = 6
KEYWORD_ROW_SEP = "   "


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def texts_for(words: Iterable[str]) -> list[str]:
    """Every text, sentences and word rows interleaved, leaving out any that holds one of `words`
    (the words being recorded, which may be new ones). When those are not all 35 keywords, rows of
    the keywords left out come first: fine-tuning drops them from the model, and said alone in the
    person's voice they would otherwise fire as the nearest recorded word ("off" as stop)."""
    avoid = {w.casefold() for w in words}
    left_out = [k for k in KEYWORDS if k not in avoid]
    if 0 < len(left_out) < KEYWORDS_PER_ROW:
        # The take moves on after 1.5 s of speech, and keeps nothing of a word or two said alone
        # (the last keyword said once more): a short row is filled up with other words.
        fillers = [w for row in WORD_ROWS for w in tokens(row) if w not in avoid]
        left_out += fillers[:KEYWORDS_PER_ROW - len(left_out)]
    n_rows = len(left_out) // KEYWORDS_PER_ROW  # rows of 6 to 11 words: each long enough to move on
    first = [KEYWORD_ROW_SEP.join(part) for part in np.array_split(left_out, n_rows)] if n_rows else []
    rows = list(WORD_ROWS)
    out: list[str] = []
    for i, sentence in enumerate(SENTENCES):
        out.append(sentence)
        if i % 4 == 3 and rows:
            out.append(rows.pop(0))
    out += rows
    phrases = [w for w in avoid if " " in w]
    return first + [t for t in out if not avoid & set(tokens(t)) and not any(p in t.lower() for p in phrases)]
