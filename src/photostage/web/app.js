// photostage playground: place a product on a canvas, build the exact request, run it, show results.
// Placement arithmetic mirrors photostage/imaging/geometry.py so the box you see is the box you get.

const ASPECT_RATIOS = ["1:1", "4:5", "3:4", "2:3", "4:7", "7:9", "9:16", "5:4", "4:3", "3:2",
  "9:7", "19:13", "7:4", "16:9", "12:5", "21:9"];
const PREFERENCE_AREA = { fast: 512 * 1024, optimal: 1024 * 1024, best: 2 * 1024 * 1024 };
const KEY_STORAGE = "photostage.apiKey";
const POLL_MS = 500;
const WORK_MAX_SIDE = 1024;
const HANDLE_RADIUS = 7;
const KNOB_OFFSET = 28;
const CUTOUT_UNCERTAIN = "3021"; // the server's cut-out gate refused the photo's automatic cut-out

const $ = (id) => document.getElementById(id);

const state = {
  // {dataUri, name, image, trimmed: canvas, frame: [w, h], box: [x0, y0, x1, y1], from: "browser" | "server"}:
  // "browser" trims transparency only; "server" is the server's own cut-out (POST /v1/cutout/preview)
  product: null,
  previewSeq: 0,        // the latest cut-out preview asked for; older answers are ignored
  rotated: null,        // {rotation, canvas, box} cache of the trimmed product rotated clockwise
  template: null,       // {dataUri, bytes, size: [w, h]}
  kind: "prompt",
  scale: 0.6,
  rotation: 0,
  position: { x: 0.5, y: 0.5 },
  drag: null,
  busy: false,
};

// ----------------------------------------------------------------------------- geometry (server rules)

function multipleOf8(value) {
  return Math.max(8, Math.round(value / 8) * 8);
}

function canvasSize(aspect, preference) {
  const [rw, rh] = aspect.split(":").map(Number);
  const width = Math.sqrt(PREFERENCE_AREA[preference] * rw / rh);
  return [multipleOf8(width), multipleOf8(width * rh / rw)];
}

function absoluteBox(objectSize, canvas, scale, position) {
  const [ow, oh] = objectSize;
  const [cw, ch] = canvas;
  const factor = scale * Math.min(cw / ow, ch / oh);
  const width = ow * factor;
  const height = oh * factor;
  return { left: position.x * cw - width / 2, top: position.y * ch - height / 2, width, height };
}

function originalBox(box, frame, canvas) {
  const [x0, y0, x1, y1] = box;
  const factor = Math.min(canvas[0] / frame[0], canvas[1] / frame[1]);
  const width = (x1 - x0) * factor;
  const height = (y1 - y0) * factor;
  const cx = (x0 + x1) / 2 / frame[0] * canvas[0];
  const cy = (y0 + y1) / 2 / frame[1] * canvas[1];
  return { left: cx - width / 2, top: cy - height / 2, width, height };
}

const MIN_ROOM = 0.01;  // geometry.MIN_ROOM

// CSS-like padding, one to four values in % or px (contract.request.parse_padding):
// [top, right, bottom, left] as [number, unit] pairs, or null when the text is not one.
function parsePadding(text) {
  const parts = text.trim().split(/\s+/);
  if (parts.length < 1 || parts.length > 4) return null;
  const sides = [];
  for (const part of parts) {
    const match = /^(\d+(?:\.\d+)?)(%|px)$/.exec(part);
    if (!match || (match[2] === "%" && Number(match[1]) > 50)) return null;
    sides.push([Number(match[1]), match[2]]);
  }
  const [a, b = a, c = a, d = b] = sides;
  return [a, b, c, d];
}

function paddingBox(objectSize, canvas, sides) {
  const [ow, oh] = objectSize;
  const [cw, ch] = canvas;
  const fraction = ([number, unit], extent) => (unit === "%" ? number / 100 : number / extent);
  const [top, right, bottom, left] = [fraction(sides[0], ch), fraction(sides[1], cw), fraction(sides[2], ch),
    fraction(sides[3], cw)];
  const roomW = 1 - left - right;
  const roomH = 1 - top - bottom;
  const centreX = roomW >= MIN_ROOM ? cw * (left + roomW / 2) : cw * (left + (1 - right)) / 2;
  const centreY = roomH >= MIN_ROOM ? ch * (top + roomH / 2) : ch * (top + (1 - bottom)) / 2;
  const factor = Math.min(cw * Math.max(roomW, MIN_ROOM) / ow, ch * Math.max(roomH, MIN_ROOM) / oh);
  const width = ow * factor;
  const height = oh * factor;
  return { left: centreX - width / 2, top: centreY - height / 2, width, height };
}

