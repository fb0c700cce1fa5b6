// The studio's only script. The order page calls the REST API (/v1/...) with the session cookie and the
// CSRF token; every error shown is the API's own message.
"use strict";

const PROGRESS_STATES = ["queued", "training", "rendering"];
const POLL_MS = 2000;

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body) {
  const headers = { Accept: "application/json", "X-CSRFToken": csrfToken() };
  let payload = body;
  if (body && !(body instanceof FormData)) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
  } catch (err) {
    throw new ApiError(0, "unreachable", "The studio cannot be reached. Check your connection and try again.");
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (err) {
    data = null;
  }
  if (!response.ok && !(data && data.results)) {
    // (A photo upload's 422 is a verdict in the same shape as its 201: returned, not thrown.)
    const error = (data && data.error) || {};
    let message = error.message || `The request failed (${response.status}).`;
    if (response.status === 429) {
      const wait = response.headers.get("Retry-After");
      message = `Too many requests${wait ? `: try again in ${wait} s` : ""}.`;
    }
    throw new ApiError(response.status, error.code || String(response.status), message);
  }
  return data;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

function formatEta(seconds) {
  if (seconds === null || seconds === undefined) return "estimating…";
  if (seconds <= 0) return "almost done";
  const minutes = Math.floor(seconds / 60);
  const rest = Math.round(seconds % 60);
  return minutes ? `about ${minutes} min ${rest} s left` : `about ${rest} s left`;
}

function paintSwatches() {
  for (const swatch of document.querySelectorAll("[data-swatch]")) {
    swatch.style.backgroundColor = swatch.dataset.swatch; // CSSOM, allowed by the CSP (no inline styles)
  }
}

class OrderPage {
  constructor(root) {
    this.root = root;
    this.id = root.dataset.orderId;
    this.minPhotos = Number(root.dataset.minPhotos);
    this.base = `/v1/orders/${this.id}`;
    this.$ = (id) => document.getElementById(id);
    this.timer = null;
  }

  start() {
    this.bindUpload();
    this.$("submit-order").addEventListener("click", () => this.submit());
    this.$("style-filter").addEventListener("change", () => this.loadGallery());
    this.$("viewer-close").addEventListener("click", () => this.$("viewer").close());
    this.$("more").addEventListener("submit", (event) => this.renderMore(event));
    this.$("delete-order").addEventListener("click", () => this.deleteOrder());
    this.refresh();
  }

  say(text) {
    this.$("message").textContent = text;
  }

  problem(error) {
    const box = this.$("problem");
    box.textContent = error ? error.message : "";
    box.hidden = !error;
  }

  async refresh() {
    try {
      const order = await api("GET", this.base);
      this.problem(null);
      await this.show(order);
    } catch (error) {
      this.problem(error);
      this.schedule();
    }
  }

  schedule() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh(), POLL_MS);
  }

  async show(order) {
    const state = order.state;
    this.root.dataset.state = state;
    this.$("state-label").textContent = state.replace("_", " ");
    this.$("upload").hidden = state !== "awaiting_photos";
    this.$("progress").hidden = !PROGRESS_STATES.includes(state);
    this.$("gallery").hidden = state !== "completed";
    this.$("failed").hidden = state !== "failed";
    this.$("danger").hidden = state === "deleted";
    if (state === "awaiting_photos") {
      this.showAccepted(order.counts.photos_accepted);
      this.showReadiness(order.readiness);
    }
    if (PROGRESS_STATES.includes(state)) {
      this.showProgress(order.progress);
      this.schedule();
    }
    if (state === "failed") this.$("failure-reason").textContent = order.failure_reason || "No reason was given.";
    if (state === "completed" && this.$("grid").dataset.loaded !== "yes") await this.loadGallery();
    if (state === "deleted") this.$("deleted").hidden = false;
  }

  showProgress(progress) {
    const percent = Math.max(0, Math.min(100, progress.percent || 0));
    this.$("progressbar").setAttribute("aria-valuenow", String(percent));
    this.$("progressfill").style.width = `${percent}%`;
    this.$("percent").textContent = String(percent);
    this.$("stage").textContent = progress.stage || "queued";
    this.$("eta").textContent = formatEta(progress.eta_s);
  }

  // -- photos --------------------------------------------------------------------------------------------
  bindUpload() {
    const zone = this.$("dropzone");
    const input = this.$("photo-input");
    input.addEventListener("change", () => {
      this.upload([...input.files]);
      input.value = "";
    });
    zone.addEventListener("dragover", (event) => {
      event.preventDefault();
      zone.classList.add("over");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("over");
      this.upload([...event.dataTransfer.files]);
    });
  }

  async upload(files) {
    for (const file of files) {
      const thumb = el("img", { src: URL.createObjectURL(file), alt: `Your photo ${file.name}` });
      const verdict = el("p", { class: "verdict", text: "Checking…" });
      const item = el("li", { class: "photo checking" }, thumb, el("p", { class: "name", text: file.name }), verdict);
      this.$("photos").append(item);
      const form = new FormData();
      form.append("files", file, file.name);
      try {
        const result = (await api("POST", `${this.base}/photos`, form)).results[0];
        item.classList.replace("checking", result.accepted ? "accepted" : "rejected");
        verdict.textContent = result.accepted ? "Accepted" : `Not used: ${result.message}`;
      } catch (error) {
        item.classList.replace("checking", "rejected");
        verdict.textContent = `Not uploaded: ${error.message}`;
      }
    }
    try {
      const order = await api("GET", this.base);
      this.showAccepted(order.counts.photos_accepted);
      this.showReadiness(order.readiness);
    } catch (error) {
      this.problem(error);
    }
  }

  showReadiness(readiness) {
    if (!readiness) return;
    this.$("readiness-score").textContent = String(readiness.score);
    this.$("advice").replaceChildren(...readiness.advice.map((a) => el("li", { text: a.message })));
  }

  showAccepted(count) {
    this.$("accepted-count").textContent = String(count);
    this.$("submit-order").disabled = count < this.minPhotos;
    if (count < this.minPhotos) this.say(`Add ${this.minPhotos - count} more accepted photo(s) to start.`);
    else this.say("Ready: start your headshots when you have added all your photos.");
  }

  async submit() {
    this.$("submit-order").disabled = true;
    try {
      await api("POST", `${this.base}/submit`);
      this.say("Started: training your personal model.");
      this.refresh();
    } catch (error) {
      this.problem(error);
      this.$("submit-order").disabled = false;
    }
  }

  // -- gallery -------------------------------------------------------------------------------------------
  async loadGallery() {
    const style = this.$("style-filter").value;
    const query = new URLSearchParams({ limit: "200", ...(style ? { style } : {}) });
    try {
      const page = await api("GET", `${this.base}/headshots?${query}`);
      const grid = this.$("grid");
      grid.replaceChildren(...page.results.map((shot, n) => this.tile(shot, n + 1)));
      grid.dataset.loaded = "yes";
      this.say(`${page.count} headshot(s)${style ? ` in ${style}` : ""}.`);
    } catch (error) {
      this.problem(error);
    }
  }

  tile(shot, n) {
    const label = `Headshot ${n}, ${shot.style_id}`;
    const open = el("button", { type: "button", class: "tile", "aria-label": `Open ${label}` });
    open.append(el("img", { src: shot.download_url, alt: label, loading: "lazy" }));
    open.addEventListener("click", () => this.view(shot, label));
    const scores = [
      shot.likeness_score ? `likeness ${Math.round(shot.likeness_score * 100)}%` : "",
      shot.quality_score ? `quality ${Math.round(shot.quality_score * 100)}%` : "",
    ].filter(Boolean);
    return el("li", {}, open, el("p", { class: "hint", text: [shot.style_id, ...scores].join(" · ") }));
  }

  view(shot, label) {
    this.$("viewer-title").textContent = label;
    this.$("viewer-image").src = shot.download_url;
    this.$("viewer-image").alt = label;
    this.$("viewer-score").textContent = [
      shot.likeness_score ? `Likeness to your selfies: ${Math.round(shot.likeness_score * 100)}%.` : "Likeness not scored.",
      `Photo quality: ${Math.round(shot.quality_score * 100)}%.`,
      shot.gated ? "" : "Not checked (test model).",
    ].join(" ");
    this.$("viewer-download").href = shot.download_url;
    this.$("viewer").showModal();
  }

  async renderMore(event) {
    event.preventDefault();
    const style = this.$("more-style").value;
    const count = Number(this.$("more-count").value);
    try {
      await api("POST", `${this.base}/renders`, { style, count });
      this.problem(null);
      this.say(`Rendering ${count} more in ${style}: they join the gallery when ready.`);
      this.$("grid").dataset.loaded = ""; // reloaded once the order is completed again
      this.refresh();
    } catch (error) {
      this.problem(error);
    }
  }

  async deleteOrder() {
    if (!window.confirm("Delete your photos, model and headshots for this order? This cannot be undone.")) return;
    this.$("delete-order").disabled = true;
    try {
      const receipt = await api("DELETE", this.base);
      clearTimeout(this.timer);
      const rows = [
        ["Photos deleted", receipt.photos_deleted],
        ["Headshots deleted", receipt.headshots_deleted],
        ["Stored files deleted", receipt.blobs_deleted],
        ["Files remaining", receipt.remaining_blobs],
        ["Deleted at", receipt.deleted_at],
      ];
      this.$("receipt").replaceChildren(
        ...rows.flatMap(([term, value]) => [el("dt", { text: term }), el("dd", { text: String(value ?? "") })]),
      );
      for (const id of ["upload", "progress", "gallery", "failed", "danger"]) this.$(id).hidden = true;
      this.$("deleted").hidden = false;
      this.$("state-label").textContent = "deleted";
      this.say("Your data for this order is deleted.");
      this.$("deleted-title").focus();
    } catch (error) {
      this.problem(error);
      this.$("delete-order").disabled = false;
    }
  }
}

document.addEventListener("DOMContentLoaded", () => {
  paintSwatches();
  const root = document.getElementById("order");
  if (root) new OrderPage(root).start();
});
