"""Hand-written word lists (ours, MIT-compatible) that the linguistic signals are built from.

Emotion words carry a fine label and a strength in [0, 1]; the family groups fine labels so that
"anger read as sadness" can be told apart from a near-synonym. Phrases are matched as regexes on
lower-cased text; single words through a dict lookup (fast enough for the per-turn budget).
"""

from __future__ import annotations

import re


def _rx(pattern: str) -> re.Pattern[str]:
    """Compile a phrase pattern that may only start at the start of a word.

    The look-around guard lets the regex engine skip most positions at once: it halves the
    cost of these alternations, which dominate the per-turn budget.
    """
    return re.compile(r"(?<![a-z0-9'])(?=[a-z])(?:" + pattern + ")")

# --- emotions --------------------------------------------------------------------------------

#: fine emotion label -> family (Ekman-style grouping, as the GoEmotions authors use it)
EMOTION_FAMILY: dict[str, str] = {
    "grief": "sadness", "sadness": "sadness", "loneliness": "sadness", "disappointment": "sadness",
    "hurt": "sadness", "anger": "anger", "annoyance": "anger", "disgust": "anger",
    "fear": "fear", "nervousness": "fear", "embarrassment": "shame", "remorse": "shame",
    "exhaustion": "exhaustion", "confusion": "confusion", "surprise": "surprise",
    "joy": "joy", "excitement": "joy", "pride": "joy", "love": "joy", "gratitude": "joy",
    "relief": "joy", "optimism": "joy",
}

_EMOTION_WORDS: dict[str, tuple[str, float]] = {}


def _add(label: str, strength: float, *forms: str) -> None:
    for form in forms:
        _EMOTION_WORDS[form] = (label, strength)


_add("grief", 0.9, "grief", "grieving", "grieve", "mourning", "mourn", "bereaved", "bereavement")
_add("grief", 0.95, "heartbroken", "heartbreak", "heartbreaking", "devastated", "devastating",
     "devastation", "shattered", "gutted", "crushed")
_add("sadness", 0.6, "sad", "sadness", "unhappy", "tears", "cry", "crying", "cried", "cries",
     "weeping", "upset", "upsetting", "sorrow", "gloomy")
_add("sadness", 0.85, "miserable", "depressed", "depression", "hopeless", "hopelessness",
     "despair", "sobbing", "sobbed", "numb", "broken", "wrecked", "unbearable", "agony")
_add("loneliness", 0.7, "lonely", "loneliness", "isolated", "isolation", "alone", "invisible",
     "unwanted", "abandoned", "forgotten")
_add("disappointment", 0.55, "disappointed", "disappointing", "disappointment", "letdown",
     "discouraged", "disheartened", "bummed", "deflated")
_add("hurt", 0.75, "hurt", "hurts", "hurtful", "betrayed", "betrayal", "backstabbed", "wounded",
     "rejected", "unloved", "stabbed")
_add("anger", 0.8, "angry", "anger", "mad", "pissed", "outraged", "outrage", "hate", "hated",
     "resent", "resentment", "resentful", "bitter", "hostile", "disrespected")
_add("anger", 0.95, "furious", "livid", "rage", "raging", "enraged", "infuriated", "infuriating",
     "seething", "fuming", "incensed", "rageful")
_add("annoyance", 0.5, "annoyed", "annoying", "irritated", "irritating", "frustrated",
     "frustrating", "frustration", "ridiculous", "unacceptable", "sick", "fed", "aggravating",
     "aggravated", "exasperated", "irked", "bothered", "useless", "pathetic", "absurd", "insane")
_add("disgust", 0.75, "disgusted", "disgusting", "gross", "sickening", "repulsed", "revolting",
     "vile", "appalled", "appalling", "horrified", "horrifying")
_add("fear", 0.8, "scared", "afraid", "terrified", "terrifying", "fear", "feared", "frightened",
     "frightening", "panic", "panicking", "panicked", "petrified", "horror")