// Bounding box [x0, y0, x1, y1) of alpha > 0, like cutout.base.alpha_box.
function alphaBox(canvas) {
  const { width, height } = canvas;
  const data = canvas.getContext("2d").getImageData(0, 0, width, height).data;
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y++) {
    const row = y * width * 4;
    for (let x = 0; x < width; x++) {
      if (data[row + x * 4 + 3] > 0) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        y1 = y;
      }
    }
  }
  return x1 < 0 ? [0, 0, width, height] : [x0, y0, x1 + 1, y1 + 1];
}

function offscreen(width, height) {
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, width);
  canvas.height = Math.max(1, height);
  return canvas;
}

// The product cropped to what is really there (a work copy at most WORK_MAX_SIDE on a side).
function trimProduct(image) {
  const full = offscreen(image.naturalWidth, image.naturalHeight);
  full.getContext("2d").drawImage(image, 0, 0);
  return cropToBox(image, alphaBox(full), null);
}

// The image cropped to ``box`` (input pixels) at work size; with a mask (the server's alpha, any
// size), the mask becomes the alpha, so what is drawn is what the server will place.
function cropToBox(image, box, mask) {
  const [x0, y0, x1, y1] = box;
  const shrink = Math.min(1, WORK_MAX_SIDE / Math.max(x1 - x0, y1 - y0));
  const trimmed = offscreen(Math.round((x1 - x0) * shrink), Math.round((y1 - y0) * shrink));
  const ctx = trimmed.getContext("2d");
  ctx.drawImage(image, x0, y0, x1 - x0, y1 - y0, 0, 0, trimmed.width, trimmed.height);
  if (mask) {
    const sx = mask.naturalWidth / image.naturalWidth;
    const sy = mask.naturalHeight / image.naturalHeight;
    const alpha = offscreen(trimmed.width, trimmed.height);
    const actx = alpha.getContext("2d");
    actx.imageSmoothingQuality = "high";
    actx.drawImage(mask, x0 * sx, y0 * sy, (x1 - x0) * sx, (y1 - y0) * sy, 0, 0, trimmed.width, trimmed.height);
    const pixels = ctx.getImageData(0, 0, trimmed.width, trimmed.height);
    const grey = actx.getImageData(0, 0, trimmed.width, trimmed.height).data;
    for (let i = 3; i < pixels.data.length; i += 4) pixels.data[i] = Math.min(pixels.data[i], grey[i - 3]);
    ctx.putImageData(pixels, 0, 0);
  }
  return { trimmed, frame: [image.naturalWidth, image.naturalHeight], box };
}

// Rotate clockwise about the centre, grow the frame, then re-measure the alpha box (compose.rotate + crop).
function rotatedProduct() {
  const rotation = state.rotation % 360;
  if (state.rotated && state.rotated.rotation === rotation) return state.rotated;
  const source = state.product.trimmed;
  const radians = rotation * Math.PI / 180;
  const cos = Math.abs(Math.cos(radians));
  const sin = Math.abs(Math.sin(radians));
  const canvas = offscreen(Math.ceil(source.width * cos + source.height * sin - 1e-9),
    Math.ceil(source.width * sin + source.height * cos - 1e-9));
  const ctx = canvas.getContext("2d");
  ctx.translate(canvas.width / 2, canvas.height / 2);
  ctx.rotate(radians);
  ctx.drawImage(source, -source.width / 2, -source.height / 2);
  state.rotated = { rotation, canvas, box: alphaBox(canvas) };
  return state.rotated;
}

// ----------------------------------------------------------------------------- form state

function sceneCanvas() {
  if (state.kind === "template") {
    return state.template ? state.template.size : [1024, 1024];
  }
  const preference = state.kind === "prompt" ? $("preference").value : "optimal";
  return canvasSize($("aspect").value, preference);
}

function placement() {
  return $("placement").value;
}

// Where the product goes on the scene canvas, in scene pixels, plus the image to draw there.
function placedProduct() {
  if (!state.product) return null;
  const canvas = sceneCanvas();
  const mode = placement();
  if (mode === "absolute") {
    const rotated = rotatedProduct();
    const [x0, y0, x1, y1] = rotated.box;
    const box = absoluteBox([x1 - x0, y1 - y0], canvas, state.scale, state.position);
    return { box, source: rotated.canvas, crop: rotated.box };
  }
  const trimmed = state.product.trimmed;
  const crop = [0, 0, trimmed.width, trimmed.height];
  const [bx0, by0, bx1, by1] = state.product.box;
  if (mode === "original") {
    return { box: originalBox(state.product.box, state.product.frame, canvas), source: trimmed, crop };
  }
  const margins = parsePadding($("padding").value) || [[0, "%"], [0, "%"], [0, "%"], [0, "%"]];
  return { box: paddingBox([bx1 - bx0, by1 - by0], canvas, margins), source: trimmed, crop };
}

