// tests/fuzz/fuzz-tmp.h: a per-process scratch file for fuzz targets whose
// parser reads a path (config loaders, tensor files, ledgers, key files,
// rosters): the input is written there and the real loader runs on it.
// The file lives in $TMPDIR (default /tmp), is reused by every input and
// removed at exit.
#ifndef FB_TESTS_FUZZ_FUZZ_TMP_H
#define FB_TESTS_FUZZ_FUZZ_TMP_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FUZZ_TMP_MAX 8
static char fuzz_tmp_paths[FUZZ_TMP_MAX][512];

static void
fuzz_tmp_cleanup(void)
{
	for (int k = 0; k < FUZZ_TMP_MAX; k++) {
		if (fuzz_tmp_paths[k][0] != '\0') {
			unlink(fuzz_tmp_paths[k]);
		}
	}
}

// Writes data to the scratch file (name: fbfuzz-PID.SUFFIX) with mode and
// returns its path (static storage), or NULL if it cannot be written.
static const char *
fuzz_tmp_write(const char *suffix, const uint8_t *data, size_t size,
		mode_t mode)
{
	static char path[512];
	const char *dir = getenv("TMPDIR");
	snprintf(path, sizeof(path), "%s/fbfuzz-%ld.%s",
			dir != NULL ? dir : "/tmp", (long)getpid(), suffix);
	int slot = 0;
	while (slot < FUZZ_TMP_MAX && fuzz_tmp_paths[slot][0] != '\0' &&
			strcmp(fuzz_tmp_paths[slot], path) != 0) {
		slot++;
	}
	if (slot < FUZZ_TMP_MAX && fuzz_tmp_paths[slot][0] == '\0') {
		if (slot == 0) {
			atexit(fuzz_tmp_cleanup);
		}
		snprintf(fuzz_tmp_paths[slot], sizeof(fuzz_tmp_paths[slot]),
				"%s", path);
	}
	FILE *fp = fopen(path, "wb");
	if (fp == NULL) {
		return NULL;
	}
	size_t w = size > 0 ? fwrite(data, 1, size, fp) : 0;
	int bad = fclose(fp) != 0 || w != size || chmod(path, mode) != 0;
	return bad ? NULL : path;
}

#endif
