// The checkpoint station: read a personal QR code (camera, USB scanner, typed CCCD), show whom the
// server resolves it to, record the officer's decision.
//
// Every decision goes into an outbox in IndexedDB before it is sent, and leaves it once the server
// has answered. It is sent in order, with the time of the tap and a retry key, so a replay after a
// lost connection (or a closed tab) is stored once. A 4xx answer will never succeed: the action
// leaves the outbox and is shown as not recorded.
"use strict";

(function () {
  const root = document.querySelector("[data-station]");
  if (!root) { return; }
  const T = JSON.parse(root.dataset.texts);
  const PLACE = root.dataset.placeCode;
  const OFFICER = root.dataset.officer;
  const LOOKUP_TIMEOUT_MS = 4000;
  const SEND_TIMEOUT_MS = 10000; // longer than the server's own wait for Kafka (5 s, then 503)
  const RETRY_EVERY_MS = 4000;
  const CSRF_RENEW_MS = 20 * 60 * 1000; // a token lives an hour; the page stays open all day
  const SAME_CODE_QUIET_MS = 4000; // the phone still held up after the decision is not a new scan
  const LOG_LENGTH = 10;
  const DESK = window.matchMedia("(pointer: fine)").matches; // keyboard or scanner, not a touch screen
  const lang = document.documentElement.lang === "en" ? "en-GB" : "vi-VN";
  const $ = (selector) => root.querySelector(selector);
  const input = $("[data-reader-input]");
  const result = $("[data-result]");
  let csrfToken = document.querySelector("meta[name=csrf-token]").content;
  let current = null; // the person on screen: {identity, who, recordable}
  let lookups = 0;
  let outbox = null; // a promise of the queue, open once
  let draining = false;
  const camera = {paused: false, lastText: null, quietUntil: 0};

  // --- small helpers ---------------------------------------------------------------------------
  function say(template, values) {
    return template.replace(/\{(\w+)\}/g, (whole, key) => (key in values ? values[key] : whole));
  }
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text != null) { node.textContent = text; }
    return node;
  }
  function clock(iso) {
    return new Date(iso).toLocaleTimeString(lang, {hour: "2-digit", minute: "2-digit", second: "2-digit"});
  }
  function retryKey() {
    if (window.crypto.randomUUID) { return window.crypto.randomUUID(); }
    // randomUUID needs a secure context; a station on a plain-HTTP LAN address still gets 128 bits.
    return Array.from(window.crypto.getRandomValues(new Uint8Array(16)),
      (b) => b.toString(16).padStart(2, "0")).join("");
  }
  function errorText(body) {
    const fields = body.errors ? Object.values(body.errors).join("; ") : "";
    return [body.error, fields].filter(Boolean).join(": ") || "?";
  }

  // --- the server --------------------------------------------------------------------------------
  async function post(url, body, timeoutMs) {
    const controller = new AbortController();
    const timer = window.setTimeout(() => controller.abort(), timeoutMs);
    try {
      const response = await fetch(url, {
        method: "POST", credentials: "same-origin", cache: "no-store", signal: controller.signal,
        headers: {"Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken},
        body: JSON.stringify(body),
      });
      return {status: response.status, body: await response.json().catch(() => ({}))};
    } catch (error) {
      return {status: 0, body: {}}; // no network, or no answer in time
    } finally {
      window.clearTimeout(timer);
    }
  }

  async function renewCsrf() {
    try {
      const response = await fetch(root.dataset.csrfUrl, {credentials: "same-origin", cache: "no-store",
        headers: {Accept: "application/json"}});
      if (!response.ok) { return false; }
      csrfToken = (await response.json()).csrf_token;
      return true;
    } catch (error) {
      return false;
    }
  }

  // Field errors come with ``errors``; a bare 400 is the CSRF check: renew the token, try once more.
  async function send(url, body, timeoutMs) {
    let answer = await post(url, body, timeoutMs);
    if (answer.status === 400 && !answer.body.errors && await renewCsrf()) {
      answer = await post(url, body, timeoutMs);
    }
    $("[data-offline]").hidden = !waits(answer.status);
    $("[data-signed-out]").hidden = answer.status !== 401;
    return answer;
  }

  // Worth trying again later: no answer, the server or Kafka busy, or a sign-in that has lapsed.
  function waits(status) { return status === 0 || status === 429 || status >= 500; }

  // --- the outbox ----------------------------------------------------------------------------------
  function openOutbox() {
    return new Promise((resolve) => {
      let request;
      try {
        request = window.indexedDB.open("truyvet-station", 1);
      } catch (error) {
        resolve(memoryOutbox());
        return;
      }
      request.onupgradeneeded = () => request.result.createObjectStore("actions", {keyPath: "id", autoIncrement: true});
      request.onsuccess = () => resolve(storedOutbox(request.result));
      request.onerror = () => resolve(memoryOutbox());
    });
  }

  function storedOutbox(db) {
    function run(mode, work) {
      return new Promise((resolve, reject) => {
        const transaction = db.transaction("actions", mode);
        const request = work(transaction.objectStore("actions"));
        transaction.oncomplete = () => resolve(request.result);
        transaction.onerror = transaction.onabort = () => reject(transaction.error);
      });
    }
    return {
      add: (item) => run("readwrite", (store) => store.add(item)),
      all: () => run("readonly", (store) => store.getAll()), // in key order: the order of the taps
      remove: (id) => run("readwrite", (store) => store.delete(id)),
    };
  }

  // A private window may refuse IndexedDB: keep the queue for as long as the page stays open.
  function memoryOutbox() {
    const items = [];
    let next = 1;
    return {
      add: async (item) => { items.push(Object.assign({id: next}, item)); return next++; },
      all: async () => items.slice(),
      remove: async (id) => { const at = items.findIndex((item) => item.id === id); if (at >= 0) { items.splice(at, 1); } },
    };
  }

  // Retry keys are scoped to the officer on the server: only their own actions are replayed.
  async function waiting() {
    return (await (await outbox).all()).filter((item) => item.officer === OFFICER);
  }

  async function drain() {
    if (draining) { return; }
    draining = true;
    try {
      for (;;) {
        const [item] = await waiting();
        if (!item) { break; }
        const answer = await send(root.dataset.scanUrl, item.body, SEND_TIMEOUT_MS);
        if (waits(answer.status) || answer.status === 401) {
          if (answer.status !== 401) { status("queued", say(T.queued, describe(item))); } // else: the banner
          break;
        }
        await (await outbox).remove(item.id);
        if (answer.status === 202) { recorded(item, answer.body); } else { failed(item, answer.body); }
        await showOutbox();
      }
    } catch (error) {
      window.console.error("station outbox:", error);
    } finally {
      draining = false;
      await showOutbox();
    }
  }

  async function showOutbox() {
    const items = await waiting();
    $("[data-queue-count]").textContent = String(items.length);
    $("[data-queue-list]").replaceChildren(...items.map((item) => logLine(item)));
    $("[data-queue]").classList.toggle("queue-waiting", items.length > 0);
  }

  function describe(item) {
    return {action: T.actions[item.body.action], who: item.who};
  }

  function logLine(item, extra) {
    const line = el("li");
    line.append(el("time", null, clock(item.body.ts)), " ", el("strong", null, T.actions[item.body.action]),
      " · " + item.who);
    if (item.body.reason) { line.append(" (" + item.body.reason + ")"); }
    if (extra) { line.append(" ", extra); }
    return line;
  }

  function prepend(list, line) {
    list.prepend(line);
    while (list.children.length > LOG_LENGTH) { list.lastElementChild.remove(); }
  }

  function recorded(item, body) {
    const code = el("code", "event-id", body.event_id);
    code.dataset.eventId = body.event_id;
    status("good", say(T.recorded, describe(item)), code);
    const line = logLine(item, el("code", "event-id", body.event_id.slice(0, 8)));
    line.dataset.eventId = body.event_id;
    prepend($("[data-recent-list]"), line);
  }

  function failed(item, body) {
    const error = errorText(body);
    status("bad", say(T.failed, Object.assign(describe(item), {error: error})));
    $("[data-failed]").hidden = false;
    prepend($("[data-failed-list]"), logLine(item, el("span", "error-message", error)));
  }

  function status(kind, text, extra) {
    const line = $("[data-status]");
    line.className = "status status-" + kind;
    line.replaceChildren(text);
    if (extra) { line.append(" ", T.event + ": ", extra); }
  }

  // --- reading a person ----------------------------------------------------------------------------
  async function read(text) {
    text = text.trim();
    if (!text) { return; }
    const digits = text.replace(/[\s.-]/g, ""); // "001 090 012345", as printed on the card
    const typed = /^(\d{9}|\d{12})$/.test(digits);
    const identity = typed ? {citizen_id: digits} : {qr_token: text};
    const mine = ++lookups;
    camera.paused = true;
    camera.lastText = text;
    cameraStatus(T.camera_paused);
    current = null;
    showDecide(false);
    result.replaceChildren(el("p", "idle", T.looking_up));
    const answer = await send(root.dataset.lookupUrl, Object.assign({place_code: PLACE}, identity), LOOKUP_TIMEOUT_MS);
    if (mine !== lookups) { return; } // a newer code was read meanwhile
    if (answer.status === 200) {
      showPerson(identity, answer.body.person);
    } else if (waits(answer.status)) {
      // Nothing to show, but the decision can still be taken and kept until the network is back.
      const card = showCard("offline-card", {identity: typed ? say(T.typed_id, {id: digits}) : T.scanned_qr});
      current = {identity: identity, who: card.querySelector("[data-slot=identity]").textContent, recordable: true};
    } else if (answer.status === 422) {
      showCard("refused-card", {message: answer.body.error, reason: answer.body.reason});
    } else {
      showCard("error-card", {message: answer.status === 403 ? T.forbidden : errorText(answer.body)});
    }
    showDecide(true);
  }

  function showCard(id, slots) {
    const card = document.getElementById(id).content.firstElementChild.cloneNode(true);
    Object.entries(slots).forEach(([slot, text]) => { card.querySelector(`[data-slot="${slot}"]`).textContent = text; });
    result.replaceChildren(card);
    return card;
  }

  function showPerson(identity, person) {
    const d = person.declaration;
    const id = person.citizen_id || identity.citizen_id || "";
    // Decisions are recorded by the CCCD the server resolved: a QR code that expires while the
    // action waits in the outbox must not turn a recorded decision into a refused one.
    const recordable = Boolean(person.citizen_id);
    current = {identity: recordable ? {citizen_id: person.citizen_id} : identity, recordable: recordable,
      who: d ? d.full_name : say(T.typed_id, {id: id})};
    if (!d) {
      showCard("no-declaration-card", {identity: say(T.typed_id, {id: id}), warning: recordable ? "" : T.no_cccd});
      return;
    }
    const card = showCard("person-card", {
      name: d.full_name,
      identity: [say(T.born, {year: d.birth_year}), T.sexes[d.sex] || d.sex, id ? "CCCD " + id : ""].filter(Boolean).join(" · "),
      declared: declaredAt(d),
      symptoms: d.symptoms.length ? d.symptoms.map((s) => T.symptoms[s] || s).join(", ") : T.none,
      contact: d.contact_with_case ? T.yes : T.no,
      outbreak: d.visited_outbreak_area ? T.yes : T.no,
      doses: String(d.vaccination_doses),
      trip: d.trip ? trip(d.trip) : "",
    });
    card.classList.add("verification-" + d.verification);
    const check = card.querySelector("[data-slot=verification]");
    check.classList.add("check-" + d.verification);
    check.textContent = d.verification === "mismatch"
      ? T.mismatch + " " + d.mismatched_fields.map((f) => T.fields[f] || f).join(", ")
      : T[d.verification] || d.verification;
    flag(card, "symptoms", d.symptoms.length > 0);
    flag(card, "contact", d.contact_with_case);
    flag(card, "outbreak", d.visited_outbreak_area);
    card.querySelector("[data-slot-row=trip]").hidden = !d.trip;
    if (!recordable) { card.append(el("p", "error-message", T.no_cccd)); }
  }

  // The server's Vietnam time as the officer reads a clock ("08:31 28/11/2026"), and how long ago.
  function declaredAt(d) {
    const [date, time] = d.declared_at.split("T");
    const ago = d.age_hours < 1
      ? say(T.minutes_ago, {minutes: Math.max(1, Math.round(d.age_hours * 60))})
      : say(T.hours_ago, {hours: d.age_hours.toLocaleString(lang)});
    return time.slice(0, 5) + " " + date.split("-").reverse().join("/") + " (" + ago + ")";
  }

  function flag(card, slot, bad) {
    card.querySelector(`[data-slot="${slot}"]`).classList.add(bad ? "flag-bad" : "flag-ok");
  }

  function trip(t) {
    const where = (T.provinces[t.from_province] || t.from_province) + " → " + (T.provinces[t.to_province] || t.to_province);
    return [where, T.means[t.means] || t.means, t.vehicle_number, t.date.split("-").reverse().join("/")]
      .filter(Boolean).join(" · ");
  }

  // --- deciding ------------------------------------------------------------------------------------
  function showDecide(visible) {
    $("[data-decide]").hidden = !visible;
    $("[data-decide-actions]").hidden = !(current && current.recordable);
    // On a phone the card and its buttons are below the camera: bring the buttons into view.
    if (visible) { $("[data-decide]").scrollIntoView({block: "nearest"}); }
    $("[data-reason]").hidden = true;
    $("[data-reason-input]").value = "";
    $("[data-reason-error]").textContent = "";
  }

  async function decide(action, reason) {
    if (!current || !current.recordable) { return; }
    const body = Object.assign({place_code: PLACE}, current.identity, {
      action: action, ts: new Date().toISOString(), retry_key: retryKey(),
    });
    if (reason) { body.reason = reason; }
    const item = {officer: OFFICER, who: current.who, body: body};
    nextPerson();
    status("pending", say(T.sending, describe(item)));
    await (await outbox).add(item); // stored before it is sent: a closed tab or a dead battery loses nothing
    await showOutbox();
    drain();
  }

  function nextPerson() {
    current = null;
    lookups++;
    result.replaceChildren(el("p", "idle", root.dataset.idle));
    showDecide(false);
    $("[data-decide]").hidden = true;
    camera.paused = false;
    camera.quietUntil = performance.now() + SAME_CODE_QUIET_MS;
    cameraStatus(T.camera_looking);
    if (!$("[data-cam-view]").hidden) { $("[data-cam]").scrollIntoView({block: "nearest"}); }
    if (DESK) { input.focus({preventScroll: true}); }
  }

  function askReason() {
    $("[data-decide-actions]").hidden = true; // one way on: confirm with a reason, or go back
    $("[data-reason]").hidden = false;
    $("[data-reason-input]").focus();
  }

  function useMode(mode) {
    root.querySelectorAll("[data-mode-for]").forEach((button) => { button.hidden = button.dataset.modeFor !== mode; });
    try { window.localStorage.setItem("truyvet.station-mode." + PLACE, mode); } catch (error) { /* private window */ }
  }

  // --- the camera (jsQR, vendored; loaded only when asked for) ---------------------------------
  function cameraStatus(text) {
    const line = $("[data-cam-status]");
    if (!$("[data-cam-view]").hidden) { line.textContent = text; }
  }

  function setUpCamera() {
    const box = $("[data-cam]");
    if (!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia)) { return; }
    box.hidden = false;
    const video = $("[data-cam-video]");
    const canvas = document.createElement("canvas");
    const context = canvas.getContext("2d", {willReadFrequently: true});
    let stream = null;
    let lastTry = 0;

    function loadDecoder() {
      if (window.jsQR) { return Promise.resolve(window.jsQR); }
      return new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = root.dataset.jsqrSrc;
        script.onload = () => resolve(window.jsQR);
        script.onerror = reject;
        document.head.append(script);
      });
    }
    function halt() {
      if (stream) { stream.getTracks().forEach((track) => track.stop()); }
      stream = null;
      $("[data-cam-view]").hidden = true;
      $("[data-cam-start]").hidden = false;
    }
    function scan(decode) {
      if (!stream) { return; }
      const now = performance.now();
      // A few frames a second is plenty, and leaves a phone's battery alone.
      if (!camera.paused && now - lastTry > 150 && video.readyState >= video.HAVE_ENOUGH_DATA) {
        lastTry = now;
        const scale = Math.min(1, 800 / video.videoWidth); // jsQR's time grows with the pixels
        canvas.width = Math.round(video.videoWidth * scale);
        canvas.height = Math.round(video.videoHeight * scale);
        context.drawImage(video, 0, 0, canvas.width, canvas.height);
        const image = context.getImageData(0, 0, canvas.width, canvas.height);
        const code = decode(image.data, image.width, image.height, {inversionAttempts: "dontInvert"});
        if (code && code.data && !(code.data === camera.lastText && now < camera.quietUntil)) {
          read(code.data);
        }
      }
      window.requestAnimationFrame(() => scan(decode));
    }
    $("[data-cam-start]").addEventListener("click", async () => {
      try {
        const [decode, opened] = await Promise.all([loadDecoder(),
          navigator.mediaDevices.getUserMedia({video: {facingMode: "environment"}, audio: false})]);
        stream = opened;
        video.srcObject = stream;
        $("[data-cam-view]").hidden = false;
        $("[data-cam-start]").hidden = true;
        cameraStatus(camera.paused ? T.camera_paused : T.camera_looking);
        await video.play();
        scan(decode);
      } catch (error) {
        halt();
        $("[data-cam-status]").textContent = T.camera_denied;
      }
    });
    $("[data-cam-stop]").addEventListener("click", () => { halt(); $("[data-cam-status]").textContent = ""; });
  }

  // --- wiring ----------------------------------------------------------------------------------------
  root.dataset.idle = result.textContent.trim();
  $("[data-reader]").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value;
    input.value = "";
    read(text);
  });
  // A USB scanner types wherever the focus is: after a tap on a button, bring its keys back to the field.
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.altKey || event.metaKey || event.key.length !== 1 || event.key === " ") { return; }
    const typing = "input:not([type=radio]):not([type=checkbox]), textarea, select, [contenteditable]";
    if (event.target.closest && event.target.closest(typing)) { return; }
    input.focus();
  });
  root.querySelectorAll("[data-action]").forEach((button) => button.addEventListener("click", () => {
    if (button.dataset.action === "turn_back") { askReason(); } else { decide(button.dataset.action); }
  }));
  root.querySelectorAll("[data-reason-choice]").forEach((chip) => chip.addEventListener("click", () => {
    $("[data-reason-input]").value = chip.textContent.trim();
  }));
  $("[data-reason]").addEventListener("submit", (event) => {
    event.preventDefault();
    const reason = $("[data-reason-input]").value.trim();
    if (!reason) {
      $("[data-reason-error]").textContent = T.reason_required;
      $("[data-reason-input]").focus();
      return;
    }
    decide("turn_back", reason);
  });
  $("[data-reason-cancel]").addEventListener("click", () => {
    $("[data-reason]").hidden = true;
    $("[data-decide-actions]").hidden = false;
  });
  $("[data-skip]").addEventListener("click", nextPerson);
  root.querySelectorAll("[data-mode] input").forEach((radio) => radio.addEventListener("change", () => useMode(radio.value)));
  let mode = null;
  try { mode = window.localStorage.getItem("truyvet.station-mode." + PLACE); } catch (error) { /* private window */ }
  const chosen = mode && root.querySelector(`[data-mode] input[value="${mode}"]`);
  if (chosen) { chosen.checked = true; }
  useMode(root.querySelector("[data-mode] input:checked").value);
  setUpCamera();
  if (DESK) { input.focus(); }

  outbox = openOutbox();
  outbox.then(() => {
    root.dataset.ready = "true"; // the page is live (tests wait for this)
    drain();
  });
  window.addEventListener("online", drain);
  window.setInterval(drain, RETRY_EVERY_MS);
  window.setInterval(renewCsrf, CSRF_RENEW_MS);
})();
