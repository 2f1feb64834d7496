// A check before dlopen: a shared library cut short on disk is refused with a reason instead of crashing on first use.
#pragma once
#include <string>

namespace nos {

// dlopen maps a library's segments straight from the file, so a library cut short (a crash or a full disk mid-write,
// another process truncating it) can load and then die of SIGBUS on first use. Returns why an ELF file whose segments
// or section headers reach past its end is refused; "" means it looks whole (or is not a 64-bit ELF: dlopen judges).
std::string TruncatedElfReason(const std::string& path);

}  // namespace nos
