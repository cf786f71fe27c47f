#include "spin/runtime/uci.hpp"

#include <cctype>
#include <sstream>

namespace spin {

namespace {

using sv = std::string_view;

// Splits one UCI line into words: bare words, 'single quoted' (no escapes) or
// "double quoted" (backslash escapes). A # outside quotes starts a comment.
bool uci_words(sv line, std::vector<std::string>& out, std::string& err) {
  size_t i = 0;
  while (i < line.size()) {
    char c = line[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    if (c == '#')
      break;
    std::string w;
    // A word may mix quoted and bare parts, as in the shell ("a"'b'c).
    while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) {
      c = line[i];
      if (c == '\'') {
        auto end = line.find('\'', i + 1);
        if (end == sv::npos) {
          err = "unterminated single quote";
          return false;
        }
        w.append(line.substr(i + 1, end - i - 1));
        i = end + 1;
      } else if (c == '"') {
        ++i;
        bool closed = false;
        while (i < line.size()) {
          if (line[i] == '\\' && i + 1 < line.size()) {
            w.push_back(line[i + 1]);
            i += 2;
          } else if (line[i] == '"') {
            closed = true;
            ++i;
            break;
          } else {
            w.push_back(line[i++]);
          }
        }
        if (!closed) {
          err = "unterminated double quote";
          return false;
        }
      } else if (c == '#' && w.empty()) {
        break;
      } else {
        w.push_back(c);
        ++i;
      }
    }
    out.push_back(std::move(w));
  }
  return true;
}

} // namespace

std::vector<std::string> uci_section::values(std::string_view option) const {
  std::vector<std::string> out;
  for (auto& o : options) {
    if (o.name != option)
      continue;
    if (!o.is_list)
      out.clear(); // a later `option` replaces what came before
    out.push_back(o.value);
  }
  return out;
}

std::string uci_section::value(std::string_view option) const {
  std::string v;
  for (auto& o : options)
    if (o.name == option)
      v = o.value;
  return v;
}

uci_document parse_uci(std::string_view text, std::string_view filename) {
  uci_document doc;
  std::istringstream in{std::string{text}};
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    std::string where = std::string{filename} + ":" + std::to_string(lineno);
    std::vector<std::string> w;
    std::string err;
    if (!uci_words(line, w, err)) {
      doc.error = where + ": " + err;
      return doc;
    }
    if (w.empty())
      continue;
    const auto& kw = w[0];
    if (kw == "package") {
      continue;
    } else if (kw == "config") {
      if (w.size() < 2 || w.size() > 3) {
        doc.error = where + ": expected: config <type> ['<name>']";
        return doc;
      }
      uci_section sec;
      sec.type = w[1];
      if (w.size() == 3)
        sec.name = w[2];
      sec.line = lineno;
      doc.sections.push_back(std::move(sec));
    } else if (kw == "option" || kw == "list") {
      if (doc.sections.empty()) {
        doc.error = where + ": '" + kw + "' before any 'config' section";
        return doc;
      }
      if (w.size() != 3) {
        doc.error = where + ": expected: " + kw + " <name> '<value>'" +
                    (w.size() > 3 ? " (quote values that contain spaces)" : "");
        return doc;
      }
      doc.sections.back().options.push_back(uci_option{w[1], w[2], kw == "list", lineno});
    } else {
      doc.error =
          where + ": unknown keyword '" + kw + "' (expected config, option or list)";
      return doc;
    }
  }
  return doc;
}

} // namespace spin
