// pingtree console: each page's behaviour, from data- attributes and ids (no inline script: the
// Content-Security-Policy forbids it). No PII ever reaches this file's data: the live stream
// carries none.
"use strict";

// Every htmx request carries the session's CSRF token (the server refuses a POST without it).
document.addEventListener("htmx:configRequest", function (event) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) {
    event.detail.headers["X-CSRF-Token"] = meta.getAttribute("content");
  }
});

// Live ------------------------------------------------------------------------------------------

var MINUTE_MS = 60000;
var TABLE_ROWS = 100;

function money(value) {
  return value === null || value === undefined || value === "" ? "" : Number(value).toFixed(2);
}

function median(values) {
  if (!values.length) {
    return null;
  }
  var sorted = values.slice().sort(function (a, b) { return a - b; });
  var middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function cell(row, text, className) {
  var td = document.createElement("td");
  if (className) {
    td.className = className;
  }
  td.textContent = text === null || text === undefined ? "" : String(text);
  row.appendChild(td);
  return td;
}

// One table row for a lead of the stream, built with textContent only (ids are sellers' words).
function leadRow(lead) {
  var row = document.createElement("tr");
  row.dataset.id = lead.id;
  var timeCell = cell(row, "");
  var time = document.createElement("time");
  time.dateTime = lead.received_at;
  time.textContent = String(lead.received_at).slice(11, 19);
  timeCell.appendChild(time);
  var idCell = cell(row, "");
  var link = document.createElement("a");
  link.className = "mono";
  link.href = "/console/leads/" + encodeURIComponent(lead.id);
  link.textContent = lead.id;
  idCell.appendChild(link);
  if (lead.test) {
    var tag = document.createElement("span");
    tag.className = "tag";
    tag.textContent = "test";
    idCell.appendChild(document.createTextNode(" "));
    idCell.appendChild(tag);
  }
  if (lead.quote !== null && lead.quote !== undefined) {
    // An exchange post: its ping was quoted this (the lead's page has the quote's details).
    var quoted = document.createElement("span");
    quoted.className = "tag quoted";
    quoted.textContent = "quoted " + money(lead.quote);
    idCell.appendChild(document.createTextNode(" "));
    idCell.appendChild(quoted);
  }
  cell(row, lead.seller_id);
  cell(row, lead.vertical);
  cell(row, lead.status, "status status-" + lead.status);
  cell(row, lead.reason);
  // A shared lead: every buyer of it, best first (the price is the sum of theirs).
  var sales = lead.sales || [];
  var buyers = sales.map(function (sale) { return sale.buyer_id + " " + money(sale.price); });
  cell(row, sales.length > 1 ? buyers.join(", ") : lead.buyer_id, "buyer");
  cell(row, money(lead.price), "num");
  cell(row, money(lead.payout), "num");
  cell(row, lead.auction_ms, "num");
  return row;
}

// The window's leads, minute by minute: [minute starts (s)], [sold %], [revenue], [median ms].
function byMinute(leads, now, minutes) {
  var first = Math.floor(now / MINUTE_MS) * MINUTE_MS - (minutes - 1) * MINUTE_MS;
  var xs = [], sold = [], revenue = [], answer = [];
  for (var i = 0; i < minutes; i++) {
    var start = first + i * MINUTE_MS;
    var these = leads.filter(function (l) { return l.at >= start && l.at < start + MINUTE_MS; });
    var sales = these.filter(function (l) { return l.status === "sold"; });
    xs.push(start / 1000);
    sold.push(these.length ? (100 * sales.length) / these.length : null);
    revenue.push(sales.reduce(function (sum, l) { return sum + l.price; }, 0));
    answer.push(median(these.map(function (l) { return l.ms; })));
  }
  return [xs, sold, revenue, answer];
}

function chart(element, label, color, data) {
  if (!window.uPlot || !element) {
    return null;
  }
  var width = Math.max(element.clientWidth, 200);
  var options = {
    width: width,
    height: 150,
    legend: { show: false },
    cursor: { show: true },
    scales: { x: { time: true } },
    series: [{}, { label: label, stroke: color, width: 2, spanGaps: false, points: { show: true, size: 4 } }],
    axes: [{ size: 30 }, { size: 50 }],
  };
  return new window.uPlot(options, data, element);
}

function initLive(root) {
  var windowMinutes = Number(root.dataset.windowMinutes);
  var body = root.querySelector("#live-leads tbody");
  var state = document.getElementById("stream-state");
  var dropped = document.getElementById("stream-dropped");
  var leads = [];
  body.querySelectorAll("tr").forEach(function (row) {
    leads.push({
      at: Date.parse(row.dataset.at),
      status: row.dataset.status,
      price: row.dataset.price === "" ? 0 : Number(row.dataset.price),
      ms: Number(row.dataset.ms),
    });
  });
  while (body.rows.length > TABLE_ROWS) {
    body.deleteRow(body.rows.length - 1);
  }
  var now = Date.now();
  var data = byMinute(leads, now, windowMinutes);
  var charts = [
    chart(document.getElementById("chart-sold"), "Sold %", "#1f8a4c", [data[0], data[1]]),
    chart(document.getElementById("chart-revenue"), "Revenue", "#2457c5", [data[0], data[2]]),
    chart(document.getElementById("chart-answer"), "Answer ms", "#b26a00", [data[0], data[3]]),
  ];

  function refresh() {
    var now = Date.now();
    var since = now - windowMinutes * MINUTE_MS;
    leads = leads.filter(function (l) { return l.at >= since; });
    var sales = leads.filter(function (l) { return l.status === "sold"; });
    var revenue = sales.reduce(function (sum, l) { return sum + l.price; }, 0);
    var answer = median(leads.map(function (l) { return l.ms; }));
    document.getElementById("tile-leads").textContent = String(leads.length);
    document.getElementById("tile-sold").textContent = leads.length
      ? Math.round((100 * sales.length) / leads.length) + "%" : "–";
    document.getElementById("tile-revenue").textContent = revenue.toFixed(2);
    document.getElementById("tile-answer").textContent = answer === null ? "–" : Math.round(answer) + " ms";
    var data = byMinute(leads, now, windowMinutes);
    charts.forEach(function (c, i) {
      if (c) {
        c.setData([data[0], data[i + 1]]);
      }
    });
  }

  var pending = null;
  function refreshSoon() {
    if (pending === null) {
      pending = window.setTimeout(function () { pending = null; refresh(); }, 250);
    }
  }

  var source = new EventSource(root.dataset.events);
  source.onopen = function () {
    state.dataset.state = "open";
    state.textContent = "live";
  };
  source.onerror = function () {
    var closed = source.readyState === EventSource.CLOSED;
    state.dataset.state = closed ? "closed" : "reconnecting";
    state.textContent = closed ? "stopped: reload the page (or log in again)" : "reconnecting…";
  };
  source.addEventListener("lead", function (event) {
    var lead = JSON.parse(event.data);
    leads.push({
      at: Date.parse(lead.received_at),
      status: lead.status,
      price: lead.price === null ? 0 : Number(lead.price),
      ms: lead.auction_ms,
    });
    body.insertBefore(leadRow(lead), body.firstChild);
    while (body.rows.length > TABLE_ROWS) {
      body.deleteRow(body.rows.length - 1);
    }
    refreshSoon();
  });
  source.addEventListener("dropped", function (event) {
    var count = JSON.parse(event.data).count;
    dropped.hidden = false;
    dropped.textContent = "This page fell behind and missed " + count +
      " lead(s); the figures leave them out. Reload to start again from the ledger.";
  });
  window.addEventListener("resize", function () {
    charts.forEach(function (c) {
      if (c) {
        c.setSize({ width: Math.max(c.root.parentNode.clientWidth, 200), height: 150 });
      }
    });
  });
  refresh();
  window.setInterval(refresh, 5000);
}

document.addEventListener("DOMContentLoaded", function () {
  var live = document.getElementById("live");
  if (live) {
    initLive(live);
  }
});

// Reports ---------------------------------------------------------------------------------------

var REPORT_COLORS = ["#2457c5", "#1f8a4c", "#b26a00", "#8e44ad", "#b3261e", "#0f7c8a", "#5b6478",
  "#c0398b", "#6b8e23"];

// The series table's rows as uPlot's columns: [x (s)], then one array per measure. An hour's key
// carries its offset (2026-03-01T10:00-05:00); a day's is a date, drawn at its UTC midnight.
function reportColumns(table, grain) {
  var names = [];
  table.querySelectorAll("thead th[data-measure]").forEach(function (th) {
    names.push(th.dataset.measure);
  });
  var xs = [];
  var values = {};
  names.forEach(function (name) { values[name] = []; });
  table.querySelectorAll("tbody tr").forEach(function (row) {
    var key = row.dataset.key;
    xs.push((grain === "day" ? Date.parse(key + "T00:00:00Z") : Date.parse(key)) / 1000);
    names.forEach(function (name, i) {
      var text = row.cells[i + 1].textContent.trim();
      values[name].push(text === "" ? null : Number(text));
    });
  });
  return { xs: xs, values: values };
}

// From zero (or below, for money lost to returns) to a little above the highest value.
function fromZero(u, min, max) {
  return [Math.min(0, min), max > 0 ? max * 1.1 : 1];
}

function reportChart(element, columns, chosen, grain, tz) {
  var halfPeriod = grain === "day" ? 43200 : 1800;
  var series = [{}];
  var data = [columns.xs];
  var scales = { x: { time: true, range: function (u, min, max) {
    return [min - halfPeriod, max + halfPeriod];
  } } };
  var axes = [{ size: 40 }];
  chosen.forEach(function (box, i) {
    var axis = box.dataset.axis;
    if (!scales[axis]) {
      scales[axis] = { range: fromZero };
      axes.push({ scale: axis, size: 60, side: axis === "money" ? 1 : 3, grid: { show: axes.length === 1 } });
    }
    series.push({ label: box.dataset.label, scale: axis, stroke: REPORT_COLORS[i % REPORT_COLORS.length],
      width: 2, points: { show: true, size: 5 } });
    data.push(columns.values[box.value]);
  });
  var options = {
    width: Math.max(element.clientWidth, 300),
    height: 260,
    scales: scales,
    series: series,
    axes: axes,
    tzDate: function (ts) { return window.uPlot.tzDate(new Date(ts * 1000), tz); },
  };
  return new window.uPlot(options, data, element);
}

function initReportChart(card) {
  var element = document.getElementById("report-chart");
  var table = document.getElementById("report-series");
  var grain = card.dataset.grain;
  var tz = grain === "day" ? "UTC" : card.dataset.tz;
  var boxes = Array.prototype.slice.call(card.querySelectorAll('input[name="measure"]'));
  var columns = reportColumns(table, grain);
  var drawn = null;

  function draw() {
    if (drawn) {
      drawn.destroy();
      drawn = null;
    }
    element.textContent = "";
    var chosen = boxes.filter(function (box) { return box.checked; });
    if (!columns.xs.length) {
      element.textContent = "No leads in this range.";
    } else if (!chosen.length) {
      element.textContent = "Choose a line to draw.";
    } else if (window.uPlot) {
      drawn = reportChart(element, columns, chosen, grain, tz);
    }
  }

  boxes.forEach(function (box) { box.addEventListener("change", draw); });
  window.addEventListener("resize", function () {
    if (drawn) {
      drawn.setSize({ width: Math.max(element.clientWidth, 300), height: 260 });
    }
  });
  draw();
}

document.addEventListener("DOMContentLoaded", function () {
  var card = document.getElementById("report-chart-card");
  if (card) {
    initReportChart(card);
  }
});
