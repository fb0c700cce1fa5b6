// The studio's only script. The order page calls the REST API (/v1/...) with the session cookie and the
// CSRF token. Errors are shown in the studio's own words for the error's code (studio/messages.py, put in the page
// as JSON), never the API's message for developers.
"use strict";

const PROGRESS_STATES = ["queued", "training", "rendering"];
const POLL_MS = 2000;
const VERDICT_POLL_MS = 500;
const UPLOADS_AT_ONCE = 4;

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

// The studio's wording of errors (studio/messages.py `for_script`), read once from the page.
let wordingCache = null;
function wording() {
  if (!wordingCache) {
    const node = document.getElementById("studio-wording");
    wordingCache = node ? JSON.parse(node.textContent) : { codes: {}, people_worded: [], fallback: "Something went wrong." };
  }
  return wordingCache;
}

function forConsumer(code, apiMessage) {
  const words = wording();
  if (words.people_worded.includes(code) && apiMessage) return apiMessage;
  return words.codes[code] || words.fallback;
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body, extraHeaders = {}) {
  const headers = { Accept: "application/json", "X-CSRFToken": csrfToken(), ...extraHeaders };
  let payload = body;
  if (body && !(body instanceof FormData)) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
  } catch (err) {
    throw new ApiError(0, "unreachable", forConsumer("unreachable"));
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
    const code = error.code || String(response.status);
    let message = forConsumer(code, error.message);
    const wait = response.headers.get("Retry-After");
    if (response.status === 429 && wait) message = `${message} (You can try again in ${wait} s.)`;
    throw new ApiError(response.status, code, message);
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
    this.teamId = root.dataset.teamId || ""; // a team member's order: its headshots can be shared with the team
    this.$ = (id) => document.getElementById(id);
    this.timer = null;
  }

  start() {
    this.bindUpload();
    this.$("submit-order").addEventListener("click", () => this.submit());
    this.$("style-filter").addEventListener("change", () => this.loadGallery());
    this.$("viewer-close").addEventListener("click", () => this.$("viewer").close());
    if (this.teamId) this.$("viewer-share").addEventListener("click", () => this.share());
    this.$("more").addEventListener("submit", (event) => this.renderMore(event));
    this.$("render-missing").addEventListener("click", () => this.prepareMissing());
    this.$("accept-order").addEventListener("click", () => this.accept());
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
      this.showReadiness(order.readiness);
      await this.listPhotos();
      this.showAccepted();
    }
    if (PROGRESS_STATES.includes(state)) {
      this.showProgress(order.progress);
      this.schedule();
    }
    if (state === "failed") this.$("failure-reason").textContent = wording().order_failed;
    if (state === "completed") this.showShortfall(order);
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

  // Every file uploads at once (a few at a time) and answers as soon as it is received (`Prefer: respond-async`);
  // the verdicts come from the photo checker and are shown as each lands: nothing waits for another photo.
  async upload(files) {
    const queue = files.map((file) => ({ file, item: this.photoItem(file.name, URL.createObjectURL(file)) }));
    const send = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) await this.send(next.file, next.item);
    };
    await Promise.all(Array.from({ length: Math.min(UPLOADS_AT_ONCE, files.length) }, send));
  }

  photoItem(name, src) {
    const frame = el("div", { class: "thumb" });
    if (src) frame.append(el("img", { src, alt: `Your photo ${name}` }));
    const verdict = el("p", { class: "verdict", text: src ? "Uploading…" : "Checking…" });
    const remove = el("button", { type: "button", class: "link remove", text: "Remove", hidden: "" });
    remove.setAttribute("aria-label", `Remove ${name}`);
    const item = el("li", { class: "photo checking" }, frame, el("p", { class: "name", text: name }), verdict, remove);
    this.$("photos").append(item);
    return item;
  }

  async send(file, item) {
    const form = new FormData();
    form.append("files", file, file.name);
    try {
      const result = (await api("POST", `${this.base}/photos`, form, { Prefer: "respond-async" })).results[0];
      if (result.photo_id) {
        // The page's listing may have shown this photo already (it read the list while this upload ran): keep one.
        const twin = this.$("photos").querySelector(`[data-photo-id="${result.photo_id}"]`);
        if (twin) twin.remove();
        item.dataset.photoId = result.photo_id;
      }
      this.showVerdict(item, { state: result.state, message: result.message });
      if (result.state === "checking") this.watchPhotos();
    } catch (error) {
      item.classList.replace("checking", "rejected");
      item.querySelector(".verdict").textContent = `Not uploaded: ${error.message}`;
    }
  }

  showVerdict(item, photo) {
    const verdict = item.querySelector(".verdict");
    item.classList.remove("checking", "accepted", "rejected");
    item.classList.add(photo.state === "uploading" ? "checking" : photo.state);
    if (photo.state === "accepted") verdict.textContent = "Accepted";
    else if (photo.state === "rejected") verdict.textContent = `Not used: ${photo.message}`;
    else verdict.textContent = "Checking…";
    if (photo.face && photo.width) this.cropToFace(item, photo);
    this.showAccepted(); // every verdict that lands is counted at once
    const remove = item.querySelector(".remove");
    if (item.dataset.photoId && photo.state !== "checking" && !remove.dataset.bound) {
      remove.dataset.bound = "yes";
      remove.hidden = false;
      remove.addEventListener("click", () => this.removePhoto(item));
    }
  }

  // The thumbnail shows the face the checker found (its box, in the upright photo's pixels) with room around it.
  cropToFace(item, photo) {
    const image = item.querySelector(".thumb img");
    if (!image) return;
    const { left, top, right, bottom } = photo.face;
    const side = Math.min(Math.max(right - left, bottom - top) * 1.8, photo.width, photo.height);
    const x = Math.max(0, Math.min(photo.width - side, (left + right) / 2 - side / 2));
    const y = Math.max(0, Math.min(photo.height - side, (top + bottom) / 2 - side / 2));
    image.classList.add("cropped"); // CSSOM below, allowed by the CSP (no inline styles)
    image.style.width = `${(100 * photo.width) / side}%`;
    image.style.left = `${(-100 * x) / side}%`;
    image.style.top = `${(-100 * y) / side}%`;
  }

  // While any photo is being checked, its verdict is read again every half second.
  watchPhotos() {
    if (this.watching) return;
    this.watching = true;
    const look = async () => {
      let checking = false;
      try {
        const photos = (await api("GET", `${this.base}/photos`)).results;
        for (const photo of photos) {
          const item = this.$("photos").querySelector(`[data-photo-id="${photo.id}"]`);
          if (item) this.showVerdict(item, photo);
          checking = checking || photo.state === "checking" || photo.state === "uploading";
        }
        this.showReadiness((await api("GET", this.base)).readiness);
      } catch (error) {
        this.problem(error);
        checking = true;
      }
      if (checking) setTimeout(look, VERDICT_POLL_MS);
      else this.watching = false;
    };
    setTimeout(look, VERDICT_POLL_MS);
  }

  // Photos uploaded earlier (another visit) are listed with their verdicts; their files are not here to show.
  async listPhotos() {
    if (this.$("photos").dataset.listed === "yes") return;
    this.$("photos").dataset.listed = "yes";
    const photos = (await api("GET", `${this.base}/photos`)).results;
    for (const photo of photos) {
      if (this.$("photos").querySelector(`[data-photo-id="${photo.id}"]`)) continue; // its upload is on the page
      const item = this.photoItem(photo.filename, null);
      item.dataset.photoId = photo.id;
      this.showVerdict(item, photo);
      if (photo.state === "checking" || photo.state === "uploading") this.watchPhotos();
    }
  }

  async removePhoto(item) {
    try {
      await api("DELETE", `${this.base}/photos/${item.dataset.photoId}`);
      item.remove();
      this.showAccepted();
      this.showReadiness((await api("GET", this.base)).readiness);
    } catch (error) {
      this.problem(error);
    }
  }

  showReadiness(readiness) {
    if (!readiness) return;
    this.$("readiness-score").textContent = String(readiness.score);
    this.$("advice").replaceChildren(...readiness.advice.map((a) => el("li", { text: a.message })));
  }

  // The count is what the page shows: the photos marked Accepted, whichever way their verdict arrived (the upload's
  // answer, the verdict poll, the listing of an earlier visit).
  showAccepted() {
    const count = this.$("photos").querySelectorAll("li.accepted").length;
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
      // Not verified yet: the notice beside it offers a new link.
      const notice = this.$("verify-notice");
      if (error.code === "email_not_verified" && notice) notice.querySelector("button").focus();
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
    this.shown = shot;
    this.$("viewer").showModal();
  }

  // Only what the member shares reaches the team's admin: one headshot at a time, by choice.
  async share() {
    try {
      await api("POST", `/v1/teams/${this.teamId}/picks`, { headshot_ids: [this.shown.id] });
      this.$("viewer").close();
      this.say("Shared with your team.");
    } catch (error) {
      this.problem(error);
    }
  }

  // -- a delivery short of its count ----------------------------------------------------------------------
  showShortfall(order) {
    const short = order.delivery === "short";
    this.$("shortfall").hidden = !short;
    this.shortfall = short ? order.shortfall : [];
    if (!short) return;
    const counted = (s) => (s.delivered ? `${s.delivered} of ${s.wanted}` : `none of ${s.wanted}`);
    this.$("shortfall-list").replaceChildren(
      ...order.shortfall.map((s) => el("li", { text: `${s.style_id}: ${counted(s)} (${s.message}).` })),
    );
    this.$("accept-order").hidden = Boolean(order.accepted_at);
    this.$("shortfall-hold").textContent = order.accepted_at
      ? `You accepted these headshots: your photos and model are deleted ${order.retention_hours} hours after that.`
      : "We keep your photos and trained model until you decide (never longer than 35 days after the order).";
  }

  prepareMissing() {
    const first = this.shortfall[0];
    if (!first) return;
    this.$("more-style").value = first.style_id;
    this.$("more-count").value = String(first.wanted - first.delivered);
    this.$("more-count").focus();
    this.say(`Ready to render ${first.wanted - first.delivered} more in ${first.style_id}: press Render more.`);
  }

  async accept() {
    this.$("accept-order").disabled = true;
    try {
      const order = await api("POST", `${this.base}/accept`);
      this.problem(null);
      this.say("Accepted: these are your headshots.");
      this.showShortfall(order);
    } catch (error) {
      this.problem(error);
    } finally {
      this.$("accept-order").disabled = false;
    }
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
        ["Copies in memory not yet confirmed dropped", receipt.cache_purges_pending.length],
        ["Everything deleted", receipt.complete ? "yes" : "not confirmed yet"],
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