function round(value, digits) {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

function removalOff() {
  return !$("remove-bg").checked;
}

// The least cut-out confidence this page asks for (object.min_cutout_confidence), or null for the server's.
function minConfidence() {
  const text = $("min-confidence").value.trim();
  const value = Number(text);
  return text === "" || !Number.isFinite(value) ? null : Math.min(1, Math.max(0, value));
}

function buildObject() {
  const object = { image_url: state.product ? state.product.dataUri : "" };
  if (removalOff()) object.remove_background = false;
  const least = minConfidence();
  if (least !== null && !removalOff()) object.min_cutout_confidence = least;
  const mode = placement();
  if (mode === "absolute") {
    object.scale = round(state.scale, 4);
    object.rotation_degree = round(state.rotation, 2);
    object.position = { x: round(state.position.x, 4), y: round(state.position.y, 4) };
  } else {
    object.placement_type = mode;
    if (mode === "padding") object.padding = $("padding").value.trim();
  }
  return object;
}

function optionalText(id) {
  const value = $(id).value.trim();
  return value ? value : undefined;
}

function optionalInt(id) {
  const value = $(id).value.trim();
  return value === "" ? undefined : Number.parseInt(value, 10);
}

function buildPrompt() {
  if ($("prompt-generate").checked) {
    const guidelines = optionalText("guidelines");
    return guidelines ? { generate: true, guidelines } : { generate: true };
  }
  return $("prompt-text").value.trim();
}

function buildScene() {
  const common = {
    model: $("model").value, seed: optionalInt("seed"), shadow: $("shadow-on").checked ? undefined : { enabled: false },
  };
  if (state.kind === "prompt") {
    return {
      prompt: buildPrompt(),
      negative_prompt: optionalText("negative-prompt"),
      color: $("prompt-color-on").checked ? $("prompt-color").value : undefined,
      steps: optionalInt("steps"),
      preference: $("preference").value,
      aspect_ratio: $("aspect").value,
      ...common,
    };
  }
  if (state.kind === "template") {
    return {
      template_url: state.template ? state.template.dataUri : $("template-url").value.trim(),
      template_mode: $("template-mode").value,
      view: $("template-view").value,
      prompt: optionalText("template-prompt"),
      ...common,
    };
  }
  return {
    effect: "shadows",
    color: $("effect-transparent").checked ? "transparent" : $("effect-color").value,
    view: $("effect-view").value,
    aspect_ratio: $("aspect").value,
    ...common,
  };
}

function buildFormat() {
  const format = $("format").value;
  const quality = Number($("quality").value);
  if (format === "jpeg") return { type: "jpeg", quality };
  if (format === "webp" || format === "avif") return { type: format, compression: { type: "lossy", quality } };
  return "png";
}

function buildRequest() {
  return {
    object: buildObject(),
    scene: buildScene(),
    output: { number_of_images: Number($("count").value), format: buildFormat() },
  };
}

// ----------------------------------------------------------------------------- request display

function elide(key, value) {
  if (typeof value === "string" && value.startsWith("data:")) {
    return `data:…(${value.length} bytes)`;
  }
  return value;
}

function curlCommand(json) {
  const body = json.replace(/'/g, "'\\''");
  return `curl -sS -X POST '${location.origin}/v1/scene/create' \\\n` +
    `  -H "Authorization: Bearer $PHOTOSTAGE_API_KEY" \\\n` +
    `  -H 'Content-Type: application/json' \\\n` +
    `  -d '${body}'`;
}

function renderRequest() {
  const request = buildRequest();
  const shown = JSON.stringify(request, elide, 2);
  $("request-json").textContent = shown;
  $("request-curl").textContent = curlCommand(shown);
}

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Copy failed";
  }
  setTimeout(() => { button.textContent = "Copy"; }, 1200);
}

// ----------------------------------------------------------------------------- canvas drawing

const view = { scale: 1, width: 0, height: 0 };

function fitCanvas() {
  const [cw, ch] = sceneCanvas();
  const stage = $("stage");
  const maxW = stage.clientWidth - 32;
  const share = $("stage-panel").classList.contains("has-results") ? 0.36 : 0.62;
  const maxH = Math.max(220, Math.min(window.innerHeight * share, 720));
  view.scale = Math.min(maxW / cw, maxH / ch);
  view.width = Math.round(cw * view.scale);
  view.height = Math.round(ch * view.scale);
  const canvas = $("canvas");
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(view.width * ratio);
  canvas.height = Math.round(view.height * ratio);
  canvas.style.width = `${view.width}px`;
  canvas.style.height = `${view.height}px`;
  $("canvas-size").textContent = `${cw} × ${ch} px`;
}

