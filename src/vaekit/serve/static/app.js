// vaekit explorer: plain JavaScript, no build step, nothing loaded from the network but this server.
// Every value from the server is put into the page with textContent or as an image URL, never as HTML.
(function () {
  "use strict";
  var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf"];
  var MAX_SLIDERS = 16;
  var state = { info: null, map: null, z: null, a: null, b: null, strip: null, upload: null };
  var $ = function (id) { return document.getElementById(id); };

  // ------------------------------------------------------------------ requests
  function showError(err) {
    var box = $("status");
    box.textContent = String(err && err.message ? err.message : err);
    box.hidden = false;
  }
  function clearError() { $("status").hidden = true; }

  function describe(detail) {
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail.map(function (d) { return (d.loc || []).join(".") + ": " + d.msg; }).join("; ");
    }
    return JSON.stringify(detail);
  }

  function request(method, path, body) {
    var opts = { method: method, headers: {} };
    if (body instanceof FormData) { opts.body = body; }
    else if (body !== undefined) { opts.body = JSON.stringify(body); opts.headers["content-type"] = "application/json"; }
    return fetch(path, opts).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (!r.ok) throw new Error(r.status + " " + path + ": " + describe(j.detail));
        return j;
      });
    });
  }
  var post = function (path, body) { return request("POST", path, body); };

  // One decode request in flight; while it runs only the latest pending z is kept (smooth dragging).
  function latestOnly(send) {
    var busy = false, pending = null;
    function pump() {
      if (busy || pending === null) return;
      var args = pending; pending = null; busy = true;
      send.apply(null, args).catch(showError).then(function () { busy = false; pump(); });
    }
    return function () { pending = Array.prototype.slice.call(arguments); pump(); };
  }

  // ------------------------------------------------------------------ outputs
  function renderItem(out, i, big) {
    if (out.texts) {  // a text model: the decoded sentence
      var p = document.createElement("p");
      p.className = "sentence";
      p.textContent = out.texts[i];
      return p;
    }
    if (out.images) {
      var img = document.createElement("img");
      img.src = "data:image/png;base64," + out.images[i];
      img.alt = "decoded example";
      return img;
    }
    var table = document.createElement("table");
    var cols, vals;
    if (out.records) { cols = out.columns; vals = cols.map(function (c) { return out.records[i][c]; }); }
    else {
      vals = [out.arrays[i]].flat(Infinity);
      cols = vals.map(function (_, j) { return "x" + j; });
    }
    var limit = big ? 24 : 6;
    cols.slice(0, limit).forEach(function (c, j) {
      var tr = document.createElement("tr"), th = document.createElement("th"), td = document.createElement("td");
      th.textContent = c;
      var v = vals[j];
      td.textContent = typeof v === "number" ? (Math.abs(v) >= 1000 ? v.toFixed(0) : v.toPrecision(3)) : String(v);
      tr.appendChild(th); tr.appendChild(td); table.appendChild(tr);
    });
    return table;
  }
  function show(container, out, i) {
    container.replaceChildren(renderItem(out, i, container.classList.contains("big")));
  }

  // ------------------------------------------------------------------ the canvas
  var canvas = $("latent-canvas"), ctx = canvas.getContext("2d");
  function fitCanvas() {
    var ratio = window.devicePixelRatio || 1, w = canvas.clientWidth, h = canvas.clientHeight;
    canvas.width = Math.round(w * ratio); canvas.height = Math.round(h * ratio);
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  }
  function toPixel(p) {
    var b = state.map.bounds, w = canvas.clientWidth, h = canvas.clientHeight;
    return [(p[0] - b[0][0]) / (b[1][0] - b[0][0]) * w, h - (p[1] - b[0][1]) / (b[1][1] - b[0][1]) * h];
  }
  function fromPixel(x, y) {
    var b = state.map.bounds, w = canvas.clientWidth, h = canvas.clientHeight;
    return [b[0][0] + x / w * (b[1][0] - b[0][0]), b[0][1] + (h - y) / h * (b[1][1] - b[0][1])];
  }
  // latent code -> canvas coordinates, and a canvas point -> latent code (the data's centre plus the plane)
  function project(z) {
    var pr = state.map.projection;
    if (!pr) return [z[0], z.length > 1 ? z[1] : 0];
    return pr.components.map(function (c) {
      return c.reduce(function (s, cj, j) { return s + cj * (z[j] - pr.mean[j]); }, 0);
    });
  }
  function lift(p) {
    var pr = state.map.projection, d = state.info.latent_dim;
    if (!pr) { var z = state.z.slice(); z[0] = p[0]; if (d > 1) z[1] = p[1]; return z; }
    return pr.mean.map(function (m, j) { return m + p[0] * pr.components[0][j] + p[1] * pr.components[1][j]; });
  }

  function draw() {
    if (!state.map) return;
    var w = canvas.clientWidth, h = canvas.clientHeight, m = state.map;
    ctx.clearRect(0, 0, w, h);
    // axes through the origin of the projected space
    ctx.strokeStyle = "#eaeef2"; ctx.lineWidth = 1;
    var o = toPixel([0, 0]);
    ctx.beginPath(); ctx.moveTo(0, o[1]); ctx.lineTo(w, o[1]); ctx.moveTo(o[0], 0); ctx.lineTo(o[0], h); ctx.stroke();
    var r = Math.max(1.6, Math.min(3.5, 160 / Math.sqrt(Math.max(m.points.length, 1))));
    ctx.globalAlpha = 0.72;
    m.points.forEach(function (p, i) {
      var q = toPixel(p);
      ctx.fillStyle = m.labels ? PALETTE[m.labels[i] % PALETTE.length] : "#57606a";
      ctx.beginPath(); ctx.arc(q[0], q[1], r, 0, 2 * Math.PI); ctx.fill();
    });
    ctx.globalAlpha = 1;
    if (state.a && state.b) {
      var pa = toPixel(project(state.a)), pb = toPixel(project(state.b));
      ctx.strokeStyle = "#0969da"; ctx.setLineDash([5, 4]); ctx.lineWidth = 1.5;
      ctx.beginPath(); ctx.moveTo(pa[0], pa[1]); ctx.lineTo(pb[0], pb[1]); ctx.stroke(); ctx.setLineDash([]);
    }
    if (state.a) marker(project(state.a), "#0969da", "A");
    if (state.b) marker(project(state.b), "#0969da", "B");
    if (state.upload) marker(state.upload, "#cf222e", "upload");
    if (state.z) {
      var c = toPixel(project(state.z));
      ctx.strokeStyle = "#000"; ctx.lineWidth = 2;
      ctx.beginPath(); ctx.arc(c[0], c[1], 7, 0, 2 * Math.PI); ctx.stroke();
      ctx.beginPath(); ctx.moveTo(c[0] - 11, c[1]); ctx.lineTo(c[0] + 11, c[1]);
      ctx.moveTo(c[0], c[1] - 11); ctx.lineTo(c[0], c[1] + 11); ctx.stroke();
    }
  }
  function marker(p, colour, text) {
    var q = toPixel(p);
    ctx.fillStyle = colour; ctx.strokeStyle = "#fff"; ctx.lineWidth = 2;
    ctx.beginPath(); ctx.arc(q[0], q[1], 6, 0, 2 * Math.PI); ctx.fill(); ctx.stroke();
    ctx.font = "bold 12px system-ui, sans-serif"; ctx.fillText(text, q[0] + 9, q[1] - 7);
  }

  // ------------------------------------------------------------------ decoding the current point
  var decodeNow = latestOnly(function (z) {
    return post("/decode", { z: [z] }).then(function (out) { clearError(); show($("decoded"), out, 0); });
  });
  function setZ(z, from) {
    state.z = z.slice();
    $("z-readout").textContent = "z = [" + state.z.map(function (v) { return v.toFixed(2); }).join(", ") + "]";
    if (from !== "slider") syncSliders();
    draw();
    decodeNow(state.z);
  }

  function canvasPoint(ev) {
    var box = canvas.getBoundingClientRect();
    return fromPixel(ev.clientX - box.left, ev.clientY - box.top);
  }
  var dragging = false;
  canvas.addEventListener("pointerdown", function (ev) {
    dragging = true; canvas.setPointerCapture(ev.pointerId); setZ(lift(canvasPoint(ev)), "canvas");
  });
  canvas.addEventListener("pointermove", function (ev) { if (dragging) setZ(lift(canvasPoint(ev)), "canvas"); });
  canvas.addEventListener("pointerup", function () { dragging = false; });
  canvas.addEventListener("pointercancel", function () { dragging = false; });

  // ------------------------------------------------------------------ sliders
  function buildSliders() {
    var d = state.info.latent_dim, box = $("sliders"), range = state.map.slider_range;
    box.replaceChildren();
    for (var j = 0; j < Math.min(d, MAX_SLIDERS); j++) {
      var label = document.createElement("label"), input = document.createElement("input"),
          value = document.createElement("span");
      label.textContent = "z[" + j + "]";
      label.htmlFor = "slider-" + j;
      input.type = "range"; input.id = "slider-" + j; input.dataset.dim = String(j);
      input.min = String(Math.floor(range[0][j] * 10) / 10); input.max = String(Math.ceil(range[1][j] * 10) / 10);
      input.step = "0.01";
      value.className = "mono"; value.id = "slider-value-" + j;
      input.addEventListener("input", function (ev) {
        var k = Number(ev.target.dataset.dim), z = state.z.slice();
        z[k] = Number(ev.target.value);
        $("slider-value-" + k).textContent = z[k].toFixed(2);
        setZ(z, "slider");
      });
      box.appendChild(label); box.appendChild(input); box.appendChild(value);
    }
    $("slider-note").textContent = d > MAX_SLIDERS
      ? "The first " + MAX_SLIDERS + " of " + d + " dimensions; the canvas moves all of them."
      : d + " dimension" + (d === 1 ? "" : "s") + "; the canvas and the sliders move the same point.";
  }
  function syncSliders() {
    for (var j = 0; j < Math.min(state.z.length, MAX_SLIDERS); j++) {
      var input = $("slider-" + j);
      if (input) { input.value = String(state.z[j]); $("slider-value-" + j).textContent = state.z[j].toFixed(2); }
    }
  }
  $("centre-btn").addEventListener("click", function () { setZ(state.map.centre, "button"); });

  // ------------------------------------------------------------------ interpolation
  var STEPS = 9;
  function interpolate() {
    if (!state.a || !state.b) return;
    post("/interpolate", { z_a: state.a, z_b: state.b, steps: STEPS, spherical: $("spherical").checked })
      .then(function (out) {
        clearError();
        state.strip = out;
        var strip = $("interp-strip");
        strip.replaceChildren();
        for (var i = 0; i < out.n; i++) {
          var item = renderItem(out, i, false);
          item.dataset.step = String(i);
          strip.appendChild(item);
        }
        $("interp-t").disabled = false;
        onT();
      }).catch(showError);
  }
  function onT() {
    var t = Number($("interp-t").value), out = state.strip;
    $("interp-t-value").textContent = t.toFixed(2);
    if (!out) return;
    var step = Math.round(t * (out.n - 1));
    Array.prototype.forEach.call($("interp-strip").children, function (el, i) { el.classList.toggle("on", i === step); });
    // the slider moves the point itself (continuously), decoded live in the big view
    var za = out.z[0], zb = out.z[out.n - 1], z;
    if ($("spherical").checked) { z = out.z[step]; }
    else { z = za.map(function (a, j) { return (1 - t) * a + t * zb[j]; }); }
    setZ(z, "interp");
  }
  $("set-a").addEventListener("click", function () { state.a = state.z.slice(); draw(); interpolate(); });
  $("set-b").addEventListener("click", function () { state.b = state.z.slice(); draw(); interpolate(); });
  $("spherical").addEventListener("change", interpolate);
  $("interp-t").addEventListener("input", onT);

  // ------------------------------------------------------------------ sampling
  $("temperature").addEventListener("input", function () {
    $("temperature-value").textContent = Number($("temperature").value).toFixed(2);
  });
  var sampleSeed = 0;
  $("sample-btn").addEventListener("click", function () {
    var temperature = Number($("temperature").value);
    post("/sample", { n: 8, temperature: temperature, seed: sampleSeed++, return_z: true }).then(function (out) {
      clearError();
      var box = $("samples");
      box.replaceChildren();
      for (var i = 0; i < out.n; i++) {
        var item = renderItem(out, i, false);
        item.title = "click to explore this sample";
        item.dataset.i = String(i);
        item.addEventListener("click", function (ev) { setZ(out.z[Number(ev.currentTarget.dataset.i)], "sample"); });
        box.appendChild(item);
      }
    }).catch(showError);
  });

  // ------------------------------------------------------------------ upload
  $("upload-input").addEventListener("change", function () {
    var file = $("upload-input").files[0];
    if (!file) return;
    var form = function () { var f = new FormData(); f.append("files", file, file.name); return f; };
    var preview = $("upload-preview");
    if (state.info.data.kind === "image") {
      var img = document.createElement("img");
      img.src = URL.createObjectURL(file); img.alt = "uploaded image";
      preview.replaceChildren(img);
    } else {
      preview.replaceChildren(document.createTextNode(file.name));
    }
    $("upload-score").textContent = "scoring…";
    Promise.all([post("/encode/upload", form()), post("/reconstruct/upload", form()), post("/score/upload", form())])
      .then(function (res) {
        clearError();
        var enc = res[0], rec = res[1], sc = res[2];
        show($("upload-recon"), rec, 0);
        state.upload = enc.projected[0];
        var label = { neg_elbo: "−ELBO", neg_iwae: "−IWAE", reconstruction_nll: "reconstruction NLL" }[sc.score] || sc.score;
        $("upload-score").textContent = "anomaly score: " + sc.scores[0].toFixed(2) + " " + (sc.unit || "") +
          " (" + label + "; higher = " + sc.higher_is.replace("more ", "more ") + ")";
        setZ(enc.mean[0], "upload");
      }).catch(function (e) { $("upload-score").textContent = ""; showError(e); });
  });

  // ------------------------------------------------------------------ a typed sentence (text models)
  function encodeText() {
    var sentence = $("text-input").value.trim();
    if (!sentence) { showError("Type a sentence first."); return; }
    var body = { texts: [sentence] };
    var preview = $("upload-preview"), p = document.createElement("p");
    p.className = "sentence"; p.textContent = sentence; preview.replaceChildren(p);
    $("upload-score").textContent = "scoring…";
    Promise.all([post("/encode", body), post("/reconstruct", body), post("/score", body)])
      .then(function (res) {
        clearError();
        var enc = res[0], rec = res[1], sc = res[2];
        show($("upload-recon"), rec, 0);
        state.upload = enc.projected[0];
        $("upload-score").textContent = "−ELBO: " + sc.scores[0].toFixed(2) + " " + (sc.unit || "nats") +
          " (higher = less likely under the model)";
        setZ(enc.mean[0], "upload");
      }).catch(function (e) { $("upload-score").textContent = ""; showError(e); });
  }
  $("text-btn").addEventListener("click", encodeText);
  $("text-input").addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); encodeText(); }
  });

  // ------------------------------------------------------------------ start
  function legend() {
    var m = state.map, box = $("legend");
    box.replaceChildren();
    if (!m.labels) return;
    var seen = {};
    m.labels.forEach(function (l) { seen[l] = (seen[l] || 0) + 1; });
    Object.keys(seen).map(Number).sort(function (a, b) { return a - b; }).forEach(function (l) {
      var li = document.createElement("li"), dot = document.createElement("span");
      dot.style.background = PALETTE[l % PALETTE.length];
      li.appendChild(dot);
      li.appendChild(document.createTextNode((m.label_names[l] !== undefined ? m.label_names[l] : String(l))));
      box.appendChild(li);
    });
  }

  Promise.all([request("GET", "/info"), request("GET", "/latent")]).then(function (res) {
    var info = res[0], map = res[1];
    state.info = info; state.map = map;
    var c = info.model, data = info.data;
    $("model-summary").textContent = info.class_name + " · latent_dim " + info.latent_dim + " · " + c.net + " " +
      (c.hidden_dims || []).join("-") + " · " + c.likelihood + " · " + data.kind + " data " +
      (data.name ? "'" + data.name + "' " : "") + "of shape (" + data.shape.join(", ") + ")";
    $("latent-note").textContent = (map.n ? map.note + ". " : "No training examples to show. ") +
      "Click or drag anywhere to decode that point.";
    $("axis-x").textContent = map.axes[0] + " →";
    $("axis-y").textContent = map.axes[1] ? "↑ " + map.axes[1] : "";
    if (data.kind === "text") {  // a sentence box instead of a file upload
      $("text-box").hidden = false; $("upload-box").hidden = true;
    } else if (data.kind !== "image") {
      $("upload-input").accept = ".csv,text/csv";
      $("upload-hint").textContent = "A CSV file with a header row: its first row's reconstruction, place and anomaly score.";
    } else {
      $("upload-input").accept = "image/*";
    }
    fitCanvas();
    legend();
    buildSliders();
    setZ(map.centre, "start");
    document.body.dataset.ready = "1";
  }).catch(showError);
  window.addEventListener("resize", function () { if (state.map) { fitCanvas(); draw(); } });
})();
