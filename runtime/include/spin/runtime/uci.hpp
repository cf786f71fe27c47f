#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace spin {

/// One `option` or `list` line of a UCI section.
struct uci_option {
  std::string name;
  std::string value;
  bool is_list = false; ///< a `list` line (appends) rather than `option`
  int line = 0;
};

/// One `config <type> ['<name>']` section.
struct uci_section {
  std::string type;
  std::string name;
  int line = 0;
  std::vector<uci_option> options;

  /// Every value given for `option` (all `list` entries, or the last `option`).
  std::vector<std::string> values(std::string_view option) const;
  /// The last value given for `option`, or empty.
  std::string value(std::string_view option) const;
};

/// Result of parsing a UCI file: the sections, or an error naming the line.
struct uci_document {
  std::vector<uci_section> sections;
  std::string error; ///< "FILE:LINE: problem", empty on success
};

/// Parses UCI syntax (as OpenWRT's /etc/config files): `package`, `config`,
/// `option`, `list`; values bare, 'single quoted' or "double quoted" (with
/// backslash escapes); `#` comments. Never throws; bad input gives an error.
uci_document parse_uci(std::string_view text, std::string_view filename);

} // namespace spin
