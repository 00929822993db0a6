"""The prompt interpreter: free text → typed :class:`PromptTerms`, and prompts written for a product.

Prompts are read the way people write Claid prompts: comma-separated clauses such as
``"marble countertop, marble wall background, monochromatic, bokeh, closeup"``. Inside a clause
phrases are matched longest first against :mod:`vocabulary`; a material is a *wall* material
when the next place noun after it is a wall noun ("marble wall", "concrete background"), and a
surface otherwise. A colour (with an optional "light"/"dark" modifier) colours the material or
place noun right after it, or else joins the palette. "no"/"without"/"not"/"avoid" negate the
rest of their clause. Unknown words are ignored: interpretation never fails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from photostage.scenes.studio import colours
from photostage.scenes.studio.colours import COLOUR_NAMES, LIGHTNESS_MODIFIERS, RGB
from photostage.scenes.studio.vocabulary import CLAUSE_BREAKS, MAX_PHRASE_WORDS, PHRASES, Fact

_TOKEN = re.compile(r"[a-z0-9'&]+")
_NEGATORS = frozenset({"no", "without", "not", "avoid", "never", "none", "minus", "except"})
_PLACE_FAMILIES = ("surface_noun", "wall_noun")


@dataclass(frozen=True)
class PromptTerms:
    """What a prompt says, in vocabulary terms; ``None``/empty means "not said"."""

    facts: tuple[Fact, ...] = ()
    avoided: frozenset[Fact] = frozenset()
    surface: str | None = None
    surface_colour: RGB | None = None
    surface_tone: float = 0.0
    wall: str | None = None
    wall_colour: RGB | None = None
    wall_tone: float = 0.0
    colours: tuple[RGB, ...] = ()
    avoided_colours: tuple[RGB, ...] = ()
    recognised: tuple[str, ...] = field(default=())

    def values(self, family: str) -> tuple[str, ...]:
        """Every value said for ``family``, in order of appearance, without repeats."""
        seen: list[str] = []
        for fact_family, value in self.facts:
            if fact_family == family and value not in seen:
                seen.append(value)
        return tuple(seen)

    def first(self, family: str) -> str | None:
        found = self.values(family)
        return found[0] if found else None

    def mentions(self, family: str, value: str) -> bool:
        return (family, value) in self.facts

    @property
    def materials(self) -> frozenset[str]:
        return frozenset(self.values("material"))


@dataclass(frozen=True)
class _Item:
    """A matched phrase in a clause: its facts, or a colour with its lightness modifier."""

    phrase: str
    facts: tuple[Fact, ...] = ()
    colour: RGB | None = None
    tone: float = 0.0


def _clauses(text: str) -> list[list[str]]:
    cleaned = text.lower().replace("-", " ").replace("_", " ").replace("off white", "offwhite")
    pattern = "[" + re.escape(CLAUSE_BREAKS) + "]"
    return [tokens for part in re.split(pattern, cleaned) if (tokens := _TOKEN.findall(part))]


def _singular(word: str) -> str:
    for suffix in ("es", "s"):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            return word[: -len(suffix)]
    return word


def _lookup(words: list[str]) -> tuple[str, tuple[Fact, ...] | None, RGB | None]:
    phrase = " ".join(words)
    if phrase in PHRASES:
        return phrase, PHRASES[phrase], None
    if len(words) == 1:
        if phrase in COLOUR_NAMES:
            return phrase, None, COLOUR_NAMES[phrase]
        single = _singular(phrase)
        if single in PHRASES:
            return single, PHRASES[single], None
        if single in COLOUR_NAMES:
            return single, None, COLOUR_NAMES[single]
    return phrase, None, None


def _match_at(tokens: list[str], start: int) -> tuple[int, _Item | None]:
    """The longest phrase starting at ``start``: (words consumed, item or None)."""
    for length in range(min(MAX_PHRASE_WORDS, len(tokens) - start), 0, -1):
        phrase, facts, colour = _lookup(tokens[start : start + length])
        if facts is not None or colour is not None:
            return length, _Item(phrase, facts or (), colour)
    return 1, None


def _modifies_next(tokens: list[str], index: int) -> bool:
    """Whether a lightness word ("dark", "light") qualifies a colour or material that follows."""
    if tokens[index] not in LIGHTNESS_MODIFIERS or index + 1 >= len(tokens):
        return False
    _, item = _match_at(tokens, index + 1)
    return item is not None and (item.colour is not None or any(f == "material" for f, _ in item.facts))


def _items(tokens: list[str]) -> tuple[list[_Item], list[_Item]]:
    """(affirmed items, negated items) of one clause, in order."""
    affirmed: list[_Item] = []
    negated: list[_Item] = []
    negating = False
    index = 0
    while index < len(tokens):
        if tokens[index] in _NEGATORS:
            negating = True
            index += 1
            continue
        tone = 0.0
        if _modifies_next(tokens, index):
            tone = LIGHTNESS_MODIFIERS[tokens[index]]
            index += 1
        consumed, item = _match_at(tokens, index)
        if item is not None:
            item = _Item(item.phrase, item.facts, item.colour, tone)
            (negated if negating else affirmed).append(item)
        index += consumed
    return _merge_colours(affirmed), _merge_colours(negated)


def _merge_colours(items: list[_Item]) -> list[_Item]:
    """Adjacent colour words name one colour ("sage green", "navy blue"): the first word is the
    specific shade, the second the family it leans to."""
    merged: list[_Item] = []
    for item in items:
        previous = merged[-1] if merged else None
        if item.colour is not None and previous is not None and previous.colour is not None:
            shade = colours.mix(previous.colour, item.colour, 0.25)
            merged[-1] = _Item(f"{previous.phrase} {item.phrase}", previous.facts, shade, previous.tone or item.tone)
        else:
            merged.append(item)
    return merged


def _place_after(items: list[_Item], position: int) -> str | None:
    """The family of the first place noun after ``position`` (surface or wall noun), or None when
    another material comes first."""
    for item in items[position + 1 :]:
        families = {family for family, _ in item.facts}
        if "material" in families:
            return None
        for family in _PLACE_FAMILIES:
            if family in families:
                return family
    return None


def _material_of(item: _Item) -> str | None:
    return next((value for family, value in item.facts if family == "material"), None)


@dataclass
class _Reading:
    """Mutable accumulator while reading a prompt; frozen into PromptTerms at the end."""

    facts: list[Fact] = field(default_factory=list)
    avoided: set[Fact] = field(default_factory=set)
    roles: dict[str, tuple[str, RGB | None, float]] = field(default_factory=dict)
    place_colours: dict[str, RGB] = field(default_factory=dict)
    colours: list[RGB] = field(default_factory=list)
    avoided_colours: list[RGB] = field(default_factory=list)
    recognised: list[str] = field(default_factory=list)


def _read_clause(items: list[_Item], reading: _Reading) -> None:
    for position, item in enumerate(items):
        reading.recognised.append(item.phrase)
        material = _material_of(item)
        if material is not None:
            place = "wall" if _place_after(items, position) == "wall_noun" else "surface"
            previous = items[position - 1] if position > 0 else None
            colour = previous.colour if previous is not None and previous.colour is not None else None
            if colour is not None and previous is not None:
                colour = colours.lighten(colour, previous.tone) if previous.tone else colour
            reading.roles.setdefault(place, (material, colour, item.tone))
        if item.colour is not None:
            _read_colour(items, position, item, reading)
        reading.facts.extend(item.facts)


def _read_colour(items: list[_Item], position: int, item: _Item, reading: _Reading) -> None:
    colour = colours.lighten(item.colour, item.tone) if item.tone and item.colour else item.colour
    assert colour is not None
    following = items[position + 1] if position + 1 < len(items) else None
    if following is not None and _material_of(following) is not None:
        return  # the material takes this colour (see _read_clause)
    families = {family for family, _ in following.facts} if following is not None else set()
    if "wall_noun" in families:
        reading.place_colours.setdefault("wall", colour)
    elif "surface_noun" in families:
        reading.place_colours.setdefault("surface", colour)
    else:
        reading.colours.append(colour)


def parse_prompt(text: str | None) -> PromptTerms:
    """Read a free-text prompt into typed terms. Never fails; unknown words are ignored."""
    reading = _Reading()
    for tokens in _clauses(text or ""):
        affirmed, negated = _items(tokens)
        _read_clause(affirmed, reading)
        for item in negated:
            reading.avoided.update(item.facts)
            if item.colour is not None:
                reading.avoided_colours.append(item.colour)
    surface = reading.roles.get("surface")
    wall = reading.roles.get("wall")
    return PromptTerms(
        facts=tuple(reading.facts),
        avoided=frozenset(reading.avoided),
        surface=surface[0] if surface else None,
        surface_colour=(surface[1] if surface and surface[1] else reading.place_colours.get("surface")),
        surface_tone=surface[2] if surface else 0.0,
        wall=wall[0] if wall else None,
        wall_colour=(wall[1] if wall and wall[1] else reading.place_colours.get("wall")),
        wall_tone=wall[2] if wall else 0.0,
        colours=tuple(reading.colours),
        avoided_colours=tuple(reading.avoided_colours),
        recognised=tuple(reading.recognised),
    )


# --- prompts written for a product -----------------------------------------------------------------


@dataclass(frozen=True)
class ProductLook:
    """What the product looks like, as far as choosing a scene goes."""

    dominant: RGB
    accent: RGB
    lightness: float
    saturation: float
    aspect: float  # height / width of the opaque silhouette


def _cluster_colours(pixels: np.ndarray, count: int = 3, rounds: int = 8) -> list[tuple[RGB, int]]:
    """A tiny deterministic k-means: (centre, member count), largest cluster first."""
    luminance = pixels @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    order = np.argsort(luminance, kind="stable")
    centres = pixels[order[np.linspace(0, len(order) - 1, count).astype(int)]].copy()
    labels = np.zeros(len(pixels), np.int64)
    for _ in range(rounds):
        distances = ((pixels[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        labels = distances.argmin(axis=1)
        for cluster in range(count):
            members = pixels[labels == cluster]
            if len(members):
                centres[cluster] = members.mean(axis=0)
    counts = np.bincount(labels, minlength=count)
    found: list[tuple[tuple[int, int, int], int]] = []
    for c in range(count):
        if counts[c]:
            red, green, blue = (int(round(v)) for v in centres[c])
            found.append(((red, green, blue), int(counts[c])))
    return sorted(found, key=lambda pair: -pair[1])


def look_of(product_rgba: np.ndarray) -> ProductLook | None:
    """Dominant and accent colours and the silhouette's shape; None for an empty product."""
    alpha = product_rgba[..., 3]
    ys, xs = np.nonzero(alpha > 128)
    if len(ys) == 0:
        return None
    stride = max(1, len(ys) // 4000)
    pixels = product_rgba[ys[::stride], xs[::stride], :3].astype(np.float32)
    clusters = _cluster_colours(pixels)
    dominant: RGB = clusters[0][0]
    accent: RGB = max(clusters, key=lambda pair: colours.chroma(pair[0]) * (pair[1] ** 0.25))[0]
    _, lightness, saturation = colours.to_hls(dominant)
    aspect = (ys.max() - ys.min() + 1) / (xs.max() - xs.min() + 1)
    return ProductLook(dominant, accent, lightness, saturation * colours.chroma(dominant) ** 0.5, float(aspect))


def _surface_for(look: ProductLook, avoided: frozenset[Fact]) -> str:
    """A surface that contrasts with the product: light stone under dark things, wood under light."""
    if look.lightness < 0.4:
        choices = ("marble", "plaster", "concrete")
    elif look.lightness > 0.72:
        choices = ("wood", "concrete", "stone")
    elif look.saturation > 0.3:
        choices = ("plaster", "marble", "fabric")
    else:
        choices = ("concrete", "wood", "marble")
    return next((name for name in choices if ("material", name) not in avoided), "paper")


def _palette_for(look: ProductLook) -> tuple[str, str]:
    """(backdrop colour name, mood) in harmony with the product's dominant colour."""
    hue, _, _ = colours.to_hls(look.accent)
    if look.saturation > 0.25:
        backdrop = colours.from_hls(hue + 0.5, 0.82, 0.28)  # muted complement: the product pops
        return colours.nearest_name(backdrop), "pastel"
    if look.lightness < 0.35:
        return "beige", "warm"
    if look.lightness > 0.75:
        return "sage", "earthy"
    return "cream", "minimal"


def describe_product(product_rgba: np.ndarray, guidelines: str | None) -> str:
    """A scene prompt written for ``product_rgba``: harmonious colours, a view that suits its shape.

    ``guidelines`` is read like a prompt and wins: whatever family it speaks about (surface,
    wall, lighting, view, palette) is taken from it and not generated; what it avoids
    ("no wood") is not chosen.
    """
    guide = parse_prompt(guidelines)
    look = look_of(product_rgba)
    clauses: list[str] = [guidelines.strip()] if guidelines and guidelines.strip() else []
    if look is None:
        return ", ".join([*clauses, "soft studio lighting, seamless white sweep, professional product photography"])
    flat = look.aspect < 0.6
    view = guide.first("view") or ("top" if flat else "front")
    backdrop_name, mood = _palette_for(look)
    surface = guide.surface or _surface_for(look, guide.avoided)
    if guide.surface is None:
        clauses.append(f"on a {surface} surface" if view == "top" else f"on a {surface} table")
    if view == "front" and guide.wall is None and guide.first("backdrop") is None and guide.wall_colour is None:
        clauses.append(f"{backdrop_name} wall background")
    if not guide.colours and not guide.values("mood"):
        clauses.append(f"{mood} palette")
    if guide.first("lighting") is None:
        clauses.append("soft studio lighting")
    if guide.first("view") is None:
        clauses.append("flat lay top view" if view == "top" else "front view")
    clauses.append("professional product photography")
    return ", ".join(clauses)
