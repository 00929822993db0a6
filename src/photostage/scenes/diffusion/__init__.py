"""`diffusion`: photoreal scenes painted by a local diffusers inpainting pipeline around the product.

Optional: needs the ``diffusion`` extra (torch, diffusers, transformers) and a diffusers-format
directory of weights. Nothing here imports torch at import time.
"""
