"""From what the prompt says to a complete, concrete :class:`ScenePlan`.

The planner decides everything the prompt left open (from the seed, so variations differ),
honours negatives (a negative names something → it is neither chosen nor kept), and turns
colour words, moods and the request's main colour into concrete RGB for the wall, the surface
and the accents. The renderer then has no decisions left to make.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from photostage.scenes.studio import colours
from photostage.scenes.studio.colours import RGB
from photostage.scenes.studio.prompt import PromptTerms
from photostage.scenes.studio.vocabulary import Fact

# Natural colours of the materials, before palette tinting.
MATERIAL_COLOURS: dict[str, RGB] = {
    "marble": (236, 233, 228),
    "wood": (150, 104, 68),
    "concrete": (168, 166, 162),
    "stone": (132, 130, 126),
    "terrazzo": (232, 226, 216),
    "fabric": (214, 203, 184),
    "paper": (236, 234, 230),
    "sand": (218, 192, 150),
    "tiles": (226, 226, 222),
    "glass": (200, 204, 208),
    "mirror": (205, 208, 212),
    "water": (120, 170, 186),
    "plaster": (222, 212, 198),
    "paint": (226, 222, 216),
    "snow": (240, 243, 248),
}

# How much of the scene a material mirrors (glossy floors show the product's reflection).
MATERIAL_GLOSS: dict[str, float] = {
    "glass": 0.55,
    "mirror": 0.8,
    "water": 0.45,
    "marble": 0.16,
    "tiles": 0.12,
}

# The direction the key light comes from, per lighting (degrees clockwise from the top).
LIGHT_ANGLES: dict[str, float] = {
    "soft": 302.0,
    "low_key": 318.0,
    "sunlight": 296.0,
    "golden_hour": 282.0,
    "neon": 330.0,
}

_DEFAULT_FRONT_SURFACES = ("paper", "concrete", "plaster", "wood", "stone")
_DEFAULT_TOP_SURFACES = ("paper", "plaster", "fabric", "concrete")
_NEUTRAL_WALLS: tuple[RGB, ...] = ((228, 224, 218), (222, 224, 226), (232, 226, 214), (214, 210, 204))
_NEON_ACCENTS: tuple[RGB, RGB] = ((255, 40, 170), (40, 200, 255))
_WARM_SHIFT: RGB = (255, 196, 140)
_COOL_SHIFT: RGB = (160, 196, 255)
_EARTHY: RGB = (196, 140, 100)


@dataclass(frozen=True)
class ScenePlan:
    """Everything the renderer needs to know about the scene, decided."""

    view: str  # "front" | "top"
    surface: str  # material of the floor/table (front) or of the whole surface (top)
    wall: str  # material of the wall; "paint" is a plain painted wall
    backdrop: str  # "wall" | "sweep" | "bokeh" | "sky" | "sunset"
    lighting: str  # "soft" | "low_key" | "sunlight" | "golden_hour" | "neon"
    moods: frozenset[str]
    surface_colour: RGB
    wall_colour: RGB
    accents: tuple[RGB, RGB]
    light_angle: float
    window_light: bool
    plant_shadows: bool
    bokeh_lights: bool
    closeup: bool
    depth_of_field: float  # 0–1
    gloss: float  # 0–1, how strongly the surface reflects
    horizon_ratio: float  # wall/floor junction height above the product base, in product heights
    recognised: tuple[str, ...] = ()
    props: tuple[str, ...] = ()  # things set around the product: podium, plants, gifts, ornaments...
    concepts: tuple[str, ...] = ()  # the scene concepts the prompt was read as (kitchen, beach, christmas...)


@dataclass(frozen=True)
class _Wishes:
    """The prompt and the negative prompt, merged: what is asked and what is refused."""

    terms: PromptTerms
    avoided: frozenset[Fact]
    avoided_colours: tuple[RGB, ...]

    def said(self, family: str) -> str | None:
        return next((value for value in self.terms.values(family) if (family, value) not in self.avoided), None)

    def allowed(self, family: str, value: str) -> bool:
        return (family, value) not in self.avoided

    def wants(self, family: str, value: str) -> bool:
        return self.terms.mentions(family, value) and self.allowed(family, value)


def _choose(rng: np.random.Generator, options: tuple[str, ...], wishes: _Wishes) -> str:
    allowed = tuple(option for option in options if wishes.allowed("material", option))
    return str(rng.choice(allowed or ("paper",)))


def _view(requested: str, wishes: _Wishes) -> str:
    if requested in ("top", "front"):
        return requested
    return "top" if wishes.said("view") == "top" else "front"


def _lighting(wishes: _Wishes, backdrop_said: str | None) -> str:
    explicit = wishes.said("lighting") or wishes.said("lighting_hint")
    if explicit is not None:
        return explicit
    if backdrop_said == "sunset" and wishes.allowed("lighting", "golden_hour"):
        return "golden_hour"
    return "soft" if wishes.allowed("lighting", "soft") else "sunlight"


def _backdrop(wishes: _Wishes, lighting: str, rng: np.random.Generator) -> str:
    explicit = wishes.said("backdrop")
    if explicit is not None:
        return explicit
    if wishes.terms.wall is not None or wishes.terms.wall_colour is not None:
        return "wall"
    if wishes.wants("overlay", "bokeh") and wishes.allowed("backdrop", "bokeh") and lighting in ("low_key", "neon"):
        return "bokeh"
    hint = wishes.said("backdrop_hint")
    if hint is not None:
        return hint
    if lighting in ("low_key", "neon"):
        return "wall"
    options = tuple(name for name in ("sweep", "wall") if wishes.allowed("backdrop", name))
    return str(rng.choice(options or ("wall",)))


def _surface(wishes: _Wishes, view: str, backdrop: str, lighting: str, rng: np.random.Generator) -> str:
    terms = wishes.terms
    if terms.surface is not None and wishes.allowed("material", terms.surface):
        return terms.surface
    hint = wishes.said("material_hint")
    if hint is not None:
        return hint
    if wishes.wants("gloss", "polished") and wishes.allowed("material", "glass"):
        return "glass"
    if view == "top":
        return _choose(rng, _DEFAULT_TOP_SURFACES, wishes)
    if backdrop == "sweep" and wishes.allowed("material", "paper"):
        return "paper"
    if backdrop in ("sky", "sunset", "sea") and wishes.allowed("material", "sand"):
        return "sand"
    if lighting == "neon" and wishes.allowed("material", "concrete"):
        return "concrete"
    return _choose(rng, _DEFAULT_FRONT_SURFACES, wishes)


def _wall(wishes: _Wishes, backdrop: str, surface: str) -> str:
    terms = wishes.terms
    if terms.wall is not None and wishes.allowed("material", terms.wall):
        return terms.wall
    if backdrop == "sweep":
        return "paper"
    if surface == "paper":
        return "paper"
    return "paint"


def _main_colour(spec_colour: RGB | None, wishes: _Wishes) -> tuple[RGB | None, float]:
    """The scene's main colour and how strongly it steers the palette (0–1)."""
    if spec_colour is not None:
        return spec_colour, 0.85
    if wishes.terms.colours:
        return wishes.terms.colours[0], 0.6
    return None, 0.0


