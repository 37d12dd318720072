// nn-cli serve's page: draw a digit, send it (debounced) to /api/predict, show the answer.
"use strict";

const DEBOUNCE_MS = 40; // wait this long after the last stroke movement before asking
const PEN_WIDTH = 18;   // pixels of the 280×280 pad: MNIST's strokes are a tenth of the digit

const $ = (id) => document.getElementById(id);
const pad = $("pad");
const ink = pad.getContext("2d");
const seen = $("seen").getContext("2d");
const featureCanvas = $("features");
const features = featureCanvas.getContext("2d");

let model = null;      // GET /api/model
let blank = true;      // nothing drawn since the last clear
let sample = null;     // the test image on the pad, until a stroke changes it
let last = null;       // the pen's last point while it is down
let timer = null;      // the debounce timer
let inFlight = false;  // a request is under way
let again = false;     // the pad changed while it was
let generation = 0;    // counts clears: an answer for a cleared pad is dropped

// ---- The pad ---------------------------------------------------------------------------

function clearPad() {
  ink.fillStyle = "#fff";
  ink.fillRect(0, 0, pad.width, pad.height);
  blank = true;
  sample = null;
  generation++;
  clearTimeout(timer);
  timer = null;
  again = false;
  showNothing("draw a digit");
}

function point(event) {
  const r = pad.getBoundingClientRect();
  return {
    x: (event.clientX - r.left) * (pad.width / r.width),
    y: (event.clientY - r.top) * (pad.height / r.height),
  };
}

function stroke(from, to) {
  ink.strokeStyle = "#000";
  ink.lineWidth = PEN_WIDTH;
  ink.lineCap = "round";
  ink.lineJoin = "round";
  ink.beginPath();
  ink.moveTo(from.x, from.y);
  ink.lineTo(to.x, to.y);
  ink.stroke();
}

pad.addEventListener("pointerdown", (event) => {
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  last = point(event);
  stroke(last, last);
  blank = false;
  sample = null; // a stroke over a test image makes it a drawing
  schedule(DEBOUNCE_MS);
});

pad.addEventListener("pointermove", (event) => {
  if (last === null) return;
  const coalesced = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
  for (const e of coalesced.length ? coalesced : [event]) {
    const p = point(e);
    stroke(last, p);
    last = p;
  }
  schedule(DEBOUNCE_MS);
});

for (const type of ["pointerup", "pointercancel"]) {
  pad.addEventListener(type, () => {
    if (last === null) return;
    last = null;
    schedule(0);
  });
}

$("clear").addEventListener("click", clearPad);

// ---- Asking the server -----------------------------------------------------------------

function setStatus(state, text) {
  const el = $("status");
  el.dataset.state = state;
  el.textContent = text;
}

function schedule(delay) {
  clearTimeout(timer);
  setStatus("busy", "thinking…");
  timer = setTimeout(send, delay);
}

