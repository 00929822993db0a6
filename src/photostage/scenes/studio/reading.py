"""A prompt read in full: the keyword vocabulary (:mod:`prompt`) and the scene concepts
(:mod:`concepts`, by sentence embedding when the model is installed) merged into one
:class:`PromptTerms`, with the words nothing used.

Explicit words win: a concept only fills what the prompt's own words left open ("kitchen
counter" brings a stone counter and a tiled backsplash, "wooden kitchen counter" keeps the wood).
A negated concept ("no plants") keeps its props, backdrop and overlays out of the scene.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from photostage.scenes.studio.concepts import (
    ConceptIndex,
    ConceptReading,
    read_concepts,
    split_negations,
    unused_words,
    words_of,
)
from photostage.scenes.studio.prompt import PromptTerms, parse_prompt
from photostage.scenes.studio.vocabulary import Fact

_AVOIDABLE = ("prop", "backdrop", "overlay")


@dataclass(frozen=True)
class PromptReading:
    terms: PromptTerms
    concepts: tuple[str, ...]  # names of the concepts taken, best first
    method: str  # "embedding" | "keywords"
    unused: tuple[str, ...]  # prompt words nothing used

    @property
    def facts(self) -> dict[str, list[str]]:
        """The scene facts the prompt asked for, by family (for reports and tests)."""
        grouped: dict[str, list[str]] = {}
        for family, value in self.terms.facts:
            values = grouped.setdefault(family, [])
            if value not in values:
                values.append(value)
        return grouped


def read_prompt(text: str | None, index: ConceptIndex | None) -> PromptReading:
    terms = parse_prompt(text)
    if not text:
        return PromptReading(terms, (), "embedding" if index is not None else "keywords", ())
    affirmed, negated = split_negations(text)
    known = frozenset(word for phrase in terms.recognised for word in words_of(phrase))
    reading = read_concepts(affirmed, index, known)
    negative = read_concepts(negated, None) if negated else ConceptReading()
    merged = merge(terms, reading, _avoided_by(negative))
    heard = dataclasses.replace(reading, used_words=reading.used_words | negative.used_words)
    return PromptReading(
        terms=merged,
        concepts=tuple(concept.name for concept in reading.concepts),
        method=reading.method,
        unused=tuple(unused_words(text, terms.recognised, heard)),
    )


def _avoided_by(negative: ConceptReading) -> frozenset[Fact]:
    return frozenset(fact for concept in negative.concepts for fact in concept.facts if fact[0] in _AVOIDABLE)


def merge(terms: PromptTerms, reading: ConceptReading, avoided: frozenset[Fact] = frozenset()) -> PromptTerms:
    """``terms`` with what the concepts add where the words left it open."""
    said_families = {family for family, _ in terms.facts}
    facts: list[Fact] = list(terms.facts)
    surface, wall, palette, wall_colour = terms.surface, terms.wall, terms.colours, terms.wall_colour
    # surface concepts ("on a silk scarf") speak for the surface before settings do
    ordered = sorted(reading.concepts, key=lambda concept: concept.slot != "surface")
    for concept in ordered:
        for fact in concept.facts:
            family = fact[0]
            if family in ("lighting", "backdrop") and family in said_families:
                continue
            if family == "material":
                continue  # surface material is taken through `surface` below
            if fact not in facts and fact not in avoided and fact not in terms.avoided:
                facts.append(fact)
        if surface is None and concept.surface and ("material", concept.surface) not in terms.avoided:
            surface = concept.surface
            facts.append(("material", concept.surface))
        if wall is None and concept.wall and ("material", concept.wall) not in terms.avoided:
            wall = concept.wall
        if not palette and concept.colours:
            palette = concept.colours
        if wall_colour is None and concept.wall_colour is not None:
            wall_colour = concept.wall_colour
    return dataclasses.replace(
        terms,
        facts=tuple(facts),
        avoided=terms.avoided | avoided,
        surface=surface,
        wall=wall,
        wall_colour=wall_colour,
        colours=palette,
    )