def _apply_moods(colour: RGB, moods: frozenset[str], lighting: str) -> RGB:
    if "pastel" in moods:
        hue, lightness, saturation = colours.to_hls(colour)
        colour = colours.from_hls(hue, max(lightness, 0.8), min(max(saturation, 0.35), 0.55))
    if "vibrant" in moods:
        colour = colours.saturate(colour, 1.5)
    if "warm" in moods or lighting == "golden_hour":
        colour = colours.mix(colour, _WARM_SHIFT, 0.12)
    if "cool" in moods:
        colour = colours.mix(colour, _COOL_SHIFT, 0.12)
    if "earthy" in moods:
        colour = colours.mix(colour, _EARTHY, 0.15)
    if "minimal" in moods:
        colour = colours.saturate(colour, 0.7)
    return colour


def _avoid(colour: RGB, avoided: tuple[RGB, ...]) -> RGB:
    """Move a colour away from any colour the negative prompt names."""
    for bad in avoided:
        if colours.chroma(bad) < 0.12:  # a neutral: move the lightness away from it
            if abs(colours.luminance(colour) - colours.luminance(bad)) < 0.25 and colours.chroma(colour) < 0.2:
                target = 0.3 if colours.luminance(bad) > 0.5 else 0.85
                colour = colours.with_lightness(colour, target)
        elif colours.hue_distance(colour, bad) < 0.09:
            colour = colours.rotate_hue(colour, 0.33)
    return colour


