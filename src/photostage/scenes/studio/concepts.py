"""Scene concepts: what a free prompt asks for beyond single words ("kitchen counter, morning light").

A :class:`Concept` is a setting people ask for (a podium, a kitchen counter, a beach with the
sea, Christmas) and the scene facts it implies: a surface and wall material, a backdrop, props,
a lighting, moods and palette colours. Prompts are matched to concepts two ways:

* with the offline sentence embedding (:mod:`embedding`), each clause of the prompt (and its
  sub-phrases: "... with ...", "... next to ...") is compared with every concept's descriptions;
  a concept is taken when its best cosine similarity passes :data:`ACCEPT` — so "where the
  waves meet the shore" finds the beach although none of its words is in the vocabulary;
* without the model, by the concept's keywords (whole words, plural-insensitive), a sensible
  but narrower fallback.

The words of the prompt that neither the vocabulary nor a matched concept used are returned, so
the response can say what the engine did not follow.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

import numpy as np

from photostage.scenes.studio.colours import RGB
from photostage.scenes.studio.embedding import Embedder
from photostage.scenes.studio.vocabulary import Fact

ACCEPT = 0.5  # cosine similarity at which a phrase is read as a concept
ACCEPT_ONE_WORD = 0.6  # a lone word is weaker evidence ("bright" sits close to "dark" in the embedding)
MARGIN = 0.0  # one concept per slot: the best (a second only on a tie)
PHRASE_MARGIN = 0.1  # a phrase means its best concept, and others only when nearly as close
CONTEXT = 0.45  # a sub-phrase's concept must also be plausible for its whole clause ("the tree")


@dataclass(frozen=True)
class Concept:
    name: str
    anchors: tuple[str, ...]  # how people describe it (for the embedding)
    keywords: tuple[str, ...]  # words that name it (fallback without the model)
    surface: str | None = None
    wall: str | None = None
    backdrop: str | None = None
    props: tuple[str, ...] = ()
    lighting: str | None = None
    moods: tuple[str, ...] = ()
    overlays: tuple[str, ...] = ()
    colours: tuple[RGB, ...] = ()
    wall_colour: RGB | None = None  # the backdrop's colour, when the setting has one of its own
    slot: str = "setting"  # concepts of one slot compete (one setting, one season, one light)
    yields_to: tuple[str, ...] = ()  # slots whose concepts override this one (a studio look vs a kitchen)

    @property
    def facts(self) -> tuple[Fact, ...]:
        facts: list[Fact] = [("concept", self.name)]
        if self.surface:
            facts.append(("material", self.surface))
        if self.backdrop:
            facts.append(("backdrop", self.backdrop))
        facts.extend(("prop", prop) for prop in self.props)
        if self.lighting:
            facts.append(("lighting", self.lighting))
        facts.extend(("mood", mood) for mood in self.moods)
        facts.extend(("overlay", overlay) for overlay in self.overlays)
        return tuple(facts)


CONCEPTS: tuple[Concept, ...] = (
    Concept(
        "podium",
        (
            "product on a podium",
            "round plinth display stand",
            "standing on a cylinder pedestal",
            "on a display riser",
            "geometric podium stage for products",
        ),
        ("podium", "plinth", "pedestal", "riser", "cylinder"),
        props=("podium",),
        slot="stand",
    ),
    Concept(
        "kitchen",
        (
            "kitchen counter",
            "on a kitchen worktop",
            "in a modern kitchen",
            "kitchen countertop with tiled backsplash",
            "next to the stove while cooking",
            "breakfast in the kitchen",
        ),
        ("kitchen", "worktop", "backsplash", "stove", "cooking", "breakfast"),
        surface="marble",
        wall="tiles",
    ),
    Concept(
        "bathroom",
        (
            "bathroom shelf",
            "in a bathroom next to the sink",
            "spa bathroom vanity",
            "on the shelf in the shower",
            "skincare on a bathroom counter",
        ),
        ("bathroom", "vanity", "sink", "shower", "bathtub", "spa", "washbasin"),
        surface="stone",
        wall="tiles",
        moods=("minimal",),
    ),
    Concept(
        "beach",
        (
            "beach with the sea",
            "sandy beach by the ocean",
            "seaside holiday",
            "tropical shore with waves",
            "on the sand at the coast",
        ),
        ("beach", "sea", "ocean", "seaside", "shore", "coast", "waves", "tropical", "surf"),
        surface="sand",
        backdrop="sea",
        lighting="sunlight",
    ),
    Concept(
        "desert",
        ("desert dunes", "sand dunes under the sun", "arid desert landscape"),
        ("desert", "dune", "dunes", "arid", "sahara"),
        surface="sand",
        backdrop="sky",
        lighting="sunlight",
        moods=("warm",),
    ),
    Concept(
        "plants",
        (
            "plants in the background",
            "surrounded by green foliage",
            "leafy houseplants",
            "botanical greenery",
            "tropical palm and monstera leaves",
            "with ferns and eucalyptus",
        ),
        ("plant", "plants", "foliage", "greenery", "botanical", "fern", "monstera", "palm", "eucalyptus", "ivy"),
        props=("plants",),
        slot="greenery",
    ),
    Concept(
        "garden",
        ("in the garden", "outdoors in nature", "in a green forest", "on moss in the woods"),
        ("garden", "forest", "nature", "outdoor", "outdoors", "moss", "park"),
        surface="stone",
        props=("plants",),
        lighting="sunlight",
        moods=("earthy",),
    ),
    Concept(
        "fabric",
        ("on draped fabric", "soft linen cloth", "on silk sheets", "on a knitted blanket", "folded textile"),
        ("fabric", "linen", "cloth", "silk", "satin", "velvet", "blanket", "textile", "sheets"),
        surface="fabric",
        slot="surface",
    ),
    Concept(
        "stone",
        ("on a natural stone slab", "rocks and pebbles", "rough slate surface", "granite rock"),
        ("stone", "rock", "rocks", "pebble", "pebbles", "slate", "granite"),
        surface="stone",
        slot="surface",
    ),
    Concept(
        "snow",
        (
            "in the snow",
            "snowy winter landscape",
            "on fresh white snow",
            "frost and ice crystals",
            "mountain ski chalet in winter",
        ),
        ("snow", "snowy", "frost", "frosty", "ice", "icy", "winter", "snowflakes", "snowflake", "ski", "alpine"),
        surface="snow",
        lighting="soft",
        moods=("cool",),
    ),
    Concept(
        "water",
        ("in water with ripples", "splashing water", "pool water surface", "wet surface with droplets"),
        ("water", "splash", "ripples", "pool", "droplets", "wet", "aqua"),
        surface="water",
        slot="surface",
    ),
    Concept(
        "gifts",
        (
            "gift wrapped presents",
            "wrapping paper and ribbons",
            "gift boxes with bows",
            "a present for a birthday",
            "gift wrap",
        ),
        ("gift", "gifts", "present", "presents", "wrapping", "wrapped", "ribbon", "ribbons", "bow", "birthday"),
        props=("gifts",),
        colours=((176, 32, 44), (212, 172, 80)),
        slot="gifts",
    ),
    Concept(
        "christmas",
        (
            "christmas",
            "festive holiday season with fir branches",
            "xmas ornaments and baubles",
            "under the christmas tree",
            "christmas holidays",
        ),
        ("christmas", "xmas", "festive", "ornament", "ornaments", "baubles", "fir", "noel"),
        props=("pine", "ornaments"),
        overlays=("bokeh",),
        moods=("warm",),
        colours=((150, 28, 36), (36, 88, 56)),
        wall_colour=(58, 84, 64),  # a deep fir green behind warm lights
        slot="season",
    ),
    Concept(
        "autumn",
        ("autumn leaves", "fall season", "orange and brown fall foliage", "harvest time"),
        ("autumn", "fall", "harvest", "autumnal", "october"),
        props=("leaves",),
        lighting="golden_hour",
        moods=("warm", "earthy"),
        colours=((196, 104, 40), (150, 70, 30)),
        slot="season",
    ),
    Concept(
        "spring",
        ("spring flowers", "cherry blossom", "fresh blooming flowers", "floral arrangement", "bouquet of tulips"),
        ("spring", "flower", "flowers", "floral", "blossom", "blossoms", "bloom", "tulip", "tulips", "peony", "roses"),
        props=("flowers",),
        moods=("pastel",),
        colours=((240, 176, 196), (250, 236, 170)),
        slot="season",
    ),
    Concept(
        "summer",
        ("summer vibes", "bright sunny summer day", "poolside in summer", "hot summer sun"),
        ("summer", "sunny", "summertime"),
        lighting="sunlight",
        slot="season",
    ),
    Concept(
        "halloween",
        ("halloween", "spooky pumpkins", "trick or treat", "jack o lantern"),
        ("halloween", "pumpkin", "pumpkins", "spooky"),
        props=("pumpkins",),
        lighting="low_key",
        colours=((230, 110, 30), (40, 30, 40)),
        slot="season",
    ),
    Concept(
        "valentine",
        ("valentine's day", "romantic with rose petals", "love hearts", "romantic date"),
        ("valentine", "valentines", "romantic", "petals", "love", "hearts"),
        props=("petals",),
        moods=("warm",),
        colours=((214, 70, 96), (246, 190, 200)),
        slot="season",
    ),
    Concept(
        "easter",
        ("easter", "easter eggs", "easter bunny and pastel eggs"),
        ("easter", "eggs", "bunny"),
        props=("eggs",),
        moods=("pastel",),
        colours=((200, 220, 170), (250, 230, 160)),
        slot="season",
    ),
    Concept(
        "luxury",
        ("luxury", "premium high end look", "elegant and expensive", "exclusive boutique"),
        ("luxury", "luxurious", "premium", "elegant", "exclusive", "boutique", "upscale"),
        surface="marble",
        lighting="low_key",
        slot="style",
    ),
    Concept(
        "living_room",
        ("living room", "cozy home interior", "on a coffee table by the sofa", "scandinavian living room"),
        ("living", "sofa", "couch", "interior", "lounge"),
        surface="wood",
        wall="plaster",
        moods=("warm",),
    ),
    Concept(
        "bedroom",
        ("bedroom", "on the bedside table", "nightstand next to the bed"),
        ("bedroom", "bedside", "nightstand", "bed"),
        surface="wood",
        wall="plaster",
        lighting="soft",
    ),
    Concept(
        "office",
        ("on an office desk", "workspace", "home office desk setup"),
        ("office", "desk", "workspace", "workplace"),
        surface="wood",
        wall="paint",
    ),
    Concept(
        "cafe",
        ("in a cafe", "coffee shop table", "bistro terrace"),
        ("cafe", "coffee", "bistro", "restaurant", "bar"),
        surface="wood",
        backdrop="bokeh",
        overlays=("bokeh",),
        moods=("warm",),
    ),
    Concept(
        "morning",
        ("morning light", "early morning sun through a window", "soft daylight", "sunlight from the window"),
        ("morning", "daylight", "daylit", "sunrise"),
        lighting="sunlight",
        overlays=("window",),
        slot="light",
    ),
    Concept(
        "night",
        ("dark and moody", "at night", "dramatic shadows", "low light evening"),
        ("night", "moody", "dramatic", "midnight", "evening"),
        lighting="low_key",
        slot="light",
    ),
    Concept(
        "studio",
        ("clean studio shot", "plain background", "simple white backdrop", "ecommerce packshot"),
        ("studio", "packshot", "plain", "ecommerce", "catalog", "catalogue"),
        backdrop="sweep",
        moods=("minimal",),
        slot="style",
        yields_to=("setting",),
    ),
)

BY_NAME: dict[str, Concept] = {concept.name: concept for concept in CONCEPTS}

# Words that carry no scene fact of their own: never reported as "not used".
_STOPWORDS_TEXT = """
a an the of on in at to for with and or by from into onto over under near next behind beside besides
around between above below against beneath inside outside up down off out some any this that these
those it its it's is are be being been was were as like very really quite just so too my our your
their his her product products photo photos photograph photography picture image shot shots scene
scenes background backdrop setting style look looking view lit light lighting place placed put
standing stand sitting lying display displayed showing show nice beautiful pretty lovely good great
high quality professional realistic photorealistic detailed 4k 8k hd item items thing things one two
three please make made create want would should could can among amongst surrounded full
colour colours color colors tone tones
palette vibe vibes aesthetic feel feeling mood season day time kind sort type lots lot bit little
big small no without not avoid never none minus except
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())