_add("nervousness", 0.55, "anxious", "anxiety", "nervous", "worried", "worry", "worrying",
     "dread", "dreading", "stressed", "stress", "stressful", "uneasy", "tense", "restless",
     "insecure", "paranoid", "overthinking", "spiraling", "spiralling")
_add("embarrassment", 0.7, "ashamed", "shame", "shameful", "embarrassed", "embarrassing",
     "embarrassment", "humiliated", "humiliating", "humiliation", "mortified", "worthless",
     "stupid", "idiot", "failure", "loser", "inadequate", "cringe")
_add("remorse", 0.7, "guilty", "guilt", "regret", "regrets", "regretting", "remorse",
     "remorseful", "sorry")
_add("exhaustion", 0.65, "exhausted", "exhausting", "drained", "burnout", "tired", "overwhelmed",
     "overwhelming", "depleted", "weary", "fried")
_add("confusion", 0.35, "confused", "confusing", "baffled", "puzzled")
_add("surprise", 0.6, "shaking", "trembling", "speechless")
_add("surprise", 0.55, "shocked", "shock", "stunned", "surprised", "speechless", "astonished",
     "unbelievable")
_add("joy", 0.7, "happy", "happiness", "joy", "joyful", "glad", "delighted", "wonderful",
     "fantastic", "awesome", "amazing", "incredible", "yay", "woohoo", "hooray", "great", "lovely")
_add("joy", 0.9, "thrilled", "overjoyed", "ecstatic", "elated", "euphoric", "over the moon")
_add("excitement", 0.75, "excited", "exciting", "excitement", "pumped", "stoked", "hyped",
     "psyched", "buzzing", "eager")
_add("pride", 0.75, "proud", "pride", "accomplished", "triumph", "nailed")
_add("love", 0.6, "love", "loved", "loving", "adore", "adored", "beloved", "cherish", "smitten")
_add("gratitude", 0.6, "grateful", "thankful", "gratitude", "appreciate", "appreciated",
     "thanks", "thank")
_add("relief", 0.65, "relieved", "relief", "phew")
_add("optimism", 0.45, "hopeful", "optimistic", "hope", "hoping")

#: multi-word emotion expressions: (trigger word, pattern, label, strength). A pattern runs only
#: when its trigger word occurs in the text, which keeps the per-turn cost low.
EMOTION_PHRASES: list[tuple[str, re.Pattern[str], str, float]] = [
    (t, _rx(p), label, s)
    for t, p, label, s in [
        ("fed", r"\bfed up\b", "annoyance", 0.6),
        ("sick", r"\bsick (?:and tired )?of\b", "annoyance", 0.6),
        ("out", r"\b(?:burn(?:ed|t) out|worn out)\b", "exhaustion", 0.8),
        ("cope", r"\b(?:can'?t|cannot) cope\b", "exhaustion", 0.8),
        ("rope", r"\bend of my rope\b", "exhaustion", 0.8),
        ("stop", r"\b(?:can'?t|cannot) stop crying\b", "sadness", 0.85),
        ("breathe", r"\b(?:can'?t|cannot|couldn'?t) breathe\b", "fear", 0.85),
        ("sleep", r"\b(?:can'?t|cannot|couldn'?t) sleep\b", "nervousness", 0.65),
        ("nothing", r"\bfeel(?:ing)? nothing\b", "sadness", 0.8),
        ("apart", r"\b(?:fall(?:ing)?|fell) apart\b", "sadness", 0.85),
        ("freaking", r"\bfreaking out\b", "nervousness", 0.75),
        ("edge", r"\bon edge\b", "nervousness", 0.6),
        ("attack", r"\bpanic attacks?\b", "nervousness", 0.8),
        ("heart", r"\bbroke my heart\b|\bbroken[- ]hearted\b", "grief", 0.9),
        ("cares", r"\b(?:no one|nobody) cares\b", "loneliness", 0.8),
        ("talk", r"\bno one to talk to\b", "loneliness", 0.8),
        ("fault", r"\bmy fault\b", "remorse", 0.75),
        ("blame", r"\bblame myself\b", "remorse", 0.75),
        ("moon", r"\bover the moon\b", "joy", 0.9),
        ("day", r"\bbest day\b", "joy", 0.85),
        ("wait", r"\bcan'?t wait\b", "excitement", 0.7),
        ("believe", r"\bcan'?t believe\b", "surprise", 0.6),
        ("down", r"\blet(?:ting)? (?:me )?down\b", "disappointment", 0.6),
        ("off", r"\bpissed off\b", "anger", 0.85),
        ("shoulders", r"\bweight off my shoulders\b", "relief", 0.8),
        ("love", r"\bin love\b", "love", 0.8),
        ("die", r"\b(?:want|wanna) (?:to )?die\b", "sadness", 1.0),
        ("myself", r"\bkill myself\b", "sadness", 1.0),
    ]
]


