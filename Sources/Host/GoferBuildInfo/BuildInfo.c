#include "GoferBuildInfo.h"

#ifndef GOFER_BUILD_COMMIT
#define GOFER_BUILD_COMMIT ""
#endif

const char *gofer_build_commit(void) { return GOFER_BUILD_COMMIT; }