def _wall_colour(
    wishes: _Wishes, wall: str, main: RGB | None, strength: float, lighting: str, rng: np.random.Generator
) -> RGB:
    if wishes.terms.wall_colour is not None:
        base = wishes.terms.wall_colour
    elif main is not None:
        natural = MATERIAL_COLOURS.get(wall, MATERIAL_COLOURS["paint"])
        base = colours.mix(natural, main, strength if wall in ("paint", "paper", "plaster") else strength * 0.6)
    else:
        natural = MATERIAL_COLOURS.get(wall, MATERIAL_COLOURS["paint"])
        base = colours.mix(natural, _NEUTRAL_WALLS[int(rng.integers(len(_NEUTRAL_WALLS)))], 0.5)
    base = colours.lighten(base, wishes.terms.wall_tone)
    if lighting in ("low_key", "neon") and wishes.terms.wall_colour is None and main is None:
        base = colours.with_lightness(base, 0.34 if lighting == "low_key" else 0.12)
    return base


def _surface_colour(
    wishes: _Wishes, surface: str, main: RGB | None, strength: float, moods: frozenset[str], wall_colour: RGB
) -> RGB:
    natural = MATERIAL_COLOURS.get(surface, MATERIAL_COLOURS["paper"])
    if wishes.terms.surface_colour is not None:
        base = wishes.terms.surface_colour
    elif "monochrome" in moods:
        base = colours.mix(natural, colours.lighten(wall_colour, -0.05), 0.7)
    elif main is not None:
        blend = strength * (0.8 if surface in ("paper", "plaster", "fabric", "terrazzo", "glass") else 0.4)
        base = colours.mix(natural, main, blend)
    else:
        base = natural
    return colours.lighten(base, wishes.terms.surface_tone)


def _accents(main: RGB | None, wall_colour: RGB, lighting: str, wishes: _Wishes) -> tuple[RGB, RGB]:
    said = wishes.terms.colours
    if lighting == "neon":
        first = colours.saturate(said[0], 1.6) if said else _NEON_ACCENTS[0]
        second = colours.saturate(said[1], 1.6) if len(said) > 1 else _NEON_ACCENTS[1]
        return first, second
    anchor = main if main is not None else wall_colour
    if len(said) > 1:
        return said[1], said[2] if len(said) > 2 else colours.rotate_hue(said[1], 0.1)
    if "vibrant" in wishes.terms.values("mood"):
        return colours.rotate_hue(anchor, 0.5), colours.rotate_hue(anchor, 0.15)
    return colours.lighten(colours.rotate_hue(anchor, 0.08), -0.15), colours.lighten(anchor, -0.3)


def _depth_of_field(wishes: _Wishes, view: str, closeup: bool) -> float:
    if not wishes.allowed("camera", "dof"):
        return 0.0
    if view == "top":
        return 0.25 if wishes.wants("camera", "dof") else 0.0
    if wishes.wants("camera", "dof"):
        return 0.9
    if closeup:
        return 0.65
    return 0.2 if wishes.wants("camera", "wide") else 0.4