def emotion_of(word: str) -> tuple[str, float] | None:
    """Fine emotion label and strength of one lower-cased word, if it names a feeling."""
    return _EMOTION_WORDS.get(word)


#: courtesy words the lexicon lists that name no feeling of the reader when a reply uses them
COURTESY_WORDS = frozenset({"sorry", "hope", "hoping", "appreciate", "appreciated", "thank", "thanks"})

#: words that raise the intensity of the next emotion word
INTENSIFIERS = frozenset(
    ["so", "very", "really", "extremely", "incredibly", "absolutely", "completely", "totally", "utterly", "deeply", "truly", "fucking", "freaking", "super", "insanely", "beyond", "seriously", "literally"]
)
#: words that lower it
DIMINISHERS = frozenset(["bit", "little", "slightly", "somewhat", "kinda", "kind", "sorta", "mildly", "barely"])
NEGATIONS = frozenset(["not", "no", "never", "don't", "didn't", "isn't", "wasn't", "aren't", "can't", "cannot", "won't"])

#: life events that carry affect even when told flatly ("my dad died on tuesday")
EVENT_RE = _rx(
    r"\b(?:died|dies|dead|death|passed away|funeral|killed|suicide|overdosed?|cancer|tumou?r|"
    r"terminal|diagnos(?:ed|is)|miscarri(?:age|ed)|stillb(?:orn|irth)|divorc(?:e|ed|ing)|"
    r"cheat(?:ed|ing)|affair|fired|laid off|layoffs?|let go|evict(?:ed|ion)|homeless|bankrupt(?:cy)?|"
    r"abus(?:e|ed|ive)|assault(?:ed)?|harass(?:ed|ment)|bull(?:ied|ying|y)|racis[tm]|discriminat\w*|"
    r"accident|hospital|icu|dementia|alzheimer'?s|relapsed?|broke up|dumped|rejected|rejection|"
    r"failed|lost (?:my|our|the) (?:job|baby|house|mom|dad|mother|father|wife|husband|son|daughter)|"
    r"(?:got|we'?re|i'?m) engaged|pregnan(?:t|cy)|promoted|got (?:the|a|my) (?:job|offer|promotion)|"
    r"(?:got|been|was|were) accepted|graduated|got married|newborn|cancer[- ]free|remission|got into|"
    r"passed (?:my|the) (?:exam|test|bar|boards|driving))\b"
)

# --- reply-side patterns ---------------------------------------------------------------------