let checker = null;

function checkerPattern(ctx) {
  if (checker) return checker;
  const tile = offscreen(16, 16);
  const t = tile.getContext("2d");
  t.fillStyle = "#ffffff";
  t.fillRect(0, 0, 16, 16);
  t.fillStyle = "#e6e8ee";
  t.fillRect(0, 0, 8, 8);
  t.fillRect(8, 8, 8, 8);
  checker = ctx.createPattern(tile, "repeat");
  return checker;
}

function drawBackdrop(ctx) {
  if (state.kind === "effect") {
    ctx.fillStyle = $("effect-transparent").checked ? checkerPattern(ctx) : $("effect-color").value;
    ctx.fillRect(0, 0, view.width, view.height);
    return;
  }
  if (state.kind === "template" && state.template) {
    ctx.drawImage(state.template.image, 0, 0, view.width, view.height);
    return;
  }
  const gradient = ctx.createLinearGradient(0, 0, 0, view.height);
  const tint = state.kind === "prompt" && $("prompt-color-on").checked ? $("prompt-color").value : "#e9ecf3";
  gradient.addColorStop(0, "#f8f9fc");
  gradient.addColorStop(1, tint);
  ctx.fillStyle = gradient;
  ctx.fillRect(0, 0, view.width, view.height);
}

function screenBox(box) {
  return {
    left: box.left * view.scale, top: box.top * view.scale,
    width: box.width * view.scale, height: box.height * view.scale,
  };
}

function drawHandles(ctx, box) {
  ctx.strokeStyle = "#5b5bf0";
  ctx.lineWidth = 1.5;
  ctx.setLineDash([5, 4]);
  ctx.strokeRect(box.left, box.top, box.width, box.height);
  ctx.setLineDash([]);
  const knob = knobPoint(box);
  ctx.beginPath();
  ctx.moveTo(box.left + box.width / 2, box.top);
  ctx.lineTo(knob.x, knob.y);
  ctx.stroke();
  for (const point of [cornerPoint(box), knob]) {
    ctx.beginPath();
    ctx.arc(point.x, point.y, HANDLE_RADIUS, 0, Math.PI * 2);
    ctx.fillStyle = "#ffffff";
    ctx.fill();
    ctx.stroke();
  }
}

function cornerPoint(box) {
  return { x: box.left + box.width, y: box.top + box.height };
}

function knobPoint(box) {
  return { x: box.left + box.width / 2, y: box.top - KNOB_OFFSET };
}

function draw() {
  const canvas = $("canvas");
  const ctx = canvas.getContext("2d");
  const ratio = window.devicePixelRatio || 1;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, view.width, view.height);
  drawBackdrop(ctx);
  $("empty").classList.toggle("hidden", Boolean(state.product));
  const placed = placedProduct();
  if (!placed) return;
  const box = screenBox(placed.box);
  const [x0, y0, x1, y1] = placed.crop;
  ctx.save();
  ctx.shadowColor = "rgba(20, 24, 40, 0.18)";
  ctx.shadowBlur = 18;
  ctx.shadowOffsetY = 8;
  ctx.drawImage(placed.source, x0, y0, x1 - x0, y1 - y0, box.left, box.top, box.width, box.height);
  ctx.restore();
  if (placement() === "absolute") drawHandles(ctx, box);
}

function refresh() {
  fitCanvas();
  draw();
  renderRequest();
}

// ----------------------------------------------------------------------------- canvas interaction

function pointerAt(event) {
  const rect = $("canvas").getBoundingClientRect();
  return { x: event.clientX - rect.left, y: event.clientY - rect.top };
}

function near(point, target) {
  return Math.hypot(point.x - target.x, point.y - target.y) <= HANDLE_RADIUS + 5;
}

function inside(point, box) {
  return point.x >= box.left && point.x <= box.left + box.width &&
    point.y >= box.top && point.y <= box.top + box.height;
}

function hitTest(point) {
  if (!state.product || placement() !== "absolute") return null;
  const box = screenBox(placedProduct().box);
  if (near(point, knobPoint(box))) return "rotate";
  if (near(point, cornerPoint(box))) return "scale";
  return inside(point, box) ? "move" : null;
}

