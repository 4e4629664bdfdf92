"""Cheap text helpers for answering: tokens with offsets, a light stemmer, word lists.

Everything here is plain Python and regex, so the question path needs no NLP model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

# Numbers keep their separators ("11,000", "3.5"), words keep inner apostrophes ("don't");
# any other non-space character is a token of its own so spans can stop at punctuation.
_TOKEN = re.compile(r"\w+(?:[.,'’]\w+)*|[^\w\s]", re.UNICODE)
_HAS_DIGIT = re.compile(r"\d")


def wordset(words: str) -> frozenset[str]:
    """A word list written as one string, for readability."""
    return frozenset(words.split())


# Our own list rather than the retriever's: answering needs pronouns and auxiliaries to be
# ignorable, and the retriever's list may be tuned for recall independently.
STOPWORDS = wordset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing done down during each few for
    from further had has have having he her here hers herself him himself his how i if in into
    is it its itself just me more most my myself no nor not now of off on once only or other
    our ours ourselves out over own same she should so some such than that the their theirs
    them themselves then there these they this those through to too under until up upon very
    was we were what when where which while who whom why will with would you your yours
    yourself yourselves also many much whose may might must shall one ones us get got become
    became according called known name named kind type"""
)

# Retrieval's list (qa.storage.sqlite's queries, and follow-up resolution): words that carry no
# evidence; dropping them keeps OR queries from matching every chunk.
RETRIEVAL_STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "also",
        "many",
        "much",
        "whose",
    ]
)
# Irregular forms a suffix stripper cannot reach; only common news/encyclopedia verbs.
_IRREGULAR = {
    "sent": "send",
    "fought": "fight",
    "built": "build",
    "began": "begin",
    "begun": "begin",
    "bought": "buy",
    "brought": "bring",
    "came": "come",
    "chose": "choose",
    "chosen": "choose",
    "died": "die",
    "dead": "die",
    "death": "die",
    "drew": "draw",
    "drawn": "draw",
    "found": "find",
    "gave": "give",
    "given": "give",
    "grew": "grow",
    "grown": "grow",
    "held": "hold",
    "kept": "keep",
    "led": "lead",
    "left": "leave",
    "lost": "lose",
    "made": "make",
    "meant": "mean",
    "met": "meet",
    "paid": "pay",
    "ran": "run",
    "said": "say",
    "saw": "see",
    "seen": "see",
    "sold": "sell",
    "spent": "spend",
    "spoke": "speak",
    "spoken": "speak",
    "stood": "stand",
    "taught": "teach",
    "told": "tell",
    "thought": "think",
    "took": "take",
    "taken": "take",
    "went": "go",
    "gone": "go",
    "won": "win",
    "wrote": "write",
    "written": "write",
    "born": "bear",
    "became": "become",
    "felt": "feel",
    "fell": "fall",
    "fallen": "fall",
    "struck": "strike",
    "flew": "fly",
    "flown": "fly",
    "rose": "rise",
    "risen": "rise",
    "shot": "shoot",
    "hit": "hit",
    "set": "set",
    "put": "put",
    "men": "man",
    "women": "woman",
    "children": "child",
    "people": "person",
    "feet": "foot",
    "mice": "mouse",
}
# A handful of news synonyms, mapped onto one stem so "soldiers" meets "troops".
_SYNONYMS = {"soldier": "troop", "injur": "wound", "injury": "wound"}

NUMBER_WORDS = wordset(
    """zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen
    fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty
    ninety hundred thousand million billion trillion dozen half quarter"""
)
# Counts that name no number: a question asking "how many" wants digits over these.
VAGUE_NUMBERS = wordset(
    "hundreds thousands millions billions dozens tens several many few numerous"
)
SCALE_WORDS = wordset("hundred thousand million billion trillion percent per cent % dozen")
# Words in front of a number that belong to the answer ("about 11,000").
NUMBER_MODIFIERS = wordset(
    "about around some nearly almost over approximately roughly estimated only under least "
    "up exactly just"
)
MONTHS = wordset(
    """january february march april may june july august september october november december
    jan feb mar apr jun jul aug sep sept oct nov dec"""
)