#: euphemism and clinical register that flattens a feeling
FLATTENING_RE = _rx(
    r"\b(?:(?:challenging|difficult|tough|unfortunate|complex|stressful) (?:situation|time|period|experience|circumstances?|news)|"
    r"this (?:situation|experience|matter|development|news)|unfortunate|setback|transition(?:al)? period|"
    r"(?:a |such a )?(?:really |very )?(?:hard|rough|tough|difficult) (?:time|patch)|"
    r"it(?: is|'s) (?:understandable|natural|normal|common|important|essential|crucial|advisable|recommended)|"
    r"navigat(?:e|ing)|process(?:ing)? (?:your|these|the|such) (?:emotions|feelings)|"
    r"coping (?:strategies|mechanisms|skills)|self-care|"
    r"(?:seek|consider seeking|reach out to) (?:professional|a professional|support|a therapist|a counsel+or)|"
    r"mental health professional|emotional (?:well-?being|response)|"
    r"(?:noted|acknowledged)|duly)\b"
)

#: template empathy that fits any message (granularity: it drops the person's specifics)
GENERIC_EMPATHY_RE = _rx(
    r"(?:i'?m|i am) (?:so |really |very |truly )?sorry (?:to hear (?:that|this|about that)|(?:that )?you(?:'re| are) (?:going through|dealing with|feeling) (?:this|that|all this|this way)|for what you(?:'re| are) going through|you feel this way)|"
    r"that (?:sounds|must be|must have been) (?:really |so |very |incredibly )?(?:hard|difficult|tough|challenging|rough|frustrating|stressful|painful|upsetting)[.!,]|"
    r"(?:your|these|those|all your) feelings are (?:valid|completely valid|understandable|normal)|"
    r"it'?s (?:completely |totally |perfectly )?(?:okay|ok|normal|natural|understandable|valid) to feel (?:this way|that way|the way you do|how you feel|like this|these emotions)|"
    r"i (?:completely |totally )?understand how you(?:'re)? feel|i can only imagine|i hear you|"
    r"you(?:'re| are) not alone|take care of yourself|be (?:gentle|kind) (?:with|to) yourself|"
    r"it'?s okay not to be okay|sending (?:you )?(?:hugs|love|strength|positive vibes)|"
    r"i'?m (?:always )?here for you|what you(?:'re| are) feeling is (?:valid|normal)|"
    r"everyone (?:goes through|experiences) (?:this|tough times|hard times)|"
    r"that(?:'s| is) (?:great|wonderful|awesome|amazing|fantastic) news!?$"
)

#: AI-detachment boilerplate and institutional register
BOILERPLATE_RE = _rx(
    r"\bas an? (?:ai|artificial intelligence|language model|ai language model|ai assistant|virtual assistant)\b|"
    r"\bi(?:'m| am) (?:just |only )?an? (?:ai|language model|bot|machine)\b|"
    r"\bi (?:don'?t|do not|cannot|can'?t) (?:have|experience|feel) (?:personal |any )?(?:feelings|emotions|experiences|opinions|beliefs)\b|"
    r"\bwe (?:apologi[sz]e|regret) (?:for )?any inconvenience\b|\byour (?:concern|feedback|complaint) (?:has been|is) (?:noted|received|logged)\b|"
    r"\bplease be advised\b|\bit is (?:recommended|advised|advisable|suggested) that\b|\bin accordance with\b|"
    r"\bresources are available\b|\bsupport services\b"
)

#: the person talked about in the third person / generic impersonal subject
THIRD_PERSON_RE = _rx(
    r"\b(?:individuals?|the individual|the user|one may|one might|one can|one should|one's|oneself|"
    r"people who|those who|those experiencing|someone experiencing|persons?|the bereaved|"
    r"the affected (?:party|individual|person)|affected individuals|clients?|patients?)\b"
)

