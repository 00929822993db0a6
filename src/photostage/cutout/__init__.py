"""Object extraction engines: alpha, classical (GrabCut + matting), optional neural."""
