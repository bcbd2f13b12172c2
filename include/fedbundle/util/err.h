// include/fedbundle/util/err.h: the one error type of fedbundle.
// Every function that can fail returns fb_err; out-parameters are written
// only on success. A failing function may attach a one-line detail (file,
// line, key path...) with fb_errorf(); callers print it with fb_last_error().
// Thread-safety: the detail message is thread-local.
#ifndef FB_INCLUDE_FEDBUNDLE_ERR_H
#define FB_INCLUDE_FEDBUNDLE_ERR_H

typedef enum fb_err {
	FB_OK = 0,
	FB_ENOMEM,  // allocation failed
	FB_EINVAL,  // caller passed a bad argument or a bad value
	FB_EIO,     // a file could not be read or written; detail says which
	FB_EFORMAT, // a file's content is malformed; detail names file and line
	FB_EPROTO,  // peer sent a malformed or unexpected message
	FB_ECRYPTO, // authentication, decryption or a key operation failed
	FB_ENET,    // NNG call failed; detail logged where it happened
	FB_EBUDGET, // the privacy budget would be exceeded
	FB_ESTATE,  // operation not valid in the current state
	FB_ETIMEOUT, // a deadline passed
	FB_ECLOSED,  // the peer or the object was closed
} fb_err;

// Returns a static string describing err, never NULL.
const char *fb_strerror(fb_err err);

// Records a one-line detail for the calling thread and returns err, so a
// failing function can write `return fb_errorf(FB_EFORMAT, "%s:%zu: ...")`.
fb_err fb_errorf(fb_err err, const char *fmt, ...)
		__attribute__((format(printf, 2, 3)));

// The calling thread's last detail recorded by fb_errorf(), or the static
// string of err if the last failure recorded none. Never NULL.
const char *fb_last_error(fb_err err);

// Forgets the calling thread's last detail.
void fb_clear_error(void);

// Aborts with a message: for programmer errors only, never for bad input.
_Noreturn void fb_panic(const char *fmt, ...)
		__attribute__((format(printf, 1, 2)));

#endif