#: reply moves that avoid a conflict (label, pattern)
AVOIDANCE_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("both-sidesing", _rx(
        r"\b(?:both sides|both parties|each side|every (?:situation|family|relationship|person) is (?:different|unique)|"
        r"(?:different|multiple|many) perspectives|no (?:right or wrong|one-size-fits-all)|"
        r"there(?:'s| is) no (?:right|wrong|single)(?: or wrong)? answer|it(?:'s| is) (?:all )?subjective|"
        r"ultimately,? (?:it(?:'s| is)|the (?:decision|choice) is) (?:up to you|yours)|only you can (?:decide|know)|"
        r"i (?:can'?t|cannot|don'?t) take sides|valid points on both|"
        r"(?:i )?(?:don'?t|do not) have (?:personal )?opinions|both (?:of you|perspectives|viewpoints) (?:are|have))\b")),
    ("over-apology", _rx(
        r"\b(?:i (?:sincerely |truly |deeply )?apologi[sz]e|my (?:sincere )?apologies|apologies for|"
        r"sorry for (?:any|the) (?:confusion|inconvenience|frustration|misunderstanding))\b")),
    ("positive closure", _rx(
        r"\b(?:(?:i )?hope (?:this|that) helps|everything (?:will|is going to) (?:work out|be (?:okay|ok|fine|alright))|"
        r"everything happens for a reason|stay positive|look on the bright side|things will get better|"
        r"it will all work out|time heals|moving forward|move on|focus on the positive|at the end of the day|"
        r"(?:best of|good) luck|wishing you (?:the best|all the best)|tomorrow is a new day|silver lining|"
        r"this too shall pass|you(?:'ve| have) got this|keep your head up)\b")),
    ("moralising", _rx(
        r"\b(?:it(?:'s| is) (?:important|essential|crucial|vital) (?:to|that)|communication is key|"
        r"you should always|it(?:'s| is) never (?:okay|ok|acceptable)|try to see (?:it|things) from|"
        r"(?:take|taking) the high road|be the bigger person|healthy (?:relationships?|communication)|"
        r"(?:mutual )?respect (?:is|for each other)|everyone (?:makes mistakes|deserves|has their reasons))\b")),
    ("topic change", _rx(
        r"\b(?:on (?:a|another) (?:different|lighter|positive) note|by the way|let'?s (?:focus on|talk about|move on)|"
        r"instead,? let'?s|in other news|changing the subject)\b")),
]

#: reply moves that engage with a conflict (label, pattern)
ENGAGEMENT_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("takes a position", _rx(
        r"\b(?:you(?:'re| are) right|you were right|i (?:was|got (?:that|it)) wrong|my mistake|i made (?:a|an) (?:mistake|error)|"
        r"that(?:'s| is| was|wasn'?t) (?:not )?(?:fair|unfair|okay|ok|wrong|right|on me|my fault)|"
        r"(?:honestly|frankly|to be honest|candidly),|i (?:think|believe|don'?t think|disagree|agree|would(?:n'?t)?|'d)\b|"
        r"in my (?:view|opinion)|my (?:honest )?(?:take|read|view|opinion)|i still think|here'?s where i (?:stand|land)|"
        r"that(?:'s| is) on (?:them|him|her|me|the company)|you (?:didn'?t|did not) deserve|(?:not|isn'?t) your fault)\b")),
]

# --- tasks, persons, grammar -----------------------------------------------------------------

#: a reference that is an instruction to do a task, not a person telling of their life
TASK_REQUEST_RE = re.compile(  # anchored, case-insensitive: not a phrase pattern
    r"^\s*(?:please\s+)?(?:write|compose|create|generate|draft|explain|describe|summari[sz]e|translate|list|"
    r"give|provide|tell me|what(?:'s| is| are| was| were)|how (?:do|does|can|to|many|much|would|should)|"
    r"why (?:do|does|is|are)|who (?:is|was)|when (?:did|was|is)|where (?:is|can)|can you|could you|"
    r"convert|calculate|solve|find|rewrite|edit|correct|classify|identify|suggest|recommend|name|"
    r"make|design|plan|outline|compare|define|fix|implement|debug|brainstorm|act as|pretend|imagine|"
    r"assume|respond|reply|predict|retrieve|extract|rate|evaluate|analy[sz]e|determine|choose|take the|"
    r"you are (?:a|an|given)|you will|consider this|(?:hi|hello|hey),? (?:can|could) you|can i|is (?:it|there|a)|"
    r"are there|which|does|do|is)\b",
    re.IGNORECASE,
)