async function send() {
  timer = null;
  if (inFlight) {
    again = true;
    return;
  }
  if (blank) {
    showNothing("draw a digit");
    return;
  }
  inFlight = true;
  const asked = generation;
  const shown = sample;
  const body = shown ? { pixels: shown.pixels } : { image: pad.toDataURL("image/png") };
  const start = performance.now();
  try {
    const response = await fetch("/api/predict", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const answer = await response.json();
    const roundTrip = performance.now() - start;
    if (asked !== generation) {
      // The pad was cleared meanwhile: this answer is for a drawing that is gone.
    } else if (response.ok) {
      show(answer, shown, roundTrip);
    } else if (response.status === 422) {
      showNothing("draw a digit: " + answer.error.replace(/^the drawing: no digit found: /, ""));
    } else {
      showNothing(answer.error || response.statusText, true);
    }
  } catch (error) {
    showNothing("the server does not answer: " + error, true);
  } finally {
    inFlight = false;
    if (again) {
      again = false;
      send();
    }
  }
}

// ---- Showing the answer ----------------------------------------------------------------

// Whether no request is due: what is shown is the answer for what is on the pad.
function settled() {
  return timer === null && !again;
}

function showNothing(text, isError) {
  if (settled()) setStatus(isError ? "error" : "idle", text);
  $("top-class").textContent = "?";
  $("top-class").classList.remove("long");
  $("top-prob").textContent = "";
  $("source").textContent = "";
  drawBars(null, -1);
  seen.fillStyle = "#000";
  seen.fillRect(0, 0, 28, 28);
}

function show(answer, shown, roundTrip) {
  const name = model ? model.classes[answer.predicted] : String(answer.predicted);
  const top = $("top-class");
  top.textContent = name;
  top.classList.toggle("long", name.length > 2);
  $("top-prob").textContent = (100 * answer.probabilities[answer.predicted]).toFixed(1) + "%";
  drawBars(answer.probabilities, answer.predicted);
  drawGray(seen, answer.input, 28, 28);
  drawFeatures(answer.features);
  const source = $("source");
  source.textContent = "";
  if (shown) {
    const label = model.classes[shown.label];
    source.append("test image #" + shown.index + ": label ");
    source.append(span("source-label", label));
    source.append(", the network says ");
    source.append(span("source-predicted", name));
    source.append(shown.label === answer.predicted ? " (right)" : " (wrong)");
  } else {
    source.append("your drawing");
  }
  if (settled()) {
    setStatus("done", "decided in " + roundTrip.toFixed(0) + " ms (server " +
      answer.server_ms.toFixed(1) + " ms)");
  }
}

function span(id, text) {
  const el = document.createElement("span");
  el.id = id;
  el.textContent = text;
  return el;
}

function drawBars(probabilities, predicted) {
  const items = $("bars").children;
  for (let c = 0; c < items.length; c++) {
    const p = probabilities ? probabilities[c] : 0;
    items[c].classList.toggle("top", c === predicted);
    items[c].querySelector(".fill").style.width = (100 * p).toFixed(1) + "%";
    items[c].querySelector(".value").textContent = probabilities ? (100 * p).toFixed(1) + "%" : "";
  }
}

// Gray levels (0 black, 255 white) into a canvas of their size.
function drawGray(context, values, width, height) {
  const image = context.createImageData(width, height);
  for (let i = 0; i < width * height; i++) {
    const v = values[i];
    image.data.set([v, v, v, 255], 4 * i);
  }
  context.putImageData(image, 0, 0);
}

// 0..255 to a dark blue → red → yellow ramp.
function heat(v) {
  const t = v / 255;
  const stops = [[16, 22, 48], [214, 60, 84], [255, 222, 90]];
  const s = t < 0.5 ? 0 : 1;
  const u = t < 0.5 ? t * 2 : (t - 0.5) * 2;
  return stops[s].map((a, k) => Math.round(a + (stops[s + 1][k] - a) * u));
}

// A convolution's maps side by side, or an affine layer's activations as a square of cells.
function drawFeatures(f) {
  const maps = f.height * f.width > 1;
  const cols = maps ? Math.min(f.channels, 10) : Math.ceil(Math.sqrt(f.channels));
  const rows = Math.ceil(f.channels / cols);
  const gap = maps ? 2 : 0;
  const width = cols * (f.width + gap) - gap;
  const height = rows * (f.height + gap) - gap;
  featureCanvas.width = width;
  featureCanvas.height = height;
  const scale = Math.max(1, Math.floor(Math.min(520 / width, 260 / height)));
  featureCanvas.style.width = width * scale + "px";
  featureCanvas.style.height = height * scale + "px";
  const image = features.createImageData(width, height);
  image.data.fill(255);
  const area = f.height * f.width;
  for (let c = 0; c < f.channels; c++) {
    const ox = (c % cols) * (f.width + gap);
    const oy = Math.floor(c / cols) * (f.height + gap);
    for (let y = 0; y < f.height; y++) {
      for (let x = 0; x < f.width; x++) {
        const at = 4 * ((oy + y) * width + ox + x);
        image.data.set([...heat(f.values[c * area + y * f.width + x]), 255], at);
      }
    }
  }
  features.putImageData(image, 0, 0);
}

// ---- The model and the strip of test images ----------------------------------------------

function loadSample(s) {
  // The 28×28 image, inverted to ink on paper and scaled up onto the pad.
  const small = document.createElement("canvas");
  small.width = 28;
  small.height = 28;
  drawGray(small.getContext("2d"), s.pixels.map((v) => 255 - v), 28, 28);
  ink.fillStyle = "#fff";
  ink.fillRect(0, 0, pad.width, pad.height);
  ink.imageSmoothingEnabled = true;
  ink.drawImage(small, 0, 0, pad.width, pad.height);
  blank = false;
  sample = s;
  schedule(0);
}

function showModel(m) {
  model = m;
  $("network").textContent = m.network;
  const facts = [];
  facts.push(m.test_accuracy ? "test accuracy " + m.test_accuracy
    : "test accuracy not recorded in the model file");
  facts.push("dataset: " + (m.dataset || "not recorded (MNIST assumed)"));
  if (m.source) facts.push(m.source);
  facts.push("model file: " + m.file);
  $("model-facts").textContent = facts.join(" · ");
  $("features-title").textContent = m.features[0].toUpperCase() + m.features.slice(1);

  const bars = $("bars");
  bars.classList.toggle("names", m.classes.some((name) => name.length > 2));
  for (const name of m.classes) {
    const li = document.createElement("li");
    const label = document.createElement("span");
    label.textContent = name;
    const bar = document.createElement("div");
    bar.className = "bar";
    const fill = document.createElement("div");
    fill.className = "fill";
    bar.append(fill);
    const value = document.createElement("span");
    value.className = "value";
    li.append(label, bar, value);
    bars.append(li);
  }

  const strip = $("strip");
  if (m.samples.length === 0) {
    strip.textContent = "no test images: start the server with --data DIR to show some";
  }
  for (const s of m.samples) {
    const figure = document.createElement("figure");
    figure.dataset.index = s.index;
    figure.dataset.label = s.label;
    figure.dataset.predicted = s.predicted;
    const wrong = s.label !== s.predicted;
    if (wrong) figure.classList.add("wrong");
    const canvas = document.createElement("canvas");
    canvas.width = 28;
    canvas.height = 28;
    drawGray(canvas.getContext("2d"), s.pixels, 28, 28);
    const caption = document.createElement("figcaption");
    caption.textContent = wrong
      ? m.classes[s.label] + " → " + m.classes[s.predicted]
      : m.classes[s.label];
    caption.title = "test image #" + s.index;
    figure.append(canvas, caption);
    figure.addEventListener("click", () => loadSample(s));
    strip.append(figure);
  }
}

clearPad();
fetch("/api/model")
  .then((response) => response.json())
  .then(showModel)
  .then(() => document.body.dataset.ready = "true")
  .catch((error) => setStatus("error", "cannot load the model: " + error));