def _gloss(wishes: _Wishes, surface: str, lighting: str) -> float:
    if not wishes.allowed("gloss", "polished"):
        return 0.0
    gloss = MATERIAL_GLOSS.get(surface, 0.0)
    if lighting == "neon":
        gloss = max(gloss, 0.3)
    if wishes.wants("gloss", "polished"):
        gloss = max(gloss * 1.4, 0.3)
    if wishes.wants("gloss", "matte"):
        gloss *= 0.3
    return min(gloss, 0.9)


def _light_angle(lighting: str, override: float | None, rng: np.random.Generator) -> float:
    if override is not None:
        return float(override) % 360.0
    base = LIGHT_ANGLES[lighting]
    mirrored = rng.random() < 0.5  # key light from the left or the right: a visible variation
    angle = (360.0 - base) if mirrored else base
    return float((angle + rng.uniform(-14.0, 14.0)) % 360.0)


def plan_scene(
    terms: PromptTerms,
    negative: PromptTerms,
    spec_colour: RGB | None,
    requested_view: str,
    light_angle: float | None,
    rng: np.random.Generator,
) -> ScenePlan:
    """Decide the whole scene. ``rng`` supplies the choices the prompt leaves open."""
    wishes = _Wishes(
        terms=terms,
        avoided=terms.avoided | frozenset(negative.facts) | _negative_materials(negative),
        avoided_colours=terms.avoided_colours
        + negative.colours
        + tuple(colour for colour in (negative.surface_colour, negative.wall_colour) if colour is not None),
    )
    view = _view(requested_view, wishes)
    lighting = _lighting(wishes, wishes.said("backdrop"))
    backdrop = _backdrop(wishes, lighting, rng)
    surface = _surface(wishes, view, backdrop, lighting, rng)
    wall = _wall(wishes, backdrop, surface)
    moods = frozenset(value for value in terms.values("mood") if wishes.allowed("mood", value))
    main, strength = _main_colour(spec_colour, wishes)
    if main is None and ("pastel" in moods or "vibrant" in moods):
        # a palette mood with no colour named: choose the colour, so the scene shows the mood
        main, strength = colours.from_hls(float(rng.uniform(0.0, 1.0)), 0.6, 0.55), 0.7
    if main is not None:
        main = _avoid(_apply_moods(main, moods, lighting), wishes.avoided_colours)
    wall_colour = _avoid(
        _apply_moods(_wall_colour(wishes, wall, main, strength, lighting, rng), moods, lighting),
        wishes.avoided_colours,
    )
    surface_colour = _avoid(
        _apply_moods(_surface_colour(wishes, surface, main, strength, moods, wall_colour), moods, lighting),
        wishes.avoided_colours,
    )
    closeup = wishes.wants("camera", "closeup")
    return ScenePlan(
        view=view,
        surface=surface,
        wall=wall,
        backdrop=backdrop,
        lighting=lighting,
        moods=moods,
        surface_colour=surface_colour,
        wall_colour=wall_colour,
        accents=_accents(main, wall_colour, lighting, wishes),
        light_angle=_light_angle(lighting, light_angle, rng),
        window_light=wishes.wants("overlay", "window")
        or (lighting == "sunlight" and rng.random() < 0.4 and wishes.allowed("overlay", "window")),
        plant_shadows=wishes.wants("overlay", "plants"),
        bokeh_lights=(wishes.wants("overlay", "bokeh") or backdrop == "bokeh") and wishes.allowed("overlay", "bokeh"),
        closeup=closeup,
        depth_of_field=_depth_of_field(wishes, view, closeup),
        gloss=_gloss(wishes, surface, lighting),
        horizon_ratio=float(rng.uniform(0.32, 0.5) * (1.25 if closeup else 1.0)),
        recognised=terms.recognised,
        props=tuple(value for value in terms.values("prop") if wishes.allowed("prop", value)),
        concepts=terms.values("concept"),
    )


def _negative_materials(negative: PromptTerms) -> frozenset[Fact]:
    """Materials a negative prompt names in any role (its wall and surface readings included)."""
    named = {name for name in (negative.surface, negative.wall) if name is not None}
    return frozenset(("material", name) for name in named)
