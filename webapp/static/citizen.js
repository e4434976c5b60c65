// Citizen pages, progressively enhanced: every form works without this file.
// Wards follow the chosen province, more dependant rows on demand, one submit per tap,
// the CCCD card QR read with the camera (jsQR, loaded only when asked for), printing.
"use strict";

(function () {
  function wardsFollowProvince(form) {
    var template = form.getAttribute("data-wards-url");
    form.querySelectorAll("select[data-province]").forEach(function (province) {
      var ward = document.getElementById(province.getAttribute("data-province"));
      if (!ward) { return; }
      var placeholder = ward.options.length ? ward.options[0].textContent : "";
      province.addEventListener("change", function () {
        ward.length = 0;
        ward.add(new Option(placeholder, ""));
        if (!province.value) { return; }
        ward.disabled = true;
        fetch(template.replace("{code}", encodeURIComponent(province.value)), {headers: {Accept: "application/json"}})
          .then(function (response) { return response.ok ? response.json() : {wards: []}; })
          .then(function (body) {
            body.wards.forEach(function (w) { ward.add(new Option(w.name, String(w.code))); });
          })
          .catch(function () { /* the ward stays optional; the server still checks it */ })
          .finally(function () { ward.disabled = false; });
      });
    });
  }

  function moreDependants(section) {
    var button = section.querySelector("[data-add-dependant]");
    var rows = section.querySelectorAll("[data-dependant]");
    function update() {
      button.hidden = !section.querySelector("[data-dependant][hidden]");
    }
    button.addEventListener("click", function () {
      var next = section.querySelector("[data-dependant][hidden]");
      if (!next) { return; }
      next.hidden = false;
      var first = next.querySelector("input");
      if (first) { first.focus(); }
      update();
    });
    if (rows.length) { update(); }
  }

  function oneSubmitPerTap(form) {
    var button = form.querySelector("[data-submit]");
    if (!button) { return; }
    var label = button.textContent;
    form.addEventListener("submit", function (event) {
      if (event.submitter && event.submitter !== button) { return; }
      // The server answers a repeat with the first declaration anyway; this spares the wait.
      window.setTimeout(function () { button.disabled = true; button.textContent = button.getAttribute("data-busy"); }, 0);
    });
    // Coming back with the Back button restores the page as it was left: usable again.
    window.addEventListener("pageshow", function () { button.disabled = false; button.textContent = label; });
  }

  function fillFromCard(card) {
    var form = document.querySelector("[data-declaration]");
    function set(name, value) {
      var field = form.elements.namedItem(name);
      if (!field || value == null) { return; }
      if (field instanceof RadioNodeList) {
        field.forEach(function (radio) { radio.checked = radio.value === value; });
      } else {
        field.value = value;
        field.dispatchEvent(new Event("input", {bubbles: true}));
      }
    }
    set("citizen_id", card.citizen_id);
    set("full_name", card.full_name);
    set("date_of_birth", card.date_of_birth);
    set("sex", card.sex);
    var address = form.elements.namedItem("residence-address");
    if (address && !address.value) { set("residence-address", card.address); }
  }

  function cameraScan(box) {
    if (!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia)) { return; }
    box.hidden = false;
    var start = box.querySelector("[data-camera-start]");
    var stop = box.querySelector("[data-camera-stop]");
    var view = box.querySelector("[data-camera-view]");
    var video = box.querySelector("[data-camera-video]");
    var status = box.querySelector("[data-camera-status]");
    var canvas = document.createElement("canvas");
    var context = canvas.getContext("2d", {willReadFrequently: true});
    var stream = null;
    var lastTry = 0;

    function message(name) { status.textContent = box.getAttribute("data-msg-" + name); }
    function loadDecoder() {
      if (window.jsQR) { return Promise.resolve(window.jsQR); }
      return new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = box.getAttribute("data-jsqr-src");
        script.onload = function () { resolve(window.jsQR); };
        script.onerror = reject;
        document.head.appendChild(script);
      });
    }
    function halt() {
      if (stream) { stream.getTracks().forEach(function (track) { track.stop(); }); }
      stream = null;
      view.hidden = true;
      start.hidden = false;
    }
    function submitText(text) {
      fetch(box.getAttribute("data-card-url"), {
        method: "POST", headers: {"Content-Type": "application/json", Accept: "application/json"},
        body: JSON.stringify({payload: text}),
      }).then(function (response) {
        return response.json().then(function (body) { return {ok: response.ok, body: body}; });
      }).then(function (answer) {
        if (answer.ok) { fillFromCard(answer.body); message("filled"); }
        else { status.textContent = answer.body.error || box.getAttribute("data-msg-failed"); }
      }).catch(function () { message("failed"); });
    }
    function scan(decode) {
      if (!stream) { return; }
      var now = performance.now();
      // A few frames a second is plenty, and leaves an old phone's battery alone.
      if (now - lastTry > 200 && video.readyState >= video.HAVE_ENOUGH_DATA) {
        lastTry = now;
        canvas.width = video.videoWidth;
        canvas.height = video.videoHeight;
        context.drawImage(video, 0, 0, canvas.width, canvas.height);
        var image = context.getImageData(0, 0, canvas.width, canvas.height);
        var code = decode(image.data, image.width, image.height, {inversionAttempts: "dontInvert"});
        if (code && code.binaryData && code.binaryData.length) {
          halt();
          // The card QR is UTF-8 in byte mode: decode the bytes, not jsQR's own guess.
          submitText(new TextDecoder("utf-8").decode(new Uint8Array(code.binaryData)));
          return;
        }
      }
      window.requestAnimationFrame(function () { scan(decode); });
    }
    start.addEventListener("click", function () {
      Promise.all([
        loadDecoder(),
        navigator.mediaDevices.getUserMedia({video: {facingMode: "environment"}, audio: false}),
      ]).then(function (ready) {
        stream = ready[1];
        video.srcObject = stream;
        view.hidden = false;
        start.hidden = true;
        message("looking");
        return video.play().then(function () { scan(ready[0]); });
      }).catch(function () { halt(); message("denied"); });
    });
    stop.addEventListener("click", function () { halt(); status.textContent = ""; });
  }

  // The people whose QR codes this phone has shown: self check-in at a venue offers them.
  function keepOnThisPhone(cards) {
    if (!cards.length) { return; }
    var key = "truyvet.people", people;
    try { people = JSON.parse(window.localStorage.getItem(key) || "[]"); } catch (e) { people = []; }
    if (!Array.isArray(people)) { people = []; }
    cards.forEach(function (card) {
      var person = {name: card.getAttribute("data-keep-name"), token: card.getAttribute("data-keep-token"),
                    expires_at: card.getAttribute("data-keep-expires")};
      // One entry per name: a newer declaration's code replaces the older one.
      people = people.filter(function (p) { return p.token !== person.token && p.name !== person.name; });
      people.push(person);
    });
    var now = new Date().toISOString();
    people = people.filter(function (p) { return p.expires_at > now; });
    try { window.localStorage.setItem(key, JSON.stringify(people)); } catch (e) { /* private mode: nothing kept */ }
  }
  keepOnThisPhone(Array.prototype.slice.call(document.querySelectorAll("[data-keep-token]")));

  document.querySelectorAll("[data-declaration]").forEach(function (form) {
    wardsFollowProvince(form);
    oneSubmitPerTap(form);
  });
  document.querySelectorAll("[data-dependants]").forEach(moreDependants);
  document.querySelectorAll("[data-photo-form]").forEach(function (form) {
    // Choosing the photo is the intent: read it straight away, one tap fewer.
    form.querySelector("input[type=file]").addEventListener("change", function (event) {
      if (event.target.files.length) { form.requestSubmit(); }
    });
  });
  document.querySelectorAll("[data-camera]").forEach(cameraScan);
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
  var summary = document.getElementById("error-summary");
  if (summary) {
    summary.focus();
    // A link to a field should put the cursor in it, not only scroll there.
    summary.addEventListener("click", function (event) {
      var link = event.target.closest("a[href^='#']");
      var target = link && document.getElementById(link.getAttribute("href").slice(1));
      if (!target) { return; }
      var field = target.matches("input, select, textarea") ? target : target.querySelector("input, select, textarea");
      if (field) { event.preventDefault(); target.scrollIntoView({block: "center"}); field.focus({preventScroll: true}); }
    });
  }
})();
