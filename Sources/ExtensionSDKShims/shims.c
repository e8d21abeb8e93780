#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>
#include <spawn.h>
#include "gofer_shims.h"
#include <malloc.h>
#include <sys/syscall.h>

int gofer_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int gofer_spawn_addchdir(posix_spawn_file_actions_t *actions, const char *path) {
    return posix_spawn_file_actions_addchdir_np(actions, path);
}

short gofer_spawn_setsid_flag(void) { return POSIX_SPAWN_SETSID; }

int gofer_set_pipe_size(int fd, int bytes) { return fcntl(fd, F_SETPIPE_SZ, bytes); }

int gofer_set_mmap_threshold(int bytes) { return mallopt(M_MMAP_THRESHOLD, bytes); }

size_t gofer_heap_in_use(void) { return mallinfo2().uordblks; }

#include <stdio.h>
void gofer_stdout_line_buffered(void) { setvbuf(stdout, NULL, _IOLBF, 0); }

int gofer_pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    return -1;
#endif
}