function onPointerDown(event) {
  const point = pointerAt(event);
  const action = hitTest(point);
  if (!action) return;
  event.preventDefault();
  $("canvas").setPointerCapture(event.pointerId);
  state.drag = { action, start: point, position: { ...state.position } };
}

function clamp(value, low, high) {
  return Math.min(high, Math.max(low, value));
}

// Scale from the corner: the scale whose box reaches the pointer on the limiting side.
function scaleFromCorner(point) {
  const rotated = rotatedProduct();
  const [x0, y0, x1, y1] = rotated.box;
  const [cw, ch] = sceneCanvas();
  const full = absoluteBox([x1 - x0, y1 - y0], [cw, ch], 1, state.position);
  const cx = state.position.x * cw * view.scale;
  const cy = state.position.y * ch * view.scale;
  const byWidth = 2 * Math.abs(point.x - cx) / (full.width * view.scale);
  const byHeight = 2 * Math.abs(point.y - cy) / (full.height * view.scale);
  return clamp(Math.max(byWidth, byHeight), 0.01, 1);
}

// Rotation from the knob: clockwise degrees from straight up, about the object's centre.
function rotationFromKnob(point) {
  const [cw, ch] = sceneCanvas();
  const cx = state.position.x * cw * view.scale;
  const cy = state.position.y * ch * view.scale;
  let degrees = Math.atan2(point.x - cx, cy - point.y) * 180 / Math.PI;
  degrees = (degrees + 360) % 360;
  return Math.round(degrees);
}

function onPointerMove(event) {
  const point = pointerAt(event);
  if (!state.drag) {
    const action = hitTest(point);
    $("canvas").dataset.hover = action || "";
    return;
  }
  const { action, start, position } = state.drag;
  if (action === "move") {
    state.position = {
      x: clamp(position.x + (point.x - start.x) / view.width, 0, 1),
      y: clamp(position.y + (point.y - start.y) / view.height, 0, 1),
    };
  } else if (action === "scale") {
    setScale(scaleFromCorner(point));
  } else {
    setRotation(rotationFromKnob(point));
  }
  draw();
  renderRequest();
}

function onPointerUp(event) {
  if (!state.drag) return;
  state.drag = null;
  $("canvas").releasePointerCapture(event.pointerId);
}

function onKey(event) {
  if (!state.product || placement() !== "absolute") return;
  const step = event.shiftKey ? 0.05 : 0.005;
  const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
  const move = moves[event.key];
  if (!move) return;
  event.preventDefault();
  state.position = {
    x: clamp(state.position.x + move[0], 0, 1),
    y: clamp(state.position.y + move[1], 0, 1),
  };
  draw();
  renderRequest();
}

function setScale(value) {
  state.scale = value;
  $("scale").value = String(value);
  $("scale-out").textContent = value.toFixed(2);
}

function setRotation(value) {
  state.rotation = value;
  $("rotation").value = String(value);
  $("rotation-out").textContent = `${value}°`;
}

// ----------------------------------------------------------------------------- files

function readFile(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

function loadImage(src) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error("this file is not an image the browser can read"));
    image.src = src;
  });
}

async function useProduct(file) {
  if (!file) return;
  try {
    const dataUri = await readFile(file);
    const image = await loadImage(dataUri);
    state.product = { dataUri, name: file.name, image, from: "browser", ...trimProduct(image) };
    state.rotated = null;
    state.position = { x: 0.5, y: 0.5 };
    $("drop-text").textContent = `${file.name} · ${image.naturalWidth}×${image.naturalHeight}`;
    $("drop").classList.add("filled");
    hideError();
    clearResults();
    refresh();
    await previewCutout();
  } catch (error) {
    showError({ error_message: `Could not read ${file.name}: ${error.message}` });
  }
}

function setCutoutStatus(text, from, reasons = []) {
  $("cutout").classList.remove("hidden");
  $("cutout-status").textContent = text;
  $("cutout-reasons").replaceChildren(...reasons.map((reason) => {
    const item = document.createElement("li");
    item.textContent = reason;
    return item;
  }));
  $("drop").dataset.cutout = from;
  if (state.product) $("cutout-image").src = state.product.trimmed.toDataURL("image/png");
}

