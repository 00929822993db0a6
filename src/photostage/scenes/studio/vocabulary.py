"""The words the studio prompt interpreter knows, grouped by what they say about a scene.

Each phrase maps to one or more (family, value) facts. Families:

* ``material`` — a surface/wall material (which of the two it is depends on the nouns nearby);
* ``surface_noun`` / ``wall_noun`` — nouns that tell a material where it is (table vs wall);
* ``backdrop`` — what is behind the product: wall, sweep, bokeh, sky, sunset;
* ``overlay`` — light and shadow patterns cast on the set: window, plants, bokeh;
* ``lighting`` — soft, low_key, sunlight, golden_hour, neon;
* ``lighting_hint`` / ``backdrop_hint`` — weaker versions, used only if nothing explicit is said;
* ``mood`` — pastel, monochrome, vibrant, warm, cool, earthy, minimal;
* ``camera`` — closeup, wide, dof;
* ``view`` — top, front;
* ``gloss`` — polished, matte.

``material_hint`` and the hints are used only when nothing explicit is said.
Colour names live in :mod:`colours`. Anything not listed is ignored: unknown words never fail.
"""

from __future__ import annotations

Fact = tuple[str, str]

MATERIALS = ("marble", "wood", "concrete", "stone", "terrazzo", "fabric", "paper", "sand", "tiles",
             "glass", "mirror", "water", "plaster")
BACKDROPS = ("wall", "sweep", "bokeh", "sky", "sunset")
LIGHTINGS = ("soft", "low_key", "sunlight", "golden_hour", "neon")
MOODS = ("pastel", "monochrome", "vibrant", "warm", "cool", "earthy", "minimal")


_GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("material", "marble", ("marble", "marbled", "carrara", "calacatta", "onyx", "quartz")),
    ("material", "wood", ("wood", "wooden", "oak", "walnut", "timber", "plank", "planks", "parquet", "teak",
                          "pine", "driftwood", "hardwood", "mahogany", "cherrywood", "butcher block")),
    ("material", "concrete", ("concrete", "cement", "microcement", "stucco", "brutalist")),
    ("material", "stone", ("stone", "slate", "granite", "travertine", "limestone", "rock", "rocks", "basalt",
                           "sandstone")),
    ("material", "terrazzo", ("terrazzo",)),
    ("material", "fabric", ("linen", "fabric", "cloth", "cotton", "silk", "satin", "velvet", "textile",
                            "tablecloth", "sheet", "sheets", "blanket", "wool", "knit", "drape", "draped")),
    ("material", "paper", ("paper", "kraft", "cardboard")),
    ("material", "sand", ("sand", "sandy", "beach", "desert", "dune", "dunes")),
    ("material", "tiles", ("tile", "tiles", "tiled", "ceramic", "mosaic", "subway tile", "subway tiles",
                           "zellige", "bathroom")),
    ("material", "glass", ("glass", "acrylic", "plexiglass", "perspex", "lacquer")),
    ("material", "mirror", ("mirror", "mirrored", "chrome", "mirror like")),
    ("material", "water", ("water", "pool", "puddle", "ripples", "ripple", "lake", "wet", "splash")),
    ("material", "plaster", ("plaster", "limewash", "venetian plaster", "clay", "adobe")),
    ("surface_noun", "surface", ("table", "tables", "tabletop", "table top", "countertop", "counter",
                                 "counter top", "floor", "surface", "podium", "pedestal", "plinth", "platform",
                                 "shelf", "desk", "tray", "slab", "ground", "stand", "board", "block", "cube",
                                 "bench", "top", "worktop")),
    ("wall_noun", "wall", ("wall", "walls", "background", "backdrop", "behind", "backsplash")),
    ("backdrop", "sweep", ("sweep", "seamless", "infinity", "infinity cove", "cyclorama", "cyc", "paper sweep",
                           "studio sweep", "seamless paper", "studio backdrop")),
    ("backdrop", "wall", ("wall", "walls")),
    ("backdrop", "bokeh", ("fairy lights", "string lights", "city lights", "christmas lights", "bokeh lights",
                           "festive", "lights", "sparkles", "glitter")),
    ("backdrop", "sky", ("sky", "skies", "clouds", "cloudy", "blue sky", "outdoor", "outdoors", "horizon",
                         "ocean", "sea", "seaside", "coast")),
    ("backdrop", "sunset", ("sunset", "sunrise", "dusk", "twilight", "dawn")),
    ("overlay", "window", ("window", "window light", "windowlight", "blinds", "shutters", "window shadow",
                           "window shadows", "light through window", "sunbeam", "sunbeams")),
    ("overlay", "plants", ("plant", "plants", "leaves", "leaf", "palm", "palms", "foliage", "botanical",
                           "tropical", "monstera", "gobo", "dappled", "plant shadow", "plant shadows",
                           "leaf shadows", "plants shadow", "fern", "ferns", "branches")),
    ("overlay", "bokeh", ("bokeh", "bokeh lights", "fairy lights", "string lights", "city lights",
                          "christmas lights", "sparkles", "glitter")),
    ("camera", "dof", ("bokeh", "depth of field", "shallow depth of field", "shallow focus", "dof",
                       "blurred background", "blurry background", "blur", "blurred", "soft focus",
                       "out of focus")),
    ("camera", "closeup", ("closeup", "close up", "macro", "detail shot", "tight shot")),
    ("camera", "wide", ("wide", "wide shot", "wide angle", "full shot", "establishing shot")),
    ("lighting", "soft", ("soft light", "soft lighting", "softbox", "diffused", "diffuse", "studio light",
                          "studio lighting", "even light", "high key", "airy", "bright", "clean light",
                          "natural light", "professional lighting")),
    ("lighting", "low_key", ("dark", "darkness", "dark room", "low key", "moody", "dramatic", "night",
                             "nighttime", "shadowy", "noir", "dim", "dimly lit", "chiaroscuro", "spotlight",
                             "spot light")),
    ("lighting", "sunlight", ("sun", "sunlight", "sunny", "sunlit", "hard light", "harsh light", "summer",
                              "midday", "daylight", "direct sunlight")),
    ("lighting", "golden_hour", ("golden hour", "golden light", "warm light", "evening light", "magic hour",
                                 "late afternoon")),
    ("lighting", "neon", ("neon", "cyberpunk", "synthwave", "vaporwave", "club", "led", "rgb", "neon lights",
                          "futuristic", "retrowave")),
    ("lighting_hint", "soft", ("studio", "professional", "product photography", "commercial", "catalog",
                               "catalogue", "ecommerce", "e commerce")),
    ("lighting_hint", "golden_hour", ("sunset", "sunrise", "dusk", "dawn", "autumn", "fall")),
    ("lighting_hint", "low_key", ("luxury", "luxurious", "premium", "elegant", "black background")),
    ("backdrop_hint", "sweep", ("studio", "product photography", "ecommerce", "e commerce", "catalog",
                                "catalogue")),
    ("backdrop_hint", "sky", ("beach",)),
    ("material_hint", "water", ("sea", "ocean", "seaside")),
    ("mood", "pastel", ("pastel", "pastels", "soft colors", "soft colours", "candy", "dreamy")),
    ("mood", "monochrome", ("monochromatic", "monochrome", "tonal", "tone on tone", "single color",
                            "single colour", "black and white", "grayscale", "greyscale", "b&w")),
    ("mood", "vibrant", ("vibrant", "colorful", "colourful", "bold", "saturated", "vivid", "pop",
                         "bright colors", "bright colours", "playful")),
    ("mood", "warm", ("warm", "cozy", "cosy", "warm tones", "autumnal", "rustic")),
    ("mood", "cool", ("cool", "cold", "icy", "winter", "frosty", "cool tones", "fresh")),
    ("mood", "earthy", ("earthy", "natural", "organic", "boho", "bohemian")),
    ("mood", "minimal", ("minimal", "minimalist", "minimalistic", "simple", "clean", "scandinavian")),
    ("view", "top", ("flat lay", "flatlay", "top view", "top down", "overhead", "bird's eye", "birds eye",
                     "from above", "knolling", "lay flat", "laid flat", "overhead shot")),
    ("view", "front", ("front view", "eye level", "side view", "standing", "straight on", "frontal")),
    ("gloss", "polished", ("polished", "shiny", "glossy", "lacquered", "gloss", "reflective", "reflection",
                           "reflections", "mirror finish")),
    ("gloss", "matte", ("matte", "matt", "honed", "rough", "raw", "brushed")),
)


def _build_phrases() -> dict[str, tuple[Fact, ...]]:
    phrases: dict[str, tuple[Fact, ...]] = {}
    for family, value, words in _GROUPS:
        for word in words:
            phrases[word] = (*phrases.get(word, ()), (family, value))
    return phrases


PHRASES: dict[str, tuple[Fact, ...]] = _build_phrases()

MAX_PHRASE_WORDS = max(len(phrase.split()) for phrase in PHRASES)

CLAUSE_BREAKS = ",;.+|/\n!?:"
