// Reading whole files for the CLI, with errors that name the file.
#pragma once

#include <stdexcept>
#include <string>

namespace netfence::io {

// InputError is bad input named by file (and line when known).
struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ReadFile returns a file's bytes ("-" is standard input); throws
// InputError("FILE: reason").
std::string ReadFile(const std::string& path);

}  // namespace netfence::io