// Ask the server what it will cut out (the same steps as a scene request), show that mask, and
// place that box: an opaque photo's product is usually much smaller than its frame.
async function previewCutout() {
  const product = state.product;
  if (!product) return;
  const seq = ++state.previewSeq;
  if (!apiKey()) {
    setCutoutStatus("Enter the API key to preview the server's cut-out.", "browser");
    return;
  }
  setCutoutStatus("Cutting out…", "pending");
  const body = { image_url: product.dataUri };
  if (removalOff()) body.remove_background = false;
  const least = minConfidence();
  if (least !== null && !removalOff()) body.min_cutout_confidence = least;
  try {
    const response = await fetch("/v1/cutout/preview", { method: "POST", headers: headers(), body: JSON.stringify(body) });
    const answer = await readBody(response);
    if (seq !== state.previewSeq || product !== state.product) return;
    if (!response.ok) {
      setCutoutStatus("The server could not cut this product out; see the message.", "error");
      showError(answer, { preview: true, status: response.status });
      return;
    }
    const data = answer.data;
    const mask = await loadImage(data.mask);
    if (seq !== state.previewSeq || product !== state.product) return;
    Object.assign(product, cropToBox(product.image, data.box, mask), { from: "server" });
    state.rotated = null;
    const [x0, y0, x1, y1] = data.box;
    const size = `${x1 - x0}×${y1 - y0} px of ${data.width}×${data.height}`;
    const confidence = `confidence ${Number(data.confidence).toFixed(2)}`;
    setCutoutStatus(data.removed ? `Background removed (${data.engine}, ${confidence}): the product is ${size}.`
      : removalOff() ? `Removal off: the whole photo is the product (${size}).`
        : `Used as it is (it has transparency): ${size}.`, "server", data.removed ? data.reasons || [] : []);
    hideError();
    refresh();
  } catch (error) {
    if (seq === state.previewSeq) setCutoutStatus(`Cut-out preview failed: ${error.message}`, "error");
  }
}

async function useTemplate(file) {
  if (!file) return;
  const dataUri = await readFile(file);
  const image = await loadImage(dataUri);
  state.template = { dataUri, image, size: [image.naturalWidth, image.naturalHeight] };
  $("template-url").value = "";
  refresh();
}

async function useTemplateUrl() {
  const url = $("template-url").value.trim();
  state.template = null;
  $("template-file").value = "";
  if (url) {
    try {
      const image = await loadImage(url);
      state.template = { dataUri: url, image, size: [image.naturalWidth, image.naturalHeight] };
    } catch {
      state.template = null;
    }
  }
  refresh();
}

// ----------------------------------------------------------------------------- API calls

function apiKey() {
  return $("api-key").value.trim();
}

function headers() {
  return { "Content-Type": "application/json", Authorization: `Bearer ${apiKey()}` };
}

async function readBody(response) {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    return { error_message: `HTTP ${response.status}: ${text.slice(0, 200)}` };
  }
}

class ApiError extends Error {
  constructor(body) {
    super(body.error_message || "request failed");
    this.body = body;
  }
}