_WORD = re.compile(r"[a-z0-9']+")
_SPLITTERS = re.compile(r"\b(?:with|and|next to|behind|beside|surrounded by|near|under|in front of|among|plus|while)\b")


def words_of(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("-", " "))


def _singular(word: str) -> str:
    for suffix in ("es", "s"):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            return word[: -len(suffix)]
    return word


_NEGATED = re.compile(r"\b(?:no|without|not|avoid|never|none|minus|except)\b(.*)$")


def split_negations(text: str) -> tuple[str, str]:
    """(affirmed text, negated text): in each clause, what follows "no"/"without"/... is negated."""
    affirmed: list[str] = []
    negated: list[str] = []
    for clause in re.split(r"[,;.+|/\n!?:]", text.lower()):
        found = _NEGATED.search(clause)
        if found:
            affirmed.append(clause[: found.start()])
            negated.append(found.group(1))
        else:
            affirmed.append(clause)
    return ", ".join(part for part in affirmed if words_of(part)), ", ".join(part for part in negated if words_of(part))


def phrases_of(text: str) -> list[tuple[str, str]]:
    """(phrase, its clause): the prompt's clauses and the sub-phrases inside them, each a unit to match."""
    clauses = [part.strip() for part in re.split(r"[,;.+|/\n!?:]", text.lower()) if words_of(part)]
    phrases: dict[str, str] = {}
    for clause in clauses:
        phrases.setdefault(clause, clause)
        parts = [part.strip() for part in _SPLITTERS.split(clause) if part and words_of(part)]
        if len(parts) > 1:
            for part in parts:
                phrases.setdefault(part, clause)
    return list(phrases.items())


