#include "core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace ss {

void sync_dir(const std::string& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const bool synced = fd >= 0 && ::fsync(fd) == 0;
  const int err = errno;
  if (fd >= 0) ::close(fd);
  check(synced, "cannot sync directory ", dir, ": ", std::strerror(err));
}

void write_file_atomic(const std::string& path, const std::vector<Bytes>& parts) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  check(fd >= 0, "cannot write ", tmp, ": ", std::strerror(errno));
  try {
    for (const Bytes& b : parts) {
      const char* p = static_cast<const char*>(b.data);
      for (size_t n = b.size; n > 0;) {
        const ssize_t w = ::write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        check(w > 0, "cannot write ", tmp, ": ", std::strerror(errno));
        p += w;
        n -= size_t(w);
      }
    }
    check(::fsync(fd) == 0, "cannot write ", tmp, ": ", std::strerror(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (::close(fd) != 0 || std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail("cannot write ", path, ": ", std::strerror(err));
  }
  sync_dir(std::filesystem::path(path).parent_path().string());
}

void write_file_atomic(const std::string& path, std::string_view text) {
  write_file_atomic(path, {{text.data(), text.size()}});
}

}  // namespace ss