async function loadModels() {
  if (!apiKey()) return;
  try {
    const response = await fetch("/v1/models", { headers: headers() });
    if (!response.ok) return;
    const { data } = await response.json();
    const select = $("model");
    const current = select.value;
    select.replaceChildren(...data.map((model) => {
      const option = new Option(`${model.name} · ${model.engine}${model.available ? "" : " (unavailable)"}`,
        model.name);
      option.disabled = !model.available;
      return option;
    }));
    const available = data.find((model) => model.name === current && model.available) ||
      data.find((model) => model.available);
    if (available) select.value = available.name;
    renderRequest();
  } catch {
    // The list is a convenience; the default model still works without it.
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function runSync(request) {
  setProgress("rendering", null);
  const response = await fetch("/v1/scene/create", { method: "POST", headers: headers(), body: JSON.stringify(request) });
  const body = await readBody(response);
  if (!response.ok) throw new ApiError(body);
  return body.data;
}

async function runAsync(request) {
  const response = await fetch("/v1/scene/create/async", {
    method: "POST", headers: headers(), body: JSON.stringify(request),
  });
  if (response.status === 404 || response.status === 405) return runSync(request);
  let body = await readBody(response);
  if (!response.ok) throw new ApiError(body);
  const url = `/v1/scene/create/async/${encodeURIComponent(body.data.id)}`;
  for (;;) {
    const job = body.data;
    setProgress(job.progress.stage || job.status.toLowerCase(), job.progress.fraction);
    if (job.status === "DONE") return job.result;
    if (job.status === "ERROR") throw new ApiError(job.error || { error_message: "the job failed" });
    if (job.status === "CANCELLED") throw new ApiError({ error_message: "the job was cancelled" });
    await sleep(POLL_MS);
    const poll = await fetch(url, { headers: headers() });
    body = await readBody(poll);
    if (!poll.ok) throw new ApiError(body);
  }
}

function validate(request) {
  const details = {};
  if (!apiKey()) details["API key"] = ["enter an API key (Authorization: Bearer …)"];
  if (!request.object.image_url) details["object.image_url"] = ["choose a product image"];
  if (request.object.placement_type === "padding" && !parsePadding(request.object.padding)) {
    details["object.padding"] = ['one to four margins in % (at most 50%) or px, e.g. "10%", "5% 25%", "40px"'];
  }
  if (request.scene.template_url === "") details["scene.template_url"] = ["upload a template or give its URL"];
  return Object.keys(details).length ? { error_message: "Some settings need attention.", error_details: details } : null;
}

async function generate() {
  if (state.busy) return;
  const request = buildRequest();
  const problem = validate(request);
  if (problem) {
    showError(problem);
    return;
  }
  hideError();
  clearResults();
  setBusy(true);
  try {
    const data = await runAsync(request);
    showResults(data);
  } catch (error) {
    showError(error.body || { error_message: error.message });
  } finally {
    setBusy(false);
  }
}

// ----------------------------------------------------------------------------- status, errors, results

function setBusy(busy) {
  state.busy = busy;
  $("generate").disabled = busy;
  $("generate").textContent = busy ? "Generating…" : "Generate";
  $("busy").classList.toggle("hidden", !busy);
  if (busy) setProgress("queued", 0);
}

function setProgress(stage, fraction) {
  const fill = $("bar-fill");
  fill.classList.toggle("indeterminate", fraction === null);
  fill.style.width = fraction === null ? "" : `${Math.round(Math.max(0.04, fraction) * 100)}%`;
  const percent = fraction === null ? "" : ` · ${Math.round(fraction * 100)}%`;
  $("busy-text").textContent = `${stage}${percent}`;
}

function hideError() {
  $("error").classList.add("hidden");
  $("error").replaceChildren();
}

function showError(body, context = {}) {
  const box = $("error");
  const title = document.createElement("strong");
  const code = body.error_code ? ` (${body.error_type || "error"} ${body.error_code})` : "";
  title.textContent = `${body.error_message || "Something went wrong"}${code}`;
  const children = [title];
  const details = body.error_details || {};
  const fields = Object.keys(details);
  if (fields.length) {
    const list = document.createElement("ul");
    for (const field of fields) {
      const messages = Array.isArray(details[field]) ? details[field] : [String(details[field])];
      const item = document.createElement("li");
      const name = document.createElement("code");
      name.textContent = field;
      item.append(name, ` ${messages.join("; ")}`);
      list.append(item);
    }
    children.push(list);
  }
  if (String(body.error_code) === CUTOUT_UNCERTAIN) {
    children.push(cutoutActions());
  } else if (context.preview && context.status === 422 && !removalOff()) {
    const hint = document.createElement("p");
    hint.textContent = "Untick “Remove the background” to use the photo as it is, or use a PNG with transparency.";
    children.push(hint);
  }
  box.replaceChildren(...children);
  box.classList.remove("hidden");
  box.scrollIntoView({ block: "nearest" });
}

// The ways out of a refused cut-out (3021), as buttons: use the photo as it is, or keep the doubtful
// cut-out by lowering the least confidence for this page's requests. Either previews again.
function cutoutActions() {
  const actions = document.createElement("div");
  actions.className = "actions";
  const off = document.createElement("button");
  off.type = "button";
  off.className = "ghost";
  off.id = "action-removal-off";
  off.textContent = "Turn background removal off";
  off.addEventListener("click", () => {
    $("remove-bg").checked = false;
    $("remove-bg").dispatchEvent(new Event("change", { bubbles: true }));
  });
  const keep = document.createElement("button");
  keep.type = "button";
  keep.className = "ghost";
  keep.id = "action-keep-cutout";
  keep.textContent = "Keep this cut-out anyway (least confidence 0)";
  keep.addEventListener("click", () => {
    $("min-confidence").value = "0";
    $("min-confidence").dispatchEvent(new Event("change", { bubbles: true }));
  });
  actions.append(off, keep);
  return actions;
}

function showNotices(data) {
  const profiling = (data && data.profiling) || {};
  const notice = profiling.product_enlargement_notice;
  $("notice").textContent = notice ? `Note: ${notice}.` : "";
  $("notice").classList.toggle("hidden", !notice);
}

function resultCard(output, index) {
  const card = document.createElement("figure");
  card.className = "result";
  const frame = document.createElement("div");
  frame.className = "result-frame";
  const image = document.createElement("img");
  image.alt = `Result ${index + 1}`;
  image.loading = "lazy";
  image.src = output.tmp_url;
  frame.append(image);
  const caption = document.createElement("figcaption");
  const meta = document.createElement("span");
  meta.textContent = `${output.width}×${output.height} · ${output.format || output.ext}`;
  caption.append(meta);
  if (output.tmp_url) {
    const link = document.createElement("a");
    link.href = output.tmp_url;
    link.download = `photostage-${index + 1}.${output.ext || "png"}`;
    link.textContent = "Download";
    caption.append(link);
  } else if (output.object_uri) {
    const where = document.createElement("code");
    where.textContent = output.object_uri;
    caption.append(where);
  }
  card.append(frame, caption);
  return card;
}

function clearResults() {
  $("gallery").replaceChildren();
  showNotices(null);
  $("stage-panel").classList.remove("has-results");
  fitCanvas();
  draw();
}

// Results replace the last ones; the canvas shrinks so they fit beside it on a laptop screen
// (1366×800), and the page scrolls to them.
function showResults(data) {
  const outputs = (data && data.output) || [];
  $("gallery").replaceChildren(...outputs.map(resultCard));
  showNotices(data);
  $("stage-panel").classList.toggle("has-results", outputs.length > 0);
  fitCanvas();
  draw();
  $("gallery").scrollIntoView({ block: "nearest" });
}

// ----------------------------------------------------------------------------- wiring

function setKind(kind) {
  state.kind = kind;
  for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.kind === kind);
  for (const panel of document.querySelectorAll(".kind")) panel.classList.toggle("hidden", panel.dataset.kind !== kind);
  $("aspect-field").classList.toggle("hidden", kind === "template");
  refresh();
}

function syncFields() {
  $("padding-field").classList.toggle("hidden", placement() !== "padding");
  $("absolute-fields").classList.toggle("hidden", placement() !== "absolute");
  const generateOn = $("prompt-generate").checked;
  $("prompt-text-field").classList.toggle("hidden", generateOn);
  $("guidelines-field").classList.toggle("hidden", !generateOn);
  $("prompt-color").disabled = !$("prompt-color-on").checked;
  $("effect-color").disabled = $("effect-transparent").checked;
  $("quality-field").classList.toggle("hidden", $("format").value === "png");
  $("quality-out").textContent = $("quality").value;
}

function wireDrop() {
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    useProduct(event.dataTransfer.files[0]);
  });
  $("product-file").addEventListener("change", (event) => useProduct(event.target.files[0]));
}

