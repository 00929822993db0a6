"""Which device and number format the diffusion weights run on, and how much memory it has.

Device names are parsed here once (``auto``, ``cpu``, ``cpu:N``, ``cuda``, ``cuda:N``, ``mps``);
``auto`` resolves to the first CUDA device when one is visible, else Apple's ``mps``, else the
CPU, and says so with a warning when it fell back to the CPU. The number format (dtype) follows
the device and the weights' family unless the operator forces one; combinations that cannot work
(fp16 on a CPU, bf16 on a GPU without it) are refused with a reason instead of failing later.
torch is imported inside functions only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from photostage.config import DEVICE_NAME

DeviceKind = Literal["auto", "cpu", "cuda", "mps"]
DTYPE_NAMES: tuple[str, ...] = ("auto", "float16", "bfloat16", "float32")
DTYPE_BYTES = {"float16": 2, "bfloat16": 2, "float32": 4}



@dataclass(frozen=True)
class DeviceSpec:
    """A parsed device name: its kind and, for ``cuda:N``/``cpu:N``, its index."""

    kind: DeviceKind
    index: int | None = None

    @property
    def name(self) -> str:
        return self.kind if self.index is None else f"{self.kind}:{self.index}"


def parse_device(text: str) -> DeviceSpec:
    """``"cuda:1"`` → DeviceSpec("cuda", 1); anything else than the forms above is a ValueError."""
    match = DEVICE_NAME.match(text.strip().lower())
    if match is None:
        raise ValueError(f"device {text!r} is not one of auto, cpu, cpu:N, cuda, cuda:N, mps")
    kind, index = match.group(1), match.group(2)
    if index is not None and kind in ("auto", "mps"):
        raise ValueError(f"device {text!r}: {kind} takes no index")
    return DeviceSpec(kind, int(index) if index is not None else None)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ResolvedDevice:
    """The device the weights will really use.

    ``torch_name`` is what torch is given ("cuda:1", "cpu"); ``warning`` explains a fallback the
    operator may not expect (``auto`` without a GPU runs on the CPU, minutes per image).
    """

    kind: Literal["cpu", "cuda", "mps"]
    index: int | None
    requested: str
    warning: str | None = None

    @property
    def torch_name(self) -> str:
        if self.kind == "cuda":
            return f"cuda:{self.index or 0}"
        return self.kind  # torch treats cpu:N as the one CPU device

    @property
    def accelerator(self) -> bool:
        return self.kind != "cpu"


CPU_FALLBACK_WARNING = (
    "no GPU is visible, so device auto runs the diffusion weights on the CPU in float32: "
    "minutes per image; set engines.diffusion_device to cuda once a GPU is installed"
)


def resolve_device(spec: DeviceSpec) -> ResolvedDevice:
    """Resolve ``auto`` and check that an explicit device exists here (raises ValueError if not)."""
    import torch

    requested = spec.name
    if spec.kind == "auto":
        if torch.cuda.is_available():
            return ResolvedDevice("cuda", 0, requested)
        if _mps_available(torch):
            return ResolvedDevice("mps", None, requested)
        return ResolvedDevice("cpu", None, requested, warning=CPU_FALLBACK_WARNING)
    if spec.kind == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = spec.index or 0
        if index >= count:
            seen = "no CUDA device is visible" if count == 0 else f"only {count} CUDA device(s) are visible"
            raise ValueError(f"device {requested} was asked for but {seen}")
        return ResolvedDevice("cuda", index, requested)
    if spec.kind == "mps":
        if not _mps_available(torch):
            raise ValueError("device mps was asked for but this torch build has no usable MPS backend")
        return ResolvedDevice("mps", None, requested)
    return ResolvedDevice("cpu", None, requested)


def _mps_available(torch: object) -> bool:
    backends = getattr(torch, "backends", None)
    mps = getattr(backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def choose_dtype(requested: str, device: ResolvedDevice, family: str, bf16_supported: bool) -> str:
    """The number format the weights run in.

    ``auto``: float32 on the CPU; on a GPU float16 for the Stable Diffusion families and bfloat16
    for FLUX (trained in bf16; float16 overflows in its transformer) where the GPU has it.
    Refused: float16 on the CPU (most kernels are missing or very slow), bfloat16 on a GPU
    without bf16 arithmetic (before NVIDIA Ampere).
    """
    if requested not in DTYPE_NAMES:
        raise ValueError(f"dtype {requested!r} is not one of {', '.join(DTYPE_NAMES)}")
    if requested == "auto":
        if not device.accelerator:
            return "float32"
        if family == "flux" and bf16_supported:
            return "bfloat16"
        return "float16"
    if requested == "float16" and not device.accelerator:
        raise ValueError("dtype float16 does not run on the CPU; use float32 (or bfloat16)")
    if requested == "bfloat16" and device.kind == "cuda" and not bf16_supported:
        raise ValueError(f"{device.torch_name} has no bfloat16 arithmetic; use float16 or float32")
    return requested


def bf16_supported(device: ResolvedDevice) -> bool:
    import torch

    if device.kind == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    return True  # CPU and MPS compute bf16 (slowly on older CPUs)


@dataclass(frozen=True)
class DeviceMemory:
    """Bytes on the device: ``total`` and ``free`` when measured (free RAM for the CPU)."""

    total: int
    free: int


def device_memory(device: ResolvedDevice) -> DeviceMemory:
    """Free and total memory of the device now (CUDA: the driver's numbers for this GPU, shared with
    other processes; CPU: available RAM; MPS: the recommended working set)."""
    import torch

    if device.kind == "cuda":
        free, total = torch.cuda.mem_get_info(device.index or 0)
        return DeviceMemory(total=int(total), free=int(free))
    if device.kind == "mps":
        total = int(torch.mps.recommended_max_memory())
        return DeviceMemory(total=total, free=max(0, total - int(torch.mps.current_allocated_memory())))
    return host_memory()


def host_memory() -> DeviceMemory:
    """RAM: total, and available (free plus reclaimable page cache, Linux's ``MemAvailable``)."""
    page = os.sysconf("SC_PAGE_SIZE")
    total = os.sysconf("SC_PHYS_PAGES") * page
    free = os.sysconf("SC_AVPHYS_PAGES") * page
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    return DeviceMemory(total=total, free=free)
