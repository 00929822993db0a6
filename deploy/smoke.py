"""Smoke test of a built photostage image: start it, wait for its port, make an API key inside it,
send a scene request, fetch the result through its tmp link, check the worker command exists, and
stop it with SIGTERM within its grace period. Exit 0 and a last line "smoke test passed" when all
of that works.

    python deploy/smoke.py --image localhost/photostage:latest [--engine podman|docker]

The container runs on the host network (no port publishing needed, which a sandbox may not allow)
with its API on a free loopback port and its data directory in a temporary folder.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

HEALTH_TRIES = 240  # × 0.5 s: a cold start on a busy 2-core machine (imports) fits well inside
STOP_GRACE_S = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def product_png() -> bytes:
    """A small RGBA product (a shaded ellipse with a soft edge): no cut-out needed."""
    from PIL import Image, ImageDraw, ImageFilter

    image = Image.new("RGBA", (120, 180), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((20, 10, 100, 170), fill=(40, 120, 200, 255))
    alpha = image.getchannel("A").filter(ImageFilter.GaussianBlur(1.5))
    image.putalpha(alpha)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def http(method: str, url: str, body: dict | None = None, key: str | None = None) -> tuple[int, bytes, str]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers.get("Content-Type", "")


def run(engine: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([engine, *args], capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise SystemExit(f"{engine} {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def smoke(engine: str, image: str) -> None:
    name = f"photostage-smoke-{uuid.uuid4().hex[:8]}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="photostage-smoke-", ignore_cleanup_errors=True) as data_dir:
        os.chmod(data_dir, 0o777)  # the image's user (photostage) owns nothing on the host
        run(engine, "run", "-d", "--name", name, "--network", "host",
            "-e", "PHOTOSTAGE_SERVER__HOST=127.0.0.1", "-e", f"PHOTOSTAGE_SERVER__PORT={port}",
            "-v", f"{data_dir}:/var/lib/photostage", image, "serve")
        try:
            for _ in range(HEALTH_TRIES):
                try:
                    if http("GET", f"{base}/healthz")[0] == 200:
                        break
                except OSError:
                    pass
                if run(engine, "inspect", "-f", "{{.State.Running}}", name).stdout.strip() != "true":
                    raise SystemExit(f"the container stopped:\n{run(engine, 'logs', name, check=False).stderr}")
                time.sleep(0.5)
            else:
                raise SystemExit(f"no answer on {base}/healthz")
            print(f"serving on {base}")

            key = run(engine, "exec", name, "photostage", "keys", "create", "--name", "smoke").stdout.split()[-1]
            body = {
                "object": {"image_url": "data:image/png;base64," + base64.b64encode(product_png()).decode()},
                "scene": {"effect": "shadows", "seed": 1},
                "output": {"number_of_images": 1, "format": "png"},
            }
            status, answer, _ = http("POST", f"{base}/v1/scene/create", body, key)
            if status != 200:
                raise SystemExit(f"scene request answered {status}: {answer[:500]!r}")
            output = json.loads(answer)["data"]["output"][0]
            status, picture, media_type = http("GET", output["tmp_url"])
            if status != 200 or media_type != "image/png" or not picture.startswith(b"\x89PNG"):
                raise SystemExit(f"the result link answered {status} {media_type}")
            print(f"scene request: {output['width']}×{output['height']} {output['format']}, {len(picture)} bytes")

            if run(engine, "exec", name, "photostage", "worker", "--help", check=False).returncode != 0:
                raise SystemExit("`photostage worker --help` failed in the image")
            for command in (["db", "current"],):
                run(engine, "exec", name, "photostage", *command)

            started = time.monotonic()
            run(engine, "stop", "-t", str(STOP_GRACE_S), name)
            stopped_in = time.monotonic() - started
            logs = run(engine, "logs", name, check=False)
            if "Traceback" in logs.stdout + logs.stderr:
                raise SystemExit(f"the server logged a traceback:\n{logs.stdout}\n{logs.stderr}")
            print(f"stopped by SIGTERM in {stopped_in:.1f} s")
        finally:
            run(engine, "rm", "-f", name, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", required=True)
    parser.add_argument("--engine", default=os.environ.get("CONTAINER", "podman"))
    arguments = parser.parse_args()
    smoke(arguments.engine, arguments.image)
    print("smoke test passed")


if __name__ == "__main__":
    sys.exit(main())
