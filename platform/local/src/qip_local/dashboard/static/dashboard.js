// QIP dashboard: uploads through upload-url + presigned POST, and live refresh of the
// server-rendered list and detail (a short poll with ETags; nothing is rendered here).
(() => {
  "use strict";
  const body = document.body;
  const pollMs = Number(body.dataset.pollMs) || 1000;
  const list = document.getElementById("image-list");
  const detail = document.getElementById("detail");
  const announcer = document.getElementById("announcer");
  const filters = document.getElementById("filters");
  const input = document.getElementById("file-input");
  const zone = document.getElementById("dropzone");
  const log = document.getElementById("upload-log");
  const tags = { list: null, detail: null };
  // Each refresh takes a number; an answer is dropped when a newer refresh has started
  // (a slow poll with the old filters must not overwrite the list of the new ones).
  const latest = { list: 0, detail: 0 };
  let selected = new URLSearchParams(location.search).get("image");
  let known = statusesOf(list);
  placeholders(document);

  // ThumbHash placeholders and dominant colours under the thumbnails (static/thumbhash.js).
  function placeholders(root) {
    if (window.qipThumbHash) window.qipThumbHash.paint(root);
  }

  function statusesOf(root) {
    const found = new Map();
    root.querySelectorAll("li[data-key]").forEach((li) => {
      found.set(li.dataset.key, { status: li.dataset.status, name: li.dataset.name });
    });
    return found;
  }

  function announce(text) {
    const line = document.createElement("p");
    line.textContent = text;
    announcer.append(line);
    while (announcer.childElementCount > 6) announcer.firstElementChild.remove();
  }

  function filterQuery() {
    const query = new URLSearchParams();
    for (const [name, value] of new FormData(filters)) if (value) query.set(name, value);
    return query;
  }

  function pageUrl() {
    const query = filterQuery();
    if (selected) query.set("image", selected);
    const text = query.toString();
    return text ? `/?${text}` : "/";
  }

  async function refreshList(force) {
    const ticket = ++latest.list;
    const query = filterQuery();
    if (selected) query.set("image", selected);
    const headers = {};
    if (tags.list && !force) headers["If-None-Match"] = tags.list;
    const answer = await fetch(`/fragments/images?${query}`, { headers, cache: "no-store" });
    if (answer.status === 304 || ticket !== latest.list) return;
    const html = await answer.text();
    if (ticket !== latest.list) return;
    tags.list = answer.ok ? answer.headers.get("ETag") : null;
    const focused = document.activeElement && document.activeElement.closest("#image-list li[data-key]");
    const focusedKey = focused ? focused.dataset.key : null;
    list.innerHTML = html;
    placeholders(list);
    const now = statusesOf(list);
    for (const [key, item] of now) {
      const before = known.get(key);
      if (!before) announce(`${item.name}: ${item.status}`);
      else if (before.status !== item.status) announce(`${item.name} is now ${item.status}`);
    }
    known = now;
    if (focusedKey) {
      const link = list.querySelector(`li[data-key="${CSS.escape(focusedKey)}"] a`);
      if (link) link.focus();
    }
  }

  async function refreshDetail(force) {
    if (!selected) return;
    const ticket = ++latest.detail;
    const headers = {};
    if (tags.detail && !force) headers["If-None-Match"] = tags.detail;
    const answer = await fetch(`/fragments/image?key=${encodeURIComponent(selected)}`, {
      headers,
      cache: "no-store",
    });
    if (answer.status === 304 || ticket !== latest.detail) return;
    if (!answer.ok) {
      tags.detail = null;
      detail.innerHTML = '<p class="notice" id="detail-heading">No record for this image (yet).</p>';
      detail.hidden = false;
      return;
    }
    const html = await answer.text();
    if (ticket !== latest.detail || !selected) return;
    tags.detail = answer.headers.get("ETag");
    const hadFocus = detail.contains(document.activeElement) && document.activeElement !== detail;
    detail.innerHTML = html;
    placeholders(detail);
    detail.hidden = false;
    if (hadFocus) detail.focus();
  }

  async function openImage(key) {
    selected = key;
    tags.detail = null;
    history.pushState({ image: key }, "", pageUrl());
    list.querySelectorAll("li.is-selected").forEach((li) => li.classList.remove("is-selected"));
    const row = list.querySelector(`li[data-key="${CSS.escape(key)}"]`);
    if (row) row.classList.add("is-selected");
    await refreshDetail(true);
    detail.focus();
  }

  function closeImage() {
    const key = selected;
    selected = null;
    tags.detail = null;
    latest.detail += 1;
    detail.hidden = true;
    detail.innerHTML = "";
    history.pushState({}, "", pageUrl());
    const link = key && list.querySelector(`li[data-key="${CSS.escape(key)}"] a`);
    if (link) link.focus();
    refreshList(true);
  }

  list.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-open]");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    openImage(link.dataset.open);
  });
  detail.addEventListener("click", (event) => {
    if (!event.target.closest("a[data-close]")) return;
    event.preventDefault();
    closeImage();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && selected && detail.contains(document.activeElement)) closeImage();
  });

  function applyFilters(event) {
    if (event) event.preventDefault();
    history.replaceState({}, "", pageUrl());
    refreshList(true);
  }
  filters.addEventListener("submit", applyFilters);
  filters.addEventListener("change", applyFilters);
  window.addEventListener("popstate", () => {
    selected = new URLSearchParams(location.search).get("image");
    if (selected) refreshDetail(true);
    else detail.hidden = true;
    refreshList(true);
  });

  // -- uploads -------------------------------------------------------------------------------
  function logEntry(file) {
    const item = document.createElement("li");
    item.className = "upload-item";
    const name = document.createElement("span");
    name.className = "upload-item__name";
    name.textContent = file.name;
    const state = document.createElement("span");
    state.className = "upload-item__state";
    item.append(name, " — ", state);
    log.prepend(item);
    return (phase, text) => {
      item.dataset.state = phase;
      state.textContent = text;
    };
  }

  async function uploadOne(file) {
    const show = logEntry(file);
    show("asking", "asking upload-url for a presigned POST…");
    try {
      const answer = await fetch("/api/upload-url", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          fileName: file.name,
          contentType: file.type || "application/octet-stream",
          size: file.size,
        }),
      });
      const ticket = await answer.json();
      if (!answer.ok) {
        const error = ticket.error || {};
        show("refused", `refused by upload-url (${answer.status} ${error.code}): ${error.message}`);
        announce(`${file.name} was refused: ${error.code}`);
        return;
      }
      show("posting", "uploading to S3…");
      const form = new FormData();
      for (const [name, value] of Object.entries(ticket.fields)) form.append(name, value);
      form.append("file", file);
      const posted = await fetch(ticket.url, { method: "POST", body: form });
      if (!posted.ok) {
        show("failed", `S3 refused the POST (${posted.status})`);
        announce(`${file.name} could not be uploaded`);
        return;
      }
      show("uploaded", `uploaded as ${ticket.imageKey}`);
      announce(`${file.name} uploaded`);
    } catch (error) {
      show("failed", `upload failed: ${error.message}`);
      announce(`${file.name} could not be uploaded`);
    }
  }

  async function uploadAll(files) {
    await Promise.all(Array.from(files).map(uploadOne));
    refreshList(true);
  }

  input.addEventListener("change", () => {
    const files = Array.from(input.files);
    input.value = "";
    uploadAll(files);
  });
  ["dragenter", "dragover"].forEach((type) =>
    zone.addEventListener(type, (event) => {
      event.preventDefault();
      zone.dataset.state = "over";
    }),
  );
  ["dragleave", "drop"].forEach((type) =>
    zone.addEventListener(type, (event) => {
      event.preventDefault();
      zone.dataset.state = "idle";
    }),
  );
  zone.addEventListener("drop", (event) => uploadAll(event.dataTransfer.files));
  // A file dropped beside the zone must not navigate away from the page.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());

  // -- live ------------------------------------------------------------------------------------
  async function tick() {
    if (!document.hidden) {
      try {
        await refreshList(false);
        await refreshDetail(false);
      } catch (error) {
        // The server may be restarting; the next tick tries again.
      }
    }
    setTimeout(tick, pollMs);
  }
  if (selected && !detail.hidden) tags.detail = null;
  setTimeout(tick, pollMs);
})();
