// The case trace graph (workspace/trace.html): reads the #trace-data JSON block and draws it with
// Cytoscape on a timeline: x is when a person was first exposed (the case at the trace's start),
// y a lane per tier, F0 on top. A click on a person or an exposure opens its page.
// Once drawn, #trace-graph carries data-rendered-nodes, data-rendered-edges and data-tier-counts
// (people per tier but the case's, shaped as the JSON's "tiers"), for the browser tests.
(function () {
  "use strict";

  var COLOURS = ["#b3261e", "#e8710a", "#f2c200", "#1e8e3e", "#1a73e8"]; // F0..F3, F4 and beyond
  var WIDTH = 1200;   // pixels for the whole period; the view is fitted afterwards
  var MIN_GAP = 90;   // people of one tier closer in time than this share no row
  var ROW = 50;       // between rows of one tier
  var LANE_GAP = 40;  // between tiers

  var container = document.getElementById("trace-graph");
  var source = document.getElementById("trace-data");
  if (!container || !source || typeof cytoscape !== "function") return;
  var trace = JSON.parse(source.textContent);

  function time(text) { return text ? Date.parse(text) : null; }

  function shortLabel(node) {
    var long = node.label === node.citizen_id && node.label.length > 8;
    return long ? "…" + node.label.slice(-6) : node.label;
  }

  // x by first exposure over [start, latest exposure]; in each tier a node takes the first row
  // where it keeps MIN_GAP from the node before it, so no two people overlap.
  function positions(nodes) {
    var start = time(trace.since);
    var latest = nodes.reduce(function (most, node) {
      return Math.max(most, time(node.first_exposure) || start);
    }, start);
    var span = Math.max(latest - start, 1);
    var rowsByTier = {};
    var placed = {};
    nodes.forEach(function (node) {
      var x = ((time(node.first_exposure) || start) - start) / span * WIDTH;
      var rows = rowsByTier[node.tier] = rowsByTier[node.tier] || [];
      var row = rows.findIndex(function (lastX) { return x - lastX >= MIN_GAP; });
      if (row < 0) { row = rows.length; rows.push(x); } else { rows[row] = x; }
      placed[node.citizen_id] = { x: x, tier: node.tier, row: row };
    });
    var laneTop = {};
    var top = 0;
    Object.keys(rowsByTier).map(Number).sort(function (a, b) { return a - b; }).forEach(function (tier) {
      laneTop[tier] = top;
      top += rowsByTier[tier].length * ROW + LANE_GAP;
    });
    Object.keys(placed).forEach(function (id) {
      var at = placed[id];
      placed[id] = { x: at.x, y: laneTop[at.tier] + at.row * ROW };
    });
    return placed;
  }

  function elements() {
    var at = positions(trace.nodes);
    var nodes = trace.nodes.map(function (node) {
      var data = { id: node.citizen_id, label: shortLabel(node), tier: node.tier,
                   colour: COLOURS[Math.min(node.tier, COLOURS.length - 1)] };
      if (node.href) data.href = node.href;
      return { group: "nodes", data: data, position: at[node.citizen_id],
               classes: node.outside ? "outside" : "" };
    });
    var edges = trace.edges.map(function (edge, index) {
      var data = { id: "e" + index, source: edge.source, target: edge.target };
      if (edge.href) data.href = edge.href;
      return { group: "edges", data: data };
    });
    return nodes.concat(edges);
  }

  var cy = cytoscape({
    container: container,
    elements: elements(),
    layout: { name: "preset", fit: true, padding: 30 },
    autoungrabify: true,
    wheelSensitivity: 0.3,
    style: [
      { selector: "node", style: {
        "background-color": "data(colour)", "border-width": 2, "border-color": "#333",
        "label": "data(label)", "font-size": 11, "text-valign": "bottom", "text-margin-y": 4,
        "width": 22, "height": 22 } },
      { selector: "node.outside", style: { "border-color": "#888", "border-style": "dashed", "border-width": 3 } },
      { selector: "edge", style: {
        "width": 1.5, "line-color": "#888", "target-arrow-color": "#888",
        "target-arrow-shape": "triangle", "curve-style": "bezier" } }
    ]
  });

  cy.on("tap", "node[href], edge[href]", function (event) {
    window.location.assign(event.target.data("href"));
  });
  cy.on("mouseover", "node[href], edge[href]", function () { container.style.cursor = "pointer"; });
  cy.on("mouseout", "node, edge", function () { container.style.cursor = ""; });

  var counts = {};
  cy.nodes().forEach(function (node) {
    var tier = node.data("tier");
    if (tier !== 0) counts[tier] = (counts[tier] || 0) + 1;
  });
  container.dataset.renderedNodes = String(cy.nodes().length);
  container.dataset.renderedEdges = String(cy.edges().length);
  container.dataset.tierCounts = JSON.stringify(counts);
}());