_MONTH = (
    r"(?:january|february|march|april|may|june|july|august|september|october|november"
    r"|december)"
)
_DATELINE = re.compile(
    r"^[ \t]*(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day,?[ \t]+)?"
    rf"(?:{_MONTH}[ \t]+\d{{1,2}}|\d{{1,2}}[ \t]+{_MONTH}),?[ \t]+\d{{4}}[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)


def datelines(text: str) -> list[tuple[int, int]]:
    """The lines of ``text`` that are a date and nothing else: a report's dateline
    ("Friday, July 21, 2017"), which says when it was written, not when what it reports
    happened."""
    return [m.span() for m in _DATELINE.finditer(text)]


@lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    """A light suffix stripper: enough to match killed/kill, troops/troop, cities/city.
    Cached: an article repeats its words, and whole articles are stemmed for word rarity."""
    w = word.lower().replace("’", "'")
    if w.endswith("'s"):
        w = w[:-2]
    irregular = _IRREGULAR.get(w)
    if irregular is not None:
        return irregular
    if len(w) > 4 and w.endswith(("ies", "ied")):
        return w[:-3] + "y"
    if w.endswith(("sses", "xes", "zes", "ches", "shes")):
        w = w[:-2]
    elif len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    elif len(w) > 5 and w.endswith("ing"):
        w = _undouble(w[:-3])
    elif len(w) > 4 and w.endswith("ed"):
        w = _undouble(w[:-2])
    # Drop a final "e" everywhere so move/moved/moving and state/states all meet.
    if len(w) > 3 and w.endswith("e"):
        w = w[:-1]
    return _SYNONYMS.get(w, w)


def _undouble(w: str) -> str:
    """ "planned" -> "plann" -> "plan"; not "kill" or "pass", whose doubling is the word's own."""
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "lsz":
        return w[:-1]
    return w


def related(a: str, b: str) -> bool:
    """Two stems name the same thing: equal, or one a near-prefix of the other
    (korea/korean, russia/russian, ukrain/ukrainian), which a suffix stripper misses."""
    if a == b:
        return True
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    if len(short) < 5:
        return False
    common = 0
    for x, y in zip(short, long_, strict=False):
        if x != y:
            break
        common += 1
    return common >= len(short) - 1 and len(long_) - common <= 3


@dataclass(frozen=True)
class Token:
    """A token with its character offsets, lower-cased form and stem."""

    start: int
    end: int
    text: str
    lower: str
    stem: str
    punct: bool
    stop: bool

    @property
    def numeric(self) -> bool:
        return bool(_HAS_DIGIT.search(self.text)) or self.lower in NUMBER_WORDS

    @property
    def capitalized(self) -> bool:
        return self.text[:1].isupper()


def tokenize(text: str, offset: int = 0) -> list[Token]:
    """Tokens of ``text``; offsets are shifted by ``offset`` (article coordinates)."""
    out = []
    for m in _TOKEN.finditer(text):
        t = m.group()
        low = t.lower()
        punct = not (t[0].isalnum() or t[0] == "_")
        out.append(
            Token(
                offset + m.start(),
                offset + m.end(),
                t,
                low,
                low if punct else stem(low),
                punct,
                low in STOPWORDS,
            )
        )
    return out


def content_stems(text: str) -> list[str]:
    """Stems of the words that carry meaning, in order, duplicates kept."""
    return [t.stem for t in tokenize(text) if not t.punct and not t.stop]


# -- conversation: the words follow-up resolution reads questions by (qa.chat) --------------
CHAT_TOKEN = re.compile(r"\w[\w'’&.-]*\w|\w")


WH_WORDS = wordset("what which who whom whose where when why how")
HOW_MODIFIERS = wordset(
    "many much long far old large big tall high often soon deep wide heavy fast"
)
HEADED_WH = frozenset({"how many", "how much", "what", "which", "whose"})
DO = frozenset({"did", "does", "do"})
BE = frozenset({"was", "were", "is", "are", "be", "been", "being"})
AUX = (
    DO
    | (BE - {"be", "been", "being"})
    | wordset("will would can could has have had should may might must shall")
)
CONJUNCTIONS = wordset("and but so ok okay also then well now oh right hmm um uh er please")
# Requests that read as questions: "Tell me more", "Explain it", "More details?"
IMPERATIVES = wordset(
    "tell give show explain describe list say elaborate summarise summarize continue go more "
    "anything details detail"
)
CUE_PHRASES = (
    ("what", "about"),
    ("how", "about"),
    ("what", "of"),
    ("as", "for"),
    ("same", "for"),
    ("same", "with"),
    ("and", "for"),
    ("what", "abt"),
)
DETERMINERS = wordset("the a an this that these those its their his her our")
PREPOSITIONS = wordset(
    "in at on to from by for with during after before since until near into of over "
    "under about against between among off across through inside outside around along per "
    "via toward towards onto within without behind beyond above below"
)
# Capitalised words inside a name ("Church of Scientology", "Institute for the Study of War").
NAME_LINKS = frozenset({"of", "the", "for", "de", "&"})

PLURAL_PRONOUNS = frozenset({"they", "them", "their", "theirs", "those", "these"})
NEUTER_PRONOUNS = frozenset({"it", "its"})
PERSON_PRONOUNS = frozenset({"he", "him", "his", "she", "her", "hers"})
POSSESSIVES = frozenset({"its", "their", "his", "her"})
ALL_PRONOUNS = PLURAL_PRONOUNS | NEUTER_PRONOUNS | PERSON_PRONOUNS | {"that", "this", "there"}
SUBJECT_PRONOUNS = frozenset({"he", "she", "they", "it"})
PLURAL_NOUNS = wordset("people children men women police staff personnel crew troops cattle folk")
NOT_PLURAL = wordset("is was has does its this us news series species bus gas")
# Words that end like participles but are not ones.
NOT_PARTICIPLES = wordset(
    "children women men often seven eleven hundred garden kitchen when then even open "
    "citizen token golden wooden sudden heaven red bed need feed seed speed shed hundred "
    "indeed united ahead"
)
IRREGULAR_PARTICIPLES = wordset(
    "sent hurt held built lost won made taken given found left sold paid shot born known "
    "shown seen done gone brought bought caught kept told said struck hit put set cut stolen "
    "written chosen spoken broken grown led felt fought taught thought drawn driven ridden "
    "risen hidden worn stood sunk swum dead alive missing safe ill sick homeless displaced "
    "trapped stranded hurt beaten slain flown thrown begun run become"
)
IRREGULAR_PAST = {
    "send": "sent",
    "give": "gave",
    "take": "took",
    "make": "made",
    "get": "got",
    "find": "found",
    "go": "went",
    "come": "came",
    "see": "saw",
    "say": "said",
    "tell": "told",
    "leave": "left",
    "bring": "brought",
    "buy": "bought",
    "build": "built",
    "lose": "lost",
    "win": "won",
    "pay": "paid",
    "hold": "held",
    "keep": "kept",
    "meet": "met",
    "run": "ran",
    "begin": "began",
    "put": "put",
    "set": "set",
    "cut": "cut",
    "hit": "hit",
    "spend": "spent",
    "sell": "sold",
    "fall": "fell",
    "fly": "flew",
    "throw": "threw",
    "shoot": "shot",
    "steal": "stole",
    "write": "wrote",
    "choose": "chose",
    "speak": "spoke",
    "break": "broke",
    "know": "knew",
    "grow": "grew",
    "lead": "led",
    "feel": "felt",
    "fight": "fought",
    "catch": "caught",
    "teach": "taught",
    "think": "thought",
    "draw": "drew",
    "drive": "drove",
    "rise": "rose",
    "hide": "hid",
    "wear": "wore",
    "strike": "struck",
    "stand": "stood",
    "sink": "sank",
    "swim": "swam",
    "become": "became",
    "have": "had",
    "do": "did",
    "be": "was",
    "eat": "ate",
    "forget": "forgot",
    "lend": "lent",
    "let": "let",
    "mean": "meant",
    "read": "read",
    "seek": "sought",
    "shut": "shut",
    "sit": "sat",
    "sleep": "slept",
    "spread": "spread",
    "understand": "understood",
    "withdraw": "withdrew",
}
IRREGULAR_PAST_FORMS = frozenset(IRREGULAR_PAST.values())
# An abstention text is not something a pronoun can refer to.
NON_ANSWER = re.compile(r"\b(not|no|cannot|can't|don't|doesn't)\b", re.I)
PERSON_TITLES = wordset(
    "mr mrs ms dr president senator governor minister administrator general prime king queen "
    "pope ambassador director secretary spokesman spokeswoman chairman ceo judge"
)
NON_PERSON_WORDS = wordset(
    "center centre museum space church ministry agency university department council "
    "committee institute school airport hotel mosque city state republic union nations "
    "association bridge company corporation party army navy force news korea kingdom "
    "complex station program programme festival expo cup shuttle"
)
TIMES = wordset("today now currently nowadays yesterday tomorrow recently")
LOOKBACK = 3
"""Earlier turns searched for a referent, most recent first."""
YEAR = re.compile(r"^(1[5-9]|20)\d\d$")