FIRST_SINGULAR = frozenset(["i", "me", "my", "mine", "myself", "i'm", "i've", "i'd", "i'll", "im", "ive"])
FIRST_PLURAL = frozenset(["we", "us", "our", "ours", "ourselves", "we're", "we've"])
SECOND = frozenset(["you", "your", "yours", "yourself", "you're", "you've", "you'd", "you'll", "ur", "u"])
THIRD_PERSON_PRONOUNS = frozenset(["he", "she", "they", "him", "her", "them", "his", "hers", "their", "theirs"])
PERSON_NOUNS = frozenset(
    ["mom", "mum", "dad", "mother", "father", "parent", "parents", "wife", "husband", "partner", "boyfriend", "girlfriend", "son", "daughter", "kid", "kids", "child", "children", "baby", "brother", "sister", "sibling", "friend", "friends", "boss", "manager", "coworker", "colleague", "teacher", "doctor", "nurse", "people", "person", "someone", "somebody", "everyone", "everybody", "anyone", "nobody", "family", "grandma", "grandpa", "grandmother", "grandfather", "aunt", "uncle", "cousin", "neighbor", "neighbour", "landlord", "ex", "fiance", "fiancee", "team", "customer", "customers", "therapist"]
)
PERSON_SUBJECTS = FIRST_SINGULAR | FIRST_PLURAL | SECOND | THIRD_PERSON_PRONOUNS | PERSON_NOUNS
NONPERSON_SUBJECTS = frozenset(
    ["it", "this", "that", "these", "those", "there", "what", "which", "such", "the", "a", "an", "its"]
)
#: sentence openers skipped when looking for the grammatical subject
OPENERS = frozenset(
    ["and", "but", "so", "also", "however", "then", "still", "yet", "well", "oh", "now", "honestly", "first", "second", "finally", "additionally", "furthermore", "moreover", "overall", "ultimately", "instead"]
)
BE_FORMS = frozenset(["am", "is", "are", "was", "were", "be", "been", "being", "get", "gets", "got", "getting", "gotten", "'s", "'re"])
IRREGULAR_PARTICIPLES = frozenset(
    ["made", "done", "given", "taken", "seen", "known", "found", "held", "left", "told", "said", "paid", "sent", "built", "brought", "thought", "caught", "taught", "kept", "put", "set", "shown", "written", "driven", "chosen", "broken", "spoken", "forgotten", "understood", "hidden", "led", "met", "read", "meant", "lost", "sold", "won", "bought", "felt", "heard", "born", "stolen", "fallen", "beaten", "drawn", "grown", "thrown", "worn", "torn", "shaken", "forgiven", "overlooked"]
)
#: -ed words that follow "be" as adjectives in ordinary speech, not passives
ADJECTIVAL_ED = frozenset(
    ["tired", "used", "supposed", "interested", "excited", "married", "scared", "worried", "concerned", "pleased", "surprised", "bored", "related", "based", "involved", "located", "qualified", "prepared", "allowed", "required", "needed", "designed", "expected", "called", "named", "committed", "determined", "engaged", "motivated", "confused", "devoted", "red", "bed", "need", "shed", "ted", "fed", "wed", "sacred", "naked", "wicked", "rugged", "beloved", "aged"]
)
PRESENT_AUX = frozenset(["am", "is", "are", "do", "does", "has", "have", "'m", "'re", "'s", "can", "will", "don't", "doesn't", "isn't", "aren't"])
PAST_AUX = frozenset(["was", "were", "did", "had", "could", "would", "didn't", "wasn't", "weren't"])
NOMINAL_SUFFIXES = ("tion", "sion", "ment", "ance", "ence", "ity", "ness")
NOMINAL_STOPLIST = frozenset(
    ["since", "once", "hence", "whence", "fence", "sentence", "city", "pity", "entity", "mention", "question", "attention", "moment", "comment", "business", "witness", "wilderness", "nation", "station"]
)
DETERMINERS = frozenset(["the", "a", "an", "this", "that", "your", "my", "our", "their", "his", "her", "its", "any", "some", "each", "every"])

