// See library_check.h.
#include "common/library_check.h"

#if defined(__linux__)
#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

#include <cstdint>
#include <cstring>

namespace nos {

std::string TruncatedElfReason(const std::string& path) {
#if defined(__linux__)
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";  // dlopen says why
  struct stat st;
  Elf64_Ehdr eh;
  std::string why;
  if (fstat(fd, &st) != 0 || pread(fd, &eh, sizeof eh, 0) != static_cast<ssize_t>(sizeof eh) ||
      std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64) {
    close(fd);
    return "";
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  auto past_end = [&](uint64_t offset, uint64_t count, uint64_t entry) {
    return offset > size || (entry != 0 && count > (size - offset) / entry);
  };
  if (past_end(eh.e_phoff, eh.e_phnum, eh.e_phentsize) || past_end(eh.e_shoff, eh.e_shnum, eh.e_shentsize)) {
    why = "its program or section headers lie past its end";
  } else if (eh.e_phentsize == sizeof(Elf64_Phdr)) {
    for (uint16_t i = 0; i < eh.e_phnum && why.empty(); ++i) {
      Elf64_Phdr ph;
      if (pread(fd, &ph, sizeof ph, static_cast<off_t>(eh.e_phoff + i * sizeof ph)) != static_cast<ssize_t>(sizeof ph)) {
        why = "its program headers cannot be read";
      } else if (ph.p_type == PT_LOAD && past_end(ph.p_offset, ph.p_filesz, 1)) {
        why = "segment " + std::to_string(i) + " needs bytes up to " + std::to_string(ph.p_offset + ph.p_filesz);
      }
    }
  }
  close(fd);
  if (!why.empty()) why = "the file is truncated or damaged (" + std::to_string(size) + " bytes; " + why + ")";
  return why;
#else
  (void)path;
  return "";
#endif
}

}  // namespace nos
