#include "metagrad/optim/experiments/plot.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace mg::optim::experiments {
namespace {

constexpr double kPanelWidth = 460, kPanelHeight = 320, kLeft = 64, kRight = 16, kTop = 36, kBottom = 48;
constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                   "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};

// Tick positions at a "nice" step (1, 2 or 5 times a power of ten).
std::vector<double> ticks(double low, double high) {
  const double span = std::max(high - low, 1e-12);
  const double raw = span / 5;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * magnitude) {
      step = m * magnitude;
      break;
    }
  std::vector<double> out;
  for (double t = std::ceil(low / step) * step; t <= high + step * 1e-9; t += step) out.push_back(t);
  return out;
}

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else
      out += c;
  }
  return out;
}

std::string panel_svg(const Panel& panel, double offset_x, double legend_height) {
  // On a log scale the axis holds log10(y); non-positive values are not drawn.
  const auto scaled = [&](double y) { return panel.log_y ? (y > 0 ? std::log10(y) : NAN) : y; };
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const auto& s : panel.series)
    for (const auto& [x, unscaled] : s.points) {
      const double y = scaled(unscaled);
      if (!std::isfinite(y)) continue;
      x0 = std::min(x0, x);
      x1 = std::max(x1, x);
      y0 = std::min(y0, y);
      y1 = std::max(y1, y);
    }
  if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (x1 == x0) x1 = x0 + 1;
  const double pad = (y1 - y0) * 0.05 + 1e-12;
  y0 -= pad;
  y1 += pad;
  const double w = kPanelWidth - kLeft - kRight, h = kPanelHeight - kTop - kBottom;
  auto px = [&](double x) { return offset_x + kLeft + (x - x0) / (x1 - x0) * w; };
  auto py = [&](double y) { return kTop + (1 - (y - y0) / (y1 - y0)) * h; };
  std::string out;
  out += fmt::format("<text x='{:.1f}' y='22' font-size='15' text-anchor='middle' font-weight='bold'>{}</text>\n",
                     offset_x + kLeft + w / 2, escape(panel.title));
  out += fmt::format("<rect x='{:.1f}' y='{:.1f}' width='{:.1f}' height='{:.1f}' fill='none' stroke='#333'/>\n",
                     offset_x + kLeft, kTop, w, h);
  for (double t : ticks(x0, x1)) {
    out += fmt::format("<line x1='{0:.1f}' y1='{1:.1f}' x2='{0:.1f}' y2='{2:.1f}' stroke='#ddd'/>\n", px(t), kTop,
                       kTop + h);
    out += fmt::format("<text x='{:.1f}' y='{:.1f}' font-size='11' text-anchor='middle'>{:g}</text>\n", px(t),
                       kTop + h + 15, t);
  }
  for (double t : ticks(y0, y1)) {
    out += fmt::format("<line x1='{0:.1f}' y1='{1:.1f}' x2='{2:.1f}' y2='{1:.1f}' stroke='#ddd'/>\n", offset_x + kLeft,
                       py(t), offset_x + kLeft + w);
    out += fmt::format("<text x='{:.1f}' y='{:.1f}' font-size='11' text-anchor='end'>{:.4g}</text>\n",
                       offset_x + kLeft - 5, py(t) + 4, panel.log_y ? std::pow(10.0, t) : t);
  }
  out += fmt::format("<text x='{:.1f}' y='{:.1f}' font-size='12' text-anchor='middle'>{}</text>\n",
                     offset_x + kLeft + w / 2, kTop + h + 34, escape(panel.x_label));
  out += fmt::format(
      "<text x='{0:.1f}' y='{1:.1f}' font-size='12' text-anchor='middle' transform='rotate(-90 {0:.1f} "
      "{1:.1f})'>{2}</text>\n",
      offset_x + 16, kTop + h / 2, escape(panel.y_label));
  for (std::size_t i = 0; i < panel.series.size(); ++i) {
    const auto& s = panel.series[i];
    std::string points;
    for (const auto& [x, y] : s.points)
      if (std::isfinite(scaled(y))) points += fmt::format("{:.1f},{:.1f} ", px(x), py(scaled(y)));
    const char* color = kColors[i % std::size(kColors)];
    out += fmt::format("<polyline fill='none' stroke='{}' stroke-width='2' points='{}'/>\n", color, points);
    if (s.points.size() <= 30)
      for (const auto& [x, y] : s.points)
        if (std::isfinite(scaled(y)))
          out += fmt::format("<circle cx='{:.1f}' cy='{:.1f}' r='3' fill='{}'/>\n", px(x), py(scaled(y)), color);
  }
  (void)legend_height;
  return out;
}

}  // namespace

std::string svg_chart(const std::vector<Panel>& panels) {
  std::size_t series = 0;
  for (const auto& p : panels) series = std::max(series, p.series.size());
  const double legend_height = 20.0 * static_cast<double>(series) + 10;
  const double width = kPanelWidth * static_cast<double>(std::max<std::size_t>(panels.size(), 1));
  const double height = kPanelHeight + legend_height;
  std::string out = fmt::format(
      "<svg xmlns='http://www.w3.org/2000/svg' width='{0:.0f}' height='{1:.0f}' viewBox='0 0 {0:.0f} {1:.0f}' "
      "font-family='sans-serif'>\n<rect width='100%' height='100%' fill='white'/>\n",
      width, height);
  for (std::size_t i = 0; i < panels.size(); ++i)
    out += panel_svg(panels[i], kPanelWidth * static_cast<double>(i), legend_height);
  if (!panels.empty())
    for (std::size_t i = 0; i < panels.front().series.size(); ++i) {
      const double y = kPanelHeight + 12 + 20.0 * static_cast<double>(i);
      out += fmt::format("<line x1='{0:.0f}' y1='{1:.1f}' x2='{2:.0f}' y2='{1:.1f}' stroke='{3}' stroke-width='3'/>\n",
                         kLeft, y, kLeft + 28, kColors[i % std::size(kColors)]);
      out += fmt::format("<text x='{:.0f}' y='{:.1f}' font-size='12'>{}</text>\n", kLeft + 36, y + 4,
                         escape(panels.front().series[i].label));
    }
  return out + "</svg>\n";
}

}  // namespace mg::optim::experiments