@dataclass(frozen=True)
class ConceptMatch:
    concept: Concept
    score: float  # cosine similarity (1.0 for a keyword match)
    phrase: str


@dataclass(frozen=True)
class ConceptReading:
    matches: tuple[ConceptMatch, ...] = ()
    method: str = "keywords"  # "embedding" | "keywords"
    used_words: frozenset[str] = field(default_factory=frozenset)

    @property
    def concepts(self) -> tuple[Concept, ...]:
        return tuple(match.concept for match in self.matches)


class ConceptIndex:
    """Every concept's descriptions embedded once: (anchors × 384) and the concept of each row."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        anchors = [(concept, anchor) for concept in CONCEPTS for anchor in concept.anchors]
        self.owners = [concept for concept, _ in anchors]
        self.vectors = embedder.embed([anchor for _, anchor in anchors])

    def scores(self, phrases: list[str]) -> np.ndarray:
        """(phrases × concepts) best cosine similarity of each phrase to each concept."""
        similarity = self.embedder.embed(phrases) @ self.vectors.T
        result = np.full((len(phrases), len(CONCEPTS)), -1.0, np.float32)
        for row, concept in enumerate(self.owners):
            column = CONCEPTS.index(concept)
            result[:, column] = np.maximum(result[:, column], similarity[:, row])
        return result


def _select(candidates: list[ConceptMatch]) -> tuple[ConceptMatch, ...]:
    """The best concept of each slot, plus any of the same slot within MARGIN of it; a concept
    that yields to a slot is dropped when that slot has a concept."""
    best: dict[str, float] = {}
    for match in candidates:
        best[match.concept.slot] = max(best.get(match.concept.slot, -1.0), match.score)
    chosen: dict[str, ConceptMatch] = {}
    for match in sorted(candidates, key=lambda item: -item.score):
        if match.score >= best[match.concept.slot] - MARGIN and match.concept.name not in chosen:
            chosen[match.concept.name] = match
    slots = {match.concept.slot for match in chosen.values()}
    return tuple(match for match in chosen.values() if not slots.intersection(match.concept.yields_to))


def _content(words: list[str]) -> list[str]:
    return [word for word in words if word not in STOPWORDS]


def read_concepts(
    text: str | None, index: ConceptIndex | None, known: frozenset[str] = frozenset()
) -> ConceptReading:
    """The concepts a prompt asks for: by embedding when ``index`` is given, else by keywords.

    ``known`` are words the keyword vocabulary already read: a phrase made only of them says
    what the vocabulary says ("light wood" is wood, not a forest) and is not matched again.
    """
    if not text or not words_of(text):
        return ConceptReading(method="embedding" if index is not None else "keywords")
    if index is None:
        return _by_keywords(text)
    pairs = [
        (phrase, clause)
        for phrase, clause in phrases_of(text)
        if not set(_content(words_of(phrase))) <= known or not _content(words_of(phrase))
    ]
    if not pairs:
        keyword_reading = _by_keywords(text)
        return dataclasses.replace(keyword_reading, method="embedding")
    phrases = [phrase for phrase, _ in pairs]
    scores = index.scores(phrases)
    row_of = {phrase: row for row, phrase in enumerate(phrases)}
    candidates: list[ConceptMatch] = []
    used: set[str] = set()
    for row, (phrase, clause) in enumerate(pairs):
        accept = ACCEPT_ONE_WORD if len(_content(words_of(phrase))) <= 1 else ACCEPT
        floor = max(accept, float(scores[row].max()) - PHRASE_MARGIN)
        for column in np.flatnonzero(scores[row] >= floor).tolist():
            if clause != phrase and scores[row_of[clause], column] < CONTEXT:
                continue
            candidates.append(ConceptMatch(CONCEPTS[column], float(scores[row, column]), phrase))
    named = _by_keywords(text).matches  # a concept named outright is never missed, and wins its slot
    selected = _select([*candidates, *named])
    names = {match.concept.name for match in selected}
    for match in candidates:  # every phrase that spoke for a concept that was taken was followed
        if match.concept.name in names:
            used.update(words_of(match.phrase))
    used |= _keyword_words(text, [BY_NAME[name] for name in names])
    return ConceptReading(matches=selected, method="embedding", used_words=frozenset(used))


def _keyword_words(text: str, concepts: list[Concept]) -> set[str]:
    """The words of ``text`` that are keywords of ``concepts``."""
    keywords = {_singular(keyword) for concept in concepts for keyword in concept.keywords}
    return {word for word in words_of(text) if word in keywords or _singular(word) in keywords}


def _by_keywords(text: str) -> ConceptReading:
    words = words_of(text)
    singular = {_singular(word) for word in words} | set(words)
    matches: list[ConceptMatch] = []
    used: set[str] = set()
    for concept in CONCEPTS:
        hits = [keyword for keyword in concept.keywords if keyword in singular or _singular(keyword) in singular]
        if hits:
            matches.append(ConceptMatch(concept, 1.0, hits[0]))
    used |= _keyword_words(text, [match.concept for match in matches])
    return ConceptReading(matches=tuple(matches), method="keywords", used_words=frozenset(used))


def unused_words(text: str | None, recognised: tuple[str, ...], reading: ConceptReading) -> list[str]:
    """Words of the prompt that no vocabulary phrase and no matched concept accounted for."""
    if not text:
        return []
    covered = set(reading.used_words)
    for phrase in recognised:
        covered.update(words_of(phrase))
    covered_singular = {_singular(word) for word in covered}
    unused: list[str] = []
    for word in words_of(text):
        if word in STOPWORDS or word.isdigit() or len(word) < 2:
            continue
        if word in covered or _singular(word) in covered_singular:
            continue
        if word not in unused:
            unused.append(word)
    return unused