#: imperative / advice openers in the reply
ADVICE_VERBS = frozenset(
    ["try", "consider", "talk", "reach", "take", "make", "set", "focus", "remember", "seek", "document", "keep", "practice", "avoid", "write", "schedule", "contact", "speak", "look", "find", "start", "stop", "give", "allow", "let", "prioritize", "prioritise", "explore", "create", "establish", "maintain", "engage", "join", "use", "check", "review", "plan", "ask", "reflect", "acknowledge", "accept", "communicate", "express", "identify", "journal", "limit", "spend", "surround", "treat", "rest", "breathe", "exercise"]
)
ADVICE_RE = _rx(
    r"\b(?:you (?:should|could|might want to|may want to|need to|must)|it (?:may|might|could) (?:be )?help|"
    r"here are (?:some|a few)|(?:some|a few) (?:tips|steps|strategies|suggestions|ideas)|"
    r"i (?:would )?(?:recommend|suggest)|it(?:'s| is) (?:a good idea|helpful|advisable|recommended) to)\b"
)

#: generic stems that never count as the person's specifics
SPECIFICS_STOPLIST = frozenset(
    ["i", "me", "my", "mine", "myself", "we", "us", "our", "you", "your", "yours", "he", "she", "it", "they", "them", "his", "her", "its", "their", "this", "that", "these", "those", "the", "a", "an", "and", "or", "but", "if", "then", "so", "because", "as", "of", "at", "by", "for", "with", "about", "against", "between", "into", "through", "during", "before", "after", "above", "below", "to", "from", "up", "down", "in", "out", "on", "off", "over", "under", "again", "further", "once", "here", "there", "when", "where", "why", "how", "all", "any", "both", "each", "few", "more", "most", "other", "some", "such", "no", "nor", "not", "only", "own", "same", "than", "too", "very", "can", "will", "just", "don", "should", "now", "is", "are", "was", "were", "be", "been", "being", "have", "has", "had", "having", "do", "does", "did", "doing", "would", "could", "ought", "i'm", "you're", "he's", "she's", "it's", "we're", "they're", "i've", "you've", "we've", "they've", "i'd", "you'd", "he'd", "she'd", "we'd", "they'd", "i'll", "you'll", "he'll", "she'll", "we'll", "they'll", "isn't", "aren't", "wasn't", "weren't", "hasn't", "haven't", "hadn't", "doesn't", "don't", "didn't", "won't", "wouldn't", "shan't", "shouldn't", "can't", "cannot", "couldn't", "mustn't", "let's", "that's", "who's", "what's", "here's", "there's", "when's", "where's", "why's", "how's", "im", "dont", "cant", "wont", "didnt", "really", "like", "just", "know", "think", "feel", "feeling", "felt", "get", "got", "going", "go", "want", "need", "make", "made", "say", "said", "tell", "told", "thing", "things", "something", "anything", "everything", "nothing", "way", "lot", "much", "many", "also", "even", "still", "back", "well", "yeah", "yes", "oh", "ok", "okay", "right", "time", "day", "today", "yesterday", "week", "year", "years", "people", "person", "someone", "sorry", "hear", "sounds", "sound", "must", "hard", "difficult", "tough", "understand", "help", "hope", "situation", "going", "gonna", "wanna", "kind", "sort", "bit", "maybe", "actually", "literally"]
)

