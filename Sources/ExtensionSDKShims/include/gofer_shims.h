#ifndef GOFER_SHIMS_H
#define GOFER_SHIMS_H
#include <sys/types.h>
#include <spawn.h>

/// pipe2(fds, O_CLOEXEC): both ends close-on-exec atomically, so a concurrent spawn never
/// inherits another child's pipe (which would hide that child's EOF).
int gofer_pipe_cloexec(int fds[2]);

/// posix_spawn_file_actions_addchdir_np (glibc >= 2.29), hidden behind _GNU_SOURCE.
int gofer_spawn_addchdir(posix_spawn_file_actions_t *actions, const char *path);

/// POSIX_SPAWN_SETSID, hidden behind _GNU_SOURCE.
short gofer_spawn_setsid_flag(void);

/// Grows a pipe's kernel buffer (F_SETPIPE_SZ); returns the new size or -1. Fewer context switches
/// per 64 KiB frame on the streaming path.
int gofer_set_pipe_size(int fd, int bytes);

/// pidfd_open(pid, 0) (Linux 5.3+): a descriptor that polls readable once the process has exited;
/// -1 where the kernel has none.
int gofer_pidfd_open(pid_t pid);

/// Makes stdout line-buffered, also when it is a pipe or a file (a service's journal).
void gofer_stdout_line_buffered(void);

/// mallopt(M_MMAP_THRESHOLD, bytes): fixes glibc's mmap threshold, which otherwise rises with
/// every large free and leaves freed buffers in per-thread arenas. Returns 1 on success.
int gofer_set_mmap_threshold(int bytes);

/// Bytes of the heap in use now (glibc's mallinfo2().uordblks): unlike RSS, not moved by how
/// many threads' arenas hold freed memory.
size_t gofer_heap_in_use(void);

/// A TLS client session over a connected socket (OpenSSL, loaded at run time).
typedef struct gofer_tls gofer_tls;

/// Handshakes over `fd`, verifying the server's certificate for `host` (a name or an IP
/// address) against `ca_file` (PEM), or the system's CAs when `ca_file` is NULL. On failure
/// returns NULL with a message in `err`.
gofer_tls *gofer_tls_connect(int fd, const char *host, const char *ca_file, char *err, size_t errlen);

/// Reads up to `len` bytes: the count, 0 at the end of the stream, -1 on an error.
long gofer_tls_read(gofer_tls *t, void *buf, size_t len);

/// Writes up to `len` bytes: the count written, or -1.
long gofer_tls_write(gofer_tls *t, const void *buf, size_t len);

/// Frees the session (the socket stays open: its owner closes it).
void gofer_tls_close(gofer_tls *t);

#endif
