// Self check-in at a venue: the people whose personal QR codes this phone keeps (localStorage
// "truyvet.people", written by the declaration result page), one tap to check each in or out.
"use strict";

(function () {
  const root = document.querySelector("[data-checkin]");
  if (!root) { return; }
  const T = JSON.parse(root.dataset.texts);
  const lang = document.documentElement.lang === "en" ? "en-GB" : "vi-VN";
  const list = root.querySelector("[data-people]");

  function say(template, values) {
    return template.replace(/\{(\w+)\}/g, (whole, key) => (key in values ? values[key] : whole));
  }

  // Whatever is stored, only well-formed entries are shown (another page or version wrote it).
  function people() {
    let stored = [];
    try { stored = JSON.parse(window.localStorage.getItem("truyvet.people") || "[]"); } catch (error) { /* unreadable */ }
    return (Array.isArray(stored) ? stored : []).filter((p) => p && typeof p.name === "string" && p.name
      && typeof p.token === "string" && p.token);
  }

  async function checkIn(person, action, row) {
    const result = row.querySelector("[data-slot=result]");
    const buttons = row.querySelectorAll("[data-checkin-action]");
    buttons.forEach((button) => { button.disabled = true; });
    result.className = "status status-pending";
    result.textContent = T.sending;
    let status = 0;
    let body = {};
    try {
      const response = await fetch(root.dataset.url, {
        method: "POST", credentials: "omit", cache: "no-store",
        headers: {"Content-Type": "application/json", Accept: "application/json"},
        body: JSON.stringify({place_code: root.dataset.placeCode, qr_token: person.token, action: action}),
      });
      status = response.status;
      body = await response.json().catch(() => ({}));
    } catch (error) { /* no network: status stays 0 */ }
    buttons.forEach((button) => { button.disabled = false; });
    if (status === 202) {
      const time = new Date().toLocaleTimeString(lang, {hour: "2-digit", minute: "2-digit"});
      result.className = "status status-good";
      const done = action === "in" ? T.done_in : T.done_out;
      result.textContent = say(done, {name: person.name, place: body.place_name, time: time});
      result.dataset.eventId = body.event_id;
    } else {
      result.className = "status status-bad";
      const fields = body.errors ? Object.values(body.errors).join("; ") : "";
      result.textContent = status === 0 || status >= 500 ? T.offline : [body.error, fields].filter(Boolean).join(": ");
    }
  }

  function show(person) {
    const row = document.getElementById("checkin-person").content.firstElementChild.cloneNode(true);
    row.querySelector("[data-slot=name]").textContent = person.name;
    const expires = new Date(person.expires_at);
    const expired = !Number.isNaN(expires.getTime()) && expires < new Date();
    const expiry = row.querySelector("[data-slot=expiry]");
    if (expired) {
      expiry.textContent = T.expired;
      expiry.classList.add("expired");
      row.querySelector(".decide-buttons").hidden = true;
    } else if (!Number.isNaN(expires.getTime())) {
      const time = expires.toLocaleString(lang, {hour: "2-digit", minute: "2-digit", day: "2-digit", month: "2-digit",
        year: "numeric"});
      expiry.textContent = say(T.valid_until, {time: time});
    }
    row.querySelectorAll("[data-checkin-action]").forEach((button) => {
      const action = button.dataset.checkinAction;
      button.setAttribute("aria-label", T[action] + " – " + person.name);
      button.addEventListener("click", () => checkIn(person, action, row));
    });
    list.append(row);
  }

  const found = people();
  found.forEach(show);
  root.querySelector("[data-no-people]").hidden = found.length > 0;
})();
