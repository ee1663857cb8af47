#pragma once
// Line charts as standalone SVG: panels side by side, one polyline per
// series, axes with rounded ticks, and a legend.
#include <string>
#include <utility>
#include <vector>

namespace mg::optim::experiments {

struct Series {
  std::string label;
  std::vector<std::pair<double, double>> points;  // (x, y)
};

struct Panel {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  bool log_y = false;  // a logarithmic y axis (ticks at powers of ten where the range allows)
};

std::string svg_chart(const std::vector<Panel>& panels);

}  // namespace mg::optim::experiments