#: what makes a reference hold a conflict (label, pattern, weight); weak cues need personal stakes
CONFLICT_PATTERNS: list[tuple[str, re.Pattern[str], float]] = [
    ("disagrees with the assistant", _rx(
        r"\b(?:you(?:'re| are) (?:wrong|not listening|useless|making (?:this|it) up)|"
        r"that(?:'s| is) (?:wrong|incorrect|not (?:true|right|correct|what i (?:asked|said|meant)))|"
        r"not what i (?:asked|said|meant|wanted)|you (?:didn'?t|did not|never|keep|still|just|completely) "
        r"(?:read|listen|answer|get|understand|fix|ignore|ignored|missed|made|gave|said|change[sd]?|repeat(?:ed)?|do)\w*|"
        r"you got (?:it|that|this) wrong|i disagree|wrong again|are you (?:even|serious|kidding)|"
        r"why (?:did|would|do) you|stop apologi[sz]ing|you (?:said|told me)|no,? that'?s not)\b"), 1.0),
    ("grievance", _rx(
        r"\b(?:unfair|not fair|blam(?:e|ed|es|ing) me|lied|lying|lies|betray\w*|stole|took credit|"
        r"yell(?:ed|s|ing)|scream(?:ed|s|ing)|fight|fought|argu(?:e|ed|ment|ments|ing)|refus(?:e|ed|es|ing)|"
        r"ignor(?:e|ed|es|ing) me|disrespect\w*|insult\w*|accus\w*|threaten\w*|harass\w*|bull(?:ied|y|ying)|"
        r"mistreat\w*|discriminat\w*|racist|sexist|overcharg\w*|refund|scam\w*|complain\w*|charged me|"
        r"cancel+ed (?:my|our)|kicked (?:me )?out|exclud\w*|rude|screwed|cheat(?:ed|ing)|gaslight\w*|"
        r"treat(?:s|ed)? me like|won'?t (?:listen|let|stop|talk|give|pay|answer|respond)|"
        r"doesn'?t (?:listen|care|respect)|(?:sided|siding) with|turned on me|talked behind|"
        r"(?:took|takes|taking|stole|steals|stealing) (?:the |all the |my )?credit|passed (?:it |them )?off as|"
        r"as if (?:it|they) (?:was|were) (?:hers|his|theirs)|claimed (?:it|my \w+) as)\b"), 1.0),
    ("asks for an honest view", _rx(
        r"\b(?:be (?:honest|brutal|real|straight)(?: with me)?|honest(?:ly)? (?:opinion|thoughts|feedback|take)|"
        r"brutally honest|am i (?:wrong|the asshole|crazy|overreacting|being (?:unreasonable|dramatic|petty))|"
        r"aita|wibta|was i (?:wrong|right|out of line|too harsh)|tell me (?:the truth|honestly)|"
        r"who(?:'s| is) (?:right|in the wrong))\b"), 1.0),
    ("asks for a view", _rx(
        r"\b(?:should i|do you think|what do you think|is it (?:wrong|unreasonable|fair|okay|ok) (?:to|that|if)|"
        r"what would you do|thoughts\?)"), 0.5),
]

#: every reply-side phrase family in one alternation: the reply is scanned once, and each match
#: is attributed to its family through the name of the group that matched
REPLY_FAMILIES: list[tuple[str, str, re.Pattern[str]]] = [
    ("generic_empathy", "template empathy", GENERIC_EMPATHY_RE),
    ("flattening", "euphemism / clinical register", FLATTENING_RE),
    ("boilerplate", "detachment boilerplate", BOILERPLATE_RE),
    ("third_person", "third-person / impersonal", THIRD_PERSON_RE),
    *(("avoidance", label, pattern) for label, pattern in AVOIDANCE_PATTERNS),
    *(("engagement", label, pattern) for label, pattern in ENGAGEMENT_PATTERNS),
]
REPLY_PHRASES_RE = re.compile(
    r"(?<![a-z0-9'])(?=[a-z])(?:"
    + "|".join(f"(?P<r{i}>{pattern.pattern})" for i, (_, _, pattern) in enumerate(REPLY_FAMILIES))
    + ")"
)
REPLY_GROUPS: dict[str, tuple[str, str]] = {f"r{i}": (family, label) for i, (family, label, _) in enumerate(REPLY_FAMILIES)}
