#pragma once

#include <boost/json/object.hpp>

#include <string>

namespace spin {

/// spind's persistent user state: one JSON object (one member per owner:
/// "names", later "lists", "profiles", ...) in `<state_dir>/state.json`.
///
/// Writes are atomic: the document goes to a temporary file in the same
/// directory, is fsync'ed, renamed over the old one, and the directory is
/// fsync'ed, so a crash at any moment leaves either the old or the new
/// document, never a mix.
struct state_file {
  /// What load() found.
  struct loaded {
    boost::json::object doc; ///< empty when there was nothing (usable) to load
    /// Empty, or a sentence for the log: the file was unreadable or corrupt
    /// and was moved aside (to `moved_to`), never silently discarded.
    std::string warning;
    std::string moved_to;
  };

  /// Reads `path`. A missing file is an empty document. A file that is not a
  /// JSON object is renamed to `<path>.corrupt-<unix time>` and reported.
  static loaded load(const std::string& path);

  /// Writes `doc` to `path` atomically. Returns false with `error` on failure
  /// (the old file is then untouched).
  static bool save(const std::string& path, const boost::json::object& doc,
                   std::string& error);
};

} // namespace spin
