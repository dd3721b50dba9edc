// Draws the insights dashboard from the figures the server embedded in #kpis (one value per month).
"use strict";

(function () {
  const figures = JSON.parse(document.getElementById("kpis").textContent);
  const palette = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#ca8a04"];
  Chart.defaults.animation = false; // drawn at once: what is on screen is the data

  function dataset(label, values, index, extra) {
    const colour = palette[index % palette.length];
    return Object.assign({ label: label, data: values, borderColor: colour, backgroundColor: colour }, extra || {});
  }

  function draw(id, type, datasets, options) {
    const canvas = document.getElementById(id);
    new Chart(canvas, {
      type: type,
      data: { labels: figures.months, datasets: datasets },
      options: Object.assign({ responsive: true, maintainAspectRatio: false, spanGaps: true }, options || {}),
    });
    canvas.dataset.rendered = "true";
  }

  const currency = figures.currency;
  document.getElementById("basis").textContent =
    "By calendar month (UTC). Liability at " + figures.cost_per_point + " " + currency + " per point.";

  draw("chart-members", "bar", [
    dataset("Active members", figures.members_active, 0),
    dataset("Enrolled in the month", figures.members_enrolled, 1),
  ]);
  draw("chart-rates", "line", [
    dataset("Customer retention", figures.customer_retention_rate, 0),
    dataset("Repeat purchase", figures.repeat_purchase_rate, 1),
    dataset("Net revenue retention", figures.net_revenue_retention, 2),
    dataset("Redemption", figures.redemption_rate, 3),
    dataset("Breakage", figures.breakage_rate, 4),
  ]);
  draw("chart-points", "bar", [
    dataset("Earned", figures.points_earned, 1),
    dataset("Redeemed", figures.points_redeemed, 0),
    dataset("Expired", figures.points_expired, 2),
  ]);
  draw("chart-liability", "line", [
    dataset("Liability (" + currency + ")", figures.liability, 3, { yAxisID: "money" }),
    dataset("Outstanding points", figures.points_outstanding, 5, { yAxisID: "points" }),
  ], {
    scales: {
      money: { type: "linear", position: "left", title: { display: true, text: currency } },
      points: { type: "linear", position: "right", title: { display: true, text: "points" }, grid: { drawOnChartArea: false } },
    },
  });
  draw("chart-tier-movements", "bar", [
    dataset("Upgrades", figures.tier_upgrades, 1),
    dataset("Downgrades", figures.tier_downgrades, 2),
  ]);
  draw("chart-tiers", "bar", figures.tiers.map(function (tier, i) {
    return dataset(tier, figures.tier_members[tier], i);
  }), { scales: { x: { stacked: true }, y: { stacked: true } } });
  draw("chart-service", "line", [
    dataset("NPS", figures.nps, 0, { yAxisID: "percent" }),
    dataset("CSAT (%)", figures.csat, 1, { yAxisID: "percent" }),
    dataset("CES (1-7)", figures.ces, 4, { yAxisID: "effort" }),
  ], {
    scales: {
      percent: { type: "linear", position: "left", min: -100, max: 100 },
      effort: { type: "linear", position: "right", min: 1, max: 7, grid: { drawOnChartArea: false } },
    },
  });
  document.body.dataset.rendered = "true";
})();
