// The ops dashboard (templates/ops/dashboard.html): polls /ops/data and draws it with uPlot.
// Per-minute series come whole from the server (the last hour, from Kafka's offsets and the
// warehouse); the consumer lag is a reading of now, so its chart is the readings since the page
// opened. Once drawn, #ops carries data-loaded="true" and data-polls="N", each chart's element
// data-series (how many lines), and #ops-alerts data-count: for the browser tests.
(function () {
  "use strict";

  var root = document.getElementById("ops");
  if (!root || typeof uPlot !== "function") return;
  var text = root.dataset;
  var locale = text.lang === "en" ? "en" : "vi-VN";
  var pollMs = (parseInt(text.pollSeconds, 10) || 10) * 1000;
  var COLOURS = ["#1a73e8", "#1e8e3e", "#e8710a", "#b3261e", "#8e24aa", "#00897b", "#6d4c41", "#546e7a"];
  var LAG_HISTORY = 360; // readings kept: an hour at one every ten seconds
  // Events are whole: the y axes step by whole numbers.
  var COUNT_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6];
  var charts = {};
  var lagTimes = [];
  var lagValues = [];
  var polls = 0;

  function number(value) {
    return value === null || value === undefined ? text.textUnknown : value.toLocaleString(locale);
  }

  // Hours and minutes; seconds too on an axis of a few minutes (the lag since the page opened).
  function clock(withSeconds) {
    var shape = withSeconds ? { hour: "2-digit", minute: "2-digit", second: "2-digit" } : { hour: "2-digit", minute: "2-digit" };
    return function (seconds) { return new Date(seconds * 1000).toLocaleTimeString(locale, shape); };
  }

  function when(seconds) {
    return seconds === null || seconds === undefined ? "–" : new Date(seconds * 1000).toLocaleString(locale);
  }

  function width(element) {
    return Math.max(element.clientWidth || 0, 280);
  }

  // One chart per element, made again when its lines change (a new rejection reason).
  function draw(id, labels, xs, columns) {
    var element = document.getElementById(id);
    var key = labels.join("|");
    var data = [xs].concat(columns);
    var chart = charts[id];
    if (chart && chart.key === key) {
      chart.plot.setData(data);
      return;
    }
    if (chart) chart.plot.destroy();
    element.textContent = "";
    var series = [{ label: text.textTime, value: function (u, seconds) { return when(seconds); } }].concat(
      labels.map(function (label, i) {
        return { label: label, stroke: COLOURS[i % COLOURS.length], width: 2, points: { show: false },
                 value: function (u, count) { return count === null || count === undefined ? "–" : number(count); } };
      }));
    var plot = new uPlot({
      width: width(element), height: 220, series: series,
      scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(max || 0, 1)]; } } },
      axes: [{ values: function (u, ticks) { return ticks.map(clock(ticks[ticks.length - 1] - ticks[0] < 600)); } },
             { values: function (u, ticks) { return ticks.map(number); }, incrs: COUNT_STEPS, size: 60 }],
      legend: { show: true }
    }, data, element);
    charts[id] = { plot: plot, key: key };
    element.dataset.series = String(labels.length);
  }

  function showAlerts(alerts) {
    var section = document.getElementById("ops-alerts");
    var list = document.getElementById("ops-alert-list");
    list.textContent = "";
    alerts.forEach(function (alert) {
      var item = document.createElement("li");
      item.className = "ops-alert " + alert.level;
      item.dataset.code = alert.code;
      item.textContent = alert.text;
      list.appendChild(item);
    });
    document.getElementById("ops-no-alerts").hidden = alerts.length > 0;
    section.dataset.count = String(alerts.length);
  }

  function fillTable(id, rows) {
    var body = document.querySelector("#" + id + " tbody");
    body.textContent = "";
    if (!rows.length) rows = [[{ text: text.textNone, span: body.parentNode.tHead.rows[0].cells.length }]];
    rows.forEach(function (cells) {
      var row = body.insertRow();
      cells.forEach(function (cell) {
        var td = row.insertCell();
        td.textContent = cell.text;
        if (cell.number) td.className = "number";
        if (cell.span) td.colSpan = cell.span;
      });
    });
  }

  function show(data) {
    var per = data.per_minute;
    draw("chart-throughput", [text.textDeclarations, text.textScans], data.minutes,
         per ? [per.declarations, per.scans] : [data.minutes.map(function () { return null; }),
                                                data.minutes.map(function () { return null; })]);
    draw("chart-dead-letters", [text.textDeadLetters], data.minutes,
         [per ? per.dead_letters : data.minutes.map(function () { return null; })]);
    var reasons = Object.keys(data.rejections_by_reason || {}).sort();
    if (!reasons.length) {
      draw("chart-rejections", [text.textNone], data.minutes, [data.minutes.map(function () { return 0; })]);
    } else {
      draw("chart-rejections", reasons, data.minutes, reasons.map(function (r) { return data.rejections_by_reason[r]; }));
    }
    if (data.lag) {
      lagTimes.push(data.taken_at);
      lagValues.push(data.lag.total);
      if (lagTimes.length > LAG_HISTORY) { lagTimes.shift(); lagValues.shift(); }
    }
    draw("chart-lag", [text.textLag], lagTimes.slice(), [lagValues.slice()]);

    showAlerts(data.alerts);
    document.getElementById("ops-lag-total").textContent = number(data.lag ? data.lag.total : null);
    document.getElementById("ops-outbox").textContent = number(data.outbox_pending);
    fillTable("ops-lag-table", data.lag ? Object.keys(data.lag.by_topic).sort().map(function (topic) {
      return [{ text: topic }, { text: number(data.lag.by_topic[topic]), number: true }];
    }) : []);
    fillTable("ops-silent-table", (data.silent_places || []).map(function (place) {
      return [{ text: place.place_code }, { text: place.name || "" },
              { text: when(place.last_scan) },
              { text: number(place.silent_minutes), number: true },
              { text: number(place.usual_gap_minutes), number: true }];
    }));
    document.getElementById("ops-updated").textContent = new Date(data.taken_at * 1000).toLocaleTimeString(locale);
  }

  function unreachable() {
    var updated = document.getElementById("ops-updated");
    updated.textContent = text.textUnreachable;
    updated.className = "ops-error";
  }

  function poll() {
    fetch(text.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        document.getElementById("ops-updated").className = "hint";
        show(data); // a mistake here is the page's own: left to reach the console
        polls += 1;
        root.dataset.polls = String(polls);
        root.dataset.loaded = "true";
      }, unreachable)
      .finally(function () { window.setTimeout(poll, pollMs); });
  }

  window.addEventListener("resize", function () {
    Object.keys(charts).forEach(function (id) {
      var element = document.getElementById(id);
      charts[id].plot.setSize({ width: width(element), height: 220 });
    });
  });

  poll();
})();