function wireControls() {
  $("aspect").replaceChildren(...ASPECT_RATIOS.map((ratio) => new Option(ratio, ratio)));
  $("scale").addEventListener("input", (event) => { setScale(Number(event.target.value)); draw(); renderRequest(); });
  $("rotation").addEventListener("input", (event) => { setRotation(Number(event.target.value)); draw(); renderRequest(); });
  for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => setKind(tab.dataset.kind));
  document.querySelector(".controls").addEventListener("input", () => { syncFields(); refresh(); });
  document.querySelector(".controls").addEventListener("change", () => { syncFields(); refresh(); });
  $("template-file").addEventListener("change", (event) => useTemplate(event.target.files[0]));
  $("template-url").addEventListener("change", useTemplateUrl);
  $("generate").addEventListener("click", generate);
  $("copy-json").addEventListener("click", (event) =>
    copyText(JSON.stringify(buildRequest(), null, 2), event.target));
  $("copy-curl").addEventListener("click", (event) =>
    copyText(curlCommand(JSON.stringify(buildRequest(), null, 2)), event.target));
  const canvas = $("canvas");
  canvas.addEventListener("pointerdown", onPointerDown);
  canvas.addEventListener("pointermove", onPointerMove);
  canvas.addEventListener("pointerup", onPointerUp);
  canvas.addEventListener("pointercancel", onPointerUp);
  canvas.addEventListener("keydown", onKey);
  window.addEventListener("resize", refresh);
}

function wireKey() {
  const input = $("api-key");
  input.value = localStorage.getItem(KEY_STORAGE) || "";
  input.addEventListener("change", () => {
    localStorage.setItem(KEY_STORAGE, apiKey());
    loadModels();
    if (state.product && state.product.from !== "server") previewCutout();
  });
  const cutAgain = () => {
    if (!state.product) return;
    Object.assign(state.product, trimProduct(state.product.image), { from: "browser" });
    state.rotated = null;
    hideError();
    clearResults();
    previewCutout();
  };
  $("remove-bg").addEventListener("change", cutAgain);
  $("min-confidence").addEventListener("change", cutAgain);
}

function main() {
  wireKey();
  wireDrop();
  wireControls();
  syncFields();
  refresh();
  loadModels();
}

main();

// The object box as drawn, in scene pixels: lets tests and integrators check it against the server.
window.photostagePlacedBox = () => {
  const placed = placedProduct();
  return placed ? { ...placed.box } : null;
};
