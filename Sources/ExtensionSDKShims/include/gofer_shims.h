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

/// mallopt(M_MMAP_THRESHOLD, bytes): fixes glibc's mmap threshold, which otherwise rises with
/// every large free and leaves freed buffers in per-thread arenas. Returns 1 on success.
int gofer_set_mmap_threshold(int bytes);

#endif
